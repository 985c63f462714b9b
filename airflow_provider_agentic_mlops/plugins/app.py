"""The provider's FastAPI app, mounted by Airflow's API server at ``/agentic-mlops``.

Routers live in their own modules and are listed in :data:`ROUTERS`; to add one (e.g. ``/alerts``),
write ``plugins/<name>_routes.py`` with a ``router`` and add it there. Shared settings (the state
store, Slack clients, the signing secret) hang off ``app.state.agentic_mlops`` as
:class:`AppSettings`, built lazily so that importing this module stays cheap.

Authentication: Airflow adds none to plugin apps. The Slack route is authenticated by Slack's
request signature; the approvals page and its JSON API by Airflow's own auth (see
``airflow_auth.py``).

Every response carries :class:`SecurityHeaders`: a Content-Security-Policy (scripts only from this
origin or with the response's nonce, ``request.state.csp_nonce``), ``X-Content-Type-Options:
nosniff``, and a frame policy (``frame-ancestors 'self'`` / ``X-Frame-Options: SAMEORIGIN``) that
lets Airflow's UI embed the pages as external views and nobody else.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import FastAPI, Request

from airflow_provider_agentic_mlops.settings import configured_signing_secret

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.approval_stores import ApprovalStores, DeclaredStores
    from airflow_provider_agentic_mlops.approvals import UsergroupMembers
    from airflow_provider_agentic_mlops.core.state import StateStore

log = logging.getLogger(__name__)

#: Threads for the Slack clicks' store work (anyio's default for ``to_thread`` is 40; on SQLite the
#: writes are serialised anyway; on PostgreSQL each thread holds one pooled connection at a time, and
#: SQLAlchemy's default pool has 5 + 10).
CLICK_THREADS = 8
#: Threads for the pages' store and MLflow work (:func:`in_plugin_thread`), apart from anyio's default limiter,
#: which Airflow's own sync routes run on: a store or an MLflow server that stops answering holds these, never
#: Airflow's. About SQLAlchemy's default pool (5 + 10 connections).
PAGE_THREADS = 16
_T = TypeVar("_T")

ROUTERS: list[str] = [
    "airflow_provider_agentic_mlops.plugins.slack_routes",
    "airflow_provider_agentic_mlops.plugins.approvals_page",
    "airflow_provider_agentic_mlops.plugins.alerts",
    "airflow_provider_agentic_mlops.plugins.overview",
    "airflow_provider_agentic_mlops.plugins.reports",
    "airflow_provider_agentic_mlops.plugins.pages",
]


def configured_store() -> StateStore:
    """The store of ``[agentic_mlops] state_conn_id``, the one the DAGs and the CLI use by default."""
    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    return StateStoreHook().get_store()


class StoreUnavailable(RuntimeError):
    """The state store could not be opened (bad connection, missing driver, database down).

    :param where: which store, e.g. ``connection 'agentic_mlops_state'``.
    :param error: what opening it raised.
    """

    def __init__(self, where: str, error: BaseException) -> None:
        super().__init__(where)
        self.where = where
        self.error = error


def _store_open_errors() -> tuple[type[BaseException], ...]:
    """What opening a state store raises when it cannot be opened: its URL, its driver, its database, or
    the connection lookup itself (Airflow's metadata DB down)."""
    from sqlalchemy.exc import SQLAlchemyError

    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed
    from airflow_provider_agentic_mlops.hooks.state import StateStoreUnavailable

    return (ValueError, ImportError, SQLAlchemyError, ConnectionLookupFailed, StateStoreUnavailable)


def store_error_detail(where: str, error: BaseException) -> str:
    """What a page says when the state store fails: which store, the error's class and first line
    (any URL's password masked), and where to look."""
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed
    from airflow_provider_agentic_mlops.hooks.state import StateStoreUnavailable, store_unavailable_message

    if isinstance(error, ConnectionLookupFailed):  # its message names what failed and what to check
        return f"the state store ({where}) is unavailable: {error}"
    if isinstance(error, StateStoreUnavailable):  # the hook's message: the store, its masked URL, what to check
        return f"{error}; the API server log has the details."
    return f"{store_unavailable_message(where, error)}; the API server log has the details."


@dataclass
class AppSettings:
    """What the routes share. Every field is resolved on first use, not at import.

    :param signing_secret: the Slack signing secret, or a callable returning it.
    :param store: the state store, or a callable returning it.
    :param slack_client: one WebClient for every request (tests, the benchmark); default: each
        request's own Slack connection.
    :param declared_stores: the models file's state stores a Slack button may name besides ``store``
        (default: the configured models file's, see :mod:`~airflow_provider_agentic_mlops.approval_stores`).
    :param task_state: reads the Airflow state of a request's sensor task (default: Airflow's metadata
        database), see :func:`~airflow_provider_agentic_mlops.approvals.decide`.
    """

    signing_secret: str | Callable[[], str] = configured_signing_secret
    store: StateStore | Callable[[], StateStore] = configured_store
    slack_client: Any = None
    members: UsergroupMembers | None = None
    declared_stores: DeclaredStores | None = None
    task_state: Callable[[str, str, str, int], str | None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _made: dict[str, Any] = field(default_factory=dict)
    _failed: dict[str, tuple[int, BaseException]] = field(default_factory=dict)
    _sqlite_writes: threading.Lock = field(default_factory=threading.Lock)
    _page_limiter: Any = None

    def _once(self, key: str, make: Callable[[], _T]) -> _T:
        """What ``make()`` returned the first time ``key`` was asked for: made under ``key``'s own lock, so once
        per app, and read without it afterwards (opening a store that hangs delays only what needs the store). A
        ``make`` that raises is tried again on the next call; the calls that waited for that attempt get its
        error instead of trying again one after another (each as long as a connect timeout)."""
        try:
            return self._made[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        failures_seen = self._failed.get(key, (0, None))[0]
        with lock:
            if key not in self._made:
                failures, error = self._failed.get(key, (0, None))
                if failures != failures_seen and error is not None:
                    raise error  # the attempt this call waited for failed
                try:
                    self._made[key] = make()
                except BaseException as err:
                    self._failed[key] = (failures + 1, err)
                    raise
                self._failed.pop(key, None)  # made: an earlier failure (and its traceback's frames) is not kept
            return self._made[key]  # type: ignore[no-any-return]

    def page_limiter(self) -> Any:
        """The capacity limiter of :func:`in_plugin_thread` (:data:`PAGE_THREADS`); made in the event loop."""
        if self._page_limiter is None:
            import anyio

            self._page_limiter = anyio.CapacityLimiter(PAGE_THREADS)
        return self._page_limiter

    def _get(self, name: str) -> Any:
        value = getattr(self, name)
        return self._once(name, value) if callable(value) else value

    def get_signing_secret(self) -> str:
        return self._get("signing_secret")

    def get_store(self) -> StateStore:
        """The state store, opened on first use; :class:`StoreUnavailable` when it cannot be opened
        (tried again on the next request). A connection lookup that failed (Airflow's metadata DB down)
        is such a failure, never an absent connection: no fallback store is chosen, nor kept, then."""
        try:
            return self._get("store")
        except _store_open_errors() as err:
            raise StoreUnavailable(self.store_name(), err) from err

    def store_name(self) -> str:
        """The store as error messages name it: its Airflow connection when the plugin opens it."""
        if self.store is configured_store:
            from airflow_provider_agentic_mlops.settings import configured_state_conn_id

            return f"connection {configured_state_conn_id()!r}"  # the one configured_store opens
        return "given to the app"

    def serialized(self, store: StateStore | None = None) -> Any:
        """A lock around store writes on SQLite: one writer at a time in this process, handed over at
        once, instead of SQLite's busy handler sleeping in steps of up to 100 ms. PostgreSQL: no lock.

        :param store: the store written to (default: :meth:`get_store`'s)."""
        import contextlib

        if (store or self.get_store()).dialect != "sqlite":
            return contextlib.nullcontext()
        return self._sqlite_writes

    def run_later(self, fn: Callable[[], None]) -> None:
        """Run Slack Web API calls on the app's few answer threads, off the request path."""
        self._once("answers", lambda: _threads(4, "agentic-mlops-slack")).submit(fn)

    def click_executor(self) -> Any:
        """The threads the Slack clicks' store work runs on: a plain executor handed to the event loop's
        ``run_in_executor`` costs a fraction of ``anyio.to_thread`` (capacity limiter, cancel scope and
        per-call bookkeeping) on a path that takes one hop per click."""
        return self._once("clicks", lambda: _threads(CLICK_THREADS, "agentic-mlops-click"))

    def get_facts(self, store_key: str = "") -> Any:
        """The cache of requests' unchanging parts, one per store (request ids are numbered per store).

        :param store_key: the store's key (:meth:`click_store`); ``""``: the deployment's."""
        return self._once(f"facts:{store_key}", _request_facts)

    def get_stores(self) -> ApprovalStores:
        """The stores a Slack button may name: :meth:`get_store`'s and the models file's."""
        from airflow_provider_agentic_mlops.approval_stores import ApprovalStores

        return self._once("stores", lambda: ApprovalStores(self.get_store, declared=self.declared_stores))

    def click_store(self, conn_id: str | None) -> tuple[str, StateStore]:
        """``(key, store)`` of the store a button names (None or the deployment's id: :meth:`get_store`'s,
        key ``""``); :class:`~airflow_provider_agentic_mlops.approval_stores.UnservedStore` for a store
        that is neither the deployment's nor one the models file names; :class:`StoreUnavailable` when it
        cannot be opened."""
        if conn_id is None:
            return "", self.get_store()
        stores = self.get_stores()
        if conn_id == stores.default_conn_id:
            return "", self.get_store()
        try:
            return conn_id, stores.get(conn_id)
        except _store_open_errors() as err:
            raise StoreUnavailable(f"connection {conn_id!r}", err) from err

    def get_emails(self) -> Any:
        """The process's cache of Slack users' e-mail addresses (identity matching)."""
        from airflow_provider_agentic_mlops.approvals import SlackEmails

        return self._once("emails", SlackEmails)

    def get_members(self) -> UsergroupMembers:
        if self.members is None:
            from airflow_provider_agentic_mlops.approvals import UsergroupMembers

            self.members = UsergroupMembers()
        return self.members


def _threads(workers: int, name: str) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)


def _request_facts() -> Any:
    from airflow_provider_agentic_mlops.approvals import RequestFacts

    return RequestFacts()


class SecurityHeaders:
    """ASGI middleware adding the security headers to every response that does not set them itself,
    with a fresh CSP nonce per request in ``scope["state"]["csp_nonce"]`` (``request.state.csp_nonce``
    in a route).

    :param app: the ASGI app to wrap.
    """

    POLICY = (
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'self'"
    )

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        import secrets

        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        headers = [
            (b"content-security-policy", self.POLICY.format(nonce=nonce).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"SAMEORIGIN"),
            (b"referrer-policy", b"same-origin"),
        ]

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                # a route's own header wins (e.g. the sandbox policy of a served report)
                own = {name.lower() for name, _ in message.get("headers", [])}
                added = [(name, value) for name, value in headers if name not in own]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: AppSettings | None = None) -> FastAPI:
    """Build the plugin app with every router in :data:`ROUTERS`."""
    import importlib

    from fastapi import Depends

    app = FastAPI(
        title="Agentic MLOps",
        description="Slack interactions and the approvals page of the agentic MLOps provider.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(refuse_control_characters)],
    )
    app.state.agentic_mlops = settings or AppSettings()
    for module_name in ROUTERS:
        app.include_router(importlib.import_module(module_name).router)
    from fastapi.exceptions import RequestValidationError
    from sqlalchemy.exc import SQLAlchemyError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from airflow_provider_agentic_mlops.plugins.pages import http_error, validation_error

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StoreUnavailable, store_unavailable)
    app.add_exception_handler(SQLAlchemyError, store_unavailable)
    app.add_middleware(SecurityHeaders)
    return app


#: C0 control characters and DEL; NUL among them, which PostgreSQL refuses in a query's text (psycopg2 raises
#: ValueError: a 500). No model name, status, id or artifact URI holds one.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


async def refuse_control_characters(request: Request) -> None:
    """Every route's first check: a path part (a model name) or a query value (``status``, an artifact's ``uri``)
    with a control character names nothing, so it is answered 404 (path) or 422 (query) before the store is asked.

    :raises HTTPException: naming the parameter."""
    from fastapi import HTTPException

    for name, value in request.path_params.items():
        if isinstance(value, str) and _CONTROL_CHARACTER.search(value):
            raise HTTPException(404, f"no {name} {value[:80]!r} exists: it contains a control character")
    for name, value in request.query_params.multi_items():
        if _CONTROL_CHARACTER.search(name) or _CONTROL_CHARACTER.search(value):
            raise HTTPException(
                422, f"query parameter {name[:40]!r}={value[:80]!r} contains a control character; remove it"
            )


async def store_unavailable(request: Any, exc: Exception) -> Any:
    """503 naming the store and the error for a store that cannot be opened or queried (not a bare 500); a 500
    saying so for a value the store refuses (``DataError``: it is up); a page for a browser
    (:func:`.pages.error_response`)."""
    from sqlalchemy.exc import DataError

    from airflow_provider_agentic_mlops.plugins.pages import error_response

    if isinstance(exc, StoreUnavailable):
        where, error = exc.where, exc.error
    else:
        where, error = settings_of(request.app).store_name(), exc
    if isinstance(error, DataError):  # the store is up: asking again fails the same way
        from airflow_provider_agentic_mlops.core.errors import describe

        detail = (
            f"the state store ({where}) refused a value it was given or holds ({describe(error)}); it is up, and "
            "the same request fails the same way again. The API server log has the statement"
        )
        log.error("%s %s: %s", request.method, request.url.path, detail, exc_info=error)
        return error_response(request, 500, detail)
    detail = store_error_detail(where, error)
    log.warning("%s %s: %s", request.method, request.url.path, detail, exc_info=error)
    return error_response(request, 503, detail)


async def read_limited(request: Any, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is known to exceed ``limit`` bytes (declared in
    ``Content-Length`` or read): a route answers 413 without holding more than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 12 or int(declared) > limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def settings_of(app: Any) -> AppSettings:
    return app.state.agentic_mlops


async def in_plugin_thread(app: Any, fn: Callable[[], _T], *, abandon_on_cancel: bool = False) -> _T:
    """``fn()`` (store or MLflow work of a route) in a worker thread of the plugin's own limiter
    (:meth:`AppSettings.page_limiter`), not anyio's default one that Airflow's sync routes share: a state store
    or an MLflow server that stops answering cannot starve Airflow's API. Nothing that blocks (opening the store
    included) runs on the event loop itself.

    :param abandon_on_cancel: let a deadline (``anyio.fail_after``) answer while ``fn`` still runs."""
    import anyio

    return await anyio.to_thread.run_sync(
        fn, limiter=settings_of(app).page_limiter(), abandon_on_cancel=abandon_on_cancel
    )
