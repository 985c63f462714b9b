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
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from airflow_provider_agentic_mlops.core.connections import DEFAULT_REGISTRY_CONN_ID
from airflow_provider_agentic_mlops.plugins import overview
from airflow_provider_agentic_mlops.plugins.app import settings_of
from airflow_provider_agentic_mlops.plugins.approvals_page import UserDep

router = APIRouter(tags=["reports"])

#: Largest artifact served (bytes); bigger ones are refused with a pointer to MLflow.
MAX_ARTIFACT_BYTES = 50 * 1024 * 1024


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

    store = settings_of(request.app).get_store()

    def load() -> tuple[bytes, str]:
        _, dag_ids = overview.model_or_404(store, user, model_name)
        # recorded by a DAG the user may read: a report of another team's DAG is as unknown as any URI
        if not model_history.is_recorded_artifact(store, model_name, uri, dag_ids=dag_ids):
            raise HTTPException(404, f"{uri!r} is not an artifact the loop recorded for model {model_name!r}")
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

    body, media = await anyio.to_thread.run_sync(load)
    headers: dict[str, Any] = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
    if media == "text/html":
        headers["Content-Security-Policy"] = "sandbox allow-scripts"
    return Response(body, media_type=media, headers=headers)
