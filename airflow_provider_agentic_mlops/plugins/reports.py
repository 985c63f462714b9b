"""Reports and other artifacts of a model, served by the plugin from MLflow's artifact store.

``GET /models/{model}/artifact?uri=...`` downloads a run artifact (``runs:/<run>/<path>`` or an MLflow
UI link to one) with the read connection's MLflow client and returns it, behind the same Airflow auth
and DAG permission as the model's page (that of the DAG that recorded it). Tasks write the state store
and DAG authors template links, so a recorded URI is not trusted: served only when the loop recorded it
for that model (:func:`~..core.model_history.is_recorded_artifact`) in a DAG the user may read, it names a run of
the model (:func:`run_of_model_refusal`; a positive answer is remembered for :data:`OWNED_RUN_SECONDS`) and MLflow
serves that run's artifacts
(:func:`~..core.model_history.artifact_root_refusal`). For a model the models file declares, only records of its
own DAG (``agentic_mlops__<model>``) count and its registered model is the one the file declares: another team's
DAG may record any URI and registered model under its name. For another model (a hand-written DAG), records of any
DAG the user may read, and the registered models they name. A ``file:`` URI, a path, ``s3://`` and any other
scheme is a 404: the API server never reads its own disk or a store with its own credentials for a page.
Every artifact is sandboxed: HTML with ``Content-Security-Policy: sandbox allow-scripts``, so a report's
scripts run in an opaque origin, without the Airflow session, anything else with ``sandbox``. Only
:data:`INLINE_MEDIA_TYPES` are shown inline; any other type (SVG, XHTML, XML, JavaScript, ...) is sent as an
``application/octet-stream`` attachment, so no artifact runs a script, or loads one, in Airflow's origin.
"""

from __future__ import annotations

import mimetypes
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from airflow_provider_agentic_mlops.plugins import overview
from airflow_provider_agentic_mlops.plugins.app import in_plugin_thread, settings_of
from airflow_provider_agentic_mlops.plugins.approvals_page import UserDep
from airflow_provider_agentic_mlops.settings import configured_mlflow_read_conn_id

router = APIRouter(tags=["reports"])

#: Media types an artifact is shown inline as (HTML sandboxed with scripts, the rest sandboxed and inert); any
#: other is an ``application/octet-stream`` attachment.
INLINE_MEDIA_TYPES = frozenset(
    {"text/html", "image/png", "image/jpeg", "image/gif", "text/plain", "text/csv", "application/json"}
)
#: Largest artifact served (bytes); bigger ones are refused with a pointer to MLflow, by the size MLflow lists,
#: before anything is downloaded.
MAX_ARTIFACT_BYTES = 50 * 1024 * 1024
#: The file a folder URI serves, the first of these it holds (the drift check's, the validation's, any page's).
REPORT_FILES = ("drift_report.html", "report.html", "index.html")
#: Seconds an artifact's download may take before the route answers 504: MLflow's client waits up to 120 s per
#: attempt and retries, so an MLflow server or artifact store that accepts and never answers would hold the page
#: for many minutes.
ARTIFACT_FETCH_TIMEOUT = 60
#: Downloads running at once in this process. A download the route gave up on runs on (MLflow's client has no
#: way to be stopped) until MLflow's own timeouts end it: past this many, pages are answered 503 at once instead
#: of starting more threads against an MLflow that does not answer.
MAX_ARTIFACT_FETCHES = 4
_fetch_slots = threading.BoundedSemaphore(MAX_ARTIFACT_FETCHES)
#: Versions of a registered model, and runs nested in one run per level, read to tell whether a run is the model's.
MAX_VERSIONS_SEARCHED = 10_000
MAX_RUN_NESTING_WIDTH = 1_000
#: Seconds a run found to be a model's stays so without asking MLflow again (:func:`run_of_model_refusal` lists up
#: to :data:`MAX_VERSIONS_SEARCHED` versions and the nested runs on each fetch; a page shows several reports). A
#: version deleted meanwhile still serves its run's reports until then. A refusal is never remembered.
OWNED_RUN_SECONDS = 60.0
#: Runs remembered as a model's at most, per process (the oldest forgotten first).
OWNED_RUNS_KEPT = 1_024


class _OwnedRuns:
    """Positive answers of :func:`run_of_model_refusal`, each for :data:`OWNED_RUN_SECONDS`, at most
    :data:`OWNED_RUNS_KEPT`; thread-safe (downloads run on the plugin's threads).

    :param clock: seconds, monotonic (``time.monotonic``; tests pass their own).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._until: OrderedDict[Hashable, float] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            until = self._until.get(key)
            if until is not None and until <= self.clock():
                del self._until[key]
                return False
            return until is not None

    def add(self, key: Hashable) -> None:
        """Remember ``key`` as owned for :data:`OWNED_RUN_SECONDS` from now."""
        with self._lock:
            self._until.pop(key, None)
            self._until[key] = self.clock() + OWNED_RUN_SECONDS
            while len(self._until) > OWNED_RUNS_KEPT:
                self._until.popitem(last=False)


#: (tracking URI, model, its registered models, run id) of the runs found to be the model's lately.
_owned_runs = _OwnedRuns()


def fetch_artifact(uri: str, dst: Path, *, model_name: str, registered_models: set[str]) -> Path:
    """Download run artifact ``uri`` into ``dst`` with the read connection's MLflow client; returns the local file.

    Only an artifact of a run of the model (:func:`run_of_model_refusal`) whose artifacts MLflow serves
    (:func:`~..core.model_history.artifact_root_refusal`); anything else is a 404, nothing downloaded. Only the one
    file :func:`served_file` picks from MLflow's listing is downloaded, never a folder.
    """
    from airflow_provider_agentic_mlops.core.model_history import artifact_location, artifact_root_refusal
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

    location = artifact_location(uri)
    if location is None:
        raise HTTPException(404, not_a_run_artifact(uri))
    run_id, path = location
    hook = MlflowRegistryHook(mlflow_conn_id=configured_mlflow_read_conn_id())
    client = hook.client()
    run = client.get_run(run_id)
    owned = (hook.tracking_uri, model_name, frozenset(registered_models), run_id)  # never another model's answer
    refusal = None
    if owned not in _owned_runs:  # checked at most once a minute per model and run (OWNED_RUN_SECONDS)
        refusal = run_of_model_refusal(client, run, model_name, registered_models)
        if refusal is None:
            _owned_runs.add(owned)
    refusal = refusal or artifact_root_refusal(run.info.artifact_uri, hook.tracking_uri)
    if refusal:
        raise HTTPException(404, f"{uri!r} is not served: run {run_id!r} {refusal}")
    chosen = served_file(client, run_id, path, uri)
    return Path(client.download_artifacts(run_id, chosen, str(dst)))


def served_file(client: Any, run_id: str, path: str, uri: str) -> str:
    """The one file of run ``run_id`` that ``path`` serves, from MLflow's listing, before anything is downloaded:
    ``path`` itself when it is a file, the first of :data:`REPORT_FILES` in it when it is a folder (never the
    folder: a run's ``drift/`` holds every drift check of the model). A file over :data:`MAX_ARTIFACT_BYTES` by
    the size MLflow lists is a 413, a folder without a report file and a path the run lacks are 404s."""
    path = path.rstrip("/")
    parent = path.rpartition("/")[0]
    entry = next((f for f in client.list_artifacts(run_id, parent or None) if f.path.rstrip("/") == path), None)
    if entry is None:
        raise HTTPException(404, f"run {run_id!r} has no artifact {path!r} ({uri!r}): open the run in MLflow")
    if entry.is_dir:
        files = {f.path.rpartition("/")[2]: f for f in client.list_artifacts(run_id, path) if not f.is_dir}
        entry = next((files[name] for name in REPORT_FILES if name in files), None)
        if entry is None:
            raise HTTPException(
                404, f"artifact {uri!r} is a folder without a report ({', '.join(REPORT_FILES)}); open it in MLflow"
            )
    if entry.file_size is not None and entry.file_size > MAX_ARTIFACT_BYTES:  # else checked once downloaded
        raise HTTPException(
            413, f"artifact {uri!r} is {entry.file_size} bytes, over {MAX_ARTIFACT_BYTES}; open it in MLflow"
        )
    return entry.path


def not_a_run_artifact(uri: str) -> str:
    """The refusal of a URI that names no MLflow run artifact."""
    return (
        f"{uri!r} is not served: the page serves only MLflow run artifacts (runs:/<run_id>/<path> or an MLflow UI "
        "link to a run's artifact), downloaded through MLflow; a file, a path or an artifact-store URI is never "
        "read by the API server. Open it where it is stored"
    )


def run_of_model_refusal(client: Any, run: Any, model_name: str, registered_models: set[str]) -> str | None:
    """Why ``run`` is not a run of the model, None when it is: the model's monitoring run (its experiment
    ``agentic-mlops/<model_name>``, where drift reports go) or a run a version of one of ``registered_models``
    was logged from, or one such a run is nested in up to :data:`~..core.retraining.MAX_RUN_NESTING` levels
    (where the validation report goes: the run the training returned).
    """
    from airflow_provider_agentic_mlops.core.retraining import MAX_RUN_NESTING
    from airflow_provider_agentic_mlops.hooks.mlflow import experiment_name

    if client.get_experiment(run.info.experiment_id).name == experiment_name(model_name):
        return None
    version_runs = {
        version.run_id
        for name in sorted(registered_models)
        if "'" not in name
        for version in client.search_model_versions(f"name = '{name}'", max_results=MAX_VERSIONS_SEARCHED)
        if version.run_id
    }
    level = [run.info.run_id]
    for _ in range(MAX_RUN_NESTING + 1):  # the run itself, then the runs nested in it, level by level
        if version_runs.intersection(level):
            return None
        level = [
            child.info.run_id
            for parent in level[:MAX_RUN_NESTING_WIDTH]
            for child in client.search_runs(
                [run.info.experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{parent}'",
                max_results=MAX_RUN_NESTING_WIDTH,
            )
        ]
        if not level:
            break
    return (
        f"is not a run of model {model_name!r}: neither its monitoring run (experiment "
        f"{experiment_name(model_name)!r}) nor one a version of {sorted(registered_models)} was logged from"
    )


@router.get("/models/{model_name}/artifact")
async def artifact(request: Request, user: UserDep, model_name: str, uri: str) -> Response:
    """One artifact the loop recorded for ``model_name`` (a drift or validation report, ...)."""
    from airflow_provider_agentic_mlops.core import model_history

    def check() -> set[str]:
        store = settings_of(request.app).get_store()
        _, dag_ids = overview.model_or_404(store, user, model_name)
        if model_history.artifact_location(uri) is None:  # not even looked up: nothing but run artifacts is served
            raise HTTPException(404, not_a_run_artifact(uri))
        declared = settings_of(request.app).get_stores().declared.registered_model_of(model_name)
        if declared is not None:  # only its own DAG's records: another DAG may record any URI under its name
            dag_ids = dag_ids & {model_history.default_dag_id(model_name)}
        # recorded by a DAG the user may read: a report of another team's DAG is as unknown as any URI
        if not model_history.is_recorded_artifact(store, model_name, uri, dag_ids=dag_ids):
            raise HTTPException(404, f"{uri!r} is not an artifact the loop recorded for model {model_name!r}")
        if declared is not None:  # trusted config: a task may record a request naming any registered model
            return {declared}
        return model_history.recorded_registered_models(store, model_name, dag_ids=dag_ids)

    registered = await in_plugin_thread(request.app, check)
    try:
        with anyio.fail_after(ARTIFACT_FETCH_TIMEOUT):
            body, media = await in_plugin_thread(
                request.app, lambda: download(uri, model_name, registered), abandon_on_cancel=True
            )
    except TimeoutError:
        raise HTTPException(
            504,
            f"MLflow gave no answer for {uri!r} within {ARTIFACT_FETCH_TIMEOUT} s: check that the MLflow server of "
            f"connection {configured_mlflow_read_conn_id()!r} and its artifact store are up and reachable from the API "
            "server, or open the report in MLflow",
        ) from None
    headers: dict[str, Any] = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
    headers["Content-Security-Policy"] = "sandbox allow-scripts" if media == "text/html" else "sandbox"
    if media not in INLINE_MEDIA_TYPES:  # SVG, XHTML, XML, JavaScript, ...: a download, never a document or script
        media = "application/octet-stream"
        headers["Content-Disposition"] = f'attachment; filename="{attachment_name(uri)}"'
    return Response(body, media_type=media, headers=headers)


def attachment_name(uri: str) -> str:
    """The file name a downloaded artifact is saved as: the URI's last segment, only ``[A-Za-z0-9._-]`` kept
    (no quote, no path, no header injection), ``artifact`` when nothing is left."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", uri.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]).strip("._")
    return name or "artifact"


def download(uri: str, model_name: str, registered_models: set[str]) -> tuple[bytes, str]:
    """The artifact's bytes and media type (:func:`fetch_artifact`), at most :data:`MAX_ARTIFACT_FETCHES` at
    once; errors as the HTTP answers a page gives."""
    if not _fetch_slots.acquire(blocking=False):
        raise HTTPException(
            503,
            f"{MAX_ARTIFACT_FETCHES} artifact downloads from MLflow are still running (MLflow may not be answering): "
            f"check the MLflow server of connection {configured_mlflow_read_conn_id()!r}, then try again",
        )
    try:
        with tempfile.TemporaryDirectory(prefix="agentic-mlops-artifact-") as tmp:
            try:
                local = fetch_artifact(uri, Path(tmp), model_name=model_name, registered_models=registered_models)
            except HTTPException:
                raise
            except Exception as err:  # MLflow raises many types: say which artifact and why
                raise HTTPException(
                    502,
                    f"could not download {uri!r} from MLflow ({type(err).__name__}: {err}); check the "
                    f"MLflow connection {configured_mlflow_read_conn_id()!r} and that the artifact still exists",
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
