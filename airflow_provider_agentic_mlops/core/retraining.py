"""A retraining job from start to challenger, without Airflow: the budget it must fit, the training
callable run with a heartbeat, the wait of a second trigger on the running job, and the version it ends
in (tagged with its job, DAG run and decision, alias ``challenger``). RetrainOperator calls it; the
job's liveness rules are in ``core/jobs.py``, the budget rule in ``core/budget.py``."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from airflow_provider_agentic_mlops.core.budget import BudgetCheck, RetrainBudget, allow_sooner
from airflow_provider_agentic_mlops.core.promotion import CHALLENGER

if TYPE_CHECKING:  # the state store (SQLAlchemy tables) is imported when used, not at DAG parse time
    from airflow_provider_agentic_mlops.core.state import StateStore

log = logging.getLogger(__name__)

#: Tag on the registered version (and the training run) that ties it to the retraining job.
JOB_TAG = "agentic_mlops.job_id"
#: Tag with the job's globally unique token, by which the DAG backend finds the version the training
#: registered: job ids are unique only within one state store, and a registry may be shared by
#: deployments (prod, staging) or outlive a state store (a new AIRFLOW_HOME restarts at job 1).
JOB_TOKEN_TAG = "agentic_mlops.job_token"
#: How much earlier than the job's start a version may look created (the MLflow server's clock).
CLOCK_SKEW = timedelta(minutes=1)
#: How many levels of nested MLflow runs (``mlflow.parentRunId``) a registered version's run may sit below the
#: run the training returns (a pipeline run > a hyperparameter search > its trials is two).
MAX_RUN_NESTING = 5
#: The longest DAG run id Airflow stores (its ``dag_run.run_id`` column).
MAX_RUN_ID_LENGTH = 250
#: How much of the job's token a training run id carries: enough that no two jobs' ids meet.
RUN_ID_TOKEN_CHARS = 12

#: ``fn(*, model_name, registered_model, tracking_uri, conf, tags) -> {"version", "run_id", "metrics"}``, called
#: inside the connection's ``authenticated()``: its MLflow calls in the calling thread carry the credentials.
TrainingCallable = Callable[..., dict[str, Any]]


class RetrainBudgetExceeded(RuntimeError):
    """The model's retrain budget or cooldown forbids a new retrain now."""


class _Refused(Exception):
    """The budget refused a job's start inside the store's locked transaction (see :meth:`Retraining.start_job`)."""

    def __init__(self, check: BudgetCheck) -> None:
        super().__init__(check.reason)
        self.check = check


class ChallengerRegistry(Protocol):
    """What retraining needs from the model registry (``MlflowRegistryHook`` provides it)."""

    @property
    def tracking_uri(self) -> str: ...

    def set_alias(self, registered_model: str, alias: str, version: str) -> None: ...

    def set_version_tags(self, registered_model: str, version: str, tags: dict[str, Any]) -> None: ...

    def search_versions_by_tag(self, registered_model: str, key: str, value: str) -> list[Any]: ...

    def version_run_id(self, registered_model: str, version: str) -> str | None:
        """The MLflow run ``version`` was registered from ("" when none), None when there is no such version."""
        ...

    def parent_run_id(self, run_id: str) -> str | None:
        """The run ``run_id`` is nested in (its ``mlflow.parentRunId`` tag), None for a top-level or unknown run."""
        ...

    def authenticated(self) -> AbstractContextManager[None]: ...


def new_job_details(**details: Any) -> dict[str, Any]:
    """A new job's ``details``: ``details`` plus its globally unique ``job_token``."""
    return {**details, "job_token": uuid.uuid4().hex}


def job_token(job: dict[str, Any]) -> str | None:
    """The job's globally unique token (None for a job started by a release without tokens)."""
    return (job.get("details") or {}).get("job_token")


def training_run_id(model_name: str, job: dict[str, Any]) -> str:
    """The id of the training DAG run ``job`` triggers, e.g. ``retrain__fraud__job1__3f6d0c1a9b2e``: the model,
    the job id and the start of the job's token. Job ids restart at 1 in a new state store (a new SQLite file, a
    move to PostgreSQL, a model given its own store), while Airflow keeps the training runs the earlier store's
    jobs triggered: an id of the model and the job id alone is then taken ("Dag Run already exists") and the job
    fails. The token makes it new. A job without a token (an earlier release) keeps the earlier form.

    The id is only made here, when the job triggers its run; everything after (resuming the wait, finding the
    job of a run) reads it from the job's ``external_ref``, so jobs of earlier releases resume by their own ids.
    """
    token = job_token(job)
    suffix = f"__job{job['id']}" + (f"__{token[:RUN_ID_TOKEN_CHARS]}" if token else "")
    return f"retrain__{model_name}"[: MAX_RUN_ID_LENGTH - len(suffix)] + suffix


def unknown_training_dag_error(model_name: str, trigger_dag_id: str | None) -> str:
    """The error of a retrain whose ``trigger_dag_id`` Airflow refused to trigger: no DAG has that id."""
    return (
        f"model {model_name!r}: retrain.trigger_dag_id {trigger_dag_id!r} names no DAG Airflow knows (the API "
        "server answered 404); fix trigger_dag_id (retrain.trigger_dag_id in models.yaml) and clear the task"
    )


def same_run(job: dict[str, Any], dag_id: str | None, run_id: str | None) -> bool:
    """Whether ``job`` was started by the DAG run ``dag_id``/``run_id``."""
    return job.get("dag_id") == dag_id and job.get("run_id") == run_id


def training_run_still_running(training_dag: str | None, training_run: str | None) -> str:
    """What to do about a training DAG run whose job was closed while Airflow may still run it: a retrain started
    meanwhile would train beside it, and the version it registers late is never made the challenger."""
    return (
        f"Airflow does not stop the training run {training_run!r} of DAG {training_dag!r}: if it is still running or "
        "queued, mark it failed (UI: the run > Mark Run as Failed; or PATCH /api/v2/dags/"
        f'{training_dag}/dagRuns/{training_run} with {{"state": "failed"}}) before the model retrains again, '
        "or two trainings overlap and this one registers a version no job takes. Set the training DAG's "
        "dagrun_timeout no higher than the retrain timeout to have Airflow end it."
    )


def load_training_callable(target: str | TrainingCallable | None) -> TrainingCallable:
    """The training callable named ``"module:function"`` (or ``target`` itself when it is callable)."""
    if callable(target):
        return target
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(f"python_callable {target!r} must be 'module:function' or a callable")
    from airflow_provider_agentic_mlops.core.imports import import_function

    return import_function(target, role="python_callable", returning="returning {'version', 'run_id', 'metrics'}")


@dataclass(frozen=True)
class Retraining:
    """One model's retraining jobs, in the state store and the registry.

    :param registry: the registry (with ``train`` access) that receives tags and the ``challenger`` alias.
    :param store: the state store that holds the jobs.
    :param model_name: the provider's model name (the state store's key).
    :param registered_model: its name in the registry.
    """

    registry: ChallengerRegistry
    store: StateStore
    model_name: str
    registered_model: str

    def enforce_budget(
        self, budget: RetrainBudget, *, subject: str, run: tuple[str | None, str | None] | None = None
    ) -> None:
        """Raise :class:`RetrainBudgetExceeded` (and audit ``retrain_refused`` for ``subject``) when the
        cooldown or the budget forbids a new job now. A check only: :meth:`start_job` checks and starts at once.

        :param run: ``(dag_id, run_id)`` of the DAG run starting the job: a failed job of its own (an earlier try's,
            superseded or failed as stale) does not count, the new job takes the run's one unit.
        """
        if budget.unlimited:
            return
        check = self._check_budget(budget, run)
        if not check.allowed:
            self._refuse(check, subject)

    def start_job(
        self,
        budget: RetrainBudget,
        subject: str,
        *,
        run: tuple[str | None, str | None],
        decision_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Start the model's retraining job if ``budget`` allows one now, or attach to the job already running.
        The budget check and the job's insert are one step under the model's lock in the state store
        (:meth:`StateStore.start_job`'s ``admit``): of two runs starting at once, the second counts the first's
        job, even one that failed already, so a budget of one retrain starts one job however the runs overlap.

        :param subject: who asks (``task:<task_id>``), for a refusal's audit entry.
        :param run: ``(dag_id, run_id)`` of the DAG run starting the job (its own failed jobs do not count, see
            :meth:`enforce_budget`).
        :param decision_id: the decision that asked for the retrain, if any.
        :param details: the job's ``details`` (:func:`new_job_details`).
        :return: ``(job, created)``, as :meth:`StateStore.start_job`: not created when a job was running.
        :raises RetrainBudgetExceeded: the cooldown or the budget forbids a new job now (audited ``retrain_refused``).
        """

        def admit() -> None:
            check = self._check_budget(budget, run)
            if not check.allowed:
                raise _Refused(check)

        dag_id, run_id = run
        try:
            return self.store.start_job(
                self.model_name,
                dag_id=dag_id,
                run_id=run_id,
                decision_id=decision_id,
                kind="retrain",
                details=details,
                admit=None if budget.unlimited else admit,
            )
        except _Refused as refused:  # audited once the lock is let go: the refusal wrote nothing in its transaction
            self._refuse(refused.check, subject)

    def _check_budget(self, budget: RetrainBudget, run: tuple[str | None, str | None] | None) -> BudgetCheck:
        from airflow_provider_agentic_mlops.core.state import utcnow

        check = budget.check(self.store, self.model_name, now=utcnow(), run=run)
        if check.allowed:
            log.info("Budget: %s", check.reason)
        return check

    def _refuse(self, check: BudgetCheck, subject: str) -> NoReturn:
        """Audit ``retrain_refused`` for ``subject`` and raise :class:`RetrainBudgetExceeded` saying why."""
        details = {"reason": check.reason}
        self.store.audit(
            "retrain_refused", actor="agentic-mlops", model_name=self.model_name, subject=subject, details=details
        )
        sooner = allow_sooner(rule for rule, _ in check.violations)
        raise RetrainBudgetExceeded(
            f"model {self.model_name!r}: retrain refused, {check.reason}. Wait. To allow it sooner, {sooner} (the "
            "operator's argument, or decision.* in models.yaml) if this model really needs more retrains."
        )

    def supersede(self, job: dict[str, Any]) -> None:
        """Fail ``job``, left running by an earlier try of the same task in the same DAG run (Airflow re-queued the
        task, e.g. after a scheduler restart): the new try starts its own job, and only that one spends the budget
        (as for a job a reader failed as stale first: the budget counts one unit per DAG run)."""
        self.store.finish_job(
            job["id"], status="failed", error="superseded by a new try of the same task", superseded=True
        )

    def tags(self, job: dict[str, Any]) -> dict[str, str]:
        """The tags that tie a version to ``job``, its DAG run and its decision (the training sets them too)."""
        tags = {
            JOB_TAG: str(job["id"]),
            "agentic_mlops.model_name": self.model_name,
            "agentic_mlops.dag_id": str(job.get("dag_id") or ""),
            "agentic_mlops.dag_run_id": str(job.get("run_id") or ""),
        }
        if job.get("decision_id") is not None:
            tags["agentic_mlops.decision_id"] = str(job["decision_id"])
        if job_token(job):
            tags[JOB_TOKEN_TAG] = str(job_token(job))
        return tags

    def registered_by(self, job: dict[str, Any]) -> list[Any]:
        """The versions the training of ``job`` registered, newest first: tagged with its token and created
        after it started. A job without token (started by an earlier release) is matched by its job id, DAG
        and DAG run tags instead."""
        token = job_token(job)
        if token:
            found = self.registry.search_versions_by_tag(self.registered_model, JOB_TOKEN_TAG, token)
        else:
            expected = self.tags(job)
            same_dag_run = ("agentic_mlops.dag_id", "agentic_mlops.dag_run_id")
            found = [
                v
                for v in self.registry.search_versions_by_tag(self.registered_model, JOB_TAG, str(job["id"]))
                if all((v.tags or {}).get(k) == expected[k] for k in same_dag_run)
            ]
        started = job["started_at"].replace(tzinfo=timezone.utc) - CLOCK_SKEW
        return [v for v in found if (v.creation_timestamp or 0) >= started.timestamp() * 1000]

    def result(self, job: dict[str, Any], *, attached: bool) -> dict[str, Any]:
        """The retrain task's return value for a finished ``job``; raises when the job did not succeed.

        :return: ``{"job_id", "model_name", "registered_model", "version", "mlflow_run_id", "attached"}``.
        """
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

    def finish(
        self,
        job: dict[str, Any],
        version: str,
        mlflow_run_id: str | None,
        *,
        attached: bool,
        metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Tag the version with its job, DAG run and decision, close the job, point ``challenger`` at it.
        Idempotent: whoever gets here first (owner or attached task) does it, the rest repeat it harmlessly.

        The job is closed first and the alias moves only when it closed as this version: a job failed meanwhile
        (its worker stalled past ``heartbeat_timeout`` and another run found it stale, or a person failed it)
        may have been followed by another run's retrain, whose challenger this version must not replace.
        """
        self.registry.set_version_tags(self.registered_model, version, self.tags(job))
        result = {
            "registered_model": self.registered_model,
            "version": version,
            "mlflow_run_id": mlflow_run_id,
            "metrics": metrics or {},
        }
        finished = self.store.finish_job(job["id"], status="succeeded", result=result)
        if finished["status"] != "succeeded":
            raise RuntimeError(self._closed_meanwhile(finished, version))
        if str((finished.get("result") or {}).get("version")) == version:
            try:
                self.registry.set_alias(self.registered_model, CHALLENGER, version)
            except BaseException as err:
                # a job left 'succeeded' without its challenger would start the cooldown (a clear of the task
                # could not retrain) and send attached runs on to validate a version that is not the challenger
                error = f"version {version} could not be made the {CHALLENGER}: {type(err).__name__}: {err}"
                self.store.finish_job(job["id"], status="failed", error=error[:4000], from_status="succeeded")
                raise
            log.info("%s v%s is the challenger (job %s)", self.registered_model, version, job["id"])
        return self.result(finished, attached=attached)

    def _check_version_run(self, target: str | TrainingCallable, version: str, run_id: str) -> None:
        """Refuse a training result whose version of ``registered_model`` is not the one its run registered.

        A training that registers under another name (``fraud-dev``) returns that model's version, often 1,
        which here names an older version, maybe the champion: tagging it and making it the challenger would
        validate the champion against itself. The run is the training's own, so it tells which version is right.
        """
        actual = self.registry.version_run_id(self.registered_model, version)
        if actual is None:
            wrong = f"but {self.registered_model!r} has no version {version}"
        elif actual and not self._descends_from(actual, run_id):
            wrong = (
                f"but version {version} of {self.registered_model!r} was registered from run {actual!r}, not the "
                f"returned run {run_id!r} nor a run nested in it (a nested run of another parent? another "
                "registered-model name?)"
            )
        else:
            return
        raise ValueError(
            f"model {self.model_name!r}: training callable {target!r} returned version {version} and run "
            f"{run_id!r}, {wrong}: the run registered its model under another registered-model name, or the result "
            f"names another version. The training must register under registered_model {self.registered_model!r} "
            "(the keyword argument it receives) and return that version, and the run it returns must be the one "
            "that registered it or one it is nested in; its version is not made the challenger"
        )

    def _descends_from(self, run: str, ancestor: str) -> bool:
        """Whether ``run`` is ``ancestor`` or nested in it, up to :data:`MAX_RUN_NESTING` levels: a hyperparameter
        search returns its parent run while a nested trial run registered the model."""
        seen = {run}
        for _ in range(MAX_RUN_NESTING):
            if run == ancestor:
                return True
            parent = self.registry.parent_run_id(run)
            if not parent or parent in seen:  # top-level, unknown, or a cycle of tags
                return False
            seen.add(parent)
            run = parent
        return run == ancestor

    def _closed_meanwhile(self, job: dict[str, Any], version: str) -> str:
        """The error of a training that ended after its job was closed as failed by another process."""
        closed_at = job.get("finished_at")
        at = f" at {closed_at:%Y-%m-%d %H:%M:%S} UTC" if closed_at else ""
        return (
            f"model {self.model_name!r}: job {job['id']} was closed as failed{at} while this task still trained "
            f"({job.get('error')}); version {version} of {self.registered_model!r} is registered but not made the "
            "challenger, since another run may have retrained meanwhile. Look at the model's jobs and its "
            "challenger (airflow agentic-mlops models list); to validate this version anyway, set the alias "
            f"{CHALLENGER!r} on it by hand, or clear the task to retrain. If the worker stalls longer than "
            "heartbeat_timeout (a long GC pause, an overloaded node), raise retrain.heartbeat_timeout_minutes."
        )

    def train(
        self, job: dict[str, Any], target: str | TrainingCallable, conf: dict[str, Any], *, heartbeat_every: float
    ) -> dict[str, Any]:
        """Run the training callable ``target`` in this process, heartbeating ``job`` every ``heartbeat_every``
        seconds; the job fails with any error of the training (the callable's, a broken contract, a timeout)."""
        fn = load_training_callable(target)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(heartbeat_every):
                try:
                    if self.store.heartbeat_job(job["id"]):
                        continue
                    current = self.store.get_job(job["id"]) or {}
                except Exception:  # a missed beat is not fatal; staleness is judged over minutes
                    log.warning("Heartbeat of job %s failed", job["id"], exc_info=True)
                    continue
                log.error(
                    "Retraining job %s is no longer running (%s: %s): another process closed it while this task "
                    "trains. The training goes on, but its version will not be made the challenger.",
                    job["id"],
                    current.get("status", "gone"),
                    current.get("error"),
                )
                return

        beater = threading.Thread(target=beat, name=f"heartbeat-job-{job['id']}", daemon=True)

        def stop_beating() -> None:
            """Before the job closes: a beat after it would read the job closed by another process."""
            stop.set()
            beater.join(timeout=5)

        beater.start()
        try:
            # MLflow calls the callable makes in this thread carry the connection's credentials
            with self.registry.authenticated():
                result = fn(
                    model_name=self.model_name,
                    registered_model=self.registered_model,
                    tracking_uri=self.registry.tracking_uri,
                    conf=dict(conf),
                    tags=self.tags(job),
                )
            if not isinstance(result, dict) or not result.get("version") or not result.get("run_id"):
                raise ValueError(
                    f"training callable {target!r} returned {result!r}; it must return "
                    '{"version": str, "run_id": str, "metrics": dict} (the training callable contract)'
                )
            self._check_version_run(target, str(result["version"]), str(result["run_id"]))
            metrics = result.get("metrics") or {}
            stop_beating()
            return self.finish(job, str(result["version"]), str(result["run_id"]), attached=False, metrics=metrics)
        except BaseException as err:
            stop_beating()
            self.store.finish_job(job["id"], status="failed", error=f"{type(err).__name__}: {err}"[:4000])
            raise
        finally:
            stop_beating()

    def wait_for(
        self, job: dict[str, Any], *, timeout_minutes: float, poll_interval: float, until_external_ref: bool = False
    ) -> dict[str, Any]:
        """Wait until another task's running ``job`` ends (or, with ``until_external_ref``, names its
        training run, which the caller then waits on deferred), failing it meanwhile once stale; at most
        ``timeout_minutes`` from its start."""
        from airflow_provider_agentic_mlops.core.state import utcnow

        deadline = job["started_at"] + timedelta(minutes=timeout_minutes)
        while True:
            current = self.store.get_job(job["id"]) or job
            if current["status"] != "running" or (until_external_ref and current.get("external_ref")):
                return current
            if utcnow() >= deadline:
                raise TimeoutError(
                    f"model {self.model_name!r}: job {job['id']} is still running after {timeout_minutes:g} minutes; "
                    "it will be marked failed once stale. Check its worker, or raise `timeout`."
                )
            time.sleep(poll_interval)
            self.store.fail_stale_jobs(model_name=self.model_name)

    def job_of_training_run(self, training_run_id: str, *, store_name: str) -> dict[str, Any]:
        """The job that triggered the training DAG run ``training_run_id`` (its ``external_ref``)."""
        for job in self.store.list_jobs(self.model_name, limit=200):
            if job.get("external_ref") == training_run_id:
                return job
        raise RuntimeError(
            f"model {self.model_name!r}: no retraining job refers to training run {training_run_id!r} in the state "
            f"store ({store_name!r}); was the store reset while the task was deferred?"
        )

    def training_run_timed_out(
        self, training_dag: str | None, timeout_minutes: float, dag_id: str | None, run_id: str | None
    ) -> RuntimeError:
        """The error of a wait on a training DAG run that did not end within ``timeout_minutes``; the job of the DAG
        run ``dag_id``/``run_id`` (not another run's, which this run attached to) is marked failed first.

        The job is read without the stale sweep: the deferral ends when the job turns stale, and the sweep would
        close it first with a generic error. Airflow does not stop the training run: the error names it."""
        message = (
            f"model {self.model_name!r}: the training DAG {training_dag!r} run did not end within "
            f"timeout={timeout_minutes} minutes (deleted, its DAG paused, or stuck?)"
        )
        own = [job for job in self.store.list_jobs(self.model_name, limit=200) if same_run(job, dag_id, run_id)]
        if not own:
            return RuntimeError(f"{message}. Check the training DAG run, then clear this task to retrain.")
        job, training_run = own[0], own[0].get("external_ref")
        if job["status"] == "running":
            error = f"training DAG {training_dag!r} run {training_run!r} did not end within {timeout_minutes} min"
            job = self.store.finish_job(job["id"], status="failed", error=error)
        still_running = training_run_still_running(training_dag, training_run)
        return RuntimeError(f"{message}; job {job['id']} is {job['status']} ({job.get('error')}). {still_running}")

    def finish_training_run(
        self, job: dict[str, Any], training_run: str, state: str, *, training_dag: str | None, attached: bool
    ) -> dict[str, Any]:
        """Close ``job`` once its training DAG run ended in ``state``: on success with the version the run
        registered (found by :meth:`registered_by`), else failed."""
        if job["status"] != "running":
            return self.result(job, attached=attached)
        if state != "success":
            error = f"training DAG {training_dag!r} run {training_run!r} ended in state {state or 'unknown'!r}"
            self.store.finish_job(job["id"], status="failed", error=error)
            raise RuntimeError(f"model {self.model_name!r}: job {job['id']} failed: {error}")
        versions = self.registered_by(job)
        if not versions:
            token = job_token(job)
            tagged = f"{JOB_TOKEN_TAG}={token}" if token else f"{JOB_TAG}={job['id']}"
            error = (
                f"training DAG {training_dag!r} run {training_run!r} succeeded but registered no version of "
                f"{self.registered_model!r} tagged {tagged} after job {job['id']} started; the training must set "
                f"all the tags it receives in conf['tags'] on the version it registers ({JOB_TAG} alone is not "
                "enough: job ids repeat across state stores)"
            )
            self.store.finish_job(job["id"], status="failed", error=error)
            raise RuntimeError(error)
        if len(versions) > 1:
            found = ", ".join(f"v{v.version} (run {v.run_id})" for v in versions)
            error = (
                f"training DAG {training_dag!r} run {training_run!r} registered {len(versions)} versions of "
                f"{self.registered_model!r} tagged with job {job['id']}'s tags: {found}; none is made the challenger. "
                "The training must register exactly one version with the tags of conf['tags'] (register candidates "
                "untagged, or under another name, and tag only the one it picks); then clear this task to retrain"
            )
            self.store.finish_job(job["id"], status="failed", error=error)
            raise RuntimeError(f"model {self.model_name!r}: job {job['id']} failed: {error}")
        version = versions[0]
        return self.finish(job, str(version.version), version.run_id, attached=attached)
