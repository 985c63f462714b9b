"""Alert-to-approval-request latency on a real Airflow deployment, against same-shape DAGs.

Starts the e2e test's deployment (``tests/e2e/deployment.py``: Airflow's scheduler,
dag-processor, api-server and triggerer, plus a Celery worker on PostgreSQL + Redis, or
LocalExecutor on SQLite; force one with ``--executor``), a real MLflow server and the Slack and
OpenAI test doubles. Its DAGs folder holds the provider's DAG file and two baseline DAGs with the
same nine task ids and dependencies:

- ``agentic_mlops__empty-baseline``: EmptyOperators (the scheduler marks them done without a
  worker: the floor of scheduling alone);
- ``agentic_mlops__noop-baseline``: ``@task`` functions that return at once (each task goes
  through the executor and a worker, as the provider's tasks do).

Each sample posts one Alertmanager alert per DAG through the same endpoint, in turn (the first side
rotating each sample: provider, empty, noop, then empty, noop, provider, ...), and times, from the
moment the alert is posted: the alert accepted (HTTP answer), the run queued and started, every
task's start and end (from Airflow's metadata DB), and for the provider the approval request with
its buttons reaching the Slack double (the baselines' matching moment: their ``wait_for_approval``
task has ended). The provider's run is then denied so it ends.
After ``--samples`` samples (default 5) it prints each stage's median, and last
``seconds=<median alert-to-approval-request>`` and ``ratio=<that / the EmptyOperator DAG's>``.

    python benchmarks/e2e_latency.py [--samples 5] [--executor auto|local|celery]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.deployment import MODEL, Deployment, alertmanager_payload, use_postgres_and_celery  # noqa: E402

TASKS = (
    "check_drift",
    "decide",
    "retrain",
    "no_action",
    "escalate",
    "validate",
    "wait_for_approval",
    "rejected",
    "promote",
)
PATH = ("check_drift", "decide", "retrain", "validate", "wait_for_approval")  # the path to the approval request

BASELINES = '''
"""Same-shape baselines for benchmarks/e2e_latency.py: the provider's nine tasks, no work."""
from datetime import datetime, timezone

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, task


def _wire(t):
    t["check_drift"] >> t["decide"] >> [t["retrain"], t["no_action"], t["escalate"]]
    t["retrain"] >> t["validate"] >> [t["wait_for_approval"], t["rejected"]]
    t["wait_for_approval"] >> t["promote"]


NAMES = {names!r}
ARGS = dict(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, max_active_runs=1)

with DAG(dag_id="agentic_mlops__empty-baseline", **ARGS) as empty_baseline:
    _wire({{name: EmptyOperator(task_id=name) for name in NAMES}})


@task
def noop():
    return None


with DAG(dag_id="agentic_mlops__noop-baseline", **ARGS) as noop_baseline:
    _wire({{name: noop.override(task_id=name)() for name in NAMES}})
'''


class BenchDeployment(Deployment):
    """The e2e deployment with a DAGs folder of the provider's DAG file plus the baseline DAGs."""

    def _write_config(self, home: Path) -> None:
        super()._write_config(home)
        dags = self.root / "dags"
        dags.mkdir(exist_ok=True)
        (dags / "agentic_mlops_models.py").write_text((REPO / "dags" / "agentic_mlops_models.py").read_text())
        (dags / "e2e_baselines.py").write_text(BASELINES.format(names=TASKS))
        self.env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)

    def _dag_parsed(self) -> bool:
        rows = self._sql(
            "SELECT count(*) FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
            "WHERE d.dag_id IN ('agentic_mlops__fraud-detector', 'agentic_mlops__empty-baseline', "
            "'agentic_mlops__noop-baseline') AND NOT d.is_stale"
        )
        return rows[0][0] == 3


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # SQLite keeps Airflow's UTC times without an offset
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def stages(deployment: Deployment, dag_id: str, run_id: str, posted: float) -> dict[str, float]:
    """Seconds after ``posted`` (epoch) at which the run was queued and started, and each task began and ended."""
    out: dict[str, float] = {}
    run = deployment._sql(
        "SELECT queued_at, start_date FROM dag_run WHERE dag_id = :d AND run_id = :r", d=dag_id, r=run_id
    )
    if run:
        for name, value in zip(("run queued", "run started"), run[0], strict=True):
            if (t := _epoch(value)) is not None:
                out[name] = t - posted
    rows = deployment._sql(
        "SELECT task_id, start_date, end_date, state FROM task_instance WHERE dag_id = :d AND run_id = :r",
        d=dag_id,
        r=run_id,
    )
    for task_id, start, end, _state in rows:
        if (t := _epoch(start)) is not None:
            out[f"{task_id} start"] = t - posted
        provider_waiting = task_id == "wait_for_approval" and dag_id.endswith(f"__{MODEL}")  # ends on the click
        if (t := _epoch(end)) is not None and not provider_waiting:
            out[f"{task_id} end"] = t - posted
    return out


def one_run(deployment: Deployment, model: str) -> dict[str, float]:
    """Alert ``model``'s DAG, wait for its approval moment, let the run end; the stage times."""
    dag_id = f"agentic_mlops__{model}"
    posted_wall, started = time.time(), time.monotonic()
    status, answer = deployment.post_alert(alertmanager_payload(model))
    accepted = time.monotonic() - started
    if status != 201 or answer["results"][0].get("outcome") != "started":
        raise SystemExit(f"the alert for {model} did not start a run: HTTP {status} {answer}")
    run_id = answer["results"][0]["run_id"]
    if model == MODEL:
        seen = {a for a, _ in deployment.approval_requests()}
        approval_id, call = deployment.wait_until(
            lambda: next(((a, c) for a, c in deployment.approval_requests() if a not in seen), None),
            900,
            "the approval request",
            0.1,
        )
        until = time.monotonic() - started
        deployment.click(approval_id, call, approve=False)
    else:

        def ended() -> bool:
            rows = deployment._sql(
                "SELECT state FROM task_instance WHERE dag_id = :d AND run_id = :r AND task_id = 'wait_for_approval'",
                d=dag_id,
                r=run_id,
            )
            return bool(rows) and rows[0][0] == "success"

        deployment.wait_until(ended, 900, f"{dag_id} to reach wait_for_approval", 0.1)
        until = time.monotonic() - started
    state = deployment.wait_until(
        lambda: (
            (s := deployment._sql("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r", d=dag_id, r=run_id))
            and s[0][0] in ("success", "failed")
            and s[0][0]
        ),
        900,
        f"{dag_id} run {run_id} to finish",
        0.5,
    )
    print(f"  {dag_id}: run {state}", flush=True)
    return {"alert accepted": accepted, **stages(deployment, dag_id, run_id, posted_wall), "approval moment": until}


def round_order(sides: list[str], i: int) -> list[str]:
    """The order of sample ``i``: every side once (load from other processes hits all alike), starting one
    further each sample, so that no side always runs first (right after the deployment started, or
    after another side's run left work behind)."""
    start = i % len(sides)
    return sides[start:] + sides[:start]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--executor", choices=["auto", "local", "celery"], default="auto")
    args = parser.parse_args()
    from tests.doubles import mlflow_server

    mlflow_server.STARTUP_TIMEOUT_S = 600.0  # a loaded shared machine starts it slowly
    choice = {"auto": use_postgres_and_celery(), "local": False, "celery": True}[args.executor]
    sides = {MODEL: "provider", "empty-baseline": "EmptyOperator DAG", "noop-baseline": "no-op @task DAG"}
    samples: dict[str, list[dict[str, float]]] = {model: [] for model in sides}
    with tempfile.TemporaryDirectory(prefix="agentic-mlops-e2e-") as tmp:
        began = time.monotonic()
        deployment = BenchDeployment(root=Path(tmp), postgres_celery=choice)
        try:
            deployment.start()
            up = time.monotonic() - began
            for i in range(args.samples):
                for model in round_order(list(sides), i):  # interleaved; no side always first
                    samples[model].append(one_run(deployment, model))
                print(
                    f"sample {i + 1}: "
                    + ", ".join(f"{sides[m]} {samples[m][-1]['approval moment']:.2f}s" for m in sides),
                    flush=True,
                )
        except BaseException:
            print(deployment.log_tails(), file=sys.stderr)
            raise
        finally:
            deployment.stop()
    print(f"deployment={deployment.kind} samples={args.samples} startup_seconds={up:.1f}")
    print("median seconds after the alert was posted (the approval moment: the provider's approval request")
    print("reaching Slack; the baselines' wait_for_approval task ended)")
    keys = ["alert accepted", "run queued", "run started"]
    keys += [
        f"{t} {edge}" for t in PATH + ("no_action", "escalate", "rejected", "promote") for edge in ("start", "end")
    ]
    keys.append("approval moment")
    print(f"{'stage':<26}" + "".join(f"{sides[m]:>20}" for m in sides))
    for key in keys:
        cells = []
        for model in sides:
            values = [s[key] for s in samples[model] if key in s]
            cells.append(f"{statistics.median(values):>20.2f}" if len(values) == len(samples[model]) else f"{'-':>20}")
        print(f"{key:<26}" + "".join(cells))
    medians = {m: statistics.median(s["approval moment"] for s in samples[m]) for m in sides}
    runs = {m: [round(s["approval moment"], 2) for s in samples[m]] for m in sides}
    for model in sides:
        print(f"{sides[model]}: runs={runs[model]}")
    print(f"ratio_vs_noop_task_dag={medians[MODEL] / medians['noop-baseline']:.2f}")
    print(f"seconds={medians[MODEL]:.2f}")
    print(f"ratio={medians[MODEL] / medians['empty-baseline']:.2f}")


if __name__ == "__main__":
    main()
