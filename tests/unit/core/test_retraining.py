"""core/retraining.py: a training whose job the state store no longer counts as running.

The registry here is an in-memory double of ``ChallengerRegistry`` (core is tested without MLflow);
tests/integration/test_retrain.py runs the retrain operator against a real MLflow server.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_agentic_mlops.core.retraining import Retraining
from airflow_provider_agentic_mlops.core.state import StateStore, utcnow


class RegistryDouble:
    """Aliases and version tags in dicts."""

    tracking_uri = "http://mlflow.invalid"

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.tags: dict[str, dict[str, Any]] = {}
        self.version_runs: dict[str, str] = {}  # version -> the run it was registered from
        self.parents: dict[str, str] = {}  # run -> its parent run (the mlflow.parentRunId tag)

    def set_alias(self, registered_model: str, alias: str, version: str) -> None:
        self.aliases[alias] = version

    def set_version_tags(self, registered_model: str, version: str, tags: dict[str, Any]) -> None:
        self.tags.setdefault(version, {}).update(tags)

    def search_versions_by_tag(self, registered_model: str, key: str, value: str) -> list[Any]:
        return []

    def version_run_id(self, registered_model: str, version: str) -> str | None:
        return self.version_runs.get(version, "")  # "" when not set: every run is taken for its version's

    def parent_run_id(self, run_id: str) -> str | None:
        return self.parents.get(run_id)

    @contextlib.contextmanager
    def authenticated(self) -> Iterator[None]:
        yield


def _retraining(store: StateStore) -> tuple[Retraining, RegistryDouble]:
    registry = RegistryDouble()
    return Retraining(registry=registry, store=store, model_name="m", registered_model="m"), registry


def _fail_as_stale(store: StateStore, job_id: int) -> None:
    """Another run finds the job stale while its worker stalls (a GC pause, a frozen VM)."""
    assert store.fail_stale_jobs(model_name="m", now=utcnow() + timedelta(hours=1)) == [job_id]


def test_a_training_whose_job_was_failed_as_stale_meanwhile_does_not_become_the_challenger(
    sqlite_store: StateStore,
) -> None:
    retraining, registry = _retraining(sqlite_store)
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1", details={"heartbeat_timeout_minutes": 1})

    def train(**_: Any) -> dict[str, Any]:
        _fail_as_stale(sqlite_store, job["id"])
        return {"version": "2", "run_id": "run-a"}

    with pytest.raises(RuntimeError) as raised:
        retraining.train(job, train, {}, heartbeat_every=60)

    message = str(raised.value)
    assert f"job {job['id']} was closed as failed" in message and "presumed dead" in message
    assert "version 2 of 'm' is registered but not made the challenger" in message
    assert "heartbeat_timeout" in message  # what to do
    assert "challenger" not in registry.aliases
    closed = sqlite_store.get_job(job["id"])
    assert closed["status"] == "failed" and "presumed dead" in closed["error"]  # not overwritten by this task


def test_finishing_a_job_another_task_failed_leaves_the_challenger_where_it_is(sqlite_store: StateStore) -> None:
    retraining, registry = _retraining(sqlite_store)
    registry.aliases["challenger"] = "3"  # the version of the run that retrained meanwhile
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1")
    sqlite_store.finish_job(job["id"], status="failed", error="closed by hand")

    with pytest.raises(RuntimeError, match="not made the challenger"):
        retraining.finish(job, "2", "run-a", attached=False)

    assert registry.aliases == {"challenger": "3"}


def test_finishing_a_running_job_makes_its_version_the_challenger(sqlite_store: StateStore) -> None:
    retraining, registry = _retraining(sqlite_store)
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1")

    result = retraining.finish(job, "2", "run-a", attached=False)

    assert result["version"] == "2" and registry.aliases == {"challenger": "2"}
    assert sqlite_store.get_job(job["id"])["status"] == "succeeded"


def test_the_heartbeat_of_a_job_failed_meanwhile_logs_an_error(
    sqlite_store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    retraining, _ = _retraining(sqlite_store)
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1", details={"heartbeat_timeout_minutes": 1})

    def train(**_: Any) -> dict[str, Any]:
        _fail_as_stale(sqlite_store, job["id"])
        deadline = time.monotonic() + 30
        while "is no longer running" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"version": "2", "run_id": "run-a"}

    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="not made the challenger"):
        retraining.train(job, train, {}, heartbeat_every=0.01)

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"job {job['id']} is no longer running" in e for e in errors), errors


@contextlib.contextmanager
def _store_drops_job_updates(store: StateStore, times: int) -> Iterator[list[str]]:
    """The store's connection drops on the next ``times`` updates of a job (a failover at the end of a
    training); yields the statements it refused."""
    import sqlalchemy as sa

    refused: list[str] = []

    def drop(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE AGENTIC_MLOPS_JOBS") and len(refused) < times:
            refused.append(statement)
            raise sa.exc.OperationalError(statement, {}, Exception("server closed the connection unexpectedly"))

    sa.event.listen(store.engine, "before_cursor_execute", drop)
    try:
        yield refused
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", drop)


def test_a_short_store_outage_as_the_training_ends_keeps_its_version(sqlite_store: StateStore) -> None:
    retraining, registry = _retraining(sqlite_store)
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1")

    def train(**_: Any) -> dict[str, Any]:
        return {"version": "2", "run_id": "run-a"}

    with _store_drops_job_updates(sqlite_store, times=3) as refused:
        result = retraining.train(job, train, {}, heartbeat_every=60)

    assert len(refused) == 3
    assert result["version"] == "2" and registry.aliases == {"challenger": "2"}
    closed = sqlite_store.get_job(job["id"])
    assert closed["status"] == "succeeded" and closed["result"]["version"] == "2"


def test_a_short_store_outage_as_the_training_fails_still_fails_the_job(sqlite_store: StateStore) -> None:
    retraining, _ = _retraining(sqlite_store)
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1")

    def train(**_: Any) -> dict[str, Any]:
        raise ValueError("the features table is empty")

    with _store_drops_job_updates(sqlite_store, times=3), pytest.raises(ValueError, match="features table"):
        retraining.train(job, train, {}, heartbeat_every=60)

    closed = sqlite_store.get_job(job["id"])
    assert closed["status"] == "failed" and "the features table is empty" in closed["error"]
    assert sqlite_store.inflight_job("m") is None


def test_a_challenger_alias_that_cannot_be_set_fails_the_job_so_a_clear_may_retrain(sqlite_store: StateStore) -> None:
    """The job closes before the alias moves; an MLflow failure moving it must not leave the job 'succeeded'
    (its cooldown would refuse the retrain a clear of the task asks for, and attached runs would validate a
    version that is not the challenger)."""
    from airflow_provider_agentic_mlops.core.budget import RetrainBudget

    retraining, registry = _retraining(sqlite_store)
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1")

    def unreachable(*_: Any) -> None:
        raise ConnectionError("MLflow at http://mlflow.invalid is unreachable")

    registry.set_alias = unreachable  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        retraining.train(job, lambda **_: {"version": "2", "run_id": "run-a"}, {}, heartbeat_every=60)

    closed = sqlite_store.get_job(job["id"])
    assert closed["status"] == "failed", closed
    assert "challenger" in closed["error"] and "MLflow at http://mlflow.invalid is unreachable" in closed["error"]
    retraining.enforce_budget(RetrainBudget(24, None, 24), subject="run:r2")  # no cooldown from a failed job


def test_a_successful_training_logs_no_false_job_closed_error(
    sqlite_store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The heartbeat stops before the job closes: a beat between the close and the alias move read the job
    closed and said, wrongly, that another process closed it."""
    retraining, registry = _retraining(sqlite_store)
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1")
    set_alias = registry.set_alias

    def slow_set_alias(*args: Any) -> None:  # an MLflow call slower than a heartbeat
        time.sleep(0.3)
        set_alias(*args)

    registry.set_alias = slow_set_alias  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        result = retraining.train(job, lambda **_: {"version": "2", "run_id": "run-a"}, {}, heartbeat_every=0.02)

    assert result["version"] == "2" and registry.aliases == {"challenger": "2"}
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_version_registered_by_a_nested_run_of_the_returned_run_is_accepted(sqlite_store: StateStore) -> None:
    # a hyperparameter search: the parent run is returned, its best trial (a nested run) registered the model
    retraining, registry = _retraining(sqlite_store)
    registry.version_runs["3"] = "trial-7"
    registry.parents.update({"trial-7": "search", "search": "pipeline"})
    for returned in ("trial-7", "search", "pipeline"):
        job, _ = sqlite_store.start_job("m", dag_id="d", run_id=f"r-{returned}")
        train = lambda returned=returned, **_: {"version": "3", "run_id": returned}  # noqa: E731
        assert retraining.train(job, train, {}, heartbeat_every=60)["mlflow_run_id"] == returned
        assert sqlite_store.get_job(job["id"])["status"] == "succeeded" and registry.aliases["challenger"] == "3"


def test_a_version_of_another_run_is_refused_saying_whose_it_is(sqlite_store: StateStore) -> None:
    retraining, registry = _retraining(sqlite_store)
    registry.version_runs["1"] = "trial-2"
    registry.parents.update({"trial-2": "other-search", "mine": "pipeline"})
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1")
    with pytest.raises(ValueError) as raised:
        retraining.train(job, lambda **_: {"version": "1", "run_id": "mine"}, {}, heartbeat_every=60)
    message = str(raised.value)
    assert "version 1 of 'm' was registered from run 'trial-2', not the returned run 'mine'" in message
    assert "a nested run of another parent? another registered-model name?" in message
    assert "challenger" not in registry.aliases and sqlite_store.get_job(job["id"])["status"] == "failed"


def test_a_cycle_of_parent_tags_ends_the_walk(sqlite_store: StateStore) -> None:
    retraining, registry = _retraining(sqlite_store)
    registry.version_runs["1"] = "a"
    registry.parents.update({"a": "b", "b": "a"})
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1")
    with pytest.raises(ValueError, match="not the returned run 'c'"):
        retraining.train(job, lambda **_: {"version": "1", "run_id": "c"}, {}, heartbeat_every=60)


def test_a_new_try_is_not_refused_for_the_job_its_own_run_left_failed_as_stale(sqlite_store: StateStore) -> None:
    """max_retrains 1: a reader failed the crashed try's job as stale before the new try ran. That job is the run's
    own: the new try may retrain (its job takes the run's one unit); another run is refused."""
    from airflow_provider_agentic_mlops.core.budget import RetrainBudget
    from airflow_provider_agentic_mlops.core.retraining import RetrainBudgetExceeded

    retraining, _ = _retraining(sqlite_store)
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1")
    _fail_as_stale(sqlite_store, job["id"])
    budget = RetrainBudget(None, 1, 24)
    retraining.enforce_budget(budget, subject="task:retrain", run=("d", "r1"))
    with pytest.raises(RetrainBudgetExceeded, match="retrain refused"):
        retraining.enforce_budget(budget, subject="task:retrain", run=("d", "r2"))


@pytest.mark.parametrize(
    ("budget", "runs", "advice"),
    [
        ((1, None, 24), 1, "To allow it sooner, lower cooldown_hours (the operator's argument, or decision."),
        ((None, 1, 24), 1, "raise max_retrains or shorten budget_window_hours (the operator's argument, or decision."),
    ],
)
def test_a_refused_retrain_names_only_the_setting_that_would_allow_it_sooner(
    sqlite_store: StateStore, budget: tuple[Any, ...], runs: int, advice: str
) -> None:
    """A cooldown is shortened by lowering cooldown_hours (raising it makes the wait longer); the budget by raising
    max_retrains or shortening its window. A hand-written DAG sets them as the operator's arguments."""
    from airflow_provider_agentic_mlops.core.budget import RetrainBudget
    from airflow_provider_agentic_mlops.core.retraining import RetrainBudgetExceeded

    retraining, _ = _retraining(sqlite_store)
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1")
    sqlite_store.finish_job(job["id"], status="succeeded", result={"version": "1"})
    with pytest.raises(RetrainBudgetExceeded) as refused:
        retraining.enforce_budget(RetrainBudget(*budget), subject="task:retrain", run=("d", "r2"))
    message = str(refused.value)
    assert advice in message and "next allowed at" in message, message
    assert "raise decision.cooldown_hours" not in message and "raise cooldown_hours" not in message, message
    if budget[0] is None:
        assert "cooldown_hours" not in message, message
    else:
        assert "max_retrains" not in message, message


def test_a_training_run_past_its_timeout_is_named_as_still_running_and_its_job_says_why(
    sqlite_store: StateStore,
) -> None:
    """The deferral on the training run ends at started_at + timeout, the moment the job turns stale: the task's
    error still names the training run (which Airflow keeps running) and how to stop it, and the job records the
    timeout, not a generic 'presumed lost'."""
    from airflow_provider_agentic_mlops.core.schema import jobs

    retraining, _ = _retraining(sqlite_store)
    details = {"timeout_minutes": 1, "heartbeat_timeout_minutes": None, "backend": "trigger_dag"}
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1", details=details)
    sqlite_store.heartbeat_job(job["id"], external_ref="retrain__m__job1__abc")
    with sqlite_store.engine.begin() as conn:  # the deferral's timeout passed: the job is past its timeout too
        conn.execute(
            sa.update(jobs).where(jobs.c.id == job["id"]).values(started_at=job["started_at"] - timedelta(minutes=2))
        )

    error = retraining.training_run_timed_out("train_m", 1, "d", "r1")

    message = str(error)
    assert f"job {job['id']}" in message and "'retrain__m__job1__abc'" in message, message
    assert "still running" in message and "mark" in message.lower(), message
    failed = sqlite_store.get_job(job["id"])
    assert failed["status"] == "failed" and "did not end within" in failed["error"], failed["error"]
    assert "retrain__m__job1__abc" in failed["error"], failed["error"]


def test_a_training_run_that_registered_two_versions_of_its_job_fails_naming_both(sqlite_store: StateStore) -> None:
    """As the python_callable backend refuses a version its run did not register, the DAG backend refuses to guess
    which of two versions tagged with the job's token is the training's: neither becomes the challenger."""
    from types import SimpleNamespace

    retraining, registry = _retraining(sqlite_store)
    job, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1", details={"job_token": "tok"})
    now_ms = time.time() * 1000
    versions = [SimpleNamespace(version=v, run_id=f"run{v}", creation_timestamp=now_ms, tags={}) for v in ("8", "7")]
    registry.search_versions_by_tag = lambda *_: versions  # type: ignore[method-assign]

    with pytest.raises(RuntimeError, match="registered 2 versions.*8.*7.*exactly one"):
        retraining.finish_training_run(job, "retrain__m__job1", "success", training_dag="train_m", attached=False)

    failed = sqlite_store.get_job(job["id"])
    assert failed["status"] == "failed" and "8" in failed["error"] and "7" in failed["error"], failed["error"]
    assert registry.aliases == {}


def test_a_version_the_timed_out_jobs_training_registers_late_is_never_the_next_jobs(sqlite_store: StateStore) -> None:
    """The overlap of a timed-out training run and the next retrain: the late version carries the old job's token,
    so the next job's training run, which registered nothing, fails instead of taking it as its challenger."""
    from types import SimpleNamespace

    retraining, registry = _retraining(sqlite_store)
    old, _ = sqlite_store.start_job("m", dag_id="d", run_id="r1", details={"job_token": "old"})
    sqlite_store.finish_job(old["id"], status="failed", error="training run did not end within 1 min")
    new, _ = sqlite_store.start_job("m", dag_id="d", run_id="r2", details={"job_token": "new"})
    late = SimpleNamespace(version="5", run_id="run5", creation_timestamp=time.time() * 1000, tags=retraining.tags(old))
    registry.search_versions_by_tag = lambda _m, key, value: [late] if late.tags.get(key) == value else []  # type: ignore[method-assign]

    assert retraining.registered_by(new) == []
    with pytest.raises(RuntimeError, match="registered no version"):
        retraining.finish_training_run(new, "retrain__m__job2", "success", training_dag="train_m", attached=False)
    assert registry.aliases == {}


def test_starting_within_the_budget_attaches_to_a_running_job_and_refuses_after_a_failed_one(store_url: str) -> None:
    """Retraining.start_job, the operator's one locked step: a running job of another run is attached to whatever
    the budget (as before the check), a failed one counts against it: refused, audited, no second job."""
    from airflow_provider_agentic_mlops.core.budget import RetrainBudget
    from airflow_provider_agentic_mlops.core.retraining import RetrainBudgetExceeded

    store = StateStore(store_url)
    retraining, _ = _retraining(store)
    budget = RetrainBudget(24, 1, 168)
    job, created = retraining.start_job(budget, "task:retrain", run=("d", "r1"), details={"job_token": "t1"})
    assert created and job["details"] == {"job_token": "t1"}
    attached, created = retraining.start_job(budget, "task:retrain", run=("d", "r2"))
    assert not created and attached["id"] == job["id"]
    store.finish_job(job["id"], status="failed", error="training failed at once")
    with pytest.raises(RetrainBudgetExceeded, match="retrain refused, retrain budget exhausted: 1 retrains"):
        retraining.start_job(budget, "task:retrain", run=("d", "r2"))
    assert [j["id"] for j in store.list_jobs("m")] == [job["id"]]
    refused = [e for e in store.audit_trail("m") if e["action"] == "retrain_refused"]
    assert len(refused) == 1 and refused[0]["subject"] == "task:retrain"
    # its own run's failed job does not count: a new try of r1 starts
    assert retraining.start_job(budget, "task:retrain", run=("d", "r1"))[1]
    store.dispose()


def test_a_start_waits_for_another_start_of_the_model_to_commit(store_url: str) -> None:
    """The budget check and the insert hold the model's lock: a start that comes while another one is between
    its check and its insert waits for it, then sees its job (and attaches to it), instead of checking too."""
    import threading

    from airflow_provider_agentic_mlops.core.budget import RetrainBudget

    store = StateStore(store_url)
    retraining, _ = _retraining(store)
    budget = RetrainBudget(None, 1, 168)
    in_check, release = threading.Event(), threading.Event()
    check = RetrainBudget.check
    checks: list[str] = []

    def paused_check(self: RetrainBudget, *args: Any, **kwargs: Any) -> Any:
        checks.append(threading.current_thread().name)
        result = check(self, *args, **kwargs)
        if threading.current_thread().name == "first":
            in_check.set()
            release.wait(10)
        return result

    results: dict[str, tuple[dict[str, Any], bool]] = {}

    def start(name: str) -> None:
        results[name] = retraining.start_job(budget, "task:retrain", run=("d", name))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RetrainBudget, "check", paused_check)
        first = threading.Thread(target=start, args=("first",), name="first")
        first.start()
        assert in_check.wait(30)
        second = threading.Thread(target=start, args=("second",), name="second")
        second.start()
        time.sleep(1)
        assert "second" not in results, "the second start did not wait for the first's lock"
        release.set()
        first.join(30)
        second.join(30)
    assert results["first"][1] and not results["second"][1]
    assert results["second"][0]["id"] == results["first"][0]["id"]
    assert checks == ["first"], "the second start saw the first's running job: it attaches without a check"
    store.dispose()
