"""``airflow agentic-mlops demo``: the fraud-detector loop on this machine, nothing external."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

REPO_DAGS = Path(__file__).resolve().parents[3] / "dags"


def demo_environment(airflow_home: Path, dags_folder: Path, port: int) -> dict[str, str]:
    """Settings of the demo's ``airflow standalone``: SQLite, LocalExecutor, few workers (2 cores),
    no example DAGs, DAGs unpaused, every UI user an admin (local demo only)."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE": str(dags_folder / "models.yaml"),
    }


def demo_dags_folder() -> Path:
    """The repository's ``dags/`` (a clone), else Airflow's DAGs folder when it holds the provider's
    models.yaml (e.g. the docker-compose deployment, which mounts ``./dags``), else Airflow's DAGs
    folder after ``agentic-mlops init`` wrote the packaged DAG files there (a plain pip install)."""
    from airflow_provider_agentic_mlops.cli.commands.init import default_dags_folder, install_dag_files

    if (REPO_DAGS / "models.yaml").exists():
        return REPO_DAGS
    configured = default_dags_folder()
    if not (configured / "models.yaml").exists():
        for path, what in install_dag_files(configured):
            print(f"  {what} {path}")
    return configured


def demo(args: argparse.Namespace) -> None:
    from airflow_provider_agentic_mlops.demo.setup import setup_demo
    from airflow_provider_agentic_mlops.hooks.mlflow import default_tracking_uri

    airflow_home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").resolve()
    os.environ["AIRFLOW_HOME"] = str(airflow_home)
    dags_folder = demo_dags_folder()
    print(f"Setting up the fraud-detector demo in AIRFLOW_HOME={airflow_home} ...")
    result = setup_demo(airflow_home, tracking_uri=default_tracking_uri(), drift=not args.no_drift, rows=args.rows)
    print(f"  data: {Path(result['data']['reference']).parent}")
    print(f"  MLflow: {default_tracking_uri()} (champion: fraud-detector v{result['champion']})")
    print(f"  drift injected: {result['drift']}")
    env = {**os.environ, **demo_environment(airflow_home, dags_folder, args.port)}
    from airflow_provider_agentic_mlops.version_compat import PROVIDER_CLI_COMMANDS_LOADED

    # Airflow 3.1 does not load provider CLI commands: the console script has the same ones
    command = "airflow agentic-mlops" if PROVIDER_CLI_COMMANDS_LOADED else "agentic-mlops"
    approve = f"AIRFLOW_HOME={airflow_home} {Path(sys.executable).parent / command} approvals"
    print(
        f"\nOpen http://localhost:{args.port} : DAG agentic_mlops__fraud-detector runs (and can be triggered).\n"
        "No LLM connection: the rules decide. No Slack connection: the approval request is printed in the\n"
        f"wait_for_approval task log. Approve it from another terminal with:\n"
        f"  {approve} list\n  {approve} approve <id>\n"
    )
    if args.no_start:
        return
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or shutil.which("airflow")
    if airflow is None:
        sys.exit("the `airflow` command is not on PATH; activate the virtualenv where the provider is installed")
    # standalone starts its components as `airflow ...` from PATH: the same virtualenv's first
    env["PATH"] = os.pathsep.join([str(Path(airflow).parent), env.get("PATH", "")])
    sys.stdout.flush()
    os.execvpe(airflow, [airflow, "standalone"], env)
