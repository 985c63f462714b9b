"""Shared by the compatibility smoke tests (tests/compat is on sys.path through its pytest.ini)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Set by scripts/compat: the package under test is the installed wheel, not the repository.
IN_COMPAT_JOB = os.environ.get("AGENTIC_MLOPS_COMPAT") == "1"
#: Set by scripts/compat on the newest target only: run the whole demo loop once.
RUN_LOOP = os.environ.get("AGENTIC_MLOPS_COMPAT_LOOP") == "1"
BIN = Path(sys.executable).parent


def run(*cmd: str | Path, timeout: float = 600) -> str:
    """Run a command of this venv; fail with its output when it fails."""
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=os.environ)
    assert out.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-4000:]}"
    )
    return out.stdout


def airflow(*args: str, timeout: float = 600) -> str:
    return run(sys.executable, "-m", "airflow", *args, timeout=timeout)
