"""RetrainOperator against a real MLflow server (HTTP) and the SQLite state store."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from tests.doubles.airflow_task import task_context
from tests.doubles.mlflow_server import register_tiny_classifier

TRAIN = "tests.doubles.mlflow_server:train_tiny_classifier"


@pytest.fixture
def env(airflow_home, mlflow_server, monkeypatch):
    for conn_id in ("agentic_mlops_mlflow_registry", "agentic_mlops_mlflow_train", "agentic_mlops_mlflow_promote"):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", f'{{"conn_type": "agentic_mlops_mlflow", "host": "{mlflow_server}"}}'
        )
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    return {"url": mlflow_server, "store": StateStoreHook().get_store(), "model": f"m-{uuid.uuid4().hex[:8]}"}


def _client(url):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=url, registry_uri=url)


def _op(env, **kwargs):
    from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator

    params = {
        "task_id": "retrain",
        "model_name": env["model"],
        "python_callable": TRAIN,
        "cooldown_hours": 0,
        "max_retrains": 100,
        "poll_interval": 0.2,
    }
    params.update(kwargs)
    if "trigger_dag_id" in kwargs:
        params.pop("python_callable")
    return RetrainOperator(**params)


def _ctx(run_id="manual__1", decision_id=7, dag_id="agentic_mlops__m"):
    return task_context(dag_id=dag_id, run_id=run_id, xcoms={("decide", "decision_id"): decision_id})


def test_callable_backend_registers_a_challenger_tagged_with_run_and_decision(env):
    result = _op(env).execute(_ctx())

    assert set(result) == {"job_id", "model_name", "registered_model", "version", "mlflow_run_id", "attached"}
    assert result["attached"] is False and result["registered_model"] == env["model"]
    client = _client(env["url"])
    challenger = client.get_model_version_by_alias(env["model"], "challenger")
    assert challenger.version == result["version"]
    assert challenger.tags["agentic_mlops.job_id"] == str(result["job_id"])
    assert challenger.tags["agentic_mlops.dag_run_id"] == "manual__1"
    assert challenger.tags["agentic_mlops.decision_id"] == "7"
    job = env["store"].get_job(result["job_id"])
    assert job["status"] == "succeeded" and job["decision_id"] == 7
    assert job["result"]["version"] == result["version"]


def test_a_job_records_its_task_instance_so_readers_can_tell_a_deleted_run(env):
    assert env["store"].get_job(_op(env).execute(_ctx())["job_id"])["details"]["task_map_index"] == -1
    mapped = _ctx("manual__2")
    mapped["ti"].map_index = 3  # a mapped RetrainOperator's copy
    assert env["store"].get_job(_op(env).execute(mapped)["job_id"])["details"]["task_map_index"] == 3


@pytest.fixture
def auth_mlflow(env, monkeypatch) -> Iterator[dict[str, Any]]:
    """An MLflow that requires credentials: a basic-auth proxy in front of the real server, with the
    connection ``auth_train`` (login, password, ``train`` access) and the requests it refused."""
    good = "Basic " + base64.b64encode(b"trainer:s3cret").decode()
    refused: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _forward(self) -> None:
            if self.headers.get("Authorization") != good:
                refused.append(f"{self.command} {self.path}")
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            length = int(self.headers.get("Content-Length") or 0)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
            request = urllib.request.Request(
                env["url"] + self.path, data=self.rfile.read(length) if length else None, method=self.command
            )
            for key, value in headers.items():
                request.add_header(key, value)
            try:
                with urllib.request.urlopen(request) as response:
                    status, body, kind = response.status, response.read(), response.headers.get("Content-Type", "")
            except urllib.error.HTTPError as err:
                status, body, kind = err.code, err.read(), err.headers.get("Content-Type", "")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815 - http.server's names

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    connection = {"conn_type": "agentic_mlops_mlflow", "host": url, "login": "trainer", "password": "s3cret"}
    monkeypatch.setenv("AIRFLOW_CONN_AUTH_TRAIN", json.dumps({**connection, "extra": {"access": "train"}}))
    try:
        yield {"conn_id": "auth_train", "refused": refused}
    finally:
        server.shutdown()


def test_training_callable_runs_with_the_connections_credentials(env, auth_mlflow):
    result = _op(env, mlflow_conn_id=auth_mlflow["conn_id"]).execute(_ctx())

    assert auth_mlflow["refused"] == []
    assert _client(env["url"]).get_model_version_by_alias(env["model"], "challenger").version == result["version"]
    assert env["store"].get_job(result["job_id"])["status"] == "succeeded"


def test_callable_may_be_given_as_a_function(env):
    from tests.doubles.mlflow_server import train_tiny_classifier

    result = _op(env, python_callable=train_tiny_classifier, decision_task_id=None).execute(_ctx())
    version = _client(env["url"]).get_model_version(env["model"], result["version"])
    assert "agentic_mlops.decision_id" not in version.tags


def test_second_trigger_attaches_to_the_running_job_and_returns_its_version(env):
    from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator

    second_is_waiting = threading.Event()
    calls = []

    def slow_training(**kwargs):
        calls.append(kwargs["tags"]["agentic_mlops.job_id"])
        assert second_is_waiting.wait(60), "the second trigger never attached"
        return register_tiny_classifier(kwargs["tracking_uri"], kwargs["registered_model"], tags=kwargs["tags"])

    class Observed(RetrainOperator):
        def _attach(self, job, context):
            second_is_waiting.set()
            return super()._attach(job, context)

    first = Observed(
        task_id="retrain", model_name=env["model"], python_callable=slow_training, cooldown_hours=0, poll_interval=0.2
    )
    second = Observed(
        task_id="retrain", model_name=env["model"], python_callable=slow_training, cooldown_hours=0, poll_interval=0.2
    )
    results = {}
    t1 = threading.Thread(target=lambda: results.__setitem__("first", first.execute(_ctx("scheduled__1"))))
    t1.start()
    while env["store"].inflight_job(env["model"]) is None and t1.is_alive():
        threading.Event().wait(0.05)
    results["second"] = second.execute(_ctx("manual__2"))
    t1.join(120)

    assert len(calls) == 1, "only one training ran"
    assert results["first"]["version"] == results["second"]["version"]
    assert results["first"]["attached"] is False and results["second"]["attached"] is True
    assert results["first"]["job_id"] == results["second"]["job_id"]
    assert len(env["store"].list_jobs(env["model"])) == 1
    assert len(_client(env["url"]).search_model_versions(f"name = '{env['model']}'")) == 1


def test_attaching_to_a_job_that_fails_raises_its_error(env):
    store = env["store"]
    job, _ = store.start_job(env["model"], dag_id="other", run_id="r0")
    threading.Timer(0.5, lambda: store.finish_job(job["id"], status="failed", error="OOM in training")).start()
    with pytest.raises(RuntimeError, match="OOM in training"):
        _op(env).execute(_ctx())


def test_stale_job_of_a_dead_worker_is_failed_and_a_new_job_starts(env):
    from airflow_provider_agentic_mlops.core.schema import jobs
    from airflow_provider_agentic_mlops.core.state import utcnow

    store = env["store"]
    dead, _ = store.start_job(env["model"], dag_id="other", run_id="r0")
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(jobs).where(jobs.c.id == dead["id"]).values(heartbeat_at=utcnow() - timedelta(minutes=30))
        )

    result = _op(env, heartbeat_timeout=10).execute(_ctx())

    assert result["attached"] is False and result["job_id"] != dead["id"]
    dead_now = store.get_job(dead["id"])
    assert dead_now["status"] == "failed" and "presumed dead" in dead_now["error"]


def test_a_new_try_after_a_scheduler_restart_supersedes_the_earlier_tries_job_without_spending_the_budget_twice(env):
    """A scheduler restart re-queues the in-flight retrain (orphaned task, try 2): the new try fails the job the
    earlier try left and trains. The run spends one unit of the budget, not two; with max_retrains=1 the new
    try was refused by its own run's earlier job."""
    store = env["store"]
    earlier, _ = store.start_job(env["model"], dag_id="agentic_mlops__m", run_id="manual__1")  # try 1's job

    result = _op(env, max_retrains=1, budget_window_hours=24).execute(_ctx())

    assert result["attached"] is False and result["job_id"] != earlier["id"]
    superseded = store.get_job(earlier["id"])
    assert superseded["status"] == "failed" and "superseded by a new try of the same task" in superseded["error"]
    assert store.retrains_since(env["model"], since=earlier["started_at"]) == (
        1,
        store.get_job(result["job_id"])["started_at"],
    )


def test_retrain_inside_cooldown_is_refused_with_the_reason(env):
    from airflow_provider_agentic_mlops.operators.retrain import RetrainBudgetExceeded

    store = env["store"]
    job, _ = store.start_job(env["model"], dag_id="d", run_id="earlier")
    store.finish_job(job["id"], status="succeeded", result={"version": "1"})
    with pytest.raises(RetrainBudgetExceeded, match="cooldown"):
        _op(env, cooldown_hours=24).execute(_ctx())
    assert store.inflight_job(env["model"]) is None
    assert store.audit_trail(env["model"])[0]["action"] == "retrain_refused"


def test_retrain_beyond_max_retrains_in_window_is_refused(env):
    from airflow_provider_agentic_mlops.operators.retrain import RetrainBudgetExceeded

    store = env["store"]
    for i in range(2):
        job, _ = store.start_job(env["model"], dag_id="d", run_id=f"r{i}")
        store.finish_job(job["id"], status="failed", error="x")  # failed retrains cost money too
    with pytest.raises(RetrainBudgetExceeded, match="budget exhausted: 2 retrains"):
        _op(env, max_retrains=2, budget_window_hours=24).execute(_ctx())


def test_failing_training_fails_the_job_and_does_not_block_the_model(env):
    def broken(**_):
        raise RuntimeError("data source unreachable")

    with pytest.raises(RuntimeError, match="data source unreachable"):
        _op(env, python_callable=broken).execute(_ctx())
    assert env["store"].inflight_job(env["model"]) is None
    assert env["store"].list_jobs(env["model"])[0]["error"].endswith("data source unreachable")
    assert _op(env).execute(_ctx("manual__2"))["attached"] is False


def test_training_callable_breaking_the_contract_is_named_in_the_error(env):
    with pytest.raises(ValueError, match="training callable contract"):
        _op(env, python_callable=lambda **_: {"model": "x"}).execute(_ctx())
    assert env["store"].list_jobs(env["model"])[0]["status"] == "failed"


@pytest.mark.parametrize("registers_as", ["another name", "the champion's version"])
def test_training_returning_a_version_its_run_did_not_register_fails_and_leaves_the_champion_alone(env, registers_as):
    from tests.doubles.mlflow_server import train_tiny_classifier

    champion = register_tiny_classifier(env["url"], env["model"], seed=3)
    client = _client(env["url"])
    client.set_registered_model_alias(env["model"], "champion", champion["version"])

    def train(**kwargs):
        if registers_as == "another name":  # its version 1 is the champion's number
            return train_tiny_classifier(**{**kwargs, "registered_model": f"{env['model']}-dev"})
        return {**train_tiny_classifier(**kwargs), "version": champion["version"]}

    with pytest.raises(ValueError) as raised:
        _op(env, python_callable=train).execute(_ctx())

    message = str(raised.value)
    assert f"version 1 of {env['model']!r} was registered from run {champion['run_id']!r}" in message
    assert "another registered-model name" in message
    assert env["store"].list_jobs(env["model"])[0]["status"] == "failed"
    versions = {v.version: v for v in client.search_model_versions(f"name = '{env['model']}'")}
    assert "agentic_mlops.job_id" not in versions["1"].tags  # the champion is not tagged as this job's
    assert "challenger" not in client.get_registered_model(env["model"]).aliases


def test_read_only_registry_connection_cannot_retrain(env):
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowAccessError

    with pytest.raises(MlflowAccessError, match="agentic_mlops_mlflow_registry"):
        _op(env, mlflow_conn_id="agentic_mlops_mlflow_registry").execute(_ctx())
    assert env["store"].list_jobs(env["model"]) == []


def test_constructor_refuses_both_or_neither_backend():
    from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator

    with pytest.raises(ValueError, match="exactly one of trigger_dag_id"):
        RetrainOperator(task_id="r", model_name="m")
    with pytest.raises(ValueError, match="'module:function'"):
        RetrainOperator(task_id="r", model_name="m", python_callable="no_colon")


# -- trigger_dag_id backend: the deferral, tested in-process -----------------------------------


def test_dag_backend_triggers_the_training_dag_with_job_tags_and_waits_deferrably(env):
    from airflow.sdk.exceptions import DagRunTriggerException

    op = _op(env, trigger_dag_id="train_m", conf={"train_data": "/d.parquet"})
    with pytest.raises(DagRunTriggerException) as raised:
        op.execute(_ctx())
    drte = raised.value
    job = env["store"].inflight_job(env["model"])
    assert drte.trigger_dag_id == "train_m"
    assert drte.wait_for_completion is True and drte.deferrable is True
    assert drte.dag_run_id == job["external_ref"]
    assert drte.conf["train_data"] == "/d.parquet"
    assert drte.conf["tags"]["agentic_mlops.job_id"] == str(job["id"])
    assert drte.conf["registered_model"] == env["model"]


def test_dag_backend_first_wait_polls_often_since_airflow_gives_it_no_timeout(env):
    # a run deleted before that wait's first poll holds the task until a clear: the window is kept short (the
    # wait for the run's end, bounded by `timeout`, polls at poll_interval)
    from airflow.sdk.exceptions import DagRunTriggerException

    with pytest.raises(DagRunTriggerException) as raised:
        _op(env, trigger_dag_id="train_m", poll_interval=30).execute(_ctx())
    assert raised.value.poke_interval == 5


def test_dag_backend_training_run_ids_of_a_new_state_store_do_not_repeat_the_earlier_stores(env, tmp_path, monkeypatch):
    """Job ids restart at 1 in a new state store while Airflow keeps the training runs the old store's jobs
    triggered: each job's run id carries its token, so the new store's job 1 names a new run."""
    from airflow.sdk.exceptions import DagRunTriggerException

    monkeypatch.setenv(
        "AIRFLOW_CONN_NEW_STATE",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": f"sqlite:///{tmp_path / 'new.db'}"}}),
    )
    triggered = []
    for state_conn_id in ("agentic_mlops_state_default", "new_state"):  # the old store, then its replacement
        with pytest.raises(DagRunTriggerException) as raised:
            _op(env, trigger_dag_id="train_m", state_conn_id=state_conn_id).execute(_ctx())
        triggered.append((raised.value.dag_run_id, raised.value.conf["tags"]))
    (old_run, old_tags), (new_run, new_tags) = triggered
    assert old_tags["agentic_mlops.job_id"] == new_tags["agentic_mlops.job_id"] == "1"
    assert old_run != new_run
    for run_id, tags in triggered:
        assert run_id == f"retrain__{env['model']}__job1__{tags['agentic_mlops.job_token'][:12]}"


def test_dag_backend_resumes_a_job_of_the_earlier_release_by_its_own_training_run_id(env):
    """A job that triggered its run under the earlier id form (no token in it) is waited on and completed by
    that id, which it keeps in its external_ref."""
    from airflow.providers.standard.triggers.external_task import DagStateTrigger
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_agentic_mlops.core.retraining import new_job_details

    store = env["store"]
    details = new_job_details(backend="trigger_dag", trigger_dag_id="train_m", timeout_minutes=120)
    job, _ = store.start_job(env["model"], dag_id="agentic_mlops__m", run_id="manual__1", details=details)
    old_form = f"retrain__{env['model']}__job{job['id']}"
    store.heartbeat_job(job["id"], external_ref=old_form)

    ctx = _ctx()
    ctx["ti"].dag_runs.add(("train_m", old_form))
    with pytest.raises(TaskDeferred) as deferred:  # the task's retry after the upgrade
        _op(env, trigger_dag_id="train_m").execute(ctx)
    assert isinstance(deferred.value.trigger, DagStateTrigger) and deferred.value.trigger.run_ids == [old_form]
    tags = {"agentic_mlops.job_token": details["job_token"], "agentic_mlops.job_id": str(job["id"])}
    trained = register_tiny_classifier(env["url"], env["model"], tags=tags)
    result = _op(env, trigger_dag_id="train_m").execute_complete(_ctx(), event=_event(old_form, "success"))
    assert result["version"] == trained["version"] and store.get_job(job["id"])["status"] == "succeeded"


def test_dag_backend_retry_triggers_again_a_training_run_the_failed_try_never_created(env):
    """Try 1's trigger failed (e.g. the API server's 404 for a DAG id it does not know) after the job named its
    run; up_for_retry runs no failure callback, so try 2 finds the job running with that run id. It triggers the
    run again, same id and job, instead of waiting the whole timeout on a run that does not exist."""
    from airflow.sdk.exceptions import DagRunTriggerException, TaskDeferred

    with pytest.raises(DagRunTriggerException) as first:
        _op(env, trigger_dag_id="train_m", retries=1).execute(_ctx())
    job = env["store"].inflight_job(env["model"])

    with pytest.raises(DagRunTriggerException) as again:  # try 2: Airflow has no such run
        _op(env, trigger_dag_id="train_m", retries=1).execute(_ctx())
    assert again.value.trigger_dag_id == "train_m" and again.value.dag_run_id == first.value.dag_run_id
    assert again.value.conf["tags"] == first.value.conf["tags"]
    assert env["store"].inflight_job(env["model"])["id"] == job["id"]

    ctx = _ctx()
    ctx["ti"].dag_runs.add(("train_m", first.value.dag_run_id))
    with pytest.raises(TaskDeferred):  # try 3: this time the run was created, so it is waited on
        _op(env, trigger_dag_id="train_m", retries=2).execute(ctx)


def _event(run_id, state):
    return ("airflow.providers.standard.triggers.external_task.DagStateTrigger", {"run_ids": [run_id], run_id: state})


def test_dag_backend_finds_the_version_by_job_tag_when_the_training_run_succeeds(env):
    from airflow.sdk.exceptions import DagRunTriggerException

    op = _op(env, trigger_dag_id="train_m")
    with pytest.raises(DagRunTriggerException) as raised:
        op.execute(_ctx())
    register_tiny_classifier(env["url"], env["model"], seed=1)  # an unrelated version registered meanwhile
    trained = register_tiny_classifier(env["url"], env["model"], tags=raised.value.conf["tags"])

    result = _op(env, trigger_dag_id="train_m").execute_complete(
        _ctx(), event=_event(raised.value.dag_run_id, "success")
    )

    assert result["version"] == trained["version"] and result["attached"] is False
    assert _client(env["url"]).get_model_version_by_alias(env["model"], "challenger").version == trained["version"]
    assert env["store"].get_job(result["job_id"])["status"] == "succeeded"


def test_dag_backend_ignores_a_version_of_another_deployment_with_the_same_job_id(env):
    from airflow.sdk.exceptions import DagRunTriggerException

    with pytest.raises(DagRunTriggerException) as raised:
        _op(env, trigger_dag_id="train_m").execute(_ctx())
    tags = raised.value.conf["tags"]
    trained = register_tiny_classifier(env["url"], env["model"], tags=tags)
    # staging shares the registry and is on the same job id, with its own job token; it registers later
    staging_tags = {**tags, "agentic_mlops.job_token": "staging", "agentic_mlops.dag_run_id": "scheduled__staging"}
    staging = register_tiny_classifier(env["url"], env["model"], seed=1, tags=staging_tags)

    result = _op(env, trigger_dag_id="train_m").execute_complete(
        _ctx(), event=_event(raised.value.dag_run_id, "success")
    )

    assert result["version"] == trained["version"]
    staging_version = _client(env["url"]).get_model_version(env["model"], staging["version"])
    assert staging_version.tags["agentic_mlops.dag_run_id"] == "scheduled__staging"


def test_dag_backend_training_that_sets_only_the_job_id_tag_fails_naming_the_job_token(env):
    from airflow.sdk.exceptions import DagRunTriggerException

    with pytest.raises(DagRunTriggerException) as raised:
        _op(env, trigger_dag_id="train_m").execute(_ctx())
    job_id = raised.value.conf["tags"]["agentic_mlops.job_id"]
    # what an old state store's job with the same id, or a training setting only the job id, leaves
    register_tiny_classifier(env["url"], env["model"], tags={"agentic_mlops.job_id": job_id})

    with pytest.raises(RuntimeError, match="registered no version.*agentic_mlops.job_token"):
        _op(env, trigger_dag_id="train_m").execute_complete(_ctx(), event=_event(raised.value.dag_run_id, "success"))
    assert env["store"].get_job(int(job_id))["status"] == "failed"
    assert _client(env["url"]).get_registered_model(env["model"]).aliases == {}


def test_dag_backend_ignores_a_tagged_version_created_before_the_job_started(env):
    from airflow_provider_agentic_mlops.core.schema import jobs

    store = env["store"]
    # a job started by a release without job tokens: matched by job id, DAG and run, and by time
    job, _ = store.start_job(env["model"], dag_id="agentic_mlops__m", run_id="manual__1", details={})
    store.heartbeat_job(job["id"], external_ref="retrain__m__job")
    tags = {"agentic_mlops.job_id": str(job["id"]), "agentic_mlops.dag_id": "agentic_mlops__m"}
    register_tiny_classifier(env["url"], env["model"], tags={**tags, "agentic_mlops.dag_run_id": "manual__1"})
    with store.engine.begin() as conn:  # the version is older than the job: an old store's job with this id
        later = job["started_at"] + timedelta(hours=1)
        conn.execute(sa.update(jobs).where(jobs.c.id == job["id"]).values(started_at=later))

    with pytest.raises(RuntimeError, match="registered no version"):
        _op(env, trigger_dag_id="train_m").execute_complete(_ctx(), event=_event("retrain__m__job", "success"))
    assert store.get_job(job["id"])["status"] == "failed"


def test_dag_backend_failed_training_run_fails_the_job(env):
    from airflow.sdk.exceptions import DagRunTriggerException

    with pytest.raises(DagRunTriggerException) as raised:
        _op(env, trigger_dag_id="train_m").execute(_ctx())
    with pytest.raises(RuntimeError, match="ended in state 'failed'"):
        _op(env, trigger_dag_id="train_m").execute_complete(_ctx(), event=_event(raised.value.dag_run_id, "failed"))
    assert env["store"].inflight_job(env["model"]) is None


def test_dag_backend_without_a_tagged_version_fails_and_says_what_the_training_must_do(env):
    from airflow.sdk.exceptions import DagRunTriggerException

    with pytest.raises(DagRunTriggerException) as raised:
        _op(env, trigger_dag_id="train_m").execute(_ctx())
    with pytest.raises(RuntimeError, match="conf\\['tags'\\]"):
        _op(env, trigger_dag_id="train_m").execute_complete(_ctx(), event=_event(raised.value.dag_run_id, "success"))


def test_dag_backend_second_trigger_defers_on_the_running_training_run(env):
    from airflow.providers.standard.triggers.external_task import DagStateTrigger
    from airflow.sdk.exceptions import DagRunTriggerException, TaskDeferred

    with pytest.raises(DagRunTriggerException) as first:
        _op(env, trigger_dag_id="train_m").execute(_ctx("scheduled__1"))
    with pytest.raises(TaskDeferred) as deferred:
        _op(env, trigger_dag_id="train_m").execute(_ctx("manual__2"))
    trigger = deferred.value.trigger
    assert isinstance(trigger, DagStateTrigger)
    assert trigger.dag_id == "train_m" and trigger.run_ids == [first.value.dag_run_id]
    assert deferred.value.method_name == "execute_complete" and deferred.value.timeout is not None
    assert len(env["store"].list_jobs(env["model"])) == 1

    trained = register_tiny_classifier(env["url"], env["model"], tags=first.value.conf["tags"])
    attached = _op(env, trigger_dag_id="train_m").execute_complete(
        _ctx("manual__2"), event=_event(first.value.dag_run_id, "success")
    )
    owner = _op(env, trigger_dag_id="train_m").execute_complete(
        _ctx("scheduled__1"), event=_event(first.value.dag_run_id, "success")
    )
    assert attached["attached"] is True and owner["attached"] is False
    assert attached["version"] == owner["version"] == trained["version"]
    version = _client(env["url"]).get_model_version(env["model"], trained["version"])
    assert version.tags["agentic_mlops.dag_run_id"] == "scheduled__1"  # the owner's run, not the attacher's


def test_dag_backend_waits_for_the_end_of_the_training_run_with_the_remaining_timeout(env):
    from unittest import mock

    from airflow.providers.standard.triggers.external_task import DagStateTrigger
    from airflow.sdk.exceptions import DagRunTriggerException, TaskDeferred
    from airflow.sdk.execution_time import task_runner

    ctx = _ctx()
    with pytest.raises(DagRunTriggerException) as raised:
        _op(env, trigger_dag_id="train_m", timeout=60).execute(ctx)
    # Airflow's task runner triggers the run and defers with no timeout: that wait must end once the run exists
    with mock.patch.object(task_runner, "SUPERVISOR_COMMS", create=True):
        msg, _ = task_runner._handle_trigger_dag_run(raised.value, ctx, ctx["ti"], mock.MagicMock())
    assert msg.trigger_timeout is None and {"queued", "running"} <= set(msg.trigger_kwargs["states"])

    run_id = raised.value.dag_run_id
    with pytest.raises(TaskDeferred) as deferred:  # a queued run (e.g. its DAG paused) is waited on, bounded
        _op(env, trigger_dag_id="train_m", timeout=60).execute_complete(ctx, event=_event(run_id, "queued"))
    trigger = deferred.value.trigger
    assert isinstance(trigger, DagStateTrigger) and trigger.run_ids == [run_id]
    assert set(trigger.states) == {"success", "failed"}
    assert timedelta(minutes=59) < deferred.value.timeout <= timedelta(minutes=60)
    assert deferred.value.method_name == "execute_complete"


def test_dag_backend_training_run_that_never_ends_fails_the_task_and_the_job_at_timeout(env):
    from airflow.sdk.exceptions import DagRunTriggerException

    with pytest.raises(DagRunTriggerException):
        _op(env, trigger_dag_id="train_m").execute(_ctx())
    job = env["store"].inflight_job(env["model"])

    # what Airflow calls when the deferral's timeout passes (the run was deleted, or stays queued)
    expected = rf"did not end within timeout=120 minutes.*; job {job['id']} is failed.*does not stop the training run"
    with pytest.raises(RuntimeError, match=expected):
        _op(env, trigger_dag_id="train_m").resume_execution("__fail__", {"error": "Trigger timeout"}, _ctx())
    assert env["store"].get_job(job["id"])["status"] == "failed"
    assert env["store"].inflight_job(env["model"]) is None


def test_dag_backend_refuses_non_deferrable_configuration():
    from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator

    with pytest.raises(ValueError, match="deferrable"):
        RetrainOperator(task_id="r", model_name="m", trigger_dag_id="t", deferrable=False)


def test_training_in_the_task_is_bounded_by_timeout_and_a_timeout_fails_the_job(env):
    from airflow.sdk.exceptions import AirflowTaskTimeout

    op = _op(env, timeout=45)
    assert op.execution_timeout == timedelta(minutes=45)

    def hangs(**_):
        raise AirflowTaskTimeout("Timeout, PID: 1")  # what Airflow raises in the task at execution_timeout

    with pytest.raises(AirflowTaskTimeout):
        _op(env, python_callable=hangs).execute(_ctx())
    job = env["store"].list_jobs(env["model"])[0]
    assert job["status"] == "failed" and "AirflowTaskTimeout" in job["error"]
    assert env["store"].inflight_job(env["model"]) is None
