"""The demo as a user starts it (``./scripts/demo --port P`` on a free port), for the browser tests
and ``scripts/screenshots``: started, waited on until its first run asks for approval, and stopped
with SIGTERM (the demo stops everything it started; :func:`stop_demo` says which processes it did not)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.conftest import REPO
from tests.e2e.deployment import free_port_run

#: The demo's loop (drift, decision, retraining, validation) on 2 busy cores, generously.
LOOP_TIMEOUT = 900


@dataclass
class Demo:
    """The running demo: its port, home, process and output."""

    port: int
    home: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def store(self):  # noqa: ANN201
        from airflow_provider_agentic_mlops.core.state import StateStore, default_sqlite_url

        return StateStore(default_sqlite_url(self.home))

    def wait_until(self, check, timeout: float, what: str) -> object:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the demo exited ({self.process.returncode}) waiting for {what}:\n{self.output()[-4000:]}"
                )
            try:
                value = check()
            except Exception:  # noqa: BLE001 - not ready yet (database being created, server starting)
                value = None
            if value:
                return value
            time.sleep(2)
        raise AssertionError(f"no {what} within {timeout} s; demo output:\n{self.output()[-4000:]}\n{self.task_logs()}")

    def task_logs(self) -> str:
        logs = sorted((self.home / "logs").rglob("*.log"), key=lambda p: p.stat().st_mtime)[-3:]
        return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-2000:]}" for p in logs)


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
        return response.status == 200


def start_demo(home: Path, *, rows: int = 1000) -> Demo:
    """Start the demo in ``home`` (``--airflow-home``) on a free port; return once its first run waits for approval."""
    port = free_port_run(3)  # the demo takes --port and the next two (its log servers)
    log = home / "demo.out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(REPO / "scripts" / "demo"), "--airflow-home", str(home), "--port", str(port), "--rows", str(rows)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Demo(port=port, home=home, process=process, log=log)
    try:
        running.wait_until(lambda: _healthy(running.url), LOOP_TIMEOUT, "healthy API server (after the demo set-up)")
        running.wait_until(
            lambda: "Triggered agentic_mlops__fraud-detector run" in running.output(), LOOP_TIMEOUT, "triggered run"
        )
        running.wait_until(
            lambda: running.store().list_approvals(status="pending"), LOOP_TIMEOUT, "approval request from the demo run"
        )
    except BaseException:
        stop_demo(running)
        raise
    return running


def demo_processes(home: Path) -> list[psutil.Process]:
    """Every process running with ``AIRFLOW_HOME=home``: the demo and whatever it started, also
    processes that left its process tree (re-parented to init when their parent died)."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get("AIRFLOW_HOME") == str(home):
                found.append(proc)
    return found


def stop_demo(running: Demo) -> list[str]:
    """SIGTERM to the demo, as Ctrl-C or ``kill`` would; the demo stops every process it started.
    Returns the processes it left running (``pid cmdline``), after SIGKILLing them."""
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGTERM)
    try:
        running.process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait(timeout=30)
    _, alive = psutil.wait_procs(demo_processes(running.home), timeout=10)
    left = []
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            left.append(f"{proc.pid} {' '.join(proc.cmdline())[:200]}")
            proc.kill()
    return left
