"""One real ``airflow api-server`` (``--workers 2``) with the provider's plugin, for the whole session.

Airflow's own processes, as in production: ``airflow db migrate``, ``airflow teams create``,
``airflow dags reserialize`` (two DAG bundles, one per team, multi-team mode on), then
``airflow api-server --workers 2``. SimpleAuthManager users: ``admin``; ``alice`` (role user, team_a);
``bob`` (role user, team_b); ``vera`` (viewer, team_a). Alerts: a deployment token, and a token scoped
to team_a. Metadata DB and state store: PostgreSQL when it answers on 127.0.0.1:5432 (always under
CI=true, where its absence fails), else SQLite. Slack is the local Slack double (user-group and
users.info lookups go to it). Start-up takes ~1-2 min on a quiet machine (``db migrate``,
``dags reserialize``, two API workers).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AIRFLOW, ON_CI, PG_HOST, PG_PORT, REPO, create_pg_database, drop_pg_database, server_answers
from tests.doubles.slack_server import SlackDouble, SlackServer

SIGNING_SECRET = "sec-" + secrets.token_hex(16)
ALERT_TOKEN = "alert-" + secrets.token_hex(16)
TEAM_A_ALERT_TOKEN = "alert-a-" + secrets.token_hex(16)  # the alerts connection scoped to team_a
PASSWORDS = {"admin": "admin-pw", "alice": "alice-pw", "bob": "bob-pw", "vera": "vera-pw"}
USERS = "admin:admin,alice:user:team_a,bob:user:team_b,vera:viewer:team_a"
APPROVER_GROUP = "S_APPROVERS"
APPROVERS = ["U_ALICE", "U_BOB"] + [f"U_{i:02d}" for i in range(50)]
DAG_A = "agentic_mlops__model-a"  # team_a's bundle
DAG_B = "agentic_mlops__model-b"  # team_b's bundle
LOOK_ALIKE = "agentic-mlops--danger"  # matches an unescaped LIKE 'agentic_mlops__%'
NEW_A, NEW_B = "agentic_mlops__new-a", "agentic_mlops__new-b"  # each team's model that never runs: no row in the store

DAGS = """
from datetime import datetime
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

for dag_id in {dag_ids!r}:
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        EmptyOperator(task_id="check_drift")
    globals()[dag_id.replace("-", "_")] = dag
"""


@dataclass
class ApiServer:
    url: str
    env: dict[str, str]
    state_url: str
    metadata_url: str
    slack: SlackDouble
    tokens: dict[str, str] = field(default_factory=dict)
    _store: Any = None

    @property
    def store(self) -> Any:
        if self._store is None:
            from airflow_provider_agentic_mlops.core.state import StateStore

            self._store = StateStore(self.state_url)
        return self._store

    def token(self, user: str) -> str:
        if user not in self.tokens:
            request = urllib.request.Request(
                f"{self.url}/auth/token",
                data=json.dumps({"username": user, "password": PASSWORDS[user]}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as resp:
                self.tokens[user] = json.loads(resp.read())["access_token"]
        return self.tokens[user]

    def sql(self, query: str, **params: Any) -> list[Any]:
        import sqlalchemy as sa

        engine = sa.create_engine(self.metadata_url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(sa.text(query), params)
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> None:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, cwd=cwd)
    assert out.returncode == 0, f"{' '.join(cmd[2:])} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("security")
    home = root / "airflow_home"
    home.mkdir()
    bundles = []
    for team, dag_ids in (("team_a", [DAG_A, LOOK_ALIKE, NEW_A]), ("team_b", [DAG_B, NEW_B])):
        folder = root / f"dags_{team}"
        folder.mkdir()
        (folder / "dags.py").write_text(DAGS.format(dag_ids=dag_ids))
        bundles.append(
            {
                "name": f"{team}_dags",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(folder), "refresh_interval": 0},
                "team_name": team,
            }
        )
    use_pg = ON_CI or server_answers(PG_HOST, PG_PORT)
    databases: list[str] = []
    if use_pg:
        metadata_url = create_pg_database("agentic_mlops_sec")
        state_url = create_pg_database("agentic_mlops_sec_state")
        databases += [metadata_url, state_url]
    else:
        metadata_url = f"sqlite:///{home / 'airflow.db'}"
        state_url = f"sqlite:///{home / 'agentic_mlops.db'}"
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    slack_server = SlackServer()
    slack = slack_server.__enter__()
    slack.usergroups[APPROVER_GROUP] = APPROVERS
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "MLFLOW_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": str(REPO),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__MULTI_TEAM": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__FERNET_KEY": "",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__AGENTIC_MLOPS__SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "AIRFLOW__AGENTIC_MLOPS__APPROVER_IDENTITIES": json.dumps(
                {"alice": {"slack": ["U_ALICE"]}, "bob": {"slack": ["U_BOB"]}}
            ),
            "AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT": json.dumps(
                {"conn_type": "agentic_mlops_state", "extra": {"url": state_url}}
            ),
            "AIRFLOW_CONN_SLACK_API_DEFAULT": json.dumps(
                {"conn_type": "slack", "password": "xoxb-sec-token", "extra": {"base_url": slack.base_url}}
            ),
            "AIRFLOW_CONN_AGENTIC_MLOPS_ALERTS": json.dumps({"conn_type": "http", "password": ALERT_TOKEN}),
            "AIRFLOW_CONN_AGENTIC_MLOPS_ALERTS_TEAM_A": json.dumps(
                {"conn_type": "http", "password": TEAM_A_ALERT_TOKEN, "extra": {"teams": ["team_a"]}}
            ),
            "AIRFLOW__AGENTIC_MLOPS__ALERTS_CONN_ID": "agentic_mlops_alerts, agentic_mlops_alerts_team_a",
        }
    )
    proc = None
    try:
        _run([*AIRFLOW, "db", "migrate"], env, root)
        for team in ("team_a", "team_b"):
            _run([*AIRFLOW, "teams", "create", team], env, root)
        _run([*AIRFLOW, "dags", "reserialize"], env, root)
        port = _free_port()
        log = root / "api-server.log"
        proc = subprocess.Popen(
            [*AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=root,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 900  # a shared 2-core machine can take minutes
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"api-server did not come up:\n{log.read_text()[-4000:]}")
            time.sleep(0.3)
        server = ApiServer(url, env, state_url, metadata_url, slack)
        yield server
        if server._store is not None:
            server._store.dispose()
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        slack_server.__exit__(None, None, None)
        for url in databases:
            drop_pg_database(url)
