"""The state store as an Airflow hook: a connection id -> a migrated :class:`StateStore`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from airflow.sdk import BaseHook

from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError, describe, mask_url_secrets
from airflow_provider_agentic_mlops.hooks.connection import get_connection_or_none
from airflow_provider_agentic_mlops.hooks.connection_form import with_connection_form
from airflow_provider_agentic_mlops.settings import (
    DEFAULT_STATE_CONN_ID,
    configured_migration_lock_timeout,
    configured_state_conn_id,
)
from airflow_provider_agentic_mlops.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.state import StateStore

_stores: dict[str, StateStore] = {}


class StateConnectionNotFound(AgenticMlopsError, ValueError, AirflowFailException):
    """A state-store connection other than the default one does not exist (a typo, or not created yet). The task
    fails without retries: a retry finds the same connections."""


class StateStoreUnavailable(AgenticMlopsError, RuntimeError):
    """The state store could not be opened (database down or unreachable, refused login, missing driver);
    the message names the store and says what to check, the cause is the database's own error."""


class StateConnectionInvalid(AgenticMlopsError, ValueError):
    """A state-store connection gives no store URL (a connection of another type); the message says how to set it."""


def shown_url(url: str) -> str:
    """``url`` as the provider prints it: every password masked (``user:password@`` and the query's
    ``password``/``sslpassword``), a relative SQLite path resolved against the working directory (the file
    this process opens); a URL that does not parse is shown masked as it is."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return mask_url_secrets(url)
    relative = relative_sqlite_path(url)
    if relative is not None:
        parsed = parsed.set(database=str(Path(relative).resolve()))
    return mask_url_secrets(parsed.render_as_string(hide_password=True))


def relative_sqlite_path(url: str) -> str | None:
    """The path of a SQLite ``url`` when it is relative (``sqlite:///rel.db``), else None. Such a path is read
    against each process's working directory, so processes started in different folders open different stores."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if not parsed.drivername.startswith("sqlite") or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return None if Path(database).expanduser().is_absolute() else database


def store_unavailable(conn_id: str, url: str, error: BaseException) -> StateStoreUnavailable:
    """:class:`StateStoreUnavailable` for the store of ``conn_id`` at ``url`` that ``error`` kept closed
    (database down, missing, a URL that does not parse, an unknown dialect, a driver not installed), naming both."""
    from sqlalchemy.exc import NoSuchModuleError

    where = f"connection {conn_id!r}, {shown_url(url)}"
    if isinstance(error, ImportError):  # the URL's DBAPI module (psycopg for a driverless postgresql:// ...)
        module = (error.name or "").split(".")[0]
        install = _DRIVER_INSTALLS.get(module, module)
        return StateStoreUnavailable(
            f"the state store ({where}) needs a database driver that is not installed: {describe(error)}. "
            f"Install it{f' (pip install {install})' if install else ''}, or name a driver that is installed in "
            "the connection's URL (PostgreSQL: postgresql+psycopg2://user:pass@host:5432/db for psycopg2, "
            "postgresql+psycopg://... for psycopg 3)"
        )
    if isinstance(error, NoSuchModuleError):  # a dialect or driver name SQLAlchemy has no plugin for
        dialect = _unknown_dialect(url)
        if dialect is not None:
            return StateStoreUnavailable(
                f"the state store ({where}) is unavailable: {describe(error)}. The URL's database {dialect!r} is "
                f"not one SQLAlchemy knows: check its spelling; the state store runs on {_SUPPORTED_URLS}"
            )
        return StateStoreUnavailable(
            f"the state store ({where}) is unavailable: {describe(error)}. The URL names a driver SQLAlchemy does "
            f"not know: check its spelling and that the driver is installed; the state store runs on {_SUPPORTED_URLS}"
        )
    return StateStoreUnavailable(store_unavailable_message(where, error))


#: What to pip-install for a DBAPI module a state-store URL needs: psycopg2 from the provider's ``[postgres]`` extra
#: (psycopg2-binary; ``pip install psycopg2`` builds from source), psycopg (3) with its binary build.
_DRIVER_INSTALLS = {"psycopg2": "'airflow-provider-agentic-mlops[postgres]'", "psycopg": "'psycopg[binary]'"}
_SUPPORTED_URLS = (
    "SQLite (sqlite:////absolute/path.db) or PostgreSQL (postgresql+psycopg2://user:pass@host:5432/db, "
    "its driver from pip install 'airflow-provider-agentic-mlops[postgres]')"
)


def _unknown_dialect(url: str) -> str | None:
    """The database name of ``url`` (``postgress`` in ``postgress://...``) when SQLAlchemy has no dialect for it,
    else None (the dialect loads: it is the driver that is unknown)."""
    from sqlalchemy.dialects import registry
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        return None
    try:
        registry.load(backend)
    except NoSuchModuleError:
        return backend
    return None


def store_unavailable_message(where: str, error: BaseException) -> str:
    """What an error says of a state store that cannot be opened: which store (``where``), the error's class and
    first line (any URL's password masked), and what to check. Tasks, the CLI and the plugin's pages all say it."""
    return (
        f"the state store ({where}) is unavailable: {describe(error)}. Check the connection and that its database is up"
    )


def resolve_state_url(conn_id: str | None) -> str:
    """URL of the state store behind ``conn_id`` (None: :func:`configured_state_conn_id`).

    A connection gives the URL in its ``url`` extra, or is a postgres connection whose libpq
    extras (``sslmode``, ``sslrootcert``, ``connect_timeout``, ...) become the URL's query. An
    ``agentic_mlops_state`` connection with an empty ``url`` means the SQLite default, as its form says.

    Only the default connection (``agentic_mlops_state_default``) may be absent: it then means SQLite under
    $AIRFLOW_HOME. Any other absent id, the one ``[agentic_mlops] state_conn_id`` names included, raises
    :class:`StateConnectionNotFound`: a typo falling back to a local file would give each worker a store
    of its own (no shared one-retrain-per-model, approvals nobody sees). A lookup that failed (Airflow's
    metadata DB or the Execution API unreachable) raises
    :class:`~airflow_provider_agentic_mlops.hooks.connection.ConnectionLookupFailed`: it is not an absent
    connection, for the default id neither.
    """
    conn_id = conn_id or configured_state_conn_id()
    conn = get_connection_or_none(conn_id)
    if conn is None:
        if conn_id != DEFAULT_STATE_CONN_ID:
            named_by = (
                "[agentic_mlops] state_conn_id (env AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID)"
                if conn_id == configured_state_conn_id()
                else "models.yaml's state_conn_id or --state-conn-id"
            )
            raise StateConnectionNotFound(
                f"state store connection {conn_id!r} does not exist. Fix the id ({named_by}), or create the "
                f"connection: airflow connections add {conn_id} --conn-type agentic_mlops_state --conn-extra "
                '\'{"url": "postgresql+psycopg2://user:pass@host:5432/db"}\'. An absent connection means '
                f"SQLite in $AIRFLOW_HOME only for {DEFAULT_STATE_CONN_ID!r}."
            )
        return _default_url()
    extra = conn.extra_dejson or {}
    url = str(extra.get("url") or "").strip()
    if url:
        return url
    if conn.conn_type in ("postgres", "postgresql"):
        return postgres_url(conn.login, conn.password, conn.host, conn.port, conn.schema, extra)
    if conn.host and "://" in conn.host:
        return conn.host
    if conn.conn_type != StateStoreHook.conn_type:
        raise StateConnectionInvalid(
            f"connection {conn_id!r} (type {conn.conn_type!r}) has no state-store URL: set its extra "
            '{"url": "postgresql+psycopg2://user:pass@host:5432/db"} or make it a postgres connection'
        )
    return _default_url()  # an agentic_mlops_state connection with an empty url, as its form says


def _default_url() -> str:
    from airflow_provider_agentic_mlops.core.state import default_sqlite_url

    return default_sqlite_url()


#: libpq connection parameters a postgres connection's extras may carry into the state-store URL
#: (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS). Other extras
#: (the Postgres provider's ``cursor``, ``iam``, ``aws_conn_id``...) are not libpq's and stay out.
LIBPQ_PARAMS = frozenset(
    {
        "application_name",
        "channel_binding",
        "client_encoding",
        "connect_timeout",
        "gssencmode",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "krbsrvname",
        "load_balance_hosts",
        "options",
        "passfile",
        "require_auth",
        "service",
        "ssl_max_protocol_version",
        "ssl_min_protocol_version",
        "sslcert",
        "sslcompression",
        "sslcrl",
        "sslcrldir",
        "sslkey",
        "sslmode",
        "sslnegotiation",
        "sslpassword",
        "sslrootcert",
        "sslsni",
        "target_session_attrs",
        "tcp_user_timeout",
    }
)


def postgres_url(
    login: str | None, password: str | None, host: str | None, port: int | None, database: str | None, extra: dict
) -> str:
    """SQLAlchemy URL (psycopg2) of a postgres connection, its libpq extras kept as the query string.

    :param extra: the connection's extras; keys in :data:`LIBPQ_PARAMS` are kept, others dropped.
    """
    from sqlalchemy.engine import URL

    query = {key: str(value) for key, value in sorted(extra.items()) if key in LIBPQ_PARAMS and value is not None}
    from airflow_provider_agentic_mlops.core.state import POSTGRES_DRIVER

    url = URL.create(
        POSTGRES_DRIVER,
        username=login or None,
        password=password or None,
        host=host or None,
        port=int(port) if port else None,
        database=database or None,
        query=query,
    )
    return url.render_as_string(hide_password=False)


@with_connection_form
class StateStoreHook(BaseHook):
    """Gives operators, sensors, the CLI and the plugin the provider's state store.

    :param state_conn_id: connection of the store (type ``agentic_mlops_state`` or ``postgres``);
        None: :func:`configured_state_conn_id`. When the default one does not exist the store is SQLite
        at ``$AIRFLOW_HOME/agentic_mlops.db``; any other absent id is an error (:func:`resolve_state_url`).
    """

    conn_name_attr = "state_conn_id"
    default_conn_name = DEFAULT_STATE_CONN_ID
    conn_type = "agentic_mlops_state"
    hook_name = "Agentic MLOps state store"

    def __init__(self, state_conn_id: str | None = None) -> None:
        super().__init__()
        self.state_conn_id = state_conn_id or configured_state_conn_id()

    def get_conn(self) -> StateStore:
        return self.get_store()

    def test_connection(self) -> tuple[bool, str]:
        """The connection form's Test button: reach the database (no migration, no write)."""
        from sqlalchemy import create_engine, inspect, text

        from airflow_provider_agentic_mlops.core.migrations import VERSION_TABLE
        from airflow_provider_agentic_mlops.core.state import with_postgres_driver

        try:
            url = resolve_state_url(self.state_conn_id)
            engine = create_engine(with_postgres_driver(url))
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                    tables = set(inspect(connection).get_table_names())
            finally:
                engine.dispose()
        except Exception as err:
            return False, describe(err)
        shown = shown_url(url)
        if VERSION_TABLE not in tables:
            return True, f"reached {shown}; the provider's tables are not created yet (first use creates them)"
        return True, f"reached {shown}"

    def get_store(self) -> StateStore:
        """The store, migrated on first use and shared by everything in this process."""
        from airflow_provider_agentic_mlops.core.state import StateStore
        from airflow_provider_agentic_mlops.log_hygiene import quiet_known_noise

        quiet_known_noise()  # no migration chatter in task logs

        url = resolve_state_url(self.state_conn_id)
        store = _stores.get(url)
        if store is None:
            from sqlalchemy.exc import SQLAlchemyError

            try:
                # connects: it migrates the schema on first use
                store = StateStore(url, migration_lock_timeout=configured_migration_lock_timeout())
            except (SQLAlchemyError, ImportError) as err:  # ImportError: the URL's DBAPI module is not installed
                raise store_unavailable(self.state_conn_id, url, err) from err
            _stores[url] = store
        return store
