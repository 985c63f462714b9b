"""Promotion and rollback of a model's champion in the MLflow registry, behind an approval."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator

from airflow_provider_agentic_mlops.assets import champion_asset_uri, champion_event_extra
from airflow_provider_agentic_mlops.core.connections import DEFAULT_PROMOTE_CONN_ID
from airflow_provider_agentic_mlops.core.promotion import (  # noqa: F401 - PromotionRefused re-exported
    CHAMPION,
    PREVIOUS_CHAMPION,
    UNKNOWN_CHAMPION,
    PromotionRefused,
    StoredReport,
    promote_version,
    record_asset_event_sent,
    recorded_report_files,
    rollback_champion,
    validated_report,
)
from airflow_provider_agentic_mlops.links import MlflowModelVersionLink
from airflow_provider_agentic_mlops.operators._base import (
    MlflowHookMixin,
    StateStoreMixin,
    challenger_run_id,
    check_model_name,
    pull_retrain_result,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


MODEL_VERSION_URL_XCOM_KEY = "mlflow_model_version_url"


# -- operators ------------------------------------------------------------------------------------


class _ChampionOperator(MlflowHookMixin, StateStoreMixin, BaseOperator):
    operator_extra_links = (MlflowModelVersionLink(),)

    def __init__(
        self,
        *,
        model_name: str,
        registered_model: str | None = None,
        mlflow_conn_id: str = DEFAULT_PROMOTE_CONN_ID,
        state_conn_id: str | None = None,
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
            event.extra = champion_event_extra(self.model_name, self.registered_model, **extra)


class PromoteOperator(_ChampionOperator):
    """Promote the validated, approved challenger to ``champion`` in the MLflow registry.

    Refuses (and changes nothing) unless the state store holds an *approved* approval for this model,
    this version and this DAG run; a denied, expired or pending request is a refusal. Refuses too when
    the champion is no longer the one the validation report compared against (moved while the approval
    was pending): the approval covers exactly that comparison. Moves
    ``champion`` to the new version and ``previous_champion`` to the old one, tags the version with
    the approver, the approval time and id, and writes the ``promoted`` audit entry. On success the
    Asset ``agentic-mlops://models/<model_name>/champion`` gets an event (extra: version, previous
    version, ``noop: false``) so deployment DAGs scheduled on it can react.

    A resumable transaction (``core/promotion.py``): the intent is recorded first and each step when
    done, so a retry after a crash at any step completes the rest. Safe to retry: the generated DAG gives it
    retries. A re-run after an earlier try had done every step, the Asset event included (a cleared task),
    is skipped: nothing is changed and no second Asset event is sent.
    A re-run after the champion moved on (a rollback, another promotion) fails instead, naming the versions,
    and sends no Asset event: the promotion was overtaken. When another run's promotion already made the
    version the champion (runs attached to one retrain get the same version), the task is skipped with a
    message saying since when: nothing is changed or recorded and no second Asset event is sent.

    Uses only the promote connection: the one connection allowed to move ``champion``.

    :param model_name: the provider's model name.
    :param registered_model: name in the MLflow registry (default: ``model_name``).
    :param mlflow_conn_id: MLflow connection with ``promote`` access.
    :param state_conn_id: state store connection (approvals, audit trail; default: ``[agentic_mlops] state_conn_id``).
    :param retrain_task_id: task whose return value names the version to promote.
    :param validate_task_id: task whose XCom ``validation`` carries the report digest the approval must match
        and the champion version it compared against; without that XCom (or with a failed validation) promotion
        is refused. None: no validation task (the approval alone gates the promotion).
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
        from airflow_provider_agentic_mlops.liveness import with_callback

        super().__init__(model_name=model_name, **kwargs)
        # appended after Airflow merged default_args: setting the kwarg would replace the DAG's callback
        self.on_success_callback = with_callback(self.on_success_callback, _asset_event_sent)
        self.retrain_task_id = retrain_task_id
        self.validate_task_id = validate_task_id
        self.promotion_id: int | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        check_model_name(self.model_name)
        ti = context["ti"]
        retrained = pull_retrain_result(ti, self.retrain_task_id, model_name=self.model_name, task="promote")
        version = retrained["version"]
        validation: Mapping[str, Any] = {}
        stored_reports: list[StoredReport] = []
        if self.validate_task_id:
            validation = validated_report(
                ti.xcom_pull(task_ids=self.validate_task_id, key="validation"),
                model_name=self.model_name,
                version=str(version),
                validate_task_id=self.validate_task_id,
            )
            run_id = challenger_run_id(self.hook, self.registered_model, retrained)
            where = {"model_name": self.model_name, "version": str(version)}
            md, html = recorded_report_files(validation.get("report_uri"), run_id, **where)  # the report approved
            stored_reports.append(self._stored_report(run_id, str(version), md))
            if validation.get("report_html_digest"):  # the page reviewers open (none from older validations)
                stored_reports.append(self._stored_report(run_id, str(version), html, validation["report_html_digest"]))
        result = promote_version(
            self.hook,
            self.store,
            model_name=self.model_name,
            registered_model=self.registered_model,
            version=str(version),
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            report_digest=validation.get("report_digest"),
            # the champion the report compared with: promotion is refused if it moved since
            validated_champion=validation.get("champion_version", UNKNOWN_CHAMPION),
            stored_reports=stored_reports,
        )
        self.promotion_id = result["promotion_id"]
        if result["noop"]:  # another run's promotion, or an earlier try of this one, sent the Asset event
            from airflow_provider_agentic_mlops.version_compat import AirflowSkipException

            self.log.info("%s", result["reason"])
            # skipped, not succeeded: Airflow records a champion Asset event for every successful try
            raise AirflowSkipException(result["reason"])
        if result["steps_done_before"]:
            self.log.warning(
                "Completed promotion %s of %s v%s, interrupted earlier after steps %s",
                result["promotion_id"],
                self.registered_model,
                version,
                result["steps_done_before"],
            )
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

    def _stored_report(self, run_id: str, version: str, path: str, digest: str | None = None) -> StoredReport:
        """The report ``path`` (Markdown or HTML) in the challenger's run as stored now, with its ``runs:/`` URI
        and the ``digest`` validation recorded for it: the validation task wrote it there, and promotion checks it
        is still the one approved."""
        from airflow_provider_agentic_mlops.hooks.mlflow import CONNECTION_ERRORS

        uri = f"runs:/{run_id}/{path}"
        try:
            return StoredReport(artifact=uri, text=self.hook.read_text_artifact(run_id, path), digest=digest)
        except CONNECTION_ERRORS:  # the connection's fault, whole: its message names it and the fix
            raise
        except Exception as err:
            raise PromotionRefused(
                f"model {self.model_name!r} v{version}: the validation report {uri} cannot be read "
                f"({type(err).__name__}: {str(err)[:200]}); promotion needs it to check it is the report approved. "
                "Nothing was changed. Check the MLflow artifact store, or re-run validation with its downstream tasks"
            ) from err


class RollbackOperator(_ChampionOperator):
    """Restore ``previous_champion`` as ``champion`` and record who did it in the audit trail.

    For a manual "rollback" DAG. Emits the same champion Asset event as promotion, so deployment DAGs
    redeploy the restored version. ``airflow agentic-mlops rollback <model>`` does the same rollback but,
    not being an Airflow task, emits no Asset event: deployment DAGs scheduled on the champion asset are
    not told (it prints how to tell them). Roll back with this operator when they must redeploy.

    :param model_name: the provider's model name.
    :param registered_model: name in the MLflow registry (default: ``model_name``).
    :param user: who rolls back (templated, e.g. ``"{{ dag_run.conf['user'] }}"``). When Airflow tells the
        task which signed-in user triggered the run (``dag_run.triggering_user_name``, not on Airflow 3.1),
        that user is the audit trail's actor and ``user`` only a display name: a run's conf is whatever the
        person typed. Without either the rollback is refused.
    :param reason: why, for the audit trail (templated); at most
        :data:`~airflow_provider_agentic_mlops.core.approval_policy.MAX_REASON_CHARS` characters once rendered,
        as for an approval's reason (a longer one fails the task before anything changes).
    :param mlflow_conn_id: MLflow connection with ``promote`` access.
    :param state_conn_id: state store connection (audit trail; default: ``[agentic_mlops] state_conn_id``).
    """

    template_fields: Sequence[str] = ("registered_model", "user", "reason")
    ui_color = "#fde2e1"

    def __init__(self, *, model_name: str, user: str | None = None, reason: str | None = None, **kwargs: Any) -> None:
        super().__init__(model_name=model_name, **kwargs)
        self.user = user
        self.reason = reason

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_agentic_mlops.core.approval_policy import bad_reason
        from airflow_provider_agentic_mlops.version_compat import AirflowFailException

        check_model_name(self.model_name)
        too_long = bad_reason(self.reason)  # the rendered reason: the limit the approvals API and CLI apply
        if too_long:
            raise AirflowFailException(f"model {self.model_name!r}: rollback refused, nothing changed: {too_long}")
        triggered_by = getattr(context.get("dag_run"), "triggering_user_name", None)
        actor = triggered_by or self.user or ""
        ti = context["ti"]
        shown: dict[str, Any] = {"dag_id": ti.dag_id, "run_id": ti.run_id}  # whose row it is, for the UI
        if triggered_by and self.user and self.user != triggered_by:
            shown["display_name"] = self.user
        result = rollback_champion(
            self.hook,
            self.store,
            model_name=self.model_name,
            registered_model=self.registered_model,
            user=actor,
            reason=self.reason,
            identity=shown,
        )
        self.log.warning(
            "%s rolled back by %s: champion is v%s again (was v%s)",
            self.registered_model,
            actor,
            result["version"],
            result["rolled_back_version"],
        )
        self._publish(context, result["version"], {"version": result["version"], "rollback": True, "user": actor})
        return result


def _asset_event_sent(context: Context) -> None:
    """``on_success_callback``: Airflow has recorded the task's success and its Asset event; the
    promotion's last step is done."""
    task = context["task"]
    promotion_id = getattr(task, "promotion_id", None)  # set by execute() in this same task process
    if promotion_id is not None:
        record_asset_event_sent(task.store, int(promotion_id))
