"""Who may decide an approval request, and who counts as whom (plain Python, no Airflow, no Slack).

Two rules live here:

* **The Slack allowlist** (:class:`Allowlist`): a Slack click counts only from a user listed in the
  request's ``approvers`` or a member of its ``approver_usergroup``; with neither, every Slack click
  is refused (fail closed). The approvals page is governed by Airflow's own auth, the CLI by
  access to the state store's credentials.
* **Identities** (:class:`Identities`): one person may reach a request through Slack (a Slack user
  id), the approvals page (an Airflow user) and the CLI (an operating-system login). A vote counts
  for a *person*: the Airflow user name the identity maps to. A Slack id maps through the config's
  ``slack`` ids, else through the e-mail address Slack reports for it (``users.info``) matched to
  the config's ``email``; an OS login through the config's ``os`` logins. An Airflow user is itself.
  A request with ``required_approvals`` > 1 takes approvals only from mapped people, so one person
  cannot vote twice through two channels; the store's one-vote-per-person constraint does the rest.

The config (``[agentic_mlops] approver_identities``, JSON), keyed by Airflow user name::

    {"alice": {"slack": ["U012ALICE"], "os": ["alice", "asmith"], "email": "alice@example.com"}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_agentic_mlops.core.commands import command as cli
from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError

#: The ways of deciding from Slack (the HTTP endpoint, Socket Mode): the Slack allowlist governs them.
SLACK_VIAS = frozenset({"slack", "slack-socket"})

#: What a :data:`SensorStateReader` returns when Airflow has no such task instance (its run was deleted): the run
#: cannot resume, so it no longer waits either. Not one of Airflow's states.
TASK_INSTANCE_DELETED = "deleted"

#: Airflow states of the sensor's task in which its run no longer waits for the decision: the task finished,
#: perhaps marked by hand in Airflow's UI (which runs no failure callback, so the request stays pending). Not
#: ``up_for_retry``: the retry asks for the same request and takes a decision made meanwhile; nor a state
#: while waiting (``deferred``, ``running``, ``up_for_reschedule``, ``queued``, ``scheduled``, none).
#: A run deleted from Airflow (:data:`TASK_INSTANCE_DELETED`) no longer waits either.
WAIT_ENDED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed", TASK_INSTANCE_DELETED})

#: ``task_state(dag_id, run_id, task_id, map_index)``: the Airflow state of a request's sensor task instance
#: (``map_index`` -1 unless the sensor is mapped); None when it has no state yet, :data:`TASK_INSTANCE_DELETED`
#: when Airflow has no such task instance.
SensorStateReader = Callable[[str, str, str, int], "str | None"]

#: The longest identity stored (the votes' ``user_id`` column holds 250 characters).
MAX_IDENTITY_CHARS = 200

#: Approval ids have at most this many digits (Slack button values, page and CLI arguments): no
#: request has a larger one, and SQLite's integer overflows a little above.
APPROVAL_ID_DIGITS = 18
#: The longest reason a decision may give: the pages show it on every load.
MAX_REASON_CHARS = 2000


def cli_command(approval: Mapping[str, Any], *, approve: bool = True, default_conn_id: str | None = None) -> str:
    """The CLI command deciding ``approval``: it names the model (the CLI refuses a request of another model)
    and the request's state connection unless that is ``default_conn_id`` (ids are numbered per store)."""
    import shlex

    verb = "approve" if approve else "deny"
    command = cli(f"approvals {verb} {approval['id']}")
    if approval.get("model_name"):
        command += f" --model {shlex.quote(str(approval['model_name']))}"
    conn_id = (approval.get("details") or {}).get("state_conn_id")
    if conn_id and conn_id != default_conn_id:
        command += f" --state-conn-id {shlex.quote(str(conn_id))}"
    return command


def ask_again_command(approval: Mapping[str, Any], *, airflow_base_url: str | None = None) -> str:
    """How to get a new request for ``approval``'s run once it expired: clear its sensor task with the tasks downstream
    (the run's retrained version is asked about again). Not a new DAG run: that decides again, finding the model in
    the cooldown of this run's retrain, or after it retraining another version (spending budget).

    The clear goes by run id: the task's page in Airflow's UI, or ``POST /api/v2/dags/{dag_id}/clearTaskInstances``.
    ``airflow tasks clear`` selects runs by logical date only (no run-id option in Airflow 3.1-3.3), so it is given
    only for a run whose logical date the sensor recorded (``details.logical_date``: scheduled, backfill). A run an
    alert, ``airflow dags trigger`` or the UI started has none, and a run id's date is not its logical date. Its
    ``-t`` keeps the task ids holding the text (a substring, not a regex, in Airflow 3).

    :param approval: the request (its ``dag_id``, ``run_id`` and ``details``' ``sensor_task_id``,
        ``sensor_map_index`` and ``logical_date``).
    :param airflow_base_url: Airflow's URL (scheme, host and ``[api] base_url``'s path), None when unknown: the
        text then says ``<airflow-url>``.
    """
    import json
    import shlex
    from urllib.parse import quote

    details = approval.get("details") or {}
    task_id = str(details.get("sensor_task_id") or "wait_for_approval")
    map_index = details.get("sensor_map_index")
    mapped = isinstance(map_index, int) and map_index >= 0
    dag_id = str(approval.get("dag_id"))
    run_id = str(approval.get("run_id") or "")
    base = (airflow_base_url or "<airflow-url>").rstrip("/")
    page = f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
    if mapped:
        page += f"/mapped/{map_index}"
    body = {
        "dag_run_id": run_id,
        "task_ids": [[task_id, map_index] if mapped else task_id],  # a mapped sensor: its copy's request only
        "include_downstream": True,
        "only_failed": False,
        "dry_run": False,
    }
    endpoint = f"{base}/api/v2/dags/{quote(dag_id, safe='')}/clearTaskInstances"
    text = (
        f"Clear the run's {task_id} with its downstream tasks for a new request: in Airflow's UI, the task page {page}"
        f" (Grid: run {run_id}, task {task_id}): Clear, with 'Downstream' selected; or through Airflow's REST API: "
        f"curl -X POST {shlex.quote(endpoint)} -H 'Authorization: Bearer <token>' -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body))}"
    )
    logical_date = details.get("logical_date")
    if logical_date and not mapped:  # `tasks clear` cannot pick one map index
        date = shlex.quote(str(logical_date))
        # -t is a substring of task ids in Airflow 3 (not a regex as in 2): `^...$` matches no task
        text += (
            f"; or: airflow tasks clear {shlex.quote(dag_id)} -t {shlex.quote(task_id)} "
            f"--downstream -s {date} -e {date}"
        )
    return text


def bad_approval_id(approval_id: int) -> str | None:
    """Why no request can have ``approval_id`` (None when one may)."""
    if 0 < approval_id < 10**APPROVAL_ID_DIGITS:
        return None
    shown = str(approval_id)
    shown = shown if len(shown) <= 24 else shown[:24] + "..."
    return (
        f"approval {shown} does not exist: approval ids are whole numbers from 1 to {10**APPROVAL_ID_DIGITS - 1} "
        "(see `approvals list`)"
    )


def bad_text(value: str | None) -> str | None:
    """Why ``value`` cannot be stored as text (None when it can): a NUL character (PostgreSQL refuses it), or a
    lone surrogate, which is how Python reads a command-line byte that is not UTF-8 (it cannot be encoded)."""
    if value is None:
        return None
    if "\x00" in value:
        return "it contains a NUL character"
    if any("\ud800" <= char <= "\udfff" for char in value):
        return "it is not valid UTF-8 (a byte of another encoding: check the terminal's or the script's encoding)"
    return None


_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """``text`` as every database stores and reads back: NUL and lone surrogates (see :func:`bad_text`) replaced
    by U+FFFD. PostgreSQL's json column takes both as escapes (``\\u0000``, ``\\ud800``) and then fails every
    query reading the row's fields; for identities and names that came from outside (Slack, a login)."""
    return _UNSTORABLE.sub("\ufffd", text)


def bad_reason(reason: str | None) -> str | None:
    """Why ``reason`` cannot be a decision's reason (None when it can): longer than :data:`MAX_REASON_CHARS`,
    or not storable text (:func:`bad_text`)."""
    unstorable = bad_text(reason)
    if unstorable is not None:
        return f"the reason cannot be stored: {unstorable}"
    if reason is None or len(reason) <= MAX_REASON_CHARS:
        return None
    return f"the reason has {len(reason)} characters; at most {MAX_REASON_CHARS} characters are allowed: shorten it"


#: A Slack user id: ``U`` (or ``W``, Enterprise Grid) and capital letters and digits (underscores: test ids).
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9_]{1,30}")


def slack_user_ids(value: Any, *, prefix: str = "approvers: ") -> list[str]:
    """The Slack user ids ``value`` lists: a list, or a string separated by commas or whitespace (what a
    template such as ``"{{ params.approvers }}"`` renders to); None or empty: none.

    :param prefix: what the error starts with (the models file's error names the field itself: ``""``).

    :raises ValueError: an entry that is not a Slack user id, named, with how to write the list.
    """
    if value is None:
        return []
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, (list, tuple, set, frozenset)):
        raise ValueError(
            f"{prefix}{value!r} is not a Slack user id nor a list of them; give a list, or a string of "
            "Slack user ids separated by commas or spaces"
        )
    ids: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ValueError(f"{prefix}{entry!r} is not a Slack user id; {_HOW_TO_LIST_APPROVERS}")
        for user_id in re.split(r"[\s,]+", entry.strip()):
            if not user_id:
                continue
            if not SLACK_USER_ID.fullmatch(user_id):
                raise ValueError(f"{prefix}{user_id!r} is not a Slack user id; {_HOW_TO_LIST_APPROVERS}")
            ids.append(user_id)
    return ids


_HOW_TO_LIST_APPROVERS = (
    "a Slack user id is U (or W) followed by capital letters and digits, e.g. U012ABCDEF (in Slack: the "
    "person's profile -> More -> Copy member ID). Give a list, or a string of ids separated by commas or spaces"
)


class ApprovalRefused(AgenticMlopsError, PermissionError):
    """The person may not decide this request; the message says who and how to fix it."""


@dataclass(frozen=True)
class Allowlist:
    """Who may decide a request from Slack.

    :param approvers: Slack user ids.
    :param usergroup: Slack user group id (``S...``) whose members may decide.
    """

    approvers: tuple[str, ...] = ()
    usergroup: str | None = None

    @classmethod
    def of(cls, approval: Mapping[str, Any]) -> Allowlist:
        details = approval.get("details") or {}
        return cls(tuple(details.get("approvers") or ()), details.get("approver_usergroup") or None)

    @property
    def empty(self) -> bool:
        return not self.approvers and not self.usergroup

    def refusal(
        self,
        approval: Mapping[str, Any],
        user: str,
        group_members: Iterable[str] = (),
        *,
        members_cached_seconds: float | None = None,
    ) -> str | None:
        """Why the Slack ``user`` may not decide ``approval`` (None: they may).

        :param members_cached_seconds: how long the user group's member list is cached (said to a person
            refused, who may have just been added to the group)."""
        if self.empty:
            return (
                f"request {approval['id']} ({approval['model_name']}) has no Slack approvers, so Slack decisions "
                "are refused. Set `approvers` or `approver_usergroup` on the model's approval config, or decide "
                f"with `{cli_command(approval)}` or the approvals page."
            )
        if user and (user in self.approvers or user in set(group_members)):
            return None
        refused = (
            f"Slack user {user} is not an approver of request {approval['id']} ({approval['model_name']}); "
            "ask an MLOps admin to add your Slack user id to `approvers` or you to the approver user group"
        )
        if self.usergroup and members_cached_seconds:
            refused += (
                f" {self.usergroup}. Its membership is cached for up to {members_cached_seconds:g} seconds: if "
                "you were just added, try again after that"
            )
        return refused


@dataclass(frozen=True)
class Voter:
    """One identity casting a vote.

    :param person: what counts as one vote: the Airflow user name when the identity is mapped,
        else the identity itself with its channel (``slack:U1``, ``os:alice``).
    :param mapped: the identity is known to belong to an Airflow user.
    :param details: the raw identities for the audit trail (Slack id, OS login, display name ...).
    """

    person: str
    mapped: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Person:
    """One Airflow user and the Slack ids, OS logins and e-mail addresses that are theirs."""

    airflow_user: str
    slack_ids: frozenset[str] = frozenset()
    os_users: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()


class InvalidIdentities(AgenticMlopsError, ValueError):
    """``[agentic_mlops] approver_identities`` is not the documented JSON; the message names the option and entry."""


class Identities:
    """The identity map (see the module docstring).

    :param people: the mapped people; an identity may belong to one person only.
    """

    OPTION = "[agentic_mlops] approver_identities"

    def __init__(self, people: Iterable[Person] = ()) -> None:
        self.people = {p.airflow_user: p for p in people}
        self._slack: dict[str, str] = {}
        self._os: dict[str, str] = {}
        self._email: dict[str, str] = {}
        for person in self.people.values():
            for index, keys in (
                (self._slack, person.slack_ids),
                (self._os, person.os_users),
                (self._email, person.emails),
            ):
                for key in keys:
                    other = index.setdefault(key, person.airflow_user)
                    if other != person.airflow_user:
                        raise InvalidIdentities(
                            f"{self.OPTION}: {key!r} is listed for both {other!r} and {person.airflow_user!r}; "
                            "an identity belongs to one person"
                        )

    @classmethod
    def parse(cls, text: str | None) -> Identities:
        """The map from its JSON text (empty text: nobody mapped).

        :raises InvalidIdentities: not JSON of the documented shape; the message names the option and the entry.
        """
        if not text or not text.strip():
            return cls()
        try:
            data = json.loads(text)
        except ValueError as err:
            raise InvalidIdentities(
                f"{cls.OPTION} is not JSON ({err}); see the README's 'Who counts as whom'"
            ) from None
        if not isinstance(data, dict):
            raise InvalidIdentities(f"{cls.OPTION} must be a JSON object keyed by Airflow user name")
        people = []
        for user, entry in data.items():
            if not isinstance(entry, dict):
                raise InvalidIdentities(f"{cls.OPTION}: the entry of {user!r} must be an object with slack/os/email")

            def names(key: str, entry: dict[str, Any] = entry, user: str = user) -> frozenset[str]:
                value = entry.get(key) or []
                value = [value] if isinstance(value, str) else value
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InvalidIdentities(f"{cls.OPTION}: {user!r}.{key} must be a string or a list of strings")
                return frozenset(v.strip() for v in value if v.strip())

            emails = frozenset(e.lower() for e in names("email") | names("emails"))
            people.append(Person(str(user), names("slack"), names("os"), emails))
        return cls(people)

    @property
    def has_emails(self) -> bool:
        """Whether Slack users may be matched by e-mail (worth a ``users.info`` lookup)."""
        return bool(self._email)

    def maps_slack_id(self, slack_id: str) -> bool:
        return slack_id in self._slack

    def slack(self, slack_id: str, *, email: str | None = None, display_name: str | None = None) -> Voter:
        """The voter behind a Slack user id (``email``: what Slack's ``users.info`` reports for it)."""
        details = _storable({"slack_user": slack_id, "display_name": display_name, "email": email})
        person = self._slack.get(slack_id) or (self._email.get(email.lower()) if email else None)
        if person is not None:
            return Voter(person, True, {**details, "airflow_user": person})
        return Voter(_clip(details["slack_user"]), False, details)

    def cli(self, os_user: str, *, display_name: str | None = None) -> Voter:
        """The voter running the CLI as operating-system user ``os_user``; ``display_name`` is shown, never counted."""
        details = _storable({"os_user": os_user, "display_name": display_name})
        person = self._os.get(os_user)
        if person is not None:
            return Voter(person, True, {**details, "airflow_user": person})
        return Voter(_clip(f"os:{details['os_user']}"), False, details)

    def airflow(self, username: str, *, email: str | None = None) -> Voter:
        """The voter signed in to Airflow as ``username`` (the approvals page), matched to an entry by name or
        e-mail. Without a map every Airflow user is a person; with one, a user it does not list is unmapped: their
        Slack id may be listed under another name, and would count as a second person."""
        person = username if username in self.people else (self._email.get(email.lower()) if email else None)
        mapped = person is not None or not self.people
        details = _storable({"airflow_user": username, "email": email})
        return Voter(_clip(storable_text(person or username)), mapped, details)


def check_two_person_rule(approval: Mapping[str, Any], voter: Voter, *, approve: bool, via: str) -> None:
    """Refuse an approval of a two-person request from an identity not mapped to an Airflow user:
    otherwise one person's Slack id and Airflow login would count as two people. Denials always count.
    """
    if not approve or int(approval.get("required_approvals") or 1) < 2 or voter.mapped:
        return
    raw = voter.details.get("slack_user") or voter.details.get("os_user") or voter.person
    if via == "ui":
        raise ApprovalRefused(
            f"request {approval['id']} needs {approval['required_approvals']} different people, and Airflow user "
            f"{raw!r} is not in {Identities.OPTION}, so their Slack or CLI vote could count as someone else; "
            f"add {raw!r} to {Identities.OPTION} (see the README's 'Who counts as whom')"
        )
    kind = "Slack user" if via.startswith("slack") else "OS user" if via == "cli" else "user"
    raise ApprovalRefused(
        f"request {approval['id']} needs {approval['required_approvals']} different people, and {kind} {raw!r} "
        f"is not mapped to an Airflow user; add it to {Identities.OPTION} (see the README's 'Who counts as "
        "whom'), or approve from the approvals page"
    )


def _storable(details: dict[str, str | None]) -> dict[str, str | None]:
    """Identity ``details`` for the audit trail, each text :func:`storable_text` (they came from Slack or a login)."""
    return {key: None if value is None else storable_text(value) for key, value in details.items()}


def _clip(identity: str) -> str:
    return identity[:MAX_IDENTITY_CHARS]


__all__ = [
    "ask_again_command",
    "SLACK_USER_ID",
    "SLACK_VIAS",
    "TASK_INSTANCE_DELETED",
    "WAIT_ENDED_STATES",
    "SensorStateReader",
    "Allowlist",
    "ApprovalRefused",
    "cli_command",
    "Identities",
    "APPROVAL_ID_DIGITS",
    "MAX_IDENTITY_CHARS",
    "MAX_REASON_CHARS",
    "Person",
    "Voter",
    "bad_approval_id",
    "bad_reason",
    "bad_text",
    "storable_text",
    "check_two_person_rule",
    "slack_user_ids",
]
