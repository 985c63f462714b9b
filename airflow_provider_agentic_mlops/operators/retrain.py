"""RetrainOperator: one retraining job per model, within budget, ending in a ``challenger`` version."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_agentic_mlops.operators._base import MlflowHookMixin, StateStoreMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Tag on the registered version (and the training run) that ties it to the retraining job.
JOB_TAG = "agentic_mlops.job_id"
CHALLENGER = "challenger"


class RetrainBudgetExceeded(RuntimeError):
    """The model's retrain budget or cooldown forbids a new retrain now."""


class RetrainOperator(MlflowHookMixin, StateStoreMixin, BaseOperator):
    """Retrain a model (at most one job per model at a time) and mark the new version ``challenger``.

    Two backends: ``trigger_dag_id`` triggers the model's training DAG with ``conf`` and waits for it
    deferrably (Airflow's own TriggerDagRunOperator mechanism and ``DagStateTrigger``), then finds
    the version the DAG registered by its tag ``agentic_mlops.job_id=<job id>``; ``python_callable``
    trains inside the task. Either way the version gets alias ``challenger`` and tags with the DAG
    run and the decision id.

    One job per model: the job is started through the state store, whose unique index admits one
    running job per model. A second trigger attaches to the running job (waits for it and returns its
    result with ``attached=True``) instead of starting another. A job whose worker died (no
    heartbeat for ``heartbeat_timeout`` minutes; for the DAG backend, running longer than
    ``timeout``) is marked failed before anything starts, so it never blocks the model forever.

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
        ``fn(*, model_name, registered_model, tracking_uri, conf, tags) -> {"version", "run_id", "metrics"}``.
    :param conf: training configuration passed to the DAG or the callable (templated).
    :param mlflow_conn_id: MLflow connection with ``train`` access (registers versions, sets ``challenger``).
    :param state_conn_id: state store connection.
    :param decision_task_id: task whose XCom ``decision_id`` is tagged on the version (None: no decision).
    :param timeout: minutes a job may run: the task's ``execution_timeout`` for ``python_callable`` (unless
        given); attaching waits at most this long; a DAG-backend job running longer is presumed lost (bound the
        training DAG itself with ``dagrun_timeout``: Airflow's trigger-and-wait deferral has no timeout of its own).
    :param poll_interval: seconds between checks of the training DAG run or the attached job.
    :param heartbeat_timeout: minutes without heartbeat after which a ``python_callable`` job is presumed dead.
    :param deferrable: wait for the training DAG in the triggerer (required for ``trigger_dag_id``).
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
        mlflow_conn_id: str = "agentic_mlops_mlflow_train",
        state_conn_id: str = "agentic_mlops_state_default",
        decision_task_id: str | None = "decide",
        timeout: float = 120,
        poll_interval: float = 30,
        heartbeat_timeout: float = 10,
        deferrable: bool = True,
        cooldown_hours: float | None = 24,
        max_retrains: int | None = 3,
        budget_window_hours: float = 168,
        **kwargs: Any,
    ) -> None:
        if python_callable and "execution_timeout" not in kwargs:
            # training in the task is bounded by `timeout`; the task timing out fails the job too
            kwargs["execution_timeout"] = timedelta(minutes=timeout)
        super().__init__(**kwargs)
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
        self.cooldown_hours = cooldown_hours
        self.max_retrains = max_retrains
        self.budget_window_hours = budget_window_hours

    @property
    def stale_after(self) -> timedelta:
        """A running job older than this (no heartbeat) is presumed dead: the heartbeat window for jobs
        trained in a task; the whole timeout for a training DAG, whose wait cannot heartbeat."""
        return timedelta(minutes=self.timeout if self.trigger_dag_id else self.heartbeat_timeout)

    # -- execute ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        self.hook.require_access("train", f"retraining model {self.model_name!r}")
        dag_id, run_id = _run_ids(context)
        stale = self.store.fail_stale_jobs(stale_after=self.stale_after, model_name=self.model_name)
        if stale:
            self.log.warning("Marked failed the stale job(s) %s of %s (worker presumed dead)", stale, self.model_name)

        running = self.store.inflight_job(self.model_name)
        if running is not None and _same_run(running, dag_id, run_id):
            if self.trigger_dag_id and running.get("external_ref"):
                self.log.info("Resuming the wait for job %s (training run %s)", running["id"], running["external_ref"])
                return self._defer_on_training_run(running)
            self.store.finish_job(running["id"], status="failed", error="superseded by a new try of the same task")
            self.log.warning("Job %s of this DAG run was left by an earlier try; marked failed", running["id"])
            running = None
        if running is not None:
            return self._attach(running, context)

        self._check_budget()
        decision_id = self._decision_id(context)
        job, created = self.store.start_job(
            self.model_name,
            dag_id=dag_id,
            run_id=run_id,
            decision_id=decision_id,
            kind="retrain",
            details={
                "registered_model": self.registered_model,
                "backend": "trigger_dag" if self.trigger_dag_id else "python_callable",
                "trigger_dag_id": self.trigger_dag_id,
                "timeout_minutes": self.timeout,
            },
        )
        if not created:
            self.log.info("Another trigger started job %s first; attaching to it", job["id"])
            return self._attach(job, context)
        self.log.info("Started retraining job %s for %s (decision %s)", job["id"], self.model_name, decision_id)
        if self.trigger_dag_id:
            self._trigger_training_dag(job)  # raises: the task runner triggers the DAG and defers
        return self._train_in_task(job)

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Back from waiting on the training DAG run (ours, or the one of the job we attached to)."""
        payload = event[1] if isinstance(event, (list, tuple)) and len(event) == 2 else event or {}
        run_ids = payload.get("run_ids") or []
        if len(run_ids) != 1:
            raise RuntimeError(f"unexpected trigger event for model {self.model_name!r}: {event!r}")
        training_run_id = run_ids[0]
        job = self._job_by_external_ref(training_run_id)
        dag_id, run_id = _run_ids(context)
        attached = not _same_run(job, dag_id, run_id)
        if job["status"] != "running":
            return self._result_of_finished(job, attached=attached)
        state = str(payload.get(training_run_id, "")).lower()
        if state != "success":
            error = (
                f"training DAG {self.trigger_dag_id!r} run {training_run_id!r} ended in state {state or 'unknown'!r}"
            )
            self.store.finish_job(job["id"], status="failed", error=error)
            raise RuntimeError(f"model {self.model_name!r}: job {job['id']} failed: {error}")
        versions = self.hook.search_versions_by_tag(self.registered_model, JOB_TAG, str(job["id"]))
        if not versions:
            error = (
                f"training DAG {self.trigger_dag_id!r} run {training_run_id!r} succeeded but registered no version of "
                f"{self.registered_model!r} tagged {JOB_TAG}={job['id']}; the training must set the tags it receives "
                "in conf['tags'] on the version it registers"
            )
            self.store.finish_job(job["id"], status="failed", error=error)
            raise RuntimeError(error)
        version = versions[0]
        return self._finalize(job, version=str(version.version), mlflow_run_id=version.run_id, attached=attached)

    # -- backends ---------------------------------------------------------------------------------

    def _trigger_training_dag(self, job: dict[str, Any]) -> None:
        from airflow_provider_agentic_mlops.version_compat import DagRunTriggerException

        training_run_id = f"retrain__{self.model_name}__job{job['id']}"
        self.store.heartbeat_job(job["id"], external_ref=training_run_id)
        conf = {
            **self.conf,
            "model_name": self.model_name,
            "registered_model": self.registered_model,
            "mlflow_conn_id": self.mlflow_conn_id,
            "tags": self._tags(job),
        }
        self.log.info("Triggering %s run %s for job %s", self.trigger_dag_id, training_run_id, job["id"])
        raise DagRunTriggerException(
            trigger_dag_id=self.trigger_dag_id,
            dag_run_id=training_run_id,
            conf=conf,
            logical_date=None,
            reset_dag_run=False,
            skip_when_already_exists=False,
            wait_for_completion=True,
            allowed_states=["success"],
            failed_states=["failed"],
            poke_interval=max(1, int(self.poll_interval)),
            deferrable=True,
        )

    def _defer_on_training_run(self, job: dict[str, Any]) -> Any:
        from airflow.providers.standard.triggers.external_task import DagStateTrigger

        from airflow_provider_agentic_mlops.core.state import utcnow

        trigger_dag_id = (job.get("details") or {}).get("trigger_dag_id") or self.trigger_dag_id
        remaining = timedelta(minutes=self.timeout) - (utcnow() - job["started_at"])
        self.defer(
            trigger=DagStateTrigger(
                dag_id=trigger_dag_id,
                states=["success", "failed"],
                run_ids=[job["external_ref"]],
                execution_dates=None,
                poll_interval=self.poll_interval,
            ),
            method_name="execute_complete",
            timeout=max(remaining, timedelta(minutes=1)),
        )

    def _train_in_task(self, job: dict[str, Any]) -> dict[str, Any]:
        fn = _load_callable(self.python_callable)
        stop = threading.Event()
        interval = min(self.poll_interval, self.heartbeat_timeout * 60 / 3)

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    self.store.heartbeat_job(job["id"])
                except Exception:  # a missed beat is not fatal; staleness is judged over minutes
                    self.log.warning("Heartbeat of job %s failed", job["id"], exc_info=True)

        beater = threading.Thread(target=beat, name=f"heartbeat-job-{job['id']}", daemon=True)
        beater.start()
        try:
            result = fn(
                model_name=self.model_name,
                registered_model=self.registered_model,
                tracking_uri=self.hook.tracking_uri,
                conf=dict(self.conf),
                tags=self._tags(job),
            )
            if not isinstance(result, dict) or not result.get("version") or not result.get("run_id"):
                raise ValueError(
                    f"training callable {self.python_callable!r} returned {result!r}; it must return "
                    '{"version": str, "run_id": str, "metrics": dict} (the training callable contract)'
                )
            return self._finalize(
                job,
                version=str(result["version"]),
                mlflow_run_id=str(result["run_id"]),
                attached=False,
                metrics=result.get("metrics") or {},
            )
        except BaseException as err:
            self.store.finish_job(job["id"], status="failed", error=f"{type(err).__name__}: {err}"[:4000])
            raise
        finally:
            stop.set()
            beater.join(timeout=5)

    # -- attach -----------------------------------------------------------------------------------

    def _attach(self, job: dict[str, Any], context: Context) -> dict[str, Any]:
        """Wait for the model's running job instead of starting a second one, and return its result."""
        import time

        from airflow_provider_agentic_mlops.core.state import utcnow

        self.log.info(
            "Job %s of %s is already running (DAG run %s, started %s): attaching instead of starting another",
            job["id"],
            self.model_name,
            job.get("run_id"),
            job.get("started_at"),
        )
        deadline = job["started_at"] + timedelta(minutes=self.timeout)
        while True:
            current = self.store.get_job(job["id"]) or job
            if current["status"] != "running":
                return self._result_of_finished(current, attached=True)
            if self.trigger_dag_id and current.get("external_ref"):
                return self._defer_on_training_run(current)
            if utcnow() >= deadline:
                raise TimeoutError(
                    f"model {self.model_name!r}: job {job['id']} is still running after {self.timeout:g} minutes; "
                    "it will be marked failed once stale. Check its worker, or raise `timeout`."
                )
            time.sleep(self.poll_interval)
            self.store.fail_stale_jobs(stale_after=self.stale_after, model_name=self.model_name)

    def _result_of_finished(self, job: dict[str, Any], *, attached: bool) -> dict[str, Any]:
        if job["status"] != "succeeded":
            raise RuntimeError(
                f"model {self.model_name!r}: retraining job {job['id']} {job['status']}: {job.get('error')}"
            )
        result = job.get("result") or {}
        return {
            "job_id": job["id"],
            "model_name": self.model_name,
            "registered_model": result.get("registered_model", self.registered_model),
            "version": str(result["version"]),
            "mlflow_run_id": result.get("mlflow_run_id"),
            "attached": attached,
        }

    # -- helpers ----------------------------------------------------------------------------------

    def _finalize(
        self,
        job: dict[str, Any],
        *,
        version: str,
        mlflow_run_id: str | None,
        attached: bool,
        metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Tag the version with its job, DAG run and decision, point ``challenger`` at it, close the job.
        Idempotent: whoever gets here first (owner or attached task) does it, the rest repeat it harmlessly."""
        self.hook.set_version_tags(self.registered_model, version, self._tags(job))
        self.hook.set_alias(self.registered_model, CHALLENGER, version)
        result = {
            "registered_model": self.registered_model,
            "version": version,
            "mlflow_run_id": mlflow_run_id,
            "metrics": metrics or {},
        }
        finished = self.store.finish_job(job["id"], status="succeeded", result=result)
        self.log.info("%s v%s is the challenger (job %s)", self.registered_model, version, job["id"])
        return self._result_of_finished(finished, attached=attached)

    def _tags(self, job: dict[str, Any]) -> dict[str, str]:
        tags = {
            JOB_TAG: str(job["id"]),
            "agentic_mlops.model_name": self.model_name,
            "agentic_mlops.dag_id": str(job.get("dag_id") or ""),
            "agentic_mlops.dag_run_id": str(job.get("run_id") or ""),
        }
        if job.get("decision_id") is not None:
            tags["agentic_mlops.decision_id"] = str(job["decision_id"])
        return tags

    def _job_by_external_ref(self, training_run_id: str) -> dict[str, Any]:
        for job in self.store.list_jobs(self.model_name, limit=200):
            if job.get("external_ref") == training_run_id:
                return job
        raise RuntimeError(
            f"model {self.model_name!r}: no retraining job refers to training run {training_run_id!r} in the state "
            f"store ({self.state_conn_id!r}); was the store reset while the task was deferred?"
        )

    def _decision_id(self, context: Context) -> int | None:
        if not self.decision_task_id:
            return None
        value = context["ti"].xcom_pull(task_ids=self.decision_task_id, key="decision_id")
        return int(value) if value is not None else None

    def _check_budget(self) -> None:
        if self.cooldown_hours is None and self.max_retrains is None:
            return
        from airflow_provider_agentic_mlops.core.budget import check_retrain_budget
        from airflow_provider_agentic_mlops.core.state import utcnow

        now = utcnow()
        since = now - timedelta(hours=self.budget_window_hours)
        in_window = self.store.list_jobs(self.model_name, since=since, limit=10_000)
        in_window = [j for j in in_window if j.get("kind") == "retrain"]
        last = self.store.last_retrain(self.model_name)
        check = check_retrain_budget(
            now=now,
            last_retrain_at=last["started_at"] if last else None,
            retrains_in_window=self.store.count_retrains(self.model_name, since=since),
            cooldown_hours=self.cooldown_hours or 0,
            max_retrains=self.max_retrains if self.max_retrains is not None else 10**9,
            budget_window_hours=self.budget_window_hours,
            oldest_in_window_at=min((j["started_at"] for j in in_window), default=None),
        )
        if not check.allowed:
            self.store.audit(
                "retrain_refused",
                actor="agentic-mlops",
                model_name=self.model_name,
                subject=f"task:{self.task_id}",
                details={"reason": check.reason},
            )
            raise RetrainBudgetExceeded(
                f"model {self.model_name!r}: retrain refused, {check.reason}. Wait, or raise decision.cooldown_hours / "
                "decision.max_retrains in models.yaml if this model really needs more retrains."
            )
        self.log.info("Budget: %s", check.reason)


def _run_ids(context: Context) -> tuple[str | None, str | None]:
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None)
    run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None) or context.get("run_id")
    return dag_id, run_id


def _same_run(job: dict[str, Any], dag_id: str | None, run_id: str | None) -> bool:
    return job.get("dag_id") == dag_id and job.get("run_id") == run_id


def _load_callable(target: str | Callable[..., dict[str, Any]] | None) -> Callable[..., dict[str, Any]]:
    if callable(target):
        return target
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(f"python_callable {target!r} must be 'module:function' or a callable")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"python_callable {target!r}: cannot import module {module_name!r}: {err}") from err
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"python_callable {target!r}: {module_name!r} has no callable {attr!r}")
    return fn
