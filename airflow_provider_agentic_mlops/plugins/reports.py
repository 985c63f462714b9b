"""Reports and other artifacts of a model, served by the plugin from MLflow's artifact store.

``GET /models/{model}/artifact?uri=...`` downloads the artifact with MLflow's own artifact API (so
any store MLflow supports works: local, S3, GCS, Azure, an MLflow server's proxied artifacts) and
returns it, behind the same Airflow auth and DAG permission as the model's page (that of the DAG
that recorded it). Only URIs the loop recorded for that model are served
(:func:`~..core.model_history.is_recorded_artifact`): the route is not a general file or URL
fetcher. HTML is served with ``Content-Security-Policy: sandbox allow-scripts``, so a report's
scripts run in an opaque origin, without the Airflow session.
"""

from __future__ import annotations

import mimetypes
import tempfile
import threading
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from airflow_provider_agentic_mlops.core.connections import DEFAULT_REGISTRY_CONN_ID
from airflow_provider_agentic_mlops.plugins import overview
from airflow_provider_agentic_mlops.plugins.app import in_plugin_thread, settings_of
from airflow_provider_agentic_mlops.plugins.approvals_page import UserDep

router = APIRouter(tags=["reports"])

#: Largest artifact served (bytes); bigger ones are refused with a pointer to MLflow.
MAX_ARTIFACT_BYTES = 50 * 1024 * 1024
#: Seconds an artifact's download may take before the route answers 504: MLflow's client waits up to 120 s per
#: attempt and retries, so an MLflow server or artifact store that accepts and never answers would hold the page
#: for many minutes.
ARTIFACT_FETCH_TIMEOUT = 60
#: Downloads running at once in this process. A download the route gave up on runs on (MLflow's client has no
#: way to be stopped) until MLflow's own timeouts end it: past this many, pages are answered 503 at once instead
#: of starting more threads against an MLflow that does not answer.
MAX_ARTIFACT_FETCHES = 4
_fetch_slots = threading.BoundedSemaphore(MAX_ARTIFACT_FETCHES)


def mlflow_read_conn_id() -> str:
    """``[agentic_mlops] mlflow_read_conn_id`` (default ``agentic_mlops_mlflow_registry``, read-only)."""
    from airflow.configuration import conf

    return (
        conf.get("agentic_mlops", "mlflow_read_conn_id", fallback=DEFAULT_REGISTRY_CONN_ID) or DEFAULT_REGISTRY_CONN_ID
    )


def fetch_artifact(uri: str, dst: Path) -> Path:
    """Download artifact ``uri`` into ``dst`` with MLflow's artifact API; returns the local file."""
    from airflow_provider_agentic_mlops.core.model_history import artifact_location
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

    hook = MlflowRegistryHook(mlflow_conn_id=mlflow_read_conn_id())
    run_id, path = artifact_location(uri)
    if run_id is not None:
        local = hook.client().download_artifacts(run_id, path, str(dst))
    else:
        import mlflow.artifacts

        hook.client()  # applies the connection's credentials, as every MLflow call of the provider does
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=path, dst_path=str(dst), tracking_uri=hook.tracking_uri
        )
    result = Path(local)
    if result.is_dir():
        for name in ("drift_report.html", "report.html", "index.html"):
            if (result / name).is_file():
                return result / name
        raise HTTPException(404, f"artifact {uri!r} is a folder without a report.html; open it in MLflow")
    return result


@router.get("/models/{model_name}/artifact")
async def artifact(request: Request, user: UserDep, model_name: str, uri: str) -> Response:
    """One artifact the loop recorded for ``model_name`` (a drift or validation report, ...)."""
    from airflow_provider_agentic_mlops.core import model_history

    def check() -> None:
        store = settings_of(request.app).get_store()
        _, dag_ids = overview.model_or_404(store, user, model_name)
        # recorded by a DAG the user may read: a report of another team's DAG is as unknown as any URI
        if not model_history.is_recorded_artifact(store, model_name, uri, dag_ids=dag_ids):
            raise HTTPException(404, f"{uri!r} is not an artifact the loop recorded for model {model_name!r}")

    await in_plugin_thread(request.app, check)
    try:
        with anyio.fail_after(ARTIFACT_FETCH_TIMEOUT):
            body, media = await in_plugin_thread(request.app, lambda: download(uri), abandon_on_cancel=True)
    except TimeoutError:
        raise HTTPException(
            504,
            f"MLflow gave no answer for {uri!r} within {ARTIFACT_FETCH_TIMEOUT} s: check that the MLflow server of "
            f"connection {mlflow_read_conn_id()!r} and its artifact store are up and reachable from the API server, "
            "or open the report in MLflow",
        ) from None
    headers: dict[str, Any] = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
    if media == "text/html":
        headers["Content-Security-Policy"] = "sandbox allow-scripts"
    return Response(body, media_type=media, headers=headers)


def download(uri: str) -> tuple[bytes, str]:
    """The artifact's bytes and media type (:func:`fetch_artifact`), at most :data:`MAX_ARTIFACT_FETCHES` at
    once; errors as the HTTP answers a page gives."""
    if not _fetch_slots.acquire(blocking=False):
        raise HTTPException(
            503,
            f"{MAX_ARTIFACT_FETCHES} artifact downloads from MLflow are still running (MLflow may not be answering): "
            f"check the MLflow server of connection {mlflow_read_conn_id()!r}, then try again",
        )
    try:
        with tempfile.TemporaryDirectory(prefix="agentic-mlops-artifact-") as tmp:
            try:
                local = fetch_artifact(uri, Path(tmp))
            except HTTPException:
                raise
            except Exception as err:  # MLflow raises many types: say which artifact and why
                raise HTTPException(
                    502,
                    f"could not download {uri!r} from MLflow ({type(err).__name__}: {err}); check the "
                    f"MLflow connection {mlflow_read_conn_id()!r} and that the artifact still exists",
                ) from None
            size = local.stat().st_size
            if size > MAX_ARTIFACT_BYTES:
                raise HTTPException(
                    413, f"artifact {uri!r} is {size} bytes, over {MAX_ARTIFACT_BYTES}; open it in MLflow"
                )
            media = mimetypes.guess_type(local.name)[0] or "application/octet-stream"
            return local.read_bytes(), media
    finally:
        _fetch_slots.release()
