"""is_transient: which state-store errors are an outage to wait out (reads retry them, the approval trigger polls
through them, closing a job retries them) and which are a fault to report at once.

The PostgreSQL cases are the errors psycopg2 really raises against a local server; libpq reports a refused
connection without a SQLSTATE, so they are told apart by where they were raised and by libpq's message."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from airflow_provider_agentic_mlops.core.state import StateStore, is_transient, utcnow
from tests.conftest import _pg_admin


def _raised(call: object) -> BaseException:
    try:
        call()  # type: ignore[operator]
    except Exception as err:
        return err
    raise AssertionError("expected an error")


def _connect_error(url: str, connect_args: dict[str, object] | None = None) -> BaseException:
    """What opening a pooled connection to ``url`` raises (as a store's first read after the pool emptied);
    ``connect_args`` default to a 5 s ``connect_timeout``."""
    connect_args = {"connect_timeout": 5} if connect_args is None else connect_args
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    try:
        return _raised(engine.connect)
    finally:
        engine.dispose()


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database: (its URL, its name)."""
    yield pg_url, pg_url.rsplit("/", 1)[1]


@contextlib.contextmanager
def _role(options: str) -> Iterator[str]:
    name = f"outage_fix_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE ROLE "{name}" {options}')
    try:
        yield name
    finally:
        _pg_admin(f'DROP ROLE IF EXISTS "{name}"')


def _as(url: str, role: str) -> str:
    return url.replace("postgres@", f"{role}@", 1)


# -- refused while connecting: an outage ---------------------------------------------------------------------------


def test_a_database_not_accepting_connections_is_transient(
    pg_database: tuple[str, str],
) -> None:
    """``ALTER DATABASE ... ALLOW_CONNECTIONS false`` with its backends terminated (a maintenance window, a
    failover tool fencing the old primary): the store's read gets libpq's FATAL without a SQLSTATE."""
    url, name = pg_database
    store = StateStore(url)
    try:
        approval, _ = store.request_approval("m", "1", dag_id="d", run_id="r", expires_at=utcnow() + timedelta(hours=1))
        _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            refused = _raised(lambda: StateStore.get_approval.__wrapped__(store, approval["id"]))
        finally:
            _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert "is not currently accepting connections" in str(refused)
        assert is_transient(refused)
    finally:
        store.dispose()


def test_too_many_connections_is_transient(pg_database: tuple[str, str]) -> None:
    """SQLSTATE 53300 on the server (``too many connections for role``, ``sorry, too many clients already``,
    ``remaining connection slots are reserved``): the slots free up when other clients go."""
    url, _ = pg_database
    with _role("LOGIN CONNECTION LIMIT 0") as role:
        refused = _connect_error(_as(url, role))
    assert "too many connections for role" in str(refused)
    assert is_transient(refused)


def test_a_refused_tcp_connection_is_transient(pg_database: tuple[str, str]) -> None:
    url, name = pg_database
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = _connect_error(f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{name}")
    assert "Connection refused" in str(refused) and is_transient(refused)


# -- refused while connecting for a reason to fix: not an outage ---------------------------------------------------


def test_a_role_that_may_not_log_in_or_does_not_exist_is_not_transient(pg_database: tuple[str, str]) -> None:
    """Authorization failures (SQLSTATE class 28), which libpq reports without the code too."""
    url, _ = pg_database
    with _role("NOLOGIN") as role:
        cannot_log_in = _connect_error(_as(url, role))
    no_role = _connect_error(_as(url, f"outage_fix_nobody_{uuid.uuid4().hex[:8]}"))
    assert "is not permitted to log in" in str(cannot_log_in) and not is_transient(cannot_log_in)
    assert "does not exist" in str(no_role) and not is_transient(no_role)


def test_a_database_that_does_not_exist_is_not_transient(pg_database: tuple[str, str]) -> None:
    url, _ = pg_database
    missing = _connect_error(url.rsplit("/", 1)[0] + f"/outage_fix_missing_{uuid.uuid4().hex[:8]}")
    assert "does not exist" in str(missing) and not is_transient(missing)


def _with(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("sslmode=requre", 'invalid sslmode value: "requre"'),
        ("connect_timeout=abc", 'invalid integer value "abc" for connection option "connect_timeout"'),
        ("target_session_attrs=bogus", 'invalid target_session_attrs value: "bogus"'),
        ("gssencmode=require", "GSSAPI"),  # no Kerberos credentials here (or a libpq built without GSSAPI)
        ("host=nonexistent.invalid", 'could not translate host name "nonexistent.invalid"'),
    ],
)
def test_a_typo_in_the_connection_settings_is_not_transient(
    pg_database: tuple[str, str], setting: str, words: str
) -> None:
    """libpq refuses a bad setting (or a host name that does not resolve) without a SQLSTATE and outside any
    statement, as it refuses a database in recovery: it is a fault to fix, not an outage to poll until the
    approval's deadline."""
    url, _ = pg_database
    refused = _connect_error(_with(url, setting), connect_args={})  # the URL's settings only
    assert isinstance(refused, sa.exc.OperationalError) and refused.statement is None
    assert words in str(refused) and not is_transient(refused)


# -- errors of a statement: faults, whatever their message ---------------------------------------------------------


def test_errors_of_a_statement_with_their_sqlstate_are_not_transient(pg_database: tuple[str, str]) -> None:
    url, _ = pg_database
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("CREATE TABLE t (id int PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
            conn.commit()
        errors = {}
        for code, statement in {
            "42601": "SELEC 1",  # syntax
            "42P01": "SELECT * FROM missing_table",
            "23505": "INSERT INTO t VALUES (1)",  # unique violation
            "57014": "SET LOCAL statement_timeout = 1; SELECT pg_sleep(1)",  # cancelled: not retried blindly
        }.items():
            with engine.connect() as conn:
                errors[code] = _raised(lambda conn=conn, statement=statement: conn.execute(sa.text(statement)))
        with _role("LOGIN") as role:
            limited = sa.create_engine(_as(url, role))
            try:
                with limited.connect() as conn:
                    errors["42501"] = _raised(lambda conn=conn: conn.execute(sa.text("SELECT * FROM t")))
            finally:
                limited.dispose()
    finally:
        engine.dispose()
    assert {code: err.orig.pgcode for code, err in errors.items()} == {code: code for code in errors}
    assert {code: is_transient(err) for code, err in errors.items()} == {code: False for code in errors}


# -- without a server: libpq's messages and the SQLSTATEs of a connection failure ----------------------------------


class _DriverError(Exception):
    """A DBAPI error with a SQLSTATE, as psycopg2 (``pgcode``) and psycopg 3 (``sqlstate``) give one."""

    def __init__(self, message: str, *, pgcode: str | None = None, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.pgcode, self.sqlstate = pgcode, sqlstate


def _while_connecting(message: str) -> sa.exc.OperationalError:
    """psycopg2's error for a connection libpq could not open, as SQLAlchemy raises it from the pool."""
    import psycopg2

    return sa.exc.OperationalError(None, None, psycopg2.OperationalError(message))


#: libpq's messages of a server that refuses connections for now (PostgreSQL 12 to 17), and of a network fault.
OUTAGE_MESSAGES = [
    'connection to server at "db", port 5432 failed: FATAL:  database "x" is not currently accepting connections',
    'connection to server at "db", port 5432 failed: FATAL:  the database system is not yet accepting connections\n'
    "DETAIL:  Consistent recovery state has not been yet reached.",
    'connection to server at "db", port 5432 failed: FATAL:  the database system is in recovery mode',
    'connection to server at "db", port 5432 failed: FATAL:  the database system is starting up',
    'connection to server at "db", port 5432 failed: FATAL:  the database system is shutting down',
    'connection to server at "db", port 5432 failed: FATAL:  sorry, too many clients already',
    'connection to server at "db", port 5432 failed: FATAL:  remaining connection slots are reserved for '
    "non-replication superuser connections",
    'connection to server at "db", port 5432 failed: FATAL:  remaining connection slots are reserved for roles with '
    "the SUPERUSER attribute",
    'could not translate host name "db" to address: Temporary failure in name resolution',  # glibc's EAI_AGAIN
    'could not translate host name "db" to address: Try again',  # musl's EAI_AGAIN
    'connection to server at "10.0.0.5", port 5432 failed: No route to host',
    'connection to server at "10.0.0.5", port 5432 failed: Network is unreachable',
    'connection to server at "10.0.0.5", port 5432 failed: timeout expired',
    'connection to server at "127.0.0.1", port 5432 failed: Connection refused\n\tIs the server running on that '
    "host and accepting TCP/IP connections?",
    "terminating connection due to administrator command",
    "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally",
    "could not receive data from server: Connection reset by peer",
    "could not send data to server: Broken pipe",
    "SSL SYSCALL error: EOF detected",
]


@pytest.mark.parametrize("message", OUTAGE_MESSAGES)
def test_libpqs_outage_messages_are_transient_while_connecting_and_in_a_statement(message: str) -> None:
    assert is_transient(_while_connecting(message))
    assert is_transient(sa.exc.OperationalError("SELECT 1", {}, Exception(message)))


def test_an_unknown_libpq_failure_to_connect_is_not_transient() -> None:
    """A connection libpq could not open for a reason not known to be an outage (another libpq version's words,
    a translated message, a setting it refused): reported at once, not polled until the approval's deadline."""
    assert not is_transient(_while_connecting('connection to server at "db", port 5432 failed: server verschwunden'))


@pytest.mark.parametrize(
    "message",
    [
        'connection to server at "db", port 5432 failed: FATAL:  password authentication failed for user "mlops"',
        'connection to server at "db", port 5432 failed: FATAL:  no pg_hba.conf entry for host "10.0.0.9", user '
        '"mlops", database "mlops", no encryption',
        'connection to server at "db", port 5432 failed: FATAL:  pg_hba.conf rejects connection for host "10.0.0.9"',
        'connection to server at "db", port 5432 failed: FATAL:  role "mlops" is not permitted to log in',
        'connection to server at "db", port 5432 failed: FATAL:  role "mlops" does not exist',
        'connection to server at "db", port 5432 failed: FATAL:  database "mlops" does not exist',
        'connection to server at "db", port 5432 failed: FATAL:  permission denied for database "mlops"',
        'connection to server at "db", port 5432 failed: fe_sendauth: no password supplied',
        'connection to server at "db", port 5432 failed: server does not support SSL, but SSL was required',
        'connection to server at "db", port 5432 failed: SSL error: certificate verify failed',
        'invalid sslmode value: "requre"',
        'invalid gssencmode value: "prefered"',
        'invalid target_session_attrs value: "primari"',
        'invalid require_auth method: "scram"',
        'connection to server at "db", port 5432 failed: invalid integer value "abc" for connection option '
        '"connect_timeout"',
        'invalid port number: "54320x"',
        'invalid dsn: invalid connection option "sslmodee"',
        "GSSAPI encryption required but no credential cache",
        'could not translate host name "dbb" to address: Name or service not known',  # glibc
        'could not translate host name "dbb" to address: Name does not resolve',  # musl
        'could not translate host name "dbb" to address: nodename nor servname provided, or not known',  # BSD
        # one host down does not make another's refused login an outage (libpq lists each host it tried)
        'connection to server at "a", port 5432 failed: Connection refused\nconnection to server at "b", port 5432 '
        'failed: FATAL:  password authentication failed for user "mlops"',
    ],
)
def test_a_failure_to_connect_that_needs_a_fix_is_not_transient(message: str) -> None:
    assert not is_transient(_while_connecting(message))


@pytest.mark.parametrize("code", ["08000", "08001", "08006", "57P01", "57P02", "57P03", "53300", "40001", "40P01"])
def test_sqlstates_of_a_lost_or_refused_connection_are_transient(code: str) -> None:
    for orig in (_DriverError("no words", pgcode=code), _DriverError("no words", sqlstate=code)):
        assert is_transient(sa.exc.OperationalError("SELECT 1", {}, orig))


@pytest.mark.parametrize("code", ["42601", "42P01", "42501", "23505", "28P01", "28000", "3D000", "57014", "53100"])
def test_other_sqlstates_are_not_transient_whatever_the_message(code: str) -> None:
    """The SQLSTATE decides when there is one: a message that happens to read like an outage does not."""
    orig = _DriverError("could not connect: connection refused", pgcode=code)
    assert not is_transient(sa.exc.OperationalError("SELECT 1", {}, orig))
    assert not is_transient(sa.exc.OperationalError(None, None, orig))


def test_sqlites_lock_timeout_is_transient_and_its_other_errors_are_not(tmp_path) -> None:
    import sqlite3

    assert is_transient(sa.exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked")))
    assert not is_transient(sa.exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: t")))
    unopenable = sqlite3.OperationalError("unable to open database file")  # a wrong path: nothing to wait for
    assert not is_transient(sa.exc.OperationalError(None, None, unopenable))
