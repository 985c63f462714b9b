"""A state store or an MLflow server that accepts TCP and never answers (a network partition, a hung PgBouncer):
the plugin's pages answer with an error naming it, and the routes of the app they are mounted in (Airflow's
API, whose sync routes share anyio's default thread limiter) keep answering meanwhile."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import pytest
from fastapi import FastAPI

from airflow_provider_agentic_mlops.core import state
from airflow_provider_agentic_mlops.core.state import StateStore
from airflow_provider_agentic_mlops.plugins import alerts, approvals_page, overview, reports
from airflow_provider_agentic_mlops.plugins.app import AppSettings, create_app
from tests.doubles.silent_server import SilentServer, silent_server
from tests.model_history_data import seed_history

DAG = "agentic_mlops__fraud-detector"
#: anyio's default thread limiter in the served app (Airflow's API server has 40): few, so that work holding its
#: tokens would show at once as a cheap sync route that cannot run.
AIRFLOWS_THREADS = 4


class User:
    def get_name(self) -> str:
        return "ui-alice"


@pytest.fixture
def readable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every DAG readable and decidable, Airflow's metadata DB standing in as empty."""
    monkeypatch.setattr(approvals_page, "is_authorized_dag", lambda user, dag_id, **kwargs: True)
    monkeypatch.setattr(approvals_page, "dag_teams", lambda dag_ids: dict.fromkeys(dag_ids))
    monkeypatch.setattr(overview, "last_dag_runs", lambda ids: {})
    monkeypatch.setattr(alerts, "known_models", lambda models=None: {})


@contextmanager
def served(settings: AppSettings) -> Iterator[str]:
    """The plugin's app mounted in an app with a cheap sync route (``/cheap``, as Airflow's own routes are),
    served by uvicorn on a free port with :data:`AIRFLOWS_THREADS` default threads; its URL."""
    import socket

    import uvicorn

    @asynccontextmanager
    async def few_threads(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = AIRFLOWS_THREADS
        yield

    root = FastAPI(lifespan=few_threads)

    @root.get("/cheap")
    def cheap() -> str:
        return "ok"

    app = create_app(settings)
    app.dependency_overrides[approvals_page.authenticated_user] = User
    root.mount("/agentic-mlops", app)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
        assert thread.is_alive(), "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def _get(url: str, timeout: float) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Accept": "text/html"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _in_background(url: str, timeout: float) -> tuple[threading.Thread, dict[str, Any]]:
    answer: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: answer.update(result=_get(url, timeout)), daemon=True)
    thread.start()
    return thread, answer


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with silent_server() as server:
        yield server


@pytest.mark.timeout(120, method="thread")
def test_a_state_store_that_never_answers_gives_503_pages_and_the_apps_other_routes_keep_answering(
    readable: None, silent: SilentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the store was opened on the event loop (every route of the server waited) and its queries ran on
    anyio's default limiter (shared with Airflow's sync routes), with no connect timeout: pages and Airflow's API
    hung. Now every page answers 503 naming the store, and a cheap route answers while they wait."""
    assert state.POSTGRES_CONNECT_TIMEOUT <= 10  # the default: pages answer within about that
    url = f"postgresql+psycopg2://agentic@127.0.0.1:{silent.port}/state"
    settings = AppSettings(signing_secret="s", store=lambda: StateStore(url))
    paths = ["/models", "/models/fraud-detector", "/approvals", "/api/approvals"] * 2 + [
        "/models/fraud-detector/decisions/1"
    ]
    with served(settings) as base:
        waiting = [_in_background(f"{base}/agentic-mlops{path}", timeout=90) for path in paths]
        silent.wait_for_connections(1)  # the pages wait on the silent store now
        # answered in milliseconds unless it waits for the pages: a bound far under the store's connect timeout
        assert _get(f"{base}/cheap", timeout=5) == (200, '"ok"')
        for thread, _ in waiting:
            thread.join(90)
    for path, (_, answer) in zip(paths, waiting, strict=True):
        status, page = answer["result"]
        assert status == 503, (path, page)
        assert "state store" in page and "unavailable" in page and "timeout expired" in page, (path, page)


@pytest.mark.timeout(120, method="thread")
def test_an_artifact_from_an_mlflow_server_that_never_answers_is_a_504_naming_it(
    readable: None, silent: SilentServer, sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's client waits 120 s per attempt and retries: the artifact route gives up after its own bound with
    a 504 naming the artifact, the MLflow connection and what to check, and the app keeps answering."""
    monkeypatch.setattr(reports, "ARTIFACT_FETCH_TIMEOUT", 2)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", f"http://127.0.0.1:{silent.port}")
    report = "runs:/0123456789abcdef/drift/f/drift_report.html"
    seed_history(sqlite_store, report_uri=report)
    from urllib.parse import quote

    with served(AppSettings(signing_secret="s", store=sqlite_store)) as base:
        thread, answer = _in_background(
            f"{base}/agentic-mlops/models/fraud-detector/artifact?uri={quote(report, safe='')}", timeout=90
        )
        silent.wait_for_connections(1)
        assert _get(f"{base}/cheap", timeout=30) == (200, '"ok"')
        thread.join(90)
    status, page = answer["result"]
    assert status == 504, page
    assert report in page and "agentic_mlops_mlflow_registry" in page and "no answer" in page
