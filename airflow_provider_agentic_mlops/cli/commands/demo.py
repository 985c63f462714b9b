"""``airflow agentic-mlops demo``: the fraud-detector loop on this machine, nothing external.

The demo starts ``airflow standalone`` in its own process group, triggers a run of the demo DAG once
the DAG is parsed (a restarted demo shows the loop at once instead of waiting for ``@daily``), prints
where to look, and on Ctrl-C / SIGTERM stops the whole group: every process it started.
``--shift`` moves the data on to a new regime and triggers a run, for a demo that is already running.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_DAGS = Path(__file__).resolve().parents[3] / "dags"
DAG_ID = "agentic_mlops__fraud-detector"
#: The demo's Airflow port unless ``--port`` says otherwise.
DEFAULT_PORT = 8080
#: The only interface the demo's API server listens on: every UI user of the demo is an admin, so it
#: must not be reachable from other hosts (Airflow's default, 0.0.0.0, is every interface).
DEMO_HOST = "127.0.0.1"
#: Seconds to wait for Airflow's API server and for the DAG to be parsed before giving up triggering.
START_TIMEOUT = 600
#: In the demo's home while its Airflow runs: port and process, so ``--shift`` finds the demo (and a
#: second start in the same home is refused).
RUN_RECORD = "demo-running.json"
#: Set by ``scripts/demo`` when it made the demo's home (or a parent of it) for this invocation: the top
#: directory it made, which a refusal before set-up removes again (Airflow writes into the home on import).
CREATED_ENV = "AGENTIC_MLOPS_DEMO_CREATED"
#: Set by ``scripts/demo``: the command line that runs it again for this home (its path, and ``--airflow-home``
#: unless the home is the clone's default). The commands the demo prints go through it, so that they too leave
#: the shell's Airflow settings out (``AIRFLOW_CONN_*`` would otherwise point them at the user's own stores).
SCRIPT_ENV = "AGENTIC_MLOPS_DEMO_SCRIPT"
#: What Airflow itself writes into a home on import or start, before the demo sets anything up.
AIRFLOW_OWN_FILES = frozenset({"airflow.cfg", "webserver_config.py"})


def demo_ports(port: int) -> dict[str, int]:
    """What of the demo's Airflow listens on which port, for the demo on ``port``: the API server there, the
    worker's and the triggerer's log servers on the next two (Airflow's defaults, 8793 and 8794, would clash
    with a second demo or another Airflow on the machine: Airflow binds them on every interface)."""
    return {"the API server": port, "the worker's log server": port + 1, "the triggerer's log server": port + 2}


def check_demo_ports(port: int) -> None:
    """:raises SystemExit: naming the first of :func:`demo_ports` taken by another process (or out of range)
    and what to do, before the demo sets anything up."""
    import errno
    import socket

    for role, number in demo_ports(port).items():
        if number > 65535:
            raise SystemExit(
                f"error: port {number} ({role}, --port + {number - port}) is out of range: use a --port up to 65533"
            )
        with socket.socket() as probe:  # as the servers bind: with SO_REUSEADDR; the log servers on every interface
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((DEMO_HOST if number == port else "", number))
            except OSError as err:
                if err.errno != errno.EADDRINUSE:
                    raise
                raise SystemExit(
                    f"error: port {number} ({role} of the demo on --port {port}) is in use by another process "
                    "(another demo or Airflow?): start the demo with another --port (it uses that port and the "
                    "next two). Nothing was changed."
                ) from None


def remove_created_home(airflow_home: Path) -> None:
    """Remove what ``scripts/demo`` made for this invocation (:data:`CREATED_ENV`: ``airflow_home`` or a
    parent of it), so a refusal before set-up changes nothing; only when it holds no file but Airflow's own
    (:data:`AIRFLOW_OWN_FILES` in the home), else it is left as it is."""
    created = os.environ.get(CREATED_ENV)
    if not created:
        return
    top = Path(created)
    if not airflow_home.is_relative_to(top) or not top.is_dir():
        return
    for path in top.rglob("*"):
        if not path.is_dir() and not (path.parent == airflow_home and path.name in AIRFLOW_OWN_FILES):
            return
    shutil.rmtree(top, ignore_errors=True)


def demo_environment(airflow_home: Path, dags_folder: Path, port: int) -> dict[str, str]:
    """Settings of the demo's ``airflow standalone``: SQLite, LocalExecutor, few workers (2 cores),
    no example DAGs, DAGs unpaused, every UI user an admin, so the API server listens on
    :data:`DEMO_HOST` (loopback) only, and the API server and the execution API (which task processes
    call) on ``port``, the log servers on the next two (:func:`demo_ports`)."""
    ports = demo_ports(port)
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": DEMO_HOST,  # `airflow standalone` starts `airflow api-server` without --host
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}/",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["the worker's log server"]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["the triggerer's log server"]),
        # SQLite and four processes on a laptop: the API server can take more than the default 5 s
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        # a busy laptop can stall the scheduler's heartbeat for minutes; do not take that for a dead
        # scheduler (which resets and retries the running tasks) so soon
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "600",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "900",
        "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE": str(dags_folder / "models.yaml"),
    }


#: Bytes of the demo's ``[api_auth] jwt_secret``: Airflow signs its tokens with HS512, for which PyJWT warns
#: (``InsecureKeyLengthWarning``, in every process that signs) on a key under 64 bytes; Airflow generates 24.
JWT_SECRET_BYTES = 64


def write_demo_config(airflow_home: Path, dags_folder: Path) -> Path:
    """Put the demo's DAGs folder and models file in ``$AIRFLOW_HOME/airflow.cfg`` (created, or updated
    keeping its other settings), so that the CLI commands the demo prints, run with only
    ``AIRFLOW_HOME`` set, read the demo's models (``models list``, ``rollback``) as its Airflow does.
    A ``[api_auth] jwt_secret`` shorter than :data:`JWT_SECRET_BYTES` (Airflow's generated one) is replaced
    by a random one of that length, once: a restart keeps it, as every process of the demo shares it.

    :return: the config file's path.
    """
    import configparser
    import secrets

    path = airflow_home / "airflow.cfg"
    if not path.exists():  # Airflow's own first, with its generated keys (fernet, JWT) that every process shares
        airflow_home.mkdir(parents=True, exist_ok=True)
        code = "from airflow.configuration import write_default_airflow_configuration_if_needed as w; w()"
        env = {**os.environ, "AIRFLOW_HOME": str(airflow_home)}
        env.pop("AIRFLOW_CONFIG", None)
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)
    config = configparser.ConfigParser(interpolation=None)
    config.read(path)
    for section, key, value in (
        ("core", "dags_folder", str(dags_folder)),
        ("agentic_mlops", "models_file", str(dags_folder / "models.yaml")),
    ):
        if not config.has_section(section):
            config.add_section(section)
        config.set(section, key, value)
    if len(config.get("api_auth", "jwt_secret", fallback="").encode()) < JWT_SECRET_BYTES:
        if not config.has_section("api_auth"):
            config.add_section("api_auth")
        config.set("api_auth", "jwt_secret", secrets.token_urlsafe(JWT_SECRET_BYTES))
    with path.open("w") as out:
        config.write(out)
    return path


def demo_dags_folder() -> Path:
    """The repository's ``dags/`` (a clone), else Airflow's DAGs folder when it holds the provider's
    models.yaml (e.g. the docker-compose deployment, which mounts ``./dags``), else Airflow's DAGs
    folder after ``agentic-mlops init`` wrote the packaged DAG files there (a plain pip install)."""
    from airflow_provider_agentic_mlops.cli.commands.init import default_dags_folder, install_dag_files

    if (REPO_DAGS / "models.yaml").exists():
        return REPO_DAGS
    configured = default_dags_folder()
    if not (configured / "models.yaml").exists():
        for path, what, _ in install_dag_files(configured):
            print(f"  {what} {path}")
    return configured


def demo_spec(dags_folder: Path) -> Any:
    """The demo model's ``ModelSpec`` as models.yaml sets it."""
    from airflow_provider_agentic_mlops.core.config import load_models

    for spec in load_models(dags_folder / "models.yaml"):
        if spec.dag_id == DAG_ID:
            return spec
    raise SystemExit(f"{dags_folder / 'models.yaml'} has no model for DAG {DAG_ID}; the demo needs fraud-detector")


def airflow_shim(airflow_home: Path) -> Path:
    """A folder with an ``airflow`` script that runs this interpreter's Airflow (``python -m airflow``).

    ``airflow standalone`` starts its components as ``airflow ...`` from PATH; a virtualenv's
    ``bin/airflow`` may name another interpreter in its shebang (a copied or moved venv), which would
    run another installation's code. The shim, first on PATH, pins every component to this one.
    """
    import shlex

    folder = airflow_home / ".demo-bin"
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "airflow"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m airflow "$@"\n')
    script.chmod(0o755)
    return folder


def _airflow(env: dict[str, str]) -> str:
    airflow = shutil.which("airflow", path=env.get("PATH"))
    if airflow is None:
        sys.exit("the `airflow` command is not on PATH; activate the virtualenv where the provider is installed")
    return airflow


def start_airflow(env: dict[str, str]) -> subprocess.Popen[Any]:
    """``airflow standalone`` in a process group of its own, in the demo's home (see :func:`trigger_run`)."""
    return subprocess.Popen([_airflow(env), "standalone"], env=env, cwd=env["AIRFLOW_HOME"], start_new_session=True)


def trigger_run(env: dict[str, str], *, timeout: float = START_TIMEOUT, note: str = "demo") -> str | None:
    """Trigger a run of the demo DAG, retrying until the DAG is parsed; the run id, or None on timeout.

    Airflow runs in the demo's home, not in the working directory: ``python -m airflow`` (the shim) puts
    that on sys.path, and a clone's root holds the editable install's ``*.egg-info``, a second copy of the
    package's metadata from which Airflow would load the plugin twice ("already registered, skipping").
    """
    deadline = time.monotonic() + timeout
    run_id = f"manual__{note}__{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    while time.monotonic() < deadline:
        done = subprocess.run(
            [_airflow(env), "dags", "trigger", DAG_ID, "--run-id", run_id],
            env=env,
            cwd=env["AIRFLOW_HOME"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return run_id
        time.sleep(5)
    return None


def record_running(airflow_home: Path, port: int, process: subprocess.Popen[Any]) -> Path:
    """Write :data:`RUN_RECORD` for the demo's Airflow ``process`` serving on ``port``; its path."""
    import json

    import psutil

    path = airflow_home / RUN_RECORD
    started = psutil.Process(process.pid).create_time()
    path.write_text(json.dumps({"port": port, "pid": process.pid, "started": started}))
    return path


def running_demo(airflow_home: Path) -> dict[str, Any] | None:
    """The :data:`RUN_RECORD` of the demo running in ``airflow_home`` (``port``, ``pid``), or None: no
    record, or its process ended (a demo stopped by SIGKILL leaves one; a pid taken again since does
    not count: the process's start time must match)."""
    import json

    import psutil

    try:
        record = json.loads((airflow_home / RUN_RECORD).read_text())
        started = psutil.Process(int(record["pid"])).create_time()
        if abs(started - float(record["started"])) > 1 or not isinstance(record["port"], int):
            return None
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None
    return record


def shift_port(airflow_home: Path, port: int | None) -> int:
    """The port of the demo ``--shift`` moves on: ``port`` when given, else the one the demo running in
    ``airflow_home`` recorded. Exits with what to do when no demo answers there; nothing is injected."""
    running = running_demo(airflow_home)
    record = airflow_home / RUN_RECORD
    if port is None:
        if running is None:
            raise SystemExit(
                f"error: no demo runs in AIRFLOW_HOME={airflow_home} (a running demo records its port in {record}: "
                "none there, or its process ended); no shift was injected. "
                + _start_advice(airflow_home)
                + " For an Airflow you started yourself in this home (after --no-start): --shift --port P."
            )
        port = int(running["port"])
    if _api_healthy(port):
        return port
    health = f"http://localhost:{port}/api/v2/monitor/health"
    if running is None:
        raise SystemExit(
            f"error: no demo runs in AIRFLOW_HOME={airflow_home} (no record in {record}) and no Airflow API server "
            f"answers on port {port} ({health}); no shift was injected. " + _start_advice(airflow_home)
        )
    if running["port"] != port:
        raise SystemExit(
            f"error: no Airflow API server answers on port {port} ({health}); the demo in AIRFLOW_HOME="
            f"{airflow_home} runs on port {running['port']}: drop --port (--shift reads it from {record}) or "
            f"use --port {running['port']}. No shift was injected."
        )
    raise SystemExit(
        f"error: the demo in AIRFLOW_HOME={airflow_home} (pid {running['pid']}) does not answer on port {port} "
        f"yet ({health}): is it still starting? No shift was injected; try again when it answers."
    )


def _start_advice(airflow_home: Path) -> str:
    from airflow_provider_agentic_mlops.demo.setup import demo_data_dir
    from airflow_provider_agentic_mlops.version_compat import command

    holds = "" if demo_data_dir(airflow_home).exists() else "It holds no demo data either. "
    return (
        f"{holds}Start the demo (`./scripts/demo` in a clone, with the same --airflow-home if you gave one; "
        f"`{command('demo')}` elsewhere), then run --shift from another terminal: it finds the port."
    )


def _api_healthy(port: int) -> bool:
    """Whether the demo's Airflow API server answers its health check on ``port``."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy
    try:
        with direct.open(f"http://localhost:{port}/api/v2/monitor/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop_group(process: subprocess.Popen[Any], *, grace: float = 20.0) -> None:
    """Stop ``process`` and everything it started: SIGTERM to its process group and to each of its
    descendants, then SIGKILL to whatever is left after ``grace`` seconds. Descendants are signalled
    one by one too because Airflow's supervisor puts each task runner in a process group of its
    own, out of reach of the group signal."""
    import psutil

    if process.poll() is not None:  # it ended on its own: end whatever of its group is left
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        return
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        _, alive = psutil.wait_procs(tree, timeout=wait)
        if not alive:
            return


@contextlib.contextmanager
def stopped_on_exit(process: subprocess.Popen[Any], *, grace: float = 20.0) -> Iterator[None]:
    """Run the body; when it ends, or on Ctrl-C / SIGTERM, stop ``process`` and everything it started.

    The signal handler only raises ``SystemExit``; the stopping happens after the body (typically
    ``process.wait()``) has unwound. Stopping inside the handler cannot work: the ``wait()`` it
    interrupted holds the Popen's wait lock, so the handler could not reap the exited child and
    would wait out the whole grace period for it.
    """

    signalled = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal signalled
        signalled = True
        # stop_group waits up to ``grace`` for SIGTERM, then SIGKILLs: say so, or the terminal looks hung
        print(
            f"\nStopping the demo (signal {signum}): every process it started; this can take up to {grace + 10:.0f} s.",
            flush=True,
        )
        raise SystemExit(0)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig in previous:  # a second Ctrl-C must not cut the stopping short
            signal.signal(sig, signal.SIG_IGN)
        try:
            stop_group(process, grace=grace)
            if signalled:
                print("Stopped.", flush=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def cli_command(airflow_home: Path) -> str:
    """The provider's CLI for the demo's home, as a command line to copy into another terminal: through
    ``scripts/demo cli`` when the demo was started by it (:data:`SCRIPT_ENV`), which leaves the shell's Airflow
    settings out as the demo does; else ``AIRFLOW_HOME=<home> <venv>/bin/airflow agentic-mlops``."""
    from airflow_provider_agentic_mlops.version_compat import command_prefix

    script = os.environ.get(SCRIPT_ENV)
    if script:
        return f"{script} cli"
    return f"AIRFLOW_HOME={airflow_home} {Path(sys.executable).parent / command_prefix()}"


def shift_command(airflow_home: Path) -> str:
    """The command line that injects a new shift into the demo in ``airflow_home`` (see :func:`cli_command`)."""
    script = os.environ.get(SCRIPT_ENV)
    return f"{script} --shift" if script else f"{cli_command(airflow_home)} demo --shift"


def pending_approvals() -> list[dict[str, Any]]:
    """The demo model's pending approval requests in the state store, which ``--shift`` waits for (none when
    it cannot be read: the shift goes on, as before this check)."""
    from airflow_provider_agentic_mlops.core.errors import describe
    from airflow_provider_agentic_mlops.demo.setup import MODEL
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    try:
        return StateStoreHook().get_store().list_approvals(status="pending", model_name=MODEL)
    except Exception as err:  # noqa: BLE001 - a safeguard, not the shift: report and go on
        print(f"(Could not read the approval requests to see whether one is pending: {describe(err)})")
        return []


def data_note(result: dict[str, Any]) -> str:
    """What the demo's data are, from :func:`~airflow_provider_agentic_mlops.demo.setup.setup_demo`'s result."""
    from airflow_provider_agentic_mlops.demo.data import REGIMES

    shift, champion = result["shift"], f"v{result['champion']}"
    if result["drift"]:
        return f"shift #{shift}: the current data drifted from the reference, a new {REGIMES[shift % 3]} regime"
    if result["champion_shift"] is None:
        return (
            f"no drift: the training era's data, but champion {champion} does not say which data it learned "
            "from (trained by an older demo), so its run may still find a performance drop; to start over, "
            "stop the demo and delete its home"
        )
    return f"no drift: all of the {REGIMES[shift % 3]} regime, the one champion {champion} learned from"


def shift_note(injected: dict[str, Any]) -> str:
    """What a shift's reference and current data are, from
    :func:`~airflow_provider_agentic_mlops.demo.setup.inject_shift`'s result."""
    from airflow_provider_agentic_mlops.demo.data import REGIMES

    shift, reference, champion = injected["shift"], injected["reference_shift"], injected["champion"]
    if champion is not None and injected["champion_shift"] == reference:
        whose = f"the one champion v{champion} learned from"
    elif champion is not None:
        whose = f"the previous shift's: champion v{champion} does not say which data it learned from"
    else:
        whose = "the previous shift's: no champion is registered"
    return (
        f"the reference is now the {REGIMES[reference % 3]} regime ({whose}), the current data a new "
        f"{REGIMES[shift % 3]} regime"
    )


def connections_note(spec: Any) -> str:
    """Who decides and where approvals happen for the demo model ``spec`` (its ``ModelSpec``), by the connections
    that exist: "No LLM connection" and "No Slack connection" only when they are missing."""
    from airflow_provider_agentic_mlops.hooks.connection import get_connection_or_none
    from airflow_provider_agentic_mlops.hooks.llm import LLMHook

    llm_conn_id, slack_conn_id = spec.decision.llm_conn_id, spec.approval.slack_conn_id
    if spec.decision.mode == "rules":
        decides = "Decision mode 'rules': the rules decide."
    elif LLMHook.connection_exists(llm_conn_id):
        decides = f"LLM connection {llm_conn_id!r}: the LLM decides within the rules' guardrails."
    else:
        decides = "No LLM connection: the rules decide."
    if slack_conn_id and get_connection_or_none(slack_conn_id) is not None:
        approves = (
            f"Slack connection {slack_conn_id!r}: requests go to Slack (approval.approvers in models.yaml may "
            "click); or approve on Browse > Model approvals"
        )
    else:
        approves = "No Slack connection: approve on Browse > Model approvals"
    return f"{decides} {approves}"


def next_steps(approve: str, *, overview: str, port: int, started: bool, connections: str, shift: str) -> str:
    """What to do once the demo is set up: in the Airflow the demo starts, or (``--no-start``) in the one the
    user runs, e.g. docker compose's, whose port, DAG pausing and command paths the demo does not know.

    :param approve: the command line that runs the provider's CLI for the demo's home (:func:`cli_command`).
    :param connections: who decides and where approvals happen (:func:`connections_note`).
    :param shift: the command line that injects a new shift (:func:`shift_command`).
    """
    if not started:
        return (
            f"\nAirflow was not started (--no-start). In the Airflow that serves this AIRFLOW_HOME's DAGs (docker\n"
            f"compose's, say): unpause DAG {DAG_ID} if it is paused (new DAGs often are), then trigger it or post an\n"
            f"alert. {connections}, or:\n"
            f"  {approve} approvals list\n  {approve} approvals approve <id>\n"
        )
    return (
        f"\nOpen {overview} (Browse > Models): drift over time, decisions and their traces.\n"
        f"Airflow listens on {DEMO_HOST}:{port} only (loopback, this machine): every UI user of the demo is an admin.\n"
        f"DAG {DAG_ID} gets a run as soon as Airflow is up. {connections}, or from another terminal:\n"
        f"  {approve} approvals list\n  {approve} approvals approve <id>\n"
        f"After a promotion, inject a new shift (from another terminal; it finds the demo's port) with:\n"
        f"  {shift}\n"
    )


def demo(args: argparse.Namespace) -> None:
    from airflow_provider_agentic_mlops.core.paths import airflow_home as resolved_airflow_home
    from airflow_provider_agentic_mlops.demo.setup import inject_shift, setup_demo
    from airflow_provider_agentic_mlops.hooks.mlflow import default_tracking_uri

    airflow_home = resolved_airflow_home()
    os.environ["AIRFLOW_HOME"] = str(airflow_home)
    try:
        if args.shift:
            # `airflow dags trigger` writes to the metadata DB without the API server: check the demo runs
            # first, or the shift and its run would wait, unseen, for the next start
            port = shift_port(airflow_home, args.port)
        else:
            running = running_demo(airflow_home)
            if running is not None:
                raise SystemExit(
                    f"error: the demo already runs in AIRFLOW_HOME={airflow_home} (pid {running['pid']}, "
                    f"http://localhost:{running['port']}); stop it first (Ctrl-C in its terminal), or inject a "
                    "new drift into it with --shift. Nothing was changed."
                )
            port = args.port if args.port is not None else DEFAULT_PORT
            if not args.no_start:
                check_demo_ports(port)
    except SystemExit:
        remove_created_home(airflow_home)  # "Nothing was changed": not even the home the script made
        raise
    dags_folder = demo_dags_folder()
    env = {**os.environ, **demo_environment(airflow_home, dags_folder, port)}
    env["PATH"] = os.pathsep.join([str(airflow_shim(airflow_home)), env.get("PATH", "")])
    overview = f"http://localhost:{port}/agentic-mlops/models"
    if args.shift:
        # the shift's reference is the champion's regime: approving a pending request would make a
        # challenger trained on another regime champion, and the queued run measure drift against the wrong one
        for request in pending_approvals():
            command = cli_command(airflow_home)
            raise SystemExit(
                f"error: approval request {request['id']} (fraud-detector v{request['model_version']}, run "
                f"{request['run_id']}) is pending: decide it first, on http://localhost:{port}/agentic-mlops/"
                f"approvals or with\n  {command} approvals approve {request['id']}\n  {command} approvals deny "
                f"{request['id']}\nthen shift again (its reference is the regime the champion learned from, "
                "which the decision may change). No shift was injected."
            )
        injected = inject_shift(airflow_home, tracking_uri=default_tracking_uri(), rows=args.rows)
        shift = injected["shift"]
        print(f"Injected shift #{shift}: {shift_note(injected)}.")
        run_id = trigger_run(env, timeout=60, note=f"shift{shift}")
        print(f"Triggered {DAG_ID} run {run_id}." if run_id else "Could not trigger a run (is the demo's Airflow up?).")
        print(f"Watch it at {overview}")
        return
    print(f"Setting up the fraud-detector demo in AIRFLOW_HOME={airflow_home} ...")
    write_demo_config(airflow_home, dags_folder)
    result = setup_demo(airflow_home, tracking_uri=default_tracking_uri(), drift=not args.no_drift, rows=args.rows)
    spec = demo_spec(dags_folder)
    cooldown = float(spec.decision.cooldown_hours)
    approve = cli_command(airflow_home)
    print(f"  data: {Path(result['data']['reference']).parent} ({data_note(result)})")
    print(f"  MLflow: {default_tracking_uri()} (champion: fraud-detector v{result['champion']})")
    print(
        f"  retrain cooldown of the demo model: {cooldown * 60:g} minutes (models.yaml decision.cooldown_hours;\n"
        "  production default 24 h). Within it, drift that calls for retraining escalates to a person instead."
    )
    connections = connections_note(spec)
    shift = shift_command(airflow_home)
    print(
        next_steps(
            approve, overview=overview, port=port, started=not args.no_start, connections=connections, shift=shift
        )
    )
    if args.no_start:
        return
    sys.stdout.flush()
    standalone = start_airflow(env)
    with stopped_on_exit(standalone):
        record = record_running(airflow_home, port, standalone)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _api_healthy(port) and standalone.poll() is None and time.monotonic() < deadline:
                time.sleep(2)
            if standalone.poll() is None:
                run_id = trigger_run(env)
                print(
                    f"\nTriggered {DAG_ID} run {run_id}. Overview: {overview}\n"
                    if run_id
                    else f"\nThe DAG was not parsed within {START_TIMEOUT} s; trigger it in the UI. "
                    f"Overview: {overview}\n",
                    flush=True,
                )
            standalone.wait()
        finally:
            record.unlink(missing_ok=True)
