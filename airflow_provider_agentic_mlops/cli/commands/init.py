"""``airflow agentic-mlops init``: put the provider's DAG file and a starter models.yaml in a DAGs folder."""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

#: Shipped in ``airflow_provider_agentic_mlops/dags/`` (the repository's ``dags`` links there).
DAG_FILES = ("agentic_mlops_models.py", "models.yaml", "example_fraud_detector_training.py")
#: The shop's list of models once written: ``--force`` never replaces it, only ``--reset-models`` (after a backup).
MODELS_FILE = "models.yaml"
WRITTEN, UNCHANGED, KEPT, OVERWRITTEN, RESET = "written", "unchanged", "kept", "overwritten", "reset"


def _backup_path(target: Path) -> Path:
    """``models.yaml.bak``, else the first free ``models.yaml.N.bak``: an earlier backup is never overwritten."""
    candidate = target.with_name(f"{target.name}.bak")
    n = 1
    while candidate.exists():
        candidate = target.with_name(f"{target.name}.{n}.bak")
        n += 1
    return candidate


def install_dag_files(
    dags_folder: Path, *, force: bool = False, reset_models: bool = False
) -> list[tuple[Path, str, str]]:
    """Copy the packaged DAG files into ``dags_folder``; a file that differs is kept unless ``force``, and
    a models.yaml that differs is the shop's list of models: kept even with ``force``.

    :param dags_folder: target folder, created if missing.
    :param force: overwrite the DAG files (not models.yaml) that differ from the packaged ones.
    :param reset_models: replace a models.yaml that differs with the starter, after copying it to
        ``models.yaml.bak`` (or ``models.yaml.N.bak`` when that exists).
    :return: ``(path, what happened, note)`` per file: written, unchanged, kept, overwritten or reset.
    """
    dags_folder.mkdir(parents=True, exist_ok=True)
    source = files("airflow_provider_agentic_mlops.dags")
    results = []
    for name in DAG_FILES:
        content = source.joinpath(name).read_bytes()
        target = dags_folder / name
        if not target.exists():
            target.write_bytes(content)
            results.append((target, WRITTEN, ""))
        elif target.read_bytes() == content:
            results.append((target, UNCHANGED, ""))
        elif name == MODELS_FILE and reset_models:
            backup = _backup_path(target)
            backup.write_bytes(target.read_bytes())
            target.write_bytes(content)
            results.append((target, RESET, f"to the starter; yours saved as {backup}"))
        elif name == MODELS_FILE:
            results.append(
                (target, KEPT, "yours; init never overwrites it: --reset-models replaces it, saving a .bak first")
            )
        elif force:
            target.write_bytes(content)
            results.append((target, OVERWRITTEN, ""))
        else:
            results.append((target, KEPT, "differs from the packaged file; --force overwrites it"))
    return results


def default_dags_folder() -> Path:
    """Airflow's ``[core] dags_folder``."""
    from airflow.configuration import conf

    return Path(conf.get("core", "dags_folder")).expanduser()


def init(args: argparse.Namespace) -> None:
    from airflow_provider_agentic_mlops.version_compat import command

    dags_folder = Path(args.dags_folder).expanduser() if args.dags_folder else default_dags_folder()
    if dags_folder.exists() and not dags_folder.is_dir():
        raise SystemExit(f"error: --dags-folder {str(dags_folder)!r} is a file, not a folder; give the DAGs folder")
    results = install_dag_files(
        dags_folder.resolve(), force=args.force, reset_models=getattr(args, "reset_models", False)
    )
    for path, what, note in results:
        print(f"{what:>11}  {path}" + (f" ({note})" if note else ""))
    models = dags_folder.resolve() / MODELS_FILE
    print(
        f"\nEdit {models} to list your models (each becomes the DAG agentic_mlops__<name>);\n"
        f"the starter entry is the fraud-detector demo (`{command('demo')}` creates its data)."
    )
