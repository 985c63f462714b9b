"""A year of history: the state store's reads and ``db prune`` at 200 models deciding hourly.

Seeds a state store (a SQLite file in a temporary directory, or PostgreSQL with ``--postgres URL``) with
``--models`` models (default 200), each deciding every hour for ``--days`` days (default 30; ``--full``:
365, 1.75 million decisions at 200 models), as the loop writes them:

- each decision a trace made by the provider's own ``decide()`` (rules, or an LLM answer from a scripted
  client: prompt, raw answer, tokens) on a drift summary of 20 columns, with its DAG run
  (``agentic_mlops__<model>``, ``scheduled__<hour>``) and try number, and its ``decision`` audit entry with the
  trace's digest (bulk inserts of the rows ``StateStore.record_decision`` writes);
- one run in 40 decided twice (a retried ``decide``: its first try superseded);
- every 30 days (at least once) a retraining cycle through the store's own write API: the run's job started
  and finished, an approval request (one in two needs two approvers) approved by its votes, a promotion with
  every step and its ``promoted`` audit entry; the last cycle of one model in four stays pending. Their rows are
  then dated back to their run (their audit entries keep the time they were written: the trail is
  append-only).

The baseline: a store of the same models with 9 days of history (``--baseline-days``): the fewest whole days
that give each model more decisions than the longest read returns (the model page's 201), so every read returns
the same rows on both sides (checked: the benchmark stops if they differ); seeded by the same code, read by the
same functions in the same process. Each read runs once untimed on each side first (imports:
``models list``'s modules import Airflow). Reads, timed alternately on the two stores (``--repeat`` each,
default 5; which side goes first alternates), ``gc.collect()`` before every timed call on both sides (the
collector stays on during it), medians printed:

- ``page50``: the overview's reads of a page of 50 models (``model_history.models_and_dags`` for every
  model, then ``model_history.model_summaries`` of the page's models, 20 sparkline runs each), as the page
  asks for a user who may read every DAG (each model's DAGs and its rows that recorded none);
- ``all``: the same for one page of all the models;
- ``models_list``: ``models list``'s store reads (its ``_StoreState`` for every model: running jobs, last
  decisions, pending approvals, promotions, budget inputs; then each row's ``blocked`` and ``promotion``), no
  MLflow lookup;
- ``trace``: a decision's trace page and its model's page: ``get_decision`` of a decision from the middle of
  model 0's history with its validation verdict, and ``model_history.model_runs`` (the model's newest 201).

The overview's Airflow parts (the auth manager's checks, the DAGs' teams, the parsed DAGs and last DAG runs
from Airflow's metadata database) are left out: they do not read the state store.

Then ``db prune --older-than`` (``--older-than`` days; default 180 for a history of 360 days or more, else
half the history): ``prune_history`` as the command calls it (the jobs of the default 168-hour budget window
kept), the dry run (``--repeat`` times, interleaved likewise) and the real prune once per side, each on a fresh
copy of its store (SQLite: the file copied; PostgreSQL: ``CREATE DATABASE ... TEMPLATE``). ``db prune --yes``
runs the dry run, then the prune.

Prints the seeded rows and seconds per side, then each read for both sides with ``ratio=`` (year /
baseline), the prunes with the rows they delete, and last one line:
``page50_ratio=... all_ratio=... models_list_ratio=... trace_ratio=... prune_dry_seconds=... prune_seconds=...``.

    .venv/bin/python benchmarks/history.py                       # SQLite, 200 models x 30 days
    .venv/bin/python benchmarks/history.py --postgres postgresql+psycopg2://postgres@127.0.0.1:5432/hist_bench
    .venv/bin/python benchmarks/history.py --postgres URL --full # 365 days: 1.75 M decisions

With ``--postgres URL`` the benchmark creates (and drops at the end, unless ``--keep``) the databases
``<name>_year``, ``<name>_base`` and ``<name>_prune`` beside the URL's database ``<name>``: the URL's role needs
``CREATEDB``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_agentic_mlops.core import model_history  # noqa: E402
from airflow_provider_agentic_mlops.core.config import DecisionConfig, ModelSpec, parse_models  # noqa: E402
from airflow_provider_agentic_mlops.core.paging import page_of  # noqa: E402
from airflow_provider_agentic_mlops.core.schema import (  # noqa: E402
    approval_votes,
    approvals,
    audit,
    decisions,
    jobs,
    promotions,
)
from airflow_provider_agentic_mlops.core.state import (  # noqa: E402
    TRACE_DIGEST,
    TRY_NUMBER,
    StateStore,
    decision_trace_digest,
    utcnow,
)

DEFAULT_MODELS = 200
DEFAULT_DAYS = 30
FULL_DAYS = 365
#: The baseline's history: the fewest whole days of hourly decisions that give each model more than the model
#: page's newest 201, so that every read returns as many rows on both sides (a LIMIT read of a shorter history
#: returns fewer rows, and would be cheaper for that alone).
BASELINE_DAYS = 9
#: The overview's ``SPARKLINE_RUNS`` and ``MODELS_PER_PAGE``, and its model page's ``DECISIONS_SHOWN``
#: (``plugins/overview.py``; a test checks they are the same).
SPARKLINE_RUNS = 20
MODELS_PER_PAGE = 50
DECISIONS_SHOWN = 200
#: Data columns of each drift check.
COLUMNS = 20
#: One run in this many decides twice (a retried ``decide``).
RETRY_EVERY = 40
#: Days between two retraining cycles of a model.
CYCLE_DAYS = 30
#: Decisions (with their audit entries) per insert transaction.
CHUNK = 5_000
#: Drift share of each trace template and how often it is drawn.
SHARES = ((0.0, 0.55), (0.05, 0.2), (0.15, 0.12), (0.3, 0.08), (0.6, 0.05))
READS = ("page50", "all", "models_list", "trace")


def model_name(i: int) -> str:
    return f"model-{i:03d}"


def dag_id_of(name: str) -> str:
    return f"agentic_mlops__{name}"


def drift_summary(share: float) -> dict[str, Any]:
    """A drift summary as ``DriftCheckOperator`` returns it: ``share`` of :data:`COLUMNS` columns drifted."""
    n_drifted = round(share * COLUMNS)
    columns = {
        f"feature_{i:02d}": {
            "score": round(0.3 + i / 100, 4) if i < n_drifted else round(0.02 + i / 1000, 4),
            "method": "wasserstein" if i % 4 else "jensenshannon",
            "threshold": 0.1,
            "drifted": i < n_drifted,
            "type": "num" if i % 4 else "cat",
        }
        for i in range(COLUMNS)
    }
    top = [{"column": n, "score": c["score"], "method": c["method"], "threshold": 0.1} for n, c in columns.items()]
    return {
        "dataset_drift": share >= 0.5,
        "drift_share": share,
        "share_threshold": 0.5,
        "n_columns": COLUMNS,
        "n_drifted": n_drifted,
        "top_drifted": top[:n_drifted],
        "columns": columns,
        "quality": {"roc_auc": {"reference": 0.91, "current": round(0.91 - share / 5, 4)}},
        "data_quality": {"null_share": dict.fromkeys(columns, 0.0), "missing_columns": [], "schema_errors": []},
        "n_reference": 50_000,
        "n_current": 10_000,
        "report_uri": "runs:/4f1c0a2b9e7d4c55/agentic_mlops/drift/report.html",
    }


class ScriptedLLM:
    """The core's ``LLMClient`` protocol answering ``action`` (no server: the trace is what matters here)."""

    def __init__(self, action: str) -> None:
        self.action = action

    def __call__(self, *, messages: Any, tools: Any, response_format: Any, max_tokens: int, validate: Any) -> Any:
        from airflow_provider_agentic_mlops.core.decision import LLMReply

        content = json.dumps(
            {
                "action": self.action,
                "rationale": "drift on the top features and roc_auc fell against the reference; see the evidence",
                "confidence": 0.72,
                "evidence": ["feature_00", "roc_auc"],
            }
        )
        return LLMReply(content=content, answer=validate(content, None), prompt_tokens=1850, completion_tokens=64)


def decision_templates() -> list[dict[str, Any]]:
    """One ``record_decision`` field set per :data:`SHARES`, made by the provider's ``decide()``: rules alone below
    the minimum drift share, an LLM answer (scripted) above it; the last one's answer is ``retrain``."""
    from airflow_provider_agentic_mlops.core.decision import ModelHistory, decide
    from airflow_provider_agentic_mlops.core.state import _jsonable  # what record_decision stores

    config = DecisionConfig(min_drift_share=0.1, critical_drift_share=0.5, cooldown_hours=0, max_retrains=50)
    templates = []
    for share, _ in SHARES:
        mode = "rules" if share < config.min_drift_share else "llm"
        decision = decide(
            model_name="template",
            drift=drift_summary(share),
            history=ModelHistory(now=datetime(2026, 1, 1)),
            config=config,
            mode=mode,
            llm=ScriptedLLM("retrain" if share >= 0.3 else "no_action") if mode == "llm" else None,
            requested_mode="auto",
        )
        templates.append({name: _jsonable(value) for name, value in decision.record_fields().items()})
    return templates


@dataclass
class Seeded:
    """What :func:`seed` wrote.

    :param rows: table -> rows.
    :param seconds: how long it took.
    :param trace_decision: the decision the ``trace`` read opens (model 0, the middle of its history).
    """

    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    trace_decision: int = 0


def _decision_rows(
    models: int, days: int, now: datetime, first_id: int, rng: random.Random
) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every decision, oldest first (all models decide each hour), as ``(row, cycle)``: ``cycle`` marks the
    decision of a run that retrains through the cycle (:func:`_cycle`)."""
    templates = decision_templates()
    weights = [w for _, w in SHARES]
    hours = days * 24
    start = (now - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    cycles = max(1, days // CYCLE_DAYS)
    cycle_hours = {(m, int((c + 0.5) * hours / cycles) - (m % 12)) for m in range(models) for c in range(cycles)}
    next_id = first_id
    for hour in range(hours):
        scheduled = start + timedelta(hours=hour)
        run_id = f"scheduled__{scheduled.isoformat()}+00:00"
        for m in range(models):
            name = model_name(m)
            cycle = (m, hour) in cycle_hours
            template = templates[-1] if cycle else rng.choices(templates, weights)[0]
            tries = 2 if rng.randrange(RETRY_EVERY) == 0 else 1
            for try_number in range(1, tries + 1):
                row = {
                    **template,
                    "id": next_id,
                    "model_name": name,
                    "dag_id": dag_id_of(name),
                    "run_id": run_id,
                    "created_at": scheduled + timedelta(seconds=20 + m * 0.3 + (try_number - 1) * 95),
                    "inputs": {**template["inputs"], TRY_NUMBER: try_number},
                    "latency_ms": round(rng.uniform(800, 4000), 1) if template["mode"] == "llm" else None,
                }
                next_id += 1
                yield row, cycle and try_number == tries


def _audit_of(row: dict[str, Any]) -> dict[str, Any]:
    """The ``decision`` audit entry ``record_decision`` writes with ``row``."""
    return {
        "at": row["created_at"],
        "actor": f"agent:{row.get('decided_by') or row['mode']}",
        "action": "decision",
        "model_name": row["model_name"],
        "subject": f"decision:{row['id']}",
        "details": {
            "action": row["final_action"],
            "override": row.get("override_reason"),
            TRACE_DIGEST: decision_trace_digest(row),
            "run_id": row["run_id"],
            TRY_NUMBER: row["inputs"][TRY_NUMBER],
        },
    }


def _cycle(store: StateStore, row: dict[str, Any], number: int, *, pending: bool) -> None:
    """A retraining run after decision ``row``, through the store's write API: its job, approval request, votes
    and promotion (or the request left pending), then dated back to the run."""
    from airflow_provider_agentic_mlops.core.promotion import AUDIT, PROMOTED, PROMOTION_STEPS

    name, dag_id, run_id, at = row["model_name"], row["dag_id"], row["run_id"], row["created_at"]
    version = str(number + 2)
    job, _ = store.start_job(
        name, dag_id=dag_id, run_id=run_id, decision_id=row["id"], details={"training_dag_id": "train_model"}
    )
    store.finish_job(job["id"], status="succeeded", result={"version": version, "run_id": f"mlflow-run-{number}"})
    two = int(name[-3:]) % 2 == 1
    digest = hashlib.sha256(f"{name}/{run_id}".encode()).hexdigest()
    approval, _ = store.request_approval(
        name,
        version,
        dag_id=dag_id,
        run_id=run_id,
        expires_at=utcnow() + timedelta(days=7),  # a pending one (the last cycle's) waits yet
        report_digest=digest,
        required_approvals=2 if two else 1,
        details={
            "drift": {"drift_share": 0.6, "share_threshold": 0.5, "n_columns": COLUMNS, "n_drifted": 12},
            "rationale": "drift on the top features and roc_auc fell; retrained",
            "validation": {
                "passed": True,
                "primary_metric": "roc_auc",
                "champion_metrics": {"roc_auc": 0.79, "accuracy": 0.88},
                "challenger_metrics": {"roc_auc": 0.9, "accuracy": 0.9},
                "report_uri": f"runs:/mlflow-run-{number}/agentic_mlops/validation/report.html",
            },
            "approvers": ["ann", "bob"],
        },
    )
    decided = at + timedelta(minutes=40)
    dates: list[tuple[sa.Table, Any, dict[str, Any]]] = [
        (jobs, jobs.c.id == job["id"], {"started_at": at, "heartbeat_at": at + timedelta(minutes=25)}),
        (jobs, jobs.c.id == job["id"], {"finished_at": at + timedelta(minutes=25)}),
        (approvals, approvals.c.id == approval["id"], {"requested_at": at + timedelta(minutes=30)}),
    ]
    if not pending:
        for user, via in (("ann", "ui"), ("bob", "cli"))[: 2 if two else 1]:
            store.decide_approval(approval["id"], approve=True, user=user, via=via, reason="validated, looks good")
        approved = store.get_approval(approval["id"], with_votes=False)
        promotion, _ = store.begin_promotion(approved, registered_model=name, previous_version=str(number + 1))
        for step in PROMOTION_STEPS:
            entry = None
            if step == AUDIT:
                entry = {
                    "action": PROMOTED,
                    "actor": approved["decided_by"] or "unknown",
                    "model_name": name,
                    "subject": f"version:{version}",
                    "details": {
                        "previous_version": str(number + 1),
                        "approval_id": approval["id"],
                        "promotion_id": promotion["id"],
                        "dag_id": dag_id,
                        "run_id": run_id,
                        "report_digest": digest,
                    },
                }
            store.mark_promotion_step(promotion["id"], step, all_steps=PROMOTION_STEPS, audit_entry=entry)
        dates += [
            (
                approvals,
                approvals.c.id == approval["id"],
                {"decided_at": decided, "expires_at": at + timedelta(days=2)},
            ),
            (approval_votes, approval_votes.c.approval_id == approval["id"], {"at": decided}),
            (
                promotions,
                promotions.c.id == promotion["id"],
                {"started_at": decided + timedelta(minutes=1), "completed_at": decided + timedelta(minutes=2)},
            ),
        ]
    with store.engine.begin() as conn:
        for table, where, values in dates:
            conn.execute(table.update().where(where).values(**values))


def seed(store: StateStore, models: int, days: int, *, now: datetime | None = None, seed_: int = 7) -> Seeded:
    """Write ``models`` models' ``days`` days of hourly history into ``store`` (empty, migrated); see the module's
    docstring. Deterministic for a given ``seed_`` and ``now``."""
    started = time.perf_counter()
    now = now or utcnow()
    rng = random.Random(seed_)
    seeded = Seeded()
    middle = now - timedelta(hours=days * 12)
    cycles: list[dict[str, Any]] = []
    chunk: list[dict[str, Any]] = []
    count = 0

    def flush() -> None:
        if chunk:
            with store.engine.begin() as conn:
                conn.execute(decisions.insert(), chunk)
                conn.execute(audit.insert(), [_audit_of(r) for r in chunk])
            chunk.clear()

    for row, cycle in _decision_rows(models, days, now, 1, rng):
        chunk.append(row)
        count += 1
        if cycle:
            cycles.append(row)
        if row["model_name"] == model_name(0) and not seeded.trace_decision and row["created_at"] >= middle:
            seeded.trace_decision = row["id"]
        if len(chunk) >= CHUNK:
            flush()
    flush()
    if store.dialect == "postgresql":  # the ids were given: the sequence continues after them
        with store.engine.begin() as conn:
            conn.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('agentic_mlops_decisions', 'id'), :last)"),
                {"last": count},
            )
    last_cycle = {r["model_name"]: r["id"] for r in cycles}
    for number, row in enumerate(cycles):
        pending = last_cycle[row["model_name"]] == row["id"] and int(row["model_name"][-3:]) % 4 == 0
        _cycle(store, row, number, pending=pending)
    seeded.rows = row_counts(store)
    seeded.seconds = time.perf_counter() - started
    return seeded


def row_counts(store: StateStore) -> dict[str, int]:
    """Rows of each table, and the decisions a later try of their run superseded."""
    from airflow_provider_agentic_mlops.core.state import decision_superseded_by

    counts = {}
    with store.engine.connect() as conn:
        for table in (decisions, audit, approvals, approval_votes, promotions, jobs):
            counts[table.name.removeprefix("agentic_mlops_")] = conn.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
        counts["superseded"] = conn.execute(
            sa.select(sa.func.count()).select_from(decisions).where(decision_superseded_by().is_not(None))
        ).scalar_one()
    return counts


# -- the reads ---------------------------------------------------------------------------------------------


def overview_rows(store: StateStore, page_size: int) -> dict[str, dict[str, Any]]:
    """The overview's state-store reads of its first page of ``page_size`` models (``plugins/overview.py``'s
    ``models_page``), for a user who may read every DAG: each model's rows of its DAGs and those that recorded
    none (``readable_of``'s answer for such a user)."""
    models = model_history.models_and_dags(store)
    shown = [(name, {d for d in dags if d} | {own, None}) for name, (own, dags) in sorted(models.items())]
    listed = page_of(shown, 1, page_size)
    return model_history.model_summaries(store, dict(listed.items), sparkline_runs=SPARKLINE_RUNS)


def model_specs(models: int) -> list[ModelSpec]:
    """The models file's entries of the seeded models (what ``models list`` reads beside the store)."""
    entry = {
        "drift": {"reference": "ref.parquet", "current": "cur.parquet", "label_column": "label"},
        "retrain": {"python_callable": "training:train"},
    }
    return parse_models({"models": [{"name": model_name(i), **entry} for i in range(models)]})


def models_list_rows(store: StateStore, specs: list[ModelSpec]) -> list[dict[str, Any]]:
    """``models list``'s state-store reads (``cli/commands/models.py``'s ``_model_rows`` without the MLflow
    lookup of each champion): the store's state of every model, then each row's blocked reason and promotion."""
    from airflow_provider_agentic_mlops.cli.commands.models import _StoreState, blocked_reason

    state = _StoreState(store, specs)
    rows = []
    for spec in specs:
        job = state.jobs.get(spec.name)
        last = state.last.get(spec.name)
        rows.append(
            {
                "model": spec.name,
                "blocked": blocked_reason(store, spec, job, inputs=state.budget.get(spec.name), now=state.now),
                "last_decision": f"{last['final_action']} (#{last['id']})" if last else None,
                "pending_approvals": state.pending.get(spec.name, 0),
                "promotion": model_history.unfinished_promotions(
                    store, spec.name, promotions=state.promotions.get(spec.name, [])
                ),
            }
        )
    return rows


def rows_returned(result: Any) -> int:
    """How many rows a read gave: the overview's sparkline runs, ``models list``'s rows, the model page's runs."""
    if isinstance(result, dict):
        return sum(len(row["runs"]) for row in result.values())
    if isinstance(result, tuple):
        return len(result[1])
    return len(result)


def trace_read(store: StateStore, decision_id: int) -> tuple[dict[str, Any] | None, list[Any]]:
    """A decision's trace page (the decision, its validation verdict) and its model's page of decisions."""
    decision = store.get_decision(decision_id)
    assert decision is not None, decision_id
    name = decision["model_name"]
    dag_ids = {decision["dag_id"], None}
    point = model_history.run_point(decision)
    model_history.validation_verdicts(store, {name: [point]}, dag_ids={name: dag_ids})
    runs = model_history.model_runs(store, name, dag_ids=dag_ids, limit=DECISIONS_SHOWN + 1)
    return decision, runs


# -- the stores --------------------------------------------------------------------------------------------


class Stores:
    """Where the two sides' stores live, and fresh copies of them for the real prune.

    :param directory: the temporary directory (SQLite files).
    :param postgres: a PostgreSQL URL whose server holds the benchmark's databases (None: SQLite).
    """

    def __init__(self, directory: Path, postgres: str | None) -> None:
        self.directory = directory
        self.postgres = sa.engine.make_url(postgres) if postgres else None
        self.created: list[str] = []

    def _admin(self) -> sa.Engine:
        assert self.postgres is not None
        return sa.create_engine(self.postgres, isolation_level="AUTOCOMMIT")

    def url(self, name: str) -> str:
        if self.postgres is None:
            return f"sqlite:///{self.directory / f'{name}.db'}"
        return self.postgres.set(database=f"{self.postgres.database}_{name}").render_as_string(hide_password=False)

    def create(self, name: str, *, template: str | None = None) -> str:
        """An empty database ``name`` (or a copy of ``template``'s); its URL."""
        if self.postgres is None:
            path = self.directory / f"{name}.db"
            path.unlink(missing_ok=True)
            if template is not None:
                shutil.copyfile(self.directory / f"{template}.db", path)
            return self.url(name)
        engine = self._admin()
        base = self.postgres.database
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{base}_{name}"'))
            conn.execute(
                sa.text(f'CREATE DATABASE "{base}_{name}"' + (f' TEMPLATE "{base}_{template}"' if template else ""))
            )
        engine.dispose()
        if name not in self.created:
            self.created.append(name)
        return self.url(name)

    def drop(self) -> None:
        if self.postgres is None:
            return
        engine = self._admin()
        with engine.connect() as conn:
            for name in self.created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.postgres.database}_{name}"'))
        engine.dispose()

    def size(self, store: StateStore, name: str) -> int:
        """Bytes the store's database takes."""
        if self.postgres is None:
            return sum(p.stat().st_size for p in self.directory.glob(f"{name}.db*"))
        with store.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())


def quiesce(store: StateStore) -> None:
    """Write the SQLite WAL into the file and close every connection, so the file can be copied (PostgreSQL:
    close them, so the database can be a template)."""
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()


def timed(fn: Callable[[], Any]) -> float:
    """Seconds ``fn`` takes, after a full collection (every side the same)."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(sides: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[float]]:
    """Each side timed ``repeat`` times, alternately; which side goes first alternates."""
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeat):
        for name in names if i % 2 == 0 else reversed(names):
            times[name].append(timed(sides[name]))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=DEFAULT_MODELS)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of hourly history (the measured side)")
    parser.add_argument("--full", action="store_true", help=f"{FULL_DAYS} days (as the README's figures)")
    parser.add_argument("--baseline-days", type=int, default=BASELINE_DAYS)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each read per side")
    parser.add_argument("--older-than", type=int, default=None, help="db prune --older-than, in days")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server and database name prefix")
    parser.add_argument("--keep", action="store_true", help="keep the stores (their location is printed)")
    args = parser.parse_args(argv)
    days = FULL_DAYS if args.full else args.days
    older_than = args.older_than or (180 if days >= 360 else max(7, days // 2))

    directory = Path(tempfile.mkdtemp(prefix="history-bench-"))
    os.environ["AIRFLOW_HOME"] = str(directory / "airflow")  # models list's modules import Airflow: not the user's
    stores = Stores(directory, args.postgres)
    where = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{where}: {args.models} models, hourly decisions: {days} days against {args.baseline_days} (baseline); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    seeded: dict[str, Seeded] = {}
    opened: dict[str, StateStore] = {}
    try:
        for side, side_days in (("base", args.baseline_days), ("year", days)):
            opened[side] = StateStore(stores.create(side))
            seeded[side] = seed(opened[side], args.models, side_days)
            quiesce(opened[side])
            counts = " ".join(f"{k}={v}" for k, v in seeded[side].rows.items())
            size = stores.size(opened[side], side) / 1e6
            print(f"seeded {side}: {counts} in {seeded[side].seconds:.1f} s ({size:.0f} MB)")
        if args.postgres:  # fresh statistics, as autovacuum would have them by the time anyone reads
            for store in opened.values():
                with store.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
        specs = model_specs(args.models)
        checks = {side: overview_rows(store, args.models) for side, store in opened.items()}
        for side, rows in checks.items():  # every model is read, with its sparkline
            assert len(rows) == args.models and all(r["runs"] for r in rows.values()), side

        reads: dict[str, Callable[[StateStore, Seeded], Any]] = {
            "page50": lambda store, _s: overview_rows(store, MODELS_PER_PAGE),
            "all": lambda store, _s: overview_rows(store, args.models),
            "models_list": lambda store, _s: models_list_rows(store, specs),
            "trace": lambda store, s: trace_read(store, s.trace_decision),
        }
        for read, fn in reads.items():  # once untimed on each side: imports (models list's import Airflow), caches
            returned = {side: rows_returned(fn(store, seeded[side])) for side, store in opened.items()}
            if returned["base"] != returned["year"]:
                raise SystemExit(f"{read} returns {returned}: not the same rows on both sides, raise --baseline-days")
        medians: dict[str, dict[str, float]] = {}
        for read, fn in reads.items():
            times = interleaved(
                {side: (lambda fn=fn, side=side: fn(opened[side], seeded[side])) for side in ("base", "year")},
                args.repeat,
            )
            medians[read] = {side: statistics.median(t) for side, t in times.items()}
            year, base = medians[read]["year"], medians[read]["base"]
            spread = " ".join(f"{side}=[{min(t):.3f}-{max(t):.3f}]" for side, t in times.items())
            print(f"{read}: year={year:.3f} s baseline={base:.3f} s ratio={year / base:.2f} ({spread})")

        now = utcnow()
        cutoff = now - timedelta(days=older_than)
        from airflow_provider_agentic_mlops.core.retention import longest_budget_window, prune_history

        counted_since = now - longest_budget_window(specs)

        def prune(store: StateStore, dry_run: bool) -> Any:
            return prune_history(store.engine, cutoff, dry_run=dry_run, jobs_counted_since=counted_since)

        dry = interleaved(
            {side: (lambda side=side: prune(opened[side], True)) for side in ("base", "year")}, args.repeat
        )
        due = {side: prune(store, True) for side, store in opened.items()}
        prune_medians = {"dry": {side: statistics.median(t) for side, t in dry.items()}, "real": {}}
        for side, store in opened.items():
            quiesce(store)
            copy = StateStore(stores.create("prune", template=side))
            prune_medians["real"][side] = timed(lambda copy=copy: prune(copy, False))
            left = row_counts(copy)
            copy.dispose()
            gone = " ".join(f"{k}={v}" for k, v in due[side].counts.items())
            print(
                f"db prune --older-than {older_than}d ({side}): dry run {prune_medians['dry'][side]:.3f} s (median), "
                f"prune {prune_medians['real'][side]:.3f} s; deletes {gone}; left decisions={left['decisions']}"
            )
        print(f"load average {os.getloadavg()[0]:.2f}")
        ratios = {read: m["year"] / m["base"] for read, m in medians.items()}
        print(
            " ".join(f"{read}_ratio={ratios[read]:.2f}" for read in READS)
            + f" prune_dry_seconds={prune_medians['dry']['year']:.3f} prune_seconds={prune_medians['real']['year']:.3f}"
        )
    finally:
        if args.keep:
            print(f"kept: {directory}" + (f" and databases {stores.created}" if args.postgres else ""))
        else:
            for store in opened.values():
                store.dispose()
            stores.drop()
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
