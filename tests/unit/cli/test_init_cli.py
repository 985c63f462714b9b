"""`agentic-mlops init`: the packaged DAG files land in a DAGs folder, never overwriting edits silently."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_agentic_mlops.cli.commands.init import DAG_FILES
from airflow_provider_agentic_mlops.cli.definition import main
from tests.conftest import REPO


def test_init_writes_the_packaged_files_then_keeps_edits(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "dags"
    main(["init", "--dags-folder", str(folder)])
    assert sorted(p.name for p in folder.iterdir()) == sorted(DAG_FILES)
    for name in DAG_FILES:  # the repository's dags/ is the packaged folder
        assert (folder / name).read_bytes() == (REPO / "dags" / name).read_bytes()
    assert capsys.readouterr().out.count("written") == len(DAG_FILES)

    main(["init", "--dags-folder", str(folder)])
    assert capsys.readouterr().out.count("unchanged") == len(DAG_FILES)

    edited = "models: []\n"
    (folder / "models.yaml").write_text(edited)
    main(["init", "--dags-folder", str(folder)])
    out = capsys.readouterr().out
    assert f"kept  {folder / 'models.yaml'} (yours; init never overwrites it" in out
    assert (folder / "models.yaml").read_text() == edited


def test_init_force_replaces_the_dag_file_but_never_a_models_file(tmp_path: Path, capsys) -> None:
    """--force after an upgrade (to get the new DAG file) replaced the shop's models.yaml with the demo starter."""
    folder = tmp_path / "dags"
    main(["init", "--dags-folder", str(folder)])
    yours = "models:\n  - name: churn\n"
    (folder / "models.yaml").write_text(yours)
    (folder / "agentic_mlops_models.py").write_text("# a local tweak\n")
    capsys.readouterr()

    main(["init", "--dags-folder", str(folder), "--force"])
    out = capsys.readouterr().out
    assert f"overwritten  {folder / 'agentic_mlops_models.py'}" in out
    assert (folder / "agentic_mlops_models.py").read_bytes() == (REPO / "dags" / "agentic_mlops_models.py").read_bytes()
    assert f"kept  {folder / 'models.yaml'} (yours; init never overwrites it" in out
    assert (folder / "models.yaml").read_text() == yours
    assert not list(folder.glob("*.bak"))


def test_init_reset_models_saves_yours_as_bak_before_writing_the_starter(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "dags"
    main(["init", "--dags-folder", str(folder)])
    (folder / "models.yaml").write_text("first\n")
    main(["init", "--dags-folder", str(folder), "--reset-models"])
    assert (folder / "models.yaml").read_bytes() == (REPO / "dags" / "models.yaml").read_bytes()
    assert (folder / "models.yaml.bak").read_text() == "first\n"
    assert f"saved as {folder / 'models.yaml.bak'}" in capsys.readouterr().out

    (folder / "models.yaml").write_text("second\n")  # an earlier backup is never overwritten either
    main(["init", "--dags-folder", str(folder), "--reset-models"])
    assert (folder / "models.yaml.bak").read_text() == "first\n"
    assert (folder / "models.yaml.1.bak").read_text() == "second\n"


def test_init_defaults_to_airflows_dags_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    folder = tmp_path / "configured-dags"
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    main(["init"])
    assert (folder / "agentic_mlops_models.py").exists() and (folder / "models.yaml").exists()


def test_on_airflow_3_1_init_names_the_console_script_that_runs_the_demo(
    tmp_path: Path, capsys, commands_as_on_airflow_3_1
) -> None:
    """Airflow 3.1 has no `airflow agentic-mlops`: the hint named a command that fails there."""
    main(["init", "--dags-folder", str(tmp_path / "dags")])
    out = capsys.readouterr().out
    assert "(`agentic-mlops demo` creates its data)" in out and "airflow agentic-mlops" not in out
