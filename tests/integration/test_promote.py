"""PromoteOperator and RollbackOperator against a real MLflow server (HTTP), behind real approvals."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import timedelta
from types import SimpleNamespace

import pytest

from tests.doubles.airflow_task import task_context
from tests.doubles.mlflow_server import register_tiny_classifier

DAG_ID, RUN_ID = "agentic_mlops__m", "manual__promote"


@pytest.fixture
def env(airflow_home, mlflow_server, monkeypatch):
    for conn_id in ("agentic_mlops_mlflow_registry", "agentic_mlops_mlflow_train", "agentic_mlops_mlflow_promote"):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", f'{{"conn_type": "agentic_mlops_mlflow", "host": "{mlflow_server}"}}'
        )
    import mlflow

    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    model = f"p-{uuid.uuid4().hex[:8]}"
    client = mlflow.MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    old = register_tiny_classifier(mlflow_server, model, seed=1)["version"]
    new = register_tiny_classifier(mlflow_server, model, seed=2)["version"]
    client.set_registered_model_alias(model, "champion", old)
    return SimpleNamespace(
        url=mlflow_server, model=model, client=client, old=old, new=new, store=StateStoreHook().get_store()
    )


def _report(label: str) -> str:
    """The Markdown report named ``label`` (its digest is what an approval binds)."""
    return f"# Validation report {label}\n"


def _digest(label: str) -> str:
    from airflow_provider_agentic_mlops.core.validation import markdown_digest

    return markdown_digest(_report(label))


def _approval(env, *, version=None, run_id=RUN_ID, approve=True, digest="d1", expires_in=timedelta(hours=1)):
    from airflow_provider_agentic_mlops.core.state import utcnow

    approval, _ = env.store.request_approval(
        env.model,
        version or env.new,
        dag_id=DAG_ID,
        run_id=run_id,
        expires_at=utcnow() + expires_in,
        report_digest=_digest(digest),
    )
    if approve is not None:
        env.store.decide_approval(approval["id"], approve=approve, user="alice" if approve else "bob", via="cli")
    return approval


def _ctx(env, *, digest="d1", passed=True, champion="old", dag_run_id=RUN_ID):
    """The task's context; the validation compared the challenger with ``champion`` (default: ``env.old``; a
    version; None: there was none) and wrote the report named ``digest`` to the challenger's run."""
    run_id = env.client.get_model_version(env.model, env.new).run_id  # the validation wrote report ``digest``
    env.client.log_text(run_id, _report(digest), "agentic_mlops/validation/report.md")
    validation = {
        "passed": passed,
        "report_digest": _digest(digest),
        "champion_version": env.old if champion == "old" else champion,
    }
    ctx = task_context(
        dag_id=DAG_ID,
        run_id=dag_run_id,
        xcoms={("retrain", "return_value"): {"version": env.new}, ("validate", "validation"): validation},
    )
    ctx["outlet_events"] = defaultdict(SimpleNamespace)
    return ctx


def _promote(env, **kwargs):
    from airflow_provider_agentic_mlops.operators.promote import PromoteOperator

    return PromoteOperator(task_id="promote", model_name=env.model, **kwargs)


def _aliases(env):
    return dict(env.client.get_registered_model(env.model).aliases)


def test_approved_version_becomes_champion_and_old_one_previous_champion(env):
    approval = _approval(env)
    ctx = _ctx(env)

    result = _promote(env).execute(ctx)

    assert {k: result[k] for k in ("version", "previous_version", "approval_id", "noop", "steps_done_before")} == {
        "version": env.new,
        "previous_version": env.old,
        "approval_id": approval["id"],
        "noop": False,
        "steps_done_before": [],
    }
    aliases = _aliases(env)
    assert aliases["champion"] == env.new and aliases["previous_champion"] == env.old
    tags = env.client.get_model_version(env.model, env.new).tags
    assert tags["agentic_mlops.approved_by"] == "alice"
    assert tags["agentic_mlops.approval_id"] == str(approval["id"])
    assert tags["agentic_mlops.approved_at"] and tags["agentic_mlops.promoted_at"]
    assert env.store.audit_trail(env.model)[0]["action"] == "promoted"
    assert ctx["ti"].pushed["mlflow_model_version_url"] == f"{env.url}/#/models/{env.model}/versions/{env.new}"


def test_the_promoted_challenger_loses_its_challenger_alias(env):
    env.client.set_registered_model_alias(env.model, "challenger", env.new)  # as RetrainOperator left it
    _approval(env)
    _promote(env).execute(_ctx(env))
    assert _aliases(env) == {"champion": env.new, "previous_champion": env.old}


def test_a_cleared_completed_promotion_is_skipped_and_sends_no_second_asset_event(env):
    """Clearing a promote task that completed (its Asset event recorded) re-runs it: a successful try would make
    Airflow record a second champion Asset event, and deployment DAGs scheduled on it would redeploy."""
    from airflow_provider_agentic_mlops.version_compat import AirflowSkipException

    _approval(env)
    op = _promote(env)
    ctx = _ctx(env)
    op.execute(ctx)
    op.on_success_callback[-1]({**ctx, "task": op})  # Airflow recorded the success and the Asset event
    again, again_ctx = _promote(env), _ctx(env)
    with pytest.raises(AirflowSkipException) as skipped:  # Airflow records no Asset event for a skipped task
        again.execute(again_ctx)
    assert f"v{env.new} was made the champion by an earlier try of this task" in str(skipped.value)
    assert "no second champion Asset event" in str(skipped.value)
    assert not again_ctx["outlet_events"]
    assert [a["action"] for a in env.store.audit_trail(env.model)].count("promoted") == 1
    assert _aliases(env)["champion"] == env.new and _aliases(env)["previous_champion"] == env.old


@pytest.fixture
def env_on_postgresql(pg_url, monkeypatch, request):
    """``env`` with its state store on PostgreSQL, as production runs it."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": pg_url}}),
    )
    return request.getfixturevalue("env")


def test_a_run_attached_to_another_runs_retrain_does_not_promote_the_same_version_again(env_on_postgresql):
    """Run B attached to run A's retrain (the same version), both approved: B promoted it again after A, a
    second 'promoted' entry and champion Asset event, and its approver replaced A's on the version's tags."""
    from airflow_provider_agentic_mlops.version_compat import AirflowSkipException

    env = env_on_postgresql
    for run_id, who in (("runA", "alice"), ("runB", "bob")):
        approval = _approval(env, run_id=run_id, approve=None)
        env.store.decide_approval(approval["id"], approve=True, user=who, via="cli")
    events, skipped = [], []
    for run_id in ("runA", "runB"):
        op, ctx = _promote(env), _ctx(env, dag_run_id=run_id)
        try:
            op.execute(ctx)
        except AirflowSkipException as skip:  # Airflow records no Asset event for a skipped task
            skipped.append((run_id, str(skip)))
            continue
        for callback in op.on_success_callback:  # the success Airflow records with the task's Asset event
            callback({**ctx, "task": op})
        events.extend(event.extra for event in ctx["outlet_events"].values())

    assert [(e["version"], e["previous_version"]) for e in events] == [(env.new, env.old)]
    ((run_id, reason),) = skipped
    assert run_id == "runB"
    assert f"v{env.new} is already the champion since alice's promotion in DAG run 'runA'" in reason
    promoted = [a for a in env.store.audit_trail(env.model) if a["action"] == "promoted"]
    assert [(a["actor"], a["details"]["run_id"]) for a in promoted] == [("alice", "runA")]
    assert env.client.get_model_version(env.model, env.new).tags["agentic_mlops.approved_by"] == "alice"
    assert _aliases(env) == {"champion": env.new, "previous_champion": env.old}


def test_promote_declares_and_emits_the_champion_asset(env):
    _approval(env)
    op = _promote(env)
    assert [a.uri for a in op.outlets] == [f"agentic-mlops://models/{env.model}/champion"]
    ctx = _ctx(env)
    op.execute(ctx)
    (event,) = ctx["outlet_events"].values()
    assert event.extra["version"] == env.new and event.extra["previous_version"] == env.old


def test_promote_without_any_approval_is_refused_and_changes_nothing(env):
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    with pytest.raises(PromotionRefused, match="no approval request"):
        _promote(env).execute(_ctx(env))
    assert _aliases(env) == {"champion": env.old}


@pytest.mark.parametrize("approve, expected", [(False, "denied by bob"), (None, "is pending")])
def test_denied_or_pending_approval_is_refused(env, approve, expected):
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    _approval(env, approve=approve)
    with pytest.raises(PromotionRefused, match=expected):
        _promote(env).execute(_ctx(env))
    assert _aliases(env)["champion"] == env.old


def test_expired_approval_is_refused(env):
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    approval = _approval(env, approve=None, expires_in=timedelta(seconds=-1))
    env.store.expire_approvals()
    assert env.store.get_approval(approval["id"])["status"] == "expired"
    with pytest.raises(PromotionRefused, match="is expired"):
        _promote(env).execute(_ctx(env))


def test_approval_of_another_run_or_version_does_not_count(env):
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    _approval(env, run_id="manual__other_run")
    _approval(env, version=env.old)
    with pytest.raises(PromotionRefused):
        _promote(env).execute(_ctx(env))
    assert _aliases(env)["champion"] == env.old


def test_approval_of_a_different_report_is_refused(env):
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    _approval(env, digest="digest-seen-by-alice")
    with pytest.raises(PromotionRefused, match="re-run validation"):
        _promote(env).execute(_ctx(env, digest="digest-of-this-run"))


def test_a_report_overwritten_after_validation_is_refused_naming_the_artifact(env):
    # report.md rewritten in the challenger's run after validation: the approval bound a report nobody reads
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    _approval(env)
    ctx = _ctx(env)
    run_id = env.client.get_model_version(env.model, env.new).run_id
    env.client.log_text(run_id, _report("d1") + "PASSED (edited)\n", "agentic_mlops/validation/report.md")
    artifact = f"runs:/{run_id}/agentic_mlops/validation/report.md"
    with pytest.raises(PromotionRefused, match=f"report {artifact} has changed since validation"):
        _promote(env).execute(ctx)
    assert _aliases(env) == {"champion": env.old}


def test_a_report_html_overwritten_after_validation_is_refused_naming_the_artifact(env):
    # report.html is the page reviewers open (the approvals page and Slack link to it): bound like report.md
    from airflow_provider_agentic_mlops.core.validation import markdown_digest
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    _approval(env)
    ctx = _ctx(env)
    run_id = env.client.get_model_version(env.model, env.new).run_id
    html = "<html><h1>Validation: REJECTED</h1></html>\n"
    env.client.log_text(run_id, html, "agentic_mlops/validation/report.html")
    ctx["ti"].xcoms[("validate", "validation")]["report_html_digest"] = markdown_digest(html)
    env.client.log_text(run_id, html.replace("REJECTED", "PASSED"), "agentic_mlops/validation/report.html")
    artifact = f"runs:/{run_id}/agentic_mlops/validation/report.html"
    with pytest.raises(PromotionRefused, match=f"report {artifact} has changed since validation"):
        _promote(env).execute(ctx)
    assert _aliases(env) == {"champion": env.old}


def test_promotion_reads_the_report_its_run_recorded_though_another_run_validated_the_version_since(env):
    """Runs attached to one retraining job validate the same version, each on its own data: each report has a
    folder of its own in the challenger's run, and promotion re-reads the one this run's validation recorded (its
    ``report_uri``), not whichever run validated last."""
    from airflow_provider_agentic_mlops.core.validation import markdown_digest, report_folder

    run_id = env.client.get_model_version(env.model, env.new).run_id
    ctx = _ctx(env, digest="d1")  # a report.md at the folder older releases wrote: another run's now
    env.client.log_text(run_id, _report("d2"), "agentic_mlops/validation/report.md")
    for label in ("d1", "d2"):  # this run's report, then the other run's
        folder = report_folder(_digest(label))
        env.client.log_text(run_id, _report(label), f"{folder}/report.md")
        env.client.log_text(run_id, f"<h1>{label}</h1>", f"{folder}/report.html")
    validation = ctx["ti"].xcoms[("validate", "validation")]
    validation["report_uri"] = f"runs:/{run_id}/{report_folder(_digest('d1'))}/report.html"
    validation["report_html_digest"] = markdown_digest("<h1>d1</h1>")
    _approval(env, digest="d1")

    assert _promote(env).execute(ctx)["version"] == env.new
    assert _aliases(env)["champion"] == env.new


def test_a_recorded_report_outside_the_challengers_run_is_refused(env):
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    ctx = _ctx(env)
    ctx["ti"].xcoms[("validate", "validation")]["report_uri"] = "runs:/elsewhere/agentic_mlops/validation/report.html"
    _approval(env)
    with pytest.raises(PromotionRefused, match="runs:/elsewhere/.* not in the challenger's run"):
        _promote(env).execute(ctx)
    assert _aliases(env) == {"champion": env.old}


def test_promotion_is_refused_when_the_champion_is_no_longer_the_one_validated_against(env):
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    _approval(env)
    other = register_tiny_classifier(env.url, env.model, seed=3)["version"]
    env.client.set_registered_model_alias(env.model, "champion", other)  # moved while the approval was pending
    with pytest.raises(PromotionRefused, match=f"validated against champion v{env.old}.*now v{other}"):
        _promote(env).execute(_ctx(env))
    assert _aliases(env) == {"champion": other}


def test_after_the_champion_moved_re_running_validation_asks_again_and_its_approval_promotes(env):
    """The remedy the refusal names works: re-running validation (with its downstream tasks) asks again for the
    new report instead of passing on the approval of the old one, and that new approval promotes."""
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused
    from airflow_provider_agentic_mlops.sensors.approval import ApprovalSensor

    def wait(ctx):
        return ApprovalSensor(task_id="wait_for_approval", model_name=env.model, deferrable=True).execute(ctx)

    with pytest.raises(TaskDeferred):
        wait(_ctx(env, digest="d1"))
    approval = env.store.find_approval(env.model, env.new, dag_id=DAG_ID, run_id=RUN_ID)
    env.store.decide_approval(approval["id"], approve=True, user="alice", via="cli")
    other = register_tiny_classifier(env.url, env.model, seed=3)["version"]
    env.client.set_registered_model_alias(env.model, "champion", other)  # moved while the approval was pending
    with pytest.raises(PromotionRefused, match="Re-run validation"):
        _promote(env).execute(_ctx(env, digest="d1"))

    revalidated = _ctx(env, digest="d2", champion=other)  # validate re-ran against v{other}: another report
    with pytest.raises(TaskDeferred):  # asked again: alice's approval of d1 does not let it through
        wait(revalidated)
    with pytest.raises(PromotionRefused, match="is pending"):
        _promote(env).execute(revalidated)
    env.store.decide_approval(approval["id"], approve=True, user="bob", via="cli")
    assert wait(revalidated)["decided_by"] == "bob"
    result = _promote(env).execute(revalidated)
    assert (result["version"], result["previous_version"], result["approval_id"]) == (env.new, other, approval["id"])
    assert _aliases(env) == {"champion": env.new, "previous_champion": other}


def test_version_that_failed_validation_is_never_promoted(env):
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    _approval(env)
    with pytest.raises(PromotionRefused, match="failed validation"):
        _promote(env).execute(_ctx(env, passed=False))


def test_without_the_validation_result_nothing_is_promoted_and_the_task_is_named(env):
    # a DAG naming its validation task validate_model: promote found no XCom and promoted a rejected challenger
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused

    _approval(env)
    ctx = _ctx(env, passed=False)
    ctx["ti"].xcoms[("validate_model", "validation")] = ctx["ti"].xcoms.pop(("validate", "validation"))
    with pytest.raises(PromotionRefused, match="no validation result .*task 'validate'.*validate_task_id="):
        _promote(env).execute(ctx)
    assert _aliases(env) == {"champion": env.old}


def test_a_challenger_promoted_by_hand_during_its_approval_keeps_the_validated_champion_as_previous(env):
    from airflow_provider_agentic_mlops.operators.promote import RollbackOperator

    _approval(env)
    env.client.set_registered_model_alias(env.model, "champion", env.new)  # by hand, while the approval was pending

    result = _promote(env).execute(_ctx(env))

    assert result["previous_version"] == env.old  # the champion the validation compared it with
    assert _aliases(env) == {"champion": env.new, "previous_champion": env.old}
    entry = env.store.audit_trail(env.model)[0]
    assert entry["action"] == "promoted" and entry["details"]["previous_version"] == env.old
    rolled = RollbackOperator(task_id="rollback", model_name=env.model, user="carol").execute(_ctx(env))
    assert rolled["version"] == env.old and _aliases(env) == {"champion": env.old}


def test_first_promotion_without_a_champion_sets_no_previous(env):
    env.client.delete_registered_model_alias(env.model, "champion")
    _approval(env)
    result = _promote(env).execute(_ctx(env, champion=None))
    assert result["previous_version"] is None
    assert _aliases(env) == {"champion": env.new}


@pytest.mark.parametrize("conn_id", ["agentic_mlops_mlflow_registry", "agentic_mlops_mlflow_train"])
def test_only_the_promote_connection_may_promote(env, conn_id):
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowAccessError

    _approval(env)
    with pytest.raises(MlflowAccessError, match="access 'promote'"):
        _promote(env, mlflow_conn_id=conn_id).execute(_ctx(env))
    assert _aliases(env)["champion"] == env.old


def test_train_connection_may_set_challenger_but_never_champion(env):
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowAccessError, MlflowRegistryHook

    train = MlflowRegistryHook("agentic_mlops_mlflow_train")
    train.set_alias(env.model, "challenger", env.new)
    for alias in ("champion", "previous_champion"):
        with pytest.raises(MlflowAccessError, match="only a promote connection"):
            train.set_alias(env.model, alias, env.new)
        with pytest.raises(MlflowAccessError):
            train.client().delete_registered_model_alias(env.model, alias)
    assert _aliases(env) == {"champion": env.old, "challenger": env.new}


def test_registry_connection_is_read_only(env):
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowAccessError, MlflowRegistryHook

    registry = MlflowRegistryHook("agentic_mlops_mlflow_registry")
    assert registry.get_alias_version(env.model, "champion") == env.old  # reads work
    with pytest.raises(MlflowAccessError, match="read-only"):
        registry.set_version_tags(env.model, env.new, {"x": "y"})
    with pytest.raises(MlflowAccessError):
        registry.client().create_registered_model("sneaky")


def test_connection_extra_access_caps_a_custom_connection(env, monkeypatch):
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowConnectionNotFound, MlflowRegistryHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_MY_MLFLOW",
        f'{{"conn_type": "agentic_mlops_mlflow", "host": "{env.url}", "extra": {{"access": "promote"}}}}',
    )
    assert MlflowRegistryHook("my_mlflow").access == "promote"
    assert MlflowRegistryHook("my_mlflow", access="read").access == "read"  # lowered, never raised
    with pytest.raises(MlflowConnectionNotFound):  # unknown connection: fail closed
        _ = MlflowRegistryHook("unknown_conn_id").access


# -- rollback ------------------------------------------------------------------------------------


def test_rollback_operator_restores_previous_champion_and_records_who(env):
    from airflow_provider_agentic_mlops.operators.promote import RollbackOperator

    _approval(env)
    _promote(env).execute(_ctx(env))
    ctx = _ctx(env)

    result = RollbackOperator(task_id="rollback", model_name=env.model, user="carol", reason="bad latency").execute(ctx)

    assert result == {"version": env.old, "rolled_back_version": env.new, "user": "carol", "resumed": False}
    assert _aliases(env) == {"champion": env.old}
    assert env.client.get_model_version(env.model, env.new).tags["agentic_mlops.rolled_back_by"] == "carol"
    assert env.client.get_model_version(env.model, env.old).tags["agentic_mlops.restored_by"] == "carol"
    for version, tag in ((env.old, "restored_at"), (env.new, "rolled_back_at")):  # UTC, saying so, as approved_at
        assert env.client.get_model_version(env.model, version).tags[f"agentic_mlops.{tag}"].endswith("+00:00")
    entry = env.store.audit_trail(env.model)[0]
    assert entry["action"] == "rollback" and entry["actor"] == "carol"
    started = env.store.audit_trail(env.model)[1]  # the intent, written before MLflow was touched
    assert started["action"] == "rollback_started" and started["actor"] == "carol"
    assert started["details"] == {
        "from_version": env.new,
        "to_version": env.old,
        "reason": "bad latency",
        "dag_id": DAG_ID,  # the DAG run that rolled back: the UI shows the rows to its readers
        "run_id": RUN_ID,
    }
    assert entry["details"] == {**started["details"], "intent_id": started["id"], "started_by": "carol"}
    (event,) = ctx["outlet_events"].values()
    assert event.extra["rollback"] is True and event.extra["version"] == env.old


def test_rollback_operator_refuses_a_reason_longer_than_the_approvals_allow_before_touching_mlflow(env):
    """The approvals API and CLI refuse reasons over MAX_REASON_CHARS; the rollback task took any length."""
    from airflow_provider_agentic_mlops.core.approval_policy import MAX_REASON_CHARS
    from airflow_provider_agentic_mlops.operators.promote import RollbackOperator
    from airflow_provider_agentic_mlops.version_compat import AirflowFailException

    _approval(env)
    _promote(env).execute(_ctx(env))
    reason = "x" * (MAX_REASON_CHARS + 1)
    rollback = RollbackOperator(task_id="rollback", model_name=env.model, user="carol", reason=reason)
    with pytest.raises(AirflowFailException, match=rf"reason has {MAX_REASON_CHARS + 1} characters; at most 2000"):
        rollback.execute(_ctx(env))
    assert _aliases(env)["champion"] == env.new  # nothing rolled back, nothing recorded
    assert [e["action"] for e in env.store.audit_trail(env.model)].count("rollback_started") == 0
    at_limit = RollbackOperator(task_id="rollback", model_name=env.model, user="carol", reason=reason[:-1])
    assert at_limit.execute(_ctx(env))["version"] == env.old


def test_rollback_operator_records_the_airflow_user_who_triggered_the_run_not_the_conf_user(env):
    from airflow_provider_agentic_mlops.operators.promote import RollbackOperator

    _approval(env)
    _promote(env).execute(_ctx(env))
    ctx = {**_ctx(env), "dag_run": SimpleNamespace(triggering_user_name="erin")}

    result = RollbackOperator(task_id="rollback", model_name=env.model, user="carol").execute(ctx)

    assert result["user"] == "erin"
    entry, started = env.store.audit_trail(env.model)[:2]
    assert entry["actor"] == started["actor"] == "erin"
    assert started["details"]["display_name"] == "carol"  # what the conf said: shown, not the actor
    assert env.client.get_model_version(env.model, env.new).tags["agentic_mlops.rolled_back_by"] == "erin"


def test_rollback_operator_with_no_user_at_all_is_refused(env):
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused, RollbackOperator

    _approval(env)
    _promote(env).execute(_ctx(env))
    with pytest.raises(PromotionRefused, match="say who is rolling back"):
        RollbackOperator(task_id="rollback", model_name=env.model).execute(_ctx(env))
    assert _aliases(env)["champion"] == env.new


def test_second_rollback_is_refused_instead_of_repromoting_the_bad_version(env):
    from airflow_provider_agentic_mlops.operators.promote import PromotionRefused, RollbackOperator

    _approval(env)
    _promote(env).execute(_ctx(env))
    RollbackOperator(task_id="rollback", model_name=env.model, user="carol").execute(_ctx(env))
    with pytest.raises(PromotionRefused, match="nothing to roll back"):
        RollbackOperator(task_id="rollback", model_name=env.model, user="carol").execute(_ctx(env))
    assert _aliases(env) == {"champion": env.old}


# -- MLflow refusing the promote connection (a real server behind a fault proxy) -------------------


@pytest.fixture
def refusing(env, monkeypatch):
    """``env`` with the promote connection through a proxy that answers chosen requests as MLflow's auth refuses
    them (403 ``Permission denied``): a token with EDIT but not MANAGE, or READ only."""
    from tests.doubles.mlflow_fault_proxy import mlflow_fault_proxy

    with mlflow_fault_proxy(env.url) as proxy:
        monkeypatch.setenv(
            "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_PROMOTE",
            json.dumps({"conn_type": "agentic_mlops_mlflow", "host": proxy.url}),
        )
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        yield proxy


def test_a_403_setting_the_champion_fails_promote_without_retries_naming_the_permission(env, refusing):
    """The error named the connection but not the permission, and Airflow retried it three times with backoff."""
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowPermissionDenied
    from airflow_provider_agentic_mlops.version_compat import AirflowFailException

    _approval(env)
    refusing.fault = lambda method, path: (
        403 if method == "POST" and path.endswith("/registered-models/alias") else None
    )

    with pytest.raises(MlflowPermissionDenied) as raised:
        _promote(env).execute(_ctx(env))

    message = str(raised.value)
    assert isinstance(raised.value, AirflowFailException) and refusing.faulted  # failed, not up for retry
    assert "'agentic_mlops_mlflow_promote'" in message and "PERMISSION_DENIED" in message and "setting alias" in message
    assert f"EDIT on the registered model {env.model!r}" in message and "MANAGE" in message
    assert _aliases(env) == {"champion": env.old}


def test_a_403_deleting_an_alias_fails_rollback_without_retries_naming_manage(env, refusing):
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowPermissionDenied
    from airflow_provider_agentic_mlops.operators.promote import RollbackOperator
    from airflow_provider_agentic_mlops.version_compat import AirflowFailException

    _approval(env)
    _promote(env).execute(_ctx(env))
    refusing.fault = lambda method, path: 403 if method == "DELETE" and "/registered-models/alias" in path else None

    with pytest.raises(MlflowPermissionDenied) as raised:
        RollbackOperator(task_id="rollback", model_name=env.model, user="carol", reason="bad").execute(_ctx(env))

    message = str(raised.value)
    assert isinstance(raised.value, AirflowFailException) and refusing.faulted
    assert "'agentic_mlops_mlflow_promote'" in message and "deleting alias 'previous_champion'" in message
    assert f"MANAGE on the registered model {env.model!r}" in message
