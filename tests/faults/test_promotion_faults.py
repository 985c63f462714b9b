"""Promotion under faults, against a real MLflow server and PostgreSQL: a crash after each step, and
MLflow down while promoting. Each ends with the same complete state in MLflow and the state store."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_agentic_mlops.core.promotion import PROMOTION_STEPS
from tests.doubles.airflow_task import task_context

DAG_ID, RUN_ID = "agentic_mlops__faults", "manual__faults"
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


class Crash(BaseException):
    """The task process died here (BaseException: nothing in the operator may catch it)."""


def _approve(store: Any, env: dict) -> dict:
    from airflow_provider_agentic_mlops.core.state import utcnow

    approval, _ = store.request_approval(
        env["model"], env["new"], dag_id=DAG_ID, run_id=RUN_ID, expires_at=utcnow() + timedelta(hours=1)
    )
    return store.decide_approval(approval["id"], approve=True, user="alice", via="cli").approval


def _try_promote(env: dict) -> dict:
    """One try of the promote task as Airflow runs it: execute, then (success recorded) the callbacks.
    A skipped try (nothing left to do, no Asset event) is ``{"skipped": <reason>}``."""
    from airflow_provider_agentic_mlops.operators.promote import PromoteOperator
    from airflow_provider_agentic_mlops.version_compat import AirflowSkipException

    op = PromoteOperator(task_id="promote", model_name=env["model"], validate_task_id=None)
    ctx = task_context(dag_id=DAG_ID, run_id=RUN_ID, xcoms={("retrain", "return_value"): {"version": env["new"]}})
    ctx["outlet_events"] = defaultdict(SimpleNamespace)
    try:
        result = op.execute(ctx)
    except AirflowSkipException as skipped:  # Airflow runs no success callback and records no Asset event
        return {"skipped": str(skipped)}
    for callback in op.on_success_callback:
        callback({**ctx, "task": op})
    return result


def _end_state(store: Any, env: dict) -> dict:
    client = env["server"].client()
    model = env["model"]
    tags = client.get_model_version(model, env["new"]).tags
    (promotion,) = store.list_promotions(model)
    return {
        "aliases": dict(client.get_registered_model(model).aliases),
        "approved_by": tags.get("agentic_mlops.approved_by"),
        "promoted_at": tags.get("agentic_mlops.promoted_at"),
        "promoted_audit_entries": [a["action"] for a in store.audit_trail(model)].count("promoted"),
        "promotion": (promotion["status"], promotion["steps"]),
        "intent_time": promotion["started_at"].replace(tzinfo=timezone.utc).isoformat(),  # naive UTC stored
    }


def _assert_complete(state: dict, env: dict) -> None:
    assert state["aliases"] == {"champion": env["new"], "previous_champion": env["old"]}
    assert state["approved_by"] == "alice" and state["promoted_at"] == state["intent_time"]
    assert state["promoted_audit_entries"] == 1
    assert state["promotion"] == ("completed", list(PROMOTION_STEPS))


@pytest.mark.parametrize("step", PROMOTION_STEPS)
def test_a_crash_after_each_promotion_step_is_completed_by_the_retry(
    pg_store: Any, registry_env: dict, step: str
) -> None:
    _approve(pg_store, registry_env)
    real_mark = pg_store.mark_promotion_step

    def mark_then_die(promotion_id: int, done: str, **kwargs: Any) -> dict:
        result = real_mark(promotion_id, done, **kwargs)
        if done == step:
            raise Crash(f"SIGKILL after {done}")
        return result

    with pytest.MonkeyPatch.context() as dying, pytest.raises(Crash):
        dying.setattr(type(pg_store), "mark_promotion_step", lambda self, *a, **k: mark_then_die(*a, **k))
        _try_promote(registry_env)
    retry = _try_promote(registry_env)
    # only a crash after the Asset event was recorded leaves nothing to do: that retry is skipped, sending no second
    assert ("skipped" in retry) is (step == PROMOTION_STEPS[-1]), retry
    _assert_complete(_end_state(pg_store, registry_env), registry_env)


def test_mlflow_down_during_promote_then_back_promotes_once(pg_store: Any, registry_env: dict) -> None:
    """MLflow goes away between the two alias moves; the task fails; once MLflow is back the retry
    completes the promotion from its recorded intent."""
    _approve(pg_store, registry_env)
    server = registry_env["server"]
    real_mark = pg_store.mark_promotion_step

    def mark_then_mlflow_dies(self: Any, promotion_id: int, done: str, **kwargs: Any) -> dict:
        result = real_mark(promotion_id, done, **kwargs)
        if done == "previous_alias":
            server.stop()
        return result

    try:
        with pytest.MonkeyPatch.context() as dying, pytest.raises(Exception) as failure:  # noqa: PT011
            dying.setattr(type(pg_store), "mark_promotion_step", mark_then_mlflow_dies)
            _try_promote(registry_env)  # whatever the MLflow client raises when the server refuses
        assert "refused" in str(failure.value).lower() or "max retries" in str(failure.value).lower(), failure.value
    finally:
        server.start()
    (promotion,) = pg_store.list_promotions(registry_env["model"])
    assert (promotion["status"], promotion["steps"]) == ("in_progress", ["previous_alias"])
    client = server.client()
    assert client.get_model_version_by_alias(registry_env["model"], "champion").version == registry_env["old"]
    retry = _try_promote(registry_env)
    assert retry["noop"] is False and retry["steps_done_before"] == ["previous_alias"]
    _assert_complete(_end_state(pg_store, registry_env), registry_env)
    assert "earlier try of this task" in _try_promote(registry_env)["skipped"]


# -- rollback: the audit trail holds its intent, so an interrupted rollback is completed, not refused ----------


class _DyingRegistry:
    """The promoting registry hook, with the process dying right after ``die_after`` (once)."""

    def __init__(self, hook: Any, die_after: str | None) -> None:
        self.hook, self.die_after = hook, die_after

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.hook, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if name == self.die_after:
                self.die_after = None
                raise Crash(f"SIGKILL after {name}")
            return result

        return call


def _promoted_then_rollback_env(store: Any, env: dict) -> Any:
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

    _approve(store, env)
    _try_promote(env)  # champion: new, previous_champion: old
    return MlflowRegistryHook("agentic_mlops_mlflow_promote")


@pytest.mark.parametrize("die_after", ["set_alias", "delete_alias", "set_version_tags", "audit"])
def test_a_rollback_interrupted_after_each_step_is_completed_and_recorded_by_the_retry(
    pg_store: Any, registry_env: dict, die_after: str
) -> None:
    import sqlalchemy as sa

    from airflow_provider_agentic_mlops.core.promotion import rollback_champion

    hook = _promoted_then_rollback_env(pg_store, registry_env)
    model, old, new = registry_env["model"], registry_env["old"], registry_env["new"]
    registry = _DyingRegistry(hook, die_after)
    real_audit = pg_store.audit

    def audit_with_blip(self: Any, action: str, **kwargs: Any) -> None:
        if action == "rollback" and die_after == "audit":  # the store fails over as the rollback is recorded
            raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))
        real_audit(action, **kwargs)

    with pytest.MonkeyPatch.context() as dying, pytest.raises((Crash, sa.exc.OperationalError)):
        dying.setattr(type(pg_store), "audit", audit_with_blip)
        rollback_champion(registry, pg_store, model_name=model, registered_model=model, user="alice", reason="bad")
    retry = rollback_champion(hook, pg_store, model_name=model, registered_model=model, user="bob", reason="retry")

    assert retry == {"version": old, "rolled_back_version": new, "user": "bob", "resumed": True}
    client = registry_env["server"].client()
    assert dict(client.get_registered_model(model).aliases) == {"champion": old}
    # the tags name who completed the rollback; its entry, who started it
    assert client.get_model_version(model, old).tags["agentic_mlops.restored_by"] == "bob"
    assert client.get_model_version(model, new).tags["agentic_mlops.rolled_back_by"] == "bob"
    trail = [e for e in pg_store.audit_trail(model) if e["action"].startswith("rollback")]
    assert [e["action"] for e in trail] == ["rollback", "rollback_started"]
    done, started = trail
    assert done["actor"] == "bob" and done["details"]["started_by"] == "alice"
    assert done["details"]["intent_id"] == started["id"]
    assert (done["details"]["from_version"], done["details"]["to_version"], done["details"]["reason"]) == (
        new,
        old,
        "bad",
    )


def test_a_completed_rollback_is_not_repeated(pg_store: Any, registry_env: dict) -> None:
    from airflow_provider_agentic_mlops.core.promotion import PromotionRefused, rollback_champion

    hook = _promoted_then_rollback_env(pg_store, registry_env)
    model = registry_env["model"]
    done = rollback_champion(hook, pg_store, model_name=model, registered_model=model, user="alice")
    assert done["resumed"] is False and done["version"] == registry_env["old"]
    with pytest.raises(PromotionRefused, match="no 'previous_champion' alias"):
        rollback_champion(hook, pg_store, model_name=model, registered_model=model, user="alice")
    assert [e["action"] for e in pg_store.audit_trail(model)].count("rollback") == 1
