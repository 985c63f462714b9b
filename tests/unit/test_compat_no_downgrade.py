"""scripts/compat_no_downgrade.py: the compatibility job's check that installing the provider lowers
or removes nothing the Airflow install had."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compat_no_downgrade.py"
spec = importlib.util.spec_from_file_location("compat_no_downgrade", SCRIPT)
assert spec and spec.loader
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

BEFORE = "apache-airflow==3.3.2\ncachetools==8.0.2\nImportlib_Metadata==10.2.0\ncertifi==2026.7.22\npandas==3.1.1\n"


def _run(tmp_path: Path, after: str, *known: str) -> int:
    (tmp_path / "before.txt").write_text(BEFORE)
    (tmp_path / "after.txt").write_text(after)
    return check.main([str(tmp_path / "before.txt"), str(tmp_path / "after.txt"), *known])


def test_additions_and_upgrades_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    after = BEFORE.replace("certifi==2026.7.22", "certifi==2026.10.19.post1") + "mlflow-skinny==3.17.2\n"
    assert _run(tmp_path, after) == 0
    out = capsys.readouterr().out
    assert "upgraded  certifi 2026.7.22 -> 2026.10.19.post1" in out
    assert "added: mlflow-skinny 3.17.2" in out


def test_a_downgrade_or_a_removal_fails_and_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    after = BEFORE.replace("pandas==3.1.1", "pandas==2.3.3").replace("certifi==2026.7.22\n", "")
    assert _run(tmp_path, after) == 1
    out = capsys.readouterr().out
    assert "DOWNGRADE pandas 3.1.1 -> 2.3.3" in out
    assert "removed   certifi 2026.7.22" in out


def test_known_caps_are_printed_but_tolerated_names_normalised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    after = BEFORE.replace("cachetools==8.0.2", "cachetools==7.3.3").replace(
        "Importlib_Metadata==10.2.0", "importlib-metadata==9.1.0"
    )
    assert _run(tmp_path, after, "cachetools", "importlib_metadata") == 0
    assert "KNOWN DOWNGRADE cachetools 8.0.2 -> 7.3.3" in capsys.readouterr().out
    assert _run(tmp_path, after, "cachetools") == 1  # only the names given


def test_the_compat_jobs_known_list_tolerates_what_airflow_3_1_installed_today_lowers(tmp_path: Path) -> None:
    """Airflow 3.1.8 installed without constraints today has importlib_metadata 10.2.0 and no cachetools; the
    wheel lowers importlib_metadata to 9.1.0 (mlflow-skinny's cap): COMPAT_AIRFLOW_DEPS=latest passes on 3.1."""
    import re

    compat = (SCRIPT.parent / "compat").read_text()
    known = re.search(r"^known_downgrades_latest=\(([^)]*)\)", compat, re.MULTILINE)
    assert known, "scripts/compat no longer defines known_downgrades_latest"
    before = "apache-airflow==3.1.8\nimportlib_metadata==10.2.0\n"
    after = "apache-airflow==3.1.8\ncachetools==7.3.3\nimportlib_metadata==9.1.0\nmlflow-skinny==3.17.2\n"
    (tmp_path / "before.txt").write_text(before)
    (tmp_path / "after.txt").write_text(after)
    assert check.main([str(tmp_path / "before.txt"), str(tmp_path / "after.txt"), *known[1].split()]) == 0
