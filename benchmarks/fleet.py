"""A fleet: 100 models on one real Airflow deployment, all alerted at once.

Starts the e2e test's deployment (``tests/e2e/deployment.py``: scheduler, dag-processor,
api-server, triggerer, a real MLflow server, the Slack and OpenAI test doubles) with
LocalExecutor and ``parallelism`` 4, on SQLite (``--db sqlite``) or PostgreSQL (``--db
postgres``; both, in turn, with ``--db both``, the default when PostgreSQL answers). The models
file holds ``--models`` models (default 100), each with its own copy of the demo model's data,
varied: its own seed, and two in three drifted (the others not, so the rules answer
``no_action`` without the LLM). Every model gets a champion (one trained, the others registered
from the same artifact). Once every DAG is parsed, one Alertmanager webhook carrying a firing
alert for every model is posted, and the benchmark measures:

- the seconds until every model has a decision in the state store (goal: <= 600 s);
- then, until every run has ended or waits for approval (at most ``--settle-timeout`` more
  seconds; runs still going then are named and left out of the check): approval requests per
  retraining model (must be exactly one where validation passed; none where it rejected the
  challenger), counted both in the state store and in the Slack double's messages;
- the peak memory of the workers (every process under the scheduler: LocalExecutor workers, task
  supervisors and task processes, and the scheduler's log server), sampled every second: the sum of
  PSS (shared pages counted once: what the fleet holds), the sum of RSS, and the largest process;
  and, apart, the scheduler's own PSS (with ``--preload`` it holds the libraries the tasks share);
- state-store errors (must be 0): failed task instances and log lines in any task or component
  log with "database is locked", "OperationalError", "IntegrityError", "deadlock detected" or
  "could not serialize"; and tasks that needed a retry;
- what limits it: the CPU-seconds the workers and their tasks used (until every model was decided,
  and until the runs settled; with ``--preload``, plus the one-off imports the scheduler paid for them,
  see below; the scheduler's own CPU printed apart) against the machine's busy CPU-seconds and the load average over the
  same time; the median queue wait and run time of each task; and, from the check_drift task logs,
  the median seconds of each stage of a drift check (task start and DAG parse, the provider's
  imports, reading, summary + champion + evidence, Evidently's report + MLflow logging).

Prints ``decided_seconds=<s>`` last for each database.

    python benchmarks/fleet.py [--models 100] [--db sqlite|postgres|both] [--timeout S] [--settle-timeout S]
                               [--stop-file PATH] [--preload]

``--preload`` writes an ``airflow_local_settings.py`` with which the scheduler imports the heavy
libraries once; LocalExecutor forks its workers from the scheduler and each task from a worker, so
the tasks inherit them. Compare the two runs' CPU-seconds per model: in a plain run every task pays
those imports, inside the workers' CPU; preloaded, the scheduler pays them once, and the scheduler's CPU
is not in the workers' figure, so the preload records the CPU-seconds its imports took (in
``$AIRFLOW_HOME``) and the compared figure of the preloaded run adds them: each side counts the imports
it pays. The scheduler's own CPU since it started is printed in both modes, not counted (it schedules
alike in both).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import PG_HOST, PG_PORT, create_pg_database, server_answers  # noqa: E402
from tests.e2e.deployment import APPROVER, CHANNEL, Deployment, alertmanager_payload  # noqa: E402

PREFIX = "fleet-"
MODEL_YAML = """
  - name: {model}
    schedule: null
    drift:
      reference: {data}/reference.parquet
      current: {data}/current.parquet
      label_column: is_fraud
      task: classification
    decision:
      mode: llm
      cooldown_hours: 0
      max_retrains: 10
    retrain:
      python_callable: airflow_provider_agentic_mlops.demo.training:train_fraud_detector
      conf: {{train_data: {data}/current.parquet}}
      timeout_minutes: 30
    validation:
      data: {data}/validation.parquet
      min_absolute_improvement: 0.0
    approval:
      timeout_hours: 1
      channel: "{channel}"
      approvers: ["{approver}"]
      poke_interval_seconds: 5
"""

SETUP = r"""
import json, sys
import mlflow
from airflow_provider_agentic_mlops.demo.data import write_demo_data
from airflow_provider_agentic_mlops.demo.training import train_fraud_detector

home, uri, n, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
source = None
for i in range(n):
    model = f"{prefix}{i:03d}"
    data = f"{home}/demo-data/{model}"
    write_demo_data(data, drift=False, rows=1000, seed=7 + 10 * i)
    if source is None:
        trained = train_fraud_detector(
            model_name=model, registered_model=model, tracking_uri=uri,
            conf={"train_data": f"{data}/reference.parquet"}, tags={"agentic_mlops.origin": "fleet-champion"},
        )
        version = client.get_model_version(model, trained["version"])
        source, run_id, champion = version.source, version.run_id, version.version
        # MLflow 3: the source is the logged model's URI (models:/<model id>); the server wants its id too
        model_id = getattr(version, "model_id", None) or (
            source.removeprefix("models:/") if source.startswith("models:/m-") else None
        )
    else:
        client.create_registered_model(model)
        champion = client.create_model_version(model, source, run_id=run_id, model_id=model_id).version
    client.set_registered_model_alias(model, "champion", champion)
    write_demo_data(data, drift=i % 3 != 0, rows=1000, seed=7 + 10 * i)
print(json.dumps({"models": n}))
"""

#: ``--preload``: the deployment's ``airflow_local_settings.py`` (``$AIRFLOW_HOME/config``).
PRELOAD = '''"""Written by benchmarks/fleet.py --preload: the scheduler imports the provider's heavy libraries
once; LocalExecutor forks its workers from it and each worker forks its tasks, so every task
process inherits them instead of importing them again."""

import sys

if sys.argv[1:2] == ["scheduler"]:
    import time
    import warnings

    _start = time.process_time()
    with warnings.catch_warnings():  # skops scans sys.modules, where Airflow's deprecation shims warn
        warnings.simplefilter("ignore")
        import evidently
        import evidently.presets
        import mlflow
        import mlflow.sklearn
        import pyarrow.parquet
        import scipy.stats
        import skops.io
        import sklearn.compose
        import sklearn.linear_model
        import sklearn.pipeline
        import sklearn.preprocessing
    import gc

    # the preloaded objects live as long as the scheduler: keep them out of its collections, and keep the
    # collector from touching (and so copying) the pages the forked workers and tasks share with it
    gc.freeze()
    _cost = time.process_time() - _start
    import os
    from pathlib import Path

    # the benchmark adds this one-off to the preloaded run's CPU: the scheduler's CPU is not otherwise counted
    Path(os.environ["AIRFLOW_HOME"], "agentic_mlops_preload_cpu_seconds").write_text(f"{_cost:.3f}")
    print(f"agentic-mlops fleet: preloaded in {_cost:.1f} CPU-s", file=sys.stderr)
'''

#: the file, in ``$AIRFLOW_HOME``, where :data:`PRELOAD` records the CPU-seconds its imports took
PRELOAD_COST_FILE = "agentic_mlops_preload_cpu_seconds"


def preload_cpu_seconds(home: Path) -> float | None:
    """The CPU-seconds the scheduler spent preloading (:data:`PRELOAD`), or None when it did not."""
    path = home / PRELOAD_COST_FILE
    return float(path.read_text()) if path.exists() else None


#: check_drift's log lines that end each stage (the operator logs them), in order: the median time
#: between consecutive ones says where a drift task spends its time.
DRIFT_STAGES = (
    ("task start to DAG parsed", "::endgroup::"),
    ("provider imports, MLflow access check", "Read reference data"),
    ("read both files", "Read current data"),
    ("summary, champion load, evidence", "Evidence for "),
    ("log line", "Model "),
    ("Evidently report, MLflow logging", "Drift report: "),
    ("post execute (XCom)", None),  # the last line
)

ERRORS = re.compile(r"database is locked|OperationalError|IntegrityError|deadlock detected|could not serialize")


class FleetDeployment(Deployment):
    """The e2e deployment with LocalExecutor on SQLite or PostgreSQL and ``n_models`` models."""

    n_models: int = 100
    on_postgres: bool = False
    preload: bool = False

    @property
    def kind(self) -> str:
        preloaded = ", libraries preloaded in the scheduler" if self.preload else ""
        return f"{'PostgreSQL' if self.on_postgres else 'SQLite'} + LocalExecutor, parallelism 4{preloaded}"

    def _databases(self, home: Path) -> None:
        if not self.on_postgres:
            super()._databases(home)
            return
        self.metadata_url = create_pg_database("agentic_mlops_fleet")
        self._pg_databases.append(self.metadata_url)
        self.state_url = create_pg_database("agentic_mlops_fleet_state")
        self._pg_databases.append(self.state_url)

    def _write_config(self, home: Path) -> None:
        super()._write_config(home)  # postgres_celery is False: LocalExecutor, parallelism 4
        if self.preload:
            (home / "config").mkdir(exist_ok=True)
            (home / "config" / "airflow_local_settings.py").write_text(PRELOAD)
        models = Path(self.env["AIRFLOW__AGENTIC_MLOPS__MODELS_FILE"])
        models.write_text(
            "models:\n"
            + "".join(
                MODEL_YAML.format(model=name, data=home / "demo-data" / name, channel=CHANNEL, approver=APPROVER)
                for name in self.models()
            )
        )

    def wait_until(self, check: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
        """The deployment's start-up waits, four times longer: 100 DAGs on a loaded 2-core machine."""
        return super().wait_until(check, 4 * timeout, what, interval)

    def models(self) -> list[str]:
        return [f"{PREFIX}{i:03d}" for i in range(self.n_models)]

    def _setup_demo(self, home: Path) -> str:
        out = subprocess.run(
            [sys.executable, "-c", SETUP, str(home), self.mlflow_url, str(self.n_models), PREFIX],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert out.returncode == 0, f"fleet setup failed:\n{out.stderr[-3000:]}"
        return "1"

    def _dag_parsed(self) -> bool:
        rows = self._sql(
            "SELECT count(*) FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
            "WHERE d.dag_id LIKE 'agentic_mlops__fleet-%' AND NOT d.is_stale"
        )
        return rows[0][0] == self.n_models

    def state_sql(self, query: str) -> list[Any]:
        engine = getattr(self, "_state_engine", None)
        if engine is None:
            engine = self._state_engine = sa.create_engine(self.state_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query)))


class MemorySampler(threading.Thread):
    """Memory and CPU of every process under the scheduler (its LocalExecutor workers, their task
    supervisors and task processes), and the machine's load, sampled every second (reading PSS costs CPU).

    Memory: the largest sum of PSS (proportional set size: a page shared by forked processes counts
    once in all, so the sum is what the fleet really holds) and of RSS (each process's pages,
    shared ones in every process), and the largest single RSS. CPU: user + system seconds of the
    scheduler's children including their reaped children (every ended task), taken at the last
    sample; the machine's busy CPU-seconds over the same interval, from ``/proc/stat``.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_pss = self.peak_rss = self.peak_single = self.peak_processes = 0
        self.peak_scheduler_pss = 0  # not in the sums: with --preload it holds the libraries the tasks share
        self.scheduler_cpu = 0.0  # its own user + system seconds since it started (its children apart)
        self.worker_cpu: dict[tuple[int, float], float] = {}
        self.loads: list[float] = []
        self.machine_busy = self.machine_total = 0.0
        self.done = threading.Event()

    @staticmethod
    def _machine() -> tuple[float, float]:
        """(busy, total) CPU-seconds of the machine since boot, all cores."""
        fields = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
        tick = os.sysconf("SC_CLK_TCK")
        return (sum(fields) - idle) / tick, sum(fields) / tick

    def run(self) -> None:
        import psutil

        scheduler = psutil.Process(self.pid)
        busy0, total0 = self._machine()
        while not self.done.wait(1.0):
            pss = rss = single = count = 0
            try:
                self.peak_scheduler_pss = max(self.peak_scheduler_pss, scheduler.memory_full_info().pss)
                own = scheduler.cpu_times()
                self.scheduler_cpu = own.user + own.system
                children = scheduler.children(recursive=True)
                direct = {c.pid for c in scheduler.children()}
            except psutil.Error:
                continue
            for child in children:
                try:
                    mem = child.memory_full_info()
                    if child.pid in direct:  # the workers: their own CPU and that of every reaped task
                        t = child.cpu_times()
                        cpu = t.user + t.system + t.children_user + t.children_system
                        self.worker_cpu[(child.pid, child.create_time())] = cpu
                except psutil.Error:
                    continue
                pss, rss, single, count = pss + mem.pss, rss + mem.rss, max(single, mem.rss), count + 1
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self.peak_single, self.peak_processes = max(self.peak_single, single), max(self.peak_processes, count)
            self.loads.append(float(Path("/proc/loadavg").read_text().split()[0]))
            busy, total = self._machine()
            self.machine_busy, self.machine_total = busy - busy0, total - total0

    def snapshot(self) -> dict[str, float]:
        """CPU and load so far (taken when every model has a decision)."""
        return {
            "worker_cpu_seconds": sum(self.worker_cpu.values()),
            "scheduler_cpu_seconds": self.scheduler_cpu,
            "machine_busy_seconds": self.machine_busy,
            "machine_total_seconds": self.machine_total,
            "load_mean": statistics.mean(self.loads) if self.loads else 0.0,
        }


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def run_fleet(
    n_models: int,
    on_postgres: bool,
    timeout: float,
    settle_timeout: float,
    stop_file: Path | None = None,
    preload: bool = False,
) -> dict[str, Any]:
    from tests.doubles import mlflow_server

    mlflow_server.STARTUP_TIMEOUT_S = 600.0  # a loaded shared machine starts it slowly
    with tempfile.TemporaryDirectory(prefix="agentic-mlops-fleet-") as tmp:
        deployment = FleetDeployment(root=Path(tmp), postgres_celery=False)
        deployment.n_models, deployment.on_postgres, deployment.preload = n_models, on_postgres, preload
        began = time.monotonic()
        try:
            deployment.start()
            up = time.monotonic() - began
            deployment.openai.answer("retrain", rationale="Drift on several features.", times=10 * n_models)
            scheduler = next(c for c in deployment.components if c.name == "scheduler")
            sampler = MemorySampler(scheduler.proc.pid)
            sampler.start()
            alerts = [alertmanager_payload(m)["alerts"][0] for m in deployment.models()]
            payload = {**alertmanager_payload(deployment.models()[0]), "alerts": alerts}
            posted, started = time.time(), time.monotonic()
            status, answer = deployment.post_alert(payload)
            accepted = time.monotonic() - started
            outcomes = Counter(r.get("outcome") for r in answer.get("results", []))
            if status != 201 or outcomes.get("started") != n_models:
                raise SystemExit(f"the alerts did not start {n_models} runs: HTTP {status} {outcomes} {answer}")
            print(f"  {n_models} alerts accepted in {accepted:.1f}s: {dict(outcomes)}", flush=True)

            def decided() -> int:
                try:
                    return deployment.state_sql(
                        f"SELECT count(DISTINCT model_name) FROM agentic_mlops_decisions "
                        f"WHERE model_name LIKE '{PREFIX}%'"
                    )[0][0]
                except (sa.exc.OperationalError, sa.exc.ProgrammingError):  # no task has migrated the store yet
                    return 0

            last = -1
            decided_seconds, at_decided = None, {}

            def stop_asked() -> bool:  # a loaded machine: end the waits now, and report what happened so far
                return stop_file is not None and stop_file.exists()

            while time.monotonic() - started < timeout and not stop_asked():
                count = decided()
                if count != last:
                    print(f"  {time.monotonic() - started:7.1f}s: {count} of {n_models} decided", flush=True)
                    last = count
                if count >= n_models:
                    decided_seconds = time.monotonic() - started
                    at_decided = sampler.snapshot()
                    print(
                        f"  every model decided; so far: {at_decided}, peak PSS {sampler.peak_pss / 2**20:.0f} MB",
                        flush=True,
                    )
                    break
                if any(c.proc.poll() is not None for c in deployment.components):
                    raise SystemExit("a component died: " + deployment.log_tails(20))
                time.sleep(1)

            def unsettled() -> list[str]:  # models whose run has neither ended nor reached its approval wait
                rows = deployment._sql(
                    "SELECT r.dag_id, r.state, t.state FROM dag_run r LEFT JOIN task_instance t ON "
                    "t.dag_id = r.dag_id AND t.run_id = r.run_id AND t.task_id = 'wait_for_approval' "
                    "WHERE r.dag_id LIKE 'agentic_mlops__fleet-%'"
                )
                return [
                    r[0].removeprefix("agentic_mlops__")
                    for r in rows
                    if r[1] not in ("success", "failed") and r[2] not in ("deferred", "success")
                ]

            settled_seconds = None
            still = unsettled()
            while decided_seconds is not None and time.monotonic() - started < decided_seconds + settle_timeout:
                still = unsettled()
                if not still:
                    settled_seconds = time.monotonic() - started
                    break
                if stop_asked():
                    break
                time.sleep(2)
            sampler.done.set()
            result = collect(deployment, posted, set(still))
            result.update(
                kind=deployment.kind,
                startup_seconds=up,
                accepted_seconds=accepted,
                decided_count=last,
                decided_seconds=decided_seconds,
                settled_seconds=settled_seconds,
                peak_pss_mb=sampler.peak_pss / 2**20,
                peak_rss_mb=sampler.peak_rss / 2**20,
                peak_single_mb=sampler.peak_single / 2**20,
                peak_scheduler_pss_mb=sampler.peak_scheduler_pss / 2**20,
                peak_processes=sampler.peak_processes,
                worker_cpu_seconds=sum(sampler.worker_cpu.values()),
                scheduler_cpu_seconds=sampler.scheduler_cpu,
                preload=preload,
                preload_cpu_seconds=preload_cpu_seconds(deployment.root / "airflow_home") if preload else None,
                machine_busy_seconds=sampler.machine_busy,
                machine_total_seconds=sampler.machine_total,
                load_mean=statistics.mean(sampler.loads) if sampler.loads else None,
                load_max=max(sampler.loads, default=None),
                sampled_seconds=1.0 * len(sampler.loads),
                at_decided=at_decided,
            )
            return result
        except BaseException:
            print(deployment.log_tails(30), file=sys.stderr)
            raise
        finally:
            deployment.stop()


def drift_stages(logs: list[Path]) -> dict[str, float]:
    """Median seconds of each :data:`DRIFT_STAGES` stage over the check_drift task logs."""
    spans: dict[str, list[float]] = {}
    for path in logs:
        times: list[tuple[float, str]] = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
                times.append((_epoch(record["timestamp"]), str(record.get("event", ""))))
            except (ValueError, KeyError, TypeError):
                continue
        if not times:
            continue
        last, i = times[0][0], 0
        for stage, marker in DRIFT_STAGES:
            if marker is None:
                spans.setdefault(stage, []).append(times[-1][0] - last)
                break
            while i < len(times) and not times[i][1].startswith(marker):
                i += 1
            if i == len(times):
                break  # the task failed, or logs differently: its later stages are not counted
            spans.setdefault(stage, []).append(times[i][0] - last)
            last = times[i][0]
    return {stage: statistics.median(v) for stage, v in spans.items()}


def failure_reason(logs_dir: Path, dag_id: str, task_id: str) -> str:
    """The last error a failed task logged (its last attempt's log), or why there is none."""
    attempts = sorted(logs_dir.glob(f"dag_id={dag_id}/*/task_id={task_id}/attempt=*.log"))
    if not attempts:
        return "no task log"
    reason = "no error line in its log"
    for line in attempts[-1].read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("level") in ("error", "critical") and "Downloading artifacts" not in str(record.get("event")):
            detail = record.get("error_detail") or []
            last = detail[-1] if isinstance(detail, list) and detail else {}
            reason = f"{record.get('event')}: {last.get('exc_type', '')}: {str(last.get('exc_value', ''))[:300]}"
    return reason


def collect(deployment: FleetDeployment, posted: float, unsettled: set[str]) -> dict[str, Any]:
    """What the state store, the Slack double, the metadata DB and the logs hold; approvals are
    checked on the models whose run has ended or waits for approval (``unsettled`` are left out)."""
    decisions = deployment.state_sql(
        f"SELECT model_name, final_action FROM agentic_mlops_decisions WHERE model_name LIKE '{PREFIX}%' ORDER BY id"
    )
    actions = dict(decisions)  # the last decision per model
    approvals = Counter(
        r[0]
        for r in deployment.state_sql(
            f"SELECT model_name FROM agentic_mlops_approvals WHERE model_name LIKE '{PREFIX}%'"
        )
    )
    approval_models = {
        r[0]: r[1]
        for r in deployment.state_sql(
            f"SELECT id, model_name FROM agentic_mlops_approvals WHERE model_name LIKE '{PREFIX}%'"
        )
    }
    slack = Counter(approval_models.get(a, f"unknown approval {a}") for a, _ in deployment.approval_requests())
    tis = deployment._sql(
        "SELECT dag_id, task_id, state, queued_dttm, start_date, end_date, try_number FROM task_instance "
        "WHERE dag_id LIKE 'agentic_mlops__fleet-%'"
    )
    validate_state = {r[0].removeprefix("agentic_mlops__"): r[2] for r in tis if r[1] == "validate"}
    # validate is a branch operator: it succeeds whichever branch it takes, so a challenger the gates
    # rejected shows in the branch it took (its ``rejected`` task ran, the approval wait was skipped)
    rejected_state = {r[0].removeprefix("agentic_mlops__"): r[2] for r in tis if r[1] == "rejected"}
    waits: dict[str, list[float]] = {}
    durations: dict[str, list[float]] = {}
    for _dag, task, _state, queued, start, end, _try in tis:
        q, s, e = _epoch(queued), _epoch(start), _epoch(end)
        if q is not None and s is not None:
            waits.setdefault(task, []).append(s - q)
        if s is not None and e is not None and task != "wait_for_approval":
            durations.setdefault(task, []).append(e - s)
    retraining = [m for m, a in actions.items() if a == "retrain"]
    passed = [m for m in retraining if validate_state.get(m) == "success" and rejected_state.get(m) == "skipped"]
    wrong = {
        m: (approvals.get(m, 0), slack.get(m, 0))
        for m in deployment.models()
        if m not in unsettled and (approvals.get(m, 0), slack.get(m, 0)) != ((1, 1) if m in passed else (0, 0))
    }
    error_lines = Counter()
    logs = list((deployment.root / "airflow_home" / "logs").rglob("*.log")) + [c.log for c in deployment.components]
    for path in logs:
        try:
            for line in path.read_text(errors="replace").splitlines():
                if match := ERRORS.search(line):
                    error_lines[match.group(0)] += 1
        except OSError:
            continue
    states = Counter(r[2] for r in tis)
    drift_logs = [p for p in logs if "task_id=check_drift" in str(p)]
    return {
        "retried_tasks": [(r[0], r[1], r[6]) for r in tis if (r[6] or 0) > 1],
        "drift_stages": drift_stages(drift_logs),
        "actions": dict(Counter(actions.values())),
        "retraining": len(retraining),
        "validation_passed": len(passed),
        "approvals_in_store": sum(approvals.values()),
        "approval_messages": sum(slack.values()),
        "approval_mismatches": wrong,
        "unsettled": sorted(unsettled),
        "failed_tasks": [(r[0], r[1]) for r in tis if r[2] == "failed"],
        "failure_reasons": {
            f"{r[0]}.{r[1]}": failure_reason(deployment.root / "airflow_home" / "logs", r[0], r[1])
            for r in tis
            if r[2] == "failed"
        },
        "task_states": dict(states),
        "error_lines": dict(error_lines),
        "waits": {t: statistics.median(v) for t, v in waits.items()},
        "durations": {t: statistics.median(v) for t, v in durations.items()},
        "task_seconds": {t: sum(v) for t, v in durations.items()},
    }


def cpu_lines(n_models: int, r: dict[str, Any]) -> list[str]:
    """The CPU the fleet used, until every model was decided and until the runs settled: the compared
    figure is the workers' and their tasks' CPU plus, with ``--preload``, the one-off imports the scheduler
    paid for them (in a plain run every task pays its own imports, counted in the workers' CPU). The
    scheduler's own CPU is printed apart, in both modes, and not counted: it schedules alike in both."""
    cores = os.cpu_count() or 1
    preload = r.get("preload_cpu_seconds")
    lines = []
    for label, c in (("until every model was decided", r["at_decided"]), ("until the runs settled", r)):
        if not c:
            continue
        wall = c["machine_total_seconds"] / cores
        workers = c["worker_cpu_seconds"]
        if preload is not None:
            fleet_cpu = f"fleet workers and tasks {workers:.0f} + {preload:.0f} preloading in the scheduler"
        elif r.get("preload"):
            fleet_cpu = "fleet workers and tasks, the preload's cost NOT recorded (left out)"
        else:
            fleet_cpu = "fleet workers and tasks, no preload"
        total = workers + (preload or 0.0)
        lines.append(
            f"CPU {label}: {fleet_cpu}: {total:.0f} CPU-s ({total / n_models:.1f} per model); "
            f"the scheduler itself {c['scheduler_cpu_seconds']:.0f} CPU-s since it started (not counted"
            f"{', the preload included' if preload is not None else ''}); "
            f"machine busy {c['machine_busy_seconds']:.0f} of {c['machine_total_seconds']:.0f} CPU-s "
            f"({cores} cores x {wall:.0f} s); load average (1 min) {c['load_mean']:.1f} mean"
        )
    return lines


def report(n_models: int, r: dict[str, Any]) -> None:
    print(f"deployment={r['kind']} models={n_models} startup_seconds={r['startup_seconds']:.0f}")
    print(f"alerts accepted (one webhook, {n_models} alerts): {r['accepted_seconds']:.1f}s")
    print(f"decisions: {r['actions']}; retraining {r['retraining']}, validation passed {r['validation_passed']}")
    settled = r["settled_seconds"]
    if settled:
        print(f"every run ended or waiting for approval after: {settled:.0f}s")
    else:
        left = r["unsettled"]
        more = f" and {len(left) - 10} more" if len(left) > 10 else ""
        print(f"runs not settled in time: {len(left)} left out of the approval check ({', '.join(left[:10])}{more})")
    print(
        f"approval requests: {r['approvals_in_store']} in the state store, {r['approval_messages']} Slack messages; "
        f"models not at exactly one per passed retraining: {r['approval_mismatches'] or 'none'}"
    )
    print(
        f"worker memory peak: {r['peak_pss_mb']:.0f} MB in all (PSS: shared pages counted once; "
        f"{r['peak_rss_mb']:.0f} MB summing each process's RSS), {r['peak_single_mb']:.0f} MB the largest "
        f"process (RSS), {r['peak_processes']} processes at most; the scheduler itself, not in these: "
        f"{r['peak_scheduler_pss_mb']:.0f} MB PSS"
    )
    for text in cpu_lines(n_models, r):
        print(text)
    print(f"task states: {r['task_states']}")
    state_errors = sum(r["error_lines"].values()) + len(r["failed_tasks"])
    lines, failed = r["error_lines"] or "none", r["failed_tasks"] or "none"
    print(f"state_store_errors={state_errors} (log lines {lines}; failed tasks {failed})")
    for task, reason in r["failure_reasons"].items():
        print(f"  {task} failed: {reason}")
    print(f"tasks retried: {r['retried_tasks'] or 'none'}")
    print(f"{'task':<18}{'median queue wait s':>20}{'median run s':>14}{'task-seconds':>14}")
    for task in (
        "check_drift",
        "decide",
        "no_action",
        "escalate",
        "retrain",
        "validate",
        "rejected",
        "wait_for_approval",
    ):
        if task in r["waits"] or task in r["durations"]:
            wait, run, total = r["waits"].get(task), r["durations"].get(task), r["task_seconds"].get(task)
            print(
                f"{task:<18}{wait if wait is None else round(wait, 1)!s:>20}"
                f"{run if run is None else round(run, 1)!s:>14}{total if total is None else round(total)!s:>14}"
            )
    if r["drift_stages"]:
        print("check_drift, median seconds per stage (from its task log):")
        for stage, seconds in r["drift_stages"].items():
            print(f"  {stage:<40}{seconds:>8.1f}")
    decided = r["decided_seconds"]
    if decided is None:
        print(f"decided: {r['decided_count']} of {n_models} when the wait ended")
    print(f"decided_seconds={decided:.0f}" if decided is not None else "decided_seconds=timeout")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both", "auto"], default="auto")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for every decision")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=1800,
        help="seconds to wait, after the last decision, for every run to end or wait for approval",
    )
    parser.add_argument(
        "--stop-file",
        type=Path,
        default=None,
        help="when this file exists, stop waiting (for decisions or settled runs) and report what happened so far",
    )
    parser.add_argument(
        "--preload",
        action="store_true",
        help="the scheduler imports Evidently, MLflow, skops, scikit-learn and SciPy once (airflow_local_settings.py)"
        " so that every task process, forked from it, inherits them",
    )
    args = parser.parse_args()
    pg = server_answers(PG_HOST, PG_PORT)
    dbs = {"sqlite": [False], "postgres": [True], "both": [False, True], "auto": [False, True] if pg else [False]}
    for on_postgres in dbs[args.db]:
        print(f"== {'PostgreSQL' if on_postgres else 'SQLite'}", flush=True)
        result = run_fleet(args.models, on_postgres, args.timeout, args.settle_timeout, args.stop_file, args.preload)
        report(args.models, result)
        print(json.dumps({k: v for k, v in result.items() if k != "failed_tasks"}, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
