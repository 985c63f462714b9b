"""MLflow tracking and registry access through an Airflow connection."""

from __future__ import annotations

import base64
import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_agentic_mlops.core.connections import (
    DEFAULT_PROMOTE_CONN_ID,
    DEFAULT_REGISTRY_CONN_ID,
    DEFAULT_TRAIN_CONN_ID,
)
from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError, describe
from airflow_provider_agentic_mlops.core.mlflow_faults import refused_reason, unavailable_fault
from airflow_provider_agentic_mlops.hooks.connection import (
    ConnectionExtraInvalid,
    ConnectionLookupFailed,
    connection_url,
    get_connection_or_none,
)
from airflow_provider_agentic_mlops.hooks.connection_form import with_connection_form
from airflow_provider_agentic_mlops.version_compat import AirflowFailException

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient


def default_tracking_uri() -> str:
    """Tracking URI used when the connection does not exist.

    ``[agentic_mlops] mlflow_tracking_uri``, else ``MLFLOW_TRACKING_URI``, else a SQLite store at
    ``$AIRFLOW_HOME/mlflow.db`` (artifacts in ``$AIRFLOW_HOME/mlartifacts``; ``~`` and ``$VARS`` in
    ``AIRFLOW_HOME`` expanded as Airflow expands them).
    """
    configured = os.environ.get("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI")
    if not configured:
        try:
            from airflow.configuration import conf

            configured = conf.get("agentic_mlops", "mlflow_tracking_uri", fallback="")
        except Exception:  # configuration not reachable (e.g. in a bare interpreter)
            configured = ""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    from airflow_provider_agentic_mlops.core.paths import airflow_home

    return f"sqlite:///{airflow_home() / 'mlflow.db'}"


def local_artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment of a local SQLite tracking store keeps its artifacts: ``mlartifacts/``
    next to the database, not MLflow's default ``./mlruns`` in whatever directory the process runs
    in. None for other stores (a tracking server or a database decides for itself).

    :param tracking_uri: the MLflow tracking URI.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return (Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()


#: The run of a model's experiment its drift reports are logged to (``drift/<folder>``, one folder per check).
MONITORING_RUN_NAME = "monitoring"


def experiment_name(model_name: str) -> str:
    """The MLflow experiment of a model: ``agentic-mlops/<model_name>``. The demo trains the model there, the drift
    check logs to its :data:`MONITORING_RUN_NAME` run there, and the report page serves that experiment's runs as
    the model's: one definition for all three.

    :param model_name: the provider's model name.
    """
    return f"agentic-mlops/{model_name}"


def model_experiment_id(client: Any, model_name: str, tracking_uri: str) -> str:
    """The id of the model's experiment (:func:`experiment_name`), created when absent (its artifacts in
    :func:`local_artifact_location` for a local store).

    :param client: an ``MlflowClient`` allowed to create experiments (a ``train`` connection's).
    :param model_name: the provider's model name.
    :param tracking_uri: the client's tracking URI.
    """
    name = experiment_name(model_name)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=local_artifact_location(tracking_uri))


#: What each connection may do, lowest first. Defence in depth on top of MLflow's own auth: the
#: provider refuses, client-side, any write its connection is not meant for.
ACCESS_LEVELS = ("read", "train", "promote")
#: Access of the provider's default connection ids; any other connection id declares its access in
#: its extra (``{"access": "train"}``) and is read-only without it (fail closed).
DEFAULT_ACCESS = {
    DEFAULT_REGISTRY_CONN_ID: "read",
    DEFAULT_TRAIN_CONN_ID: "train",
    DEFAULT_PROMOTE_CONN_ID: "promote",
}
#: Aliases that decide what production serves: only a ``promote`` connection may move them.
PROTECTED_ALIASES = frozenset({"champion", "previous_champion"})
_WRITE_PREFIXES = (
    "create_",
    "set_",
    "delete_",
    "update_",
    "log_",
    "rename_",
    "transition_",
    "copy_",
    "restore_",
    "upload_",
    "finalize_",
    "link_",
    "unlink_",
)


#: The ``Authorization`` header of the MLflow connection in use, set only around the provider's own
#: MLflow calls (see :meth:`MlflowRegistryHook.authenticated`): credentials never enter ``os.environ``,
#: so a later task in the same worker process cannot inherit them.
_authorization: ContextVar[str | None] = ContextVar("agentic_mlops_mlflow_authorization", default=None)
_provider_registered = threading.Lock()
_registered: list[bool] = []


def _register_header_provider() -> None:
    """Teach MLflow's HTTP layer (tracking, registry and artifact requests) to send :data:`_authorization`."""
    with _provider_registered:
        if _registered:
            return
        from mlflow.tracking.request_header.abstract_request_header_provider import RequestHeaderProvider
        from mlflow.tracking.request_header.registry import _request_header_provider_registry

        class ConnectionAuthorization(RequestHeaderProvider):
            def in_context(self) -> bool:
                return _authorization.get() is not None

            def request_headers(self) -> dict[str, str]:
                value = _authorization.get()
                return {"Authorization": value} if value else {}

        _request_header_provider_registry.register(ConnectionAuthorization)
        _registered.append(True)


def authorization_header(login: str | None, password: str | None) -> str | None:
    """``Basic`` for login + password, ``Bearer`` for a password alone (MLflow's own rule), else None."""
    if login and password:
        return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
    if password:
        return f"Bearer {password}"
    return None


class MlflowAccessError(AgenticMlopsError, PermissionError):
    """The connection's access level does not allow this MLflow call; the message says which does."""


class ModelLoadError(AgenticMlopsError, RuntimeError):
    """A registered model version could not be loaded (its files missing from the artifact store, a flavor
    that does not load); the message names the connection, the model and the version, the cause is chained.

    :param registered_model: the registered model.
    :param version: its version.
    """

    def __init__(self, message: str, *, registered_model: str, version: str) -> None:
        super().__init__(message)
        self.registered_model = registered_model
        self.version = version


class MlflowConnectionNotFound(AgenticMlopsError, ValueError, AirflowFailException):
    """An MLflow connection other than the three default ids does not exist (a typo, or not created yet). The task
    fails without retries: a retry finds the same connections."""


class MlflowConnectionInvalid(AgenticMlopsError, ValueError):
    """An MLflow connection id names a connection of another type (an ``http`` one, a state store's; the message
    names the type found and the ``--conn-type`` it needs), or one without a host or with an unknown ``access``."""


class MlflowUnavailable(AgenticMlopsError, ConnectionError):
    """MLflow or its artifact store could not be reached or was overloaded (a refused, dropped or timed-out
    connection, HTTP 5xx or 429): not the model's fault. The task fails and Airflow retries it."""


class MlflowPermissionDenied(AgenticMlopsError, AirflowFailException):
    """MLflow refused the connection: its credentials (401 ``UNAUTHENTICATED``) or their permission on the
    registered model (403 ``PERMISSION_DENIED``). The message names the connection and the permission the call
    needs; the task fails without retries, since the same credentials are refused again."""


#: An MLflow connection that is not there or not usable as it is (its id, type, host, extra or credentials): each
#: message names the connection and its fix, which is the connection's, not the call's (never a report, a version
#: or the artifact store to blame). ``ConnectionLookupFailed``: whether it exists is unknown, a backend failed.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    MlflowConnectionNotFound,
    MlflowConnectionInvalid,
    MlflowPermissionDenied,
    ConnectionExtraInvalid,
    ConnectionLookupFailed,
)

#: Errors of :meth:`MlflowRegistryHook.predict_version` that are no fault of the model: raised as they are, never
#: reported as a model that does not predict (unreachable or busy MLflow, a refused connection, a timeout).
REGISTRY_FAULTS: tuple[type[BaseException], ...] = (MlflowUnavailable, MlflowPermissionDenied, TimeoutError)


class _GuardedClient:
    """An ``MlflowClient`` that refuses what its connection's access level does not allow.

    ``read``: no writes at all. ``train``: runs, versions, tags and the ``challenger`` alias, but no
    protected alias (champion, previous_champion) and no stage transitions. ``promote``: everything.
    """

    def __init__(self, client: Any, access: str, conn_id: str, authorization: str | None = None) -> None:
        self._client = client
        self._access = access
        self._conn_id = conn_id
        self._authorization = authorization

    def __getattr__(self, name: str) -> Any:
        attr = self._authenticated(getattr(self._client, name))
        if not callable(attr) or not name.startswith(_WRITE_PREFIXES) or self._access == "promote":
            return attr
        if self._access == "read":
            return self._refuse(name, "it is read-only")
        if name == "transition_model_version_stage":
            return self._refuse(name, "only a promote connection changes what production serves")
        if name in ("set_registered_model_alias", "delete_registered_model_alias"):

            def guarded(model_name: str, alias: str, *args: Any, **kwargs: Any) -> Any:
                if alias in PROTECTED_ALIASES:
                    self._refuse(f"{name}(alias={alias!r})", "only a promote connection moves that alias")()
                return attr(model_name, alias, *args, **kwargs)

            return guarded
        return attr

    def _authenticated(self, attr: Any) -> Any:
        """``attr``, called with this connection's credentials in effect (only for that call)."""
        if not callable(attr) or self._authorization is None:
            return attr
        authorization = self._authorization

        def call(*args: Any, **kwargs: Any) -> Any:
            token = _authorization.set(authorization)
            try:
                return attr(*args, **kwargs)
            finally:
                _authorization.reset(token)

        return call

    def _refuse(self, call: str, why: str) -> Any:
        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise MlflowAccessError(
                f"MLflow connection {self._conn_id!r} has access {self._access!r}: {call} refused, {why}. "
                "Use the connection meant for it (agentic_mlops_mlflow_train to train, "
                'agentic_mlops_mlflow_promote to promote) or set its extra {"access": "train"|"promote"}.'
            )

        return refuse


@with_connection_form
class MlflowRegistryHook(BaseHook):
    """An MLflow client for one connection.

    The connection's host is the tracking URI (``http://mlflow:5000``); login/password become
    MLflow's basic-auth credentials, or the password alone a bearer token. Without the connection
    the provider falls back to :func:`default_tracking_uri`, and says so in the log, for the three default
    ids only: any other absent id is :class:`MlflowConnectionNotFound` (a typo must not use a local store).

    :param mlflow_conn_id: connection id; the provider uses three, one per privilege:
        ``agentic_mlops_mlflow_registry`` (read), ``agentic_mlops_mlflow_train`` (log runs and
        register versions) and ``agentic_mlops_mlflow_promote`` (move the champion alias).
    :param access: lower the access below the connection's (``read``, ``train``, ``promote``); it
        can never be raised above what the connection declares (extra ``access``, else
        :data:`DEFAULT_ACCESS` for the default ids, else ``read``).
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = DEFAULT_REGISTRY_CONN_ID
    conn_type = "agentic_mlops_mlflow"
    hook_name = "MLflow (agentic MLOps)"

    def __init__(self, mlflow_conn_id: str = default_conn_name, access: str | None = None) -> None:
        super().__init__()
        if access is not None and access not in ACCESS_LEVELS:
            raise ValueError(f"access {access!r} is not one of {ACCESS_LEVELS}")
        self.mlflow_conn_id = mlflow_conn_id
        self.requested_access = access

    @cached_property
    def _settings(self) -> dict[str, Any]:
        conn = get_connection_or_none(self.mlflow_conn_id)
        if conn is None and self.mlflow_conn_id not in DEFAULT_ACCESS:
            # as for the state store: a typo falling back to a local store would read and write a registry
            # nobody serves from, and say so only in a log line
            raise MlflowConnectionNotFound(
                f"MLflow connection {self.mlflow_conn_id!r} does not exist. Fix the id (models.yaml's "
                "registry_conn_id, promote_conn_id or retrain.mlflow_conn_id, [agentic_mlops] mlflow_read_conn_id, or "
                "--mlflow-conn-id), or create it: "
                f"airflow connections add {self.mlflow_conn_id} --conn-type agentic_mlops_mlflow "
                '--conn-host http://mlflow:5000 --conn-extra \'{"access": "promote"}\' '
                "(access: read, train or promote). "
                f"An absent connection means the local tracking URI only for {', '.join(map(repr, DEFAULT_ACCESS))}."
            )
        if conn is None:
            uri = default_tracking_uri()
            self.log.info("MLflow connection %r not found; using tracking URI %s", self.mlflow_conn_id, uri)
            return {
                "tracking_uri": uri,
                "registry_uri": uri,
                "ui_url": None,
                "login": None,
                "password": None,
                "access": DEFAULT_ACCESS.get(self.mlflow_conn_id, "read"),
            }
        # Airflow reads a URI's scheme (agentic-mlops-mlflow://...) and a JSON conn_type with dashes as underscores
        if (conn.conn_type or "").replace("-", "_") != self.conn_type:
            found = f"type {conn.conn_type!r}" if conn.conn_type else "no type"
            raise MlflowConnectionInvalid(
                f"connection {self.mlflow_conn_id!r} ({found}) is not an MLflow connection: give the id of one, or "
                f"make it one: airflow connections delete {self.mlflow_conn_id} && airflow connections add "
                f"{self.mlflow_conn_id} --conn-type {self.conn_type} --conn-host http://mlflow:5000"
            )
        extra = conn.extra_dejson or {}
        host = connection_url(conn, default_scheme="http")
        if not host:
            raise MlflowConnectionInvalid(
                f"MLflow connection {self.mlflow_conn_id!r} has no host; set it to the tracking URI, "
                "e.g. http://mlflow:5000"
            )
        return {
            "tracking_uri": host,
            "registry_uri": extra.get("registry_uri") or host,
            "ui_url": extra.get("ui_url"),
            "login": conn.login,
            "password": conn.password,
            "access": extra.get("access") or DEFAULT_ACCESS.get(self.mlflow_conn_id, "read"),
        }

    @property
    def tracking_uri(self) -> str:
        return self._settings["tracking_uri"]

    @property
    def registry_uri(self) -> str:
        """Where the registered models live: the connection's extra ``registry_uri``, else the tracking URI."""
        return self._settings["registry_uri"]

    @property
    def ui_url(self) -> str | None:
        """Base URL of the MLflow UI for links, when the tracking URI is an HTTP server."""
        ui = self._settings["ui_url"] or self.tracking_uri
        return ui.rstrip("/") if ui.startswith("http") else None

    def get_conn(self) -> MlflowClient:
        return self.client()

    @property
    def access(self) -> str:
        """What this hook may do: the connection's access, lowered by ``access=`` if given."""
        declared = self._settings["access"]
        if declared not in ACCESS_LEVELS:
            raise MlflowConnectionInvalid(
                f"MLflow connection {self.mlflow_conn_id!r}: extra access={declared!r} is not one of {ACCESS_LEVELS}"
            )
        if self.requested_access is None:
            return declared
        return min(declared, self.requested_access, key=ACCESS_LEVELS.index)

    def require_access(self, needed: str, what: str) -> None:
        """Fail before doing anything when this connection may not do ``what``."""
        if ACCESS_LEVELS.index(self.access) < ACCESS_LEVELS.index(needed):
            raise MlflowAccessError(
                f"{what} needs an MLflow connection with access {needed!r}, but {self.mlflow_conn_id!r} has "
                f"{self.access!r}. Use agentic_mlops_mlflow_{needed if needed != 'read' else 'registry'} or set "
                f'the connection\'s extra {{"access": "{needed}"}} (and give it matching MLflow permissions).'
            )

    def client(self) -> MlflowClient:
        """An ``mlflow.MlflowClient`` for this connection, refusing calls the connection's access does
        not allow. Each call sends the connection's credentials (never through ``os.environ``)."""
        from mlflow import MlflowClient

        from airflow_provider_agentic_mlops.log_hygiene import quiet_known_noise

        quiet_known_noise()  # skops' warning flood on model save, MLflow store migrations
        authorization = self._authorization_header()
        raw = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
        return _GuardedClient(raw, self.access, self.mlflow_conn_id, authorization)  # type: ignore[return-value]

    @contextlib.contextmanager
    def authenticated(self) -> Iterator[None]:
        """Send this connection's credentials with MLflow calls made inside the block (the fluent API:
        ``mlflow.pyfunc.load_model`` ...), in this thread only; ``os.environ`` stays untouched."""
        import mlflow  # noqa: F401 - its import installs the log handlers quiet_known_noise takes off

        from airflow_provider_agentic_mlops.log_hygiene import quiet_known_noise

        quiet_known_noise()  # loading a skops model scans modules too (the drift check's champion)
        token = _authorization.set(self._authorization_header())
        try:
            yield
        finally:
            _authorization.reset(token)

    def _authorization_header(self) -> str | None:
        header = authorization_header(self._settings["login"], self._settings["password"])
        if header is not None:
            _register_header_provider()
        return header

    def test_connection(self) -> tuple[bool, str]:
        """The connection form's Test button: one read from the registry with this connection. Against an MLflow
        server, one request with a short timeout and no retries (MLflow's retries keep the form waiting minutes
        on a server that is down), passed to that request alone: the API server runs Tests on a threadpool, so
        MLflow's process-wide ``MLFLOW_HTTP_REQUEST_*`` variables stay as they are for its other threads."""
        try:
            if self.registry_uri.startswith(("http://", "https://")):
                self._search_one_registered_model()
            else:  # a database or file store: no HTTP retries to bound
                self.client().search_registered_models(max_results=1)
        except Exception as err:
            return False, describe(err)
        return True, f"reached the MLflow registry at {self.registry_uri} (access {self.access})"

    def _search_one_registered_model(self) -> None:
        """``GET registered-models/search?max_results=1`` on the registry server, with the credentials and TLS
        settings MLflow's own registry client sends (MLflow's ``get_default_host_creds``, this connection's
        ``Authorization``), :data:`~airflow_provider_agentic_mlops.core.mlflow_http.CONNECTION_TEST_TIMEOUT_SECONDS`
        and no retries; raises MLflow's error for a failed request or an error answer."""
        from mlflow.utils import rest_utils
        from mlflow.utils.credentials import get_default_host_creds

        from airflow_provider_agentic_mlops.core.mlflow_http import CONNECTION_TEST_TIMEOUT_SECONDS

        endpoint = "/api/2.0/mlflow/registered-models/search"
        with self.authenticated():
            response = rest_utils.http_request(
                get_default_host_creds(self.registry_uri),
                endpoint,
                "GET",
                max_retries=0,
                backoff_factor=0,
                timeout=CONNECTION_TEST_TIMEOUT_SECONDS,
                raise_on_status=False,  # a 5xx answer is reported with its body, below
                params={"max_results": 1},
            )
        rest_utils.verify_rest_response(response, endpoint)

    # -- registry helpers ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _about(self, registered_model: str, needs: str = "READ", what: str = "reading it") -> Iterator[None]:
        """MLflow's errors inside the block say which connection and model they are about (MLflow names only the
        URL it called): re-raised as an ``MlflowException`` with the same error code, the original its cause. A
        refused connection (401, 403) is :class:`MlflowPermissionDenied`, naming the permission ``needs``.

        :param needs: MLflow's permission on the registered model that ``what`` needs (READ, EDIT, MANAGE).
        :param what: the call, for the error (``setting alias 'champion' to v3``).
        """
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import ErrorCode

        try:
            yield
        except MlflowException as err:
            refused = refused_reason(err)
            if refused:
                detail = " ".join(err.message.split())[:300]
                raise self._permission_denied(refused, detail, what, needs, registered_model) from err
            where = f"MLflow connection {self.mlflow_conn_id!r} ({self.tracking_uri}), model {registered_model!r}"
            raise MlflowException(f"{where}: {err.message}", error_code=ErrorCode.Value(err.error_code)) from err

    def _permission_denied(
        self, refused: str, detail: str, what: str, needs: str, registered_model: str
    ) -> MlflowPermissionDenied:
        """The error of MLflow refusing this connection (``refused``: ``PERMISSION_DENIED`` or ``UNAUTHENTICATED``)
        for ``what``, which needs MLflow's permission ``needs`` on ``registered_model``."""
        where = f"MLflow connection {self.mlflow_conn_id!r} ({self.tracking_uri}), model {registered_model!r}"
        permission = f"{needs} on the registered model {registered_model!r}"
        if needs == "READ" and what.startswith("loading"):  # its files are read through its run's experiment
            permission += " and READ on the experiment of its run"
        if needs != "READ" and self.access == "promote":
            permission += " (promoting and rolling back also delete aliases: MANAGE covers every step)"
        if refused == "UNAUTHENTICATED":
            fix = (
                "MLflow did not accept the connection's credentials: set its login and password (or the password "
                f"alone, a token) to a user MLflow knows, with {permission}"
            )
        else:
            fix = f"The connection's user needs {permission} in MLflow: grant that"
        return MlflowPermissionDenied(
            f"{where}: MLflow refused {what} ({refused}: {detail}). {fix}, then clear the task. Not retried: the "
            "same credentials are refused again"
        )

    def get_alias_version(self, registered_model: str, alias: str) -> str | None:
        """The version ``alias`` points to, or None when the alias (or the model) does not exist: what MLflow's
        stores (SQL and REST) raise for those, by error code. Any other error, a 404 of a gateway or a wrong base
        path (``ENDPOINT_NOT_FOUND``) too, is raised: it must not read as "no champion"."""
        from mlflow.exceptions import MlflowException

        with self._about(registered_model):
            try:
                return str(self.client().get_model_version_by_alias(registered_model, alias).version)
            except MlflowException as err:
                if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    return None
                raise

    def champion_status(self, uri: str, error: str) -> tuple[str, str]:
        """``("absent" | "unavailable", why)`` of a champion at ``uri`` that did not load with ``error``
        (``core.promotion.champion_status``), from what the registry shows; a URI that is not
        ``models:/<name>@<alias>`` names an artifact that must exist, and a registry that cannot tell:
        unavailable."""
        import re

        import mlflow

        from airflow_provider_agentic_mlops.core.promotion import champion_status

        match = re.fullmatch(r"models:/([^/@']+)@([^/@]+)", uri)
        if match is None:
            return "unavailable", error
        name, alias = match.groups()
        try:
            with self.authenticated():
                client = mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
                try:
                    aliases = set(getattr(client.get_registered_model(name), "aliases", None) or {})
                except mlflow.exceptions.MlflowException as err:
                    if err.error_code != "RESOURCE_DOES_NOT_EXIST":
                        raise
                    return champion_status(name, alias, error, registered=False, aliases=(), has_versions=lambda: False)
                versions = lambda: bool(client.search_model_versions(f"name = '{name}'", max_results=1))  # noqa: E731
                return champion_status(name, alias, error, registered=True, aliases=aliases, has_versions=versions)
        except Exception as err:  # noqa: BLE001 - a registry that cannot tell: the champion is unavailable
            return "unavailable", f"{error}; the registry could not say more ({type(err).__name__})"

    def registered_model_exists(self, registered_model: str) -> bool:
        """Whether the registry has ``registered_model`` (``RESOURCE_DOES_NOT_EXIST`` is no; any other error is
        raised): what tells "no champion yet" from a name that is wrong."""
        from mlflow.exceptions import MlflowException

        with self._about(registered_model):
            try:
                self.client().get_registered_model(registered_model)
            except MlflowException as err:
                if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return False
                raise
        return True

    def set_alias(self, registered_model: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (``champion``/``previous_champion`` need a promote connection)."""
        with self._about(registered_model, "EDIT", f"setting alias {alias!r} to v{version}"):
            self.client().set_registered_model_alias(registered_model, alias, str(version))

    def delete_alias(self, registered_model: str, alias: str) -> None:
        with self._about(registered_model, "MANAGE", f"deleting alias {alias!r}"):
            self.client().delete_registered_model_alias(registered_model, alias)

    def set_version_tags(self, registered_model: str, version: str, tags: dict[str, Any]) -> None:
        client = self.client()
        with self._about(registered_model, "EDIT", f"setting tags on v{version}"):
            for key, value in tags.items():
                client.set_model_version_tag(registered_model, str(version), key, str(value))

    def version_run_id(self, registered_model: str, version: str) -> str | None:
        """The run ``version`` of ``registered_model`` was registered from ("" when it has none), None when the
        version (or the model) does not exist."""
        from mlflow.exceptions import MlflowException

        with self._about(registered_model):
            try:
                return self.client().get_model_version(registered_model, str(version)).run_id or ""
            except MlflowException as err:
                if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    return None
                raise

    def parent_run_id(self, run_id: str) -> str | None:
        """The run ``run_id`` is nested in (its ``mlflow.parentRunId`` tag); None for a top-level run, or a run
        this connection cannot find."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client().get_run(run_id)
        except MlflowException as err:
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise
        return run.data.tags.get("mlflow.parentRunId") or None

    def version_numbers(self, registered_model: str) -> list[str]:
        """The numbers of the versions of ``registered_model`` (none when it does not exist)."""
        quoted = str(registered_model).replace("'", "\\'")
        with self._about(registered_model):
            return [str(v.version) for v in self.client().search_model_versions(filter_string=f"name = '{quoted}'")]

    def search_versions_by_tag(self, registered_model: str, key: str, value: str) -> list[Any]:
        """Versions of ``registered_model`` whose tag ``key`` equals ``value``, newest first."""
        quoted = str(value).replace("'", "\\'")
        with self._about(registered_model):
            found = self.client().search_model_versions(
                filter_string=f"name = '{registered_model}' and tags.`{key}` = '{quoted}'"
            )
        return sorted(found, key=lambda v: int(v.version), reverse=True)

    def monitoring_run(self, model_name: str) -> tuple[str, str]:
        """``(experiment id, run id)`` of the model's :data:`MONITORING_RUN_NAME` run in its experiment
        (:func:`model_experiment_id`), the oldest of that name; both are created when absent (``train`` access)."""
        client = self.client()
        experiment_id = model_experiment_id(client, model_name, self.tracking_uri)
        runs = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`mlflow.runName` = '{MONITORING_RUN_NAME}'",
            max_results=1,
            order_by=["attributes.start_time ASC"],
        )
        if runs:
            return experiment_id, runs[0].info.run_id
        return experiment_id, client.create_run(experiment_id, run_name=MONITORING_RUN_NAME).info.run_id

    def log_monitoring_report(
        self, model_name: str, local_dir: Path | str, artifact_path: str, metrics: Mapping[str, float]
    ) -> tuple[str, str]:
        """Log the files of ``local_dir`` under ``artifact_path`` of the model's monitoring run
        (:meth:`monitoring_run`) and ``metrics`` to that run; returns its ``(experiment id, run id)``.

        :param model_name: the provider's model name.
        :param local_dir: the report's files.
        :param artifact_path: where in the run, e.g. ``drift/<folder>``.
        :param metrics: metrics to log to the run (the drift share ...).
        """
        experiment_id, run_id = self.monitoring_run(model_name)
        client = self.client()
        client.log_artifacts(run_id, str(local_dir), artifact_path=artifact_path)
        for key, value in metrics.items():
            client.log_metric(run_id, key, float(value))
        return experiment_id, run_id

    def log_text_artifact(self, run_id: str, text: str, artifact_file: str) -> str:
        """Write ``text`` as an artifact of the run; returns its ``runs:/`` URI."""
        self.client().log_text(run_id, text, artifact_file)
        return f"runs:/{run_id}/{artifact_file}"

    def read_text_artifact(self, run_id: str, artifact_file: str) -> str:
        """The text of an artifact of the run (``log_text_artifact``'s counterpart), read with this connection."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            local = self.client().download_artifacts(run_id, artifact_file, dst_path=tmp)
            return Path(local).read_text(encoding="utf-8")

    def predict_version(
        self,
        registered_model: str,
        version: str,
        frame: pd.DataFrame,
        *,
        columns: Callable[[list[str] | None], list[str]],
        classification: bool,
    ) -> tuple[Any, Any, Any]:
        """Load ``version`` of ``registered_model`` with this connection's credentials and predict ``frame``.

        :param columns: picks the model's input columns of ``frame``, given the input names of the model's
            signature, else (a scikit-learn model fitted on a frame) its ``feature_names_in_``; None when neither.
        :param classification: also return class probabilities, when the model gives them.
        :return: ``(output, probabilities or None, their classes or None)``: a scikit-learn model's labels,
            ``predict_proba`` and ``classes_``; a pyfunc model's output as it returned it (labels, scores or
            a column per class: ``core.metrics.read_predictions`` tells them apart, given the labels).
        :raises ModelLoadError: the version could not be loaded (e.g. its files are gone from the artifact
            store). MLflow or its artifact store unreachable or busy is :class:`MlflowUnavailable` instead (the
            task is retried), the connection refused (401, 403) :class:`MlflowPermissionDenied` (it fails); errors
            of ``columns`` and of the model's predict are raised as they are.
        """
        import mlflow

        with self.authenticated():
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.registry_uri)
            uri = f"models:/{registered_model}/{version}"
            try:
                info = mlflow.models.get_model_info(uri)
                sklearn = "sklearn" in info.flavors
                model = mlflow.sklearn.load_model(uri) if sklearn else mlflow.pyfunc.load_model(uri)
            except Exception as err:
                detail = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"  # MLflow's spans lines
                refused = refused_reason(err)
                if refused:  # the connection's fault, not the model's: no retry helps
                    raise self._permission_denied(refused, detail, f"loading {uri}", "READ", registered_model) from err
                fault = unavailable_fault(err)
                if fault:  # not the model's fault: the task fails and Airflow retries it
                    raise MlflowUnavailable(
                        f"MLflow connection {self.mlflow_conn_id!r} ({self.tracking_uri}): {uri} could not be "
                        f"reached ({fault.reason}; {detail}); the task is retried"
                    ) from err
                raise ModelLoadError(
                    f"MLflow connection {self.mlflow_conn_id!r} ({self.tracking_uri}): {uri} could not be loaded "
                    f"({detail})",
                    registered_model=registered_model,
                    version=str(version),
                ) from err
            inputs = info.signature.inputs.input_names() if info.signature is not None else None
            if not inputs and sklearn:  # no signature: the names it was fitted on, as the drift check reads them
                fitted = getattr(model, "feature_names_in_", None)
                inputs = list(fitted) if fitted is not None and len(fitted) else None
            x = frame[columns([str(c) for c in inputs] if inputs else None)]
            if sklearn:
                if classification and hasattr(model, "predict_proba"):
                    return model.predict(x), model.predict_proba(x), getattr(model, "classes_", None)
                return model.predict(x), None, None
            return model.predict(x), None, None

    def model_version_url(self, registered_model: str, version: str) -> str | None:
        """The version's page in the MLflow UI, when the UI is an HTTP server."""
        from urllib.parse import quote

        if not self.ui_url:
            return None
        return f"{self.ui_url}/#/models/{quote(registered_model, safe='')}/versions/{version}"

    def run_artifact_url(self, experiment_id: str, run_id: str, path: str = "") -> str | None:
        """The MLflow UI page of artifact ``path`` of a run (its artifacts tab without one), when the UI is an HTTP
        server: ``<ui>/#/experiments/<experiment>/runs/<run>/artifacts/<path>``, the form
        :func:`~..core.model_history.artifact_location` reads back for the report page.

        :param experiment_id: the run's experiment.
        :param run_id: the run.
        :param path: the artifact's path in the run.
        """
        if not self.ui_url:
            return None
        url = f"{self.ui_url}/#/experiments/{experiment_id}/runs/{run_id}/artifacts"
        return f"{url}/{path.strip('/')}" if path.strip("/") else url
