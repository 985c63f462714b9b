"""RetrainOperator: one retraining job per model, within budget, ending in a ``challenger`` version."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_agentic_mlops.core.budget import RetrainBudget
from airflow_provider_agentic_mlops.core.connections import DEFAULT_TRAIN_CONN_ID
from airflow_provider_agentic_mlops.core.retraining import (  # noqa: F401 - JOB_TAG, RetrainBudgetExceeded re-exported
    JOB_TAG,
    RetrainBudgetExceeded,
    Retraining,
    new_job_details,
    same_run,
    training_run_id,
)
from airflow_provider_agentic_mlops.liveness import fail_job_of_failed_task, map_index_of, run_of, with_callback
from airflow_provider_agentic_mlops.operators._base import MlflowHookMixin, StateStoreMixin, check_model_name

if TYPE_CHECKING:
    from airflow.sdk import Context


#: States of a training DAG run that has not ended yet.
_NOT_ENDED = ("queued", "running")
#: How often Airflow's first wait on a triggered training run (no timeout of its own) looks for the run.
FIRST_WAIT_POLL_SECONDS = 5


class RetrainOperator(MlflowHookMixin, StateStoreMixin, BaseOperator):
    """Retrain a model (at most one job per model at a time) and mark the new version ``challenger``.

    Two backends: ``trigger_dag_id`` triggers the model's training DAG with ``conf`` and waits for it
    deferrably (Airflow's own TriggerDagRunOperator mechanism and ``DagStateTrigger``), then finds
    the version the DAG registered after the job started by its tag ``agentic_mlops.job_token`` (the job's
    globally unique token; the DAG sets all the tags it receives); ``python_callable``
    trains inside the task. Either way the version gets alias ``challenger`` and tags with the DAG
    run and the decision id.

    One job per model: the job is started through the state store, whose unique index admits one
    running job per model. A second trigger attaches to the running job (waits for it and returns its
    result with ``attached=True``) instead of starting another. The job records its limits; whoever reads
    the in-flight job (this operator, the decide step, ``models list``) first fails it when its worker
    died: no heartbeat for ``heartbeat_timeout`` minutes, for the DAG backend running longer than
    ``timeout``, or its task no longer running in Airflow. When Airflow fails this task (also after a
    SIGKILL, through ``on_failure_callback``), the job of its run is failed at once.

    Budget (defence in depth; the decide step checks the same): a new job is refused with
    :class:`RetrainBudgetExceeded` inside ``cooldown_hours`` of the last retrain or when
    ``max_retrains`` were started within ``budget_window_hours``. For a global cap across all models
    give every RetrainOperator the same Airflow ``pool`` (e.g. ``pool="agentic_mlops_retrain"``,
    created with ``airflow pools set agentic_mlops_retrain 2 "concurrent retrains" --include-deferred``;
    ``--include-deferred`` makes the deferred wait on a training DAG hold its slot).

    Returns ``{"job_id", "model_name", "registered_model", "version", "mlflow_run_id", "attached"}``.

    :param model_name: the provider's model name (the state store's key).
    :param registered_model: name in the MLflow registry (default: ``model_name``).
    :param trigger_dag_id: the training DAG to trigger. Its conf gets ``conf`` plus ``model_name``,
        ``registered_model``, ``mlflow_conn_id`` and ``tags`` (which it must set on the version it
        registers, see the training callable contract).
    :param python_callable: ``"module:function"`` or a callable with the training callable contract
        ``fn(*, model_name, registered_model, tracking_uri, conf, tags) -> {"version", "run_id", "metrics"}``,
        called inside the connection's ``authenticated()`` (its MLflow calls in this thread send the credentials).
    :param conf: training configuration passed to the DAG or the callable (templated).
    :param mlflow_conn_id: MLflow connection with ``train`` access (registers versions, sets ``challenger``).
    :param state_conn_id: state store connection (default: ``[agentic_mlops] state_conn_id``).
    :param decision_task_id: task whose XCom ``decision_id`` is tagged on the version (None: no decision).
    :param timeout: minutes a job may run: the task's ``execution_timeout`` for ``python_callable`` (unless
        given); attaching waits at most this long; a DAG-backend job running longer is presumed lost, and the task's
        wait on its training run ends after this long with the task and the job failed.
    :param poll_interval: seconds between checks of the training DAG run or the attached job.
    :param heartbeat_timeout: minutes without heartbeat after which a ``python_callable`` job is presumed dead.
    :param deferrable: wait for the training DAG in the triggerer (required for ``trigger_dag_id``, the
        default there); ``python_callable`` trains inside the task and has nothing to defer.
    :param cooldown_hours: hours after the last retrain during which none starts (None: no cooldown).
    :param max_retrains: retrains allowed per ``budget_window_hours`` (None: unlimited).
    :param budget_window_hours: the budget's sliding window.
    """

    template_fields: Sequence[str] = ("model_name", "registered_model", "trigger_dag_id", "conf")
    template_fields_renderers = {"conf": "json"}
    ui_color = "#fff3d6"

    def __init__(
        self,
        *,
        model_name: str,
        registered_model: str | None = None,
        trigger_dag_id: str | None = None,
        python_callable: str | Callable[..., dict[str, Any]] | None = None,
        conf: dict[str, Any] | None = None,
        mlflow_conn_id: str = DEFAULT_TRAIN_CONN_ID,
        state_conn_id: str | None = None,
        decision_task_id: str | None = "decide",
        timeout: float = 120,
        poll_interval: float = 30,
        heartbeat_timeout: float = 10,
        deferrable: bool | None = None,
        cooldown_hours: float | None = 24,
        max_retrains: int | None = 3,
        budget_window_hours: float = 168,
        **kwargs: Any,
    ) -> None:
        if python_callable and "execution_timeout" not in kwargs:
            # training in the task is bounded by `timeout`; the task timing out fails the job too
            kwargs["execution_timeout"] = timedelta(minutes=timeout)
        super().__init__(**kwargs)
        # appended after Airflow merged default_args: setting the kwarg would replace the DAG's callback
        self.on_failure_callback = with_callback(self.on_failure_callback, fail_job_of_failed_task)
        if deferrable is None:  # the DAG backend can only wait deferred (Airflow 3 resumes it after a deferral)
            deferrable = bool(trigger_dag_id)
        if bool(trigger_dag_id) == bool(python_callable):
            raise ValueError(
                f"RetrainOperator {kwargs.get('task_id')!r} for model {model_name!r}: set exactly one of "
                f"trigger_dag_id (got {trigger_dag_id!r}) or python_callable (got {python_callable!r})"
            )
        if isinstance(python_callable, str) and ":" not in python_callable:
            raise ValueError(
                f"python_callable {python_callable!r} must be 'module:function', "
                "e.g. 'airflow_provider_agentic_mlops.demo.training:train_fraud_detector'"
            )
        if trigger_dag_id and not deferrable:
            raise ValueError(
                f"model {model_name!r}: the trigger_dag_id backend waits deferrably (Airflow 3 calls the task back "
                "only after a deferral); keep deferrable=True and run a triggerer, or use python_callable"
            )
        for name, value in (
            ("timeout", timeout),
            ("poll_interval", poll_interval),
            ("heartbeat_timeout", heartbeat_timeout),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        self.model_name = model_name
        self.registered_model = registered_model or model_name
        self.trigger_dag_id = trigger_dag_id
        self.python_callable = python_callable
        self.conf = conf or {}
        self.mlflow_conn_id = mlflow_conn_id
        self.state_conn_id = state_conn_id
        self.decision_task_id = decision_task_id
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.deferrable = deferrable
        self.budget = RetrainBudget(cooldown_hours, max_retrains, budget_window_hours)

    @cached_property
    def retraining(self) -> Retraining:
        """This model's jobs in the state store and the registry (``core/retraining.py``)."""
        return Retraining(self.hook, self.store, self.model_name, self.registered_model)

    def execute(self, context: Context) -> dict[str, Any]:
        check_model_name(self.model_name)
        self.hook.require_access("train", f"retraining model {self.model_name!r}")
        from airflow_provider_agentic_mlops.liveness import job_task_state

        dag_id, run_id = run_of(context)
        running = self.store.inflight_job(self.model_name, task_state=job_task_state)
        if running is not None and same_run(running, dag_id, run_id):
            if self.trigger_dag_id and running.get("external_ref"):
                if self._training_run_exists(running, context):
                    self.log.info(
                        "Resuming the wait for job %s (training run %s)", running["id"], running["external_ref"]
                    )
                    return self._defer_on_training_run(running)
                # an earlier try's trigger failed after the job named its run (a retry runs no failure callback)
                self.log.warning(
                    "Job %s's training run %s was never created (the trigger of an earlier try failed); triggering "
                    "it again",
                    running["id"],
                    running["external_ref"],
                )
                self._trigger_training_dag(running)
            self.retraining.supersede(running)  # the new try's job is the run's one unit of the budget
            self.log.warning("Job %s of this DAG run was left by an earlier try; marked failed", running["id"])
            running = None
        if running is not None:
            return self._attach(running, context)

        decision_id = self._decision_id(context)
        details = new_job_details(
            registered_model=self.registered_model,
            backend="trigger_dag" if self.trigger_dag_id else "python_callable",
            trigger_dag_id=self.trigger_dag_id,
            task_id=self.task_id,
            # its copy of a mapped task: readers of the job ask Airflow for this task instance's state
            task_map_index=map_index_of(context.get("ti")),
            timeout_minutes=self.timeout,
            # a deferred wait on a training DAG cannot heartbeat: only its timeout applies
            heartbeat_timeout_minutes=None if self.trigger_dag_id else self.heartbeat_timeout,
        )
        job, created = self.retraining.start_job(  # the budget check and the insert: one locked step
            self.budget, f"task:{self.task_id}", run=(dag_id, run_id), decision_id=decision_id, details=details
        )
        if not created:
            self.log.info("Another trigger started job %s first; attaching to it", job["id"])
            return self._attach(job, context)
        self.log.info("Started retraining job %s for %s (decision %s)", job["id"], self.model_name, decision_id)
        if self.trigger_dag_id:
            self._trigger_training_dag(job)  # raises: the task runner triggers the DAG and defers
        heartbeat_every = min(self.poll_interval, self.heartbeat_timeout * 60 / 3)
        return self.retraining.train(job, self.python_callable, self.conf, heartbeat_every=heartbeat_every)

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Back from waiting on the training DAG run (ours, or the one of the job we attached to)."""
        payload = event[1] if isinstance(event, (list, tuple)) and len(event) == 2 else event or {}
        run_ids = payload.get("run_ids") or []
        if len(run_ids) != 1:
            raise RuntimeError(f"unexpected trigger event for model {self.model_name!r}: {event!r}")
        training_run = run_ids[0]
        from airflow_provider_agentic_mlops.settings import configured_state_conn_id

        store_name = self.state_conn_id or configured_state_conn_id()
        job = self.retraining.job_of_training_run(training_run, store_name=store_name)
        state = str(payload.get(training_run, "")).lower()
        if state in _NOT_ENDED and job["status"] == "running":  # the run exists: now wait for its end, bounded
            return self._defer_on_training_run(job)
        attached = not same_run(job, *run_of(context))
        return self.retraining.finish_training_run(
            job, training_run, state, training_dag=self.trigger_dag_id, attached=attached
        )

    def _training_run_exists(self, job: dict[str, Any], context: Context) -> bool:
        """Whether Airflow has the training DAG run ``job`` named (its ``external_ref``)."""
        trigger_dag_id = (job.get("details") or {}).get("trigger_dag_id") or self.trigger_dag_id
        return bool(context["ti"].get_dr_count(dag_id=trigger_dag_id, run_ids=[job["external_ref"]]))

    def _trigger_training_dag(self, job: dict[str, Any]) -> None:
        from airflow_provider_agentic_mlops.version_compat import DagRunTriggerException

        # unique across state stores: it carries the job's token; a trigger again keeps the run id the job named
        run_id = job.get("external_ref") or training_run_id(self.model_name, job)
        details = {**(job.get("details") or {}), "trigger_dag_id": self.trigger_dag_id}
        self.store.heartbeat_job(job["id"], external_ref=run_id, details=details)
        conf = {
            **self.conf,
            "model_name": self.model_name,
            "registered_model": self.registered_model,
            "mlflow_conn_id": self.mlflow_conn_id,
            "tags": self.retraining.tags(job),
        }
        self.log.info("Triggering %s run %s for job %s", self.trigger_dag_id, run_id, job["id"])
        raise DagRunTriggerException(
            trigger_dag_id=self.trigger_dag_id,
            dag_run_id=run_id,
            conf=conf,
            logical_date=None,
            reset_dag_run=False,
            skip_when_already_exists=False,
            # Airflow defers on the run with no timeout: end that first wait as soon as the run exists, so
            # execute_complete waits for its end on a deferral bounded by `timeout` (a deleted or paused run
            # must not hold the task, and with max_active_runs=1 the model, forever). A run deleted before the
            # first poll is never seen, and that first wait has no end but a clear: polled every 5 s at most,
            # to keep that window short
            wait_for_completion=True,
            allowed_states=[*_NOT_ENDED, "success"],
            failed_states=["failed"],
            poke_interval=max(1, min(FIRST_WAIT_POLL_SECONDS, int(self.poll_interval))),
            deferrable=True,
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """A wait on the training run that timed out fails the job of this run and says what to check."""
        error = str((next_kwargs or {}).get("error", ""))
        if next_method == "__fail__" and "timeout" in error.lower():
            raise self.retraining.training_run_timed_out(self.trigger_dag_id, self.timeout, *run_of(context))
        return super().resume_execution(next_method, next_kwargs, context)

    def _defer_on_training_run(self, job: dict[str, Any]) -> Any:
        from airflow.providers.standard.triggers.external_task import DagStateTrigger

        from airflow_provider_agentic_mlops.core.state import utcnow

        trigger_dag_id = (job.get("details") or {}).get("trigger_dag_id") or self.trigger_dag_id
        remaining = timedelta(minutes=self.timeout) - (utcnow() - job["started_at"])
        trigger = DagStateTrigger(
            dag_id=trigger_dag_id,
            states=["success", "failed"],
            run_ids=[job["external_ref"]],
            execution_dates=None,
            poll_interval=self.poll_interval,
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=max(remaining, timedelta(minutes=1)))

    def _attach(self, job: dict[str, Any], context: Context) -> dict[str, Any]:
        """Wait for the model's running job instead of starting a second one, and return its result."""
        self.log.info(
            "Job %s of %s is already running (DAG run %s, started %s): attaching instead of starting another",
            job["id"],
            self.model_name,
            job.get("run_id"),
            job.get("started_at"),
        )
        current = self.retraining.wait_for(
            job,
            timeout_minutes=self.timeout,
            poll_interval=self.poll_interval,
            until_external_ref=bool(self.trigger_dag_id),
        )
        if current["status"] == "running":  # it has named its training DAG run: wait on that, deferred
            return self._defer_on_training_run(current)
        return self.retraining.result(current, attached=True)

    def _decision_id(self, context: Context) -> int | None:
        if not self.decision_task_id:
            return None
        value = context["ti"].xcom_pull(task_ids=self.decision_task_id, key="decision_id")
        return int(value) if value is not None else None
