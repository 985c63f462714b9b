"""``airflow agentic-mlops init``: put the provider's DAG file and a starter models.yaml in a DAGs folder."""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

#: Shipped in ``airflow_provider_agentic_mlops/dags/`` (the repository's ``dags`` links there).
DAG_FILES = ("agentic_mlops_models.py", "models.yaml", "example_fraud_detector_training.py")
WRITTEN, UNCHANGED, KEPT, OVERWRITTEN = "written", "unchanged", "kept", "overwritten"


def install_dag_files(dags_folder: Path, *, force: bool = False) -> list[tuple[Path, str]]:
    """Copy the packaged DAG files into ``dags_folder``; a file that differs is kept unless ``force``.

    :param dags_folder: target folder, created if missing.
    :param force: overwrite files that differ from the packaged ones.
    :return: ``(path, what happened)`` per file: written, unchanged, kept or overwritten.
    """
    dags_folder.mkdir(parents=True, exist_ok=True)
    source = files("airflow_provider_agentic_mlops.dags")
    results = []
    for name in DAG_FILES:
        content = source.joinpath(name).read_bytes()
        target = dags_folder / name
        if not target.exists():
            target.write_bytes(content)
            results.append((target, WRITTEN))
        elif target.read_bytes() == content:
            results.append((target, UNCHANGED))
        elif force:
            target.write_bytes(content)
            results.append((target, OVERWRITTEN))
        else:
            results.append((target, KEPT))
    return results


def default_dags_folder() -> Path:
    """Airflow's ``[core] dags_folder``."""
    from airflow.configuration import conf

    return Path(conf.get("core", "dags_folder")).expanduser()


def init(args: argparse.Namespace) -> None:
    from airflow_provider_agentic_mlops.version_compat import command

    dags_folder = Path(args.dags_folder).expanduser() if args.dags_folder else default_dags_folder()
    results = install_dag_files(dags_folder.resolve(), force=args.force)
    for path, what in results:
        note = " (differs from the packaged file; --force overwrites it)" if what == KEPT else ""
        print(f"{what:>11}  {path}{note}")
    models = dags_folder.resolve() / "models.yaml"
    print(
        f"\nEdit {models} to list your models (each becomes the DAG agentic_mlops__<name>);\n"
        f"the starter entry is the fraud-detector demo (`{command('demo')}` creates its data)."
    )
