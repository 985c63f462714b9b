"""Without Evidently (not installed, or not importable as with pandas 3) the fast methods still
score, and a method only Evidently computes fails with a message naming the method and the fix."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from airflow_provider_agentic_mlops.core.drift import compute_drift


@pytest.fixture
def no_evidently(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import evidently`` raises ModuleNotFoundError, as in an environment without it."""
    for name in [m for m in sys.modules if m == "evidently" or m.startswith("evidently.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "evidently", None)


def _frames(rows: int = 200) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"amount": rng.normal(0, 1, rows), "city": rng.choice(["a", "b", "c"], rows)})
    current = pd.DataFrame({"amount": rng.normal(0.5, 1, rows), "city": rng.choice(["a", "b", "c"], rows)})
    return reference, current


@pytest.mark.usefixtures("no_evidently")
def test_fast_methods_score_without_evidently() -> None:
    summary = compute_drift(*_frames(), column_methods={"amount": "wasserstein", "city": "psi"})
    assert {c.method for c in summary.columns.values()} == {"wasserstein", "psi"}


@pytest.mark.usefixtures("no_evidently")
def test_a_method_only_evidently_computes_names_the_method_and_the_fix() -> None:
    with pytest.raises(ValueError) as caught:
        compute_drift(*_frames(), column_methods={"amount": "hellinger"}, model_name="fraud")
    message = str(caught.value)
    assert message.startswith("model 'fraud': drift method 'hellinger' (column 'amount')")
    assert "Evidently, which is not installed" in message
    assert "pip install 'airflow-provider-agentic-mlops[report]'" in message
    assert "'wasserstein'" in message  # the methods that need no Evidently


@pytest.mark.usefixtures("no_evidently")
def test_a_text_column_says_how_to_leave_it_out() -> None:
    rows = 60
    reference = pd.DataFrame({"note": [f"reference note {i}" for i in range(rows)]})
    current = pd.DataFrame({"note": [f"current note {i}" for i in range(rows)]})
    with pytest.raises(ValueError, match=r"'perc_text_content_drift' \(column 'note'\).*exclude_columns"):
        compute_drift(reference, current)


def test_an_evidently_that_does_not_import_is_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    """pandas 3 with Evidently 0.7 installed: the import fails inside Evidently, not as missing."""
    import airflow_provider_agentic_mlops.core.drift.compute as compute

    def broken(*_args: object) -> None:
        raise ImportError("cannot import name 'infer_dtype_from_object' from 'pandas.core.dtypes.common'")

    monkeypatch.setattr(compute, "score_with_evidently", broken)
    with pytest.raises(ValueError, match=r"does not import here \(ImportError: cannot import name"):
        compute_drift(*_frames(), column_methods={"city": "hellinger"})


@pytest.fixture
def evidently_0_6(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """An installed Evidently 0.6.7 (a stub package and its dist-info): it has no ``evidently.legacy``."""
    package = tmp_path / "evidently"
    package.mkdir()
    (package / "__init__.py").write_text('__version__ = "0.6.7"\n')
    dist_info = tmp_path / "evidently-0.6.7.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: evidently\nVersion: 0.6.7\n")
    for name in [m for m in sys.modules if m == "evidently" or m.startswith("evidently.")]:
        monkeypatch.delitem(sys.modules, name)  # the real ones come back at teardown
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m == "evidently" or m.startswith("evidently.")]:
        if getattr(sys.modules[name], "__file__", "").startswith(str(tmp_path)):
            del sys.modules[name]  # the stub does not stay imported for later tests


@pytest.mark.usefixtures("evidently_0_6")
def test_an_evidently_older_than_0_7_is_named_with_its_version() -> None:
    """Evidently 0.6 installed: the error says so and that 0.7 is needed, not "not installed"."""
    rows = 60
    reference = pd.DataFrame({"note": [f"reference note {i}" for i in range(rows)]})
    current = pd.DataFrame({"note": [f"current note {i}" for i in range(rows)]})
    with pytest.raises(ValueError) as caught:
        compute_drift(reference, current)
    message = str(caught.value)
    assert "not installed" not in message
    assert "Evidently 0.6.7 is installed" in message and "needs Evidently 0.7" in message
    assert "pip install 'airflow-provider-agentic-mlops[report]'" in message
    assert "exclude_columns" in message
