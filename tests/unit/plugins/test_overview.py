"""The model overview, the model page, the decision trace and report serving, behind Airflow's auth."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_agentic_mlops.core.state import StateStore
from airflow_provider_agentic_mlops.plugins import alerts, approvals_page, overview
from airflow_provider_agentic_mlops.plugins.app import AppSettings, create_app
from tests.approval_data import request_approval
from tests.model_history_data import (
    COLUMNS,
    REJECTED_REASONS,
    RUNS,
    record_decision_before_digests,
    reject_validation,
    seed_history,
)
from tests.parsed_dags import parsed_dag
from tests.sql_statements import statements_on

DAG = "agentic_mlops__fraud-detector"
#: The real read of Airflow's model DAGs, kept before the fixtures stand in for it.
KNOWN_MODELS = alerts.known_models


class User:
    def get_name(self) -> str:
        return "ui-alice"


@pytest.fixture
def allowed(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """DAG ids the user may read, standing in for Airflow's auth manager."""
    dags: set[str] = set()
    monkeypatch.setattr(
        approvals_page,
        "is_authorized_dag",
        lambda user, dag_id, *, method, entity, team_name=None: method == "GET" and dag_id in dags,
    )
    monkeypatch.setattr(approvals_page, "dag_teams", lambda dag_ids: dict.fromkeys(dag_ids))
    monkeypatch.setattr(
        overview, "last_dag_runs", lambda ids: {d: {"run_id": "manual__1", "state": "success"} for d in ids}
    )
    monkeypatch.setattr(alerts, "known_models", lambda models=None: {})  # no model DAG parsed: only the store's models
    return dags


def _model_dags(monkeypatch: pytest.MonkeyPatch, paused: dict[str, bool]) -> list[None]:
    """Airflow's parsed model DAGs ``agentic_mlops__<model>`` (the alert endpoint's list), paused or not,
    standing in for the metadata DB; returns a list that grows by one per read of them."""
    reads: list[None] = []

    def known_models(models: Any = None) -> dict[str, dict[str, Any]]:
        reads.append(None)
        return {
            name: {"dag_id": f"agentic_mlops__{name}", "paused": p}
            for name, p in paused.items()
            if models is None or name in models
        }

    monkeypatch.setattr(alerts, "known_models", known_models)
    return reads


def _client(store: StateStore, *, signed_in: bool = True, models_file: Path | None = None) -> TestClient:
    """:param models_file: the models file the plugin reads (default: the configured one, absent in tests)."""
    from airflow_provider_agentic_mlops.approval_stores import DeclaredStores

    root = FastAPI()
    declared = DeclaredStores(models_file) if models_file is not None else None
    app = create_app(AppSettings(signing_secret="s", store=store, declared_stores=declared))
    if signed_in:
        app.dependency_overrides[approvals_page.authenticated_user] = User
    root.mount("/agentic-mlops", app)
    return TestClient(root)


def test_pages_need_an_airflow_login(sqlite_store: StateStore) -> None:
    seed_history(sqlite_store)
    client = _client(sqlite_store, signed_in=False)
    for path in ("/models", "/models/fraud-detector", "/models/fraud-detector/decisions/1"):
        assert client.get(f"/agentic-mlops{path}").status_code == 401


def test_overview_lists_only_models_whose_dag_the_user_may_read(sqlite_store: StateStore, allowed: set[str]) -> None:
    seed_history(sqlite_store)
    seed_history(sqlite_store, "secret-model")
    allowed.add(DAG)
    page = _client(sqlite_store).get("/agentic-mlops/models")
    assert page.status_code == 200
    assert page.text.count('class="model-row"') == 1 and "secret-model" not in page.text
    assert "v1" in page.text and "manual__1" in page.text  # champion after the rollback; last DAG run
    sparkline = re.search(r'<svg class="sparkline".*?</svg>', page.text).group(0)
    assert sparkline.count('class="point"') == len(RUNS)


def test_model_page_draws_each_run_with_its_decision_and_a_cell_per_column_and_run(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    seeded = seed_history(sqlite_store)
    allowed.add(DAG)
    page = _client(sqlite_store).get("/agentic-mlops/models/fraud-detector")
    assert page.status_code == 200, page.text
    chart = re.search(r'<svg id="drift-chart".*?</svg>', page.text).group(0)
    assert re.findall(r'data-action="(\w+)"', chart) == [a for _, a in RUNS]
    assert f'href="/agentic-mlops/models/fraud-detector/decisions/{seeded["decision_ids"][2]}"' in chart
    heatmap = re.search(r'<svg id="drift-heatmap".*?</svg>', page.text).group(0)
    assert heatmap.count('class="cell"') == len(COLUMNS) * len(RUNS)
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    quality = re.search(r'<svg id="quality-chart".*?</svg>', page.text).group(0)
    assert quality.count('class="point"') == len(RUNS)
    assert "rolled back to" in page.text and "latency regression" in page.text and "ann (approve via ui" in page.text


def test_a_model_the_user_may_not_read_is_answered_as_unknown(sqlite_store: StateStore, allowed: set[str]) -> None:
    """Like the approvals API: no 403 naming the DAG, so the model's existence and DAG do not leak."""
    seed_history(sqlite_store)
    client = _client(sqlite_store)
    unknown = client.get("/agentic-mlops/models/nope")
    assert unknown.status_code == 404
    for path in ("", "/decisions/1", "/artifact?uri=x"):
        response = client.get(f"/agentic-mlops/models/fraud-detector{path}")
        assert response.status_code == 404, path
        assert DAG not in response.text
    assert client.get("/agentic-mlops/models/fraud-detector").json()["detail"] == unknown.json()["detail"].replace(
        "nope", "fraud-detector"
    )


def _decision(store: StateStore, dag_id: str | None, rationale: str, report_uri: str, run_id: str = "r1") -> int:
    """A decision of churn in DAG run ``run_id`` (a second decision of the same run supersedes the first)."""
    return store.record_decision(
        "churn",
        mode="rules",
        final_action="retrain",
        decided_by="rules",
        dag_id=dag_id,
        run_id=run_id,
        rationale=rationale,
        rules_fired=[],
        evidence={},
        inputs={"drift": {"drift_share": 0.6}, "drift_observed": {"columns": {}, "report_uri": report_uri}},
        prompt=[],
        raw_answer="",
        prompt_tokens=0,
        completion_tokens=0,
    )


def test_each_row_of_a_model_is_shown_only_to_readers_of_the_dag_that_recorded_it(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One model run by two teams' DAGs (hand-written DAGs, or a renamed one): neither sees the other's."""
    from airflow_provider_agentic_mlops.plugins import reports

    def fetched(uri: str, dst: Path, **model: Any) -> Path:  # stands in for MLflow: only the route's gate is tested
        (dst / "r.html").write_text(f"<p>{uri}</p>")
        return dst / "r.html"

    monkeypatch.setattr(reports, "fetch_artifact", fetched)
    b = _decision(sqlite_store, "team_b_churn", "TEAM-B rationale", "runs:/teamb/r.html")
    promoted = {"dag_id": "team_b_churn"}
    sqlite_store.audit("promoted", actor="bo", model_name="churn", subject="version:9", details=promoted)
    a = _decision(sqlite_store, "team_a_churn", "TEAM-A rationale", "runs:/teama/r.html")  # the latest
    client = _client(sqlite_store)
    for mine, theirs, mine_id, theirs_id in (("a", "b", a, b), ("b", "a", b, a)):
        allowed.clear()
        allowed.add(f"team_{mine}_churn")
        page = client.get("/agentic-mlops/models/churn")
        assert page.status_code == 200
        assert f"TEAM-{mine.upper()}" in page.text and f"TEAM-{theirs.upper()}" not in page.text
        assert f"team_{mine}_churn" in page.text and f"team_{theirs}_churn" not in page.text
        assert ("v9" in page.text) == (mine == "b")  # team B's promotion
        assert client.get(f"/agentic-mlops/models/churn/decisions/{mine_id}").status_code == 200
        theirs_page = client.get(f"/agentic-mlops/models/churn/decisions/{theirs_id}")
        assert theirs_page.status_code == 404 and f"TEAM-{theirs.upper()}" not in theirs_page.text
        report = "/agentic-mlops/models/churn/artifact"
        assert client.get(report, params={"uri": f"runs:/team{mine}/r.html"}).status_code == 200
        assert client.get(report, params={"uri": f"runs:/team{theirs}/r.html"}).status_code == 404
        overview = client.get("/agentic-mlops/models").text
        assert f"team_{mine}_churn" in overview and f"team_{theirs}_churn" not in overview


def test_decision_page_shows_the_whole_trace_escaped(sqlite_store: StateStore, allowed: set[str]) -> None:
    seeded = seed_history(sqlite_store)
    allowed.add(DAG)
    decision_id = seeded["decision_ids"][2]
    page = _client(sqlite_store).get(f"/agentic-mlops/models/fraud-detector/decisions/{decision_id}")
    assert page.status_code == 200
    for text in ("drift_share", "120 prompt + 30 completion", "&lt;b&gt;data&lt;/b&gt;", "&#34;action&#34;", "retrain"):
        assert text in page.text
    other = seed_history(sqlite_store, "other")["decision_ids"][0]
    assert _client(sqlite_store).get(f"/agentic-mlops/models/fraud-detector/decisions/{other}").status_code == 404


def _decide(store: StateStore, run_id: str = "manual__1") -> int:
    """A rules decision of fraud-detector's DAG run ``run_id``, as the decide task records it."""
    return store.record_decision(
        "fraud-detector",
        mode="rules",
        final_action="retrain",
        decided_by="rules",
        dag_id=DAG,
        run_id=run_id,
        rationale="drift on amount",
        inputs={"drift": {"drift_share": 0.6}},
    )


def _element(page: str, element_id: str) -> str:
    """The element ``element_id`` of ``page`` (a table, a div or a paragraph), as HTML."""
    found = re.search(rf'<(table|div|p) id="{element_id}"[^>]*>.*?</\1>', page, re.S)
    assert found, f"no #{element_id} on the page"
    return found.group(0)


def test_decision_page_names_the_approvers_their_votes_and_the_promotion_that_followed(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    """What ``decisions show`` gives of the decision's DAG run, the page gives too: a person auditing a
    promotion from the UI saw neither who approved nor what was promoted."""
    from tests.approval_data import approve_and_promote

    allowed.add(DAG)
    decision_id = _decide(sqlite_store)
    _decide(sqlite_store, "manual__2")  # another run's decision: not this one's approval
    approval = approve_and_promote(sqlite_store, "fraud-detector")
    other = approve_and_promote(sqlite_store, "fraud-detector", run_id="manual__2", promote=False)
    page = _client(sqlite_store).get(f"/agentic-mlops/models/fraud-detector/decisions/{decision_id}")
    assert page.status_code == 200
    shown = _element(page.text, "approvals")
    text = html.unescape(re.sub(r"<[^>]+>", " ", shown))
    text = " ".join(text.split())
    assert f"#{approval['id']}" in text and f"#{other['id']}" not in text
    assert "v7" in text and "approved" in text and "2 approvals required" in text
    assert "by alice,bob via cli" in text and "reason: looks good" in text
    assert "alice approve via slack" in text and "bob approve via cli" in text
    assert "v7 (registered model fraud-detector-reg) -> alias 'champion'" in text
    assert "previous champion v6 -> alias 'previous_champion'" in text
    assert "completed" in text and "promoted by alice,bob" in text
    assert shown.count("<time ") == 6  # requested, decided, two votes, the promotion's start and finish


def test_decision_page_says_when_no_approval_was_requested_in_its_run(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    allowed.add(DAG)
    decision_id = _decide(sqlite_store)
    page = _client(sqlite_store).get(f"/agentic-mlops/models/fraud-detector/decisions/{decision_id}").text
    assert "No approval was requested in this DAG run." in page and 'id="approvals"' not in page
    request_approval(sqlite_store, model_name="fraud-detector", dag_id=DAG, run_id="manual__1")  # of the run
    outside = sqlite_store.record_decision("fraud-detector", mode="rules", final_action="no_action")  # no DAG run
    page = _client(sqlite_store).get(f"/agentic-mlops/models/fraud-detector/decisions/{outside}").text
    assert "The decision recorded no DAG run: no approval request is linked to it." in page
    assert 'id="approvals"' not in page


def test_decision_page_checks_the_trace_against_the_digest_of_its_audit_entry(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    """As ``decisions show`` does: a decision row edited by hand after it was recorded is flagged on its page."""
    import sqlalchemy as sa

    from airflow_provider_agentic_mlops.core.schema import decisions

    allowed.add(DAG)
    # a decision recorded before digests were: its audit entry has none
    old = record_decision_before_digests(sqlite_store, "fraud-detector", dag_id=DAG, run_id="manual__0")
    decision_id = _decide(sqlite_store)
    client = _client(sqlite_store)
    url = f"/agentic-mlops/models/fraud-detector/decisions/{decision_id}"
    computed = sqlite_store.trace_check(sqlite_store.get_decision(decision_id))["computed"]
    digest = _element(client.get(url).text, "trace-digest")
    assert "digest matches the audit entry" in digest and computed in digest and "tampered" not in digest

    with sqlite_store.engine.begin() as conn:  # a hand edit of the decision row
        conn.execute(decisions.update().where(decisions.c.id == decision_id).values(final_action="no_action"))
    digest = _element(client.get(url).text, "trace-digest")
    assert 'class="tampered"' in digest
    assert "DOES NOT match its audit entry (changed after it was recorded)" in html.unescape(digest)

    # a hand edit that moves the decision onto another model: its audit entry is still found, and says whose it was
    with sqlite_store.engine.begin() as conn:
        conn.execute(decisions.update().where(decisions.c.id == decision_id).values(model_name="churn"))
    digest = html.unescape(
        _element(client.get(f"/agentic-mlops/models/churn/decisions/{decision_id}").text, "trace-digest")
    )
    assert 'class="tampered"' in digest and "DOES NOT match its audit entry" in digest
    assert "model_name" in digest and "fraud-detector" in digest

    digest = _element(client.get(f"/agentic-mlops/models/fraud-detector/decisions/{old}").text, "trace-digest")
    assert "no digest recorded (a decision recorded before digests were)" in digest and "tampered" not in digest

    with sqlite_store.engine.begin() as conn:  # a row inserted by hand after digests were: no audit entry at all
        forged = conn.execute(
            decisions.insert().values(
                model_name="fraud-detector", mode="rules", final_action="retrain", created_at=sa.func.now()
            )
        ).inserted_primary_key[0]
    digest = html.unescape(
        _element(client.get(f"/agentic-mlops/models/fraud-detector/decisions/{forged}").text, "trace-digest")
    )
    assert "before digests were" not in digest and "missing" in digest and 'class="tampered"' in digest


def test_decision_page_escapes_a_hostile_voters_name_and_reason(sqlite_store: StateStore, allowed: set[str]) -> None:
    """An approver's name comes from Slack or the auth manager and the reason is typed: both are text, never HTML."""
    from datetime import timedelta

    from airflow_provider_agentic_mlops.core.state import utcnow

    allowed.add(DAG)
    decision_id = _decide(sqlite_store)
    approval, _ = sqlite_store.request_approval(
        "fraud-detector", "7", dag_id=DAG, run_id="manual__1", expires_at=utcnow() + timedelta(hours=1)
    )
    voter, reason = "<img src=x onerror=alert(1)>", "</td><script>alert('reason')</script>"
    sqlite_store.decide_approval(approval["id"], approve=False, user=voter, via="ui", reason=reason)
    page = _client(sqlite_store).get(f"/agentic-mlops/models/fraud-detector/decisions/{decision_id}").text
    assert voter not in page and "<script>alert" not in page
    shown = _element(page, "approvals")
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown and "&lt;/td&gt;&lt;script&gt;" in shown
    text = html.unescape(" ".join(re.sub(r"<[^>]+>", " ", shown).split()))
    assert f"{voter} deny via ui" in text and f"reason: {reason}" in text


def test_a_decision_its_run_decided_again_reads_as_superseded_and_the_runs_show_the_newest(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    """A retried or cleared decide stores a second decision of the same DAG run: the decision page showed the first
    as if it stood, and the model page drew both as runs, as did the overview's sparkline."""
    seeded = seed_history(sqlite_store)
    allowed.add(DAG)
    last = sqlite_store.get_decision(seeded["decision_ids"][-1])
    retried = sqlite_store.record_decision(
        "fraud-detector",
        mode="rules",
        final_action="escalate",
        decided_by="rules",
        dag_id=DAG,
        run_id=last["run_id"],
        rationale="decided again",
        inputs={**last["inputs"], "try_number": 2},
    )
    client = _client(sqlite_store)
    old = client.get(f"/agentic-mlops/models/fraud-detector/decisions/{last['id']}").text
    assert "Superseded by" in old and f'href="/agentic-mlops/models/fraud-detector/decisions/{retried}"' in old
    assert "a later try of the run&#39;s decide task" in old or "a later try of the run's decide task" in old
    new = client.get(f"/agentic-mlops/models/fraud-detector/decisions/{retried}").text
    assert "Superseded by" not in new and "try 2" in new
    earlier = client.get(f"/agentic-mlops/models/fraud-detector/decisions/{seeded['decision_ids'][0]}").text
    assert "Superseded by" not in earlier
    chart = re.search(r'<svg id="drift-chart".*?</svg>', client.get("/agentic-mlops/models/fraud-detector").text)
    assert re.findall(r'data-action="(\w+)"', chart.group(0)) == [a for _, a in RUNS[:-1]] + ["escalate"]
    assert f'/decisions/{last["id"]}"' not in chart.group(0)
    assert "All 5 decisions" in client.get("/agentic-mlops/models/fraud-detector").text  # the runs: 6 recorded
    sparkline = re.search(r'<svg class="sparkline".*?</svg>', client.get("/agentic-mlops/models").text).group(0)
    assert sparkline.count('class="point"') == len(RUNS)  # the retried run once


def _mlflow_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A drift report logged to a local MLflow store; its runs:/ URI."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("agentic-mlops/fraud-detector", artifact_location=(tmp_path / "art").as_uri())
    run_id = client.create_run(experiment).info.run_id
    client.log_text(run_id, "<html><body><h1>Drift report</h1></body></html>", "drift/f/drift_report.html")
    return f"runs:/{run_id}/drift/f/drift_report.html"


def test_a_recorded_report_is_served_from_mlflows_artifact_store_sandboxed(
    sqlite_store: StateStore, allowed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import quote

    report = _mlflow_report(tmp_path, monkeypatch)
    seed_history(sqlite_store, report_uri=report)
    allowed.add(DAG)
    client = _client(sqlite_store)
    model_page = client.get("/agentic-mlops/models/fraud-detector").text
    assert f"/agentic-mlops/models/fraud-detector/artifact?uri={quote(report, safe='')}" in model_page
    response = client.get("/agentic-mlops/models/fraud-detector/artifact", params={"uri": report})
    assert response.status_code == 200 and "<h1>Drift report</h1>" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == "sandbox allow-scripts"


def test_an_artifact_that_is_not_an_inert_type_is_a_sandboxed_download_never_a_script_or_svg_in_airflows_origin(
    sqlite_store: StateStore, allowed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run artifact ``r.svg`` (or XHTML) loading ``r.js`` from the artifact route would run in Airflow's origin:
    every artifact is sandboxed, and only inert types are shown inline."""
    import mlflow

    report = _mlflow_report(tmp_path, monkeypatch)
    run_id = report.split("/")[1]
    client = mlflow.MlflowClient(tracking_uri=os.environ["AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI"])
    artifacts = {
        "r.svg": '<svg xmlns="http://www.w3.org/2000/svg"><script href="r.js"/></svg>',
        "r.xhtml": '<html xmlns="http://www.w3.org/1999/xhtml"><script src="r.js"/></html>',
        "r.js": "alert(document.domain)",
        "r.csv": "a,b\n1,2\n",
        "r.json": '{"a": 1}',
    }
    for name, text in artifacts.items():
        client.log_text(run_id, text, f"drift/f/{name}")
    allowed.add(DAG)
    page = _client(sqlite_store)
    for name, text in artifacts.items():
        uri = f"runs:/{run_id}/drift/f/{name}"
        seed_history(sqlite_store, report_uri=uri)
        response = page.get("/agentic-mlops/models/fraud-detector/artifact", params={"uri": uri})
        assert response.status_code == 200 and response.text == text, name
        assert response.headers["content-security-policy"] == "sandbox", name
        assert response.headers["x-content-type-options"] == "nosniff", name
        if name in ("r.csv", "r.json"):  # inert: shown inline
            assert response.headers["content-type"].split(";")[0] in ("text/csv", "application/json"), name
            assert "content-disposition" not in response.headers, name
        else:
            assert response.headers["content-type"] == "application/octet-stream", name
            assert response.headers["content-disposition"] == f'attachment; filename="{name}"', name


def test_an_artifact_the_loop_did_not_record_is_not_fetched(
    sqlite_store: StateStore, allowed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _mlflow_report(tmp_path, monkeypatch)
    seed_history(sqlite_store)  # no report recorded
    allowed.add(DAG)
    client = _client(sqlite_store)
    response = client.get("/agentic-mlops/models/fraud-detector/artifact", params={"uri": report})
    assert response.status_code == 404 and "not an artifact the loop recorded" in response.text
    response = client.get("/agentic-mlops/models/fraud-detector/artifact", params={"uri": "file:///etc/passwd"})
    assert response.status_code == 404 and "only MLflow run artifacts" in response.text


def test_a_recorded_uri_outside_mlflow_runs_is_never_read_on_the_api_servers_host(
    sqlite_store: StateStore, allowed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DAG's task records what it likes (an ApprovalSensor's links= is templated): a file: URI, a bare path or an
    artifact-store URI it recorded is refused with 404, nothing read, however it was recorded."""
    _mlflow_report(tmp_path, monkeypatch)
    secret = tmp_path / "environ"
    secret.write_text("AIRFLOW__API_AUTH__JWT_SECRET=SECRET-OF-THE-API-SERVER")
    allowed.add(DAG)
    client = _client(sqlite_store)
    for uri in (secret.as_uri(), str(secret), "file:///proc/self/environ", "s3://b/r.html", "gs://b/r.html"):
        seed_history(sqlite_store, report_uri=uri)
        response = client.get("/agentic-mlops/models/fraud-detector/artifact", params={"uri": uri})
        assert response.status_code == 404, (uri, response.text)
        assert "SECRET" not in response.text and "only MLflow run artifacts" in response.text, uri


def test_a_recorded_run_of_another_model_is_not_served(
    sqlite_store: StateStore, allowed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """runs:/ of a run that is neither the model's monitoring run nor one a version of its registered model was
    logged from (another team's model, say) is refused, though a DAG recorded it for this model."""
    import mlflow

    _mlflow_report(tmp_path, monkeypatch)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    other = client.create_experiment("agentic-mlops/other-team-model", artifact_location=(tmp_path / "o").as_uri())
    run_id = client.create_run(other).info.run_id
    client.log_text(run_id, "OTHER TEAM'S REPORT", "drift/f/drift_report.html")
    uri = f"runs:/{run_id}/drift/f/drift_report.html"
    seed_history(sqlite_store, report_uri=uri)
    allowed.add(DAG)
    response = _client(sqlite_store).get("/agentic-mlops/models/fraud-detector/artifact", params={"uri": uri})
    assert response.status_code == 404 and "OTHER TEAM" not in response.text
    assert "not a run of model 'fraud-detector'" in response.text


def test_the_validation_report_in_a_versions_run_is_served(
    sqlite_store: StateStore, allowed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validation report is written to the challenger's run (a training experiment of its own): served when
    a version of the model's registered model was logged from that run or from a run nested in it."""
    import mlflow

    _mlflow_report(tmp_path, monkeypatch)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    training = client.create_experiment("training", artifact_location=(tmp_path / "t").as_uri())
    parent = client.create_run(training).info.run_id
    trial = client.create_run(training, tags={"mlflow.parentRunId": parent}).info.run_id
    client.create_registered_model("fraud-detector")
    client.create_model_version("fraud-detector", f"runs:/{trial}/model", run_id=trial)
    allowed.add(DAG)
    for run_id in (trial, parent):
        client.log_text(run_id, f"<h1>Validation of {run_id}</h1>", "agentic_mlops/validation/report.html")
        uri = f"runs:/{run_id}/agentic_mlops/validation/report.html"
        seed_history(sqlite_store, report_uri=uri)
        response = _client(sqlite_store).get("/agentic-mlops/models/fraud-detector/artifact", params={"uri": uri})
        assert response.status_code == 200 and f"Validation of {run_id}" in response.text


def test_a_declared_models_reports_come_only_from_its_declared_registered_model(
    sqlite_store: StateStore, allowed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task records what it likes: a request of fraud-detector naming team B's registered model (the sensor's
    registered_model is the DAG author's) does not make B's runs fraud-detector's when the models file declares
    fraud-detector; its declared registered model's runs still are. A model the file does not declare keeps the
    recorded names (a hand-written DAG)."""
    import mlflow

    _mlflow_report(tmp_path, monkeypatch)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    training = client.create_experiment("training", artifact_location=(tmp_path / "t").as_uri())
    runs = {}
    for registered in ("fraud-prod", "team-b-model"):
        run_id = runs[registered] = client.create_run(training).info.run_id
        client.create_registered_model(registered)
        client.create_model_version(registered, f"runs:/{run_id}/model", run_id=run_id)
        client.log_text(run_id, f"<h1>REPORT OF {registered}</h1>", "agentic_mlops/validation/report.html")
    models_file = tmp_path / "models.yaml"
    models_file.write_text(
        "models:\n  - name: fraud-detector\n    registered_model: fraud-prod\n"
        "    drift: {reference: ref.parquet, current: cur.parquet, label_column: y}\n"
        "    retrain: {trigger_dag_id: train_fraud}\n    validation: {data: val.parquet}\n"
    )
    allowed.add(DAG)
    for registered in ("fraud-prod", "team-b-model"):  # the DAG's tasks recorded requests naming both
        request_approval(
            sqlite_store,
            model_name="fraud-detector",
            dag_id=DAG,
            run_id=f"run-{registered}",
            details={"registered_model": registered},
        )
    for declared, served in ((models_file, {"fraud-prod"}), (tmp_path / "absent.yaml", set(runs))):
        for registered, run_id in runs.items():
            uri = f"runs:/{run_id}/agentic_mlops/validation/report.html"
            seed_history(sqlite_store, report_uri=uri)
            response = _client(sqlite_store, models_file=declared).get(
                "/agentic-mlops/models/fraud-detector/artifact", params={"uri": uri}
            )
            if registered in served:
                assert response.status_code == 200 and f"REPORT OF {registered}" in response.text, response.text
            else:
                assert response.status_code == 404 and "REPORT OF" not in response.text, response.text
                assert "not a run of model 'fraud-detector'" in response.text and "['fraud-prod']" in response.text


def test_a_declared_models_reports_are_served_only_from_its_own_dags_records(
    sqlite_store: StateStore, allowed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Team B's hand-written DAG records a decision and a request under team A's declared fraud-detector with the
    URIs of A's reports (its monitoring run's drift report, the validation report of a run of its registered
    model): a user who may read only B's DAG is not served them, as the models file's DAG of fraud-detector
    recorded neither for B. A model the file does not declare keeps every readable DAG's records (a hand-written
    DAG is its only DAG)."""
    import mlflow

    drift_uri = _mlflow_report(tmp_path, monkeypatch)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("training", (tmp_path / "t").as_uri())).info.run_id
    client.create_registered_model("fraud-prod")
    client.create_model_version("fraud-prod", f"runs:/{run_id}/model", run_id=run_id)
    client.log_text(run_id, "<h1>VALIDATION OF A</h1>", "agentic_mlops/validation/report.html")
    validation_uri = f"runs:/{run_id}/agentic_mlops/validation/report.html"
    models_file = tmp_path / "models.yaml"
    models_file.write_text(
        "models:\n  - name: fraud-detector\n    registered_model: fraud-prod\n"
        "    drift: {reference: ref.parquet, current: cur.parquet, label_column: y}\n"
        "    retrain: {trigger_dag_id: train_fraud}\n    validation: {data: val.parquet}\n"
    )
    team_b = "team_b_monitoring"
    sqlite_store.record_decision(
        "fraud-detector",
        mode="rules",
        final_action="no_action",
        decided_by="rules",
        dag_id=team_b,
        run_id="b1",
        inputs={"drift_observed": {"report_uri": drift_uri}},
    )
    request_approval(
        sqlite_store,
        model_name="fraud-detector",
        dag_id=team_b,
        run_id="b1",
        details={"registered_model": "fraud-prod", "validation": {"report_uri": validation_uri}},
    )
    allowed.add(team_b)  # B's DAG only: not agentic_mlops__fraud-detector
    for declared, status in ((models_file, 404), (tmp_path / "absent.yaml", 200)):
        for uri, text in ((drift_uri, "Drift report"), (validation_uri, "VALIDATION OF A")):
            response = _client(sqlite_store, models_file=declared).get(
                "/agentic-mlops/models/fraud-detector/artifact", params={"uri": uri}
            )
            assert response.status_code == status, (declared, uri, response.text)
            assert (text in response.text) == (status == 200), response.text
            if status == 404:
                assert "is not an artifact the loop recorded for model 'fraud-detector'" in response.text


def test_the_report_needs_read_access_to_the_models_dag(
    sqlite_store: StateStore, allowed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _mlflow_report(tmp_path, monkeypatch)
    seed_history(sqlite_store, report_uri=report)
    response = _client(sqlite_store).get("/agentic-mlops/models/fraud-detector/artifact", params={"uri": report})
    assert response.status_code == 404


def test_models_is_a_browse_view_of_the_plugin() -> None:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    from airflow_provider_agentic_mlops.plugins import AgenticMlopsPlugin

    views = {v["name"]: ExternalViewResponse.model_validate(v) for v in AgenticMlopsPlugin.external_views}
    assert views["Models"].href == "/agentic-mlops/models" and views["Models"].category == "browse"
    paths = {r.path for r in AgenticMlopsPlugin.fastapi_apps[0]["app"].routes}
    assert {"/models", "/models/{model_name}", "/models/{model_name}/artifact"} <= paths


def test_links_point_at_plugin_pages_and_hide_when_there_is_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_agentic_mlops import links

    values: dict[str, Any] = {"report_uri": "file:///data/r.html", "decision_id": 7, "validation": None}
    monkeypatch.setattr(links, "_xcom", lambda ti_key, key: values.get(key))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example/base/")

    class Op:
        model_name = "fraud detector"

    assert links.DriftReportLink().get_link(Op(), ti_key=None) == (
        "/base/agentic-mlops/models/fraud%20detector/artifact?uri=file%3A%2F%2F%2Fdata%2Fr.html"
    )
    assert (
        links.DecisionTraceLink().get_link(Op(), ti_key=None)
        == "/base/agentic-mlops/models/fraud%20detector/decisions/7"
    )
    assert links.ValidationReportLink().get_link(Op(), ti_key=None) == ""
    values["report_uri"] = None
    assert links.DriftReportLink().get_link(Op(), ti_key=None) == ""
    assert links.MlflowModelVersionLink().get_link(Op(), ti_key=None).endswith("/models/fraud%20detector#lineage")


def test_a_decision_id_no_decision_can_have_is_404_not_a_database_error(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    seed_history(sqlite_store)
    allowed.add(DAG)
    client = _client(sqlite_store)
    for decision_id in ("99999999999999999999", "0", "-3"):
        response = client.get(f"/agentic-mlops/models/fraud-detector/decisions/{decision_id}")
        assert response.status_code == 404, (decision_id, response.text)
        assert "does not exist" in response.json()["detail"]


@pytest.mark.parametrize(
    ("base_url", "prefix"),
    [("http://host/airflow/", "/airflow"), ("http://host:8080", ""), ("http://[bad", "")],
    ids=["base-path", "no-path", "malformed"],
)
def test_browse_entries_are_below_airflows_base_path(base_url: str, prefix: str) -> None:
    """The UI uses a relative href as the iframe's src as it is, so it must carry [api] base_url's path,
    as the task links do; a base_url that is not a URL leaves the plugin loadable."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json; from airflow_provider_agentic_mlops.plugins import AgenticMlopsPlugin as P; "
        "print(json.dumps({v['name']: v['href'] for v in P.external_views}))"
    )
    env = {**os.environ, "AIRFLOW__API__BASE_URL": base_url}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    hrefs = json.loads(out.stdout.strip().splitlines()[-1])
    assert hrefs == {"Models": f"{prefix}/agentic-mlops/models", "Model approvals": f"{prefix}/agentic-mlops/approvals"}


def _client_of(settings: AppSettings) -> TestClient:
    root = FastAPI()
    app = create_app(settings)
    app.dependency_overrides[approvals_page.authenticated_user] = User
    root.mount("/agentic-mlops", app)
    return TestClient(root, raise_server_exceptions=False)


PAGES = ("/agentic-mlops/models", "/agentic-mlops/models/m", "/agentic-mlops/approvals", "/agentic-mlops/api/approvals")


def test_a_misconfigured_state_connection_is_503_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch, allowed: set[str]
) -> None:
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID", "team_state")
    monkeypatch.setenv("AIRFLOW_CONN_TEAM_STATE", '{"conn_type": "http", "host": "example.com"}')
    client = _client_of(AppSettings(signing_secret="s"))
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 503, (path, response.text)
        detail = response.json()["detail"]
        assert "'team_state'" in detail and "StateConnectionInvalid" in detail and "has no state-store URL" in detail


def test_an_unreachable_state_store_is_503_with_the_error_class_and_no_password(allowed: set[str]) -> None:
    url = "postgresql+psycopg2://loop:s3cret-pw@127.0.0.1:1/state?connect_timeout=1"
    client = _client_of(AppSettings(signing_secret="s", store=lambda: StateStore(url)))
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 503, (path, response.text)
        detail = response.json()["detail"]
        assert "OperationalError" in detail and "s3cret-pw" not in detail
    # the store opened, then the database went away: a query's error is answered the same way
    broken = StateStore(url, migrate=False)
    response = _client_of(AppSettings(signing_secret="s", store=broken)).get("/agentic-mlops/models")
    assert response.status_code == 503 and "OperationalError" in response.json()["detail"]


def test_a_row_that_recorded_no_dag_belongs_to_the_models_dag(sqlite_store: StateStore, allowed: set[str]) -> None:
    decision_id = _decision(sqlite_store, None, "NO-DAG rationale", "s3://x/r.html")  # an operator outside a DAG
    client = _client(sqlite_store)
    assert client.get(f"/agentic-mlops/models/churn/decisions/{decision_id}").status_code == 404
    allowed.add("agentic_mlops__churn")
    assert client.get(f"/agentic-mlops/models/churn/decisions/{decision_id}").status_code == 200
    assert "NO-DAG rationale" in client.get("/agentic-mlops/models/churn").text


def test_rows_that_recorded_no_dag_are_shown_only_to_readers_of_every_dag_of_the_model(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    """A CLI rollback records no DAG. Another team's DAG that records one decision under the same model name
    made that team the model's owner (it was the newest DAG): the rollback's reason was shown to that team
    and hidden from the team whose model it is. Such rows are shown only to a reader of every DAG that
    recorded the model, and the page names the first DAG that recorded it, not the newest."""
    _decision(sqlite_store, "team_a_churn", "TEAM-A rationale", "s3://a/r.html")
    rollback = {"from_version": "2", "to_version": "1", "reason": "TEAM-A-ROLLBACK-REASON"}
    sqlite_store.audit("rollback", actor="carol", model_name="churn", subject="version:1", details=rollback)
    client = _client(sqlite_store)
    allowed.add("team_a_churn")
    assert "TEAM-A-ROLLBACK-REASON" in client.get("/agentic-mlops/models/churn").text
    _decision(sqlite_store, "team_b_churn", "TEAM-B rationale", "s3://b/r.html")  # the newest DAG of "churn"
    for readers, sees in (
        ({"team_a_churn"}, False),
        ({"team_b_churn"}, False),
        ({"team_a_churn", "team_b_churn"}, True),
    ):
        allowed.clear()
        allowed.update(readers)
        page = client.get("/agentic-mlops/models/churn").text
        assert ("TEAM-A-ROLLBACK-REASON" in page) == sees, readers
    assert re.search(r"<p[^>]*><small>DAG <a [^>]*>team_a_churn</a>", page)  # the first DAG, not the newest


def test_the_models_parsed_dag_is_its_dag_whichever_dag_recorded_first(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow's ``agentic_mlops__<model>`` is the model's DAG, whichever DAG recorded the model first or last."""
    _decision(sqlite_store, "team_b_churn", "TEAM-B rationale", "s3://b/r.html")
    _decision(sqlite_store, "agentic_mlops__churn", "OWN rationale", "s3://a/r.html")
    _decision(sqlite_store, "team_c_churn", "TEAM-C rationale", "s3://c/r.html")
    _model_dags(monkeypatch, {"churn": False})
    allowed.update({"team_b_churn", "agentic_mlops__churn", "team_c_churn"})
    client = _client(sqlite_store)
    page = client.get("/agentic-mlops/models/churn").text
    assert re.search(r"<p[^>]*><small>DAG <a [^>]*>agentic_mlops__churn</a>", page)
    row = client.get("/agentic-mlops/models").text
    assert "<small>agentic_mlops__churn</small>" in row


def test_the_model_page_pages_through_every_decision_and_says_which_it_shows(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(overview, "DECISIONS_SHOWN", 2)
    ids = seed_history(sqlite_store)["decision_ids"]  # five, oldest first
    allowed.add(DAG)
    client = _client(sqlite_store)
    seen: list[int] = []
    path = "/agentic-mlops/models/fraud-detector"
    pages = 0
    while path:
        page = client.get(path)
        assert page.status_code == 200, page.text
        shown = [int(i) for i in re.findall(r'<tr><td><a href="[^"]*/decisions/(\d+)"', page.text)]
        assert len(shown) <= 2 and f"of {len(ids)} decisions" in page.text
        seen += shown
        older = re.search(r'<a id="older-decisions" href="([^"]+)"', page.text)
        path = older.group(1).replace("&amp;", "&") if older else None
        pages += 1
    assert seen == list(reversed(ids)) and pages == 3  # newest first, each once
    assert 'id="newest-decisions"' in page.text  # the last page links back to the newest
    for before in ("0", "99999999999999999999"):
        assert client.get("/agentic-mlops/models/fraud-detector", params={"before": before}).status_code == 404


def test_the_model_page_shows_an_unfinished_promotion(sqlite_store: StateStore, allowed: set[str]) -> None:
    """MLflow may already serve a version whose promotion stopped halfway; the lineage cannot name it yet."""
    from datetime import timedelta

    from airflow_provider_agentic_mlops.core.promotion import PROMOTION_STEPS
    from airflow_provider_agentic_mlops.core.state import utcnow

    seed_history(sqlite_store)
    allowed.add(DAG)
    approval, _ = sqlite_store.request_approval(
        "fraud-detector", "7", dag_id=DAG, run_id="manual__9", expires_at=utcnow() + timedelta(hours=1)
    )
    sqlite_store.decide_approval(approval["id"], approve=True, user="alice", via="cli")
    promotion, _ = sqlite_store.begin_promotion(approval, registered_model="fraud-detector", previous_version="1")
    sqlite_store.mark_promotion_step(promotion["id"], PROMOTION_STEPS[0], all_steps=PROMOTION_STEPS)
    page = _client(sqlite_store).get("/agentic-mlops/models/fraud-detector")
    assert page.status_code == 200, page.text
    shown = re.search(r'<p id="unfinished-promotions">(.*?)</p>', page.text, re.S).group(1)
    assert "v7 unfinished since" in shown and "previous_alias" in shown and "manual__9" in shown


def _evidence_drift() -> dict[str, Any]:
    """A drift summary carrying the evidence table the decision reads (as DriftCheckOperator pushes it)."""
    from tests.unit.core.test_decision import drift_summary

    summary = drift_summary(0.3)
    summary["evidence"] = {
        "faults": [],
        "performance": {
            "kind": "measured",
            "metric": "accuracy",
            "current": 0.565,
            "current_se": 0.007,
            "n_labelled": 5000,
            "predictions_from": "the champion, loaded and run on current data",
            "baseline": 0.729,
            "baseline_source": "metric logged for the champion",
            "drop": 0.164,
            "drop_se": 0.007,
        },
        "severity": {
            "weighted_share": 0.659,
            "weighted_by": "feature importance",
            "importance_source": "permutation importance on the <reference>",
            "n_drifted_after_fdr": 2,
            "top": [{"column": "amount", "effect": 2.44, "weight": 0.28, "drifted": True, "p_adjusted": None}],
        },
        "extrapolation": {
            "share_rows": 0.0058,
            "expected_by_chance": 0.0008,
            "excess_share": 0.005,
            "columns": {"amount": 0.0054},
            "features_checked": 2,
            "weighted_by": "feature importance (at least the average)",
        },
        "notes": ["champion loaded; its logged held-out accuracy is the baseline"],
    }
    return summary


def _trace_page(store: StateStore, allowed: set[str], **decide_kwargs: Any) -> str:
    from airflow_provider_agentic_mlops.core.config import DecisionConfig
    from airflow_provider_agentic_mlops.core.decision import ModelHistory, decide
    from tests.unit.core.test_decision import NOW

    config = DecisionConfig(min_drift_share=0.1, critical_drift_share=0.5, cooldown_hours=24, max_retrains=3)
    d = decide(model_name="fraud-detector", history=ModelHistory(now=NOW), config=config, **decide_kwargs)
    decision_id = store.record_decision("fraud-detector", dag_id=DAG, run_id="r1", **d.record_fields())
    allowed.add(DAG)
    page = _client(store).get(f"/agentic-mlops/models/fraud-detector/decisions/{decision_id}")
    assert page.status_code == 200
    return page.text


def _section(page: str, element_id: str) -> str:
    """The text of the table ``element_id``, tags dropped and entities read (so escaping is checked on ``page``)."""
    import html

    match = re.search(rf'<table id="{element_id}">(.*?)</table>', page, re.S)
    assert match, f"no #{element_id} on the page"
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()))


def test_a_rules_decision_trace_shows_the_evidence_the_rules_read(sqlite_store: StateStore, allowed: set[str]) -> None:
    page = _trace_page(sqlite_store, allowed, drift=_evidence_drift(), mode="rules")
    evidence = _section(page, "evidence")
    assert "Pipeline faults none" in evidence
    assert "accuracy 0.729 (metric logged for the champion) -> 0.565 on 5000 labelled rows" in evidence
    assert "drop +0.164 +- 0.007" in evidence
    assert "65.9% of the model's importance on drifted columns" in evidence
    assert "permutation importance on the <reference>" in evidence
    assert "on the &lt;reference&gt;" in page and "<reference>" not in page  # data-derived text, escaped
    assert "amount: weight 0.28, effect 2.44, drifted" in evidence
    assert "0.6% of current rows outside the reference range" in evidence
    assert "champion loaded; its logged held-out accuracy is the baseline" in evidence
    assert "Evidence cited by the LLM" not in page  # no LLM was asked


def test_an_llm_decision_trace_shows_the_evidence_read_and_what_the_llm_cited(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    from tests.unit.core.test_decision import ScriptedLLM

    drift = _evidence_drift()
    drift["evidence"]["performance"] = None  # no measured verdict: the rules allow more than one action
    drift["evidence"]["severity"]["weighted_share"] = 0.3
    cited = {"action": "escalate", "rationale": "moderate", "confidence": 0.7, "evidence": ["<b>amount</b> moved"]}
    page = _trace_page(sqlite_store, allowed, drift=drift, mode="llm", llm=ScriptedLLM(cited))
    assert "Performance none" in _section(page, "evidence")
    assert "30.0% of the model's importance on drifted columns" in _section(page, "evidence")
    assert "Evidence cited by the LLM" in page
    assert "&lt;b&gt;amount&lt;/b&gt; moved" in page


def test_a_model_the_loop_has_not_promoted_says_where_its_champion_is(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    """The overview reads only the state store: a champion registered outside the loop (the demo's v1) is in
    MLflow's alias, not here, until the loop first promotes one; the page says so instead of implying none."""
    _decision(sqlite_store, "agentic_mlops__churn", "why", "s3://r.html")
    allowed.add("agentic_mlops__churn")
    row = _client(sqlite_store).get("/agentic-mlops/models").text
    assert "not promoted by the loop yet" in row
    assert "a champion registered outside the loop (MLflow alias <code>champion</code>) shows here after" in row


def test_a_decision_stored_with_evidence_of_another_shape_still_shows_its_trace(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    """Recorded by an older provider, or from odd data: the part the page cannot read is shown as it is,
    escaped (it used to answer 500)."""
    evidence = {"faults": "<script>alert(1)</script>", "severity": [0.3], "extrapolation": {"share_rows": "0.05"}}
    decision_id = sqlite_store.record_decision(
        "fraud-detector",
        mode="rules",
        final_action="escalate",
        decided_by="rules",
        dag_id=DAG,
        run_id="r1",
        rationale="r",
        rules_fired=[],
        evidence=[],
        inputs={"drift": {"drift_share": 0.3, "evidence": evidence}},
        prompt=[],
        raw_answer="",
        prompt_tokens=0,
        completion_tokens=0,
    )
    allowed.add(DAG)
    page = _client(sqlite_store).get(f"/agentic-mlops/models/fraud-detector/decisions/{decision_id}")
    assert page.status_code == 200
    shown = _section(page.text, "evidence")
    assert 'Pipeline faults {"faults": "<script>alert(1)</script>"}' in shown
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "Drift severity [0.3]" in shown
    assert "5.0% of current rows outside the reference range" in shown  # a share given as text, read as one


def test_the_overview_runs_as_many_statements_for_25_models_as_for_5(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every model's row is read set-wise (and the last DAG runs and the model DAGs in one call each), however
    many models there are, those that never ran included; the models whose DAG the user may not read are still
    left out."""
    dag_runs_calls: list[list[str]] = []
    monkeypatch.setattr(overview, "last_dag_runs", lambda ids: dag_runs_calls.append(list(ids)) or {})
    never_ran: dict[str, bool] = {}
    dag_reads = _model_dags(monkeypatch, never_ran)
    client = _client(sqlite_store)

    def add_models(first: int, last: int) -> None:
        for i in range(first, last):
            seed_history(sqlite_store, f"m{i:02d}")
            request_approval(sqlite_store, model_name=f"m{i:02d}", dag_id=f"agentic_mlops__m{i:02d}", run_id="r9")
            never_ran[f"n{i:02d}"] = False  # a parsed DAG, no row in the store
            if i % 2 == 0:
                allowed.update({f"agentic_mlops__m{i:02d}", f"agentic_mlops__n{i:02d}"})

    def overview_page() -> tuple[int, str]:
        with statements_on(sqlite_store.engine) as seen:
            page = client.get("/agentic-mlops/models")
        assert page.status_code == 200
        return len(seen), page.text

    add_models(0, 5)
    few, _ = overview_page()
    add_models(5, 25)
    many, page = overview_page()
    assert many == few
    assert page.count('class="model-row"') == 26 and "m01" not in page and "m24" in page and "n24" in page
    assert "n01" not in page
    assert len(dag_runs_calls) == 2 and len(dag_runs_calls[1]) == 26
    assert len(dag_reads) == 2  # one read of the model DAGs per page


def _decided(
    store: StateStore,
    model_name: str,
    *,
    action: str = "no_action",
    run_id: str = "r1",
    rationale: str = "r",
    drift_share: float = 0.1,
) -> None:
    """One decision of ``model_name`` recorded by its own DAG: enough for a row of the overview."""
    store.record_decision(
        model_name,
        mode="rules",
        final_action=action,
        decided_by="rules",
        dag_id=f"agentic_mlops__{model_name}",
        run_id=run_id,
        rationale=rationale,
        rules_fired=[],
        evidence={},
        inputs={"drift": {"drift_share": drift_share}},
        prompt=[],
        raw_answer="",
        prompt_tokens=0,
        completion_tokens=0,
    )


def _rows(page: str) -> list[str]:
    """The model names of the overview's rows, in their order."""
    return re.findall(r'<tr class="model-row">\s*<td[^>]*><a href="[^"]*/models/([^"]+)">', page)


def _link(page: str, element_id: str) -> str | None:
    """The href of the link ``element_id``, as the browser follows it."""
    import html

    match = re.search(rf'<a id="{element_id}" href="([^"]+)"', page)
    return html.unescape(match.group(1)) if match else None


def _some_readable(store: StateStore, allowed: set[str], count: int) -> list[str]:
    """``count`` models m00.. of which the user may read two in three (the others interleaved); the readable ones."""
    readable = []
    for i in range(count):
        _decided(store, f"m{i:02d}")
        if i % 3 != 1:
            allowed.add(f"agentic_mlops__m{i:02d}")
            readable.append(f"m{i:02d}")
    return readable


def test_the_overview_pages_through_the_readable_models_in_name_order(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    readable = _some_readable(sqlite_store, allowed, 24)  # 16 readable: pages of 5, 5, 5, 1
    client = _client(sqlite_store)
    second = client.get("/agentic-mlops/models", params={"page": 2, "page_size": 5})
    assert second.status_code == 200, second.text
    assert _rows(second.text) == readable[5:10]
    assert "Showing 6-10 of 16 models" in second.text  # the unreadable ones are not counted
    assert _link(second.text, "previous-page") == "/agentic-mlops/models?page_size=5"
    seen: list[str] = []
    path: str | None = "/agentic-mlops/models?page_size=5"
    while path:
        page = client.get(path)
        assert page.status_code == 200, page.text
        seen += _rows(page.text)
        path = _link(page.text, "next-page")
    assert seen == readable  # every readable model once, none twice
    assert "Showing 16 of 16 models" in page.text
    assert _link(page.text, "previous-page") == "/agentic-mlops/models?page=3&page_size=5"


def test_the_overview_shows_50_models_a_page_and_at_most_500(sqlite_store: StateStore, allowed: set[str]) -> None:
    """As Airflow's REST API clamps ``limit`` to its maximum, a larger page size is clamped; a page or page size
    below 1 is refused (422) naming the parameter, the value and the bound."""
    readable = _some_readable(sqlite_store, allowed, 80)  # 53 readable
    client = _client(sqlite_store)
    page = client.get("/agentic-mlops/models").text
    assert _rows(page) == readable[:50] and "Showing 1-50 of 53 models" in page
    assert _link(page, "next-page") == "/agentic-mlops/models?page=2"
    big = client.get("/agentic-mlops/models", params={"page_size": 100000}).text
    assert _rows(big) == readable and "Showing 1-53 of 53 models" in big and 'name="page_size" value="500"' in big
    for params in ({"page": 0}, {"page_size": 0}, {"page": -1}, {"page_size": "many"}):
        response = client.get("/agentic-mlops/models", params=params)
        assert response.status_code == 422, params
        ((name, value),) = params.items()
        (error,) = response.json()["detail"]
        assert error["loc"] == ["query", name] and error["input"] == str(value)
        assert "greater than or equal to 1" in error["msg"] or "integer" in error["msg"]


def test_a_page_past_the_last_says_so_and_links_to_the_last_page(sqlite_store: StateStore, allowed: set[str]) -> None:
    _some_readable(sqlite_store, allowed, 24)  # 16 readable: 4 pages of 5
    client = _client(sqlite_store)
    for number in (5, 10**30):
        page = client.get("/agentic-mlops/models", params={"page": number, "page_size": 5, "q": "m"})
        assert page.status_code == 200, page.text
        assert _rows(page.text) == [] and f"Page {number} is past the last page (4) of 16 models" in page.text
        assert _link(page.text, "last-page") == "/agentic-mlops/models?q=m&page=4&page_size=5"
        assert client.get(_link(page.text, "last-page")).text.count('class="model-row"') == 1


def test_the_name_filter_is_case_insensitive_and_kept_in_the_box_and_the_links(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    names = ["Fraud-EU", "fraud-us", "churn", "fraud-<b>x</b>", "secret-fraud"]
    for name in names:
        _decided(sqlite_store, name)
        if name != "secret-fraud":
            allowed.add(f"agentic_mlops__{name}")
    client = _client(sqlite_store)
    page = client.get("/agentic-mlops/models", params={"q": "FRAUD", "page_size": 2})
    assert page.status_code == 200, page.text
    assert _rows(page.text) == ["Fraud-EU", "fraud-%3Cb%3Ex%3C/b%3E"]  # name order: uppercase first
    assert "Showing 1-2 of 3 models" in page.text  # secret-fraud is neither shown nor counted
    assert 'name="q" value="FRAUD"' in page.text
    assert _link(page.text, "next-page") == "/agentic-mlops/models?q=FRAUD&page=2&page_size=2"
    assert _rows(client.get(_link(page.text, "next-page")).text) == ["fraud-us"]
    hostile = client.get("/agentic-mlops/models", params={"q": '"><script>alert(1)</script>'}).text
    assert "<script>alert(1)" not in hostile
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in hostile
    for q in ("secret", "nothing-like-it"):  # an unreadable model's name is answered as no match at all
        empty = client.get("/agentic-mlops/models", params={"q": q}).text
        assert _rows(empty) == [] and "No model whose DAG you may read has a name containing" in empty
        assert "secret-fraud" not in empty
        assert _link(empty, "clear-filter") == "/agentic-mlops/models"


def test_the_overview_reads_summaries_and_dag_runs_only_for_the_page_it_shows(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of 5 costs the same statements at 8 readable models as at 40: the rows' summaries and the DAG
    runs are read for the 5 shown models only."""
    from airflow_provider_agentic_mlops.core import model_history

    summarised: list[list[str]] = []
    dag_runs_calls: list[list[str]] = []
    read_summaries = model_history.model_summaries
    monkeypatch.setattr(
        model_history,
        "model_summaries",
        lambda store, access, **kw: summarised.append(sorted(access)) or read_summaries(store, access, **kw),
    )
    monkeypatch.setattr(overview, "last_dag_runs", lambda ids: dag_runs_calls.append(sorted(ids)) or {})
    client = _client(sqlite_store)

    def second_page() -> tuple[int, str]:
        with statements_on(sqlite_store.engine) as seen:
            page = client.get("/agentic-mlops/models", params={"page": 2, "page_size": 5})
        assert page.status_code == 200, page.text
        return len(seen), page.text

    readable = _some_readable(sqlite_store, allowed, 12)  # 8 readable
    few, _ = second_page()
    for i in range(12, 60):
        _decided(sqlite_store, f"m{i:02d}")
        if i % 3 != 1:
            allowed.add(f"agentic_mlops__m{i:02d}")
            readable.append(f"m{i:02d}")
    many, page = second_page()
    assert many == few
    assert _rows(page) == readable[5:10] and summarised[-1] == readable[5:10]
    assert dag_runs_calls[-1] == [f"agentic_mlops__{name}" for name in readable[5:10]]


def test_the_overview_reads_the_dags_teams_once_and_checks_each_dag_with_its_team(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an Airflow with teams, the read check of every model (the count needs them all) must not cost a
    metadata query per DAG: the teams are read in one batch, as Airflow's ``get_authorized_dag_ids`` does."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    from airflow_provider_agentic_mlops.plugins import airflow_auth

    reads: list[list[str]] = []
    seen: list[DagDetails] = []

    def teams(ids: Any) -> dict[str, str | None]:
        reads.append(sorted(ids))
        return {i: "team_b" if i.endswith(("1", "3", "5", "7", "9")) else None for i in ids}

    class AuthManager:
        def is_authorized_dag(self, *, method: str, access_entity: Any, details: DagDetails, user: Any) -> bool:
            seen.append(details)
            return details.team_name is None

    monkeypatch.setattr("airflow.api_fastapi.app.get_auth_manager", lambda: AuthManager())
    monkeypatch.setattr(airflow_auth, "airflow_has_teams", lambda: True)
    monkeypatch.setattr(airflow_auth, "dag_teams", teams)
    monkeypatch.setattr(approvals_page, "dag_teams", teams)
    monkeypatch.setattr(overview, "last_dag_runs", lambda ids: {})
    monkeypatch.setattr(alerts, "known_models", lambda models=None: {})
    for i in range(30):
        _decided(sqlite_store, f"m{i:02d}")
    page = _client(sqlite_store).get("/agentic-mlops/models", params={"page_size": 5})
    assert page.status_code == 200, page.text
    assert len(reads) == 1 and len(reads[0]) == 30
    assert {d.id: d.team_name for d in seen} == teams([f"agentic_mlops__m{i:02d}" for i in range(30)])
    assert "Showing 1-5 of 15 models" in page.text and _rows(page.text) == ["m00", "m02", "m04", "m06", "m08"]
    reads.clear()
    assert _client(sqlite_store).get("/agentic-mlops/models/m02").status_code == 200
    assert _client(sqlite_store).get("/agentic-mlops/models/m03").status_code == 404
    assert reads == [["agentic_mlops__m02"], ["agentic_mlops__m03"]]  # a model's page: one batch of its DAGs


def test_a_rejected_validation_shows_on_the_overview_the_model_page_and_the_decisions_trace(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last run retrained, and the gates rejected its v3: no page may read as if the run simply succeeded."""
    seeded = seed_history(sqlite_store)
    reject_validation(sqlite_store)  # the last run's challenger
    allowed.add(DAG)
    last_run = f"scheduled__2026-01-0{len(RUNS)}"
    monkeypatch.setattr(
        overview, "last_dag_runs", lambda ids: {d: {"run_id": last_run, "state": "success"} for d in ids}
    )
    client = _client(sqlite_store)
    report = "/agentic-mlops/models/fraud-detector/artifact?uri=runs%3A%2Fr5%2Fagentic_mlops%2Fvalidation%2Freport.html"
    failed_gate = REJECTED_REASONS[0].replace(">", "&gt;").replace("<", "&lt;")

    row = re.search(r'<tr class="model-row">.*?</tr>', client.get("/agentic-mlops/models").text, re.S).group(0)
    assert "v3 rejected by validation" in row and failed_gate in row  # the badge's tooltip says why
    last = seeded["decision_ids"][-1]
    assert f'href="/agentic-mlops/models/fraud-detector/decisions/{last}"' in row

    table = re.search(
        r'<table id="decisions">.*?</table>', client.get("/agentic-mlops/models/fraud-detector").text, re.S
    )
    rows = re.findall(r"<tr><td><a .*?</tr>", table.group(0), re.S)  # newest first
    assert "v3 rejected" in rows[0] and failed_gate in rows[0] and f'href="{report}"' in rows[0]
    assert "v2 passed" in rows[2] and "approval #1 approved" in rows[2]  # the earlier retrain went on to approval
    assert "passed" not in rows[1] and "rejected" not in rows[1]  # an escalation validated nothing

    trace = client.get(f"/agentic-mlops/models/fraud-detector/decisions/{last}").text
    validation = re.search(r'<tr id="validation">.*?</tr>', trace, re.S).group(0)
    assert "v3 was rejected by validation" in validation and f'href="{report}"' in validation
    assert f'<li class="failed-gate">{failed_gate}</li>' in validation
    first = client.get(f"/agentic-mlops/models/fraud-detector/decisions/{seeded['decision_ids'][0]}").text
    assert 'id="validation"' not in first  # no_action: nothing was validated


def test_a_rejection_in_an_older_run_does_not_mark_a_newer_last_run(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    seed_history(sqlite_store)
    reject_validation(sqlite_store)
    allowed.add(DAG)  # the fixture's last DAG run, manual__1, is newer than the decision's run
    row = re.search(r'<tr class="model-row">.*?</tr>', _client(sqlite_store).get("/agentic-mlops/models").text, re.S)
    assert "rejected" not in row.group(0)


def test_a_long_rationale_is_cut_at_a_word_with_an_ellipsis_and_shown_whole_on_hover_and_its_trace(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    rationale = (
        "Performance drop: roc_auc 0.787 (metric logged for the champion (models:/fraud-detector@champion)) -> "
        "0.271 on 5000 labelled rows (drop +0.516 +- 0.026), but retraining is blocked: in cooldown: last retrain "
        "started 2026-11-27 20:32:38 UTC (0.1 h ago), cooldown_hours=0.1; next allowed at 2026-11-27 20:38:38 UTC."
    )
    decision_id = _decision(sqlite_store, DAG, rationale, "s3://r.html")
    allowed.add(DAG)
    page = _client(sqlite_store).get("/agentic-mlops/models/churn").text
    cell = re.search(r'<td class="rationale"[^>]*>(.*?)</td>', page, re.S)
    assert cell is not None, page
    shown = html.unescape(re.sub(r"<a .*?</a>", "", cell.group(1)).strip())
    assert shown.endswith("\u2026") and len(shown) <= 221
    assert rationale.startswith(shown.removesuffix("\u2026")) and rationale[len(shown) - 1] == " "  # a whole word
    assert f'title="{rationale.replace(">", "&gt;")}"' in cell.group(0)
    assert f'href="/agentic-mlops/models/churn/decisions/{decision_id}"' in cell.group(1)
    short = "drift share 0.60; retraining."
    _decision(sqlite_store, DAG, short, "s3://r2.html")
    page = _client(sqlite_store).get("/agentic-mlops/models/churn").text
    assert f'<td class="rationale">{short}</td>' in page


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/agentic-mlops/models/nope", 404, "model &#39;nope&#39; is unknown: no DAG of it that you may read"),
        ("/agentic-mlops/models/fraud-detector/decisions/999", 404, "decision 999 of model &#39;fraud-detector&#39;"),
        ("/agentic-mlops/models/fraud-detector/decisions/abc", 422, "decision_id &#39;abc&#39; in the URL"),
        ("/agentic-mlops/models?page=0", 422, "page &#39;0&#39; in the query"),
        ("/agentic-mlops/no-such-page", 404, "Not Found"),
    ],
)
def test_a_browser_gets_an_error_page_in_the_plugins_layout_and_an_api_client_json(
    sqlite_store: StateStore, allowed: set[str], path: str, status: int, message: str
) -> None:
    seed_history(sqlite_store)
    allowed.add(DAG)
    client = _client(sqlite_store)
    page = client.get(path, headers=BROWSER)
    assert page.status_code == status and page.headers["content-type"].startswith("text/html"), page.text
    assert '<nav><a href="/agentic-mlops/models">Models</a>' in page.text  # the plugin's layout
    assert message in page.text
    assert re.search(r'<a id="back" href="/agentic-mlops/models">', page.text)
    for accept in ("*/*", "application/json"):  # fetch(), curl, the API's clients
        answer = client.get(path, headers={"Accept": accept})
        assert answer.status_code == status and "detail" in answer.json()


def test_a_browser_is_shown_the_store_outage_and_the_missing_login_as_pages(allowed: set[str]) -> None:
    url = "postgresql+psycopg2://loop:s3cret-pw@127.0.0.1:1/state?connect_timeout=1"
    page = _client_of(AppSettings(signing_secret="s", store=lambda: StateStore(url))).get(
        "/agentic-mlops/models", headers=BROWSER
    )
    assert page.status_code == 503 and "OperationalError" in page.text and "s3cret-pw" not in page.text
    assert page.headers["content-type"].startswith("text/html")
    unauthenticated = _client(StateStore("sqlite://"), signed_in=False).get("/agentic-mlops/models", headers=BROWSER)
    assert unauthenticated.status_code == 401 and unauthenticated.headers["content-type"].startswith("text/html")
    assert "signed in as" not in unauthenticated.text  # nobody is


def test_a_model_with_one_decision_says_so_in_the_singular(sqlite_store: StateStore, allowed: set[str]) -> None:
    _decision(sqlite_store, DAG, "drift share 0.60; retraining.", "s3://r.html")
    allowed.add(DAG)
    page = _client(sqlite_store).get("/agentic-mlops/models/churn").text
    assert "The only decision is in the charts and the table." in page and "All 1 decisions" not in page
    _decision(sqlite_store, DAG, "drift share 0.70; retraining.", "s3://r2.html", run_id="r2")
    assert "All 2 decisions are in the charts" in _client(sqlite_store).get("/agentic-mlops/models/churn").text


def _row(page: str, model_name: str) -> str:
    """The text of the overview's row of ``model_name``, tags dropped."""
    rows = re.findall(r'<tr class="model-row">(.*?)</tr>', page, re.S)
    (row,) = [r for r in rows if f'/models/{model_name}"' in r]
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", row).split()))


def _text_of(page: str, element_id: str) -> str:
    """The text of the element ``element_id``, as a browser shows it: tags dropped, spaces collapsed, entities read."""
    match = re.search(rf'<(\w+) id="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert match, f"no #{element_id} on the page"
    return html.unescape(" ".join(re.sub(r"<[^>]+>", "", match.group(2)).split()))


def test_a_model_whose_dag_never_ran_is_listed_and_its_page_says_how_to_run_it(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after setup the DAGs are parsed but nothing ran: the models are listed from Airflow's model DAGs
    (the alert endpoint's list), not hidden until their first decision, and their page is not a 404."""
    seed_history(sqlite_store)
    _model_dags(monkeypatch, {"churn": True, "fraud-detector": False, "house.price": False})
    monkeypatch.setattr(overview, "last_dag_runs", lambda ids: {})
    allowed.update({DAG, "agentic_mlops__churn", "agentic_mlops__house.price"})
    client = _client(sqlite_store)
    page = client.get("/agentic-mlops/models").text
    assert _rows(page) == ["churn", "fraud-detector", "house.price"] and "Showing 1-3 of 3 models" in page
    churn = _row(page, "churn")
    assert "agentic_mlops__churn" in churn and "no run yet" in churn and "DAG paused" in churn
    assert "not promoted by the loop yet" not in churn  # nothing ran: nothing to say of a champion
    assert "DAG paused" not in _row(page, "house.price") and "no run yet" in _row(page, "house.price")
    model = client.get("/agentic-mlops/models/churn")
    assert model.status_code == 200, model.text
    notice = _text_of(model.text, "no-decision-yet")
    assert "No decision yet: DAG agentic_mlops__churn has not run." in notice
    assert "It is paused: unpause it (airflow dags unpause agentic_mlops__churn, or its toggle" in notice
    assert "airflow dags trigger agentic_mlops__churn" in notice
    assert 'POST /agentic-mlops/alerts with {"model": "churn", "status": "firing"}' in notice
    assert _text_of(model.text, "quality-unknown") == "Model quality is not known yet: no drift check has run."
    assert "No decision yet" not in client.get("/agentic-mlops/models/fraud-detector").text
    unknown = client.get("/agentic-mlops/models/nope")  # neither a DAG nor a row: still unknown
    assert unknown.status_code == 404 and "'nope' is unknown" in unknown.json()["detail"]


def test_a_never_run_models_page_names_the_run_under_way(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first run started but has not decided yet: the page says so instead of "has not run"."""
    _model_dags(monkeypatch, {"churn": False})
    monkeypatch.setattr(
        overview, "last_dag_runs", lambda ids: {d: {"run_id": "manual__first", "state": "running"} for d in ids}
    )
    allowed.add("agentic_mlops__churn")
    notice = _text_of(_client(sqlite_store).get("/agentic-mlops/models/churn").text, "no-decision-yet")
    assert "No decision yet: the last run of DAG agentic_mlops__churn, manual__first, is running." in notice
    assert "paused" not in notice


def test_a_never_run_model_of_another_team_is_neither_listed_nor_opened(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same read check as a model with history: team B's new model is hidden from team A's user, and its page
    is answered as an unknown model (its DAG id does not leak)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    from airflow_provider_agentic_mlops.plugins import airflow_auth

    def teams(ids: Any) -> dict[str, str | None]:
        return {i: "team_b" if i.startswith("agentic_mlops__b-") else "team_a" for i in ids}

    class AuthManager:  # the user is in team A
        def is_authorized_dag(self, *, method: str, access_entity: Any, details: DagDetails, user: Any) -> bool:
            return details.team_name == "team_a"

    monkeypatch.setattr("airflow.api_fastapi.app.get_auth_manager", lambda: AuthManager())
    monkeypatch.setattr(airflow_auth, "airflow_has_teams", lambda: True)
    monkeypatch.setattr(airflow_auth, "dag_teams", teams)
    monkeypatch.setattr(approvals_page, "dag_teams", teams)
    monkeypatch.setattr(overview, "last_dag_runs", lambda ids: {})
    _model_dags(monkeypatch, {"a-churn": False, "b-churn": False, "b-ads": False})
    _decided(sqlite_store, "b-ads")  # one of team B's models has run, the other not
    client = _client(sqlite_store)
    page = client.get("/agentic-mlops/models").text
    assert _rows(page) == ["a-churn"] and "Showing 1 of 1 model." in page and "b-churn" not in page
    assert _rows(client.get("/agentic-mlops/models", params={"q": "b-"}).text) == []
    for name in ("b-churn", "b-ads"):
        response = client.get(f"/agentic-mlops/models/{name}")
        assert response.status_code == 404
        assert response.json()["detail"] == client.get("/agentic-mlops/models/nope").json()["detail"].replace(
            "nope", name
        )
        assert f"agentic_mlops__{name}" not in response.text
    assert client.get("/agentic-mlops/models/a-churn").status_code == 200


def _first_model_decision(store: StateStore, model_name: str, *, labelled: bool, champion_uri: bool = True) -> None:
    """A decision as the loop records it on current data with labels (``labelled``) or without. ``champion_uri``:
    the check was to load the champion and found none registered (MLflow has no registered model yet, a first
    model); else no champion was configured."""
    from airflow_provider_agentic_mlops.core.config import DecisionConfig
    from airflow_provider_agentic_mlops.core.decision import ModelHistory, decide
    from airflow_provider_agentic_mlops.core.drift import compute_drift
    from airflow_provider_agentic_mlops.core.evidence import gather_evidence
    from tests.unit.core.test_decision import NOW
    from tests.unit.core.test_evidence import imbalanced

    reference, current = imbalanced(500, 1), imbalanced(500, 2)
    if not labelled:
        current["label"] = None
    absent = {
        "uri": f"models:/{model_name}@champion",
        "status": "absent",
        "reason": f"no champion yet: registered model {model_name!r} does not exist (a first model)",
    }
    summary = compute_drift(reference, current, label_column="label")
    drift = summary.to_dict()
    drift["evidence"] = gather_evidence(
        reference, current, summary, label_column="label", champion=absent if champion_uri else None
    )
    config = DecisionConfig(min_drift_share=0.1, critical_drift_share=0.5, cooldown_hours=24, max_retrains=3)
    d = decide(model_name=model_name, history=ModelHistory(now=NOW), config=config, drift=drift, mode="rules")
    store.record_decision(model_name, dag_id=f"agentic_mlops__{model_name}", run_id="r1", **d.record_fields())


def test_a_first_model_without_a_champion_says_none_is_registered_yet(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    """No registered model exists at all: the overview does not speak of a champion registered outside the loop,
    and the model page does not blame missing labels (the current data has them) for the quality it lacks."""
    _first_model_decision(sqlite_store, "churn", labelled=True)
    allowed.add("agentic_mlops__churn")
    client = _client(sqlite_store)
    row = _row(client.get("/agentic-mlops/models").text, "churn")
    assert "no champion registered yet" in row
    assert "registered model 'churn' does not exist (a first model)" in row
    assert "registered outside the loop" not in row and "not promoted by the loop yet" not in row
    quality = _text_of(client.get("/agentic-mlops/models/churn").text, "quality-unknown")
    assert "no champion registered yet" in quality and "registered model 'churn' does not exist" in quality
    assert "measured on the labelled current data once a champion exists" in quality
    assert "no labelled current data" not in quality


def test_a_model_page_without_quality_says_why_the_last_check_had_none(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    """Labels not in yet: the reason the drift check recorded, not a guess."""
    _first_model_decision(sqlite_store, "churn", labelled=False, champion_uri=False)
    allowed.add("agentic_mlops__churn")
    quality = _text_of(_client(sqlite_store).get("/agentic-mlops/models/churn").text, "quality-unknown")
    assert "labels not in yet (no 'label' values)" in quality


def _anchors(page: str) -> list[tuple[str, str | None]]:
    """``(href, target)`` of every link of ``page``."""
    return [
        (html.unescape(href), target)
        for tag in re.findall(r"<a\s[^>]*>", page)
        for href, target in [
            (re.search(r'href="([^"]*)"', tag).group(1), (re.search(r'target="([^"]*)"', tag) or [None, None])[1])
        ]
    ]


def test_links_to_airflows_pages_leave_the_plugins_iframe_and_links_between_its_pages_stay(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages are shown in an iframe of Airflow's UI: a DAG or run link opened in it would nest a second
    Airflow UI (two sidebars) inside the first. Those links open in the top window; the plugin's own stay."""
    seeded = seed_history(sqlite_store)
    _model_dags(monkeypatch, {"churn": True, "fraud-detector": False})
    allowed.update({DAG, "agentic_mlops__churn"})
    client = _client(sqlite_store)
    pages = {
        path: client.get(f"/agentic-mlops{path}").text
        for path in (
            "/models",
            "/models/fraud-detector",
            "/models/churn",  # never decided: its notice links the last run and the DAG's Trigger
            f"/models/fraud-detector/decisions/{seeded['decision_ids'][0]}",
            "/approvals",
        )
    }
    pages["login page"] = (
        _client(sqlite_store, signed_in=False).get("/agentic-mlops/models", headers={"Accept": "text/html"}).text
    )
    airflows = []
    for name, page in pages.items():
        for href, target in _anchors(page):
            if href.startswith("/agentic-mlops/"):
                assert target in (None, "_blank"), f"{name}: plugin link {href} leaves the iframe ({target})"
            else:
                assert target == "_top", f"{name}: Airflow link {href} opens inside the iframe"
                airflows.append(href)
    assert f"/dags/{DAG}" in airflows and f"/dags/{DAG}/runs/manual__1" in airflows
    assert "/dags/agentic_mlops__churn/runs/manual__1" in airflows and "/dags/agentic_mlops__churn" in airflows
    assert f"/dags/{DAG}/runs/scheduled__2026-01-01" in airflows and "/" in airflows


def test_a_model_with_a_broken_models_yaml_entry_shows_the_error_not_how_to_start_it(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch, server_metadata_db: Any
) -> None:
    """A bad entry's DAG is the factory's stand-in (tagged models-yaml-error, the error in its description): the
    overview marks the model, and its page says to fix the entry, not to unpause or trigger a DAG that only fails."""
    from airflow_provider_agentic_mlops.core.config import INVALID_ENTRY_TAG

    error = "models.yaml: model 'churn': field 'decision.min_drift_share': Input should be less than or equal to 1"
    parsed_dag(
        "agentic_mlops__churn",
        paused=True,
        description=f"Not run: the models file entry is invalid: {error}",
        tags=["agentic-mlops", INVALID_ENTRY_TAG],
    )
    parsed_dag(DAG, paused=False, description="Agentic MLOps loop of model 'fraud-detector'", tags=["agentic-mlops"])
    monkeypatch.setattr(alerts, "known_models", KNOWN_MODELS)
    monkeypatch.setattr(overview, "last_dag_runs", lambda ids: {})
    seed_history(sqlite_store)
    allowed.update({DAG, "agentic_mlops__churn"})
    client = _client(sqlite_store)
    page = client.get("/agentic-mlops/models").text
    churn = _row(page, "churn")
    assert "models.yaml error" in churn and error in churn and "fix the entry in models.yaml" in churn
    assert "models.yaml error" not in _row(page, "fraud-detector")
    model = client.get("/agentic-mlops/models/churn").text
    assert 'id="no-decision-yet"' not in model
    notice = _text_of(model, "models-yaml-error")
    assert error in notice and "fix the entry in models.yaml" in notice
    assert "unpause" not in notice and "trigger" not in notice.lower()
    assert 'id="models-yaml-error"' not in client.get("/agentic-mlops/models/fraud-detector").text


def test_a_models_page_reads_only_its_own_dag_from_airflow(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch, server_metadata_db: Any
) -> None:
    """A model's page needs its own DAG's row (paused, entry error; its DAG when it never ran): it read every
    model DAG's row of the metadata DB on each view."""
    for name in ("churn", "fraud-detector", "house.price"):
        parsed_dag(f"agentic_mlops__{name}", paused=False, description="", tags=["agentic-mlops"])
    reads: list[Any] = []

    def known_models(models: Any = None) -> dict[str, dict[str, Any]]:
        reads.append(models and sorted(models))
        return KNOWN_MODELS(models)

    monkeypatch.setattr(alerts, "known_models", known_models)
    monkeypatch.setattr(overview, "last_dag_runs", lambda ids: {})
    seed_history(sqlite_store)
    allowed.update({DAG, "agentic_mlops__churn"})
    client = _client(sqlite_store)
    notice = _text_of(client.get("/agentic-mlops/models/churn").text, "no-decision-yet")
    assert "No decision yet: DAG agentic_mlops__churn has not run." in notice
    assert client.get("/agentic-mlops/models/fraud-detector").status_code == 200
    assert reads and all(r in (["churn"], ["fraud-detector"]) for r in reads), reads
    assert list(KNOWN_MODELS(["churn"])) == ["churn"] and KNOWN_MODELS([]) == {}
    assert sorted(KNOWN_MODELS()) == ["churn", "fraud-detector", "house.price"]


def test_a_model_whose_last_decision_escalated_says_what_a_person_can_do(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An escalation starts nothing and waits for a person: the page showed the badge and no next step, while
    Slack and the task log say one. The page says the same one, for the newest decision only."""
    seed_history(sqlite_store)  # an escalation, then a retrain: the escalation is history
    _model_dags(monkeypatch, {"fraud-detector": False})  # its DAG is in Airflow: a new run of it decides again
    allowed.add(DAG)
    client = _client(sqlite_store)
    assert 'id="escalated"' not in client.get("/agentic-mlops/models/fraud-detector").text
    escalated = sqlite_store.record_decision(
        "fraud-detector",
        mode="rules",
        final_action="escalate",
        decided_by="rules",
        dag_id=DAG,
        run_id="scheduled__2026-02-01",
        rationale="column amount vanished",
        rules_fired=[{"rule": "pipeline_fault", "effect": "escalate", "detail": "amount missing"}],
        evidence={},
        inputs={"drift": {"drift_share": 0.5}},
        prompt=[],
        raw_answer="",
        prompt_tokens=0,
        completion_tokens=0,
    )
    page = client.get("/agentic-mlops/models/fraud-detector").text
    notice = _text_of(page, "escalated")
    assert f"Escalated: decision #{escalated} asks a person to act; nothing was started." in notice
    assert "Why: column amount vanished Next: fix the data feed (the columns and changes named above), then" in notice
    assert f"then start a new run: airflow dags trigger {DAG}." in notice
    shown = re.search(r'<div id="escalated".*?</div>', page, re.S).group(0)
    assert f'href="/agentic-mlops/models/fraud-detector/decisions/{escalated}"' in shown
    assert f"<code>airflow dags trigger {DAG}</code>" in shown
    older = client.get("/agentic-mlops/models/fraud-detector", params={"before": escalated}).text
    assert 'id="escalated"' not in older  # an older page's newest decision is not the model's


@pytest.mark.parametrize(
    ("timetable_summary", "says"),
    [
        ("0 3 * * *", "The next scheduled run or alert decides again."),
        (None, "The next scheduled run or alert decides again."),  # Airflow does not say: as before
        ("None", "The next alert or manual trigger decides again."),  # schedule: null, as the demo model's
    ],
)
def test_an_escalation_says_what_decides_again_by_the_models_schedule(
    sqlite_store: StateStore,
    allowed: set[str],
    monkeypatch: pytest.MonkeyPatch,
    server_metadata_db: Any,
    timetable_summary: str | None,
    says: str,
) -> None:
    """A model with ``schedule: null`` has no next scheduled run: its escalation said one decides again."""
    parsed_dag(DAG, paused=False, description="", tags=["agentic-mlops"], timetable_summary=timetable_summary)
    monkeypatch.setattr(alerts, "known_models", KNOWN_MODELS)
    allowed.add(DAG)
    _decided(
        sqlite_store,
        "fraud-detector",
        action="escalate",
        run_id="manual__1",
        rationale="within the cooldown",
        drift_share=0.5,
    )
    notice = _text_of(_client(sqlite_store).get("/agentic-mlops/models/fraud-detector").text, "escalated")
    assert says in notice
    other = {"The next scheduled run or alert decides again.", "The next alert or manual trigger decides again."}
    assert not any(text in notice for text in other - {says})


def test_every_time_on_the_pages_says_it_is_utc_once(sqlite_store: StateStore, allowed: set[str]) -> None:
    """The store's times are UTC: each page says so at each time (the overview said nothing, and a browser's
    reader in another zone took them for local), never twice ("UTC UTC")."""
    from airflow_provider_agentic_mlops import approvals

    seeded = seed_history(sqlite_store)
    pending = request_approval(
        sqlite_store, model_name="fraud-detector", dag_id=DAG, run_id="manual__2", required_approvals=2
    ).approval["id"]
    approvals.decide(sqlite_store, pending, approve=True, user="ann", via="ui")
    allowed.add(DAG)
    client = _client(sqlite_store)
    paths = (
        "/models",
        "/models/fraud-detector",
        f"/models/fraud-detector/decisions/{seeded['decision_ids'][0]}",
        "/approvals",
    )
    for path in paths:
        page = client.get(f"/agentic-mlops{path}").text
        times = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d(.{0,8})", page, re.S)
        assert times, f"{path} shows no time"
        assert all(after.startswith(" UTC") for after in times), f"{path}: a time without its zone: {times}"
        assert "UTC UTC" not in page and "UTC) UTC" not in page, path
    overview_row = _row(client.get("/agentic-mlops/models").text, "fraud-detector")
    assert re.search(r"until \d{4}-\d\d-\d\d \d\d:\d\d UTC", overview_row)  # the pending approval's deadline


def test_the_escalation_next_step_of_a_model_without_a_schedule_promises_no_scheduled_run(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch, server_metadata_db: Any
) -> None:
    """The banner said "the next alert or manual trigger" while its Next step still promised a scheduled run."""
    parsed_dag(DAG, paused=False, description="", tags=["agentic-mlops"], timetable_summary="None")
    monkeypatch.setattr(alerts, "known_models", KNOWN_MODELS)
    allowed.add(DAG)
    sqlite_store.record_decision(
        "fraud-detector",
        mode="rules",
        final_action="escalate",
        decided_by="rules",
        dag_id=DAG,
        run_id="manual__1",
        rationale="blocked by the cooldown",
        rules_fired=[
            {"rule": "cooldown", "effect": "retrain not allowed", "detail": "next allowed at 2026-11-27 20:38 UTC"},
            {"rule": "performance_drop", "effect": "escalate (retrain blocked)", "detail": "roc_auc dropped"},
        ],
    )
    notice = _text_of(_client(sqlite_store).get("/agentic-mlops/models/fraud-detector").text, "escalated")
    assert "(the next alert or manual trigger decides again too)" in notice
    assert "scheduled run" not in notice


def test_a_model_whose_dag_airflow_no_longer_has_says_so_and_offers_no_run_of_it(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model removed from models.yaml (or renamed) keeps its history, but its DAG is gone: the page linked
    to the missing DAG, said the next scheduled run decides again and suggested triggering it."""
    _decided(sqlite_store, "gone", action="escalate", rationale="ESCALATED")
    _decided(sqlite_store, "kept", action="escalate", rationale="ESCALATED")
    _model_dags(monkeypatch, {"kept": False})
    allowed.update({"agentic_mlops__gone", "agentic_mlops__kept"})
    client = _client(sqlite_store)
    gone = client.get("/agentic-mlops/models/gone").text
    notice = _text_of(gone, "dag-not-in-airflow")
    assert "DAG agentic_mlops__gone is not in Airflow: removed or renamed in models.yaml?" in notice
    assert "/dags/agentic_mlops__gone" not in gone  # no link to a DAG that does not exist
    assert "airflow dags trigger" not in gone and "scheduled run" not in gone and 'id="escalated"' not in gone
    assert "ESCALATED" in gone  # its history is still shown
    kept = client.get("/agentic-mlops/models/kept").text
    assert 'id="dag-not-in-airflow"' not in kept and "airflow dags trigger agentic_mlops__kept" in kept
    rows = re.findall(r'<tr class="model-row">.*?</tr>', client.get("/agentic-mlops/models").text, re.S)
    marked = {name: "DAG not in Airflow" in row for row in rows for name in ("gone", "kept") if f">{name}</a>" in row}
    assert marked == {"gone": True, "kept": False}


def test_the_first_run_notice_of_a_model_without_a_schedule_says_what_starts_it(
    sqlite_store: StateStore, allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model with ``schedule: null`` (the demo's) has no schedule to start its first run: the page said it had."""
    for scheduled in (True, False):
        dag = {"dag_id": "agentic_mlops__churn", "paused": False, "entry_error": None, "scheduled": scheduled}
        monkeypatch.setattr(alerts, "known_models", lambda models=None, dag=dag: {"churn": dag})
        allowed.add("agentic_mlops__churn")
        notice = _text_of(_client(sqlite_store).get("/agentic-mlops/models/churn").text, "no-decision-yet")
        assert ("Its schedule starts it" in notice) == scheduled
        assert ("It has no schedule: an alert or a manual trigger starts it." in notice) == (not scheduled)


def test_a_reports_ownership_is_checked_once_in_a_while_not_on_every_fetch_and_a_run_not_owned_is_still_refused(
    sqlite_store: StateStore, allowed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_server: str
) -> None:
    """Each fetch of a validation report listed the registered model's versions (up to 10,000) and the runs nested in
    the report's run, level by level: a page of several reports made as many list calls per report, every time.
    A run found to be the model's is remembered for a short while (per model and registered models): the next
    fetch lists nothing. A refusal is never remembered, and another model does not inherit the answer."""
    import uuid

    import mlflow

    from airflow_provider_agentic_mlops.plugins import reports
    from tests.doubles.mlflow_fault_proxy import mlflow_fault_proxy

    tag = uuid.uuid4().hex[:8]
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    training = client.create_experiment(f"training-{tag}")
    parent = client.create_run(training).info.run_id
    trial = client.create_run(training, tags={"mlflow.parentRunId": parent}).info.run_id
    stranger = client.create_run(training).info.run_id  # no version was logged from it
    registered = f"fraud-{tag}"
    client.create_registered_model(registered)
    client.create_model_version(registered, f"runs:/{trial}/model", run_id=trial)
    for run_id in (parent, stranger):
        client.log_text(run_id, f"<h1>Validation of {run_id}</h1>", "agentic_mlops/validation/report.html")
    models_file = tmp_path / "models.yaml"
    models_file.write_text(
        "".join(
            f"  - name: {name}\n    registered_model: {reg}\n"
            "    drift: {reference: ref.parquet, current: cur.parquet, label_column: y}\n"
            "    retrain: {trigger_dag_id: train}\n    validation: {data: val.parquet}\n"
            for name, reg in (("fraud-detector", registered), ("other-model", f"other-{tag}"))
        ).join(("models:\n", ""))
    )
    allowed.update({DAG, "agentic_mlops__other-model"})
    lists: list[str] = []
    with mlflow_fault_proxy(mlflow_server) as proxy:
        # the ownership check's lists (the download itself searches MLflow 3's logged models)
        listing = ("/model-versions/search", "/runs/search")
        proxy.fault = lambda _method, path: lists.append(path) if any(p in path for p in listing) else None
        monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", proxy.url)
        pages = _client(sqlite_store, models_file=models_file)

        def fetch(model: str, run_id: str) -> tuple[int, int]:
            """(status, MLflow list calls) of one fetch of the report of ``run_id`` on ``model``'s page."""
            before = len(lists)
            uri = f"runs:/{run_id}/agentic_mlops/validation/report.html"
            seed_history(sqlite_store, model, report_uri=uri)
            response = pages.get(f"/agentic-mlops/models/{model}/artifact", params={"uri": uri})
            return response.status_code, len(lists) - before

        status, first = fetch("fraud-detector", parent)
        assert status == 200 and first >= 2  # the versions, then the runs nested in the report's run
        assert [fetch("fraud-detector", parent) for _ in range(3)] == [(200, 0)] * 3
        assert fetch("other-model", parent)[0] == 404  # the answer was fraud-detector's, not any model's
        for _ in range(2):  # refused each time, looked up each time
            status, listed = fetch("fraud-detector", stranger)
            assert status == 404 and listed >= 1
        now = reports._owned_runs.clock()
        monkeypatch.setattr(reports._owned_runs, "clock", lambda: now + reports.OWNED_RUN_SECONDS)
        assert fetch("fraud-detector", parent) == (200, first)  # once the time is up: asked again


def test_the_overviews_pending_request_links_to_it_on_the_approvals_page(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    """The cell linked /approvals, which shows the newest requests of every model: this one could be past them."""
    seed_history(sqlite_store)
    approval_id = request_approval(sqlite_store, model_name="fraud-detector", dag_id=DAG).approval["id"]
    allowed.add(DAG)
    page = _client(sqlite_store).get("/agentic-mlops/models").text
    href = f"/agentic-mlops/approvals?model=fraud-detector#request-{approval_id}"
    assert f'href="{href}"' in page


def test_each_time_on_the_pages_is_a_time_element_with_its_utc_instant(
    sqlite_store: StateStore, allowed: set[str]
) -> None:
    """The pages' script shows each time in the zone Airflow's UI is set to: it needs the instant, not the text."""
    seed_history(sqlite_store)
    allowed.add(DAG)
    page = _client(sqlite_store).get("/agentic-mlops/models/fraud-detector").text
    times = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert times
    for instant, text in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", instant) and text.endswith(" UTC")
        assert instant[:16].replace("T", " ") == text.removesuffix(" UTC")
    assert not re.search(r"(?<!>)\d{4}-\d\d-\d\d \d\d:\d\d UTC(?!</time>)", page.split("<svg")[0])
