"""``POST /alerts``: monitoring alerts start the model's DAG run.

Accepted bodies (JSON):

* Prometheus Alertmanager webhooks (``version`` 4: ``{"status", "alerts": [{"status", "labels",
  "annotations", "startsAt", "fingerprint"}], "commonLabels", ...}``);
* Grafana webhooks (unified alerting: the same ``alerts`` list, plus ``orgId``, ``title``, ``message``);
* a plain form: ``{"model": "fraud-detector", "status": "firing" | "resolved", "summary": "..."}``.

Order of checks, each failing closed:

1. Authentication against the connections ``[agentic_mlops] alerts_conn_id`` (default
   ``agentic_mlops_alerts``; several ids separated by commas, e.g. one per team):
   ``Authorization: Bearer <password>``, or ``Basic`` with a connection's login and password (when it
   has a login). Compared with :func:`hmac.compare_digest`. Anything else: 401 and nothing recorded.
   No such connection (or none with a password): 503. The connection that authenticated sets the
   request's scope (:class:`AlertScope`, from its extra: ``teams`` and/or ``models`` patterns; none:
   every model); a scope that cannot be read (also a key that looks like a misspelt ``teams`` / ``models``):
   503 naming the connection. A connection's lookup is
   kept :data:`CONNECTION_CACHE_SECONDS` (a flood of unauthenticated requests does not query the
   secrets backend each time; a rotated token is taken within seconds).
2. The body: uncompressed (a ``Content-Encoding`` other than ``identity``: 415 naming it), JSON of one of
   the forms above (else 422), at most :data:`MAX_BODY_BYTES` (else 413), with
   at most :data:`MAX_ALERTS` alerts (else 413 naming the limit and Alertmanager's ``max_alerts``).
3. Each alert's model: the label ``[agentic_mlops] alert_model_label`` (default ``model``) of the
   alert, else of ``commonLabels``; the model's DAG is ``agentic_mlops__<model>``. Alerts for an
   unknown model are ignored (not recorded) and listed in the answer (``unknown_models``, and a
   result with outcome ``unknown_model``), and so are alerts without that label (a result with
   outcome ``no_model_label`` and their ``alertname`` values), while the other models' alerts of the
   request are handled: Alertmanager sends a group's alerts in one notification and does not retry a
   4xx. Alerts for a model outside the scope are refused and answered exactly as an unknown model's
   (the token does not learn which models exist), but audited (``alert_refused``; the log names them
   and the fix). Only when no alert of the request names a model: 422 naming the label; when no model
   named has a DAG but the DAG file may be at fault (a named
   model's DAG is stale, no model DAG is loaded at all, or Airflow records an import error for the file
   of the model DAGs: :func:`parse_trouble`): 503 naming the stale DAGs and the import errors, so the
   sender retries until the file is fixed; else 404 naming the known ones, those of the scope only.
   Nothing else is recorded then. A model the models file names (this process reads it) whose DAG the
   dag-processor has not parsed yet is no unknown model: 503 saying so (``not_parsed_models``), so the
   sender retries; in a notification whose other models are handled, it is a failed model (see 5.).
4. Per model: a resolved alert is recorded (audit ``alert_resolved``) and starts nothing. A firing alert is
   recorded (audit ``alert_received``) and starts a DAG run with ``{"alert": {...}}`` in its conf
   (:func:`run_conf`: the model's most severe firing alert, and a short list of the others) - unless a run
   of that DAG started by an alert has yet to decide (queued, or running with its ``decide`` task not
   started): then nothing starts, the answer names that run, and the alerts are folded into its conf
   (:func:`merged_run_conf`) and note in the same locked step, so that its decision reads them. A run past
   its decision, or one that reads no alert (scheduled, manual), does not take the alert in: a follow-up run
   is queued, which the DAG's ``max_active_runs=1`` runs next, and which takes in the alerts after it - or
   unless the model's models-file entry is invalid and its DAG a stand-in that runs nothing but a failing
   task: then nothing starts, the alert is recorded (outcome ``invalid_entry``), and the answer (2xx: a
   resend does not fix the entry) lists the model and its error under ``invalid_entries``; a broken entry's
   DAG that runs its last valid entry starts, with a warning. An entry without a usable name (DAG
   ``agentic_mlops__-invalid-entry-<n>``) is no model. A model's audit entries are written in one
   transaction, inside the one that starts (or finds) its run, before that commits: a store failing
   then starts no run. The alert text is untrusted; the decision step fences it.
   Every text is scrubbed on arrival (no NUL, no lone surrogate, which PostgreSQL refuses in the run's JSONB
   conf).
5. Airflow's metadata DB failing (down, or its pool exhausted): 503 saying only that, so the sender
   retries; the log names the database and the error. The metadata DB refusing the request (bad data, a
   constraint): 500 saying so, logged as an error. A failing state store: 503 saying only that (the log
   names the store and the error); it is opened once the models are known, so an alert for an unknown
   model is a 404 also while it is down, and checked to answer before any run starts. Each model of a
   notification is handled on its own: when one fails (its lock, the metadata DB), the answer is a 503
   naming it and why (``failed_models``), and the models handled with their runs (``results``); the
   sender's resend finds those runs (``already_running``) and starts none twice. The model's lock not
   free within ``[agentic_mlops] alert_lock_timeout``: 503 naming the DAG. Airflow unable to start the
   DAG yet (not serialized yet, or ``trigger_dag`` refusing it): 503 naming the DAG and the reason, logged.

At most one run per model, also when alerts arrive together: a per-model lock in this process (before it, a
request waits for its models' turns on the event loop, :func:`model_turns`, so that alerts for a busy model
hold no thread of the plugin's pool and cannot starve other models' alerts or the pages), and
around "look for an active run, else create one" a lock every API server sees
(:func:`~airflow_provider_agentic_mlops.core.locks.locked_transaction`): a PostgreSQL advisory lock
of the one metadata-DB transaction that looks and creates, or a file lock next to a SQLite metadata
DB (SQLite means one host). A transaction lock, not a session lock, so that it works behind a
PgBouncer in transaction pooling mode. On other metadata databases (MySQL) only the in-process lock
holds, so two API servers could each start a run for the same model at the same instant; the DAG's
``max_active_runs=1`` then runs them one after the other. Each alert holds at most one connection of
Airflow's metadata-DB pool at a time: the lock and the work share it. The turn and both locks together are
waited for at most ``alert_lock_timeout`` seconds (default 10): a lock that is never released (a stuck API
server) costs the sender a 503 and a retry, never an API-server thread that waits forever.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from airflow_provider_agentic_mlops.core.alert_scope import (
    ScopeUnreadable,
    connection_extra,
    scope_lists,
    unreadable_scope_message,
)
from airflow_provider_agentic_mlops.core.config import (
    DAG_ID_PREFIX,
    INVALID_ENTRY_TAG,
    STAND_IN_DESCRIPTION,
    UNNAMED_ENTRY_DAG_PREFIX,
)
from airflow_provider_agentic_mlops.core.connections import DEFAULT_ALERTS_CONN_ID
from airflow_provider_agentic_mlops.core.decision import scrub_text
from airflow_provider_agentic_mlops.core.errors import SettingInvalid, describe
from airflow_provider_agentic_mlops.core.json_input import JsonInputError, parse_json
from airflow_provider_agentic_mlops.core.locks import LOCK_NOT_AVAILABLE, LockTimeout, locked_transaction
from airflow_provider_agentic_mlops.core.option_defaults import DEFAULT_ALERT_LOCK_TIMEOUT, DEFAULT_ALERT_MODEL_LABEL
from airflow_provider_agentic_mlops.plugins.airflow_auth import dag_teams
from airflow_provider_agentic_mlops.plugins.app import (
    AppSettings,
    StoreUnavailable,
    in_plugin_thread,
    settings_of,
    store_error_detail,
)
from airflow_provider_agentic_mlops.settings import configured_alerts_conn_ids

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from airflow_provider_agentic_mlops.core.state import StateStore

log = logging.getLogger(__name__)

router = APIRouter(tags=["alerts"])

DEFAULT_CONN_ID = DEFAULT_ALERTS_CONN_ID
DEFAULT_MODEL_LABEL = DEFAULT_ALERT_MODEL_LABEL
DEFAULT_LOCK_TIMEOUT = DEFAULT_ALERT_LOCK_TIMEOUT  # seconds; the locked work takes milliseconds
LOCK_SCOPE = "agentic-mlops-alerts"
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE when statement_timeout ends a statement
#: Bytes of a body: MAX_ALERTS ordinary alerts (about 1 KB each, a description and a runbook) with room to spare;
#: the body is read in chunks and each text is cut to MAX_TEXT, so what is kept of it is far smaller.
MAX_BODY_BYTES = 8_000_000
#: Alerts per notification: each one is an audit entry (Alertmanager's ``max_alerts`` keeps a notification under it).
MAX_ALERTS = 1000
MAX_TEXT = 2000  # characters kept of each label / annotation value
MAX_ENTRIES = 50  # labels / annotations kept per alert (plus those the endpoint reads)
#: The other firing alerts of a model's notification listed in its run's conf (beside the primary one).
MAX_OTHER_ALERTS = 20
MAX_OTHER_TEXT = 200  # characters kept of each label value / summary of another alert in the run's conf
#: Severity label values, most severe first (any other value, or none: least severe).
SEVERITY_ORDER = (("critical",), ("error", "high"), ("warning",), ("info",))
TRIGGERING_USER = "agentic-mlops-alerts"
FIRING, RESOLVED = "firing", "resolved"


class AlertError(ValueError):
    """The request cannot be used; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


# -- configuration --------------------------------------------------------------------------------


def _conf(option: str, fallback: str) -> str:
    from airflow.configuration import conf

    return conf.get("agentic_mlops", option, fallback=fallback) or fallback


def configured_model_label() -> str:
    """``[agentic_mlops] alert_model_label`` (env ``AIRFLOW__AGENTIC_MLOPS__ALERT_MODEL_LABEL``), default ``model``."""
    return _conf("alert_model_label", DEFAULT_MODEL_LABEL)


def configured_lock_timeout() -> float:
    """``[agentic_mlops] alert_lock_timeout`` (env ``AIRFLOW__AGENTIC_MLOPS__ALERT_LOCK_TIMEOUT``): seconds an
    alert waits for its model's locks, default 10.

    :raises SettingInvalid: the value is not a positive number of seconds (no alert is handled meanwhile), naming
        the value and the fix, as a bad ``migration_lock_timeout`` is."""
    from airflow_provider_agentic_mlops.settings import configured_seconds

    return configured_seconds("alert_lock_timeout", DEFAULT_LOCK_TIMEOUT)


# -- authentication -------------------------------------------------------------------------------


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def authenticate(authorization: str, *, login: str | None, password: str | None) -> str | None:
    """The caller's name when ``authorization`` carries the connection's credentials, else None.

    Bearer: the token must equal ``password``. Basic: ``login:password`` must equal the connection's
    (only when the connection has a login).
    """
    if not password:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return "bearer-token" if _same(value, password) else None
    if scheme.lower() == "basic" and value and login:
        try:
            user, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        # evaluate both comparisons (no early exit on a wrong user name)
        ok = [_same(user, login), _same(secret, password)]
        return user if sep and all(ok) else None
    return None


ALERTS_CONNECTION_UNREADABLE = (
    "the alerts connection could not be read (a secrets backend failed): send the alert again later; "
    "the API server log has the error"
)


@dataclass(frozen=True)
class AlertsConnection:
    """One alerts connection as the endpoint reads it.

    :param conn_id: its id (one of ``[agentic_mlops] alerts_conn_id``).
    :param login: the login for basic auth (None: bearer only).
    :param password: the token (None: the connection authenticates nobody).
    :param extra: its extra, where :class:`AlertScope` reads the scope.
    """

    conn_id: str
    login: str | None
    password: str | None
    extra: Any = None


def _connection(conn_id: str) -> AlertsConnection | None:
    """The alerts connection ``conn_id``, None when it does not exist.

    :raises AlertError: 503 when the lookup failed (Airflow answers "isn't defined" then too): the
        metadata DB's failure as :func:`_metadata_db` answers it, another backend's as
        :data:`ALERTS_CONNECTION_UNREADABLE`; both logged."""
    from airflow_provider_agentic_mlops.hooks import connection

    try:
        with _metadata_db(f"reading the connection {conn_id!r}"):
            conn = connection.get_connection_or_none(conn_id)
    except connection.ConnectionLookupFailed as err:  # not the metadata DB's: Vault, the Execution API...
        log.warning("alerts: %s", err, exc_info=err.error)
        raise AlertError(503, ALERTS_CONNECTION_UNREADABLE) from err
    if conn is None:
        return None
    return AlertsConnection(conn_id, conn.login or None, conn.password or None, connection_extra(conn.extra))


#: Seconds a looked-up alerts connection is kept (per API server process): the lookup comes before
#: authentication, so without it every unauthenticated request would query the secrets backend; short,
#: so that a rotated token is taken within seconds (the old one works that much longer). A failed lookup
#: is not kept.
CONNECTION_CACHE_SECONDS = 5.0
_clock = time.monotonic
_connections_seen: dict[str, tuple[float, AlertsConnection | None]] = {}
_connections_seen_guard = threading.Lock()


def _cached_connection(conn_id: str) -> AlertsConnection | None:
    """:func:`_connection`, looked up again once the last lookup is :data:`CONNECTION_CACHE_SECONDS` old."""
    now = _clock()
    with _connections_seen_guard:
        seen = _connections_seen.get(conn_id)
    if seen is not None and 0 <= now - seen[0] < CONNECTION_CACHE_SECONDS:
        return seen[1]
    conn = _connection(conn_id)  # a failure propagates, not kept
    with _connections_seen_guard:
        _connections_seen[conn_id] = (now, conn)
    return conn


def authenticated_connection(
    authorization: str, connections: list[AlertsConnection]
) -> tuple[str, AlertsConnection] | None:
    """``(caller, connection)`` of the first of ``connections`` whose credentials ``authorization`` carries
    (:func:`authenticate`), else None. Every connection is compared, so the time taken does not say which
    one matched."""
    matches = [
        (caller, conn)
        for conn in connections
        if (caller := authenticate(authorization, login=conn.login, password=conn.password)) is not None
    ]
    return matches[0] if matches else None


@dataclass(frozen=True)
class AlertScope:
    """The models the alerts of one connection may start, from the connection's extra:

    * ``teams``: a list of Airflow team names: only models whose DAG belongs to one of them (a DAG
      without a team belongs to none);
    * ``models``: a list of glob patterns (``fraud-*``, matched case-sensitively): only models whose name
      matches one.

    Each key given narrows the scope (both: a model must pass both); neither: every model, as a
    connection without them always could.

    :param conn_id: the connection.
    :param teams: the teams, None when the extra names none.
    :param models: the patterns, None when the extra names none.
    """

    conn_id: str
    teams: frozenset[str] | None = None
    models: tuple[str, ...] | None = None

    @classmethod
    def of(cls, conn: AlertsConnection) -> AlertScope:
        """The scope in ``conn``'s extra.

        :raises AlertError: 503 naming the connection and what is wrong, when a key is not a list of
            non-empty texts, or another key looks like a misspelt scope key (``model``, ``Teams``): a scope
            misread as "no scope" would open every model to the token."""
        try:
            teams, models = scope_lists(conn.extra)
        except ScopeUnreadable as err:
            raise cls._unreadable(conn.conn_id, str(err)) from None
        return cls(conn.conn_id, None if teams is None else frozenset(teams), models)

    @staticmethod
    def _unreadable(conn_id: str, problem: str) -> AlertError:
        log.error(
            "alerts: the scope of the alerts connection %r cannot be read: %s; its token starts nothing",
            conn_id,
            problem,
        )
        return AlertError(503, unreadable_scope_message(conn_id, problem))

    @property
    def limited(self) -> bool:
        return self.teams is not None or self.models is not None

    def allows(self, model: str, team: Any) -> bool:
        """Whether an alert for ``model``, whose DAG's team is ``team``, may start its run."""
        from fnmatch import fnmatchcase

        if self.models is not None and not any(fnmatchcase(model, pattern) for pattern in self.models):
            return False
        return self.teams is None or (isinstance(team, str) and team in self.teams)

    def describe(self) -> str:
        """The scope as its extra says it (for the sender of a refused alert)."""
        parts = [
            f"{key} {sorted(value)}"
            for key, value in (("teams", self.teams), ("models", self.models))
            if value is not None
        ]
        return ", ".join(parts) or "every model"


# -- payloads -------------------------------------------------------------------------------------


@dataclass
class Alert:
    """One alert, normalised from any accepted form. Label and annotation texts are truncated, and at
    most :data:`MAX_ENTRIES` of each are kept, besides those the endpoint reads (the model label,
    ``alertname``, ``summary``, ``description``)."""

    source: str  # alertmanager | grafana | plain
    status: str  # firing | resolved
    model: str | None  # None: the alert lacks the model label (answered, never recorded)
    summary: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str | None = None
    fingerprint: str | None = None
    url: str | None = None
    values: dict[str, Any] | None = None  # Grafana's: the query values the rule fired on
    value_string: str | None = None  # Grafana's ``valueString``

    def as_conf(self, received_at: str, group_size: int) -> dict[str, Any]:
        conf = {
            "source": self.source,
            "status": self.status,
            "model": self.model,
            "summary": self.summary,
            "labels": self.labels,
            "annotations": self.annotations,
            "starts_at": self.starts_at,
            "fingerprint": self.fingerprint,
            "url": self.url,
            "received_at": received_at,
            "group_size": group_size,
        }
        if self.values is not None:
            conf["values"] = self.values
        if self.value_string is not None:
            conf["value_string"] = self.value_string
        return conf

    def severity_rank(self) -> int:
        """How severe its ``severity`` label says it is: higher is more severe (:data:`SEVERITY_ORDER`)."""
        return severity_rank(self.labels)

    def as_other(self) -> dict[str, Any]:
        """The alert as the run's conf lists it beside the primary one: short, every text clipped."""
        return {
            "alertname": self.labels.get("alertname", "")[:MAX_OTHER_TEXT],
            "labels": {k: v[:MAX_OTHER_TEXT] for k, v in self.labels.items()},
            "summary": self.summary[:MAX_OTHER_TEXT],
            "fingerprint": self.fingerprint,
        }


def severity_rank(labels: Any) -> int:
    """How severe the ``severity`` label of ``labels`` says an alert is: higher is more severe
    (:data:`SEVERITY_ORDER`; any other value, or none: 0)."""
    severity = str(labels.get("severity", "") if isinstance(labels, dict) else "").strip().lower()
    for rank, names in enumerate(SEVERITY_ORDER):
        if severity in names:
            return len(SEVERITY_ORDER) - rank
    return 0


def _as_other(alert: dict[str, Any]) -> dict[str, Any]:
    """A primary alert of a run's conf as ``other_alerts`` lists it (:meth:`Alert.as_other`)."""
    labels = alert.get("labels") if isinstance(alert.get("labels"), dict) else {}
    return {
        "alertname": str(labels.get("alertname", ""))[:MAX_OTHER_TEXT],
        "labels": {k: str(v)[:MAX_OTHER_TEXT] for k, v in labels.items()},
        "summary": str(alert.get("summary") or "")[:MAX_OTHER_TEXT],
        "fingerprint": alert.get("fingerprint"),
    }


def _list_or_none(value: Any) -> list[Any]:
    """``value`` if it is a list, else none: a run triggered by hand may hold any ``alert`` conf."""
    return value if isinstance(value, list) else []


def _count(value: Any) -> int:
    """``value`` if it is a count (an int >= 0, not a bool), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def merged_run_conf(current: Any, new: dict[str, Any]) -> dict[str, Any] | None:
    """The conf of a run that has yet to decide (``current``, from :func:`run_conf`) with the alerts of a later
    notification (``new``, also :func:`run_conf`'s) folded in, so that its decision reads them; None when
    ``new`` adds nothing (each of its alerts is there already, by fingerprint: a resend).

    The more severe of the two primary alerts stays primary (the current one of equals); the other joins
    ``other_alerts`` (the current ones first, then the new ones), which keeps :data:`MAX_OTHER_ALERTS` and
    counts the rest in ``other_alerts_omitted``.
    """
    alert = current.get("alert") if isinstance(current, dict) else None
    incoming = new.get("alert")
    if not isinstance(alert, dict) or not isinstance(incoming, dict):
        return None
    others = [o for o in _list_or_none(alert.get("other_alerts")) if isinstance(o, dict)]
    seen = {a.get("fingerprint") for a in [alert, *others]} - {None}

    def fresh(one: dict[str, Any]) -> bool:
        return one.get("fingerprint") is None or one.get("fingerprint") not in seen

    new_primary = {k: v for k, v in incoming.items() if k not in ("other_alerts", "other_alerts_omitted")}
    new_others = [o for o in _list_or_none(incoming.get("other_alerts")) if isinstance(o, dict) and fresh(o)]
    if not fresh(new_primary) and not new_others:
        return None
    primary = {k: v for k, v in alert.items() if k not in ("other_alerts", "other_alerts_omitted")}
    if fresh(new_primary):
        if severity_rank(new_primary.get("labels")) > severity_rank(primary.get("labels")):
            others.insert(0, _as_other(primary))
            primary = new_primary
        else:
            others.append(_as_other(new_primary))
    others += new_others
    omitted = _count(alert.get("other_alerts_omitted")) + _count(incoming.get("other_alerts_omitted"))
    return {
        **current,
        "alert": {
            **primary,
            "other_alerts": others[:MAX_OTHER_ALERTS],
            "other_alerts_omitted": omitted + max(len(others) - MAX_OTHER_ALERTS, 0),
        },
    }


def run_conf(firing: list[Alert], received_at: str) -> dict[str, Any]:
    """The conf of the run that a model's firing alerts start: ``{"alert": ...}``, the most severe alert (the
    first of the most severe), with the others' names, labels, summaries and fingerprints in ``other_alerts``
    (the first :data:`MAX_OTHER_ALERTS`; ``other_alerts_omitted`` counts the rest)."""
    primary = max(firing, key=Alert.severity_rank)  # max keeps the first of equals
    others = [a for a in firing if a is not primary]
    return {
        "alert": {
            **primary.as_conf(received_at, len(firing)),
            "other_alerts": [a.as_other() for a in others[:MAX_OTHER_ALERTS]],
            "other_alerts_omitted": max(len(others) - MAX_OTHER_ALERTS, 0),
        }
    }


#: Names listed in an answer or a log line (models, alertnames): the first ones, each clipped; a count of the rest.
MAX_LISTED = 20
MAX_LISTED_TEXT = 100


def _listed(names: Collection[str]) -> tuple[list[str], int]:
    """The first :data:`MAX_LISTED` of ``names``, each cut to :data:`MAX_LISTED_TEXT` characters, and how many
    more there are: a notification may name a thousand long ones, which the answer and the log list."""
    names = list(names)
    shown = [n if len(n) <= MAX_LISTED_TEXT else n[:MAX_LISTED_TEXT] + "..." for n in names[:MAX_LISTED]]
    return shown, len(names) - len(shown)


def _clipped(names: Collection[str]) -> str:
    """``names`` as text for an answer or a log line (:func:`_listed`): ``['a', 'b'] and 3 more``."""
    shown, more = _listed(names)
    return repr(shown) + (f" and {more} more" if more else "")


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    """``value`` as text that every database stores (:func:`scrub_text`: no NUL, no lone surrogate), cut
    to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return scrub_text(text)[:limit]


def _mapping(value: Any, what: str, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """The first :data:`MAX_ENTRIES` entries of ``value``, plus those named in ``keep`` wherever they
    are: Alertmanager sends maps sorted by key, so the label naming the model may come after them."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AlertError(422, f"{what} must be a JSON object, got {type(value).__name__}")
    items = list(value.items())
    kept = items[:MAX_ENTRIES] + [(k, v) for k, v in items[MAX_ENTRIES:] if k in keep]
    return {_text(str(k), 200): _text(v) for k, v in kept}


def _values(value: Any, where: str) -> dict[str, Any] | None:
    """Grafana's ``values`` (query ref -> number): the first :data:`MAX_ENTRIES`, numbers kept as numbers
    (when a float holds them exactly), anything else as text."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise AlertError(422, f"{where} must be a JSON object, got {type(value).__name__}")

    def one(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isfinite(v)):
            return v
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) <= 2**53:
            return v
        return _text(v)

    return {_text(str(k), 200): one(v) for k, v in list(value.items())[:MAX_ENTRIES]}


def _status(value: Any, where: str) -> str:
    status = str(value or "").lower()
    if status not in (FIRING, RESOLVED):
        raise AlertError(422, f"{where}: status must be 'firing' or 'resolved', got {value!r}")
    return status


def _no_label_hint(model_label: str) -> str:
    return (
        f"the label {model_label!r} (nor has commonLabels): add it to the alert rule, or set "
        "[agentic_mlops] alert_model_label to the label that names the model"
    )


def parse_alerts(payload: Any, *, model_label: str = DEFAULT_MODEL_LABEL) -> list[Alert]:
    """Every alert of an Alertmanager, Grafana or plain payload, with its model (None for an alert of a
    notification that lacks the model label, when another alert of it has one).

    :raises AlertError: 422 with what is wrong and how to fix it; also when no alert names a model.
    """
    if not isinstance(payload, dict):
        raise AlertError(422, f"the body must be a JSON object, got {type(payload).__name__}")
    if "alerts" in payload:
        source = "grafana" if "orgId" in payload else "alertmanager"
        items = payload["alerts"]
        if not isinstance(items, list) or not items:
            raise AlertError(422, f"{source} payload: 'alerts' must be a non-empty list")
        if len(items) > MAX_ALERTS:
            raise AlertError(
                413,
                f"{source} payload: {len(items)} alerts in one notification, at most {MAX_ALERTS}: nothing was "
                f"recorded; set max_alerts: {MAX_ALERTS} in Alertmanager's webhook_config (or group by model)",
            )
        read_labels = (model_label, "alertname")  # what this function reads, kept beyond MAX_ENTRIES
        common = _mapping(payload.get("commonLabels"), "commonLabels", keep=read_labels)
        alerts = []
        for index, item in enumerate(items):
            where = f"{source} payload: alerts[{index}]"
            if not isinstance(item, dict):
                raise AlertError(422, f"{where} must be an object")
            labels = _mapping(item.get("labels"), f"{where}.labels", keep=read_labels)
            annotations = _mapping(item.get("annotations"), f"{where}.annotations", keep=("summary", "description"))
            model = labels.get(model_label) or common.get(model_label) or None
            summary = (
                annotations.get("summary")
                or annotations.get("description")
                or labels.get("alertname")
                or _text(payload.get("title") or "")
            )
            alerts.append(
                Alert(
                    source=source,
                    status=_status(item.get("status") or payload.get("status"), where),
                    model=model,
                    summary=summary,
                    labels=labels,
                    annotations=annotations,
                    starts_at=_text(item["startsAt"]) if item.get("startsAt") else None,
                    fingerprint=_text(item["fingerprint"]) if item.get("fingerprint") else None,
                    url=_text(item.get("generatorURL") or payload.get("externalURL") or "") or None,
                    values=_values(item.get("values"), f"{where}.values"),
                    value_string=_text(item["valueString"]) if item.get("valueString") else None,
                )
            )
        if all(a.model is None for a in alerts):
            raise AlertError(422, f"{source} payload: no alert has {_no_label_hint(model_label)}")
        return alerts
    # "model" unless absent, null or empty (then the configured label); a 0, false, [] or {} is a wrong type
    key = "model" if payload.get("model") not in (None, "") else model_label
    model = payload.get(key)
    if model is not None and not isinstance(model, str):
        raise AlertError(
            422,
            f"plain payload: {key!r} must be a string naming the model, got {type(model).__name__} "
            f'{json.dumps(model)[:80]}: send e.g. {{"{key}": "fraud-detector"}}',
        )
    if not model:
        raise AlertError(
            422,
            "not an Alertmanager or Grafana payload (no 'alerts' list), and no 'model' for the plain form "
            '{"model": "<name>", "status": "firing", "summary": "..."}',
        )
    extra = {k: v for k, v in payload.items() if k not in ("model", "status", "summary", "labels", "annotations")}
    return [
        Alert(
            source="plain",
            status=_status(payload.get("status", FIRING), "plain payload"),
            model=_text(model, 250),
            summary=_text(payload.get("summary") or ""),
            labels=_mapping(payload.get("labels"), "labels"),
            annotations={**_mapping(payload.get("annotations"), "annotations"), **_mapping(extra, "fields")},
        )
    ]


# -- DAG runs -------------------------------------------------------------------------------------

_model_locks: dict[str, threading.Lock] = {}
_model_locks_guard = threading.Lock()


def _model_lock(dag_id: str) -> threading.Lock:
    with _model_locks_guard:
        return _model_locks.setdefault(dag_id, threading.Lock())


@dataclass
class _Turn:
    """A DAG's turn on the event loop: its lock, and the requests holding or waiting for it (none: dropped)."""

    lock: Any  # anyio.Lock
    users: int = 0


_turns: dict[str, _Turn] = {}  # used on the event loop only


@contextlib.asynccontextmanager
async def model_turns(dag_ids: Collection[str], timeout: float) -> AsyncIterator[dict[str, float]]:
    """Wait on the event loop, holding no thread, for the turn of each of ``dag_ids`` (in sorted order, so two
    notifications naming the same DAGs cannot each hold one the other waits for), each at most ``timeout``
    seconds; yields how long each DAG's turn was waited for (``math.inf`` for one not obtained). The turns are
    held until the block ends.

    Alerts for one DAG wait here rather than in the plugin's threads (:data:`~.app.PAGE_THREADS`) on the
    DAG's locks: so at most one request per DAG holds a thread while its lock is held elsewhere, and alerts
    for other DAGs, and the pages, still get threads.

    :param dag_ids: the DAGs the request may start runs of.
    :param timeout: ``[agentic_mlops] alert_lock_timeout``.
    """
    import anyio

    waited: dict[str, float] = {}
    taken: list[str] = []
    held: list[Any] = []
    try:
        for dag_id in sorted(set(dag_ids)):
            turn = _turns.setdefault(dag_id, _Turn(anyio.Lock()))
            turn.users += 1
            taken.append(dag_id)
            began = time.monotonic()
            waited[dag_id] = math.inf
            with anyio.move_on_after(timeout):
                await turn.lock.acquire()
                held.append(turn.lock)
                waited[dag_id] = time.monotonic() - began
        yield waited
    finally:
        for lock in held:
            lock.release()
        for dag_id in taken:
            _turns[dag_id].users -= 1
            if not _turns[dag_id].users:
                del _turns[dag_id]


def turn_dag_ids(models: Collection[str], scope: AlertScope) -> set[str]:
    """The DAGs of ``models`` whose turns (:func:`model_turns`) an alert may wait for: those of the models ``scope``
    lets the token start. Another team's model is answered as an unknown one, and as soon: waiting for its turn
    while it is held would tell the token it exists. Reads the DAGs' teams only for a scope naming teams.

    :param models: the models of the request's firing alerts.
    :param scope: the scope of the connection that authenticated the request.
    """
    dags = {f"{DAG_ID_PREFIX}{model}": model for model in models}
    if scope.teams is None:
        return {dag_id for dag_id, model in dags.items() if scope.allows(model, None)}
    with _metadata_db("reading the teams of the model DAGs"):
        teams = dag_teams(dags)
    return {dag_id for dag_id, model in dags.items() if scope.allows(model, teams.get(dag_id))}


@contextlib.contextmanager
def _locked_session(dag_id: str, timeout: float) -> Iterator[Session]:
    """A metadata-DB session for "find active run, else create one" of ``dag_id``, in the one transaction
    of :func:`~airflow_provider_agentic_mlops.core.locks.locked_transaction` (see module doc), which
    commits it on leaving, and the lock ends with it.

    Lock and work share ONE pooled connection of Airflow's engine: the session is bound to the
    connection that holds the lock. With a connection for the lock and another for the session, alerts
    for as many models as the pool has connections, arriving together, each held one and waited for
    a second that only another waiting alert could free, until ``pool_timeout``.

    The session is also the thread's scoped ``settings.Session`` meanwhile, because Airflow's helpers
    open "their own" session with it (``trigger_dag``'s duplicate check does, and commits it): they
    stay on the same connection. Bound to a connection already in a transaction, the session joins
    that transaction without owning it (SQLAlchemy's default ``join_transaction_mode`` acts as
    ``rollback_only`` there): its commits only flush, so the helper's commit neither ends the
    transaction nor the lock. The thread's previous scoped session, if any, is put back afterwards.

    On PostgreSQL the work's statements are bounded too, by the time left of ``timeout``: a table lock held
    elsewhere (``airflow db clean``, a migration: ``LOCK TABLE dag_run``) ends the wait with PostgreSQL's
    ``lock_timeout`` / ``statement_timeout`` error, a 503 (:func:`_unavailable`), instead of an unbounded one.

    :raises LockTimeout: the lock was not free within ``timeout`` seconds.
    """
    from airflow import settings
    from sqlalchemy import text

    scoped = settings.Session
    previous = scoped.registry() if scoped.registry.has() else None
    deadline = time.monotonic() + timeout
    with locked_transaction(settings.engine, LOCK_SCOPE, dag_id, timeout=timeout) as conn:
        if conn.dialect.name == "postgresql":
            # SET LOCAL (is_local true): ends with the transaction, the pooled connection keeps its own settings
            left = f"{max(math.ceil((deadline - time.monotonic()) * 1000), MIN_STATEMENT_MS)}ms"
            conn.execute(
                text("SELECT set_config('lock_timeout', :t, true), set_config('statement_timeout', :t, true)"),
                {"t": left},
            )
        session = scoped.session_factory(bind=conn)
        scoped.registry.set(session)
        try:
            yield session
            session.flush()
        finally:
            session.close()  # leaves the transaction to locked_transaction: commit, or rollback on an error
            if previous is None:
                scoped.registry.clear()
            else:
                scoped.registry.set(previous)


#: The least time (ms) the locked work's statements get on PostgreSQL, when the lock took nearly all of
#: ``alert_lock_timeout``: the work takes milliseconds, a bound of 1 ms would cancel it for nothing.
MIN_STATEMENT_MS = 100

METADATA_DB_UNAVAILABLE = (
    "Airflow's metadata database is unavailable: send the alert again later (Alertmanager retries a 503 "
    "by itself); the API server log has the error"
)


def _unavailable(err: BaseException) -> bool:
    """Whether ``err`` says the metadata DB cannot be used right now (down, connection dropped, pool
    exhausted, a lock or statement timeout): a later attempt may succeed. Other database errors (it
    refused the data or the statement) recur with the same alert."""
    from sqlalchemy import exc

    if isinstance(err, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError)):
        return True
    if isinstance(err, exc.DBAPIError) and err.connection_invalidated:
        return True
    return not isinstance(err, exc.SQLAlchemyError)  # a connection lookup failing otherwise


@contextlib.contextmanager
def _metadata_db(doing: str) -> Iterator[None]:
    """An error of Airflow's metadata DB while ``doing`` (also a connection lookup that it failed, which
    Airflow reports as "isn't defined"): logged as such, with the error. Unavailable (see
    :func:`_unavailable`): a 503 that names neither the error nor the database's address (the caller is
    an alert sender), so the sender retries. Refused (bad data, a constraint): a 500 saying so."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed

    try:
        yield
    except (SQLAlchemyError, ConnectionLookupFailed) as failure:
        if isinstance(failure, ConnectionLookupFailed) and not failure.metadata_db:
            raise
        err = failure.error if isinstance(failure, ConnectionLookupFailed) else failure
        if not _unavailable(err):
            log.error(
                "alerts: Airflow's metadata database ([database] sql_alchemy_conn) refused what the alerts "
                "endpoint asked while %s: %s. It is reachable; the same alert fails the same way when resent",
                doing,
                describe(err),
                exc_info=err,
            )
            raise AlertError(
                500,
                f"Airflow's metadata database refused the request while {doing} ({type(err).__name__}); "
                "the API server log has the error",
            ) from err
        if isinstance(err, PoolTimeout):
            check = (
                "the API server's connection pool to it is exhausted: raise [database] sql_alchemy_pool_size / "
                "sql_alchemy_max_overflow, or look for what holds its connections"
            )
        elif getattr(getattr(err, "orig", None), "pgcode", None) in (LOCK_NOT_AVAILABLE, QUERY_CANCELED):
            check = (
                "a lock on its tables was not free within [agentic_mlops] alert_lock_timeout (another process "
                "holds one: airflow db clean, a migration; see pg_locks), or a statement took longer"
            )
        else:
            check = "check that it is up and reachable from the API server"
        log.warning(
            "alerts: Airflow's metadata database ([database] sql_alchemy_conn) failed while %s: %s; %s",
            doing,
            describe(err),
            check,
            exc_info=err,
        )
        raise AlertError(503, METADATA_DB_UNAVAILABLE) from err


STATE_STORE_UNAVAILABLE = (
    "the state store is unavailable: send the alert again later (Alertmanager retries a 503 by itself); "
    "the API server log has the error"
)


@contextlib.contextmanager
def _state_store(settings: AppSettings) -> Iterator[None]:
    """The state store failing (it cannot be opened, or its database fails a write): a 503 that names neither
    its address nor the error (the caller is an alert sender), so the sender retries; both are logged.
    Airflow's metadata DB's errors are :func:`_metadata_db`'s and never reach here."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (StoreUnavailable, SQLAlchemyError) as failure:
        if isinstance(failure, StoreUnavailable):
            where, err = failure.where, failure.error
        else:
            where, err = settings.store_name(), failure
        log.warning("alerts: %s", store_error_detail(where, err), exc_info=err)
        raise AlertError(503, STATE_STORE_UNAVAILABLE) from failure


@contextlib.contextmanager
def _lock_wait(dag_id: str) -> Iterator[None]:
    """A :class:`LockTimeout` while starting ``dag_id``'s run: logged with the lock (how to find its
    holder), answered with a 503 so the sender tries again later."""
    try:
        yield
    except LockTimeout as err:
        log.warning(
            "alerts: no run of %s started or found: %s. An alert waits at most [agentic_mlops] "
            "alert_lock_timeout for its model's lock; a lock held that long is stuck",
            dag_id,
            err,
        )
        raise AlertError(
            503,
            f"{dag_id}: its lock was not free in time (another alert for the model is still being handled): "
            "send the alert again later (Alertmanager retries a 503 by itself); the API server log names the lock",
        ) from err


def known_models(models: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
    """Models with a parsed, not stale DAG ``agentic_mlops__<model>``: model -> {dag_id, paused, entry_error,
    stand_in, scheduled}.

    ``entry_error``: the DAG's description when the DAG factory tagged it :data:`~..core.config.INVALID_ENTRY_TAG`
    (the model's models-file entry is invalid; the description names the error), else None. ``stand_in``: such a
    DAG runs nothing but a task that fails with the error (no last valid entry to run,
    :data:`~..core.config.STAND_IN_DESCRIPTION`). ``scheduled``: False only when Airflow summarises the DAG's
    schedule as "None" (``schedule: null``: alerts and manual triggers start its runs). The DAGs of entries
    without a usable name (:data:`~..core.config.UNNAMED_ENTRY_DAG_PREFIX`) are listed too (the Models page
    marks them); alerts leave them out.

    :param models: only these models (their DAGs' rows are the only ones read); None: every model.
    """
    from airflow.models import DagModel
    from airflow.models.dag import DagTag
    from airflow.utils.session import create_session
    from sqlalchemy import exists, select

    if models is not None and not models:
        return {}
    flagged = exists().where(DagTag.dag_id == DagModel.dag_id, DagTag.name == INVALID_ENTRY_TAG)
    wanted = (
        # autoescape: in LIKE, the prefix's "_" would match any character ("agentic-mlops--x")
        DagModel.dag_id.startswith(DAG_ID_PREFIX, autoescape=True)
        if models is None
        else DagModel.dag_id.in_(sorted({f"{DAG_ID_PREFIX}{m}" for m in models}))
    )
    with create_session() as session:
        rows = session.execute(
            select(
                DagModel.dag_id,
                DagModel.is_paused,
                DagModel.description,
                DagModel.timetable_summary,
                flagged.label("flagged"),
            ).where(wanted, ~DagModel.is_stale)
        ).all()
    return {
        r.dag_id[len(DAG_ID_PREFIX) :]: {
            "dag_id": r.dag_id,
            "paused": bool(r.is_paused),
            "entry_error": (r.description or "the models file entry is invalid") if r.flagged else None,
            "stand_in": bool(r.flagged and (r.description or "").startswith(STAND_IN_DESCRIPTION)),
            "scheduled": r.timetable_summary != "None",  # NullTimetable's summary
        }
        for r in rows
        if r.dag_id.startswith(DAG_ID_PREFIX)
    }


#: Import errors named in a 503 (each its file and its stack trace's last line, clipped).
MAX_IMPORT_ERRORS = 5


@dataclass(frozen=True)
class ParseTrouble:
    """Why models may be missing for now rather than unknown: the DAG file failed to import.

    :param stale: models whose DAG exists but is stale (its file no longer defines it).
    :param import_errors: DAG file -> the last line of its import error, for the files of model DAGs.
    :param any_model_dag: whether a model DAG that is not stale exists at all.
    """

    stale: list[str]
    import_errors: dict[str, str]
    any_model_dag: bool

    def describe(self, stale: list[str], *, name_files: bool = True) -> str:
        """The 503's detail (also logged): what is missing, the import errors, and that a resend will do.

        :param name_files: name the failing DAG files and their errors; a token scoped to some teams or models
            is told only that a file fails (the file names other teams' models, its error their code).
        """
        parts = []
        if stale:
            parts.append(
                f"the DAG(s) {_clipped([DAG_ID_PREFIX + m for m in stale])} of model(s) {_clipped(stale)} exist "
                "but are stale: their DAG file no longer defines them"
            )
        if not self.any_model_dag:
            parts.append("no model DAG is loaded at all (is the models file loaded by the dag-processor?)")
        if self.import_errors and name_files:
            parts.append(
                "DAG file(s) fail to import: "
                + "; ".join(f"{file}: {error}" for file, error in self.import_errors.items())
            )
        elif self.import_errors:
            parts.append("a DAG file of model DAGs fails to import (the API server's log names it)")
        return (
            ", and ".join(parts) + ". Nothing was recorded; fix the DAG file (airflow dags list-import-errors) "
            "and the alert is taken when sent again (Alertmanager retries a 503 by itself). A model removed "
            "from the models file on purpose: remove its alert rule"
        )


def parse_trouble(models: Collection[str], *, any_model_dag: bool) -> ParseTrouble | None:
    """Whether alerts for ``models`` (none of which has a DAG that is not stale) may find their DAG later: a
    :class:`ParseTrouble` when one of their DAGs exists but is stale, when no model DAG is loaded at all
    (``any_model_dag`` False), or when Airflow records import errors for a file of model DAGs (any file when
    there is no model DAG); None when the names simply never had a DAG (a 404)."""
    from airflow.models import DagModel
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session
    from sqlalchemy import select, tuple_

    with create_session() as session:
        stale = sorted(
            dag_id[len(DAG_ID_PREFIX) :]
            for dag_id in session.scalars(
                select(DagModel.dag_id).where(
                    DagModel.dag_id.in_(sorted(f"{DAG_ID_PREFIX}{m}" for m in models)), DagModel.is_stale
                )
            )
        )
        files = session.execute(
            select(DagModel.bundle_name, DagModel.relative_fileloc, DagModel.fileloc)
            .where(DagModel.dag_id.startswith(DAG_ID_PREFIX, autoescape=True))
            .distinct()
        ).all()
        errors = select(ParseImportError.filename, ParseImportError.stacktrace).order_by(ParseImportError.id)
        if files:  # Airflow 3 records the file relative to its bundle; older rows may hold the full path
            errors = errors.where(
                tuple_(ParseImportError.bundle_name, ParseImportError.filename).in_(
                    [(f.bundle_name, name) for f in files for name in (f.relative_fileloc, f.fileloc) if name]
                )
            )
        rows = session.execute(errors.limit(MAX_IMPORT_ERRORS)).all()
    import_errors = {
        str(r.filename): scrub_text(((r.stacktrace or "").strip().splitlines() or ["(no stack trace)"])[-1])[:300]
        for r in rows
    }
    if not stale and any_model_dag and not import_errors:
        return None
    return ParseTrouble(stale, import_errors, any_model_dag)


def start_run_unless_active(
    dag_id: str, conf: dict[str, Any], on_found: Callable[[str, bool], None] | None = None, *, waited: float = 0.0
) -> tuple[str, bool]:
    """``(run_id, started)``: the run of ``dag_id`` started by an alert that has yet to decide (queued, or
    running with its ``decide`` task not started) if there is one, else a new run (created like Airflow's own
    REST API does, state queued, with ``conf``; behind an active run, ``max_active_runs=1`` runs it next).

    :param on_found: called with ``(run_id, started)`` inside the transaction that starts the run (or folds the
        alerts into it), before it commits: it records the alerts, and when it raises, nothing is started or
        folded (the transaction is rolled back), so no run starts without its alerts recorded.
    :param waited: seconds already waited for the model's turn (:func:`model_turns`): the locks get what is left
        of ``[agentic_mlops] alert_lock_timeout``.
    :raises LockTimeout: the model's locks were not free within ``[agentic_mlops] alert_lock_timeout``.
    """
    configured = configured_lock_timeout()
    timeout = configured - waited
    busy = (
        f"another alert for {dag_id} in this API server has been starting or finding its run for more than "
        f"{configured:.3g} s"
    )
    if timeout <= 0:  # its turn did not come in time
        raise LockTimeout(busy)
    deadline = time.monotonic() + timeout
    model_lock = _model_lock(dag_id)
    # Alerts for the same model wait on the in-process lock without holding a connection.
    if not model_lock.acquire(timeout=timeout):
        raise LockTimeout(busy)
    try:
        return _start_run_unless_active(
            dag_id, conf, timeout=max(deadline - time.monotonic(), 0.001), on_found=on_found
        )
    finally:
        model_lock.release()


def _start_run_unless_active(
    dag_id: str, conf: dict[str, Any], *, timeout: float, on_found: Callable[[str, bool], None] | None
) -> tuple[str, bool]:
    from airflow.exceptions import DagNotFound
    from airflow.models import DagRun
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    from airflow_provider_agentic_mlops.version_compat import trigger_dag_with_note

    with _locked_session(dag_id, timeout) as session:
        active = session.execute(
            select(DagRun.run_id, DagRun.state, DagRun.conf)
            .where(DagRun.dag_id == dag_id, DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]))
            .order_by(DagRun.id.desc())
        ).all()
        undecided = _undecided_runs(session, dag_id, [r.run_id for r in active if r.state == DagRunState.RUNNING])
        for run_id, state, run_conf_ in active:
            # only a run that reads an alert and has yet to decide takes this one in: into its conf, which
            # its decide task reads when it starts
            reads_alert = isinstance(run_conf_, dict) and "alert" in run_conf_
            if reads_alert and (state == DagRunState.QUEUED or run_id in undecided):
                merged = merged_run_conf(run_conf_, conf)
                if merged is not None:
                    run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
                    run.conf = merged
                    run.note = run_note(merged)
                if on_found is not None:
                    on_found(str(run_id), False)
                return str(run_id), False
        if active:
            log.info(
                "alerts: the active run(s) %s of %s decided already or read no alert: queueing a run after them",
                [r.run_id for r in active],
                dag_id,
            )
        try:
            run = trigger_dag_with_note(
                dag_id,
                triggered_by=DagRunTriggeredByType.REST_API,
                triggering_user_name=TRIGGERING_USER,
                run_id=alert_run_id(),
                conf=conf,
                replace_microseconds=False,
                note=run_note(conf),
                session=session,
            )
        except (DagNotFound, ValueError) as err:  # not an AlertError: none is raised in there
            raise _not_startable(dag_id, err) from err
        if run is None:  # trigger_dag's own contract allows it; nothing was created
            raise RuntimeError(f"Airflow created no run for DAG {dag_id!r}")
        if on_found is not None:
            on_found(str(run.run_id), True)
        # committed when _locked_session ends, inside both locks: the next caller sees this run
        return str(run.run_id), True


RUN_NOTE = "started by a monitoring alert (agentic MLOps)"
RUN_ID_PREFIX = "alert__"


def alert_run_id() -> str | None:
    """The id of a run an alert starts, ``alert__<now, UTC, to the microsecond>``, so that the grid tells it from
    a manual trigger (its run type stays ``manual``, the only one Airflow lets an API caller create); None (Airflow
    names it ``manual__...``) when ``[scheduler] allowed_run_id_pattern`` refuses such an id."""
    import re

    from airflow.configuration import conf

    run_id = RUN_ID_PREFIX + datetime.now(timezone.utc).isoformat(timespec="microseconds")
    pattern = (conf.get("scheduler", "allowed_run_id_pattern", fallback="") or "").strip()
    try:
        allowed = not pattern or re.match(pattern, run_id) is not None
    except re.error:
        allowed = False
    if not allowed:
        log.warning(
            "alerts: [scheduler] allowed_run_id_pattern %r refuses the run id %r: Airflow names the run instead",
            pattern,
            run_id,
        )
        return None
    return run_id


#: ASCII punctuation: CommonMark lets a backslash escape each, so the character is shown as written.
_MARKDOWN_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def markdown_text(text: str) -> str:
    """``text`` as Markdown that renders as that text: every ASCII punctuation character backslash-escaped (no
    link, image, HTML, emphasis or code span; an escaped ``:`` or ``.`` also stops bare-URL detection), line
    breaks made spaces (no heading, list or quote block)."""
    flat = " ".join(text.split())
    return "".join(f"\\{ch}" if ch in _MARKDOWN_PUNCTUATION else ch for ch in flat)


def run_note(conf: dict[str, Any]) -> str:
    """The note of the run :func:`run_conf`'s ``conf`` starts: :data:`RUN_NOTE`, then the primary alert's
    ``alertname``, ``severity``, summary (clipped) and fingerprint, as far as it has them. Airflow's UI renders
    a note as Markdown: the alert's texts (untrusted) are escaped to show as written (:func:`markdown_text`)."""
    alert = conf.get("alert") if isinstance(conf.get("alert"), dict) else {}
    labels = alert.get("labels") if isinstance(alert.get("labels"), dict) else {}
    parts = []
    if labels.get("alertname"):
        parts.append(markdown_text(str(labels["alertname"])[:100]))
    if labels.get("severity"):
        parts.append(f"\\[{markdown_text(str(labels['severity'])[:30])}\\]")
    summary = str(alert.get("summary") or "")
    if summary and summary != labels.get("alertname"):
        parts.append(markdown_text(summary[:200]) + ("\\.\\.\\." if len(summary) > 200 else ""))
    if alert.get("fingerprint"):
        parts.append(f"\\(fingerprint {markdown_text(str(alert['fingerprint'])[:64])}\\)")
    return f"{RUN_NOTE}: {' '.join(parts)}" if parts else RUN_NOTE


def _not_startable(dag_id: str, err: Exception) -> AlertError:
    """Airflow's ``trigger_dag`` refusing ``dag_id`` (``DagNotFound``: the DAG has no serialized version yet,
    the dag-processor has not stored it; ``ValueError``: it refuses runs of this kind): logged, and a 503 so
    that the sender tries again once the dag-processor has caught up."""
    from airflow.exceptions import DagNotFound

    if isinstance(err, DagNotFound):
        why = (
            f"the DAG {dag_id} is not serialized yet (Airflow: {err}): the dag-processor has not stored it; "
            "check that it runs and parses the DAG file (airflow dags list-import-errors)"
        )
    else:
        why = f"Airflow refused to start a run of the DAG {dag_id}: {err}"
    log.warning("alerts: no run started: %s", why)
    return AlertError(
        503, f"{why}. Nothing was recorded; send the alert again later (Alertmanager retries a 503 by itself)"
    )


#: States of a task instance that has not started (or holds no row yet: also not started).
NOT_STARTED = (None, "scheduled", "queued")
DECIDE_TASK_ID = "decide"


def _undecided_runs(session: Session, dag_id: str, run_ids: list[str]) -> set[str]:
    """Those of ``run_ids`` (running runs of ``dag_id``) whose ``decide`` task has not started: an alert folded
    into one of them is still looked at by its decision (the data is read when it runs).

    The ``decide`` rows are locked until the session ends (``FOR UPDATE``; SQLite has one writer anyway): a
    worker starting a queued ``decide`` locks that row before it reads the run's conf (Airflow's task-instance
    ``run`` call), so it waits for the merged conf instead of reading the conf from before it.
    """
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    if not run_ids:
        return set()
    decide = session.execute(
        select(TaskInstance.run_id, TaskInstance.state)
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id.in_(run_ids),
            TaskInstance.task_id == DECIDE_TASK_ID,
        )
        .with_for_update()
    ).all()
    return set(run_ids) - {run_id for run_id, state in decide if state not in NOT_STARTED}


# -- the route ------------------------------------------------------------------------------------


def handle_alerts(
    alerts: list[Alert],
    *,
    caller: str,
    open_store: Callable[[], StateStore],
    model_label: str = DEFAULT_MODEL_LABEL,
    scope: AlertScope | None = None,
    store_guard: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    declared_models: Callable[[], Collection[str]] = tuple,
    turns_waited: Mapping[str, float] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Record every alert and start at most one run per model. Runs in a worker thread.

    :param open_store: the state store, opened once an alert is to be recorded (not for a request that
        names no known model: that is a 404 also while the store is down), and checked to answer before any
        run starts (a run whose alerts cannot be recorded would start again on the sender's retry).
    :param store_guard: turns the state store's errors into :class:`AlertError` (:func:`_state_store`), around
        each model's store work, so that one model's failure leaves the others' outcomes standing.
    :param declared_models: the models the models file names (read by this process): one of them without a DAG
        is not parsed yet by the dag-processor, a 503 (the sender retries) rather than an unknown model.
    :param model_label: the label naming the model, for the answer about alerts that lack it.
    :param turns_waited: DAG id -> seconds the request waited for the DAG's turn (:func:`model_turns`), taken off
        the time its locks get; none for a DAG: no wait.
    :param scope: the models the authenticating connection may start (None: every model); the answers
        name only those as known, and an alert for another existing model is refused (audited
        ``alert_refused``) and answered as an unknown model's.

    An audit row's subject is the alert's fingerprint clipped to the column (PostgreSQL refuses a
    longer one); the details keep it whole.
    """
    from airflow_provider_agentic_mlops.core.schema import audit
    from airflow_provider_agentic_mlops.core.state import AuditEntry

    subject_length: int = audit.c.subject.type.length
    scope = scope if scope is not None else AlertScope(DEFAULT_CONN_ID)

    def subject(alert: Alert) -> str | None:
        return alert.fingerprint[:subject_length] if alert.fingerprint else None

    with _metadata_db("listing the model DAGs"):
        models = {m: i for m, i in known_models().items() if not i["dag_id"].startswith(UNNAMED_ENTRY_DAG_PREFIX)}
        teams = dag_teams([m["dag_id"] for m in models.values()]) if scope.teams is not None else {}
    allowed = {m: info for m, info in models.items() if scope.allows(m, teams.get(info["dag_id"]))}
    named = {a.model for a in alerts if a.model is not None}
    # a model outside the scope is answered as an unknown one: the token does not learn which models exist
    unknown = sorted(named - set(allowed))
    outside = sorted(named & set(models) - set(allowed))
    # in the models file, no DAG yet (the dag-processor has not parsed it): retried, not dropped as unknown
    without_dag = set(unknown) - set(models)
    declared = _declared(declared_models) if without_dag else ()
    unparsed = sorted(m for m in without_dag if m in declared and scope.allows(m, None))
    unknown = [m for m in unknown if m not in unparsed]
    if allowed:
        known = str(sorted(allowed))
    elif scope.limited:
        known = f"none that the alerts connection {scope.conn_id!r} may start ({scope.describe()})"
    else:
        known = "none (is the models file loaded by the dag-processor?)"
    no_dag = f"unknown model(s) {_clipped(unknown)}: no DAG {DAG_ID_PREFIX}<model> for them. Known models: {known}"
    not_yours = (  # for the log only
        f"model(s) {outside} are outside the scope of the alerts connection {scope.conn_id!r} that authenticated "
        f"this request ({scope.describe()}): no run of theirs was started, and the sender was answered as for "
        "unknown models. Send their alerts with the token of a connection whose scope includes them (e.g. their "
        "team's alerts connection), or add them to this connection's extra 'teams' / 'models'"
    )
    received_at = datetime.now(timezone.utc).isoformat()
    by_model: dict[str | None, list[Alert]] = {}
    for alert in alerts:
        by_model.setdefault(alert.model, []).append(alert)
    if outside:  # refused, and audited: a token used beyond its scope is worth knowing about
        log.warning(
            "alerts: %s (their DAGs' teams: %s)", not_yours, {m: teams.get(models[m]["dag_id"]) for m in outside}
        )
        refusals = [
            AuditEntry(
                "alert_refused",
                f"alert:{by_model[model][0].source}:{caller}",
                model,
                subject(by_model[model][0]),
                {
                    "conn_id": scope.conn_id,
                    "scope": scope.describe(),
                    "reason": "the model is outside the scope of the connection",
                    "firing": sum(a.status == FIRING for a in by_model[model]),
                    "resolved": sum(a.status == RESOLVED for a in by_model[model]),
                    "fingerprints": [a.fingerprint for a in by_model[model][:20]],
                    "summary": by_model[model][0].summary,
                    "received_at": received_at,
                },
            )
            for model in outside
        ]
        from sqlalchemy.exc import SQLAlchemyError

        try:
            open_store().audit_many(refusals)
        except (StoreUnavailable, SQLAlchemyError) as failure:
            # best effort: a 503 here, where an unknown model gets a 404, would tell the sender the model exists
            log.error("alerts: the refusal of %s could not be audited: %s", outside, failure)
    if unparsed:
        log.warning("alerts: %s", _not_parsed(unparsed))
    if not named & set(allowed):
        if unparsed:
            raise AlertError(503, _not_parsed(unparsed), not_parsed_models=unparsed)
        with _metadata_db("looking for DAG files that fail to import"):
            trouble = parse_trouble(unknown, any_model_dag=bool(models))
            # a stale DAG outside the scope is not named to this sender (as a known one would not be)
            stale_teams = dag_teams([f"{DAG_ID_PREFIX}{m}" for m in trouble.stale]) if trouble and scope.teams else {}
        if trouble is not None:
            stale = [m for m in trouble.stale if scope.allows(m, stale_teams.get(f"{DAG_ID_PREFIX}{m}"))]
            if stale or trouble.import_errors or not trouble.any_model_dag:
                log.warning("alerts: no run started or found: %s", trouble.describe(stale))
                scoped = scope.teams is not None or scope.models is not None
                raise AlertError(
                    503,
                    trouble.describe(stale, name_files=not scoped),
                    stale_models=stale,
                    import_errors={} if scoped else trouble.import_errors,
                )
        raise AlertError(404, no_dag, known_models=sorted(allowed))
    if any(m in allowed and any(a.status == FIRING for a in group) for m, group in by_model.items()):
        with store_guard():
            open_store().ping()  # down: 503 before any run starts, not after the first model's

    def record(model: str, entries: list[Any], run_id: str | None, outcome: str) -> None:
        """Write the model's audit entries: ``entries`` (its resolved alerts) and its firing alerts'."""
        firing = [a for a in by_model[model] if a.status == FIRING]
        received = [
            AuditEntry(
                "alert_received",
                f"alert:{one.source}:{caller}",
                model,
                subject(one),
                {
                    **one.as_conf(received_at, len(firing)),
                    "outcome": outcome,
                    "run_id": run_id,
                    "conn_id": scope.conn_id,
                },
            )
            for one in firing
        ]
        with store_guard():
            open_store().audit_many(entries + received)

    results: list[dict[str, Any]] = []
    failed: dict[str, AlertError] = {}  # model -> why it was not handled (the others were)
    started_any = False
    listed_unknown = set(unknown[:MAX_LISTED])  # the others' results are left out (counted in the answer)
    invalid_entries: dict[str, str] = {}  # model -> its entry's error, for the stand-ins that started nothing
    for model, group in by_model.items():
        if model in unparsed:
            failed[model] = AlertError(503, _not_parsed([model]))
            continue
        if model not in allowed:  # answered, not recorded (outside the scope: refused above)
            if model is not None and model not in listed_unknown:
                continue
            firing_count = sum(a.status == FIRING for a in group)
            outcome = "no_model_label" if model is None else "unknown_model"
            result: dict[str, Any] = {
                "model": model if model is None else _listed([model])[0][0],
                "outcome": outcome,
                "firing": firing_count,
                "resolved": len(group) - firing_count,
            }
            if model is None:
                result["alertnames"], omitted = _listed(sorted({a.labels.get("alertname", "") for a in group}))
                if omitted:
                    result["alertnames_omitted"] = omitted
            results.append(result)
            continue
        result = {}
        try:
            dag_id = allowed[model]["dag_id"]
            # the model's audit entries, written together once its run is started (or found)
            entries = [
                AuditEntry(
                    "alert_resolved",
                    f"alert:{alert.source}:{caller}",
                    model,
                    subject(alert),
                    {**alert.as_conf(received_at, len(group)), "conn_id": scope.conn_id},
                )
                for alert in group
                if alert.status == RESOLVED
            ]
            firing = [a for a in group if a.status == FIRING]
            result = {
                "model": model,
                "dag_id": dag_id,
                "firing": len(firing),
                "resolved": len(group) - len(firing),
            }
            entry_error = allowed[model].get("entry_error")
            written: list[str] = []  # the run whose transaction recorded the alerts
            if firing and allowed[model].get("stand_in"):
                # its one task fails with the entry's error: a run tells nobody more, and a resend fixes nothing
                invalid_entries[model] = result["error"] = entry_error
                result["outcome"] = "invalid_entry"
                log.warning(
                    "alerts: %d firing alert(s) for model %s started no run: its DAG %s is a stand-in, %s. Fix the "
                    "entry in the models file",
                    len(firing),
                    model,
                    dag_id,
                    entry_error,
                )
            elif firing:

                def on_found(
                    run_id: str, started: bool, *, model: str = model, entries: list[Any] = entries, done: Any = written
                ) -> None:
                    # in the run's transaction: a store failing here starts no run (and folds nothing)
                    record(model, entries, run_id, "started" if started else "already_running")
                    done.append(run_id)

                with _metadata_db(f"starting a run of {dag_id}"), _lock_wait(dag_id):
                    run_id, started = start_run_unless_active(
                        dag_id, run_conf(firing, received_at), on_found, waited=(turns_waited or {}).get(dag_id, 0.0)
                    )
                started_any |= started
                result.update(run_id=run_id, outcome="started" if started else "already_running")
                warnings = []
                if allowed[model]["paused"]:
                    warnings.append(f"DAG {dag_id} is paused: the run waits until it is unpaused")
                if entry_error is not None:
                    warnings.append(f"{entry_error}. Fix the entry in the models file")
                if warnings:
                    result["warning"] = "; ".join(warnings)
                log.info("alert for model %s: %s run %s", model, result["outcome"], run_id)
            else:
                result["outcome"] = "recorded_resolved"
            if not written:  # not recorded in a run's transaction (no run, or a starter that takes no on_found)
                record(model, entries, result.get("run_id"), result["outcome"])
        except AlertError as err:
            if "run_id" in result:  # started or found, its alerts not recorded: a resend finds the run, records them
                err = AlertError(
                    err.status, f"{err} (its run {result['run_id']} is {result['outcome']}: a resend finds it)"
                )
            failed[model] = err
            continue
        results.append(result)
    if failed:
        raise _partly_failed(failed, results)
    answer: dict[str, Any] = {"results": results}
    # Ignored alerts are answered 2xx all the same: Alertmanager drops a notification answered 4xx,
    # and would resend one answered 5xx forever; the known models' alerts were handled.
    ignored: list[str] = []
    if unknown:
        log.warning("alerts: %s; their alerts were ignored, the other models' were handled", no_dag)
        ignored.append(f"{no_dag}. Their alerts were ignored; the other models' were handled.")
        answer["unknown_models"], omitted = _listed(unknown)
        if omitted:
            answer["unknown_models_omitted"] = omitted
        answer["known_models"] = sorted(allowed)
    if invalid_entries:
        ignored.append(
            f"model(s) {sorted(invalid_entries)}: their models-file entry is invalid (see 'invalid_entries') and "
            "their DAG is a stand-in that runs nothing: no run was started; fix the entry in models.yaml. The other "
            "models' alerts were handled."
        )
        answer["invalid_entries"] = invalid_entries
    if None in by_model:
        unlabelled = by_model[None]
        names = sorted({a.labels.get("alertname", "") for a in unlabelled})
        note = f"{len(unlabelled)} alert(s) (alertname(s) {_clipped(names)}) lack {_no_label_hint(model_label)}"
        log.warning("alerts: %s; they were ignored, the other alerts were handled", note)
        ignored.append(f"{note}. They were ignored; the other alerts were handled.")
    if ignored:
        answer["detail"] = " ".join(ignored)
    return (201 if started_any else 200), answer


def _not_parsed(models: list[str]) -> str:
    """The 503's detail for ``models``: in the models file, their DAG not parsed yet."""
    return (
        f"model(s) {_clipped(models)} are in the models file but their DAG is not parsed yet (the dag-processor has "
        "not loaded the new entry; check that it runs: airflow dags list-import-errors): nothing was recorded; send "
        "the alert again later (Alertmanager retries a 503 by itself)"
    )


def _declared(declared_models: Callable[[], Collection[str]]) -> Collection[str]:
    """The models file's models (``declared_models()``), none when reading it fails (logged): a model then is
    unknown as before, never an error of its own."""
    try:
        return declared_models()
    except Exception as err:  # noqa: BLE001 - a convenience: the answer must not fail on it
        log.warning("alerts: the models file could not be read to tell a model not parsed yet: %s", describe(err))
        return ()


def _partly_failed(failed: dict[str, AlertError], results: list[dict[str, Any]]) -> AlertError:
    """The error answering a notification of which the models ``failed`` could not be handled: the one error as
    it is when no other model was handled, else a 503 (500 when no failure is worth a resend) naming the failed
    models and why, and the handled ones with their runs (``results``): a resend finds those runs (outcome
    ``already_running``) instead of starting them again."""
    handled = [r for r in results if "dag_id" in r]
    if len(failed) == 1 and not handled:
        return next(iter(failed.values()))
    status = 503 if any(err.status == 503 for err in failed.values()) else next(iter(failed.values())).status
    reasons = "; ".join(f"{model}: {err}" for model, err in failed.items())
    done = ", ".join(
        f"{r['model']} ({r['outcome']}{', run ' + r['run_id'] if r.get('run_id') else ''})" for r in handled
    )
    detail = f"the alerts of model(s) {_clipped(list(failed))} were not handled: {reasons}."
    if handled:
        detail += (
            f" The alerts of model(s) {done} were handled: sent again, the notification finds their runs "
            "(already_running) and starts none twice"
        )
    return AlertError(status, detail, failed_models=list(failed), results=results)


async def _read_body(request: Request) -> tuple[bytes, int]:
    """The body (kept up to :data:`MAX_BODY_BYTES`) and its full size. Reads to the end, so a client
    sending too much gets its 413 instead of a broken connection, without the server holding it all."""
    kept, size = bytearray(), 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            kept += chunk
    return bytes(kept), size


@router.post("/alerts")
async def receive_alerts(request: Request) -> JSONResponse:
    """Authenticate, parse, then start (or find) the model's run. 201 when a run started, else 200."""
    conn_ids = configured_alerts_conn_ids()
    try:
        found = await in_plugin_thread(request.app, lambda: [_cached_connection(conn_id) for conn_id in conn_ids])
    except AlertError as err:
        return JSONResponse({"detail": str(err), **err.extra}, status_code=err.status)
    connections = [conn for conn in found if conn is not None and conn.password]
    if not connections:
        which = f"the connection {conn_ids[0]!r}" if len(conn_ids) == 1 else f"one of the connections {conn_ids}"
        return JSONResponse(
            {
                "detail": f"alerts are not configured: create {which} "
                "(password = bearer token; login + password for basic auth)"
            },
            status_code=503,
        )
    matched = authenticated_connection(request.headers.get("Authorization") or "", connections)
    if matched is None:
        return JSONResponse(
            {"detail": "missing or wrong credentials"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="agentic-mlops-alerts"'},
        )
    caller, conn = matched
    try:
        try:  # read before the body: a misconfiguration fails every alert alike, so it is said before any work
            lock_timeout = configured_lock_timeout()
        except SettingInvalid as err:
            log.error("alert refused, the API server is misconfigured: %s", err)
            raise AlertError(
                500, f"{err}; nothing was recorded (a server misconfiguration: resending fails alike)"
            ) from None
        scope = AlertScope.of(conn)
        body, size = await _read_body(request)
        if size > MAX_BODY_BYTES:
            raise AlertError(
                413,
                f"body of {size} bytes is larger than {MAX_BODY_BYTES}: nothing was recorded; send fewer alerts per "
                f"notification: lower max_alerts in Alertmanager's webhook_config (at most {MAX_ALERTS}), or group "
                "by model (group_by: ['model'] on the route), or shorten the alerts' annotations",
            )
        encoding = request.headers.get("Content-Encoding", "").strip()
        if encoding.lower() not in ("", "identity"):
            # not decompressed: a small compressed body can unpack to gigabytes; Alertmanager and Grafana send plain
            raise AlertError(
                415,
                f"the body is sent with Content-Encoding {encoding[:100]!r}: the endpoint reads only uncompressed "
                "JSON; nothing was recorded. Send it without Content-Encoding (Alertmanager and Grafana do by default; "
                "turn compression off in the proxy or client in between)",
            )
        try:
            payload = parse_json(body or b"null", unique_keys=True)
        except JsonInputError as err:
            raise AlertError(422, str(err)) from None
        model_label = configured_model_label()
        alerts = parse_alerts(payload, model_label=model_label)
        settings = settings_of(request.app)

        def handle(waited: Mapping[str, float]) -> tuple[int, dict[str, Any]]:
            with _state_store(settings):
                return handle_alerts(
                    alerts,
                    caller=caller,
                    open_store=settings.get_store,
                    model_label=model_label,
                    scope=scope,
                    store_guard=lambda: _state_store(settings),
                    declared_models=lambda: settings.get_stores().declared.model_names(),
                    turns_waited=waited,
                )

        # a firing alert's DAG may start: its turn is waited for here, without a thread (see model_turns); only
        # those of the models the token may start, so the time of an answer tells nothing of other teams' models
        firing = {a.model for a in alerts if a.model is not None and a.status == FIRING}
        if scope.teams is None:
            dag_ids = turn_dag_ids(firing, scope)
        else:  # the DAGs' teams are read from the metadata DB
            dag_ids = await in_plugin_thread(request.app, lambda: turn_dag_ids(firing, scope))
        async with model_turns(dag_ids, lock_timeout) as waited:
            status, answer = await in_plugin_thread(request.app, lambda: handle(waited))
    except AlertError as err:
        return JSONResponse({"detail": str(err), **err.extra}, status_code=err.status)
    return JSONResponse(answer, status_code=status)


__all__ = [
    "Alert",
    "AlertError",
    "AlertScope",
    "AlertsConnection",
    "authenticate",
    "authenticated_connection",
    "parse_alerts",
    "router",
    "start_run_unless_active",
]
