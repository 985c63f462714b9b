"""DAG parse cost of the per-model DAG file against plain EmptyOperator DAGs with the same tasks.

Writes a models.yaml with N models (default 500), then, alternating in fresh interpreters, parses
(a) the project's ``dags/agentic_mlops_models.py`` and (b) a generated file of N DAGs with the same
DAG arguments whose tasks are EmptyOperators with the same ids and dependencies, each as Airflow's
DAG processor does in the process that parses a file (``_parse_file``, Airflow 3.1 to 3.3): a
``DagBag`` of the file with ``load_op_links=False``, then the serialization of every DAG it made
(``airflow.dag_processing.processor._serialize_dags``, the processor's own function; the benchmark
stops with a message on an Airflow without it). The two parts are timed apart, in the same process:
``dagbag`` (the file's parse), ``serialize``, and ``dagbag+serialize`` (their sum per run: what the
processor spends per file; in the runs so far the serialization cost about as much as the parse, or
more). Both processes pre-import ``airflow.sdk`` and the processor's module (the processor has them
loaded) so the figure is the file's own cost.

Every side gets the same garbage-collector treatment, in three variants, each printed:

- ``gc=on``: Python's default, the collector runs during the parse of either file over the whole heap,
  Airflow's modules included (Airflow 3.1's DAG processor forks its parsing processes so: its manager
  never freezes its heap);
- ``gc=frozen``: the collector runs, but the heap that exists before the parse is frozen first
  (``gc.freeze()``), as Airflow 3.2 and later do (3.3 included, the version this project's environment
  installs): the DAG processor's manager freezes its heap once before its parsing loop, so every parsing
  process it forks starts with it frozen and a collection walks only what the parse itself made;
- ``gc=paused``: the harness pauses the collector around ``DagBag`` and the serialization for every
  file (what any DAG file could do for its own parse).

A third side, ``floor``, parses the factory's own DAGs with each provider operator replaced by a
``BaseOperator`` subclass that only keeps the arguments it is given (one ``__init__`` over Airflow's,
one attribute per argument). It is what any operator that keeps its arguments pays over an
``EmptyOperator`` in Airflow's ``__init__`` machinery; ``floor_ratio=`` (floor / baseline) is printed
per variant and part, so the provider's own share of the cost (ours / floor) can be read apart from it.

For ``gc=on`` and ``gc=frozen`` it also prints how many full (generation 2) collections each side's
parse ran and the CPU seconds they took (and apart, those its serialization ran), counted the same way
on every side: a full collection walks the whole heap not frozen (with ``gc=on``, Airflow's included)
and runs once the objects that survived since the last one exceed a share of that heap, so at a given
size one side may cross that line and the other not, which moves ``gc=on`` by a step.

Both sides import compiled modules (``.pyc``), as a DAG processor does with Airflow and an installed
provider: in a shell with ``PYTHONDONTWRITEBYTECODE`` (set here), an editable checkout of the provider
would otherwise compile its modules from source at every run (about 0.1 s) while Airflow's, EmptyOperator
included, come from the bytecode pip wrote at install. The child processes may write bytecode, and one
import of both sides' modules, before any measured run, compiles it.

The factory itself does not touch the collector, so no variant favours one side. Like the
DAG processor, which re-parses an unchanged file every ``min_file_process_interval``, the repeated
runs find the factory's cache of the parsed models file (JSON keyed by the file's content hash,
in ``$AIRFLOW_HOME/.cache``); the first run, without it, is printed separately. Then the per-DAG
time at 100, 500 and 2,000 models (``--scale``; it must stay flat: linear total cost), of the parse and
of parse + serialization. Then ``processor_ratio=<ours/baseline>`` of ``dagbag+serialize`` (the
processor's whole per-file work), the largest of the three variants' medians, and last
``ratio=<ours/baseline>`` of ``dagbag`` alone (the file's parse, the figure the goal was set on and
earlier runs printed), the largest of the three variants' medians. Goal: ``ratio`` <= 1.3.

    python benchmarks/parse_dags.py [--models 500] [--repeat 5] [--scale 100 500 2000]
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
    validation:
      data: data/model-{i:04d}/validation.parquet
    approval:
      channel: "#mlops"
      approvers: [U{i:05d}]
"""

BASELINE = """
from datetime import datetime, timedelta
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

for i in range({n}):
    # the same DAG arguments as the factory's DAGs; only the tasks differ (EmptyOperators)
    with DAG(dag_id=f"agentic_mlops__model-{{i:04d}}", schedule="@daily", start_date=datetime(2026, 1, 1),
             catchup=False, max_active_runs=1, tags=["agentic-mlops"],
             default_args={{"owner": "mlops", "retries": 0, "retry_delay": timedelta(seconds=30),
                           "retry_exponential_backoff": True}},
             description=f"Agentic MLOps loop of model 'model-{{i:04d}}'",
             doc_md=f"Drift -> decision -> retrain -> validation -> approval -> promotion for `model-{{i:04d}}` "
                    f"(MLflow model `model-{{i:04d}}`). Generated from the models file.",
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
import gc, json, sys, time
import airflow.sdk  # loaded in the DAG processor before any file is parsed
import structlog
try:
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+
except ImportError:
    from airflow.models.dagbag import DagBag  # Airflow 3.1
try:  # the DAG processor's own step after the parse (Airflow 3.1 to 3.3: the same name and arguments)
    from airflow.dag_processing.processor import _serialize_dags
except ImportError as err:
    raise SystemExit(
        f"this Airflow has no airflow.dag_processing.processor._serialize_dags ({err}); read its DAG "
        "processor's _parse_file and time the step it runs after DagBag instead"
    )
log = structlog.get_logger()
paused = sys.argv[2] == "paused"
gc.collect()  # both sides start from the same collected heap
if sys.argv[2] == "frozen":
    gc.freeze()  # Airflow 3.2+'s DAG processor froze its heap before it forked the process that parses a file
# full (generation 2) collections during each part, their CPU seconds; the last one's start
full = {"dagbag": [0, 0.0], "serialize": [0, 0.0]}
part, last_start = "dagbag", [0.0]


def count_full_collections(phase, info):  # reporting only; the same on both sides
    if info["generation"] == 2:
        if phase == "start":
            last_start[0] = time.process_time()
        else:
            full[part][0] += 1
            full[part][1] += time.process_time() - last_start[0]


gc.callbacks.append(count_full_collections)
if paused:
    gc.disable()
start, cpu = time.perf_counter(), time.process_time()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False, load_op_links=False)  # as the DAG processor builds it
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
part = "serialize"
start, ser_cpu = time.perf_counter(), time.process_time()
serialized, errors = _serialize_dags(bag, log)
ser_elapsed, ser_cpu = time.perf_counter() - start, time.process_time() - ser_cpu
gc.callbacks.remove(count_full_collections)
assert gc.isenabled() is not paused, "the parsed file changed the garbage collector's state"
assert not bag.import_errors and not errors, (bag.import_errors, errors)
print(json.dumps({
    "cpu": cpu, "wall": elapsed, "dags": len(bag.dags), "full_gc": full["dagbag"][0], "full_gc_s": full["dagbag"][1],
    "serialize_cpu": ser_cpu, "serialize_wall": ser_elapsed, "serialized": len(serialized),
    "serialize_full_gc": full["serialize"][0], "serialize_full_gc_s": full["serialize"][1],
}))
"""

# what either DAG file imports, compiled once before the measured runs (see the module docstring)
COMPILE = """
import airflow.sdk, airflow.dag_processing.processor
import airflow.providers.standard.operators.empty
import airflow_provider_agentic_mlops.dag_factory
"""

# the floor side: the factory's DAGs whose provider operators only keep their arguments
FLOOR = """
import inspect
from pathlib import Path

from airflow.sdk import BaseOperator

from airflow_provider_agentic_mlops import dag_factory

BASE_ARGS = set(inspect.signature(BaseOperator.__init__).parameters)


class KeepsArguments(BaseOperator):
    def __init__(self, **kwargs):
        own = {name: kwargs.pop(name) for name in list(kwargs) if name not in BASE_ARGS}
        super().__init__(**kwargs)
        for name, value in own.items():
            setattr(self, name, value)


for name in ("DriftCheckOperator", "AgentDecisionOperator", "EscalateOperator", "RetrainOperator",
             "ValidateOperator", "ApprovalSensor", "PromoteOperator"):
    assert isinstance(getattr(dag_factory, name), type), name  # the factory still builds these
    setattr(dag_factory, name, type(name, (KeepsArguments,), {}))
globals().update(dag_factory.build_dags(dag_factory.models_file(Path(__file__).parent)))
"""

SIDES = ("ours", "baseline", "floor")
VARIANTS = ("on", "frozen", "paused")
CLOCK = "cpu"  # set from --clock


#: (variant, side, part): (full collections, seconds) per run; part "dagbag" or "serialize"
FULL_GC: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
PARTS = ("dagbag", "serialize", "dagbag+serialize")  # the DagBag load, the serialization, the two: the processor's


def parse_once(path: Path, env: dict[str, str], gc_mode: str = "on", side: str = "") -> tuple[dict[str, float], int]:
    """``({"dagbag": s, "serialize": s}, DAGs)`` of one parse and serialization in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", PARSE, str(path), gc_mode], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"parsing {path} failed:\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["serialized"] != result["dags"]:
        raise SystemExit(f"{path}: DagBag found {result['dags']} DAGs, {result['serialized']} serialized")
    if side:
        FULL_GC.setdefault((gc_mode, side, "dagbag"), []).append((result["full_gc"], result["full_gc_s"]))
        FULL_GC.setdefault((gc_mode, side, "serialize"), []).append(
            (result["serialize_full_gc"], result["serialize_full_gc_s"])
        )
    return {"dagbag": result[CLOCK], "serialize": result[f"serialize_{CLOCK}"]}, result["dags"]


def part_median(runs: list[dict[str, float]], part: str) -> float:
    """Median seconds of one part over the runs; ``dagbag+serialize`` sums each run's two parts first."""
    if part == "dagbag+serialize":
        return statistics.median(r["dagbag"] + r["serialize"] for r in runs)
    return statistics.median(r[part] for r in runs)


def prepare(root: Path, n: int) -> tuple[dict[str, Path], dict[str, str]]:
    """The DAG file of each side for ``n`` models under ``root`` and the environment to parse them in."""
    FULL_GC.clear()
    ours_dir, base_dir, floor_dir = root / "ours", root / "baseline", root / "floor"
    for folder in (ours_dir, base_dir, floor_dir):
        folder.mkdir(parents=True)
    models = ours_dir / "models.yaml"
    models.write_text("models:\n" + "".join(MODEL.format(i=i) for i in range(n)))
    ours = ours_dir / "agentic_mlops_models.py"
    ours.write_text((REPO / "dags" / "agentic_mlops_models.py").read_text())
    baseline = base_dir / "baseline_dags.py"
    baseline.write_text(BASELINE.format(n=n))
    floor = floor_dir / "floor_dags.py"
    floor.write_text(FLOOR)
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},  # bytecode as installed
        "AIRFLOW_HOME": str(root / "home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0",  # no 30 s limit: a loaded machine must not fail a side
        "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE": str(models),
    }
    return {"ours": ours, "baseline": baseline, "floor": floor}, env


def measure(
    root: Path, n: int, repeat: int, variants: tuple[str, ...], sides: tuple[str, ...] = SIDES
) -> tuple[float, dict[tuple[str, str], list[dict[str, float]]]]:
    """``(first parse of ours, {(variant, side): [{"dagbag": s, "serialize": s} per run]})``, the sides'
    order rotating per run."""
    files, env = prepare(root, n)
    subprocess.run([sys.executable, "-c", COMPILE], env=env, check=True)  # every side's bytecode, once
    parse_once(files["baseline"], env)  # warm the OS file cache for every side
    first, _ = parse_once(files["ours"], env)  # no models cache yet
    first_dagbag = first["dagbag"]
    parse_once(files["floor"], env)
    timings: dict[tuple[str, str], list[dict[str, float]]] = {(v, side): [] for v in variants for side in sides}
    for i in range(repeat):
        for variant in variants:
            order = sides[i % len(sides) :] + sides[: i % len(sides)]  # no side always goes first
            for side in order:
                path = files[side]
                seconds, dags = parse_once(path, env, variant, side)
                if dags != n:
                    raise SystemExit(f"{side}: expected {n} DAGs, DagBag found {dags}")
                timings[(variant, side)].append(seconds)
    return first_dagbag, timings


def summary_lines(timings: dict[tuple[str, str], list[dict[str, float]]], variants: tuple[str, ...]) -> list[str]:
    """Per variant: each side's DagBag runs and ratios, then the serialization's and the two parts' medians
    and ratios; then ``processor_ratio=`` and, last, ``ratio=`` (see the module docstring)."""
    lines, ratios, processor_ratios = [], {}, {}
    for variant in variants:
        medians = {(side, part): part_median(timings[(variant, side)], part) for side in SIDES for part in PARTS}
        for side in SIDES:
            runs = [round(r["dagbag"], 3) for r in timings[(variant, side)]]
            lines.append(f"gc={variant:<6} {side:<8} median_s={medians[(side, 'dagbag')]:.3f} runs={runs}")
        for part in PARTS:
            ours, base, floor = (medians[(side, part)] for side in SIDES)
            figures = f"ratio={ours / base:.3f} floor_ratio={floor / base:.3f} ours/floor={ours / floor:.3f}"
            if part == "dagbag":
                ratios[variant] = ours / base
                lines.append(f"gc={variant:<6} {figures}")
            else:
                if part == "dagbag+serialize":
                    processor_ratios[variant] = ours / base
                lines.append(
                    f"gc={variant:<6} {part:<16} ours {ours:.3f} baseline {base:.3f} floor {floor:.3f} {figures}"
                )
    lines.append(f"processor_ratio={max(processor_ratios.values()):.3f}")
    lines.append(f"ratio={max(ratios.values()):.3f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5, help="runs per side and variant (median kept)")
    parser.add_argument("--scale", type=int, nargs="*", default=[100, 500, 2000], help="model counts for per-DAG cost")
    parser.add_argument("--scale-repeat", type=int, default=3)
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="CPU seconds of the parsing process (default: robust on a shared machine) or wall seconds",
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = args.clock
    median = statistics.median

    with tempfile.TemporaryDirectory() as tmp:
        first, timings = measure(Path(tmp) / "main", args.models, args.repeat, VARIANTS)
        base_default = part_median(timings[("on", "baseline")], "dagbag")
        print(f"models={args.models} repeat={args.repeat} clock={CLOCK} (interleaved runs; medians)")
        print(f"ours first parse (models cache empty): {first:.3f}s, {first / base_default:.3f}x the baseline (gc=on)")
        print(
            "per side: the DagBag load (median_s, runs, ratio=); then serialize: the DAG processor's serialization "
            "of every DAG the file made, timed apart in the same process; dagbag+serialize: the two, what the "
            "processor spends per file"
        )
        summary = summary_lines(timings, VARIANTS)  # its last two lines, the headline ratios, are printed last
        print("\n".join(summary[:-2]))
        # where gc=on and the other variants differ: the collector's full passes over the whole heap, which run
        # when the objects that survived since the last one exceed a share of the heap (a threshold either side
        # may cross or not at a given size); frozen, the heap before the parse is not walked nor counted
        for variant in ("on", "frozen"):
            for side in SIDES:
                counts = {part: FULL_GC[(variant, side, part)] for part in ("dagbag", "serialize")}
                print(
                    f"gc={variant:<6} {side:<8} full collections per parse {[n for n, _ in counts['dagbag']]}, "
                    f"CPU s in them (median) {median(t for _, t in counts['dagbag']):.3f}; "
                    f"per serialization {[n for n, _ in counts['serialize']]}, "
                    f"{median(t for _, t in counts['serialize']):.3f}"
                )

        if args.scale:
            print(f"per-DAG time ({CLOCK}), gc=on, median of {args.scale_repeat} (linear cost: flat per DAG)")
            print(
                f"{'models':>7} {'ours ms/DAG':>12} {'baseline ms/DAG':>16} {'ratio':>6} {'full GCs ours/base':>19} "
                f"{'+serialize: ours':>17} {'baseline':>9} {'ratio':>6}"
            )
            for n in args.scale:
                _, t = measure(Path(tmp) / f"scale-{n}", n, args.scale_repeat, ("on",), ("ours", "baseline"))
                ours_s, base_s = (part_median(t[("on", side)], "dagbag") for side in ("ours", "baseline"))
                ours_p, base_p = (part_median(t[("on", side)], "dagbag+serialize") for side in ("ours", "baseline"))
                full_gcs = "/".join(
                    str(median(c for c, _ in FULL_GC[("on", side, "dagbag")])) for side in ("ours", "baseline")
                )
                print(
                    f"{n:>7} {1000 * ours_s / n:>12.2f} {1000 * base_s / n:>16.2f} {ours_s / base_s:>6.2f} "
                    f"{full_gcs:>19} {1000 * ours_p / n:>17.2f} {1000 * base_p / n:>9.2f} {ours_p / base_p:>6.2f}",
                    flush=True,
                )
    print("\n".join(summary[-2:]))


if __name__ == "__main__":
    main()
