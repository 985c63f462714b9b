"""One running retraining job per model, under concurrent triggers, on SQLite and PostgreSQL.

The store's partial unique index is what admits one job; these tests race real processes and real
threads (real RetrainOperators against the real MLflow server) at it. PostgreSQL runs are skipped
with a reason when 127.0.0.1:5432 does not answer, and fail under CI=true (``store_url`` fixture).
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from datetime import timedelta

import sqlalchemy as sa

from tests.doubles.airflow_task import task_context
from tests.doubles.mlflow_server import register_tiny_classifier

N_RACERS = 6


def _race_start_job(url: str, model: str, barrier, results) -> None:  # runs in a child process
    from airflow_provider_agentic_mlops.core.state import StateStore

    store = StateStore(url)
    barrier.wait(timeout=120)
    job, created = store.start_job(model, dag_id="race", run_id=f"r-{multiprocessing.current_process().pid}")
    results.put((job["id"], created))
    store.dispose()


def test_processes_racing_start_job_create_exactly_one_job(store_url):
    from airflow_provider_agentic_mlops.core.state import StateStore

    StateStore(store_url).dispose()  # migrate once, so the racers race on the insert only
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(N_RACERS), ctx.Queue()
    procs = [ctx.Process(target=_race_start_job, args=(store_url, "m", barrier, results)) for _ in range(N_RACERS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0

    assert sum(created for _, created in outcomes) == 1
    assert len({job_id for job_id, _ in outcomes}) == 1, "every loser was given the winner's job"
    assert len(StateStore(store_url).list_jobs("m")) == 1


def test_threads_racing_start_job_create_exactly_one_job(store_url):
    from airflow_provider_agentic_mlops.core.state import StateStore

    store = StateStore(store_url)
    barrier = threading.Barrier(N_RACERS)
    outcomes: list[tuple[int, bool]] = []

    def race(i: int) -> None:
        barrier.wait(timeout=60)
        job, created = store.start_job("m", dag_id="race", run_id=f"t{i}")
        outcomes.append((job["id"], created))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(N_RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(outcomes) == N_RACERS
    assert sum(created for _, created in outcomes) == 1
    assert len({job_id for job_id, _ in outcomes}) == 1


def test_a_stale_job_stops_blocking_once_failed(store_url):
    from airflow_provider_agentic_mlops.core.schema import jobs
    from airflow_provider_agentic_mlops.core.state import StateStore, utcnow

    store = StateStore(store_url)
    dead, _ = store.start_job("m", dag_id="d", run_id="dead-worker")
    assert store.start_job("m", dag_id="d", run_id="next")[1] is False  # blocked while it looks alive
    with store.engine.begin() as conn:
        conn.execute(sa.update(jobs).where(jobs.c.id == dead["id"]).values(heartbeat_at=utcnow() - timedelta(hours=1)))
    assert store.fail_stale_jobs(model_name="m") == [dead["id"]]  # default heartbeat_timeout: 10 min
    job, created = store.start_job("m", dag_id="d", run_id="next")
    assert created and job["id"] != dead["id"]


def test_concurrent_retrain_operators_train_once_and_all_get_the_same_version(
    store_url,
    airflow_home,
    mlflow_server,
    monkeypatch,
):
    from airflow_provider_agentic_mlops.operators.retrain import RetrainOperator

    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_TRAIN", f'{{"conn_type": "agentic_mlops_mlflow", "host": "{mlflow_server}"}}'
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_RACE_STATE", f'{{"conn_type": "agentic_mlops_state", "extra": {{"url": "{store_url}"}}}}'
    )
    model = f"race-{uuid.uuid4().hex[:8]}"
    n = 4
    all_attached = threading.Event()
    attached_count = []
    trainings = []

    class Racer(RetrainOperator):
        def _attach(self, job, context):
            attached_count.append(job["id"])
            if len(attached_count) == n - 1:
                all_attached.set()
            return super()._attach(job, context)

    def training(**kwargs):
        trainings.append(kwargs["tags"]["agentic_mlops.job_id"])
        assert all_attached.wait(120), "the other triggers never attached"
        return register_tiny_classifier(kwargs["tracking_uri"], kwargs["registered_model"], tags=kwargs["tags"])

    barrier = threading.Barrier(n)
    results: dict[int, dict] = {}
    errors: list[BaseException] = []

    def trigger(i: int) -> None:
        op = Racer(
            task_id="retrain",
            model_name=model,
            python_callable=training,
            state_conn_id="race_state",
            cooldown_hours=0,
            poll_interval=0.2,
            decision_task_id=None,
        )
        barrier.wait(timeout=60)
        try:
            results[i] = op.execute(task_context(run_id=f"manual__{i}"))
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=trigger, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)

    assert not errors, errors
    assert len(trainings) == 1, "exactly one training ran"
    assert len({r["version"] for r in results.values()}) == 1
    assert sorted(r["attached"] for r in results.values()) == [False] + [True] * (n - 1)
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    assert len(client.search_model_versions(f"name = '{model}'")) == 1


def test_two_retrain_operators_racing_past_the_budget_start_one_job_the_other_is_refused(
    store_url, airflow_home, mlflow_server, monkeypatch
):
    """max_retrains=1, two runs of one model at once (a hand-written DAG with max_active_runs > 1), each training
    failing at once. The budget check and the job's insert are one locked step: the run that comes second sees
    the first's job, and attaches to it while it runs or is refused once it failed. Deterministic: the first run to
    check pauses after its check (up to 3 s) until the other run has finished; checked and inserted apart (the
    earlier code), the paused run then started a second job on what it had read."""
    from airflow_provider_agentic_mlops.core.budget import RetrainBudget
    from airflow_provider_agentic_mlops.operators.retrain import RetrainBudgetExceeded, RetrainOperator

    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_TRAIN", f'{{"conn_type": "agentic_mlops_mlflow", "host": "{mlflow_server}"}}'
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_RACE_STATE", f'{{"conn_type": "agentic_mlops_state", "extra": {{"url": "{store_url}"}}}}'
    )
    model = f"budget-{uuid.uuid4().hex[:8]}"
    pause_taken, one_done = threading.Lock(), threading.Event()
    check = RetrainBudget.check

    def check_then_pause(self, *args, **kwargs):
        result = check(self, *args, **kwargs)
        if pause_taken.acquire(blocking=False):  # the first run to check waits for the other to finish
            one_done.wait(3)
        return result

    monkeypatch.setattr(RetrainBudget, "check", check_then_pause)

    def training(**_):
        raise RuntimeError("training failed at once: data file missing")

    import mlflow  # noqa: F401  (imported before the race: its first import takes seconds)

    barrier = threading.Barrier(2)
    outcomes: dict[int, BaseException] = {}

    def trigger(i: int) -> None:
        op = RetrainOperator(
            task_id="retrain",
            model_name=model,
            python_callable=training,
            state_conn_id="race_state",
            cooldown_hours=24,
            max_retrains=1,
            budget_window_hours=168,
            decision_task_id=None,
        )
        barrier.wait(timeout=60)
        try:
            op.execute(task_context(run_id=f"manual__{i}"))
        except BaseException as err:
            outcomes[i] = err
        finally:
            one_done.set()

    threads = [threading.Thread(target=trigger, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    from airflow_provider_agentic_mlops.core.state import StateStore

    store = StateStore(store_url)
    jobs = store.list_jobs(model)
    assert len(jobs) == 1, f"two runs started a job within max_retrains=1: {jobs}"
    trained = [err for err in outcomes.values() if str(err) == "training failed at once: data file missing"]
    assert len(outcomes) == 2 and len(trained) == 1, outcomes
    (other,) = (err for err in outcomes.values() if err is not trained[0])
    # the second run took the lock once the first's job was in: refused if that job had failed by then,
    # else attached to it (and failed with it); never a second job
    refusals = [e for e in store.audit_trail(model) if e["action"] == "retrain_refused"]
    if isinstance(other, RetrainBudgetExceeded):
        assert "retrain refused" in str(other) and "budget exhausted: 1 retrains" in str(other), other
        assert len(refusals) == 1
    else:
        assert f"retraining job {jobs[0]['id']} failed" in str(other), other
        assert refusals == []
