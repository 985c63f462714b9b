"""Each provider version names its newest migration, and the package's version is the one whose newest is the
migrations' head: a migration added without a version bump fails here (pip skips a wheel of a version already
installed, so the migration would not reach a deployment that upgrades)."""

from __future__ import annotations

import re
from pathlib import Path

from airflow_provider_agentic_mlops import __version__
from airflow_provider_agentic_mlops.core.migrations import PROVIDER_VERSIONS, provider_versions_of
from airflow_provider_agentic_mlops.core.state import head_revision, known_revisions
from airflow_provider_agentic_mlops.get_provider_info import get_provider_info

REPO = Path(__file__).resolve().parents[3]


def _pyproject_version() -> str:
    match = re.search(r'^version = "([^"]+)"$', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert match is not None, "pyproject.toml has no [project] version line"
    return match.group(1)


def test_the_package_version_is_pyprojects_and_the_provider_infos() -> None:
    assert __version__ == _pyproject_version()
    assert get_provider_info()["versions"][0] == __version__


def test_the_package_versions_newest_migration_is_the_head() -> None:
    assert __version__ in PROVIDER_VERSIONS, (
        f"version {__version__} is not in core.migrations.PROVIDER_VERSIONS: add it with its newest migration"
    )
    assert PROVIDER_VERSIONS[__version__] == head_revision(), (
        f"the newest migration is {head_revision()}, but version {__version__} ships "
        f"{PROVIDER_VERSIONS[__version__]}: a new migration needs a new provider version (pyproject.toml, "
        "__version__ and core.migrations.PROVIDER_VERSIONS)"
    )


def test_the_versions_are_in_order_each_at_a_known_revision_none_older_than_the_one_before() -> None:
    known = known_revisions()
    versions = list(PROVIDER_VERSIONS)
    as_numbers = [tuple(int(part) for part in version.split(".")) for version in versions]
    assert as_numbers == sorted(as_numbers) and len(set(as_numbers)) == len(as_numbers)
    positions = [known.index(PROVIDER_VERSIONS[version]) for version in versions]  # ValueError: an unknown one
    assert positions == sorted(positions)


def test_a_revision_names_the_versions_it_was_newest_in() -> None:
    assert provider_versions_of("0007") == ["0.1.0"]
    assert provider_versions_of(head_revision()) == [__version__]
    assert provider_versions_of("0003") == []
