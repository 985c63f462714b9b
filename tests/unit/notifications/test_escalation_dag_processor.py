"""EscalationNotifier run by Airflow's DAG processor (a task that died without reporting): all callbacks of the
factory's file share one process killed after ``dag_file_processor_timeout``, so a notice waiting on a slow Slack
must not hold back the next tasks' liveness callbacks. Driven through Airflow's own ``_execute_callbacks``, with the
real slack_sdk client against the Slack Web API double."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url
from airflow_provider_agentic_mlops.notifications import escalation as notifications
from airflow_provider_agentic_mlops.notifications.escalation import EscalationNotifier
from airflow_provider_agentic_mlops.version_compat import called_by_dag_processor
from tests.doubles.slack_server import SlackDouble, slack_connection, slack_double  # noqa: F401

STORE = "agentic_mlops_state_default"
MODELS = ["m1", "m2", "m3", "m4", "m5", "m6"]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setattr(notifications, "_dag_processor_spent", 0.0)  # a fresh DAG processor process
    return StateStore(default_sqlite_url(tmp_path))


@pytest.fixture
def released(slack_double: SlackDouble) -> Iterator[SlackDouble]:  # noqa: F811
    yield slack_double
    slack_double.release.set()  # held calls end with the test


class _Bag:
    """The part of a DagBag that ``_execute_callbacks`` reads."""

    def __init__(self, dags: dict[str, Any]) -> None:
        self.dags = dags


def _run_dag_processor_callbacks(liveness: list[str]) -> None:
    """Airflow's DAG processor running the failure callbacks of each model's timed-out ``retrain`` task: first its
    liveness callback (recording its DAG in ``liveness``), then the failure notice, as the factory attaches them."""
    import structlog
    from airflow.callbacks.callback_requests import TaskCallbackRequest
    from airflow.dag_processing.processor import _execute_callbacks
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG
    from airflow.sdk.api.datamodels._generated import TaskInstance as TIData

    dags, requests = {}, []
    for model in MODELS:
        dag_id = f"agentic_mlops__{model}"
        with DAG(dag_id, schedule=None) as dag:
            notice = EscalationNotifier(model_name=model, channel="C_OPS", state_conn_id=STORE)
            EmptyOperator(
                task_id="retrain",
                on_failure_callback=[lambda context: liveness.append(context["ti"].dag_id), notice],
            )
        dags[dag_id] = dag
        ti = TIData(
            id=uuid.uuid4(),
            task_id="retrain",
            dag_id=dag_id,
            run_id="scheduled__2026-11-29T00:00:00+00:00",
            try_number=1,
            map_index=-1,
            dag_version_id=uuid.uuid4(),
        )
        requests.append(
            TaskCallbackRequest(
                filepath="agentic_mlops_models.py", bundle_name="dags-folder", bundle_version=None, ti=ti
            )
        )
    _execute_callbacks(_Bag(dags), requests, structlog.get_logger())


def _escalated(store: StateStore) -> list[dict[str, Any]]:
    return [e["details"] for model in MODELS for e in store.audit_trail(model) if e["action"] == "escalated"]


def test_a_slack_not_answering_costs_one_notice_then_the_rest_are_skipped_and_every_liveness_callback_runs(
    store: StateStore,
    released: SlackDouble,
    slack_connection: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notifications, "DAG_PROCESSOR_POST_TIMEOUT", 1)
    monkeypatch.setattr(notifications, "DAG_PROCESSOR_NOTICE_BUDGET", 0.5)  # spent by the first notice's timeout
    released.held_methods.add("chat.postMessage")
    liveness: list[str] = []
    _run_dag_processor_callbacks(liveness)
    assert liveness == [f"agentic_mlops__{m}" for m in MODELS]
    assert len(released.calls_to("chat.postMessage")) == 1  # no retry of the one that timed out
    details = _escalated(store)
    assert len(details) == len(MODELS)
    assert details[0]["posted"] == "unknown" and "skipped" not in details[0]
    assert all(d["posted"] is False and d["skipped"] is True for d in details[1:])
    assert all("dag_file_processor_timeout" in d["error"] for d in details[1:])


def test_a_rate_limited_slack_is_asked_once_per_notice_in_the_dag_processor(
    store: StateStore,
    released: SlackDouble,
    slack_connection: str,  # noqa: F811
) -> None:
    released.queued_answers["chat.postMessage"] = [
        (429, {"Retry-After": "30"}, {"ok": False, "error": "ratelimited"})
    ] * (3 * len(MODELS))
    liveness: list[str] = []
    _run_dag_processor_callbacks(liveness)
    assert liveness == [f"agentic_mlops__{m}" for m in MODELS]
    assert len(released.calls_to("chat.postMessage")) == len(MODELS)
    assert [(d["posted"], d["error"]) for d in _escalated(store)] == [(False, "ratelimited")] * len(MODELS)


def test_a_failure_notice_in_a_task_runner_is_not_retried_when_rate_limited(
    store: StateStore,
    released: SlackDouble,
    slack_connection: str,  # noqa: F811
) -> None:
    from tests.doubles.airflow_task import TaskInstanceDouble

    released.queued_answers["chat.postMessage"] = [
        (429, {"Retry-After": "30"}, {"ok": False, "error": "ratelimited"})
    ] * 3
    ti = TaskInstanceDouble(dag_id="agentic_mlops__m1", run_id="scheduled__1", task_id="validate")
    notice = EscalationNotifier(model_name="m1", channel="C_OPS", state_conn_id=STORE)
    notice({"ti": ti, "task_instance": ti, "run_id": "scheduled__1", "exception": RuntimeError("boom")})
    assert len(released.calls_to("chat.postMessage")) == 1
    assert [(d["posted"], d["error"]) for d in _escalated(store)] == [(False, "ratelimited")]


def test_the_notice_client_has_a_short_timeout_and_no_retries_only_in_the_dag_processor() -> None:
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler

    from airflow_provider_agentic_mlops.core.slack_http import BoundedRateLimitRetryHandler, KeepAliveWebClient

    client = KeepAliveWebClient(
        token="xoxb-t", timeout=10, retry_handlers=[BoundedRateLimitRetryHandler(), ServerErrorRetryHandler()]
    )
    short = notifications._notice_client(client, dag_processor=True)
    assert short.timeout == notifications.DAG_PROCESSOR_POST_TIMEOUT and short.retry_handlers == []
    in_task = notifications._notice_client(client, dag_processor=False)
    assert in_task.timeout == 10
    assert not any(isinstance(h, RateLimitErrorRetryHandler) for h in in_task.retry_handlers)
    assert any(isinstance(h, ServerErrorRetryHandler) for h in in_task.retry_handlers)


def test_a_callback_outside_the_dag_processor_is_not_taken_for_one() -> None:
    assert called_by_dag_processor() is False
