"""``scripts/demo``: the demo runs in its own Airflow home, never in one your shell points at.

Each test runs the script for real (``--no-start``: set-up only, no Airflow started) from a copy of the
clone's scripts next to a link to its ``.venv``, so the clone's own ``.demo`` is never touched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A stand-in clone: scripts/demo and scripts/_venv.sh, pyproject.toml (so the venv counts as installed)
    and .venv, a link to the real one."""
    stamp = REPO / ".venv" / ".agentic-mlops-installed"
    if (
        not stamp.exists()
        or stamp.read_text().strip() != hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    ):
        # the copy's _venv.sh would reinstall the provider into the shared .venv from the stand-in clone,
        # which holds no package: the real .venv would then import it from a directory that is gone
        pytest.fail(".venv was installed from another pyproject.toml; run ./scripts/test (it reinstalls) first")
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    for name in ("demo", "_venv.sh"):
        shutil.copy2(REPO / "scripts" / name, root / "scripts" / name)
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / ".venv").symlink_to(REPO / ".venv")
    return root


@pytest.fixture
def your_airflow(tmp_path: Path) -> tuple[dict[str, str], Path, str]:
    """The shell of someone who runs Airflow: AIRFLOW_HOME, AIRFLOW_CONFIG, a database and MLflow exported."""
    home = tmp_path / "your-airflow"
    home.mkdir()
    config = "# my comments\n[core]\ndags_folder = /srv/my-dags\n"
    (home / "airflow.cfg").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW_CONFIG=str(home / "airflow.cfg"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT=f"sqlite:///{home}/state.db",
        MLFLOW_TRACKING_URI=f"sqlite:///{home}/mlflow.db",
    )
    return env, home, config


def _run(clone: Path, env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(clone / "scripts" / "demo"), *args, "--no-start", "--rows", "200"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _untouched(home: Path, config: str) -> None:
    assert sorted(p.name for p in home.iterdir()) == ["airflow.cfg"]
    assert (home / "airflow.cfg").read_text() == config


def test_the_demo_uses_the_clones_demo_home_whatever_airflow_home_says(clone: Path, your_airflow) -> None:
    env, home, config = your_airflow
    done = _run(clone, env, cwd=clone)
    demo_home = (clone / ".demo" / "airflow").resolve()
    assert (demo_home / "airflow.cfg").exists() and (demo_home / "mlflow.db").exists()
    assert (demo_home / "demo-data" / "fraud-detector" / "current.parquet").exists()
    _untouched(home, config)
    assert f"The demo's Airflow home: {demo_home}" in done.stdout
    ignored = next(line for line in done.stdout.splitlines() if line.startswith("Not used, from your shell"))
    for name in (
        f"AIRFLOW_HOME={home}",
        "AIRFLOW_CONFIG",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "MLFLOW_TRACKING_URI",
    ):
        assert name in ignored


def test_airflow_home_flag_picks_another_home_relative_to_where_you_are(
    clone: Path, your_airflow, tmp_path: Path
) -> None:
    env, home, config = your_airflow
    done = _run(clone, env, "--airflow-home", "elsewhere", cwd=tmp_path)
    chosen = (tmp_path / "elsewhere").resolve()
    assert (chosen / "airflow.cfg").exists() and (chosen / "mlflow.db").exists()
    assert not (clone / ".demo").exists()
    _untouched(home, config)
    assert f"AIRFLOW_HOME={chosen}" in done.stdout


@pytest.mark.parametrize("flags", [(), ("--shift",)])
def test_a_refusal_before_set_up_leaves_no_home_the_script_made(
    clone: Path, your_airflow, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    """The script made the home and Airflow wrote into it on import (airflow.cfg, logs/) before the demo
    refused (its port taken; no demo runs there to shift): "Nothing was changed" was untrue."""
    import socket

    env, home, config = your_airflow
    new_home = tmp_path / "new" / "home"
    with socket.socket() as other:  # another Airflow on the demo's port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = str(other.getsockname()[1])
        done = subprocess.run(
            [str(clone / "scripts" / "demo"), "--airflow-home", str(new_home), "--port", port, *flags],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 1 and "error:" in done.stderr, done.stdout[-3000:] + done.stderr[-3000:]
    assert not new_home.exists()
    _untouched(home, config)


def test_a_refusal_keeps_a_home_that_was_there(clone: Path, your_airflow, tmp_path: Path) -> None:
    import socket

    env, _, _ = your_airflow
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = str(other.getsockname()[1])
        done = subprocess.run(
            [str(clone / "scripts" / "demo"), "--airflow-home", "mine", "--port", port],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 1 and "is in use" in done.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


def test_the_commands_the_demo_prints_leave_your_airflow_alone_too(clone: Path, your_airflow, tmp_path: Path) -> None:
    """`AIRFLOW_HOME=.demo/airflow airflow agentic-mlops approvals approve 1`, from a shell exporting
    AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT, voted in that shell's state store: the demo prints its commands
    as `scripts/demo cli ...`, which leaves the shell's settings out as the demo does."""
    env, home, config = your_airflow
    done = _run(clone, env, "--airflow-home", "elsewhere", cwd=tmp_path)
    chosen = (tmp_path / "elsewhere").resolve()
    script = f"{clone / 'scripts' / 'demo'} --airflow-home {chosen}"
    assert f"{script} cli approvals approve <id>" in done.stdout
    for command in (["airflow", "db", "migrate"], ["cli", "approvals", "list"]):  # the demo's Airflow migrates at start
        listed = subprocess.run(
            [*script.split(), *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
        )
        assert listed.returncode == 0, f"{command}: {listed.stdout[-3000:]}{listed.stderr[-3000:]}"
    assert "AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT" in listed.stderr  # named as left out, on stderr
    assert "The demo's Airflow home" not in listed.stdout
    _untouched(home, config)  # no state.db in your Airflow's home
    assert (chosen / "agentic_mlops.db").exists()  # the demo's state store


def test_a_demo_command_without_a_demo_is_refused(clone: Path, your_airflow, tmp_path: Path) -> None:
    env, _, _ = your_airflow
    done = subprocess.run(
        [str(clone / "scripts" / "demo"), "--airflow-home", "none", "cli", "approvals", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2 and "start the demo first" in done.stderr
    assert not (tmp_path / "none").exists()
