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


def run(*cmd: str | Path, timeout: float = 600, log: Path | None = None) -> str:
    """Run a command of this venv; fail with its output when it fails. ``log``: keep the whole
    output (stdout, then stderr) in that file, failed or not."""
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=os.environ)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(out.stdout + "\n--- stderr ---\n" + out.stderr)
    assert out.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-4000:]}"
        + (f"\n(whole output: {log})" if log else "")
    )
    return out.stdout


def airflow(*args: str, timeout: float = 600, log: Path | None = None) -> str:
    return run(sys.executable, "-m", "airflow", *args, timeout=timeout, log=log)
