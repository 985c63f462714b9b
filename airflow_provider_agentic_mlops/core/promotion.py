"""Promotion and rollback of a model's champion: the gate, and promotion as a resumable transaction.

The gate: a version is promoted only with an *approved* approval of this model, this version and this
DAG run, given for this validation report (digest). PromoteOperator and the CLI both call it here.

The transaction: the intent (version, previous champion, start time) is recorded in the state store
before any step runs, then the steps run in order, each recorded as done:

1. ``previous_alias``  ``previous_champion`` -> the old champion (a crash after it leaves the old one serving);
2. ``champion_alias``  ``champion`` -> the new version, and ``challenger`` removed when it pointed at it;
3. ``tags``            the approver, approval and promotion time on the version (times from the intent);
4. ``audit``           the ``promoted`` audit entry, written in the same transaction as its step mark;
5. ``asset_event``     the champion Asset event, marked by the operator once Airflow has recorded it.

A re-run (Airflow retry, cleared task) finds the intent and completes the steps not marked done with the
values recorded, whichever step the crash hit: the final state is the same as without the crash. Steps
1-3 are idempotent writes to the registry, so one done but not yet marked is harmlessly repeated.
``noop`` is reported only when every step was already done.

A re-run completes a recorded promotion only while nothing has moved the champion since it started: when
``champion`` (once step 2 is done) no longer points at its version, or the audit trail records a later
promotion or rollback of the model, the promotion was *overtaken*. It is closed as ``overtaken`` (audit entry
``promotion_overtaken``) and refused: completing it would record a ``promoted`` entry and send a champion
Asset event for a version that does not serve. A completed promotion re-run after such a change is refused
too (its success would send that Asset event again). When a later change (e.g. a rollback) put the champion
back on its version, the refusal says so: that version serves through the later change, nothing is left to do.
The later promotion or rollback itself closes every
unfinished promotion of the model that it overtakes (:func:`close_overtaken_promotions`), so none is left
shown as in progress when its task is never re-run.

A run that has not begun a promotion finds its version already the champion, promoted by the model's last
champion change (another run's ``promoted`` entry: runs attached to one retrain get the same version): its
promotion is a no-op (:func:`promoted_by_last_change`). Nothing is recorded, the registry is not touched
(the version keeps the first approver's tags) and no champion Asset event is due: the other run sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from airflow_provider_agentic_mlops.core.errors import AgenticMlopsError

if TYPE_CHECKING:  # the state store (SQLAlchemy tables) is imported when used, not at DAG parse time
    from collections.abc import Mapping, Sequence

    from airflow_provider_agentic_mlops.core.state import StateStore

#: The registry's aliases: the serving version, the one a rollback restores, the latest retrain's version.
CHAMPION, PREVIOUS_CHAMPION, CHALLENGER = "champion", "previous_champion", "challenger"
PREVIOUS_ALIAS, CHAMPION_ALIAS, TAGS, AUDIT, ASSET_EVENT = (
    "previous_alias",
    "champion_alias",
    "tags",
    "audit",
    "asset_event",
)
PROMOTION_STEPS = (PREVIOUS_ALIAS, CHAMPION_ALIAS, TAGS, AUDIT, ASSET_EVENT)
PROMOTED, PROMOTION_STARTED, OVERTAKEN_ACTION = "promoted", "promotion_started", "promotion_overtaken"
ROLLBACK_STARTED, ROLLBACK = "rollback_started", "rollback"
#: A rollback intent that moved nothing (refused, or died before the champion moved), closed by a later rollback
#: that starts its own intent instead of completing it in the first person's name.
ROLLBACK_ABANDONED = "rollback_abandoned"
#: Audit actions that move (or are about to move) the champion; one after a promotion began overtakes it.
CHAMPION_CHANGES = (PROMOTED, ROLLBACK_STARTED, ROLLBACK)
_CHANGE_WORDS = {PROMOTED: "promoted v{}", ROLLBACK_STARTED: "rollback to v{} started", ROLLBACK: "rolled back to v{}"}


class PromotionRefused(AgenticMlopsError, PermissionError):
    """Promotion or rollback was refused; the message says why and what to do."""


@dataclass(frozen=True)
class StoredReport:
    """A validation report file as stored now, read again before a promotion begins: it must still be the
    report approved (a report edited after validation is not what the person approved).

    :param artifact: where it was read (``runs:/<run>/agentic_mlops/validation/<digest>/report.md``), named in a
        refusal.
    :param text: its content now.
    :param digest: the sha256 validation recorded for it; None: the approval's report digest (``report.md``'s).
    """

    artifact: str
    text: str
    digest: str | None = None


class _Unknown(Enum):
    UNKNOWN = "unknown"


#: ``promote_version(validated_champion=...)`` when no validation report says which champion it compared with.
UNKNOWN_CHAMPION = _Unknown.UNKNOWN


class Registry(Protocol):
    """What promotion needs from the model registry (``MlflowRegistryHook`` provides it)."""

    def require_access(self, needed: str, what: str) -> None: ...

    def get_alias_version(self, registered_model: str, alias: str) -> str | None: ...

    def set_alias(self, registered_model: str, alias: str, version: str) -> None: ...

    def delete_alias(self, registered_model: str, alias: str) -> None: ...

    def set_version_tags(self, registered_model: str, version: str, tags: dict[str, Any]) -> None: ...


def validated_report(validation: Any, *, model_name: str, version: str, validate_task_id: str) -> Mapping[str, Any]:
    """The validation result (XCom ``validation`` of ``validate_task_id``) a promotion or an approval request
    rests on: it must exist, name the report digest the approval binds and the champion compared with, and
    say the challenger passed. Raises :class:`PromotionRefused` otherwise (fail closed: without it the
    approval would bind no report and a rejected challenger could be promoted).
    """
    where = f"model {model_name!r} v{version}"
    fix = (
        f"run the ValidateOperator as task {validate_task_id!r} before this one, or pass validate_task_id=<its task "
        "id> to both ApprovalSensor and PromoteOperator"
    )
    if not isinstance(validation, dict) or not validation:
        raise PromotionRefused(
            f"{where}: no validation result (XCom 'validation' of task {validate_task_id!r}) in this run; "
            f"nothing was changed. {fix[0].upper()}{fix[1:]}"
        )
    for key in ("passed", "report_digest", "champion_version"):
        if key not in validation or (key == "report_digest" and not validation[key]):
            raise PromotionRefused(
                f"{where}: the validation result of task {validate_task_id!r} came without {key!r}; nothing was "
                f"changed. It must be the ValidateOperator's XCom 'validation': {fix}"
            )
    if validation.get("passed") is not True:
        raise PromotionRefused(f"{where} failed validation; it cannot be promoted")
    return validation


def recorded_report_files(report_uri: str | None, run_id: str, *, model_name: str, version: str) -> tuple[str, str]:
    """The paths of ``report.md`` and ``report.html`` in the challenger's run ``run_id`` of the report a
    validation recorded (its ``report_uri``: ``runs:/<run>/agentic_mlops/validation/<digest>/report.html``), which
    promotion re-reads; a validation of an older release recorded none and wrote both in ``REPORT_DIR`` itself.
    Raises :class:`PromotionRefused` for a URI in another run (the approval binds the challenger's report)."""
    from airflow_provider_agentic_mlops.core.validation import REPORT_DIR

    folder = REPORT_DIR
    if report_uri:
        prefix = f"runs:/{run_id}/"
        if not str(report_uri).startswith(prefix) or not str(report_uri).endswith("/report.html"):
            raise PromotionRefused(
                f"model {model_name!r} v{version}: the validation recorded its report at {report_uri}, which is not "
                f"in the challenger's run ({prefix}.../report.html); nothing was changed. Re-run validation with "
                "its downstream tasks to write the report to the challenger's run and ask for a new approval"
            )
        folder = str(report_uri)[len(prefix) :].removesuffix("/report.html")
    return f"{folder}/report.md", f"{folder}/report.html"


def check_promotion_gate(
    store: StateStore,
    *,
    model_name: str,
    version: str,
    dag_id: str,
    run_id: str,
    report_digest: str | None = None,
    stored_reports: Sequence[StoredReport] = (),
) -> dict[str, Any]:
    """The approved approval that allows promoting ``version`` in this run; raises :class:`PromotionRefused`.

    :param report_digest: the validation report's digest; when both it and the approval's are known they
        must match (the person approved exactly this report).
    :param stored_reports: the report files as stored now (``report.md``, and ``report.html``, the page
        reviewers open); before a promotion begins each must still have its approved digest.
    """
    approval = store.find_approval(model_name, version, dag_id=dag_id, run_id=run_id)
    if approval is None:
        raise PromotionRefused(
            f"model {model_name!r} v{version}: no approval request exists for DAG run {run_id!r} of {dag_id!r}; "
            "promotion needs an approval of this exact version in this run (the wait_for_approval task creates it)"
        )
    from airflow_provider_agentic_mlops.core.state import APPROVED

    if approval["status"] != APPROVED:
        by = f" by {approval['decided_by']}" if approval.get("decided_by") else ""
        raise PromotionRefused(
            f"model {model_name!r} v{version}: approval {approval['id']} is {approval['status']}{by}, not approved; "
            "nothing was changed"
        )
    if report_digest and approval.get("report_digest") and approval["report_digest"] != report_digest:
        given = (
            f"model {model_name!r} v{version}: approval {approval['id']} was given for report "
            f"{approval['report_digest'][:12]}, but this run's validation report is {report_digest[:12]}"
        )
        promotion = store.find_promotion(approval["id"])
        if promotion is not None:  # the request is never asked again once a promotion began with it
            raise PromotionRefused(
                f"{given}, and promotion {promotion['id']} already began with that approval; nothing was changed. "
                f"Start a new run of {dag_id!r} to validate and approve the version again"
            )
        raise PromotionRefused(
            f"{given}; nothing was changed. To ask again for this report, re-run validation with its downstream "
            "tasks (clear validate, or wait_for_approval, with downstream): wait_for_approval asks again when "
            "the report changed"
        )
    approved_digest = report_digest or approval.get("report_digest")
    # checked when the promotion begins; a re-run completing a begun promotion is not stopped halfway
    if store.find_promotion(approval["id"]) is None:
        from airflow_provider_agentic_mlops.core.validation import markdown_digest

        for report in stored_reports:
            expected = report.digest or approved_digest
            on_file = markdown_digest(report.text) if expected else None
            if on_file is not None and on_file != expected:
                raise PromotionRefused(
                    f"model {model_name!r} v{version}: the validation report {report.artifact} has changed since "
                    f"validation (sha256 {on_file[:12]}, approved {expected[:12]}); what a person reads is not "
                    "what was approved. Nothing was changed. Re-run validation with its downstream tasks to write "
                    "the report again and ask for a new approval"
                )
    return approval


def promote_version(
    registry: Registry,
    store: StateStore,
    *,
    model_name: str,
    registered_model: str,
    version: str,
    dag_id: str,
    run_id: str,
    report_digest: str | None = None,
    validated_champion: str | None | Literal[_Unknown.UNKNOWN] = UNKNOWN_CHAMPION,
    stored_reports: Sequence[StoredReport] = (),
) -> dict[str, Any]:
    """Move ``champion`` to ``version`` (and ``previous_champion`` to the old one) behind the gate, as a
    resumable transaction (see the module docstring). Every step but the Asset event is done on return.

    :param report_digest: the validation report's digest, which the approval must have been given for.
    :param stored_reports: the report files as stored now: see :func:`check_promotion_gate`.
    :param validated_champion: the champion the validation compared ``version`` with (None: there was none).
        Until ``champion`` has moved, the promotion is refused unless the champion is still that one (or
        already ``version``): the approval covers exactly that comparison. :data:`UNKNOWN_CHAMPION`: no check.
    :return: ``{"version", "previous_version", "approval_id", "promotion_id", "noop", "steps_done_before"}``;
        ``noop`` is True when an earlier attempt had done every step (the Asset event included), or when another
        run's promotion already made ``version`` the champion (:func:`promoted_by_last_change`): then
        ``promotion_id`` is None and ``already_champion_since`` (that ``promoted`` entry: ``audit_id``, ``at``,
        ``actor``, ``dag_id``, ``run_id``, ``promotion_id``) says since when. A no-op has a ``reason`` (a
        sentence): its champion Asset event was sent already, so the task must not succeed again.
    """
    version = str(version)
    registry.require_access("promote", f"promoting {registered_model} v{version}")
    approval = check_promotion_gate(
        store,
        model_name=model_name,
        version=version,
        dag_id=dag_id,
        run_id=run_id,
        report_digest=report_digest,
        stored_reports=stored_reports,
    )
    promotion = store.find_promotion(approval["id"])
    if promotion is not None:  # a re-run: only while nothing moved the champion since the promotion began
        _refuse_if_overtaken(registry, store, promotion, model_name=model_name, registered_model=registered_model)
    if validated_champion is not UNKNOWN_CHAMPION and CHAMPION_ALIAS not in ((promotion or {}).get("steps") or []):
        _require_validated_champion(registry, model_name, registered_model, version, validated_champion)
    if promotion is None:
        current = registry.get_alias_version(registered_model, CHAMPION)
        since = promoted_by_last_change(store, model_name, version) if current == version else None
        if since is not None:
            return _already_champion(approval, since, model_name=model_name, version=version)
        previous = current
        if current == version:
            # A champion already at this version without intent (promoted by hand during its approval, or by
            # an earlier release of the provider): not pointed at itself. The champion the validation compared
            # it with is the one it replaced; unknown, the registry's previous champion is kept.
            validated = None if validated_champion is UNKNOWN_CHAMPION else validated_champion
            previous = str(validated) if validated is not None and str(validated) != version else None
            previous = previous or registry.get_alias_version(registered_model, PREVIOUS_CHAMPION)
        promotion, _ = store.begin_promotion(approval, registered_model=registered_model, previous_version=previous)
    done_before = list(promotion["steps"] or [])
    previous = promotion["previous_version"]

    def mark(step: str, audit_entry: dict[str, Any] | None = None) -> None:
        store.mark_promotion_step(promotion["id"], step, all_steps=PROMOTION_STEPS, audit_entry=audit_entry)

    if PREVIOUS_ALIAS not in done_before:
        if previous is not None and previous != version:
            registry.set_alias(registered_model, PREVIOUS_CHAMPION, previous)
        mark(PREVIOUS_ALIAS)
    if CHAMPION_ALIAS not in done_before:
        registry.set_alias(registered_model, CHAMPION, version)
        # MLflow's champion/challenger convention: the version is no challenger any more (a challenger
        # alias on another version, a newer retrain, stays)
        if registry.get_alias_version(registered_model, CHALLENGER) == version:
            registry.delete_alias(registered_model, CHALLENGER)
        mark(CHAMPION_ALIAS)
    if TAGS not in done_before:
        registry.set_version_tags(
            registered_model,
            version,
            {
                "agentic_mlops.approved_by": approval.get("decided_by") or "",
                "agentic_mlops.approval_id": approval["id"],
                "agentic_mlops.approved_at": _iso_utc(approval.get("decided_at") or promotion["started_at"]),
                "agentic_mlops.promoted_at": _iso_utc(promotion["started_at"]),
                "agentic_mlops.promoted_in": f"{dag_id}/{run_id}",
                "agentic_mlops.report_digest": approval.get("report_digest") or "",
            },
        )
        mark(TAGS)
    if AUDIT not in done_before:
        mark(
            AUDIT,
            audit_entry={
                "action": PROMOTED,
                "actor": approval.get("decided_by") or "unknown",
                "model_name": model_name,
                "subject": f"version:{version}",
                "details": {
                    "previous_version": previous,
                    "approval_id": approval["id"],
                    "promotion_id": promotion["id"],
                    "dag_id": dag_id,
                    "run_id": run_id,
                    "report_digest": approval.get("report_digest"),
                },
            },
        )
    close_overtaken_promotions(store, model_name, champion_now=version, actor=approval.get("decided_by") or "unknown")
    result = {
        "version": version,
        "previous_version": previous,
        "approval_id": approval["id"],
        "promotion_id": promotion["id"],
        "noop": all(step in done_before for step in PROMOTION_STEPS),
        "steps_done_before": done_before,
    }
    if result["noop"]:  # its champion Asset event was recorded too: a successful try would record a second one
        result["reason"] = (
            f"model {model_name!r}: v{version} was made the champion by an earlier try of this task (promotion "
            f"{promotion['id']}, approval {approval['id']}), every step done, its champion Asset event included. "
            "Nothing was changed, and no second champion Asset event is sent"
        )
    return result


def promoted_by_last_change(store: StateStore, model_name: str, version: str) -> dict[str, Any] | None:
    """The ``promoted`` audit entry of ``version`` when it is the model's last champion change
    (:data:`CHAMPION_CHANGES`), else None: the version serves through that promotion, and another one of
    it (a run attached to the same retrain, approved separately) has nothing left to do."""
    last = store.last_audit(model_name, CHAMPION_CHANGES)
    if last is None or last["action"] != PROMOTED or last["subject"] != f"version:{version}":
        return None
    return last


def _already_champion(
    approval: Mapping[str, Any], since: Mapping[str, Any], *, model_name: str, version: str
) -> dict[str, Any]:
    """The no-op result of promoting ``version`` when the ``promoted`` entry ``since`` already made it the champion."""
    details = since["details"] or {}
    at = _iso_utc(since["at"])
    entry = {
        "audit_id": since["id"],
        "at": at,
        "actor": since["actor"],
        "dag_id": details.get("dag_id"),
        "run_id": details.get("run_id"),
        "promotion_id": details.get("promotion_id"),
    }
    reason = (
        f"model {model_name!r}: v{version} is already the champion since {since['actor']}'s promotion in DAG run "
        f"{entry['run_id']!r} of {entry['dag_id']!r} at {at} (audit entry {since['id']}), the model's last champion "
        f"change; approval {approval['id']} of this run needs no promotion. Nothing was changed, nothing recorded, "
        "and no champion Asset event is sent (that promotion sent it)"
    )
    return {
        "version": version,
        "previous_version": details.get("previous_version"),
        "approval_id": approval["id"],
        "promotion_id": None,
        "noop": True,
        "steps_done_before": [],
        "already_champion_since": entry,
        "reason": reason,
    }


def champion_status(
    name: str, alias: str, error: str, *, registered: bool, aliases: Collection[str], has_versions: Callable[[], bool]
) -> tuple[str, str]:
    """Why ``models:/<name>@<alias>`` did not load (``error``), from what the registry shows: ``("absent", why)``
    when it holds no champion yet (no such registered model, or versions of which none holds the alias and no
    ``previous_champion`` says one did); else ``("unavailable", error and what the registry shows)``.

    :param registered: whether the registered model exists; ``aliases``: its aliases.
    :param has_versions: whether it has any version (asked only when the rest cannot tell).
    """
    if not registered:
        return "absent", f"no champion yet: registered model {name!r} does not exist (a first model)"
    if alias in aliases:
        return "unavailable", error
    if PREVIOUS_CHAMPION in aliases:
        return "unavailable", f"{error}; the model had one (alias {PREVIOUS_CHAMPION!r} is set)"
    if not has_versions():
        return "unavailable", f"{error}; registered model {name!r} has no version left (deleted?)"
    return "absent", (
        f"no champion yet: registered model {name!r} has versions but none has alias {alias!r}, so the loop takes "
        "it for a first model (a retrain is judged on the validation floors only); if a version serves "
        f"production, set the alias on it: MlflowClient().set_registered_model_alias({name!r}, {alias!r}, "
        "<version>)"
    )


def _iso_utc(value: datetime) -> str:
    """``value`` in ISO 8601 with its zone, ``+00:00``: the state store keeps naive UTC times."""
    aware = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return aware.isoformat()


def later_champion_changes(store: StateStore, promotion: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The champion changes (:data:`CHAMPION_CHANGES`) of the promotion's model that the audit trail records
    after the promotion began, its own ``promoted`` entry excepted, oldest first: any of them overtakes it."""
    promotion_id = promotion["id"]
    return [
        entry
        for entry in store.audit_after(
            promotion["model_name"],
            CHAMPION_CHANGES,
            after_action=PROMOTION_STARTED,
            after_subject=f"promotion:{promotion_id}",
        )
        if not (entry["action"] == PROMOTED and (entry["details"] or {}).get("promotion_id") == promotion_id)
    ]


def _changes_text(changes: Sequence[Mapping[str, Any]]) -> str:
    """The last three ``changes`` (audit entries), e.g. ``rolled back to v1 by bob at 2024-05-07 10:00:00 UTC``."""
    return ", ".join(
        f"{_CHANGE_WORDS[e['action']].format(str(e['subject'] or '').removeprefix('version:'))} by "
        f"{e['actor']} at {e['at']:%Y-%m-%d %H:%M:%S} UTC"
        for e in changes[-3:]
    )


def _overtaken_entry(
    promotion: Mapping[str, Any], later: Sequence[Mapping[str, Any]], *, champion_now: str | None, actor: str
) -> dict[str, Any]:
    """The ``promotion_overtaken`` audit entry that closes ``promotion``."""
    return {
        "action": OVERTAKEN_ACTION,
        "actor": actor,
        "model_name": promotion["model_name"],
        "subject": f"promotion:{promotion['id']}",
        "details": {
            "version": str(promotion["version"]),
            "steps_done": list(promotion["steps"] or []),
            "champion_now": champion_now,
            "overtaken_by": [e["id"] for e in later],
            "dag_id": promotion["dag_id"],
            "run_id": promotion["run_id"],
        },
    }


def close_overtaken_promotions(
    store: StateStore, model_name: str, *, champion_now: str | None, actor: str
) -> list[int]:
    """Close as ``overtaken`` every unfinished promotion of the model that a later champion change in the audit
    trail overtook (the rule a re-run of its task applies); called once a promotion or rollback is recorded,
    so a promotion whose task is never re-run (retries ran out, then a rollback) is not left in progress.

    :param champion_now: the champion the change that closes them left (recorded with each closing entry).
    :param actor: who made that change.
    :return: the ids of the promotions closed.
    """
    from airflow_provider_agentic_mlops.core.state import PROMOTION_IN_PROGRESS

    closed = []
    for promotion in store.list_promotions(model_name, status=PROMOTION_IN_PROGRESS):
        later = later_champion_changes(store, promotion)
        if later:
            # one whose 'promoted' entry exists took effect, and the audit trail says so: only its Asset event
            # was not marked (its task's success callback lost); closing it needs no entry of its own
            audited = AUDIT in (promotion["steps"] or [])
            entry = None if audited else _overtaken_entry(promotion, later, champion_now=champion_now, actor=actor)
            store.close_promotion_overtaken(promotion["id"], audit_entry=entry)
            closed.append(promotion["id"])
    return closed


def _refuse_if_overtaken(
    registry: Registry, store: StateStore, promotion: Mapping[str, Any], *, model_name: str, registered_model: str
) -> None:
    """Raise :class:`PromotionRefused` when the recorded ``promotion`` was overtaken (see the module
    docstring), closing it as ``overtaken`` first if it was unfinished; return when it may be resumed."""
    from airflow_provider_agentic_mlops.core.state import PROMOTION_COMPLETED, PROMOTION_OVERTAKEN

    version, promotion_id = str(promotion["version"]), promotion["id"]
    what = (
        f"model {model_name!r} v{version}: promotion {promotion_id} (approval {promotion['approval_id']}, "
        f"DAG run {promotion['run_id']!r} of {promotion['dag_id']!r})"
    )
    start_again = (
        f"To make v{version} the champion, start a new run of {promotion['dag_id']!r}, so it is validated "
        "against the current champion and approved again"
    )
    steps = list(promotion["steps"] or [])
    later = later_champion_changes(store, promotion)
    current = registry.get_alias_version(registered_model, CHAMPION)
    closed = promotion["status"] == PROMOTION_OVERTAKEN
    if not closed and not later and (CHAMPION_ALIAS not in steps or current == version):
        return
    since = f"since the promotion began the audit trail records: {_changes_text(later)}" if later else ""
    if current == version:  # back on this version, but through a later change: nothing for this run to do
        how = f"through a later change ({since})" if later else "through a later change outside the provider"
        now = f"v{version} is the champion again {how}, not through this promotion"
        unsent = "the later change is the one that made it the champion"
        then = f"There is nothing to do: v{version} is already the champion"
    else:
        now = f"MLflow's champion is now v{current}" if current is not None else "MLflow now has no champion"
        now += f", and {since}" if later else " (moved outside the provider, e.g. by hand in MLflow)"
        unsent = f"it would name v{version}, which does not serve"
        then = start_again
    if closed:
        raise PromotionRefused(
            f"{what} was closed as overtaken (the champion moved on before it was completed): {now}. Nothing was "
            f"changed and no champion Asset event is sent. {then}"
        )
    if promotion["status"] == PROMOTION_COMPLETED:
        joined = "and" if current == version else "but"
        raise PromotionRefused(
            f"{what} completed earlier, {joined} {now}. A re-run changes nothing and sends no champion Asset "
            f"event ({unsent}). {then}"
        )
    store.close_promotion_overtaken(
        promotion_id, audit_entry=_overtaken_entry(promotion, later, champion_now=current, actor=promotion["dag_id"])
    )
    raise PromotionRefused(
        f"{what} stopped after steps {steps or 'none'} and was overtaken before it was completed: {now}. "
        f"It is closed as overtaken: nothing was changed in MLflow, and no 'promoted' audit entry and no "
        f"champion Asset event are written for it ({unsent}). {then}"
    )


def describe_unfinished(
    promotion: Mapping[str, Any], *, overtaken_by: Sequence[Mapping[str, Any]] | None = None
) -> str:
    """One line for a promotion recorded but not completed (``models list``, the model page): MLflow may
    already serve its version while the audit trail (and so the champion lineage) does not name it yet.

    :param overtaken_by: the later champion changes that overtook it (:func:`later_champion_changes`, those
        the reader may see; empty: some they may not), or None when none did: then it is never completed,
        and the line says so instead of advising to clear its task (a re-run would be refused).
    """
    steps = list(promotion["steps"] or [])
    version = promotion["version"]
    which = (
        f"{promotion['started_at']:%Y-%m-%d %H:%M} UTC (promotion {promotion['id']}, "
        f"run {promotion['run_id']!r}, steps done: {', '.join(steps) or 'none'}"
    )
    if overtaken_by is not None:
        changes = _changes_text(overtaken_by) or "a later champion change"
        return (
            f"v{version} overtaken, not completed: started {which}); since then the audit trail records "
            f"{changes}; nothing to do: it is never completed (a re-run of its promote task is refused and "
            "closes it, and so does the model's next promotion or rollback)"
        )
    serving = f"; MLflow's champion already points at v{version}" if CHAMPION_ALIAS in steps else ""
    return (
        f"v{version} unfinished since {which}{serving}): its promote task completes it; clear that task if its "
        "retries ran out"
    )


def _require_validated_champion(
    registry: Registry, model_name: str, registered_model: str, version: str, validated: str | None
) -> None:
    """Raise :class:`PromotionRefused` unless ``champion`` is still ``validated`` (or already ``version``)."""
    current = registry.get_alias_version(registered_model, CHAMPION)
    if current in (version, None if validated is None else str(validated)):
        return

    against = f"champion v{validated}" if validated is not None else "no champion (there was none)"
    now = f"the champion is now v{current}" if current is not None else "there is now no champion"
    raise PromotionRefused(
        f"model {model_name!r} v{version}: it was validated against {against}, but {now} (moved while the "
        "approval was pending: a rollback or a change by hand?); nothing was changed. Re-run validation (clear "
        "the validate task with its downstream tasks) so the comparison covers the current champion: the approval "
        "is then asked again for the new report"
    )


def record_asset_event_sent(store: StateStore, promotion_id: int) -> dict[str, Any]:
    """The last step: Airflow recorded the champion Asset event of this promotion (the task succeeded)."""
    return store.mark_promotion_step(promotion_id, ASSET_EVENT, all_steps=PROMOTION_STEPS)


def rollback_champion(
    registry: Registry,
    store: StateStore,
    *,
    model_name: str,
    registered_model: str,
    user: str,
    reason: str | None = None,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Make ``previous_champion`` the champion again and record who did it.

    ``user`` is the audit trail's actor; ``identity`` (e.g. the OS login and a display name the person
    gave) is kept with the intent, shown, never counted as the actor; its ``dag_id`` and ``run_id`` (the
    DAG run rolling back) are kept with the ``rollback`` entry too.

    The ``previous_champion`` alias is removed afterwards, so an accidental second rollback is refused
    instead of re-promoting the version just rolled back.

    Resumable like promotion, with the audit trail as its log: the intent (``rollback_started``: from and
    to versions, who, why) is written before the registry is touched and the ``rollback`` entry after the
    last step. A rollback that finds an intent with no ``rollback`` after it whose champion already moved back
    completes the intent's steps (all idempotent) instead of refusing for the missing ``previous_champion``
    alias, keeping its reason. An intent that moved nothing (the champion still on its from version: refused by
    MLflow, or died first) is not completed in its author's name: it is recorded as ``rollback_abandoned`` and
    this rollback starts its own intent, with ``user``, ``reason`` and ``identity``. Either way the versions'
    ``restored_by``/``rolled_back_by`` tags name ``user``, who completed the rollback.

    :return: ``{"version" (restored), "rolled_back_version", "user", "resumed"}``, and ``abandoned_intent``
        (``id``, ``actor``, ``at``) when an intent that moved nothing was closed.
    """
    if not user or not str(user).strip():
        raise PromotionRefused(f"rollback of {model_name!r}: say who is rolling back (user); the audit trail needs it")
    registry.require_access("promote", f"rolling back {registered_model}")
    previous = registry.get_alias_version(registered_model, PREVIOUS_CHAMPION)
    current = registry.get_alias_version(registered_model, CHAMPION)
    intent = unfinished_rollback(store, model_name, current=current, previous=previous)
    resumed, abandoned = intent is not None, None
    if intent is None:
        if previous is None:
            raise PromotionRefused(
                f"model {model_name!r}: {registered_model!r} has no {PREVIOUS_CHAMPION!r} alias, nothing to roll back "
                "to (never promoted twice, or already rolled back). Set the champion alias by hand in MLflow if needed."
            )
        check_rollback_target(model_name, registered_model, current=current, previous=previous)
        abandoned = _abandon_unmoved_rollback(store, model_name, current=current, actor=user)
        store.audit(
            ROLLBACK_STARTED,
            actor=user,
            model_name=model_name,
            subject=f"version:{previous}",
            details={"from_version": current, "to_version": previous, "reason": reason, **dict(identity or {})},
        )
        intent = store.last_audit(model_name, (ROLLBACK_STARTED,))
        if intent is None:  # pragma: no cover - written just above
            raise RuntimeError(f"model {model_name!r}: the rollback intent was not recorded; nothing was changed")
    details = intent["details"]
    restored, rolled_back = str(details["to_version"]), details["from_version"]
    at = _iso_utc(intent["at"])  # the intent's time: a retry writes the same tags
    run = identity if identity and identity.get("dag_id") else details  # completing it, else the one that began it
    registry.set_alias(registered_model, CHAMPION, restored)
    if previous is not None:
        registry.delete_alias(registered_model, PREVIOUS_CHAMPION)
    registry.set_version_tags(
        registered_model, restored, {"agentic_mlops.restored_by": user, "agentic_mlops.restored_at": at}
    )
    if rolled_back is not None and rolled_back != restored:
        registry.set_version_tags(
            registered_model, rolled_back, {"agentic_mlops.rolled_back_by": user, "agentic_mlops.rolled_back_at": at}
        )
    store.audit(
        ROLLBACK,
        actor=user,
        model_name=model_name,
        subject=f"version:{restored}",
        details={
            "from_version": rolled_back,
            "to_version": restored,
            "reason": details.get("reason"),
            "intent_id": intent["id"],
            "started_by": intent["actor"],
            # the DAG run that rolled back, if one did: the UI shows the row to readers of that DAG only
            **{key: run[key] for key in ("dag_id", "run_id") if run.get(key)},
        },
    )
    close_overtaken_promotions(store, model_name, champion_now=restored, actor=user)
    result = {"version": restored, "rolled_back_version": rolled_back, "user": user, "resumed": resumed}
    if abandoned is not None:
        result["abandoned_intent"] = {"id": abandoned["id"], "actor": abandoned["actor"], "at": abandoned["at"]}
    return result


def _abandon_unmoved_rollback(
    store: StateStore, model_name: str, *, current: str | None, actor: str
) -> dict[str, Any] | None:
    """Record as ``rollback_abandoned`` the model's last ``rollback_started`` intent when no ``rollback`` followed
    it and the champion is still on its from version (it moved nothing), and return that intent; else None.
    Its entry stays as written (the audit trail is append-only); the abandoning entry names it and who started it,
    and keeps its DAG run so the UI shows it to the same readers."""
    last = store.last_audit(model_name, (ROLLBACK_STARTED, ROLLBACK))
    if last is None or last["action"] != ROLLBACK_STARTED:
        return None
    details = last["details"] or {}
    if current is None or current != details.get("from_version"):
        return None
    store.audit(
        ROLLBACK_ABANDONED,
        actor=actor,
        model_name=model_name,
        subject=f"intent:{last['id']}",
        details={
            "started_by": last["actor"],
            "started_at": _iso_utc(last["at"]),
            "from_version": details.get("from_version"),
            "to_version": details.get("to_version"),
            "reason": details.get("reason"),
            "why": f"it moved nothing (champion still v{current}); {actor}'s rollback starts anew",
            **{key: details[key] for key in ("dag_id", "run_id") if details.get(key)},
        },
    )
    return last


def check_rollback_target(model_name: str, registered_model: str, *, current: str | None, previous: str) -> None:
    """Refuse a rollback that would change nothing: ``previous_champion`` on the champion's own version (an alias
    edited by hand), which would be recorded as a rollback from a version to itself.

    Only for a new rollback: an interrupted one that already moved the champion back is in that state legitimately
    (:func:`unfinished_rollback`).
    """
    if current is not None and str(previous) == str(current):
        raise PromotionRefused(
            f"rollback of {model_name!r} refused, nothing changed: {registered_model!r}'s {PREVIOUS_CHAMPION!r} alias "
            f"points at v{previous}, the version its {CHAMPION!r} alias already points at, so there is nothing to roll "
            f"back to. Point {PREVIOUS_CHAMPION!r} at the version to return to (e.g. MlflowClient()."
            f"set_registered_model_alias({registered_model!r}, {PREVIOUS_CHAMPION!r}, VERSION)) and run again."
        )


def unfinished_rollback(
    store: StateStore, model_name: str, *, current: str | None, previous: str | None
) -> dict[str, Any] | None:
    """The last ``rollback_started`` intent of the model when no ``rollback`` completed it and the champion
    already moved back (to its to version; ``previous_champion`` there too or removed): the alias removal, tags
    or audit are left, and the next rollback completes it. Else None (none, done, overtaken by later changes, or
    one that moved nothing: the next rollback starts its own, see :func:`rollback_champion`)."""
    last = store.last_audit(model_name, (ROLLBACK_STARTED, ROLLBACK))
    if last is None or last["action"] != ROLLBACK_STARTED:
        return None
    to_version = str((last["details"] or {}).get("to_version"))
    return last if current == to_version and previous in (to_version, None) else None


__all__ = [
    "CHAMPION_CHANGES",
    "PROMOTED",
    "OVERTAKEN_ACTION",
    "PROMOTION_STEPS",
    "ROLLBACK",
    "ROLLBACK_ABANDONED",
    "ROLLBACK_STARTED",
    "UNKNOWN_CHAMPION",
    "PromotionRefused",
    "Registry",
    "check_promotion_gate",
    "check_rollback_target",
    "champion_status",
    "close_overtaken_promotions",
    "describe_unfinished",
    "later_champion_changes",
    "promote_version",
    "promoted_by_last_change",
    "record_asset_event_sent",
    "recorded_report_files",
    "rollback_champion",
    "unfinished_rollback",
]
