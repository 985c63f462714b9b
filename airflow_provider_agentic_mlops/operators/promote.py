"""Promotion and rollback of a model's champion in the MLflow registry, behind an approval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator

from airflow_provider_agentic_mlops.assets import champion_asset_uri
from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook
from airflow_provider_agentic_mlops.links import MlflowModelVersionLink
from airflow_provider_agentic_mlops.operators._base import MlflowHookMixin, StateStoreMixin, pull_retrain_result

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_agentic_mlops.core.state import StateStore

CHAMPION, PREVIOUS_CHAMPION = "champion", "previous_champion"
MODEL_VERSION_URL_XCOM_KEY = "mlflow_model_version_url"


class PromotionRefused(PermissionError):
    """Promotion or rollback was refused; the message says why and what to do."""


# -- the two operations, shared by the operators and the CLI --------------------------------------------


def promote_version(
    hook: MlflowRegistryHook,
    store: StateStore,
    *,
    model_name: str,
    registered_model: str,
    version: str,
    dag_id: str,
    run_id: str,
    report_digest: str | None = None,
) -> dict[str, Any]:
    """Move ``champion`` to ``version`` (and ``previous_champion`` to the old one), if and only if an
    approved approval exists for this model, this version and this DAG run. Idempotent.

    :param report_digest: the validation report's digest; when both it and the approval's are known
        they must match (the person approved exactly this report).
    :return: ``{"version", "previous_version", "approval_id", "noop"}``.
    """
    from airflow_provider_agentic_mlops.core.state import APPROVED, utcnow

    hook.require_access("promote", f"promoting {registered_model} v{version}")
    version = str(version)
    approval = store.find_approval(model_name, version, dag_id=dag_id, run_id=run_id)
    if approval is None:
        raise PromotionRefused(
            f"model {model_name!r} v{version}: no approval request exists for DAG run {run_id!r} of {dag_id!r}; "
            "promotion needs an approval of this exact version in this run (the wait_for_approval task creates it)"
        )
    if approval["status"] != APPROVED:
        by = f" by {approval['decided_by']}" if approval.get("decided_by") else ""
        raise PromotionRefused(
            f"model {model_name!r} v{version}: approval {approval['id']} is {approval['status']}{by}, not approved; "
            "nothing was changed"
        )
    if report_digest and approval.get("report_digest") and approval["report_digest"] != report_digest:
        raise PromotionRefused(
            f"model {model_name!r} v{version}: approval {approval['id']} was given for report "
            f"{approval['report_digest'][:12]}, but this run's validation report is {report_digest[:12]}; "
            "re-run validation and ask again"
        )
    current = hook.get_alias_version(registered_model, CHAMPION)
    if current == version:
        return {
            "version": version,
            "previous_version": hook.get_alias_version(registered_model, PREVIOUS_CHAMPION),
            "approval_id": approval["id"],
            "noop": True,
        }
    # previous_champion first: a crash between the two calls leaves the old champion serving, and a
    # re-run completes the move.
    if current is not None:
        hook.set_alias(registered_model, PREVIOUS_CHAMPION, current)
    hook.set_alias(registered_model, CHAMPION, version)
    now = utcnow()
    hook.set_version_tags(
        registered_model,
        version,
        {
            "agentic_mlops.approved_by": approval.get("decided_by") or "",
            "agentic_mlops.approval_id": approval["id"],
            "agentic_mlops.approved_at": (approval.get("decided_at") or now).isoformat(),
            "agentic_mlops.promoted_at": now.isoformat(),
            "agentic_mlops.promoted_in": f"{dag_id}/{run_id}",
        },
    )
    store.audit(
        "promoted",
        actor=approval.get("decided_by") or "unknown",
        model_name=model_name,
        subject=f"version:{version}",
        details={"previous_version": current, "approval_id": approval["id"], "dag_id": dag_id, "run_id": run_id},
    )
    return {"version": version, "previous_version": current, "approval_id": approval["id"], "noop": False}


def rollback_champion(
    hook: MlflowRegistryHook,
    store: StateStore,
    *,
    model_name: str,
    registered_model: str,
    user: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Make ``previous_champion`` the champion again and record who did it.

    The ``previous_champion`` alias is removed afterwards, so an accidental second rollback is refused
    instead of re-promoting the version just rolled back.

    :return: ``{"version" (restored), "rolled_back_version", "user"}``.
    """
    from airflow_provider_agentic_mlops.core.state import utcnow

    if not user or not str(user).strip():
        raise PromotionRefused(f"rollback of {model_name!r}: say who is rolling back (user); the audit trail needs it")
    hook.require_access("promote", f"rolling back {registered_model}")
    previous = hook.get_alias_version(registered_model, PREVIOUS_CHAMPION)
    if previous is None:
        raise PromotionRefused(
            f"model {model_name!r}: {registered_model!r} has no {PREVIOUS_CHAMPION!r} alias, nothing to roll back "
            "to (never promoted twice, or already rolled back). Set the champion alias by hand in MLflow if needed."
        )
    current = hook.get_alias_version(registered_model, CHAMPION)
    hook.set_alias(registered_model, CHAMPION, previous)
    hook.delete_alias(registered_model, PREVIOUS_CHAMPION)
    now = utcnow().isoformat()
    hook.set_version_tags(
        registered_model, previous, {"agentic_mlops.restored_by": user, "agentic_mlops.restored_at": now}
    )
    if current is not None and current != previous:
        hook.set_version_tags(
            registered_model, current, {"agentic_mlops.rolled_back_by": user, "agentic_mlops.rolled_back_at": now}
        )
    store.audit(
        "rollback",
        actor=user,
        model_name=model_name,
        subject=f"version:{previous}",
        details={"from_version": current, "to_version": previous, "reason": reason},
    )
    return {"version": previous, "rolled_back_version": current, "user": user}


# -- operators ------------------------------------------------------------------------------------


class _ChampionOperator(MlflowHookMixin, StateStoreMixin, BaseOperator):
    operator_extra_links = (MlflowModelVersionLink(),)

    def __init__(
        self,
        *,
        model_name: str,
        registered_model: str | None = None,
        mlflow_conn_id: str = "agentic_mlops_mlflow_promote",
        state_conn_id: str = "agentic_mlops_state_default",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [Asset(uri=champion_asset_uri(model_name))])
        super().__init__(**kwargs)
        self.model_name = model_name
        self.registered_model = registered_model or model_name
        self.mlflow_conn_id = mlflow_conn_id
        self.state_conn_id = state_conn_id

    def _publish(self, context: Context, version: str, extra: dict[str, Any]) -> None:
        url = self.hook.model_version_url(self.registered_model, version)
        if url:
            context["ti"].xcom_push(key=MODEL_VERSION_URL_XCOM_KEY, value=url)
        outlet_events = context.get("outlet_events")
        if outlet_events is not None:
            event = outlet_events[Asset(uri=champion_asset_uri(self.model_name))]
            event.extra = {"model_name": self.model_name, "registered_model": self.registered_model, **extra}


class PromoteOperator(_ChampionOperator):
    """Promote the validated, approved challenger to ``champion`` in the MLflow registry.

    Refuses (and changes nothing) unless the state store holds an *approved* approval for this model,
    this version and this DAG run; a denied, expired or pending request is a refusal. Moves
    ``champion`` to the new version and ``previous_champion`` to the old one, and tags the version with
    the approver, the approval time and id. Re-running is a no-op (``noop: true``). On success the
    Asset ``agentic-mlops://models/<model_name>/champion`` gets an event (extra: version, previous
    version, noop) so deployment DAGs scheduled on it can react.

    Uses only the promote connection: the one connection allowed to move ``champion``.

    :param model_name: the provider's model name.
    :param registered_model: name in the MLflow registry (default: ``model_name``).
    :param mlflow_conn_id: MLflow connection with ``promote`` access.
    :param state_conn_id: state store connection (approvals, audit trail).
    :param retrain_task_id: task whose return value names the version to promote.
    :param validate_task_id: task whose XCom ``validation`` carries the report digest the approval must match.
    """

    template_fields: Sequence[str] = ("registered_model",)
    ui_color = "#d7f5dd"

    def __init__(
        self,
        *,
        model_name: str,
        retrain_task_id: str = "retrain",
        validate_task_id: str | None = "validate",
        **kwargs: Any,
    ) -> None:
        super().__init__(model_name=model_name, **kwargs)
        self.retrain_task_id = retrain_task_id
        self.validate_task_id = validate_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        version = pull_retrain_result(ti, self.retrain_task_id, model_name=self.model_name, task="promote")["version"]
        validation = (
            ti.xcom_pull(task_ids=self.validate_task_id, key="validation") if self.validate_task_id else None
        ) or {}
        if validation and validation.get("passed") is False:
            raise PromotionRefused(f"model {self.model_name!r} v{version} failed validation; it cannot be promoted")
        result = promote_version(
            self.hook,
            self.store,
            model_name=self.model_name,
            registered_model=self.registered_model,
            version=str(version),
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            report_digest=validation.get("report_digest"),
        )
        if result["noop"]:
            self.log.info("%s v%s is already the champion; nothing to do", self.registered_model, version)
        else:
            self.log.info(
                "%s v%s is now the champion (previous: %s; approval %s)",
                self.registered_model,
                version,
                result["previous_version"],
                result["approval_id"],
            )
        self._publish(
            context,
            str(version),
            {"version": result["version"], "previous_version": result["previous_version"], "noop": result["noop"]},
        )
        return result


class RollbackOperator(_ChampionOperator):
    """Restore ``previous_champion`` as ``champion`` and record who did it in the audit trail.

    For a manual "rollback" DAG (or ``airflow agentic-mlops rollback <model>``). Emits the same
    champion Asset event as promotion, so deployment DAGs redeploy the restored version.

    :param model_name: the provider's model name.
    :param registered_model: name in the MLflow registry (default: ``model_name``).
    :param user: who rolls back (templated, e.g. ``"{{ dag_run.conf['user'] }}"``); required.
    :param reason: why, for the audit trail (templated).
    :param mlflow_conn_id: MLflow connection with ``promote`` access.
    :param state_conn_id: state store connection (audit trail).
    """

    template_fields: Sequence[str] = ("registered_model", "user", "reason")
    ui_color = "#fde2e1"

    def __init__(self, *, model_name: str, user: str, reason: str | None = None, **kwargs: Any) -> None:
        super().__init__(model_name=model_name, **kwargs)
        self.user = user
        self.reason = reason

    def execute(self, context: Context) -> dict[str, Any]:
        result = rollback_champion(
            self.hook,
            self.store,
            model_name=self.model_name,
            registered_model=self.registered_model,
            user=self.user,
            reason=self.reason,
        )
        self.log.warning(
            "%s rolled back by %s: champion is v%s again (was v%s)",
            self.registered_model,
            self.user,
            result["version"],
            result["rolled_back_version"],
        )
        self._publish(context, result["version"], {"version": result["version"], "rollback": True, "user": self.user})
        return result
