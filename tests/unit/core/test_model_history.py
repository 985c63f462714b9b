"""Shaping the state store's history for the model pages: runs, heatmap, quality, lineage, artifacts."""

from __future__ import annotations

from functools import partial
from typing import Any

from airflow_provider_agentic_mlops.core import model_history
from airflow_provider_agentic_mlops.core.state import StateStore
from tests.approval_data import request_approval
from tests.model_history_data import COLUMNS, REJECTED_REASONS, RUNS, drift_summary, reject_validation, seed_history


def test_drift_observation_orients_severity_so_above_one_means_drifted_for_distances_and_p_values() -> None:
    drift = {
        "columns": {
            "dist": {"score": 0.3, "method": "wasserstein", "threshold": 0.1, "drifted": True, "type": "num"},
            "pval": {"score": 0.01, "method": "ks", "threshold": 0.05, "drifted": True, "type": "num"},
            "calm": {"score": 0.5, "method": "ks", "threshold": 0.05, "drifted": False, "type": "num"},
            "zero": {"score": 0.0, "method": "ks", "threshold": 0.05, "drifted": True, "type": "num"},
        },
        "report_uri": "runs:/abc/drift/report.html",
    }
    observed = model_history.drift_observation(drift)
    cols = observed["columns"]
    assert cols["dist"]["severity"] == 3.0 and cols["pval"]["severity"] == 5.0
    assert cols["calm"]["severity"] == 0.1 and not cols["calm"]["drifted"]
    assert cols["zero"]["severity"] == model_history.SEVERITY_CAP  # JSON has no infinity
    assert observed["report_uri"] == "runs:/abc/drift/report.html"


def test_runs_come_back_oldest_first_with_share_action_and_columns(sqlite_store: StateStore) -> None:
    seed_history(sqlite_store)
    runs = model_history.model_runs(sqlite_store, "fraud-detector")
    assert [(r.drift_share, r.action) for r in runs] == RUNS
    assert runs[2].columns["amount"] == {"severity": 3.0, "drifted": True}
    assert runs[0].share_threshold == 0.5


def test_heatmap_is_columns_by_runs_most_drifted_column_first(sqlite_store: StateStore) -> None:
    seed_history(sqlite_store)
    heatmap = model_history.column_heatmap(model_history.model_runs(sqlite_store, "fraud-detector"))
    assert sorted(heatmap.columns) == sorted(COLUMNS)
    assert len(heatmap.runs) == len(RUNS) and all(len(row) == len(RUNS) for row in heatmap.cells)
    assert heatmap.columns[0] == "amount"  # drifted in three runs, severity 3
    assert heatmap.cells[0] == [0.5, 3.0, 3.0, 3.0, 3.0]
    limited = model_history.column_heatmap(heatmap.runs, max_columns=2)
    assert len(limited.columns) == 2 and len(limited.cells) == 2


def test_quality_series_keeps_runs_with_known_current_quality() -> None:
    points = [
        model_history.run_point({"id": i, "created_at": None, "final_action": "no_action", "inputs": {"drift": drift}})
        for i, drift in enumerate(
            [drift_summary(0.2, report_uri=None), {"quality": None}, drift_summary(0.8, report_uri=None)]
        )
    ]
    series = model_history.quality_series(points)
    assert [round(v, 3) for _, v in series["roc_auc"]] == [0.85, 0.7]


def test_quality_is_also_the_champions_measured_performance_when_the_check_had_no_prediction_column() -> None:
    # the demo's check: labels in the current data, no prediction column; the champion predicted
    measured = {"kind": "measured", "metric": "accuracy", "current": 0.681, "baseline": 0.735, "n_labelled": 1000}
    estimated = {"kind": "estimated", "metric": "accuracy", "current": 0.7}
    points = [
        model_history.run_point({"id": i, "created_at": None, "final_action": "retrain", "inputs": {"drift": drift}})
        for i, drift in enumerate(
            [
                {"quality": None, "evidence": {"performance": measured}},
                {"quality": None, "evidence": {"performance": estimated}},  # no labels: not known
                {"quality": None, "evidence": {"performance": None}},
            ]
        )
    ]
    assert points[0].quality == {"accuracy": {"reference": 0.735, "current": 0.681}}
    assert points[1].quality is None and points[2].quality is None
    assert [(p.decision_id, v) for p, v in model_history.quality_series(points)["accuracy"]] == [(0, 0.681)]


def test_lineage_lists_promotion_with_its_two_approvers_and_the_rollback(sqlite_store: StateStore) -> None:
    seeded = seed_history(sqlite_store)
    lineage = model_history.champion_lineage(sqlite_store, "fraud-detector")
    assert [(e["event"], e["version"], e["from_version"], e["by"]) for e in lineage] == [
        ("rolled back to", "1", "2", "carol"),
        ("promoted", "2", "1", "bob"),
    ]
    assert lineage[0]["reason"] == "latency regression"
    assert lineage[1]["approval"]["id"] == seeded["approval_id"]
    assert [v["user_id"] for v in lineage[1]["approval"]["votes"]] == ["ann", "bob"]


def test_summary_has_champion_last_decision_and_no_pending_approval(sqlite_store: StateStore) -> None:
    seed_history(sqlite_store)
    summary = model_history.model_summaries(sqlite_store, {"fraud-detector": None})["fraud-detector"]
    assert summary["champion"]["version"] == "1"  # the rollback is the latest champion change
    assert summary["last_decision"].action == "retrain" and summary["pending_approval"] is None
    assert model_history.model_dag_id(sqlite_store, "fraud-detector") == "agentic_mlops__fraud-detector"


def test_decided_approvals_come_with_their_votes(sqlite_store: StateStore) -> None:
    seeded = seed_history(sqlite_store)
    decided = model_history.decided_approvals(sqlite_store)
    assert [a["id"] for a in decided] == [seeded["approval_id"]]
    assert decided[0]["status"] == "approved" and len(decided[0]["votes"]) == 2


def test_only_report_uris_the_loop_recorded_are_recognised(store_url: str) -> None:
    """On each backend: the lookup reads the JSON columns with the database's own JSON operators."""
    store = StateStore(store_url)
    seed_history(store, report_uri="runs:/r1/drift/x/drift_report.html")
    store.audit(
        "validation_rejected",
        actor="agentic-mlops",
        model_name="fraud-detector",
        details={"report_uri": "runs:/r2/v.html"},
    )
    request_approval(
        store,
        model_name="fraud-detector",
        model_version="3",
        dag_id="agentic_mlops__fraud-detector",
        run_id="r9",
        details={"links": {"Validation report": 's3://b/v "ü".html', "Runbook": "https://wiki.example/runbook"}},
    )
    recorded = partial(model_history.is_recorded_artifact, store)
    for uri in ("runs:/r1/drift/x/drift_report.html", "runs:/r2/v.html", 's3://b/v "ü".html'):
        assert recorded("fraud-detector", uri), uri
    assert not recorded("other", "runs:/r1/drift/x/drift_report.html")  # recorded for another model
    # a web page a request links to is linked as it is, never fetched as an artifact
    for uri in ("https://wiki.example/runbook", "file:///etc/passwd", "runs:/r1"):
        assert not recorded("fraud-detector", uri), uri
    store.dispose()


def test_a_report_is_recognised_however_many_decisions_came_after_it(sqlite_store: StateStore) -> None:
    for k in range(520):  # hourly checks for three weeks
        sqlite_store.record_decision(
            "hourly",
            mode="rules",
            final_action="no_action",
            decided_by="rules",
            dag_id="agentic_mlops__hourly",
            run_id=f"r{k}",
            rationale="",
            rules_fired=[],
            evidence={},
            inputs={"drift_observed": {"columns": {}, "report_uri": f"runs:/run{k}/drift/drift_report.html"}},
            prompt=[],
            raw_answer="",
            prompt_tokens=0,
            completion_tokens=0,
        )
    assert model_history.is_recorded_artifact(sqlite_store, "hourly", "runs:/run0/drift/drift_report.html")
    assert model_history.is_recorded_artifact(sqlite_store, "hourly", "runs:/run519/drift/drift_report.html")


def test_artifact_location_understands_runs_uris_and_mlflow_ui_urls_only() -> None:
    assert model_history.artifact_location("runs:/abc/drift/r.html") == ("abc", "drift/r.html")
    ui = "http://mlflow:5000/#/experiments/3/runs/abc/artifacts/drift/f/drift_report.html"
    assert model_history.artifact_location(ui) == ("abc", "drift/f/drift_report.html")
    for uri in (
        "s3://b/1/abc/artifacts/x.html",
        "file:///proc/self/environ",
        "/etc/hostname",
        "runs:/abc/../x",
        "runs:/abc//etc/passwd",  # an absolute path: refused here, not left to MLflow's parsing
    ):
        assert model_history.artifact_location(uri) is None, uri


def test_only_artifacts_mlflow_serves_are_downloaded_by_the_api_server() -> None:
    server = "http://mlflow:5000"
    assert model_history.artifact_root_refusal("mlflow-artifacts:/1/abc/artifacts", server) is None
    assert model_history.artifact_root_refusal("file:///srv/mlartifacts/1/abc/artifacts", "sqlite:////srv/m.db") is None
    # a local store names its runs' artifacts by a bare path (MLflow 3 with sqlite: ./mlruns/<e>/<run>/artifacts)
    assert model_history.artifact_root_refusal("/srv/mlruns/1/abc/artifacts", "sqlite:////srv/m.db") is None
    assert model_history.artifact_root_refusal("/srv/mlruns/1/abc/artifacts", server) is not None
    for root in ("s3://b/1/abc/artifacts", "file:///proc/self", "mlflow-artifacts://elsewhere/1/abc", "gs://b/x"):
        assert "mlflow-artifacts:/" in str(model_history.artifact_root_refusal(root, server)), root


def test_the_overviews_set_wise_rows_read_the_json_and_windows_alike_on_each_backend(store_url: str) -> None:
    """``model_summaries`` reads each model's newest decisions with a window function and the drift share
    through a JSON path: on each backend it gives what the model's own reads give."""
    store = StateStore(store_url)
    try:
        seed_history(store)
        seed_history(store, "churn")
        request_approval(store, model_name="churn", dag_id="agentic_mlops__churn", run_id="r9")
        rows = model_history.model_summaries(store, {"fraud-detector": None, "churn": None}, sparkline_runs=3)
        for name in ("fraud-detector", "churn"):
            own = model_history.model_runs(store, name, limit=3)
            assert [(r.decision_id, r.action, r.drift_share) for r in rows[name]["runs"]] == [
                (r.decision_id, r.action, r.drift_share) for r in own
            ]
            assert [r.drift_share for r in rows[name]["runs"]] == [0.6, 0.8, 0.4]  # the last 3 of RUNS, as numbers
            assert rows[name]["champion"]["version"] == "1"
        assert (
            rows["churn"]["pending_approval"]["run_id"] == "r9" and rows["fraud-detector"]["pending_approval"] is None
        )
        assert model_history.models_and_dags(store) == {
            "churn": ("agentic_mlops__churn", {"agentic_mlops__churn"}),
            "fraud-detector": ("agentic_mlops__fraud-detector", {"agentic_mlops__fraud-detector"}),
        }
    finally:
        store.dispose()


def test_the_overviews_rows_of_a_few_models_search_the_decisions_index_not_every_decision(store_url: str) -> None:
    """A page of the overview reads the newest decisions of its models only, by the ``(model_name, id)``
    index: a page costs the same however many other models the store holds."""
    import sqlalchemy as sa

    from airflow_provider_agentic_mlops.core.schema import decisions
    from airflow_provider_agentic_mlops.core.state import utcnow

    store = StateStore(store_url)
    sqlite = store.engine.dialect.name == "sqlite"
    rows = [
        {
            "model_name": f"model-{i % 50:02d}",
            "dag_id": f"agentic_mlops__model-{i % 50:02d}",
            "created_at": utcnow(),
            "mode": "rules",
            "final_action": "no_action",
            "inputs": {"drift": {"drift_share": 0.1}},
        }
        for i in range(10_000)
    ]
    seen: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "AS drift_share" in statement:  # the newest runs of the page's models
            seen.append((statement, parameters))

    try:
        with store.engine.begin() as conn:
            conn.execute(decisions.insert(), rows)
            if not sqlite:
                conn.exec_driver_sql("ANALYZE agentic_mlops_decisions")
        access = {name: {f"agentic_mlops__{name}", None} for name in ("model-07", "model-31")}
        sa.event.listen(store.engine, "before_cursor_execute", capture)
        try:
            summaries = model_history.model_summaries(store, access, sparkline_runs=3)
        finally:
            sa.event.remove(store.engine, "before_cursor_execute", capture)
        assert [len(s["runs"]) for s in summaries.values()] == [3, 3]
        ((statement, parameters),) = seen
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        with store.engine.connect() as conn:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(explain + statement, parameters))
        assert "ix_agentic_mlops_decisions_model" in plan, plan
        assert "SCAN agentic_mlops_decisions" not in plan and "Seq Scan on agentic_mlops_decisions" not in plan, plan
    finally:
        store.dispose()


def _store_rows(store: StateStore, rows: dict[str, list[tuple[str, str | None]]]) -> None:
    """Insert ``{table name: [(model_name, dag_id), ...]}`` as decisions, approval requests and finished jobs,
    with only the columns each table requires."""
    from airflow_provider_agentic_mlops.core.schema import approvals, decisions, jobs
    from airflow_provider_agentic_mlops.core.state import utcnow

    now = utcnow()
    filled = {
        decisions: lambda i: {"created_at": now, "mode": "rules", "final_action": "no_action"},
        approvals: lambda i: {
            "model_version": "1",
            "run_id": f"r{i}",
            "status": "approved",
            "requested_at": now,
            "expires_at": now,
        },
        jobs: lambda i: {"status": "succeeded", "started_at": now, "heartbeat_at": now},
    }
    with store.engine.begin() as conn:
        for table, fill in filled.items():
            if rows.get(table.name):
                conn.execute(
                    table.insert(),
                    [{"model_name": m, "dag_id": d, **fill(i)} for i, (m, d) in enumerate(rows[table.name])],
                )
        if store.engine.dialect.name == "postgresql":
            for table in filled:
                conn.exec_driver_sql(f"ANALYZE {table.name}")


def test_a_models_dag_is_the_first_that_recorded_it_not_the_newest(store_url: str) -> None:
    """Another team's DAG that records a decision under the same model name later does not take the model
    (and its rows that recorded no DAG) over; one model read alone says what the list of all says."""
    store = StateStore(store_url)
    try:
        _store_rows(store, {"agentic_mlops_decisions": [("churn", None), ("churn", "team_a"), ("churn", "team_b")]})
        assert model_history.model_dag_id(store, "churn") == "team_a"
        assert model_history.models_and_dags(store)["churn"] == ("team_a", {None, "team_a", "team_b"})
        assert model_history.model_dag_id(store, "nothing") == "agentic_mlops__nothing"
    finally:
        store.dispose()


def test_models_and_dags_says_what_reading_every_row_says_on_random_stores(store_url: str) -> None:
    """Each model's DAGs and own DAG, read through the indexes, equal what reading every row of the three
    tables gives: names and DAG ids that sort differently by byte and by collation, rows with no DAG or an
    empty one, models known to one table only, the first row's DAG in whichever order rows came."""
    import random

    import sqlalchemy as sa

    from airflow_provider_agentic_mlops.core.schema import approvals, decisions, jobs

    names = ["a", "B", "model-1", "model_1", "model 1", "Model-1", "modèle", "z", "zz"]
    dag_ids = [None, "", "d1", "D1", "d-2", "d_2", "d 2", "agentic_mlops__a", "é"]
    tables = (decisions, approvals, jobs)  # the order in which a model's own DAG is looked for
    store = StateStore(store_url)
    try:
        for seed in range(8):
            rng = random.Random(seed)
            with store.engine.begin() as conn:
                for table in tables:
                    conn.execute(table.delete())
            rows: dict[str, list[tuple[str, str | None]]] = {t.name: [] for t in tables}
            for _ in range(rng.randint(0, 120)):
                table = rng.choice(tables)
                dag_id = rng.choice(dag_ids)
                if dag_id is None and not table.c.dag_id.nullable:
                    continue
                rows[table.name].append((rng.choice(names[: rng.randint(1, len(names))]), dag_id))
            _store_rows(store, rows)

            with store.engine.connect() as conn:
                stored = {t: conn.execute(sa.select(t.c.id, t.c.model_name, t.c.dag_id)).all() for t in tables}
            expected: dict[str, tuple[str, set[str | None]]] = {}
            for name in sorted({m for table_rows in stored.values() for _, m, _ in table_rows}):
                dags = {d or None for table_rows in stored.values() for _, m, d in table_rows if m == name}
                own = None
                for table in tables:
                    first = min(((i, d) for i, m, d in stored[table] if m == name and d), default=None)
                    if first is not None:
                        own = first[1]
                        break
                expected[name] = (own or model_history.default_dag_id(name), dags)
            assert model_history.models_and_dags(store) == expected, seed
    finally:
        store.dispose()


def test_listing_the_models_searches_each_tables_model_dag_index_not_every_row(store_url: str) -> None:
    """``models_and_dags`` finds each model's DAGs and the first row of each in the ``(model_name, dag_id,
    id)`` indexes (migration 0005), one search per model and DAG: never a scan of a whole table, which would
    cost a read of every decision the store ever recorded."""
    import re

    import sqlalchemy as sa

    store = StateStore(store_url)
    sqlite = store.engine.dialect.name == "sqlite"
    model_dags = [
        (f"model-{i % 50:02d}", [f"agentic_mlops__model-{i % 50:02d}", "backfill", None][i % 3]) for i in range(10_000)
    ]
    seen: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "agentic_mlops_" in statement:
            seen.append((statement, parameters))

    try:
        _store_rows(
            store,
            {
                "agentic_mlops_decisions": model_dags,
                "agentic_mlops_approvals": [(m, d or "d") for m, d in model_dags],
                "agentic_mlops_jobs": model_dags,
            },
        )
        sa.event.listen(store.engine, "before_cursor_execute", capture)
        try:
            listed = model_history.models_and_dags(store)
        finally:
            sa.event.remove(store.engine, "before_cursor_execute", capture)
        assert len(listed) == 50
        # decision 7 (the first of model-07) recorded "backfill": the first DAG that recorded the model is its DAG
        assert listed["model-07"] == ("backfill", {"agentic_mlops__model-07", "backfill", None, "d"})
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        read = set()
        with store.engine.connect() as conn:
            for statement, parameters in seen:
                plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(explain + statement, parameters))
                for table in set(re.findall(r"FROM (agentic_mlops_\w+)", statement)):
                    read.add(table)
                    assert f"ix_{table}_model_dag" in plan, plan
                    assert not re.search(rf"(SCAN|Seq Scan on) {table}\b", plan), plan
        assert read == {"agentic_mlops_approvals", "agentic_mlops_decisions", "agentic_mlops_jobs"}
    finally:
        store.dispose()


def test_validation_verdicts_match_each_retrain_to_the_verdict_of_its_own_run(sqlite_store: StateStore) -> None:
    seeded = seed_history(sqlite_store)
    seed_history(sqlite_store, "other")  # the same run ids, another model
    reject_validation(sqlite_store)
    runs = model_history.model_runs(sqlite_store, "fraud-detector")
    verdicts = model_history.validation_verdicts(sqlite_store, {"fraud-detector": runs})
    third, last = seeded["decision_ids"][2], seeded["decision_ids"][-1]
    assert sorted(verdicts) == [third, last]  # the two retrains; no_action and escalate validated nothing
    rejected = verdicts[last]
    assert (rejected.version, rejected.passed, rejected.failed_gates) == ("3", False, REJECTED_REASONS[:1])
    assert rejected.summary.startswith("v3 rejected by validation: FAILED guard: accuracy")
    assert rejected.report_uri == "runs:/r5/agentic_mlops/validation/report.html"
    passed = verdicts[third]
    assert (passed.version, passed.passed, passed.approval_status) == ("2", True, "approved")
    assert passed.summary == f"v2 passed validation; approval #{seeded['approval_id']} approved"
    others = model_history.validation_verdicts(sqlite_store, {"other": model_history.model_runs(sqlite_store, "other")})
    assert [v.passed for v in others.values()] == [True]  # the rejection was of fraud-detector's run
    # a reader of another DAG only: no verdict of this DAG's runs
    assert not model_history.validation_verdicts(
        sqlite_store, {"fraud-detector": runs}, dag_ids={"fraud-detector": {"x"}}
    )


def test_the_overview_row_carries_the_last_runs_rejected_validation(sqlite_store: StateStore) -> None:
    seed_history(sqlite_store)

    def last_validation() -> Any:
        summaries = model_history.model_summaries(sqlite_store, {"fraud-detector": None})
        return summaries["fraud-detector"]["last_validation"]

    assert last_validation() is None
    reject_validation(sqlite_store)
    verdict = last_validation()
    assert verdict.version == "3" and not verdict.passed and verdict.run_id == "scheduled__2026-01-05"


def test_each_run_is_given_the_champion_of_the_latest_change_before_it_and_its_quality_baseline() -> None:
    from datetime import datetime

    def point(i: int, hour: int) -> model_history.RunPoint:
        quality = {"roc_auc": {"reference": (80 + i) / 100, "current": 0.5}}
        return model_history.RunPoint(decision_id=i, at=datetime(2026, 1, 1, hour), action="retrain", quality=quality)

    points = [point(1, 9), point(2, 11), point(3, 13), point(4, 15)]
    lineage = [  # newest first, as champion_lineage returns it
        {"at": datetime(2026, 1, 1, 14), "version": "1", "event": "rolled back to"},
        {"at": datetime(2026, 1, 1, 10), "version": "2", "event": "promoted"},
    ]
    assert model_history.champions_of_runs(points, lineage) == {1: None, 2: "2", 3: "2", 4: "1"}
    assert model_history.quality_baselines(points) == {"roc_auc": {1: 0.81, 2: 0.82, 3: 0.83, 4: 0.84}}


def test_the_overviews_set_wise_read_says_what_the_decision_says_of_a_missing_champion(store_url: str) -> None:
    """On each backend: the overview reads the champion's status and reason with the database's JSON operators,
    and they agree with the whole decision's (:func:`run_point`); evidence of another shape, or none, is no
    champion missing, not an error."""
    absent = {
        "uri": "models:/churn@champion",
        "status": "absent",
        "reason": "no champion yet: registered model 'churn'",
    }
    shapes = {
        "absent": {"champion": absent, "performance_missing": {"kind": "no_predictions", "reason": "labels but ..."}},
        "loaded": {"champion": {"uri": "models:/x@champion", "status": "loaded", "reason": ""}},
        "odd": {"champion": "absent"},
        "list": ["absent"],
        "none": None,
    }
    store = StateStore(store_url)
    try:
        for name, evidence in shapes.items():
            store.record_decision(
                name,
                mode="rules",
                final_action="no_action",
                decided_by="rules",
                dag_id=f"agentic_mlops__{name}",
                run_id="r1",
                rationale="r",
                rules_fired=[],
                evidence={},
                inputs={"drift": {"drift_share": 0.1, "evidence": evidence}},
                prompt=[],
                raw_answer="",
                prompt_tokens=0,
                completion_tokens=0,
            )
        summaries = model_history.model_summaries(store, dict.fromkeys(shapes))
        for name in shapes:
            (whole,) = model_history.model_runs(store, name)
            assert model_history.no_champion_yet(summaries[name]["last_decision"]) == model_history.no_champion_yet(
                whole
            ), name
        assert model_history.no_champion_yet(summaries["absent"]["last_decision"]) == "registered model 'churn'"
        assert [n for n in shapes if model_history.no_champion_yet(summaries[n]["last_decision"])] == ["absent"]
        assert whole.quality_missing is None
        (absent_run,) = model_history.model_runs(store, "absent")
        assert absent_run.quality_missing == {"kind": "no_predictions", "reason": "labels but ..."}
    finally:
        store.dispose()


def test_approval_lists_page_back_through_every_request_on_each_backend(store_url: str) -> None:
    """The approvals page's and API's queries, on SQLite and PostgreSQL: the pending list's ``before`` cursor,
    the decided list's cursor on (decided time, id) with requests decided at the same instant (a tie the
    cursor must break by id, or a page repeats or skips one), the DAG and model filters, and the counts."""
    import sqlalchemy as sa

    from airflow_provider_agentic_mlops import approvals
    from airflow_provider_agentic_mlops.core.schema import approvals as approvals_table

    store = StateStore(store_url)
    try:
        ids = [request_approval(store, run_id=f"r{i}").approval["id"] for i in range(7)]
        other = request_approval(store, model_name="churn", dag_id="agentic_mlops__churn", run_id="c").approval["id"]
        for approval_id in ids[:5]:
            approvals.decide(store, approval_id, approve=False, user="ann", via="cli")
        same_instant = store.get_approval(ids[0], with_votes=False)["decided_at"]
        with store.engine.begin() as conn:  # ids 1-3 decided at the very instant id 0 was
            conn.execute(
                approvals_table.update().where(approvals_table.c.id.in_(ids[1:4])).values(decided_at=same_instant)
            )

        pending, cursor = [], None
        for _ in range(10):  # bounded: a cursor that repeats a page fails the test instead of hanging it
            page = store.list_approvals(status="pending", limit=1, before=cursor, dag_ids=["agentic_mlops__fraud"])
            if not page:
                break
            pending += [a["id"] for a in page]
            cursor = page[-1]["id"]
        assert pending == [ids[6], ids[5]]  # churn's request is another DAG's

        decided, cursor = [], None
        for _ in range(10):
            page = model_history.decided_approvals(store, limit=2, before=cursor, model_name="fraud")
            if not page:
                break
            decided += [a["id"] for a in page]
            cursor = page[-1]["id"]
        assert decided == [ids[4], ids[3], ids[2], ids[1], ids[0]]  # the tie broken by id, newest first

        count = partial(model_history.approval_count, store)
        assert count(pending=True) == 3 and count(pending=True, model_name="fraud") == 2
        assert count(pending=False, dag_ids=["agentic_mlops__churn"]) == 0 and count(pending=False) == 5
        assert store.list_approvals(status="pending", model_name="churn")[0]["id"] == other
        with store.engine.connect() as conn:  # the tie is real on this backend
            tied = conn.execute(
                sa.select(sa.func.count()).where(approvals_table.c.decided_at == same_instant)
            ).scalar_one()
        assert tied == 4
    finally:
        store.dispose()


def test_a_decided_list_cursor_of_another_teams_request_is_as_unknown_as_a_missing_one_on_each_backend(
    store_url: str,
) -> None:
    """``before=`` naming a request of a DAG the reader may not read pages nothing, as a request id that does not
    exist does: otherwise whether rows come back tells the reader it exists and when it was decided."""
    from airflow_provider_agentic_mlops import approvals

    store = StateStore(store_url)
    try:
        mine = [request_approval(store, run_id=f"r{i}").approval["id"] for i in range(3)]
        theirs = request_approval(store, model_name="churn", dag_id="agentic_mlops__churn", run_id="c").approval["id"]
        for approval_id in [*mine, theirs]:
            approvals.decide(store, approval_id, approve=False, user="ann", via="cli")
        page = partial(model_history.decided_approvals, store, dag_ids={"agentic_mlops__fraud"})
        missing = theirs + 1000
        assert page(before=missing) == []
        assert page(before=theirs) == page(before=missing)
        assert [a["id"] for a in page(before=mine[2])] == [mine[1], mine[0]]  # the reader's own cursor pages on
        everyone = model_history.decided_approvals(store, before=theirs)  # a reader of both DAGs pages past it
        assert [a["id"] for a in everyone] == [mine[2], mine[1], mine[0]]
    finally:
        store.dispose()


def test_postgresql_reads_a_few_rows_per_model_for_the_overview_and_the_models_list_however_long_the_history(
    pg_url: str,
) -> None:
    """The overview's newest decisions (sparkline, last decision), champion change and pending request, and
    ``last_decisions`` (``models list``), read ``limit`` rows per model on PostgreSQL, one query per model
    (migration 0008's audit index for the champion), whether the reader may read every DAG or some: ranking
    every row of the page's models read each model's whole history (seconds at a year of hourly decisions)."""
    from airflow_provider_agentic_mlops.core.schema import audit, decisions
    from tests.sql_statements import rows_read_on_postgresql, statements_with_parameters_on

    per_model, sparkline, stored, page = 2_000, 20, 10, ["model-01", "model-04", "model-07", "model-09"]
    store = StateStore(pg_url)
    try:
        with store.engine.begin() as conn:
            # 10 models, each with a promotion, then hourly decisions (interleaved, as they run), a pending request
            conn.exec_driver_sql(
                "INSERT INTO agentic_mlops_audit (at, actor, action, model_name, subject, details) "
                "SELECT now(), 'u', 'promoted', 'model-' || lpad(m::text, 2, '0'), 'version:3', "
                "json_build_object('dag_id', 'agentic_mlops__model-' || lpad(m::text, 2, '0')) "
                f"FROM generate_series(0, {stored - 1}) m"
            )
            conn.exec_driver_sql(
                "INSERT INTO agentic_mlops_decisions (model_name, dag_id, run_id, created_at, mode, final_action, "
                "inputs) SELECT 'model-' || lpad(m::text, 2, '0'), 'agentic_mlops__model-' || lpad(m::text, 2, '0'), "
                "'r' || h, now() + h * interval '1 hour', 'rules', 'no_action', "
                f"json_build_object('drift', json_build_object('drift_share', h / {per_model}.0)) "
                f"FROM generate_series(0, {per_model - 1}) h, generate_series(0, {stored - 1}) m ORDER BY h, m"
            )
            conn.exec_driver_sql(
                "INSERT INTO agentic_mlops_audit (at, actor, action, model_name, subject) "
                "SELECT created_at, 'agent:rules', 'decision', model_name, 'decision:' || id "
                "FROM agentic_mlops_decisions ORDER BY id"
            )
            conn.exec_driver_sql(
                "INSERT INTO agentic_mlops_approvals (model_name, model_version, dag_id, run_id, status, "
                "requested_at, expires_at, required_approvals) SELECT 'model-' || lpad(m::text, 2, '0'), '4', "
                "'agentic_mlops__model-' || lpad(m::text, 2, '0'), 'r1', 'pending', now(), now() + interval '1 day', 1 "
                f"FROM generate_series(0, {stored - 1}) m"
            )
            conn.exec_driver_sql("ANALYZE")
        # as the overview asks: a model's readable DAGs (and its rows that recorded none), or every DAG
        access = {m: {f"agentic_mlops__{m}", None} for m in page[:2]} | {m: None for m in page[2:]}
        with statements_with_parameters_on(store.engine) as seen:
            summaries = model_history.model_summaries(store, access, sparkline_runs=sparkline)
            last = store.last_decisions(page)
        for m in page:
            runs = summaries[m]["runs"]
            assert [r.run_id for r in runs] == [f"r{h}" for h in range(per_model - sparkline, per_model)], m
            assert summaries[m]["last_decision"].drift_share == (per_model - 1) / per_model
            assert summaries[m]["champion"]["version"] == "3" and summaries[m]["pending_approval"]["run_id"] == "r1"
            assert last[m]["run_id"] == f"r{per_model - 1}" and last[m]["id"] == runs[-1].decision_id
        tables = {decisions.name, audit.name}
        read = {}
        with store.engine.connect() as conn:
            for statement, parameters in seen:
                if statement.lstrip().startswith("SELECT") and any(t in statement for t in tables):
                    read[statement] = rows_read_on_postgresql(conn, statement, parameters, tables)
        assert len(read) >= 3, read  # the runs, the champion changes, the last decisions
        # each model's sparkline: at worst PostgreSQL walks the newest ids of every model (sparkline x stored
        # per model), then fetches them; never a model's whole history (8,000 rows for the page)
        assert all(n <= 2 * sparkline * stored * len(page) for n in read.values()), list(read.values())
    finally:
        store.dispose()


def test_the_overviews_sparkline_skips_decisions_a_later_try_of_their_run_superseded(store_url: str) -> None:
    """The overview's sparkline drew every decision, so a run whose decide was retried counted twice (or more) there
    while the model page drew it once. Now it takes the runs the model page takes: each run's newest decision, also
    when earlier tries fill a model's newest rows (the next older rows are read) and across several DAGs."""
    store = StateStore(store_url)
    try:

        def decided(model: str, dag: str | None, run: str | None, share: float) -> int:
            drift = {"drift": {"drift_share": share}}
            return store.record_decision(
                model, mode="rules", final_action="no_action", dag_id=dag, run_id=run, inputs=drift
            )

        for i in range(4):
            decided("fraud", "dag_a", f"r{i}", i / 10)
        for _ in range(5):  # r3 decided again and again: its earlier tries fill the newest rows
            decided("fraud", "dag_a", "r3", 0.9)
        decided("fraud", "dag_b", "r3", 0.5)  # another DAG's run of the same id: stands
        decided("fraud", None, None, 0.4)  # no run recorded: stands
        decided("churn", "dag_c", "r1", 0.1)
        decided("churn", "dag_c", "r1", 0.2)
        everything = ({"dag_a", "dag_b", None}, None)
        for dags in everything:
            access = {"fraud": dags, "churn": None if dags is None else {"dag_c", None}}
            summaries = model_history.model_summaries(store, access, sparkline_runs=3)
            for model in access:
                want = [r.decision_id for r in model_history.model_runs(store, model, limit=3)]
                assert [r.decision_id for r in summaries[model]["runs"]] == want, (model, dags)
            assert [r.drift_share for r in summaries["fraud"]["runs"]] == [0.9, 0.5, 0.4]
            assert [r.drift_share for r in summaries["churn"]["runs"]] == [0.2]
        only_a = model_history.model_summaries(store, {"fraud": {"dag_a"}}, sparkline_runs=3)["fraud"]["runs"]
        assert [(r.run_id, r.drift_share) for r in only_a] == [("r1", 0.1), ("r2", 0.2), ("r3", 0.9)]
        late = [decided("late", "dag_l", "r0", 0.0)] + [decided("late", "dag_l", "r1", n / 10) for n in range(1, 6)]
        for dags in ({"dag_l"}, None):  # each DAG's query, or the model's
            runs = model_history.model_summaries(store, {"late": dags}, sparkline_runs=3)["late"]["runs"]
            assert [r.decision_id for r in runs] == [late[0], late[-1]], dags
    finally:
        store.dispose()


def test_a_models_page_of_decisions_pages_back_through_its_dags_standing_runs_on_each_backend(store_url: str) -> None:
    """``model_runs`` of some DAGs (and the rows that recorded none, NULL or ''), page by page with ``before``:
    each run's newest decision of those DAGs, newest first across them, as filtering the model's decisions does."""
    store = StateStore(store_url)
    try:
        recorded: list[tuple[int, str | None, str | None]] = []
        for i in range(30):
            dag = ("dag_a", "dag_b", "dag_c", None, "")[i % 5]
            run = None if dag is None else f"r{i // 7}"  # runs decided again: earlier tries superseded
            decision = store.record_decision("fraud", mode="rules", final_action="no_action", dag_id=dag, run_id=run)
            recorded.append((decision, dag, run))
            store.record_decision("churn", mode="rules", final_action="no_action", dag_id=dag, run_id=run)
        newest_of_run = {(d or "", r): i for i, d, r in recorded if r is not None}
        standing = [i for i, d, r in recorded if r is None or newest_of_run[(d or "", r)] == i]
        many = {"dag_a", *(f"other_{i}" for i in range(600))}  # more DAGs than SQLite's compound SELECT takes
        for dags in ({"dag_a", None}, {"dag_b", "dag_c"}, {None}, {"dag_a", "dag_b", "dag_c", None}, set(), many, None):
            want = [i for i, d, _ in recorded if i in standing and model_history.of_dags(d, dags)]
            got: list[int] = []
            before = None
            while True:
                page = [
                    r.decision_id
                    for r in model_history.model_runs(store, "fraud", limit=4, dag_ids=dags, before=before)
                ]
                assert page == sorted(page) and len(page) <= 4, (dags, page)
                got = page + got
                if len(page) < 4:
                    break
                before = page[0]
            assert got == want, dags
    finally:
        store.dispose()


def test_postgresql_reads_a_models_newest_decisions_of_its_dags_not_its_whole_history(pg_url: str) -> None:
    """The model page's newest decisions of the reader's DAGs (and the rows that recorded none): PostgreSQL
    estimated a model's rows of its DAG at a few (it takes ``model_name`` and ``dag_id`` to be independent, and a
    later try's absence to keep 0.5% of them), so it read and sorted all of them (a year of hourly decisions:
    9,000) instead of stopping after the page's. Walking each DAG's index one ``max(id)`` at a time reads the
    page's rows (and each one's search for a later try), however long the history."""
    from airflow_provider_agentic_mlops.core.schema import decisions
    from tests.sql_statements import rows_read_on_postgresql, statements_with_parameters_on

    per_model, models, limit = 4_000, 50, 201
    store = StateStore(pg_url)
    try:
        with store.engine.begin() as conn:
            # hourly decisions, a few runs decided twice; half of model-03's recorded no DAG
            conn.exec_driver_sql(
                "INSERT INTO agentic_mlops_decisions (model_name, dag_id, run_id, created_at, mode, final_action, "
                "inputs) SELECT 'model-' || lpad(m::text, 2, '0'), CASE WHEN m = 3 AND h %% 2 = 0 THEN NULL "
                "ELSE 'agentic_mlops__model-' || lpad(m::text, 2, '0') END, 'r' || (h - (h %% 100 = 1)::int), "
                "now() + h * interval '1 hour', 'rules', 'no_action', '{}' "
                f"FROM generate_series(0, {per_model - 1}) h, generate_series(0, {models - 1}) m ORDER BY h, m"
            )
            conn.exec_driver_sql("ANALYZE")
        model, dag = "model-03", "agentic_mlops__model-03"
        with statements_with_parameters_on(store.engine) as seen:
            runs = model_history.model_runs(store, model, dag_ids={dag, None}, limit=limit)
        with store.engine.connect() as conn:
            ids = conn.execute(
                decisions.select()
                .where(decisions.c.model_name == model, model_history._stands())
                .order_by(decisions.c.id.desc())
                .limit(limit)
            ).mappings()
            assert [r.decision_id for r in runs] == sorted(r["id"] for r in ids)
            (statement, parameters), *_ = [s for s in seen if s[0].lstrip().startswith(("SELECT", "WITH"))]
            read = rows_read_on_postgresql(conn, statement, parameters, {decisions.name})
        # the walks' steps, their rows and each one's later-try search: not the model's 4,000 and as many searches
        assert read < per_model / 2, read
    finally:
        store.dispose()
