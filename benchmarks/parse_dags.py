"""DAG parse cost of the per-model DAG file against plain EmptyOperator DAGs with the same tasks.

Writes a models.yaml with N models (default 500), then, alternating in fresh interpreters, parses
(a) the project's ``dags/agentic_mlops_models.py`` and (b) a generated file of N DAGs with the same
DAG arguments whose tasks are EmptyOperators with the same ids and dependencies, each with
Airflow's DagBag as the DAG processor does. Both processes pre-import ``airflow.sdk`` (the
processor has it loaded) so the figure is the file's own cost. Prints medians and
``ratio=<ours/baseline>`` last. Goal: <= 1.3.

Like the DAG processor, which re-parses an unchanged file every ``min_file_process_interval``,
the repeated runs find the factory's cache of the parsed models file (JSON keyed by the file's
content hash, in ``$AIRFLOW_HOME/.cache``); the first run, without it, is printed separately. The
factory also pauses the cyclic garbage collector while it builds the DAGs (the baseline file
does not; that is part of what is measured).

    python benchmarks/parse_dags.py [--models 500] [--repeat 5]
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

MODEL = """  - name: model-{i:04d}
    drift:
      reference: data/model-{i:04d}/reference.parquet
      current: data/model-{i:04d}/current.parquet
      label_column: label
    retrain:
      python_callable: airflow_provider_agentic_mlops.demo.training:train_fraud_detector
      conf: {{train_data: data/model-{i:04d}/current.parquet}}
    approval:
      channel: "#mlops"
      approvers: [U{i:05d}]
"""

BASELINE = """
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

for i in range({n}):
    # the same DAG arguments as the factory's DAGs; only the tasks differ (EmptyOperators)
    with DAG(dag_id=f"agentic_mlops__model-{{i:04d}}", schedule="@daily", start_date=datetime(2026, 1, 1),
             catchup=False, max_active_runs=1, tags=["agentic-mlops"],
             default_args={{"owner": "mlops", "retries": 0}},
             description=f"Agentic MLOps loop of model 'model-{{i:04d}}'",
             doc_md=f"Drift -> decision -> retrain -> validation -> approval -> promotion for `model-{{i:04d}}`",
             ) as dag:
        t = {{name: EmptyOperator(task_id=name) for name in (
            "check_drift", "decide", "no_action", "escalate", "retrain", "validate", "rejected",
            "wait_for_approval", "promote")}}
        t["check_drift"] >> t["decide"] >> [t["retrain"], t["no_action"], t["escalate"]]
        t["retrain"] >> t["validate"] >> [t["wait_for_approval"], t["rejected"]]
        t["wait_for_approval"] >> t["promote"]
    globals()[dag.dag_id] = dag
"""

PARSE = """
import json, sys, time
import airflow.sdk  # loaded in the DAG processor before any file is parsed
from airflow.dag_processing.dagbag import DagBag
start = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
elapsed = time.perf_counter() - start
assert not bag.import_errors, bag.import_errors
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags)}))
"""


def parse_once(path: Path, env: dict[str, str]) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", PARSE, str(path)], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"parsing {path} failed:\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds"], result["dags"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        ours_dir, base_dir = tmp_path / "ours", tmp_path / "baseline"
        ours_dir.mkdir()
        base_dir.mkdir()
        models = ours_dir / "models.yaml"
        models.write_text("models:\n" + "".join(MODEL.format(i=i) for i in range(args.models)))
        ours = ours_dir / "agentic_mlops_models.py"
        ours.write_text((REPO / "dags" / "agentic_mlops_models.py").read_text())
        baseline = base_dir / "baseline_dags.py"
        baseline.write_text(BASELINE.format(n=args.models))
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path / "home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE": str(models),
        }
        parse_once(baseline, env)  # warm the OS file cache for both sides
        first_ours, _ = parse_once(ours, env)  # no models cache yet
        timings: dict[str, list[float]] = {"ours": [], "baseline": []}
        for _ in range(args.repeat):
            for name, path in (("ours", ours), ("baseline", baseline)):
                seconds, dags = parse_once(path, env)
                if dags != args.models:
                    raise SystemExit(f"{name}: expected {args.models} DAGs, DagBag found {dags}")
                timings[name].append(seconds)
    ours_s, base_s = statistics.median(timings["ours"]), statistics.median(timings["baseline"])
    print(f"models={args.models} repeat={args.repeat}")
    print(f"ours_first_parse_s={first_ours:.3f} (models cache empty; ratio {first_ours / base_s:.3f})")
    print(f"ours_median_s={ours_s:.3f} runs={[round(t, 3) for t in timings['ours']]}")
    print(f"baseline_median_s={base_s:.3f} runs={[round(t, 3) for t in timings['baseline']]}")
    print(f"ratio={ours_s / base_s:.3f}")


if __name__ == "__main__":
    main()
