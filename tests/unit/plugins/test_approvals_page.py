"""The plugin: registration, a cheap import, and the approvals page + JSON API behind Airflow's auth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_agentic_mlops import approvals
from airflow_provider_agentic_mlops.core.state import StateStore
from airflow_provider_agentic_mlops.plugins import approvals_page
from airflow_provider_agentic_mlops.plugins.app import AppSettings, create_app
from tests.approval_data import request_approval
from tests.sql_statements import statements_on

REPO = Path(__file__).resolve().parents[3]


class User:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


@pytest.fixture
def store(sqlite_store: StateStore) -> StateStore:
    return sqlite_store


@pytest.fixture
def permissions(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], bool]:
    """(dag_id, method) -> allowed, standing in for Airflow's auth manager decision."""
    allowed: dict[tuple[str, str], bool] = {}
    calls: list[tuple[str, str, str, str]] = []

    def decide(user: Any, dag_id: str, *, method: str, entity: str, team_name: str | None = None) -> bool:
        calls.append((user.get_name(), dag_id, method, entity))
        return allowed.get((dag_id, method), False)

    monkeypatch.setattr(approvals_page, "is_authorized_dag", decide)
    monkeypatch.setattr(approvals_page, "dag_teams", lambda dag_ids: dict.fromkeys(dag_ids))
    allowed["calls"] = calls  # type: ignore[index]
    return allowed


def _client(store: StateStore, user: str | None = "ui-alice", headers: dict[str, str] | None = None) -> TestClient:
    """A client as the page's own script is one: same origin (the browser says so in Sec-Fetch-Site)."""
    root = FastAPI()
    app = create_app(AppSettings(signing_secret="s", store=store))
    if user is not None:
        app.dependency_overrides[approvals_page.authenticated_user] = lambda: User(user)
    root.mount("/agentic-mlops", app)
    return TestClient(root, headers={"Sec-Fetch-Site": "same-origin"} if headers is None else headers)


def _request(store: StateStore, dag_id: str = "agentic_mlops__fraud", run_id: str = "r1") -> int:
    return request_approval(store, model_name=dag_id.split("__")[-1], dag_id=dag_id, run_id=run_id).approval["id"]


def test_plugin_registers_the_app_and_an_external_view_airflow_accepts() -> None:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    from airflow_provider_agentic_mlops.plugins import AgenticMlopsPlugin

    assert AgenticMlopsPlugin.fastapi_apps[0]["url_prefix"] == "/agentic-mlops"
    view = next(v for v in AgenticMlopsPlugin.external_views if v["name"] == "Model approvals")
    assert ExternalViewResponse.model_validate(view).href == "/agentic-mlops/approvals"
    paths = {r.path for r in AgenticMlopsPlugin.fastapi_apps[0]["app"].routes}
    assert {"/slack/interactions", "/approvals", "/api/approvals", "/api/approvals/{approval_id}/approve"} <= paths


def test_importing_the_plugin_loads_no_slack_sdk_pandas_or_mlflow() -> None:
    code = (
        "import sys, airflow_provider_agentic_mlops.plugins as p; "
        "heavy = [m for m in ('slack_sdk', 'pandas', 'mlflow', 'evidently', 'openai') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_without_an_airflow_token_the_page_and_api_are_401(store: StateStore) -> None:
    client = _client(store, user=None)
    assert client.get("/agentic-mlops/approvals").status_code == 401
    assert client.get("/agentic-mlops/api/approvals").status_code == 401
    approval_id = _request(store)
    response = client.post(f"/agentic-mlops/api/approvals/{approval_id}/approve", json={})
    assert response.status_code == 401
    assert store.get_approval(approval_id)["status"] == "pending"


def test_the_list_shows_only_requests_of_dags_the_user_may_read(store: StateStore, permissions: dict) -> None:
    visible = _request(store)
    _request(store, dag_id="agentic_mlops__secret")
    permissions[("agentic_mlops__fraud", "GET")] = True
    rows = _client(store).get("/agentic-mlops/api/approvals").json()
    assert [r["id"] for r in rows] == [visible]
    page = _client(store).get("/agentic-mlops/approvals")
    assert page.status_code == 200 and "ui-alice" in page.text and "agentic_mlops__secret" not in page.text


def test_a_teams_requests_are_listed_however_many_newer_ones_other_dags_have(
    store: StateStore, permissions: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The permission filter is applied before the limit, not to the newest N of every DAG."""
    monkeypatch.setattr(approvals_page, "PENDING_SHOWN", 2)
    monkeypatch.setattr(approvals_page, "HISTORY_SHOWN", 2)
    pending = _request(store)
    decided = _request(store, run_id="r0")
    approvals.decide(store, decided, approve=True, user="ann", via="ui")
    for i in range(3):  # other teams' requests, newer
        approvals.decide(store, _request(store, dag_id=f"agentic_mlops__m{i}"), approve=True, user="bob", via="ui")
        _request(store, dag_id=f"agentic_mlops__p{i}")
    permissions[("agentic_mlops__fraud", "GET")] = True
    client = _client(store)
    assert [r["id"] for r in client.get("/agentic-mlops/api/approvals", params={"limit": 2}).json()] == [pending]
    listed = client.get("/agentic-mlops/api/approvals", params={"status": "all", "limit": 2}).json()
    assert [r["id"] for r in listed] == [decided, pending]
    page = client.get("/agentic-mlops/approvals").text
    assert f'id="request-{pending}"' in page and f"<td>{decided}</td>" in page
    assert "No pending approvals." not in page and "No decided requests yet." not in page


def test_approve_needs_the_dags_hitl_permission_and_records_via_ui(store: StateStore, permissions: dict) -> None:
    approval_id = _request(store)
    client = _client(store)
    permissions[("agentic_mlops__fraud", "GET")] = True
    forbidden = client.post(f"/agentic-mlops/api/approvals/{approval_id}/approve", json={"reason": "ok"})
    assert forbidden.status_code == 403
    assert store.get_approval(approval_id)["status"] == "pending"
    permissions[("agentic_mlops__fraud", "PUT")] = True
    response = client.post(f"/agentic-mlops/api/approvals/{approval_id}/approve", json={"reason": "ok"})
    assert response.status_code == 200 and response.json()["approval"]["status"] == "approved"
    # the page shows this answer after its reload, where the request is no longer: it names the request
    assert response.json()["message"] == f"Request #{approval_id} (fraud v7): approved by ui-alice"
    stored = store.get_approval(approval_id)
    assert (stored["decided_by"], stored["decided_via"], stored["reason"]) == ("ui-alice", "ui", "ok")
    assert ("ui-alice", "agentic_mlops__fraud", "PUT", "HITL_DETAIL") in permissions["calls"]


def test_a_second_decision_from_the_page_is_409_and_says_who_decided(store: StateStore, permissions: dict) -> None:
    permissions[("agentic_mlops__fraud", "PUT")] = True
    approval_id = _request(store)
    approvals.decide(
        store, approval_id, approve=True, user="U_SLACK", via="slack", allowlist=approvals.Allowlist(("U_SLACK",))
    )
    response = _client(store, user="ui-bob").post(f"/agentic-mlops/api/approvals/{approval_id}/deny", json={})
    assert response.status_code == 409 and "already approved by U_SLACK" in response.json()["message"]


def test_a_reason_over_the_limit_is_refused_naming_it_and_nothing_is_recorded(
    store: StateStore, permissions: dict
) -> None:
    """A 20 MB reason was stored and served again on every load of the page."""
    from airflow_provider_agentic_mlops.core.approval_policy import MAX_REASON_CHARS

    permissions[("agentic_mlops__fraud", "PUT")] = True
    approval_id = _request(store)
    client = _client(store)
    url = f"/agentic-mlops/api/approvals/{approval_id}/deny"
    response = client.post(url, json={"reason": "x" * (MAX_REASON_CHARS + 1)})
    assert response.status_code == 422, response.text
    assert f"{MAX_REASON_CHARS} characters" in response.json()["detail"]
    assert store.get_approval(approval_id)["status"] == "pending"
    assert client.post(url, json={"reason": "x" * MAX_REASON_CHARS}).status_code == 200
    assert store.get_approval(approval_id)["reason"] == "x" * MAX_REASON_CHARS


def test_a_decision_body_over_the_limit_is_413_whatever_it_holds(store: StateStore, permissions: dict) -> None:
    permissions[("agentic_mlops__fraud", "PUT")] = True
    approval_id = _request(store)
    body = b'{"reason": "ok", "padding": "' + b" " * approvals_page.MAX_DECISION_BODY_BYTES + b'"}'
    response = _client(store).post(
        f"/agentic-mlops/api/approvals/{approval_id}/approve",
        content=body,
        headers={"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 413, response.text
    assert f"{approvals_page.MAX_DECISION_BODY_BYTES} bytes" in response.json()["detail"]
    assert store.get_approval(approval_id)["status"] == "pending"


def test_a_form_post_is_refused_so_a_cross_site_form_cannot_decide(store: StateStore, permissions: dict) -> None:
    permissions[("agentic_mlops__fraud", "PUT")] = True
    approval_id = _request(store)
    response = _client(store).post(f"/agentic-mlops/api/approvals/{approval_id}/approve", data={"reason": "x"})
    assert response.status_code == 415
    assert store.get_approval(approval_id)["status"] == "pending"


def test_an_unknown_request_is_404(store: StateStore, permissions: dict) -> None:
    assert _client(store).post("/agentic-mlops/api/approvals/999/approve", json={}).status_code == 404


def test_a_request_of_a_dag_the_user_cannot_read_is_answered_as_missing(store: StateStore, permissions: dict) -> None:
    """Neither the DAG's id nor the request's existence leaks to a user who may not read the DAG."""
    approval_id = _request(store, dag_id="agentic_mlops__team_a_secret_model")
    client = _client(store, user="bob")
    hidden = client.post(f"/agentic-mlops/api/approvals/{approval_id}/deny", json={})
    missing = client.post("/agentic-mlops/api/approvals/999/deny", json={})
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["detail"] == missing.json()["detail"].replace("999", str(approval_id))
    assert "secret" not in hidden.text
    assert store.get_approval(approval_id)["status"] == "pending"


def test_a_deeply_nested_body_is_422_not_a_recursion_error(store: StateStore, permissions: dict) -> None:
    permissions[("agentic_mlops__fraud", "PUT")] = True
    approval_id = _request(store)
    response = _client(store).post(
        f"/agentic-mlops/api/approvals/{approval_id}/approve",
        content=b"[" * 8000 + b"]" * 8000,  # deeper than Python's recursion limit, within the body's size limit
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422 and "nested too deeply" in response.json()["detail"]
    assert store.get_approval(approval_id)["status"] == "pending"


@pytest.mark.parametrize("approval_id", ["99999999999999999999", "1000000000000000000", "0"])
def test_an_id_no_request_can_have_is_404(store: StateStore, permissions: dict, approval_id: str) -> None:
    response = _client(store).post(f"/agentic-mlops/api/approvals/{approval_id}/approve", json={})
    assert response.status_code == 404 and "whole numbers from 1 to 999999999999999999" in response.json()["detail"]


def test_metrics_are_rounded_with_their_change_and_whether_it_is_better() -> None:
    rows = approvals_page.metric_rows(
        {
            "primary_metric": "roc_auc",
            "champion_metrics": {"roc_auc": 0.45657445497828264, "rmse": 2.0, "accuracy": 0.91, "log_loss": 0.8026},
            "challenger_metrics": {"roc_auc": 0.822458131473438, "rmse": 2.5, "accuracy": 0.91, "log_loss": 0.516},
        }
    )
    assert [r["metric"] for r in rows] == ["roc_auc", "accuracy", "log_loss", "rmse"]  # the primary metric first
    auc, acc, log_loss, rmse = rows
    assert (auc["champion"], auc["challenger"], auc["delta"], auc["direction"]) == ("0.4566", "0.8225", "+0.3659", "up")
    assert (rmse["delta"], rmse["direction_word"]) == ("+0.5000", "worse")  # an error metric going up is worse
    assert acc["delta"] == "0 (equal)" and acc["direction"] == "" and acc["champion"] == "0.9100"
    # values with four decimals; a change with four too unless it needs more to show (as the report's)
    assert (log_loss["champion"], log_loss["challenger"], log_loss["delta"]) == ("0.8026", "0.5160", "-0.2866")


def test_the_delta_column_has_the_digits_the_report_shows() -> None:
    from airflow_provider_agentic_mlops.core.validation import Gates, build_report

    champion = {"roc_auc": 0.880815, "accuracy": 0.91, "f1": 0.6, "rmse": 2.0}
    challenger = {"roc_auc": 0.880812, "accuracy": 0.91, "f1": 0.65, "rmse": 2.00004}
    report = build_report(
        model_name="m",
        gates=Gates(),
        challenger_version="2",
        challenger_metrics=challenger,
        champion_version="1",
        champion_metrics=champion,
    )
    shown = {m: delta for m, _, _, delta, _ in report._rows()}
    rows = {r["metric"]: r for r in approvals_page.metric_rows(report.to_dict())}
    assert {m: r["delta"] for m, r in rows.items()} == shown
    assert rows["roc_auc"]["delta"] == "-0.000003" and rows["roc_auc"]["direction_word"] == "worse"
    assert rows["rmse"]["delta"] == "+0.00004" and rows["accuracy"]["delta"] == "0 (equal)"
    assert rows["accuracy"]["arrow"] == rows["accuracy"]["direction_word"] == ""


def _with_top_drifted(details: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    drift = {**details["drift"], "top_drifted": [{"column": c, "score": 0.3} for c in columns]}
    return {**details, "drift": drift}


def test_the_page_shows_drift_rationale_report_links_progress_and_history(store: StateStore, permissions: dict) -> None:
    from tests.model_history_data import seed_history

    decided = seed_history(store, report_uri="runs:/abc/drift/f/drift_report.html")["approval_id"]
    pending = request_approval(
        store,
        model_name="fraud-detector",
        model_version="3",
        dag_id="agentic_mlops__fraud-detector",
        run_id="r9",
        required_approvals=2,
        details=_with_top_drifted((store.get_approval(decided) or {})["details"], ["amount", "merchant_risk"]),
    ).approval["id"]
    approvals.decide(store, pending, approve=True, user="ui-carol", via="ui", reason="fine")
    permissions[("agentic_mlops__fraud-detector", "GET")] = True
    page = _client(store).get("/agentic-mlops/approvals").text
    section = page[page.index(f'id="request-{pending}"') : page.index("Decided requests")]
    assert "0.4566" in section and "0.8225" in section and "+0.3659" in section and "better" in section
    assert "0.45657445497828264" not in section
    assert "3 of 5 columns drifted" in section and "drift on amount and merchant_risk" in section
    assert "(share 0.6, threshold 0.5); most: amount, merchant_risk</p>" in section  # no space before ";"
    assert "/agentic-mlops/models/fraud-detector/artifact?uri=runs%3A%2Fabc%2Fdrift%2Ff%2Fdrift_report.html" in section
    assert "1 of 2 needed" in section and "ui-carol (approve via ui" in section
    history = page[page.index('id="history"') :]
    assert f"<td>{decided}</td>" in history and "bob" in history and "ann" in history and "looks good" in history
    assert ">ui<" in history


@pytest.mark.parametrize(
    "content_type",
    ["text/plain; application/json", "text/plain", "application/jsonx", "application/x-www-form-urlencoded"],
)
def test_only_the_exact_json_media_type_is_accepted(store: StateStore, permissions: dict, content_type: str) -> None:
    permissions[("agentic_mlops__fraud", "PUT")] = True
    approval_id = _request(store)
    response = _client(store).post(
        f"/agentic-mlops/api/approvals/{approval_id}/approve", content=b"{}", headers={"Content-Type": content_type}
    )
    assert response.status_code == 415
    assert store.get_approval(approval_id)["status"] == "pending"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver:8081"},  # another port of the same host
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Origin": "https://evil.example"},  # a browser without Fetch Metadata
        {"Origin": "null"},
        {},  # a cookie and neither header
        # Airflow's get_user reads only a Bearer credential and falls back to the cookie otherwise, and
        # a browser attaches cached Basic credentials (a proxy's) to cross-site requests by itself
        {"Sec-Fetch-Site": "cross-site", "Authorization": "Basic dXNlcjpwYXNz"},
        {"Origin": "https://evil.example", "Authorization": "Bearer "},
    ],
    ids=["same-site-other-port", "cross-site", "foreign-origin", "null-origin", "no-origin", "basic", "empty-bearer"],
)
def test_cookie_authenticated_writes_from_another_origin_are_refused(
    store: StateStore, permissions: dict, headers: dict[str, str]
) -> None:
    permissions[("agentic_mlops__fraud", "PUT")] = True
    approval_id = _request(store)
    response = _client(store, headers=headers).post(f"/agentic-mlops/api/approvals/{approval_id}/approve", json={})
    assert response.status_code == 403, response.text
    assert store.get_approval(approval_id)["status"] == "pending" and store.get_approval(approval_id)["votes"] == []


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://testserver"}, {"Authorization": "Bearer a-token"}, {"Authorization": "bearer a-token"}],
    ids=["same-origin-header", "bearer", "bearer-lower-case"],
)
def test_same_origin_and_bearer_writes_are_accepted(store: StateStore, permissions: dict, headers: dict) -> None:
    permissions[("agentic_mlops__fraud", "PUT")] = True
    approval_id = _request(store)
    response = _client(store, headers=headers).post(f"/agentic-mlops/api/approvals/{approval_id}/approve", json={})
    assert response.status_code == 200, response.text


def test_the_dag_permission_check_passes_the_dags_team_like_airflow_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    from airflow_provider_agentic_mlops.plugins import airflow_auth

    seen: list[DagDetails] = []

    class AuthManager:
        def is_authorized_dag(self, *, method: str, access_entity: Any, details: DagDetails, user: Any) -> bool:
            seen.append(details)
            return details.team_name == "team_b"

    monkeypatch.setattr("airflow.api_fastapi.app.get_auth_manager", lambda: AuthManager())
    monkeypatch.setattr(airflow_auth, "dag_teams", lambda ids: {i: "team_a" for i in ids})
    assert not airflow_auth.is_authorized_dag(User("bob"), "agentic_mlops__a", method="PUT", entity="HITL_DETAIL")
    assert seen[-1] == DagDetails(id="agentic_mlops__a", team_name="team_a")
    assert airflow_auth.is_authorized_dag(User("bob"), "x", method="GET", entity="RUN", team_name="team_b")


def test_a_dag_read_as_having_no_team_is_not_read_again_for_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """``team_name=None`` from :func:`dag_teams` means "no team": the check must not read the team per DAG again
    (one metadata query per DAG on a page that lists hundreds)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    from airflow_provider_agentic_mlops.plugins import airflow_auth

    seen: list[DagDetails] = []
    reads: list[list[str]] = []

    class AuthManager:
        def is_authorized_dag(self, *, method: str, access_entity: Any, details: DagDetails, user: Any) -> bool:
            seen.append(details)
            return True

    monkeypatch.setattr("airflow.api_fastapi.app.get_auth_manager", lambda: AuthManager())
    monkeypatch.setattr(airflow_auth, "airflow_has_teams", lambda: True)
    monkeypatch.setattr(airflow_auth, "dag_teams", lambda ids: reads.append(list(ids)) or {i: "team_a" for i in ids})
    assert airflow_auth.is_authorized_dag(User("bob"), "x", method="GET", entity="RUN", team_name=None)
    assert reads == [] and seen[-1] == DagDetails(id="x", team_name=None)
    assert airflow_auth.is_authorized_dag(User("bob"), "y", method="GET", entity="RUN")  # not read by the caller
    assert reads == [["y"]] and seen[-1] == DagDetails(id="y", team_name="team_a")


def test_on_airflow_without_teams_the_check_passes_only_the_dag_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_agentic_mlops.plugins import airflow_auth

    seen: list[Any] = []

    class AuthManager:
        def is_authorized_dag(self, *, method: str, access_entity: Any, details: Any, user: Any) -> bool:
            seen.append(details)
            return True

    monkeypatch.setattr("airflow.api_fastapi.app.get_auth_manager", lambda: AuthManager())
    monkeypatch.setattr(airflow_auth, "airflow_has_teams", lambda: False)
    assert airflow_auth.dag_teams(["a", "b"]) == {"a": None, "b": None}
    assert airflow_auth.is_authorized_dag(User("bob"), "a", method="GET", entity="RUN")
    assert seen[-1].id == "a" and seen[-1].team_name is None


def test_pages_send_csp_nosniff_and_a_frame_policy_that_lets_airflow_embed_them(
    store: StateStore, permissions: dict
) -> None:
    response = _client(store).get("/agentic-mlops/approvals")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp and "object-src 'none'" in csp and "default-src 'self'" in csp
    assert "script-src 'self' 'nonce-" in csp
    # no inline script at all: the buttons' script is a file from this origin
    assert '<script src="/agentic-mlops/assets/approvals.js"' in response.text
    assert "<script>" not in response.text and "onclick=" not in response.text
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    other = _client(store).get("/agentic-mlops/approvals").headers["Content-Security-Policy"]
    assert other != csp  # a fresh nonce per response


def test_the_approvals_list_reads_the_votes_of_all_its_requests_at_once(store: StateStore, permissions: dict) -> None:
    """The API and the page run as many statements for 25 requests as for 5: the votes of every listed
    request come in one query, not one read of each request."""
    client = _client(store)

    def add_requests(first: int, last: int) -> None:
        for i in range(first, last):
            dag_id = f"agentic_mlops__m{i}"
            permissions[(dag_id, "GET")] = True
            request_id = _request(store, dag_id=dag_id)
            approvals.decide(store, request_id, approve=i % 2 == 0, user="ann", via="ui")
            _request(store, dag_id=dag_id, run_id="r2")  # a pending one too

    def statements() -> list[int]:
        counts = []
        for path in ("/api/approvals", "/api/approvals?status=all", "/approvals"):
            with statements_on(store.engine) as seen:
                assert client.get(f"/agentic-mlops{path}").status_code == 200
            counts.append(len(seen))
        return counts

    add_requests(0, 5)
    few = statements()
    add_requests(5, 25)
    listed = client.get("/agentic-mlops/api/approvals", params={"status": "all"}).json()
    assert len(listed) == 50 and all(len(r["votes"]) == (r["status"] != "pending") for r in listed)
    assert [v["user_id"] for r in listed for v in r["votes"]] == ["ann"] * 25
    assert statements() == few


@pytest.fixture
def metadata_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Airflow's metadata DB (its tables, no migrations) as Airflow's ``settings``: team_a's DAG
    ``agentic_mlops__a``, the team-less ``agentic_mlops__plain``, and teams team_a and team_b."""
    import airflow.models
    import sqlalchemy as sa
    from airflow import settings
    from airflow.models.base import Base
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.team import Team
    from sqlalchemy.orm import scoped_session, sessionmaker

    airflow.models.import_all_models()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'airflow.db'}")
    Base.metadata.create_all(engine)
    monkeypatch.setattr(settings, "engine", engine)
    monkeypatch.setattr(settings, "Session", scoped_session(sessionmaker(bind=engine, expire_on_commit=False)))
    with settings.Session() as session:
        team_a, team_b = Team(name="team_a"), Team(name="team_b")
        bundle_a, plain = DagBundleModel(name="a_dags"), DagBundleModel(name="plain_dags")
        bundle_a.teams = [team_a]
        session.add_all([team_a, team_b, bundle_a, plain])
        session.flush()
        session.add_all(
            [
                DagModel(dag_id="agentic_mlops__a", bundle_name="a_dags"),
                DagModel(dag_id="agentic_mlops__plain", bundle_name="plain_dags"),
            ]
        )
        session.commit()
    try:
        yield engine
    finally:
        settings.Session.remove()
        engine.dispose()


def _simple_auth_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    monkeypatch.setattr("airflow.api_fastapi.app.get_auth_manager", lambda: SimpleAuthManager())


def test_a_dag_airflow_does_not_know_is_read_only_by_who_may_read_every_teams_dags(
    metadata_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The requests of a DAG Airflow no longer knows (deleted) used to count as team-less: every user of any
    team could list and decide them. Its team is unknown: only a user who could read it whichever team it
    had may (an admin, or a user of every team)."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    from airflow_provider_agentic_mlops.plugins import airflow_auth

    _simple_auth_manager(monkeypatch)
    gone = "agentic_mlops__gone"
    teams = airflow_auth.dag_teams(["agentic_mlops__a", "agentic_mlops__plain", gone])
    assert teams["agentic_mlops__a"] == "team_a" and teams["agentic_mlops__plain"] is None
    alice = SimpleAuthManagerUser(username="alice", role="user", teams=["team_a"])
    nobody = SimpleAuthManagerUser(username="mallory", role="user")
    both = SimpleAuthManagerUser(username="carol", role="user", teams=["team_a", "team_b"])
    admin = SimpleAuthManagerUser(username="admin", role="admin")
    for user, allowed in ((alice, False), (nobody, False), (both, True), (admin, True)):
        for method, entity in (("GET", "RUN"), ("PUT", "HITL_DETAIL")):
            given = airflow_auth.is_authorized_dag(user, gone, method=method, entity=entity, team_name=teams[gone])
            read_here = airflow_auth.is_authorized_dag(user, gone, method=method, entity=entity)
            assert given is read_here is allowed, (user.username, method)
    # known DAGs as before: a team's DAG to its team, a team-less one to every user
    assert airflow_auth.is_authorized_dag(alice, "agentic_mlops__a", method="GET", entity="RUN")
    assert not airflow_auth.is_authorized_dag(nobody, "agentic_mlops__a", method="GET", entity="RUN")
    assert airflow_auth.is_authorized_dag(nobody, "agentic_mlops__plain", method="GET", entity="RUN")


def test_requests_of_a_dag_airflow_does_not_know_are_neither_listed_nor_decided_for_a_team_user(
    metadata_db: Any, monkeypatch: pytest.MonkeyPatch, store: StateStore
) -> None:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    _simple_auth_manager(monkeypatch)
    gone = _request(store, dag_id="agentic_mlops__gone")
    mine = _request(store, dag_id="agentic_mlops__a")

    def client(user: Any) -> TestClient:
        root = FastAPI()
        app = create_app(AppSettings(signing_secret="s", store=store))
        app.dependency_overrides[approvals_page.authenticated_user] = lambda: user
        root.mount("/agentic-mlops", app)
        return TestClient(root, headers={"Sec-Fetch-Site": "same-origin"})

    alice = client(SimpleAuthManagerUser(username="alice", role="user", teams=["team_a"]))
    assert [a["id"] for a in alice.get("/agentic-mlops/api/approvals").json()] == [mine]
    assert "agentic_mlops__gone" not in alice.get("/agentic-mlops/approvals").text
    response = alice.post(f"/agentic-mlops/api/approvals/{gone}/deny", json={})
    assert response.status_code == 404 and "agentic_mlops__gone" not in response.text
    assert store.get_approval(gone)["status"] == "pending"
    admin = client(SimpleAuthManagerUser(username="admin", role="admin"))
    assert {a["id"] for a in admin.get("/agentic-mlops/api/approvals").json()} == {gone, mine}
    assert admin.post(f"/agentic-mlops/api/approvals/{gone}/deny", json={}).status_code == 200


@pytest.mark.usefixtures("commands_as_on_airflow_3_1")
def test_on_airflow_3_1_the_page_names_the_console_script(store: StateStore, permissions: dict) -> None:
    page = _client(store).get("/agentic-mlops/approvals").text
    assert "<code>agentic-mlops approvals approve ID</code>" in page and "airflow agentic-mlops" not in page


def test_a_viewer_gets_no_approve_or_deny_buttons_and_is_told_why(store: StateStore, permissions: dict) -> None:
    """Buttons only where the decide endpoint's own check (PUT on the DAG's HITL_DETAIL) lets the user decide:
    a read-only viewer's clicks would only ever be refused with 403."""
    import re

    viewed = _request(store, dag_id="agentic_mlops__fraud")
    decided = _request(store, dag_id="agentic_mlops__churn")
    permissions.update({("agentic_mlops__fraud", "GET"): True, ("agentic_mlops__churn", "GET"): True})
    permissions[("agentic_mlops__churn", "PUT")] = True
    page = _client(store).get("/agentic-mlops/approvals").text
    sections = dict(re.findall(r'<section class="request" id="request-(\d+)".*?>(.*?)</section>', page, re.S))
    assert set(sections) == {str(viewed), str(decided)}
    assert 'data-verb="approve"' in sections[str(decided)] and 'data-verb="deny"' in sections[str(decided)]
    assert "You may view" not in sections[str(decided)]
    assert "data-verb" not in sections[str(viewed)] and "<button" not in sections[str(viewed)]
    assert "You may view, not decide, approvals of DAG 'agentic_mlops__fraud'" in sections[str(viewed)]
    assert ("ui-alice", "agentic_mlops__fraud", "PUT", "HITL_DETAIL") in permissions["calls"]
    # the endpoint answers the viewer as the page says
    refused = _client(store).post(f"/agentic-mlops/api/approvals/{viewed}/approve", json={})
    assert refused.status_code == 403 and store.get_approval(viewed)["status"] == "pending"


@pytest.mark.parametrize(
    "target",
    [
        "https://mlflow.example/#/experiments/1/runs/abc",
        "http://grafana.internal:3000/d/drift",
        "HTTPS://MLFLOW.EXAMPLE/",
        "/dags/agentic_mlops__fraud/runs/manual__1",
        "/",
    ],
)
def test_a_requests_web_link_or_same_origin_path_is_shown(target: str) -> None:
    assert approvals_page.page_link(target) == target


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",  # protocol-relative: another host
        "/\\evil.example/x",  # browsers read a backslash as a slash
        "/\t/evil.example/x",  # ... and drop tabs and line breaks
        "/\n/evil.example/x",
        " //evil.example/x",  # ... and leading spaces
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https:evil.example",  # no host
        "mlflow.example/runs/1",  # relative to the page
        "",
    ],
)
def test_a_requests_link_to_another_host_in_disguise_or_another_scheme_is_dropped(target: str) -> None:
    assert approvals_page.page_link(target) is None


def test_the_page_shows_only_the_safe_links_of_a_request() -> None:
    links = {"run": "/dags/d/runs/r", "evil": "//evil.example/x", "mlflow": "https://mlflow.example/#/runs/1"}
    approval = {"model_name": "fraud", "details": {"links": links}}
    assert approvals_page.page_request("/agentic-mlops", approval)["link_rows"] == [
        ("run", "/dags/d/runs/r"),
        ("mlflow", "https://mlflow.example/#/runs/1"),
    ]


def test_a_request_past_its_deadline_is_shown_expired_not_pending(store: StateStore, permissions: dict) -> None:
    """No sensor expires a request whose run was marked done by hand (or while the triggerer is down): the
    page expires it when read, as `approvals list` does, instead of offering it to people deciding."""
    from datetime import timedelta

    from airflow_provider_agentic_mlops.core.state import utcnow

    late = request_approval(store, expires_at=utcnow() - timedelta(minutes=1)).approval["id"]
    permissions[("agentic_mlops__fraud", "GET")] = True
    permissions[("agentic_mlops__fraud", "PUT")] = True
    assert _client(store).get("/agentic-mlops/api/approvals").json() == []
    page = _client(store).get("/agentic-mlops/approvals")
    assert page.status_code == 200 and f'data-id="{late}"' not in page.text
    assert store.get_approval(late)["status"] == "expired"


@pytest.mark.timeout(60, method="thread")
def test_expiring_on_listing_updates_slack_off_the_request(
    store: StateStore, permissions: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow Slack (one chat.update per expired request, 10 s each when it hangs) must not hold the page."""
    import threading
    from datetime import timedelta

    from airflow_provider_agentic_mlops import approvals
    from airflow_provider_agentic_mlops.core.state import utcnow

    release, updated = threading.Event(), threading.Event()

    class HangingSlack:
        def chat_update(self, **_: Any) -> None:
            release.wait(30)
            updated.set()

    monkeypatch.setattr(approvals, "slack_client_for", lambda *_a, **_k: HangingSlack())
    late = request_approval(store, expires_at=utcnow() - timedelta(minutes=1)).approval["id"]
    store.set_approval_message(late, channel="C1", ts="1.000001")
    permissions[("agentic_mlops__fraud", "GET")] = True

    assert _client(store).get("/agentic-mlops/api/approvals").json() == []  # answered while Slack hangs
    assert store.get_approval(late)["status"] == "expired" and not updated.is_set()
    release.set()
    assert updated.wait(10)  # the message update ran on the answer threads


def test_a_store_refusing_a_value_is_a_500_saying_so_not_an_outage(
    store: StateStore, permissions: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row the database cannot read back (a lone surrogate in a json column) was answered 503 "the state store
    is unavailable": the store is up, and waiting does not help."""
    import sqlalchemy as sa

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise sa.exc.DataError("SELECT ...", {}, Exception("invalid input syntax for type json"))

    monkeypatch.setattr(store, "list_approvals", refused)
    response = _client(store).get("/agentic-mlops/api/approvals")
    assert response.status_code == 500, response.text
    detail = response.json()["detail"]
    assert "unavailable" not in detail and "refused" in detail and "invalid input syntax for type json" in detail


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/approvals?status=%00", 422),
        ("/api/approvals?status=pending%0A", 422),
        ("/models/%00", 404),
        ("/models/fraud%1B", 404),
        ("/models/%00/decisions/1", 404),
        ("/models/%00/artifact?uri=runs:/x/report.html", 404),
        ("/models/fraud/artifact?uri=%00", 422),
    ],
)
def test_a_control_character_in_a_path_or_query_is_refused_before_the_store_is_asked(
    store: StateStore, permissions: dict, monkeypatch: pytest.MonkeyPatch, path: str, status: int
) -> None:
    """PostgreSQL refuses a NUL in a query's text: the pages answered 500 with psycopg2's ValueError."""
    monkeypatch.setattr(AppSettings, "get_store", lambda self: pytest.fail("the store was asked"))
    response = _client(store).get("/agentic-mlops" + path)
    assert response.status_code == status, response.text
    assert "control character" in response.json()["detail"]


def _shown_ids(page: str) -> list[int]:
    """Ids of the pending requests the page shows, in order."""
    import re

    return [int(i) for i in re.findall(r'<section class="request" id="request-(\d+)"', page)]


def _history_ids(page: str) -> list[int]:
    import re

    return [int(i) for i in re.findall(r'<tr class="decided" id="decided-(\d+)">', page)]


def _link(page: str, element_id: str) -> str | None:
    import html
    import re

    found = re.search(rf'id="{element_id}" href="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else None


def test_the_page_counts_and_pages_back_through_every_pending_and_decided_request(
    store: StateStore, permissions: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the newest PENDING_SHOWN / HISTORY_SHOWN, requests were dropped silently: the page says how many
    of how many it shows and pages back through the rest, each list with its own cursor."""
    monkeypatch.setattr(approvals_page, "PENDING_SHOWN", 2)
    monkeypatch.setattr(approvals_page, "HISTORY_SHOWN", 2)
    decided = [_request(store, run_id=f"d{i}") for i in range(3)]
    for approval_id in decided:
        approvals.decide(store, approval_id, approve=False, user="ann", via="ui")
    pending = [_request(store, run_id=f"p{i}") for i in range(5)]
    _request(store, dag_id="agentic_mlops__secret", run_id="hidden")  # not readable: neither listed nor counted
    permissions[("agentic_mlops__fraud", "GET")] = True
    client = _client(store)

    first = client.get("/agentic-mlops/approvals").text
    assert _shown_ids(first) == pending[:-3:-1] and "2 of 5 pending requests" in first
    assert _history_ids(first) == decided[:-3:-1] and "2 of 3 decided requests" in first
    seen, url = _shown_ids(first), _link(first, "older-pending")
    while url:
        page = client.get(url).text
        seen += _shown_ids(page)
        assert _history_ids(page) == decided[:-3:-1]  # the other list stays where it was
        url = _link(page, "older-pending")
    assert seen == pending[::-1]
    older = client.get(_link(first, "older-decided")).text
    assert _history_ids(older) == [decided[0]] and _link(older, "older-decided") is None
    assert _shown_ids(older) == pending[:-3:-1]
    assert _link(older, "newest-decided") is not None


def test_the_page_shows_one_models_requests_with_model_and_keeps_scoping(store: StateStore, permissions: dict) -> None:
    fraud = _request(store)
    churn = _request(store, dag_id="agentic_mlops__churn")
    secret = _request(store, dag_id="agentic_mlops__secret")
    permissions[("agentic_mlops__fraud", "GET")] = permissions[("agentic_mlops__churn", "GET")] = True
    client = _client(store)
    assert _shown_ids(client.get("/agentic-mlops/approvals").text) == [churn, fraud]
    page = client.get("/agentic-mlops/approvals", params={"model": "fraud"}).text
    assert _shown_ids(page) == [fraud] and "1 of 1 pending request" in page
    assert _link(page, "all-models") == "/agentic-mlops/approvals"
    hidden = client.get("/agentic-mlops/approvals", params={"model": "secret"}).text
    assert _shown_ids(hidden) == [] and f"request-{secret}" not in hidden and "agentic_mlops__secret" not in hidden


def test_a_page_cursor_no_request_can_have_is_refused_naming_it(store: StateStore, permissions: dict) -> None:
    client = _client(store)
    for params in ({"before": 0}, {"decided_before": 10**30}):
        response = client.get("/agentic-mlops/approvals", params=params)
        assert response.status_code == 422 and str(next(iter(params.values())))[:10] in response.text
    assert client.get("/agentic-mlops/api/approvals", params={"before": -1}).status_code == 422


def test_the_api_pages_back_with_before_and_says_where_the_next_page_starts(
    store: StateStore, permissions: dict
) -> None:
    ids = [_request(store, run_id=f"r{i}") for i in range(5)]
    permissions[("agentic_mlops__fraud", "GET")] = True
    client = _client(store)
    seen: list[int] = []
    url: str | None = "/agentic-mlops/api/approvals?limit=2"
    while url:
        response = client.get(url)
        seen += [r["id"] for r in response.json()]
        nxt = response.links.get("next")
        url = nxt["url"] if nxt else None
        if url:
            assert f"before={seen[-1]}" in url and "limit=2" in url
    assert seen == ids[::-1]
    assert [r["id"] for r in client.get("/agentic-mlops/api/approvals", params={"before": ids[2]}).json()] == ids[1::-1]
