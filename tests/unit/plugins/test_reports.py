"""plugins.reports' download of a run artifact from MLflow: what is downloaded, and what never is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException

from airflow_provider_agentic_mlops.plugins import reports

#: The cap in these tests (bytes): files of a few KB stand in for reports of many MB.
CAP = 1000


@pytest.fixture(params=["local store", "MLflow server"])
def monitoring_run(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, str, str]:
    """(client, run id, model) of the model's monitoring run, in the read connection's store: a local one (``file:``
    artifacts) or an MLflow server proxying its artifacts (``mlflow-artifacts:/``, listed over HTTP)."""
    import uuid

    import mlflow

    if request.param == "local store":
        uri, location = f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "a").as_uri()
    else:
        uri, location = request.getfixturevalue("mlflow_server"), None
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr(reports, "MAX_ARTIFACT_BYTES", CAP)
    client = mlflow.MlflowClient(tracking_uri=uri)
    model = f"fraud-{uuid.uuid4().hex[:8]}"  # one server for the session: a model of its own
    experiment = client.create_experiment(f"agentic-mlops/{model}", artifact_location=location)
    return client, client.create_run(experiment, run_name="monitoring").info.run_id, model


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The artifact paths MLflow's client downloads, in order."""
    import mlflow

    seen: list[str] = []
    real = mlflow.MlflowClient.download_artifacts

    def spy(self: Any, run_id: str, path: str, dst_path: str | None = None) -> str:
        seen.append(path)
        return real(self, run_id, path, dst_path)

    monkeypatch.setattr(mlflow.MlflowClient, "download_artifacts", spy)
    return seen


def _refusal(uri: str, model: str) -> HTTPException:
    with pytest.raises(HTTPException) as raised:
        reports.download(uri, model, {model})
    return raised.value


def test_a_folder_is_never_downloaded_whole_only_the_report_it_holds_within_the_cap(
    monitoring_run: tuple[Any, str, str], downloads: list[str]
) -> None:
    """``runs:/<monitoring run>/drift`` downloaded every drift check's folder (the model's whole drift history) to
    the API server's disk, then looked for a report in it and answered 404; the cap applied only afterwards, to
    the file picked. The listing decides now: a folder serves only its report file, its size read from MLflow
    first, and nothing over the cap is downloaded."""
    client, run_id, model = monitoring_run
    for check in ("c1", "c2", "c3"):  # 3 x (600 + 900) bytes: the folder is over the cap, each file is not
        client.log_text(run_id, "<h1>drift " + check + "</h1>" + "x" * 580, f"drift/{check}/drift_report.html")
        client.log_text(run_id, "y" * 900, f"drift/{check}/drift_report.json")
    client.log_text(run_id, "z" * (CAP + 1), "drift/big/drift_report.html")
    client.log_text(run_id, "z" * (CAP + 1), "drift/big.html")

    refused = _refusal(f"runs:/{run_id}/drift", model)
    assert refused.status_code == 404 and "folder without a report" in refused.detail
    assert downloads == []  # not one check's folder copied to the API server's disk
    for uri in (f"runs:/{run_id}/drift/big", f"runs:/{run_id}/drift/big.html"):
        refused = _refusal(uri, model)
        assert refused.status_code == 413 and f"{CAP + 1} bytes" in refused.detail, uri
    missing = _refusal(f"runs:/{run_id}/drift/c9", model)
    assert missing.status_code == 404 and "no artifact" in missing.detail
    assert downloads == []  # nothing of it reached the API server's disk

    body, media = reports.download(f"runs:/{run_id}/drift/c2", model, {model})
    assert body.startswith(b"<h1>drift c2</h1>") and media == "text/html"
    body, _ = reports.download(f"runs:/{run_id}/drift/c3/drift_report.html/", model, {model})
    assert body.startswith(b"<h1>drift c3</h1>")
    assert downloads == ["drift/c2/drift_report.html", "drift/c3/drift_report.html"]  # the report alone
