"""ApprovalSensor: the human gate before a new model version reaches production."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_agentic_mlops.core.config import ApprovalSettings, settings_overrides
from airflow_provider_agentic_mlops.operators._base import check_model_name, pull_retrain_result, settings_parameters
from airflow_provider_agentic_mlops.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_agentic_mlops.core.state import StateStore


#: The settings that are template fields of the sensor.
_TEMPLATED_SETTINGS = ("channel", "approvers", "approver_usergroup")


class ApprovalNotGranted(AirflowFailException):
    """The sensor's request ended without an approval: denied, expired (no decision by its deadline), cancelled or
    superseded. The run stops on a person's decision or the fail-closed deadline, not on a fault; the request's own
    Slack message says so, so the factory's failure notice
    (:class:`~airflow_provider_agentic_mlops.notifications.escalation.EscalationNotifier`) does not post it."""


class _SettingsField:
    """A field of the sensor's ``settings`` as an attribute of the sensor, as before the settings were one
    object; this is what lets ``channel``, ``approvers`` and ``approver_usergroup`` be template fields.

    Airflow stores a rendered value with ``setattr``: that replaces ``settings`` by a copy holding the value
    (the task Airflow copies for a run leaves the original's settings alone), unvalidated, like every value
    Airflow renders.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, sensor: ApprovalSensor | None, owner: type | None = None) -> Any:
        return self if sensor is None else getattr(sensor.settings, self.name)

    def __set__(self, sensor: ApprovalSensor, value: Any) -> None:
        sensor.settings = sensor.settings.model_copy(update={self.name: value})


class ApprovalSensor(BaseSensorOperator):
    """Ask a person to approve promoting the retrained version, and wait for the answer.

    Creates one approval request bound to the model, the candidate version (``retrain`` XCom
    ``version``), the DAG run and the validation report's digest, posts one Slack message with Approve /
    Deny buttons (never a second one on a re-run), then waits: deferred to :class:`ApprovalTrigger` by
    default (no worker slot held), or in ``mode="reschedule"`` with ``deferrable=False``. Approved returns
    ``{"approval_id", "status", "decided_by"}``; denied or expired fails the task, so nothing is promoted.
    The deadline denies by default and the Slack message then says so.

    The request belongs to its DAG run: a retry or a cleared and re-run task finds the same request;
    when the task fails (the run can no longer promote) the request is ``cancelled``, so a later
    Approve is answered "cancelled, nothing recorded" instead of being accepted for nothing. Clearing
    this task (with its downstream tasks) asks again: a cancelled request, or one whose validation
    report changed since (``validate`` re-ran), is pending again, posted anew and without its votes.

    Slack decisions are accepted only from ``approvers`` or members of ``approver_usergroup``; with
    neither, every Slack click is refused (fail closed) and decisions come from
    ``airflow agentic-mlops approvals approve|deny <id>`` or the approvals page, which Airflow's own
    authentication and DAG permissions protect. Without a Slack connection the sensor logs those commands.

    :param model_name: the model (as in models.yaml).
    :param registered_model: its MLflow registered model name (default: ``model_name``).
    :param retrain_task_id: task whose return value holds the candidate ``version``.
    :param validate_task_id: task whose XCom ``validation`` holds metrics and ``report_digest``; without that
        XCom (or its digest) the sensor fails without asking: an approval must bind the report a person reads.
        None: no validation task (the request binds no report).
    :param decide_task_id: task whose XCom ``rationale`` explains why the model was retrained.
    :param drift_task_id: task whose return value is the drift summary (key ``report_uri``: the report).
    :param settings: the gate's parameters, an :class:`~airflow_provider_agentic_mlops.core.config.ApprovalSettings`
        (documented there, once: ``timeout_hours``, ``slack_conn_id``, ``channel``, ``approvers``,
        ``approver_usergroup``, ``required_approvals``, ``remind_every_hours``, ``escalation_channel``) or a
        mapping; each may also be passed as a keyword argument of the same name, which overrides it. The DAG's
        ``default_args`` fill those fields only without ``settings``: a keyword argument > ``settings`` >
        ``default_args`` > the defaults (see ``core.config.settings_overrides``). The DAG factory passes the
        model's ``approval`` section whole. ``channel``, ``approvers`` and
        ``approver_usergroup`` are templated: their keyword arguments are kept as given (a Jinja string or an
        XComArg is rendered when the task runs); the others are validated at once.
    :param links: extra links shown in the message (name -> URL), e.g. the MLflow model version.
    :param state_conn_id: connection of the provider's state store (None: ``[agentic_mlops] state_conn_id``, the
        deployment's store). A request records the id given, and its Slack buttons and logged CLI command name it,
        so decisions reach this store; the Slack endpoint decides in it only when it is ``[agentic_mlops]
        state_conn_id`` or a model's ``state_conn_id`` in the models file.
    :param deferrable: wait in the triggerer; False waits with ``mode`` (default reschedule). Default:
        Airflow's ``[operators] default_deferrable``.
    :param poke_interval: seconds between looks at the state store.
    :param entry_error: the models file's error while the model's DAG runs its last valid entry (the DAG
        factory's hold): the approvers the file states now are unknown and the held entry's may have been
        revoked, so the sensor fails at once with it, opening, renewing and reading no request (fail closed).
    :param promote_conn_id: the MLflow connection the PromoteOperator after this sensor promotes with (the DAG
        factory passes models.yaml's ``promote_conn_id``): checked before a request is opened, a connection lookup
        only, so that an id no connection has, or a connection without access ``promote``, fails here, naming it and
        the fix, instead of in the promotion, after a person approved. None: not checked.
    """

    template_fields = ("model_name", "registered_model", "channel", "approvers", "approver_usergroup", "links")
    ui_color = "#f4d58d"

    @settings_parameters(ApprovalSettings)
    def __init__(
        self,
        *,
        model_name: str,
        registered_model: str | None = None,
        retrain_task_id: str = "retrain",
        validate_task_id: str | None = "validate",
        decide_task_id: str = "decide",
        drift_task_id: str = "check_drift",
        settings: ApprovalSettings | Mapping[str, Any] | None = None,
        links: dict[str, str] | None = None,
        state_conn_id: str | None = None,
        deferrable: bool | None = None,
        poke_interval: float = 30,
        entry_error: str | None = None,
        promote_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        overrides = settings_overrides(ApprovalSettings, kwargs, settings=settings)
        templated = {name: overrides.pop(name) for name in _TEMPLATED_SETTINGS if name in overrides}
        settings = ApprovalSettings.resolve(settings, role=f"model '{model_name}': ApprovalSensor", **overrides)
        if deferrable is None:
            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        if not deferrable:
            kwargs.setdefault("mode", "reschedule")
        from airflow_provider_agentic_mlops.liveness import cancel_approval_of_failed_task, with_callback

        # The request's own deadline decides; Airflow's sensor timeout is only a backstop after it.
        kwargs.setdefault("timeout", settings.timeout_hours * 3600 + max(3600, 4 * poke_interval))
        super().__init__(poke_interval=poke_interval, **kwargs)
        # appended after Airflow merged default_args: setting the kwarg would replace the DAG's callback
        self.on_failure_callback = with_callback(self.on_failure_callback, cancel_approval_of_failed_task)
        self.settings = settings
        for name, value in templated.items():
            setattr(self, name, value)
        self.model_name = model_name
        self.registered_model = registered_model
        self.retrain_task_id = retrain_task_id
        self.validate_task_id = validate_task_id
        self.decide_task_id = decide_task_id
        self.drift_task_id = drift_task_id
        self.links = links or {}
        self.state_conn_id = state_conn_id
        self.deferrable = deferrable
        self.entry_error = entry_error
        self.promote_conn_id = promote_conn_id

    # the settings' fields as the sensor's attributes (the template fields among them, which Airflow renders)
    timeout_hours = _SettingsField()
    slack_conn_id = _SettingsField()
    channel = _SettingsField()
    approvers = _SettingsField()
    approver_usergroup = _SettingsField()
    required_approvals = _SettingsField()
    remind_every_hours = _SettingsField()
    escalation_channel = _SettingsField()

    @cached_property
    def store(self) -> StateStore:
        from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

        return StateStoreHook(state_conn_id=self.state_conn_id).get_store()

    @cached_property
    def slack_client(self) -> Any:
        from airflow_provider_agentic_mlops.approvals import slack_client_for

        return slack_client_for(slack_conn_id=self.slack_conn_id) if self.slack_conn_id else None

    @property
    def remind_every(self) -> timedelta | None:
        return timedelta(hours=self.remind_every_hours) if self.remind_every_hours else None

    # -- the request --------------------------------------------------------------------------

    def _ensure_request(self, context: Context) -> dict[str, Any]:
        from airflow_provider_agentic_mlops import approvals
        from airflow_provider_agentic_mlops.core.approval_policy import slack_user_ids
        from airflow_provider_agentic_mlops.core.slack import message_details
        from airflow_provider_agentic_mlops.core.state import utcnow

        try:  # rendered from a template, ``approvers`` is a string ("U1,U2"): the ids it lists
            approvers = slack_user_ids(self.approvers)
        except ValueError as err:
            raise AirflowFailException(f"model {self.model_name!r}: ApprovalSensor {err}") from None
        ti = context["ti"]
        # a rescheduled poke is a new process: say what is missing once per attempt, at its first look
        first_look = not context.get("task_reschedule_count")
        version = pull_retrain_result(ti, self.retrain_task_id, model_name=self.model_name, task="approval")["version"]
        validation: Mapping[str, Any] = {}
        if self.validate_task_id:
            from airflow_provider_agentic_mlops.core.promotion import PromotionRefused, validated_report

            try:  # no request without the report it binds: a retry cannot change the finished validation
                validation = validated_report(
                    ti.xcom_pull(task_ids=self.validate_task_id, key="validation"),
                    model_name=self.model_name,
                    version=str(version),
                    validate_task_id=self.validate_task_id,
                )
            except PromotionRefused as refused:
                raise AirflowFailException(f"no approval asked: {refused}") from None
        drift = ti.xcom_pull(task_ids=self.drift_task_id) or {}
        drift_report = ti.xcom_pull(task_ids=self.drift_task_id, key="report_uri")
        rationale = ti.xcom_pull(task_ids=self.decide_task_id, key="rationale")
        validation_report = validation.get("report_uri") if isinstance(validation, dict) else None
        links = {
            "Airflow run": _run_url(ti.dag_id, context["run_id"]),
            "Drift report": drift_report,
            "Validation report": validation_report,
            **self.links,
        }
        # Slack cannot open runs:/ or artifact-store URIs: the message links the plugin's page for each; the
        # request keeps the URIs themselves, which the approvals page and the report route look up
        open_links = {}
        for name, uri in (("Drift report", drift_report), ("Validation report", validation_report)):
            page = _report_url(self.model_name, uri) if uri else None
            if page and page != uri:
                open_links[name] = page
        result = approvals.request(
            self.store,
            model_name=self.model_name,
            model_version=str(version),
            dag_id=ti.dag_id,
            run_id=context["run_id"],
            expires_at=utcnow() + timedelta(hours=self.timeout_hours),
            report_digest=validation.get("report_digest") if isinstance(validation, dict) else None,
            required_approvals=self.required_approvals,
            approvers=approvers,
            approver_usergroup=self.approver_usergroup,
            slack_conn_id=self.slack_conn_id,
            channel=self.channel,
            state_conn_id=self.state_conn_id,
            details={
                "registered_model": self.registered_model or self.model_name,
                # whose Airflow state says whether the run still waits (a task marked done by hand runs no
                # failure callback): a decision on a run that no longer waits cancels the request instead
                "sensor_task_id": ti.task_id,
                "sensor_map_index": _map_index(ti),  # a mapped sensor's copy (-1: not mapped)
                # what `airflow tasks clear -s/-e` selects the run by; None for a run an alert, `dags trigger` or the
                # UI started (an expired request's error then names the clear by run id only)
                "logical_date": _logical_date(context),
                **message_details(
                    drift=drift if isinstance(drift, dict) else None,
                    rationale=rationale,
                    validation=validation if isinstance(validation, dict) else None,
                    links={k: v for k, v in links.items() if v},
                    open_links=open_links,
                ),
            },
            slack_client=self.slack_client if self.channel else None,
            log_waiting=first_look,
        )
        approval = result.approval
        if first_look and not approvers and not self.approver_usergroup:
            self.log.warning(
                "No Slack approvers configured for %s: Slack clicks are refused (fail closed). Decide with `%s`.",
                self.model_name,
                approvals.cli_command(approval),
            )
        self.log.info(
            "Approval request %s for %s v%s (%s); deadline %s UTC",
            approval["id"],
            self.model_name,
            version,
            "new" if result.created else "existing",
            approval["expires_at"],
        )
        return approval

    def _check(self, approval_id: int, due: bool = False) -> dict[str, Any] | None:
        """The sensor's result when decided; fails when denied/expired; None while pending (``due``: see
        ``approvals.expire_when_due``)."""
        from airflow_provider_agentic_mlops import approvals
        from airflow_provider_agentic_mlops.core.state import APPROVED, DENIED, EXPIRED, PENDING, utcnow

        approval = self.store.get_approval(approval_id)
        if approval is None:
            raise AirflowFailException(f"approval request {approval_id} vanished from the state store")
        now = utcnow()
        approval = approvals.expire_when_due(self.store, approval, now=now, trigger_due=due)
        if approval["status"] == APPROVED:
            self.log.info("Approval request %s approved by %s", approval_id, approval["decided_by"])
            return {"approval_id": approval_id, "status": APPROVED, "decided_by": approval["decided_by"]}
        if approval["status"] != PENDING:
            from airflow_provider_agentic_mlops.core.slack import outcome_text

            then = {
                DENIED: " A deny stands for this report: clearing this task does not ask again (only a re-run of "
                "validation that gives another report does).",
                EXPIRED: " Clearing this task asks again, with a new deadline.",
            }.get(approval["status"], "")
            raise ApprovalNotGranted(
                f"model {approval['model_name']!r} v{approval['model_version']}: approval request {approval_id} "
                f"was {approval['status']}: {outcome_text(approval)}{then}"
            )
        if self.remind_every is not None:
            approvals.send_reminders(
                self.store,
                remind_every=self.remind_every,
                approval_ids=[approval_id],
                escalation_channel=self.escalation_channel,
                now=now,
                slack_client=self.slack_client,
            )
        return None

    # -- waiting ------------------------------------------------------------------------------

    def _refuse_while_held(self) -> None:
        """:raises AirflowFailException: the model is held at its last valid entry (``entry_error``)."""
        if self.entry_error is not None:
            raise AirflowFailException(
                f"model {self.model_name!r} is held at its last valid entry: its entry in the models file is "
                "invalid, so who may approve now is unknown and no approval is taken (a pending request of this "
                f"run is cancelled).\n{self.entry_error}\nFix the entry; once the DAG is no longer flagged "
                "models-yaml-error, clear wait_for_approval to ask again under the entry's approvers."
            )

    def _refuse_unusable_promote_connection(self) -> None:
        """:raises AirflowFailException: ``promote_conn_id`` could not promote (a retry finds the same connection)."""
        if self.promote_conn_id:
            from airflow_provider_agentic_mlops.hooks.model_connections import promote_connection_problem

            if problem := promote_connection_problem(self.promote_conn_id, model_name=self.model_name):
                raise AirflowFailException(f"no approval asked: {problem}")

    def execute(self, context: Context) -> Any:
        self._refuse_while_held()
        check_model_name(self.model_name)
        self._refuse_unusable_promote_connection()
        approval = self._ensure_request(context)
        self._approval_id = approval["id"]
        if not self.deferrable:
            return super().execute(context)
        result = self._check(approval["id"])
        if result is not None:
            return result
        self._defer(approval["id"])

    def poke(self, context: Context) -> bool | PokeReturnValue:
        self._refuse_while_held()
        approval_id = getattr(self, "_approval_id", None)
        if approval_id is None:
            approval_id = self._ensure_request(context)["id"]
        result = self._check(approval_id)
        return PokeReturnValue(is_done=True, xcom_value=result) if result is not None else False

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resumed by the trigger: decided, deadline reached, or a reminder due."""
        self._refuse_while_held()
        if event.get("status") == "error":
            raise AirflowFailException(event.get("message") or f"approval trigger failed: {event}")
        approval_id = int(event["approval_id"])
        result = self._check(approval_id, due=event.get("status") == "due")
        if result is not None:
            return result
        self._defer(approval_id)

    def _defer(self, approval_id: int) -> None:
        from airflow_provider_agentic_mlops import approvals
        from airflow_provider_agentic_mlops.triggers.approval import ApprovalTrigger

        approval = self.store.get_approval(approval_id)
        assert approval is not None
        remind_at = approvals.next_reminder_at(approval, self.remind_every)
        if remind_at is not None and self.remind_every is not None:
            # never in the past: the trigger would fire at once and resume the sensor in a loop
            from airflow_provider_agentic_mlops.core.state import utcnow

            remind_at = max(remind_at, utcnow() + min(self.remind_every, approvals.REMINDER_RETRY))
        self.defer(
            trigger=ApprovalTrigger(
                approval_id=approval_id,
                state_conn_id=self.state_conn_id,
                expires_at=approval["expires_at"].isoformat(),
                remind_at=remind_at.isoformat() if remind_at else None,
                poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )


def _map_index(ti: Any) -> int:
    """The task instance's map index: -1 unless the sensor is mapped (``partial().expand()``)."""
    map_index = getattr(ti, "map_index", None)
    return map_index if isinstance(map_index, int) else -1


def _logical_date(context: Any) -> str | None:
    """The run's logical date (ISO 8601), None when it has none: the Task SDK's context then holds no key for it."""
    logical_date = context.get("logical_date")
    return logical_date.isoformat() if logical_date else None


def _run_url(dag_id: str, run_id: str) -> str | None:
    """The DAG run's page in Airflow's UI; None without a host in ``[api] base_url``."""
    from urllib.parse import quote

    from airflow_provider_agentic_mlops.links import airflow_url

    return airflow_url(f"/dags/{quote(dag_id)}/runs/{quote(run_id)}")


def _report_url(model_name: str, uri: Any) -> Any:
    """The plugin page serving report ``uri`` (a ``runs:/`` or artifact-store URI Slack cannot open) when
    Airflow's ``[api] base_url`` is set; else ``uri`` itself, shown as text."""
    from airflow_provider_agentic_mlops.links import absolute_url, artifact_url

    return (absolute_url(artifact_url(model_name, str(uri))) or uri) if uri else uri
