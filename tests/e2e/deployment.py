"""A real Airflow deployment for end-to-end tests: Airflow's own components as subprocesses.

``scheduler``, ``dag-processor``, ``api-server`` and ``triggerer`` always; with PostgreSQL and Redis
(always under CI=true, else whenever both answer on 127.0.0.1) the metadata DB is a fresh PostgreSQL
database, the executor is CeleryExecutor with Redis as broker and one ``airflow celery worker``;
otherwise SQLite and LocalExecutor. Around it: a real MLflow tracking server, and the Slack and
OpenAI test doubles (local HTTP servers in this process). Every Airflow process gets the
connections through ``AIRFLOW_CONN_*``. Everything is torn down by :meth:`Deployment.stop`, which
kills whole process groups and drops the databases it created.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ON_CI, PG_HOST, PG_PORT, REPO, create_pg_database, drop_pg_database, server_answers
from tests.doubles.mlflow_server import start_mlflow_server, stop_mlflow_server
from tests.doubles.openai_server import OpenAIDouble
from tests.doubles.slack_server import SlackCall, SlackDouble, SlackServer, click_payload, sign_interaction

AIRFLOW = [sys.executable, "-m", "airflow"]  # not bin/airflow: its shebang may name another interpreter
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
MODEL = "fraud-detector"
DAG_ID = f"agentic_mlops__{MODEL}"
APPROVER = "U_ALICE"
CHANNEL = "C_APPROVALS"
FINISHED = ("success", "failed")

MODELS_YAML = """
models:
  - name: {model}
    schedule: null
    drift:
      reference: {data}/reference.parquet
      current: {data}/current.parquet
      label_column: is_fraud
      task: classification
    decision:
      mode: llm
      cooldown_hours: 0      # the e2e retrains twice in a row
      max_retrains: 10
    retrain:
      python_callable: airflow_provider_agentic_mlops.demo.training:train_fraud_detector
      conf: {{train_data: {data}/current.parquet}}
      timeout_minutes: 10
      heartbeat_timeout_minutes: {heartbeat_timeout_minutes}
    validation:
      data: {data}/validation.parquet
      min_absolute_improvement: 0.0
    approval:
      timeout_hours: 1
      channel: "{channel}"
      approvers: ["{approver}"]
      poke_interval_seconds: 1
"""


def use_postgres_and_celery() -> bool:
    """CI always; elsewhere when PostgreSQL and Redis both answer on 127.0.0.1, unless
    ``AGENTIC_MLOPS_E2E_EXECUTOR=local`` asks for SQLite + LocalExecutor."""
    if ON_CI:
        return True
    if os.environ.get("AGENTIC_MLOPS_E2E_EXECUTOR", "").lower() == "local":
        return False
    return server_answers(PG_HOST, PG_PORT) and server_answers(REDIS_HOST, REDIS_PORT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive free ports (the demo takes ``--port`` and the next two)."""
    for _ in range(100):
        base = free_port()
        if base + count > 65536:
            continue
        with contextlib.ExitStack() as held:
            try:
                for port in range(base, base + count):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("", port))
            except OSError:
                continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports found")


@dataclass
class Component:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    args: tuple[str, ...] = ()


@dataclass
class Deployment:
    """A running deployment; build it with :func:`start_deployment`, end it with :meth:`stop`."""

    root: Path
    postgres_celery: bool
    #: environment added to every Airflow process (the fault suite shortens Airflow's heartbeat timeouts)
    extra_env: dict[str, str] = field(default_factory=dict)
    #: the model's retrain.heartbeat_timeout_minutes in models.yaml
    heartbeat_timeout_minutes: float = 10
    env: dict[str, str] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)
    api_url: str = ""
    metadata_url: str = ""
    state_url: str = ""
    mlflow_url: str = ""
    signing_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    alert_token: str = field(default_factory=lambda: secrets.token_hex(16))
    slack: SlackDouble | None = None
    openai: OpenAIDouble | None = None
    champion: str = ""
    _slack_server: SlackServer | None = None
    _mlflow_proc: subprocess.Popen[bytes] | None = None
    _mlflow_log: Path | None = None
    _pg_databases: list[str] = field(default_factory=list)
    _engine: Any = None

    @property
    def kind(self) -> str:
        return "PostgreSQL + CeleryExecutor" if self.postgres_celery else "SQLite + LocalExecutor"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Deployment:
        home = self.root / "airflow_home"
        home.mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(exist_ok=True)
        self._slack_server = SlackServer()
        self.slack = self._slack_server.__enter__()
        self.openai = OpenAIDouble().start()
        self.openai.answer("retrain", rationale="Drift on several features; retraining is warranted.", times=20)
        self._databases(home)
        self._write_config(home)
        migrate = self._spawn("db-migrate", "db", "migrate")  # meanwhile: MLflow server and the demo champion
        self._mlflow_proc, self.mlflow_url, self._mlflow_log = start_mlflow_server(self.root / "mlflow")
        self._set_mlflow_connections()
        self.champion = self._setup_demo(home)
        if migrate.proc.wait(timeout=600) != 0:
            raise AssertionError(f"airflow db migrate failed:\n{migrate.log.read_text()[-3000:]}")
        self.components.remove(migrate)
        api_port = free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{self.api_url}/execution/"
        self._spawn("api-server", "api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1")
        self._spawn("scheduler", "scheduler")
        self._spawn("dag-processor", "dag-processor")
        self._spawn("triggerer", "triggerer")
        if self.postgres_celery:
            queue = self.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
            self._spawn(
                "celery-worker",
                *("celery", "worker", "--concurrency", "2", "--queues", queue, "--skip-serve-logs"),
                *("--without-gossip", "--without-mingle", "--celery-hostname", f"{queue}@%h"),
            )
        self.wait_until(self._api_healthy, 240, "the api-server to answer /api/v2/monitor/health")
        self.wait_until(self._dag_parsed, 240, f"the dag-processor to serialize {DAG_ID}")
        return self

    def stop(self) -> None:
        """Kill every process group, stop the doubles, drop the databases. Never raises."""
        for component in reversed(self.components):
            _kill_group(component.proc, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for component in self.components:
            try:
                component.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(component.proc, signal.SIGKILL)
                component.proc.wait(timeout=10)
        for component in self.components:  # children left behind in the group (task runners)
            _kill_group(component.proc, signal.SIGKILL)
        if self._mlflow_proc is not None:
            stop_mlflow_server(self._mlflow_proc)
        if self._slack_server is not None:
            self._slack_server.__exit__(None, None, None)
        if self.openai is not None:
            self.openai.stop()
        if self._engine is not None:
            self._engine.dispose()

        for url in self._pg_databases:
            try:
                drop_pg_database(url)
            except Exception as err:  # noqa: BLE001 - cleanup must go on
                print(f"could not drop database {url}: {err}", file=sys.stderr)

    # -- setup ------------------------------------------------------------------------------------

    def _databases(self, home: Path) -> None:
        if not self.postgres_celery:
            self.metadata_url = f"sqlite:///{home / 'airflow.db'}"
            from airflow_provider_agentic_mlops.core.state import default_sqlite_url

            self.state_url = default_sqlite_url(home)
            return
        self.metadata_url = create_pg_database("agentic_mlops_e2e")
        self._pg_databases.append(self.metadata_url)
        self.state_url = create_pg_database("agentic_mlops_e2e_state")
        self._pg_databases.append(self.state_url)

    def _write_config(self, home: Path) -> None:
        data = home / "demo-data" / MODEL
        models = self.root / "models.yaml"
        models.write_text(
            MODELS_YAML.format(
                model=MODEL,
                data=data,
                channel=CHANNEL,
                approver=APPROVER,
                heartbeat_timeout_minutes=self.heartbeat_timeout_minutes,
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "MLFLOW_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "PYTHONPATH": str(REPO),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",  # the approval waits in the triggerer
                "AIRFLOW__CORE__FERNET_KEY": "",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE": str(models),
                "AIRFLOW__AGENTIC_MLOPS__SLACK_SIGNING_SECRET": self.signing_secret,
                "AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT": json.dumps(
                    {"conn_type": "agentic_mlops_state", "extra": {"url": self.state_url}}
                ),
                "AIRFLOW_CONN_AGENTIC_MLOPS_LLM_DEFAULT": self.openai.connection_json(),
                "AIRFLOW_CONN_SLACK_API_DEFAULT": json.dumps(
                    {"conn_type": "slack", "password": "xoxb-e2e-token", "extra": {"base_url": self.slack.base_url}}
                ),
                "AIRFLOW_CONN_AGENTIC_MLOPS_ALERTS": json.dumps({"conn_type": "http", "password": self.alert_token}),
            }
        )
        if self.postgres_celery:
            queue = f"agentic_mlops_e2e_{uuid.uuid4().hex[:8]}"
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
                    "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_url,
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
                    "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                }
            )
        else:
            env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
        env.update(self.extra_env)
        self.env = env

    def _set_mlflow_connections(self) -> None:
        mlflow = json.dumps({"conn_type": "agentic_mlops_mlflow", "host": self.mlflow_url})
        for conn_id in ("REGISTRY", "TRAIN", "PROMOTE"):
            self.env[f"AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_{conn_id}"] = mlflow

    def _setup_demo(self, home: Path) -> str:
        """Demo data with drift (1000 rows) and a champion trained on the reference data."""
        code = (
            "import sys; from airflow_provider_agentic_mlops.demo.setup import setup_demo; "
            "print(setup_demo(sys.argv[1], tracking_uri=sys.argv[2], drift=True, rows=1000)['champion'])"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(home), self.mlflow_url],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, f"demo setup failed:\n{out.stderr[-3000:]}"
        return out.stdout.strip().splitlines()[-1]

    def _spawn(self, name: str, *args: str) -> Component:
        log = self.root / "logs" / f"{name}.log"
        proc = subprocess.Popen(
            [*AIRFLOW, *args],
            env=self.env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,  # its own process group: stop() kills it with every child
        )
        component = Component(name, proc, log, tuple(args))
        self.components.append(component)
        return component

    # -- faults -----------------------------------------------------------------------------------

    def restart(self, name: str, sig: int = signal.SIGKILL) -> Component:
        """Kill component ``name`` (its whole process group, with ``sig``) and start it again."""
        [component] = [c for c in self.components if c.name == name]
        _kill_group(component.proc, sig)
        component.proc.wait(timeout=60)
        self.components.remove(component)
        return self._spawn(name, *component.args)

    def kill_running_tasks(self) -> int:
        """SIGKILL every task process (supervisor and task runner) of the executor: a worker dying under
        a task. With Celery the whole worker is killed, with every process under it, and started
        again. Returns the processes killed.

        Airflow's supervisor puts each task runner in a process group of its own, so killing the
        worker's process group alone would leave the task running as an orphan (which then fails on
        its own when it next writes to its dead supervisor: not the fault this injects)."""
        import psutil

        if self.postgres_celery:
            [worker] = [c for c in self.components if c.name == "celery-worker"]
            victims = psutil.Process(worker.proc.pid).children(recursive=True)
            for proc in victims:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            self.restart("celery-worker")
            return len(victims) + 1
        [scheduler] = [c for c in self.components if c.name == "scheduler"]
        victims = []
        for proc in psutil.Process(scheduler.proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "airflow worker" in " ".join(proc.cmdline()) or "task" in proc.name():
                    victims.append(proc)
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        return len(victims)

    # -- observation ------------------------------------------------------------------------------

    def wait_until(self, check: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
        """Poll ``check()`` until it returns something truthy; fail naming ``what`` and any dead component."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [c for c in self.components if c.proc.poll() is not None]
            if dead:
                raise AssertionError(
                    f"while waiting for {what}: {', '.join(f'{c.name} exited {c.proc.returncode}' for c in dead)}"
                )
            value = check()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def _api_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _sql(self, query: str, **params: Any) -> list[Any]:
        import sqlalchemy as sa

        if self._engine is None:
            self._engine = sa.create_engine(self.metadata_url, poolclass=sa.pool.NullPool)
        with self._engine.connect() as conn:
            return list(conn.execute(sa.text(query), params))

    def _dag_parsed(self) -> bool:
        rows = self._sql(
            "SELECT d.dag_id FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
            "WHERE d.dag_id = :dag_id AND NOT d.is_stale",
            dag_id=DAG_ID,
        )
        return bool(rows)

    def run_state(self, run_id: str) -> str | None:
        rows = self._sql("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r", d=DAG_ID, r=run_id)
        return rows[0][0] if rows else None

    def task_states(self, run_id: str) -> dict[str, str | None]:
        rows = self._sql(
            "SELECT task_id, state FROM task_instance WHERE dag_id = :d AND run_id = :r", d=DAG_ID, r=run_id
        )
        return {r[0]: r[1] for r in rows}

    def fail_queued_run(self, run_id: str) -> int:
        """Mark the model DAG's run ``run_id`` failed while it is still queued (no task ran), as the UI's "mark
        failed" would; the number of runs changed (0 once the scheduler started it)."""
        import sqlalchemy as sa

        if self._engine is None:
            self._engine = sa.create_engine(self.metadata_url, poolclass=sa.pool.NullPool)
        with self._engine.begin() as conn:
            return conn.execute(
                sa.text(
                    "UPDATE dag_run SET state = 'failed', end_date = CURRENT_TIMESTAMP "
                    "WHERE dag_id = :d AND run_id = :r AND state = 'queued'"
                ),
                {"d": DAG_ID, "r": run_id},
            ).rowcount

    def wait_for_run_to_finish(self, run_id: str, timeout: float = 600) -> str:
        return self.wait_until(
            lambda: (s := self.run_state(run_id)) in FINISHED and s, timeout, f"DAG run {run_id} to finish", 0.5
        )

    def store(self) -> Any:
        from airflow_provider_agentic_mlops.core.state import StateStore

        return StateStore(self.state_url)

    def mlflow(self) -> Any:
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.mlflow_url, registry_uri=self.mlflow_url)

    def champion_version(self) -> str:
        return self.mlflow().get_model_version_by_alias(MODEL, "champion").version

    # -- acting like Alertmanager and like Slack ---------------------------------------------------

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"{self.api_url}{path}", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def post_alert(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, _, body = self.post(
            "/agentic-mlops/alerts",
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {self.alert_token}"},
        )
        return status, json.loads(body or b"{}")

    def approval_requests(self) -> list[tuple[int, SlackCall]]:
        """``(approval_id, call)`` of every chat.postMessage that carries the Approve/Deny buttons."""
        found = []
        for call in self.slack.calls_to("chat.postMessage"):
            for block in call.args.get("blocks") or []:
                block_id = str(block.get("block_id") or "")
                if block.get("type") == "actions" and block_id.startswith("agentic_mlops_approval:"):
                    found.append((int(block_id.split(":", 1)[1]), call))
        return found

    def click(self, approval_id: int, call: SlackCall, *, approve: bool) -> tuple[int, str]:
        """A signed Approve/Deny click by the allowed approver on the message ``call`` posted."""
        posted = call.answer or {}
        payload = click_payload(
            approval_id, approve=approve, user_id=APPROVER, channel=posted.get("channel"), message_ts=posted.get("ts")
        )
        buttons = [e for b in call.args.get("blocks") or [] if b.get("type") == "actions" for e in b["elements"]]
        payload["actions"][0]["value"] = buttons[0]["value"]  # the button as posted (its store included)
        body, headers = sign_interaction(payload, self.signing_secret)
        status, answer_headers, _ = self.post(
            "/agentic-mlops/slack/interactions",
            body,
            {**headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
        return status, answer_headers.get("X-Agentic-Mlops-Outcome") or answer_headers.get(
            "x-agentic-mlops-outcome", ""
        )

    def task_log_errors(self, run_id: str) -> list[str]:
        """The ERROR and CRITICAL lines of the run's task logs, as ``task_id: event``. Airflow 3 writes
        them as JSON lines and labels whatever a task prints to stderr ERROR (a library's own logging
        handler, say): a normal run has none."""
        run_dir = self.root / "airflow_home" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
        found = []
        for path in sorted(run_dir.glob("task_id=*/**/attempt=*.log")):
            task = next(p.name for p in path.parents if p.name.startswith("task_id=")).removeprefix("task_id=")
            for line in path.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and str(entry.get("level", "")).lower() in ("error", "critical"):
                    found.append(f"{task}: {entry.get('event')}")
        return found

    def log_tails(self, lines: int = 60) -> str:
        """The last lines of every component's log and of the newest task logs (for failures)."""
        parts = []
        logs = [(c.name, c.log) for c in self.components]
        if self._mlflow_log is not None:
            logs.append(("mlflow", self._mlflow_log))
        task_logs = sorted((self.root / "airflow_home" / "logs").rglob("*.log"), key=lambda p: p.stat().st_mtime)
        logs += [(f"task {p.relative_to(self.root)}", p) for p in task_logs[-8:]]
        for name, path in logs:
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError as err:
                tail = [f"(unreadable: {err})"]
            parts.append(f"----- {name} ({path}) -----\n" + "\n".join(tail))
        return "\n".join(parts)


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def start_deployment(root: Path, *, postgres_celery: bool | None = None, **settings: Any) -> Deployment:
    """Start everything (see the module docstring); on a failure while starting, stop what started.

    :param settings: more :class:`Deployment` fields (``extra_env``, ``heartbeat_timeout_minutes``).
    """
    deployment = Deployment(
        root=root,
        postgres_celery=use_postgres_and_celery() if postgres_celery is None else postgres_celery,
        **settings,
    )
    try:
        return deployment.start()
    except BaseException:
        print(deployment.log_tails(), file=sys.stderr)
        deployment.stop()
        raise


def alertmanager_payload(model: str = MODEL, *, summary: str = "PSI above 0.2 on amount") -> dict[str, Any]:
    """A Prometheus Alertmanager webhook (version 4) with one firing alert for ``model``."""
    labels = {"alertname": "FeatureDrift", "severity": "warning", "model": model}
    return {
        "version": "4",
        "status": "firing",
        "receiver": "agentic-mlops",
        "groupKey": '{}:{alertname="FeatureDrift"}',
        "groupLabels": {"alertname": "FeatureDrift"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": summary},
                "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "fingerprint": uuid.uuid4().hex[:16],
            }
        ],
    }
