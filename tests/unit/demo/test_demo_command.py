"""The demo command: its port, its short cooldown, new shifts, and stopping every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from airflow_provider_agentic_mlops.cli.commands import demo
from airflow_provider_agentic_mlops.demo.data import current_shift, write_shift
from airflow_provider_agentic_mlops.demo.setup import inject_shift


def test_another_port_moves_the_execution_api_too(tmp_path: Path) -> None:
    env = demo.demo_environment(tmp_path, tmp_path / "dags", 8794)
    assert env["AIRFLOW__API__PORT"] == "8794"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8794/execution/"
    assert env["AIRFLOW__API__BASE_URL"] == "http://localhost:8794/"


def test_another_port_moves_the_log_servers_too_so_two_demos_run_side_by_side(tmp_path: Path) -> None:
    # Airflow's defaults (8793, 8794) are bound on every interface: a second demo's worker and triggerer failed
    ports = set()
    for port in (8080, 18210):
        env = demo.demo_environment(tmp_path, tmp_path / "dags", port)
        logs = {int(env[f"AIRFLOW__LOGGING__{server}_LOG_SERVER_PORT"]) for server in ("WORKER", "TRIGGER")}
        assert len(logs) == 2 and not logs & {8793, 8794, port}
        ports |= {port, *logs}
    assert len(ports) == 6


def test_the_demo_refuses_to_start_when_one_of_its_ports_is_taken_and_sets_nothing_up(
    monkeypatch, tmp_path: Path
) -> None:
    import argparse
    import socket

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    from tests.e2e.deployment import free_port_run

    port = free_port_run(3)  # only the port this test takes is in use
    taken = demo.demo_ports(port)["the triggerer's log server"]
    with socket.socket() as other:  # another demo's triggerer, say
        other.bind(("", taken))
        other.listen()
        with pytest.raises(SystemExit) as stopped:
            demo.demo(argparse.Namespace(shift=False, port=port, rows=50, no_drift=False, no_start=False))
    message = str(stopped.value.code)
    assert message.startswith(f"error: port {taken} (the triggerer's log server") and "--port" in message
    assert not (tmp_path / "demo-data").exists() and not (tmp_path / "airflow.cfg").exists()


def test_a_refusal_removes_only_a_made_home_that_holds_nothing_but_airflows_own_files(
    monkeypatch, tmp_path: Path
) -> None:
    made = tmp_path / "made"
    home = made / "home"
    (home / "logs").mkdir(parents=True)
    (home / "airflow.cfg").write_text("[core]\n")
    monkeypatch.setenv(demo.CREATED_ENV, str(tmp_path / "elsewhere"))  # another directory: left alone
    demo.remove_created_home(home)
    assert home.exists()
    monkeypatch.setenv(demo.CREATED_ENV, str(made))
    (home / "demo-data").mkdir()
    (home / "demo-data" / "current.parquet").write_text("")  # the demo's own data: left alone
    demo.remove_created_home(home)
    assert (home / "demo-data" / "current.parquet").exists()
    (home / "demo-data" / "current.parquet").unlink()
    demo.remove_created_home(home)
    assert not made.exists() and tmp_path.exists()


def test_the_demos_api_server_listens_on_loopback_only(tmp_path: Path) -> None:
    # every UI user is an admin in the demo: bound to all interfaces, every host on the network would be one
    env = demo.demo_environment(tmp_path, tmp_path / "dags", 8794)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "True"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"


def test_airflow_standalone_starts_the_demos_api_server_on_loopback(tmp_path: Path) -> None:
    """``airflow standalone`` runs ``airflow api-server`` without ``--host``: the host is the default Airflow's
    own CLI parser gives it under the demo's settings (Airflow's default is 0.0.0.0)."""
    from airflow.cli.commands import standalone_command

    source = Path(standalone_command.__file__).read_text()
    assert 'command=["api-server"]' in source  # no --host of its own: [api] host decides
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONFIG"))}
    env.update(demo.demo_environment(tmp_path, tmp_path / "dags", 8794))
    code = "from airflow.cli import cli_parser; a = cli_parser.get_parser().parse_args(['api-server']); print(a.host)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-1] == "127.0.0.1"


def test_the_demo_models_cooldown_is_minutes_not_a_day(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert demo.demo_spec(demo.REPO_DAGS).decision.cooldown_hours * 60 <= 10


def test_each_shift_drifts_against_the_regime_before(tmp_path: Path) -> None:
    def channel_mix(name: str) -> pd.Series:
        return pd.read_parquet(tmp_path / f"{name}.parquet")["channel"].value_counts(normalize=True)

    def distance(a: pd.Series, b: pd.Series) -> float:  # total variation between two category mixes
        return float(a.sub(b, fill_value=0.0).abs().sum() / 2)

    previous_current = None
    for shift in (1, 2, 3, 4):
        write_shift(tmp_path, shift, rows=2000)
        assert current_shift(tmp_path) == shift
        # the reference of a shift is the regime before it (the champion's); the current data moved away from it
        if previous_current is not None:
            assert distance(channel_mix("reference"), previous_current) < 0.1  # two samples of one regime
        assert distance(channel_mix("reference"), channel_mix("current")) > 0.2
        previous_current = channel_mix("current")


def test_inject_shift_counts_up_in_the_demo_home(tmp_path: Path) -> None:
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"  # no champion registered: the previous shift's regime
    assert inject_shift(tmp_path, tracking_uri=tracking, rows=50)["shift"] == 1
    assert inject_shift(tmp_path, tracking_uri=tracking, rows=50) == {
        "shift": 2,
        "reference_shift": 1,
        "champion": None,
        "champion_shift": None,
    }
    assert current_shift(tmp_path / "demo-data" / "fraud-detector") == 2


def test_a_shift_names_the_regime_of_its_reference_and_whose_it_is() -> None:
    note = demo.shift_note({"shift": 3, "reference_shift": 1, "champion": "2", "champion_shift": 1})
    assert note == (
        "the reference is now the online regime (the one champion v2 learned from), "
        "the current data a new training regime"
    )
    assert "v3 does not say which data it learned from" in demo.shift_note(
        {"shift": 3, "reference_shift": 2, "champion": "3", "champion_shift": None}
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waits only for its parent to reap it
        return stat.read().split()[2] != "Z"


@pytest.mark.parametrize(
    "own_group",
    [False, True],
    ids=["children-in-its-group", "children-in-their-own-group-like-airflow-task-runners"],
)
def test_stopping_the_demo_stops_the_processes_its_processes_started(tmp_path: Path, own_group: bool) -> None:
    pids = tmp_path / "pids"
    code = (
        "import subprocess, sys, time; "
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], "
        f"start_new_session={own_group}) for _ in range(2)]; "
        f"open({str(pids)!r}, 'w').write(' '.join(str(k.pid) for k in kids)); time.sleep(300)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 60
    while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    children = [int(p) for p in pids.read_text().split()]
    assert all(_alive(p) for p in children)
    demo.stop_group(parent, grace=10)
    assert parent.poll() is not None
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in children)


def test_a_stopped_demo_says_how_long_stopping_can_take_and_when_it_is_done(capsys) -> None:
    """Ctrl-C printed "Stopping the demo (signal 2): every process it started." and then nothing for 19-28 s."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    with pytest.raises(SystemExit), demo.stopped_on_exit(child, grace=20):
        os.kill(os.getpid(), signal.SIGTERM)
        child.wait()
    assert child.poll() is not None
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "Stopping the demo (signal 15): every process it started; this can take up to 30 s.",
        "Stopped.",
    ]


def test_sigterm_stops_the_demo_without_waiting_out_the_grace_period(tmp_path: Path) -> None:
    # the demo waits on `airflow standalone`; SIGTERM (or Ctrl-C) stops it and everything it started.
    # The grace period is long: a stop that had to wait it out would fail here.
    pids = tmp_path / "pids"
    standalone = tmp_path / "standalone.py"  # stands in for `airflow standalone` and a task runner
    standalone.write_text(
        "import subprocess, sys, time\n"
        "runner = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True)\n"
        f"open({str(pids)!r}, 'w').write(str(runner.pid))\n"
        "time.sleep(300)\n"
    )
    the_demo = tmp_path / "the_demo.py"
    the_demo.write_text(
        "import subprocess, sys\n"
        "from airflow_provider_agentic_mlops.cli.commands import demo\n"
        f"child = subprocess.Popen([sys.executable, {str(standalone)!r}], start_new_session=True)\n"
        "with demo.stopped_on_exit(child, grace=300):\n"
        "    child.wait()\n"
    )
    running = subprocess.Popen([sys.executable, str(the_demo)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        runner = int(pids.read_text())
        running.send_signal(signal.SIGTERM)
        out, _ = running.communicate(timeout=60)  # far below the 300 s grace
    finally:
        if running.poll() is None:  # the test failed: leave nothing behind
            running.kill()
            running.wait()
    assert running.returncode == 0
    assert "Stopping the demo (signal 15)" in out
    deadline = time.monotonic() + 10
    while _alive(runner) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(runner)


def test_the_demo_home_config_points_the_cli_at_the_demo_models(tmp_path: Path) -> None:
    home, dags = tmp_path / "home", tmp_path / "dags"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONFIG"))}
    env["AIRFLOW_HOME"] = str(home)
    code = (
        "from airflow.configuration import conf; print(conf.get('core', 'dags_folder')); "
        "print(conf.get('agentic_mlops', 'models_file', fallback='-')); print(conf.get('api_auth', 'jwt_secret')); "
        "print(conf.get('logging', 'simple_log_format'))"
    )

    def settings() -> list[str]:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.splitlines()

    demo.write_demo_config(home, dags)  # no airflow.cfg yet: Airflow writes its own first
    first = settings()
    assert first[:2] == [str(dags), str(dags / "models.yaml")]
    demo.write_demo_config(home, dags)  # a restarted demo: the file is updated, its generated keys kept
    assert settings() == first
    assert "%(" in first[3]  # Airflow's '%%' survived the rewrite
    _assert_signs_without_a_short_key_warning(first[2])


def _assert_signs_without_a_short_key_warning(secret: str) -> None:
    """Airflow signs its API tokens with ``[api_auth] jwt_secret`` (HS512): PyJWT warns on a key under 64 bytes,
    and Airflow's generated one (24) printed "InsecureKeyLengthWarning: The HMAC key is 24 bytes long" 8-10
    times in the demo's terminal."""
    import warnings

    import jwt

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jwt.encode({"sub": "demo"}, secret, algorithm="HS512")


def test_a_demo_home_from_before_gets_a_long_jwt_secret_once(tmp_path: Path) -> None:
    import configparser

    def secret() -> str:
        config = configparser.ConfigParser(interpolation=None)
        config.read(tmp_path / "airflow.cfg")
        return config.get("api_auth", "jwt_secret")

    (tmp_path / "airflow.cfg").write_text("[api_auth]\njwt_secret = c2hvcnQta2V5LW9mLWFpcmZsb3c=\n")
    demo.write_demo_config(tmp_path, tmp_path / "dags")
    replaced = secret()
    _assert_signs_without_a_short_key_warning(replaced)
    demo.write_demo_config(tmp_path, tmp_path / "dags")
    assert secret() == replaced  # kept across restarts: every process of the demo shares it


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _shift_args(port: int | None):  # noqa: ANN202
    import argparse

    return argparse.Namespace(shift=True, port=port, rows=50, no_drift=False, no_start=False)


@pytest.fixture
def health_port() -> Iterator[int]:
    """The port of a local server answering Airflow's health check, as the demo's API server does."""
    import http.server
    import threading

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the handler's API
            self.send_response(200 if self.path == "/api/v2/monitor/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("localhost", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _shift(monkeypatch: pytest.MonkeyPatch, port: int | None) -> None:
    """``demo --shift [--port port]``, its run's trigger stubbed (the run is named after the shift's note)."""
    monkeypatch.setattr(demo, "trigger_run", lambda env, **kwargs: f"manual__{kwargs['note']}")
    demo.demo(_shift_args(port))


def _record_a_running_demo(home: Path, port: int, pid: int | None = None) -> None:
    """What a running demo leaves in its home; this test process stands in for its Airflow."""
    import json

    import psutil

    pid = pid or os.getpid()
    record = {"port": port, "pid": pid, "started": psutil.Process(pid).create_time()}
    (home / demo.RUN_RECORD).write_text(json.dumps(record))


def test_shift_refuses_when_the_demo_is_not_running_and_injects_nothing(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    port = _free_port()  # nothing listens there
    monkeypatch.setattr(demo, "trigger_run", lambda *a, **k: pytest.fail("triggered with no demo running"))
    with pytest.raises(SystemExit) as stopped:
        demo.demo(_shift_args(port))
    message = str(stopped.value.code)
    assert f"port {port}" in message and f"no demo runs in AIRFLOW_HOME={tmp_path}" in message
    assert "./scripts/demo" in message and "then run --shift" in message
    assert "Triggered" not in capsys.readouterr().out
    assert current_shift(tmp_path / "demo-data" / "fraud-detector") == 0


def test_shift_finds_the_port_the_running_demo_recorded(monkeypatch, tmp_path: Path, capsys, health_port: int) -> None:
    """README's `demo --shift` for a demo started with --port 8093 asked port 8080, and advised starting
    the demo on 8080."""
    port = health_port
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    _record_a_running_demo(tmp_path, port)
    _shift(monkeypatch, None)
    out = capsys.readouterr().out
    assert "Triggered agentic_mlops__fraud-detector run manual__shift1." in out
    assert f"http://localhost:{port}/agentic-mlops/models" in out


def test_shift_to_a_port_the_demo_does_not_run_on_names_the_one_it_does(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    recorded, asked = _free_port(), _free_port()
    _record_a_running_demo(tmp_path, recorded)
    monkeypatch.setattr(demo, "trigger_run", lambda *a, **k: pytest.fail("triggered with no demo running"))
    with pytest.raises(SystemExit) as stopped:
        demo.demo(_shift_args(asked))
    message = str(stopped.value.code)
    assert f"port {asked}" in message and f"runs on port {recorded}" in message and "drop --port" in message


def test_shift_without_a_running_demo_does_not_take_any_server_on_8080_for_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setattr(demo, "_api_healthy", lambda port: True)  # say, your own Airflow answers on 8080
    monkeypatch.setattr(demo, "trigger_run", lambda *a, **k: pytest.fail("triggered with no demo running"))
    with pytest.raises(SystemExit) as stopped:
        demo.demo(_shift_args(None))
    message = str(stopped.value.code)
    assert str(tmp_path / demo.RUN_RECORD) in message and "--shift --port P" in message


def test_a_record_whose_process_ended_is_no_running_demo(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _record_a_running_demo(tmp_path, 8080, pid=ended.pid)
        assert demo.running_demo(tmp_path) is not None
    finally:
        ended.kill()
        ended.wait()
    assert demo.running_demo(tmp_path) is None
    assert demo.running_demo(tmp_path / "no-such-home") is None


@pytest.mark.parametrize("no_start", [False, True])
def test_the_demo_does_not_start_again_in_a_home_where_it_runs(monkeypatch, tmp_path: Path, no_start: bool) -> None:
    import argparse

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    _record_a_running_demo(tmp_path, 8093)
    args = argparse.Namespace(shift=False, port=None, rows=50, no_drift=False, no_start=no_start)
    with pytest.raises(SystemExit) as stopped:
        demo.demo(args)
    message = str(stopped.value.code)
    assert "already runs" in message and "http://localhost:8093" in message and "--shift" in message
    assert not (tmp_path / "demo-data").exists() and not (tmp_path / "airflow.cfg").exists()


@pytest.mark.parametrize("behind_a_proxy", [False, True])
def test_shift_injects_and_triggers_when_the_demos_api_server_answers(
    monkeypatch, tmp_path: Path, capsys, behind_a_proxy: bool, health_port: int
) -> None:
    """The health check asks the local server directly: with ``http_proxy`` set (a corporate proxy) and
    localhost not in ``no_proxy``, urllib sent it through the proxy, and the demo's own start waited for
    an API server that was up."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    if behind_a_proxy:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_free_port()}")  # a proxy that is not there
        import urllib.request

        monkeypatch.setattr(urllib.request, "_opener", None)  # urlopen's opener reads the proxies once, when made
    _shift(monkeypatch, health_port)
    assert "Triggered agentic_mlops__fraud-detector run manual__shift1." in capsys.readouterr().out
    assert current_shift(tmp_path / "demo-data" / "fraud-detector") == 1


def test_the_demos_airflow_runs_in_its_home_not_in_the_clone(tmp_path: Path, monkeypatch) -> None:
    """``python -m airflow`` (the demo's shim) puts the working directory on sys.path; in the clone's root
    the editable install's *.egg-info is a second copy of the package's metadata, and every Airflow
    process loaded the plugin twice ("Plugin 'agentic_mlops' already registered, skipping")."""
    from tests.conftest import REPO

    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    home.mkdir()
    fake = bin_dir / "airflow"  # stands in for `airflow standalone` and `airflow dags trigger`
    fake.write_text(f"#!/bin/sh\npwd >> {tmp_path / 'cwd'}\n")
    fake.chmod(0o755)
    monkeypatch.chdir(REPO)
    env = {**os.environ, "AIRFLOW_HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    demo.start_airflow(env).wait(timeout=60)
    assert demo.trigger_run(env, timeout=60)
    assert (tmp_path / "cwd").read_text().splitlines() == [str(home), str(home)]


def test_shift_while_an_approval_is_pending_refuses_and_injects_nothing(
    monkeypatch, tmp_path: Path, capsys, health_port: int
) -> None:
    """The shift's reference is the champion's regime; a pending request may yet make its challenger (trained
    on another regime) champion, and the queued run then measured drift against the wrong reference (0 %
    severity where the right one gives 96 %): refuse until the request is decided."""
    from datetime import datetime, timedelta, timezone

    from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url

    port = health_port
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    _record_a_running_demo(tmp_path, port)
    request, _ = StateStore(default_sqlite_url(tmp_path)).request_approval(
        "fraud-detector",
        "2",
        dag_id=demo.DAG_ID,
        run_id="manual__demo__1",
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    monkeypatch.setattr(demo, "trigger_run", lambda *a, **k: pytest.fail("triggered with an approval pending"))
    with pytest.raises(SystemExit) as stopped:
        demo.demo(_shift_args(None))
    message = str(stopped.value.code)
    assert message.startswith(f"error: approval request {request['id']} (fraud-detector v2, run manual__demo__1)")
    assert "decide it first" in message and "then shift again" in message and "No shift was injected" in message
    assert f"approvals approve {request['id']}" in message and f"approvals deny {request['id']}" in message
    assert f"http://localhost:{port}/agentic-mlops/approvals" in message
    assert not (tmp_path / "demo-data").exists()


def test_shift_with_no_approval_pending_says_nothing_of_approvals(
    monkeypatch, tmp_path: Path, capsys, health_port: int
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    _record_a_running_demo(tmp_path, health_port)
    _shift(monkeypatch, None)
    assert "pending" not in capsys.readouterr().out


def test_with_no_start_the_next_steps_claim_no_port_and_say_to_unpause_the_dag() -> None:
    # docker compose runs `demo --no-start` in its own Airflow: DAGs are paused at creation, its port is its own
    started = demo.next_steps(
        "airflow agentic-mlops",
        overview="http://127.0.0.1:8080/x",
        port=8080,
        started=True,
        connections="",
        shift="airflow agentic-mlops demo --shift",
    )
    assert "listens on 127.0.0.1:8080" in started and "gets a run as soon as Airflow is up" in started
    elsewhere = demo.next_steps(
        "airflow agentic-mlops",
        overview="http://127.0.0.1:8080/x",
        port=8080,
        started=False,
        connections="",
        shift="airflow agentic-mlops demo --shift",
    )
    assert "8080" not in elsewhere and "gets a run" not in elsewhere and "demo --shift" not in elsewhere
    assert f"unpause DAG {demo.DAG_ID}" in elsewhere and "airflow agentic-mlops approvals approve <id>" in elsewhere


def _demo_spec():
    from airflow_provider_agentic_mlops.core.config import load_models

    return next(spec for spec in load_models(demo.REPO_DAGS / "models.yaml") if spec.dag_id == demo.DAG_ID)


def test_the_next_steps_say_no_llm_and_no_slack_only_when_those_connections_are_missing(monkeypatch) -> None:
    # `demo --no-start` in docker compose, with the LLM and Slack connections set: it still said "No LLM connection"
    spec = _demo_spec()
    for name in ("AIRFLOW_CONN_AGENTIC_MLOPS_LLM_DEFAULT", "AIRFLOW_CONN_SLACK_API_DEFAULT"):
        monkeypatch.delenv(name, raising=False)
    for started in (True, False):
        note = demo.connections_note(spec)
        steps = demo.next_steps("x", overview="o", port=8080, started=started, connections=note, shift="s")
        assert "no llm connection: the rules decide" in steps.lower()
        assert "no slack connection: approve on browse > model approvals" in steps.lower()
    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_LLM_DEFAULT",
        '{"conn_type": "agentic_mlops_llm", "host": "http://llm", "extra": {"model": "m"}}',
    )
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", '{"conn_type": "slack", "password": "xoxb-1"}')
    note = demo.connections_note(spec)
    assert "no llm connection" not in note.lower() and "no slack connection" not in note.lower()
    assert "'agentic_mlops_llm_default'" in note and "'slack_api_default'" in note
    rules_only = spec.model_copy(update={"decision": spec.decision.model_copy(update={"mode": "rules"})})
    assert "decision mode 'rules': the rules decide" in demo.connections_note(rules_only).lower()


def test_started_by_scripts_demo_the_printed_commands_go_through_it(monkeypatch, tmp_path: Path) -> None:
    # `AIRFLOW_HOME=... airflow agentic-mlops approvals approve 1` kept the shell's AIRFLOW_CONN_*: it voted in
    # the user's own state store; scripts/demo leaves those out, so the printed commands run through it
    monkeypatch.setenv(demo.SCRIPT_ENV, "/clone/scripts/demo --airflow-home /tmp/h")
    assert demo.cli_command(tmp_path) == "/clone/scripts/demo --airflow-home /tmp/h cli"
    assert demo.shift_command(tmp_path) == "/clone/scripts/demo --airflow-home /tmp/h --shift"
    monkeypatch.delenv(demo.SCRIPT_ENV)
    assert demo.cli_command(tmp_path).startswith(f"AIRFLOW_HOME={tmp_path} ")
    assert demo.shift_command(tmp_path).endswith(" demo --shift")
