"""The drift task end to end: DriftCheckOperator.execute() against reading the data + the summary.

Writes reference and current Parquet files of ``--rows`` rows each (default 1,000,000) x 20
columns (the frames of ``benchmarks/drift.py``), starts a local MLflow tracking server (the
tests' real ``mlflow server``, SQLite + local artifacts), then, alternating in fresh interpreters:

- ``operator``: ``DriftCheckOperator(...).execute(context)`` with the operator's defaults: reads
  both files, computes the drift summary, renders Evidently's report on its sample and logs it to
  the model's MLflow ``monitoring`` run;
- ``baseline``: the part of that which the decision needs: ``read_frame`` of both files and
  ``compute_drift`` on them (the same functions the operator calls).

Both interpreters import the same modules before the clock starts (pandas, pyarrow, Airflow's task
SDK, the operator, Evidently and MLflow), so neither side pays an import the other does not; what a
fresh worker pays once to import Evidently and MLflow is printed on its own. Memory is the peak
resident memory the call adds (peak reset through ``/proc/self/clear_refs`` before the call),
less the two frames' own: the resident memory that reading both files with the same ``read_frame``
adds, measured the same way in a third fresh interpreter with the same imports, once per round
(printed; ``DataFrame.memory_usage(deep=True)`` would count each shared category string once per
row: 946 MB for frames that hold 650-680 MB at 1M rows). A negative difference is the two measurements'
noise and is printed as ``below_noise``, not as a figure. The operator's stages (read,
summary, evidence, report rendering, MLflow logging) are timed by wrapping the functions it calls; the
report renders on a thread alongside the summary and the evidence, so its stage overlaps theirs and
``report wait`` is what the task still waits for it afterwards. ``total cpu`` is the process CPU time
of the call (all threads), so that overlap shows as wall time saved, not as work left out.

Prints the medians of ``--repeat`` interleaved runs, then ``operator_extra_mb=`` and last
``operator_ratio=<operator wall / baseline wall>``. Goals: ratio <= 1.5, extra memory <= 300 MB.

    python benchmarks/drift_operator.py [--rows 1000000] [--repeat 3] [--report-sample-rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RUN = r"""
import gc, json, os, sys, time
import pandas, pyarrow.parquet, airflow.sdk  # noqa: F401 - both sides import the same modules
import evidently, evidently.presets, mlflow  # noqa: F401
from airflow_provider_agentic_mlops.core import data_io
from airflow_provider_agentic_mlops.core import drift as core_drift
from airflow_provider_agentic_mlops.core import evidence as core_evidence
from airflow_provider_agentic_mlops.core.drift import report as core_report
from airflow_provider_agentic_mlops.operators import drift as drift_operator

side, ref_path, cur_path = sys.argv[1], sys.argv[2], sys.argv[3]
sample = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else None
stages = {}


def wrap(owner, name, stage):
    original = getattr(owner, name, None)
    if original is None:
        return

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            result = original(*args, **kwargs)
        finally:
            stages[stage] = stages.get(stage, 0.0) + time.perf_counter() - start
        return result

    setattr(owner, name, timed)


wrap(data_io, "read_frame", "read")
wrap(core_drift, "compute_drift", "summary")
wrap(core_evidence, "gather_evidence", "evidence")
# The report renders on a thread alongside the summary and the evidence (core.drift.report.ReportAlongside):
# "report" is its rendering (overlapping the stages before it), "report wait" what the task then still
# waits for it (join + the summary file). Module attributes, looked up at call time.
wrap(core_report, "write_evidently_report", "report")
wrap(core_report.ReportAlongside, "finish", "report wait")
wrap(drift_operator.DriftCheckOperator, "_store_in_mlflow", "mlflow logging")


def rss(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) * 1024


class TaskInstance:
    def __init__(self):
        self.xcom = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


if side == "operator":
    kwargs = {} if sample is None else {"report_sample_rows": sample}
    op = drift_operator.DriftCheckOperator(
        task_id="check_drift", model_name="benchmark-model", reference=ref_path, current=cur_path, **kwargs
    )
    ti = TaskInstance()

    def call():
        return op.execute({"ti": ti, "run_id": "manual__benchmark", "data_interval_end": None})
elif side == "frames":  # the two frames alone: what holding them adds to the resident memory

    def call():
        global held
        held = (data_io.read_frame(ref_path, role="reference data"), data_io.read_frame(cur_path, role="current data"))
        gc.collect()
        return rss("VmRSS")
else:

    def call():
        reference = data_io.read_frame(ref_path, role="reference data")
        current = data_io.read_frame(cur_path, role="current data")
        return core_drift.compute_drift(reference, current, model_name="benchmark-model").to_dict()

gc.collect()
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
before = rss("VmRSS")
start, cpu = time.perf_counter(), time.process_time()
result = call()
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = rss("VmHWM") - before
out = {"wall": wall, "cpu": cpu, "peak": peak, "stages": stages}
if side == "frames":
    out["frames"] = result - before
elif side == "operator":
    out["report_uri"] = ti.xcom.get("report_uri")
    out["n_drifted"] = result["n_drifted"]
print(json.dumps(out))
"""

IMPORTS = r"""
import time
import pandas, pyarrow.parquet, airflow.sdk  # noqa: F401
from airflow_provider_agentic_mlops.operators import drift  # noqa: F401
start = time.perf_counter()
import evidently, evidently.presets, mlflow  # noqa: F401
print(time.perf_counter() - start)
"""


def run_side(side: str, ref: Path, cur: Path, env: dict[str, str], sample: int | None) -> dict:
    cmd = [sys.executable, "-c", RUN, side, str(ref), str(cur), "" if sample is None else str(sample)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the {side} run failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def extra_memory_line(side: str, peak: float, frames: float) -> str:
    """The ``<side>_extra_mb=`` line: the peak resident memory ``side`` added beyond the two frames' (bytes
    both). Both are resident-memory differences in fresh interpreters, so a negative difference is
    their noise, not a figure, and is printed as ``below_noise``."""
    extra = (peak - frames) / 2**20
    detail = f"peak added {peak / 2**20:.0f} MB, the two frames {frames / 2**20:.0f} MB"
    if extra < 0:
        return f"{side}_extra_mb=below_noise ({detail}: {extra:.0f} MB, within the measurement's noise)"
    return f"{side}_extra_mb={extra:.0f} (peak added beyond the two frames; {detail})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of reference and of current (each)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per side (medians)")
    parser.add_argument(
        "--report-sample-rows", type=int, default=None, help="override the operator's report_sample_rows"
    )
    args = parser.parse_args()

    from benchmarks.drift import make_frames
    from tests.doubles import mlflow_server
    from tests.doubles.mlflow_server import start_mlflow_server, stop_mlflow_server

    mlflow_server.STARTUP_TIMEOUT_S = 600.0  # a loaded shared machine starts it slowly

    with tempfile.TemporaryDirectory(prefix="drift-operator-bench-") as tmp:
        root = Path(tmp)
        reference, current = make_frames(args.rows)
        ref, cur = root / "reference.parquet", root / "current.parquet"
        reference.to_parquet(ref, index=False)
        current.to_parquet(cur, index=False)
        del reference, current
        proc, url, _log = start_mlflow_server(root / "mlflow")
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "MLFLOW_"))}
            env.update(
                {
                    "AIRFLOW_HOME": str(root / "airflow_home"),
                    "PYTHONPATH": str(REPO),
                    "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_TRAIN": json.dumps(
                        {"conn_type": "agentic_mlops_mlflow", "host": url}
                    ),
                }
            )
            imports = subprocess.run(
                [sys.executable, "-c", IMPORTS], capture_output=True, text=True, env=env, check=True
            )
            import_s = float(imports.stdout.strip().splitlines()[-1])
            runs: dict[str, list[dict]] = {"operator": [], "baseline": []}
            frames: list[int] = []
            for i in range(args.repeat):
                order = ("operator", "baseline") if i % 2 == 0 else ("baseline", "operator")
                for side in order:  # interleaved, neither side always first
                    runs[side].append(run_side(side, ref, cur, env, args.report_sample_rows))
                    print(f"run {i + 1} {side}: {runs[side][-1]['wall']:.2f}s", flush=True)
                frames.append(run_side("frames", ref, cur, env, None)["frames"])
        finally:
            stop_mlflow_server(proc)

    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[side])

    def med_stage(side: str, stage: str) -> float:
        return statistics.median(r["stages"].get(stage, 0.0) for r in runs[side])

    frames_bytes = statistics.median(frames)
    sample = args.report_sample_rows if args.report_sample_rows is not None else "operator default"
    print(f"rows={args.rows:,} + {args.rows:,} x 20 columns (Parquet on disk); report_sample_rows={sample}")
    print(
        f"both frames in memory: {frames_bytes / 2**20:.0f} MB (resident, runs {[round(f / 2**20) for f in frames]}); "
        f"one-off import of Evidently + MLflow in a fresh worker: "
        f"{import_s:.2f}s (not in either side)"
    )
    print(f"{'stage (median s)':<18}{'operator':>10}{'baseline':>10}")
    for stage in ("read", "summary", "evidence", "report", "report wait", "mlflow logging"):
        print(f"{stage:<18}{med_stage('operator', stage):>10.2f}{med_stage('baseline', stage):>10.2f}")
    print("(the report renders on a thread while the summary and the evidence run: stages overlap)")
    print(f"{'total wall':<18}{med('operator', 'wall'):>10.2f}{med('baseline', 'wall'):>10.2f}")
    print(f"{'total cpu':<18}{med('operator', 'cpu'):>10.2f}{med('baseline', 'cpu'):>10.2f}")
    for side in runs:
        print(f"{side}: wall runs={[round(r['wall'], 2) for r in runs[side]]}")
    print(f"report: {runs['operator'][-1].get('report_uri')}")
    print(extra_memory_line("baseline", med("baseline", "peak"), frames_bytes))
    print(extra_memory_line("operator", med("operator", "peak"), frames_bytes) + "; goal <= 300")
    ratios = [o["wall"] / b["wall"] for o, b in zip(runs["operator"], runs["baseline"], strict=True)]
    print(f"operator_ratio_pairs={[round(r, 2) for r in ratios]}")
    print(f"operator_ratio={med('operator', 'wall') / med('baseline', 'wall'):.2f}")


if __name__ == "__main__":
    main()
