"""core/promotion.py: the gate, and promotion as a resumable transaction.

The registry here is an in-memory double of the ``Registry`` protocol (core is tested without MLflow);
tests/integration/test_promote.py runs the same crash matrix against a real MLflow server.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_agentic_mlops.core.model_history import unfinished_promotions
from airflow_provider_agentic_mlops.core.promotion import (
    PROMOTION_STEPS,
    UNKNOWN_CHAMPION,
    PromotionRefused,
    StoredReport,
    check_promotion_gate,
    promote_version,
    record_asset_event_sent,
    rollback_champion,
    unfinished_rollback,
    validated_report,
)
from airflow_provider_agentic_mlops.core.state import StateStore, utcnow

MODEL, DAG_ID, RUN_ID = "m", "agentic_mlops__m", "run1"


class RegistryDouble:
    """Aliases and version tags in dicts; counts writes so a test can see what a re-run repeated."""

    def __init__(self, champion: str | None = "1", challenger: str | None = None) -> None:
        self.aliases: dict[str, str] = {"champion": champion} if champion else {}
        if challenger:
            self.aliases["challenger"] = challenger
        self.tags: dict[str, dict[str, str]] = defaultdict(dict)
        self.writes = 0

    def require_access(self, needed: str, what: str) -> None:
        pass

    def get_alias_version(self, registered_model: str, alias: str) -> str | None:
        return self.aliases.get(alias)

    def set_alias(self, registered_model: str, alias: str, version: str) -> None:
        self.writes += 1
        self.aliases[alias] = str(version)

    def delete_alias(self, registered_model: str, alias: str) -> None:
        self.aliases.pop(alias, None)

    def set_version_tags(self, registered_model: str, version: str, tags: dict[str, Any]) -> None:
        self.writes += 1
        self.tags[str(version)].update({k: str(v) for k, v in tags.items()})


class Crash(RuntimeError):
    """The process died here."""


def _approved(store: StateStore, version: str = "2") -> dict:
    approval, _ = store.request_approval(
        MODEL, version, dag_id=DAG_ID, run_id=RUN_ID, expires_at=utcnow() + timedelta(hours=1), report_digest="d1"
    )
    store.decide_approval(approval["id"], approve=True, user="alice", via="cli")
    return approval


def _promote(registry: RegistryDouble, store: StateStore, *, validated_champion: str | None = "1") -> dict:
    return promote_version(
        registry,
        store,
        model_name=MODEL,
        registered_model=MODEL,
        version="2",
        dag_id=DAG_ID,
        run_id=RUN_ID,
        validated_champion=validated_champion,
    )


def _final_state(registry: RegistryDouble, store: StateStore) -> dict:
    (promotion,) = store.list_promotions(MODEL)
    promoted = [a for a in store.audit_trail(MODEL) if a["action"] == "promoted"]
    return {
        "aliases": dict(registry.aliases),
        "tags": dict(registry.tags["2"]),
        "promoted_audit": [(a["actor"], a["subject"], a["details"]) for a in promoted],
        "promotion": (promotion["status"], promotion["steps"], promotion["previous_version"]),
        "tagged_promoted_at_is_intent_time": registry.tags["2"]["agentic_mlops.promoted_at"]
        == f"{promotion['started_at'].isoformat()}+00:00",
    }


def _normalised(state: dict) -> dict:
    """Drop what differs between two databases (ids, times), keep everything else."""
    tags = {k: v for k, v in state["tags"].items() if not k.endswith(("_at", "approval_id"))}
    audit = [
        (actor, subject, {k: v for k, v in d.items() if not k.endswith("_id")})
        for actor, subject, d in state["promoted_audit"]
    ]
    return {**state, "tags": tags, "promoted_audit": audit}


@pytest.fixture
def clean_final_state(tmp_path) -> dict:
    store = StateStore(f"sqlite:///{tmp_path / 'clean.db'}")
    registry = RegistryDouble(challenger="2")
    _approved(store)
    _promote(registry, store)
    record_asset_event_sent(store, store.list_promotions(MODEL)[0]["id"])
    return _final_state(registry, store)


def test_an_uninterrupted_promotion_does_every_step_once(sqlite_store: StateStore) -> None:
    registry = RegistryDouble()
    _approved(sqlite_store)
    result = _promote(registry, sqlite_store)
    assert result["noop"] is False and result["previous_version"] == "1" and result["steps_done_before"] == []
    assert registry.aliases == {"champion": "2", "previous_champion": "1"}
    (promotion,) = sqlite_store.list_promotions(MODEL)
    assert promotion["status"] == "in_progress" and promotion["steps"] == list(PROMOTION_STEPS[:-1])
    record_asset_event_sent(sqlite_store, promotion["id"])
    again = _promote(registry, sqlite_store)
    assert again["noop"] is True and again["previous_version"] == "1"


def test_the_promotion_intent_is_recorded_for_exactly_what_was_approved(sqlite_store: StateStore) -> None:
    approval = _approved(sqlite_store)
    promotion, created = sqlite_store.begin_promotion(approval, registered_model="registry-name", previous_version="1")
    assert created is True
    bound = ("model_name", "version", "dag_id", "run_id", "approval_id")
    assert [promotion[k] for k in bound] == [MODEL, "2", DAG_ID, RUN_ID, approval["id"]]
    assert (promotion["registered_model"], promotion["previous_version"]) == ("registry-name", "1")
    again, created = sqlite_store.begin_promotion(approval, registered_model="registry-name", previous_version="9")
    assert created is False and again["id"] == promotion["id"] and again["previous_version"] == "1"


@pytest.mark.parametrize("when", ["after_its_effect", "after_it_was_recorded"])
@pytest.mark.parametrize("step", PROMOTION_STEPS)
def test_a_crash_at_any_step_is_completed_by_the_rerun_with_an_identical_final_state(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch, clean_final_state: dict, step: str, when: str
) -> None:
    registry = RegistryDouble(challenger="2")
    _approved(sqlite_store)
    real_mark = sqlite_store.mark_promotion_step
    crashed = []

    def mark_then_crash(promotion_id: int, done: str, **kwargs: Any) -> dict:
        if done == step and not crashed:
            crashed.append(done)
            if when == "after_it_was_recorded":
                real_mark(promotion_id, done, **kwargs)
            raise Crash(f"killed after {done}")
        return real_mark(promotion_id, done, **kwargs)

    monkeypatch.setattr(sqlite_store, "mark_promotion_step", mark_then_crash)

    def attempt() -> dict | None:
        """One try of the promote task: the steps, then (Airflow recorded success) the Asset event."""
        try:
            result = _promote(registry, sqlite_store)
            record_asset_event_sent(sqlite_store, result["promotion_id"])
        except Crash:
            return None
        return result

    assert attempt() is None and crashed == [step]
    rerun = attempt()
    everything_was_done = step == PROMOTION_STEPS[-1] and when == "after_it_was_recorded"
    assert rerun is not None and rerun["noop"] is everything_was_done  # noop only when nothing was left
    assert _normalised(_final_state(registry, sqlite_store)) == _normalised(clean_final_state)
    assert _final_state(registry, sqlite_store)["tagged_promoted_at_is_intent_time"]
    assert attempt()["noop"] is True  # and only now is a re-run a noop


@pytest.mark.parametrize(("challenger", "left"), [("2", {}), ("3", {"challenger": "3"})])
def test_promotion_takes_the_challenger_alias_off_the_version_it_makes_champion(
    sqlite_store: StateStore, challenger: str, left: dict
) -> None:
    """MLflow's champion/challenger convention: the challenger promoted is the champion, no longer a challenger
    (models:/m@challenger would load the champion). A challenger alias on another version (a newer retrain) stays."""
    registry = RegistryDouble(challenger=challenger)
    _approved(sqlite_store)
    _promote(registry, sqlite_store)
    assert registry.aliases == {"champion": "2", "previous_champion": "1", **left}


def test_the_previous_champion_comes_from_the_intent_not_from_the_registry_after_a_crash(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After champion moved, the registry says champion == the new version; the re-run must still set
    previous_champion to the old one (the intent recorded it)."""
    registry = RegistryDouble()
    _approved(sqlite_store)
    real_set = registry.set_alias

    def crash_before_previous(model: str, alias: str, version: str) -> None:
        if alias == "previous_champion":
            registry.aliases["champion"] = "2"  # as if the aliases were written in the other order
            raise Crash("killed")
        real_set(model, alias, version)

    monkeypatch.setattr(registry, "set_alias", crash_before_previous)
    with pytest.raises(Crash):
        _promote(registry, sqlite_store)
    monkeypatch.setattr(registry, "set_alias", real_set)
    assert _promote(registry, sqlite_store)["previous_version"] == "1"
    assert registry.aliases == {"champion": "2", "previous_champion": "1"}


@pytest.mark.parametrize(("decision", "expected"), [(None, "is pending"), (False, "is denied by bob")])
def test_the_gate_refuses_without_an_approved_request_and_changes_nothing(
    sqlite_store: StateStore, decision: bool | None, expected: str
) -> None:
    registry = RegistryDouble()
    approval, _ = sqlite_store.request_approval(
        MODEL, "2", dag_id=DAG_ID, run_id=RUN_ID, expires_at=utcnow() + timedelta(hours=1)
    )
    if decision is not None:
        sqlite_store.decide_approval(approval["id"], approve=decision, user="bob", via="cli")
    with pytest.raises(PromotionRefused, match=expected):
        _promote(registry, sqlite_store)
    assert registry.writes == 0 and sqlite_store.list_promotions(MODEL) == []


@pytest.mark.parametrize(("validated", "champion_now"), [("1", "3"), ("1", None), (None, "3")])
def test_promotion_is_refused_when_the_champion_moved_since_validation(
    sqlite_store: StateStore, validated: str | None, champion_now: str | None
) -> None:
    registry = RegistryDouble(champion=champion_now)  # e.g. a rollback while the approval was pending
    _approved(sqlite_store)
    with pytest.raises(PromotionRefused, match="Re-run validation") as refused:
        _promote(registry, sqlite_store, validated_champion=validated)
    said = str(refused.value)
    assert (f"validated against champion v{validated}" if validated else "validated against no champion") in said
    assert (f"champion is now v{champion_now}" if champion_now else "now no champion") in said
    assert registry.writes == 0 and sqlite_store.list_promotions(MODEL) == []


def test_an_approval_of_another_report_is_refused_naming_the_way_to_ask_again(sqlite_store: StateStore) -> None:
    """Validation was re-run but not the approval: re-running it with its downstream tasks asks again. Once a
    promotion began with the approval the request is never asked again: only a new run helps."""
    registry = RegistryDouble()
    approval = _approved(sqlite_store)
    gate = {"model_name": MODEL, "version": "2", "dag_id": DAG_ID, "run_id": RUN_ID, "report_digest": "d2"}
    with pytest.raises(PromotionRefused, match="given for report d1.*report is d2.*downstream"):
        check_promotion_gate(sqlite_store, **gate)
    _promote(registry, sqlite_store)  # promoted with report d1 (no digest checked by this call)
    assert sqlite_store.request_approval(
        MODEL, "2", dag_id=DAG_ID, run_id=RUN_ID, expires_at=utcnow() + timedelta(hours=1), report_digest="d2"
    ) == (sqlite_store.find_approval(MODEL, "2", dag_id=DAG_ID, run_id=RUN_ID), False)
    with pytest.raises(PromotionRefused, match=f"promotion .* already began.*new run of '{DAG_ID}'"):
        check_promotion_gate(sqlite_store, **gate)
    assert sqlite_store.get_approval(approval["id"])["status"] == "approved"


def test_the_first_model_is_promoted_when_there_is_still_no_champion(sqlite_store: StateStore) -> None:
    registry = RegistryDouble(champion=None)
    _approved(sqlite_store)
    result = _promote(registry, sqlite_store, validated_champion=None)
    assert result["previous_version"] is None and registry.aliases == {"champion": "2"}


def test_a_completed_promotion_rerun_after_the_champion_moved_is_refused_and_changes_nothing(
    sqlite_store: StateStore,
) -> None:
    """A cleared, completed promote task must not succeed: its success would send a champion Asset event
    naming a version that no longer serves."""
    registry = RegistryDouble()
    _approved(sqlite_store)
    record_asset_event_sent(sqlite_store, _promote(registry, sqlite_store)["promotion_id"])
    rollback_champion(registry, sqlite_store, model_name=MODEL, registered_model=MODEL, user="oncall")
    writes, trail = registry.writes, len(sqlite_store.audit_trail(MODEL))
    with pytest.raises(PromotionRefused, match=r"v2.*champion is now v1") as refused:
        _promote(registry, sqlite_store)
    assert "completed" in str(refused.value) and "no champion Asset event" in str(refused.value)
    assert registry.aliases["champion"] == "1" and registry.writes == writes
    assert len(sqlite_store.audit_trail(MODEL)) == trail
    assert sqlite_store.list_promotions(MODEL)[0]["status"] == "completed"


def test_a_rollback_to_the_champions_own_version_is_refused_but_an_interrupted_one_still_completes(
    sqlite_store: StateStore,
) -> None:
    """previous_champion set by hand to the champion's version: RollbackOperator must not record "v3 -> v3". A
    rollback that died after moving the champion back leaves both aliases on one version too: that one completes."""
    registry = RegistryDouble(champion="3")
    registry.aliases["previous_champion"] = "3"
    with pytest.raises(PromotionRefused, match=r"'previous_champion' alias points at v3.*'champion'.*set_registered"):
        rollback_champion(registry, sqlite_store, model_name=MODEL, registered_model=MODEL, user="oncall")
    assert registry.writes == 0 and sqlite_store.audit_trail(MODEL) == []
    registry = RegistryDouble(champion="2")
    registry.aliases["previous_champion"] = "1"
    sqlite_store.audit(
        "rollback_started",
        actor="oncall",
        model_name=MODEL,
        subject="version:1",
        details={"from_version": "2", "to_version": "1"},
    )
    registry.aliases["champion"] = "1"  # died here: the champion moved, previous_champion not removed yet
    result = rollback_champion(registry, sqlite_store, model_name=MODEL, registered_model=MODEL, user="oncall")
    assert (result["version"], result["rolled_back_version"], result["resumed"]) == ("1", "2", True)
    assert registry.aliases == {"champion": "1"}


def test_a_rollback_that_moved_nothing_is_not_resumed_by_the_next_person_who_starts_their_own(
    sqlite_store: StateStore,
) -> None:
    """Bob's rollback was refused on the alias write (403): nothing moved in MLflow, only his intent is recorded.
    Carol's later rollback is her own (her reason, her DAG run, her name on the tags); Bob's intent is recorded as
    abandoned, the audit trail kept append-only."""
    registry = RegistryDouble(champion="2")
    registry.aliases["previous_champion"] = "1"

    def refused(*args: Any, **kwargs: Any) -> None:
        raise PermissionError("403 PERMISSION_DENIED")

    real_set_alias, registry.set_alias = registry.set_alias, refused  # type: ignore[method-assign]
    bob = {"dag_id": "rollback__fraud", "run_id": "manual__bob"}
    with pytest.raises(PermissionError):
        rollback_champion(
            registry, sqlite_store, model_name=MODEL, registered_model=MODEL, user="bob", reason="r-bob", identity=bob
        )
    registry.set_alias = real_set_alias  # type: ignore[method-assign]
    [bobs_intent] = sqlite_store.audit_trail(MODEL)
    assert unfinished_rollback(sqlite_store, MODEL, current="2", previous="1") is None  # nothing to complete

    result = rollback_champion(
        registry,
        sqlite_store,
        model_name=MODEL,
        registered_model=MODEL,
        user="carol",
        reason="r-carol",
        identity={"login": "carol"},
    )

    assert (result["version"], result["rolled_back_version"], result["resumed"]) == ("1", "2", False)
    assert result["abandoned_intent"]["actor"] == "bob"
    assert registry.tags["1"]["agentic_mlops.restored_by"] == "carol"
    assert registry.tags["2"]["agentic_mlops.rolled_back_by"] == "carol"
    done, started, abandoned, first = sqlite_store.audit_trail(MODEL)
    assert first["id"] == bobs_intent["id"] and first["details"]["reason"] == "r-bob"  # unchanged
    assert (abandoned["action"], abandoned["subject"]) == ("rollback_abandoned", f"intent:{bobs_intent['id']}")
    assert abandoned["details"]["started_by"] == "bob" and abandoned["details"]["dag_id"] == "rollback__fraud"
    assert (started["action"], started["actor"], started["details"]["reason"]) == (
        "rollback_started",
        "carol",
        "r-carol",
    )
    assert (done["action"], done["actor"], done["details"]["started_by"]) == ("rollback", "carol", "carol")
    assert done["details"]["reason"] == "r-carol" and done["details"]["intent_id"] == started["id"]
    assert "dag_id" not in done["details"] and "run_id" not in done["details"]


def test_completing_a_rollback_that_moved_the_champion_stamps_whoever_completed_it(sqlite_store: StateStore) -> None:
    registry = RegistryDouble(champion="1")  # bob's rollback moved the champion back, then died
    registry.aliases["previous_champion"] = "1"
    sqlite_store.audit(
        "rollback_started",
        actor="bob",
        model_name=MODEL,
        subject="version:1",
        details={"from_version": "2", "to_version": "1", "reason": "r-bob"},
    )
    result = rollback_champion(registry, sqlite_store, model_name=MODEL, registered_model=MODEL, user="carol")
    assert result["resumed"] is True and "abandoned_intent" not in result
    assert registry.tags["1"]["agentic_mlops.restored_by"] == "carol"
    done = sqlite_store.audit_trail(MODEL)[0]
    assert (done["actor"], done["details"]["started_by"], done["details"]["reason"]) == ("carol", "bob", "r-bob")


def _interrupted_at_tags(registry: RegistryDouble, store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run 1's promotion of v2 stops after ``champion`` moved: MLflow failed at the tags step, retries ran out."""
    _approved(store)

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("MLflow down")

    with monkeypatch.context() as patched:
        patched.setattr(registry, "set_version_tags", down)
        with pytest.raises(ConnectionError):
            _promote(registry, store)
    assert registry.aliases == {"champion": "2", "previous_champion": "1"}


def _promoted_versions(store: StateStore) -> list[tuple[str, str]]:
    return [(a["action"], a["subject"]) for a in store.audit_trail(MODEL) if a["action"] in ("promoted", "rollback")]


def test_a_half_done_promotion_resumed_after_a_rollback_is_refused_and_closed_as_overtaken(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = RegistryDouble()
    _interrupted_at_tags(registry, sqlite_store, monkeypatch)
    rollback_champion(registry, sqlite_store, model_name=MODEL, registered_model=MODEL, user="oncall", reason="bad")
    assert registry.aliases == {"champion": "1"}
    writes = registry.writes

    with pytest.raises(PromotionRefused) as refused:  # the promote task is cleared, as the README says
        _promote(registry, sqlite_store)
    said = str(refused.value)
    assert "v2" in said and "champion is now v1" in said and "rollback to v1 started" in said and "oncall" in said
    assert "no champion Asset event" in said and "new run" in said
    assert registry.aliases == {"champion": "1"} and registry.writes == writes
    assert "agentic_mlops.promoted_at" not in registry.tags["2"]
    assert _promoted_versions(sqlite_store) == [("rollback", "version:1")]  # no false "promoted v2"
    (promotion,) = sqlite_store.list_promotions(MODEL)
    assert promotion["status"] == "overtaken"
    (closed,) = [a for a in sqlite_store.audit_trail(MODEL) if a["action"] == "promotion_overtaken"]
    assert closed["subject"] == f"promotion:{promotion['id']}" and closed["details"]["champion_now"] == "1"

    with pytest.raises(PromotionRefused, match="overtaken"):  # cleared once more: still refused, nothing new
        _promote(registry, sqlite_store)
    assert len([a for a in sqlite_store.audit_trail(MODEL) if a["action"] == "promotion_overtaken"]) == 1


def test_a_half_done_promotion_resumed_after_a_later_promotion_is_refused(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = RegistryDouble()
    _interrupted_at_tags(registry, sqlite_store, monkeypatch)
    _approve_and_promote_v3(registry, sqlite_store, send_event=False)
    with pytest.raises(PromotionRefused, match=r"champion is now v3.*promoted v3"):
        _promote(registry, sqlite_store)
    assert registry.aliases == {"champion": "3", "previous_champion": "2"}
    assert _promoted_versions(sqlite_store) == [("promoted", "version:3")]


def test_a_resumed_promotion_is_refused_when_the_audit_trail_shows_a_later_champion_change(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before ``champion`` moved there is no alias to compare; the audit trail still tells a later change,
    also when no validation said which champion the version was compared with."""
    registry = RegistryDouble()
    _approved(sqlite_store)
    monkeypatch.setattr(sqlite_store, "mark_promotion_step", lambda *a, **k: (_ for _ in ()).throw(Crash("killed")))
    with pytest.raises(Crash):
        _promote(registry, sqlite_store, validated_champion=UNKNOWN_CHAMPION)
    monkeypatch.undo()
    registry.aliases = {"champion": "3", "previous_champion": "1"}  # as another run's promotion left them
    sqlite_store.audit("promoted", actor="bob", model_name=MODEL, subject="version:3", details={})
    with pytest.raises(PromotionRefused, match=r"champion is now v3"):
        _promote(registry, sqlite_store, validated_champion=UNKNOWN_CHAMPION)
    assert registry.aliases == {"champion": "3", "previous_champion": "1"}
    assert sqlite_store.list_promotions(MODEL)[0]["status"] == "overtaken"


def test_a_half_done_promotion_still_serving_its_version_is_completed(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing moved since: the README's 'clear the promote task' completes it, as before."""
    registry = RegistryDouble()
    _interrupted_at_tags(registry, sqlite_store, monkeypatch)
    result = _promote(registry, sqlite_store)
    assert result["noop"] is False and result["steps_done_before"] == ["previous_alias", "champion_alias"]
    assert _promoted_versions(sqlite_store) == [("promoted", "version:2")]


def _approve_and_promote_v3(registry: RegistryDouble, store: StateStore, *, send_event: bool = True) -> dict:
    """Run 2 promotes v3, validated against the champion then serving (v2), and completes (with
    ``send_event=False``, up to the Asset event, not sent)."""
    later, _ = store.request_approval(
        MODEL, "3", dag_id=DAG_ID, run_id="run2", expires_at=utcnow() + timedelta(hours=1)
    )
    store.decide_approval(later["id"], approve=True, user="alice", via="cli")
    result = promote_version(
        registry,
        store,
        model_name=MODEL,
        registered_model=MODEL,
        version="3",
        dag_id=DAG_ID,
        run_id="run2",
        validated_champion="2",
    )
    if send_event:
        record_asset_event_sent(store, result["promotion_id"])
    return result


def test_a_rollback_closes_a_half_done_promotion_it_overtook(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator rolls back instead of clearing the stopped promote task: the promotion can never be
    completed, so it is closed then, not left shown as in progress with advice that would be refused."""
    registry = RegistryDouble()
    _interrupted_at_tags(registry, sqlite_store, monkeypatch)
    rollback_champion(registry, sqlite_store, model_name=MODEL, registered_model=MODEL, user="oncall")
    (promotion,) = sqlite_store.list_promotions(MODEL)
    assert promotion["status"] == "overtaken"
    assert unfinished_promotions(sqlite_store, MODEL) == []
    (closed,) = [a for a in sqlite_store.audit_trail(MODEL) if a["action"] == "promotion_overtaken"]
    assert closed["details"]["champion_now"] == "1" and closed["actor"] == "oncall"

    with pytest.raises(PromotionRefused) as refused:  # its promote task cleared anyway: refused, naming why
        _promote(registry, sqlite_store)
    assert "champion is now v1" in str(refused.value) and "rolled back to v1 by oncall" in str(refused.value)
    assert len([a for a in sqlite_store.audit_trail(MODEL) if a["action"] == "promotion_overtaken"]) == 1


def test_a_later_promotion_closes_an_older_one_whose_asset_event_was_never_marked(
    sqlite_store: StateStore,
) -> None:
    registry = RegistryDouble()
    _approved(sqlite_store)
    _promote(registry, sqlite_store)  # every step but the Asset event: the success callback never ran
    newer = _approve_and_promote_v3(registry, sqlite_store)
    statuses = {p["id"]: p["status"] for p in sqlite_store.list_promotions(MODEL)}
    assert statuses == {newer["promotion_id"] - 1: "overtaken", newer["promotion_id"]: "completed"}
    assert unfinished_promotions(sqlite_store, MODEL) == []


def test_a_promotion_overtaken_in_the_audit_trail_but_still_open_is_shown_as_overtaken(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A promotion left open by a store written before later changes closed it: shown as overtaken, with
    nothing to do, not as serving its version with advice to clear its task (which would be refused)."""
    registry = RegistryDouble()
    _interrupted_at_tags(registry, sqlite_store, monkeypatch)
    sqlite_store.audit("rollback", actor="oncall", model_name=MODEL, subject="version:1", details={})
    (shown,) = unfinished_promotions(sqlite_store, MODEL)
    assert shown.startswith("v2 overtaken") and "rolled back to v1 by oncall" in shown
    assert "already points at" not in shown and "clear that task" not in shown and "nothing to do" in shown


def test_a_completed_promotion_rerun_when_a_rollback_put_its_version_back_says_it_already_serves(
    sqlite_store: StateStore,
) -> None:
    """v2 promoted and completed, v3 promoted, rolled back to v2: clearing v2's promote task changes nothing,
    and the refusal says v2 is the champion again through the rollback (not that v2 does not serve)."""
    registry = RegistryDouble()
    _approved(sqlite_store)
    record_asset_event_sent(sqlite_store, _promote(registry, sqlite_store)["promotion_id"])
    _approve_and_promote_v3(registry, sqlite_store)
    rollback_champion(registry, sqlite_store, model_name=MODEL, registered_model=MODEL, user="oncall")
    assert registry.aliases == {"champion": "2"}
    writes, trail = registry.writes, len(sqlite_store.audit_trail(MODEL))
    with pytest.raises(PromotionRefused) as refused:
        _promote(registry, sqlite_store)
    said = str(refused.value)
    assert "completed earlier" in said and "rolled back to v2 by oncall" in said
    assert "v2 is the champion again through a later change" in said and "nothing to do" in said
    assert "does not serve" not in said and "To make v2 the champion" not in said
    assert registry.writes == writes and len(sqlite_store.audit_trail(MODEL)) == trail


def test_a_change_that_put_its_version_back_is_named_when_a_half_done_promotion_is_refused(
    sqlite_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1 stopped after moving champion to v2; v3 was promoted and rolled back to v2 by hand in the
    trail: v2 serves again, through those changes, and the refusal says so."""
    registry = RegistryDouble()
    _interrupted_at_tags(registry, sqlite_store, monkeypatch)
    sqlite_store.audit("promoted", actor="bob", model_name=MODEL, subject="version:3", details={})
    sqlite_store.audit("rollback", actor="oncall", model_name=MODEL, subject="version:2", details={})
    with pytest.raises(PromotionRefused) as refused:
        _promote(registry, sqlite_store)
    said = str(refused.value)
    assert "v2 is the champion again through a later change" in said and "nothing to do" in said
    assert "does not serve" not in said and "while it does not serve" not in said
    assert sqlite_store.list_promotions(MODEL)[0]["status"] == "overtaken"


def test_a_step_of_a_promotion_closed_as_overtaken_is_refused_and_leaves_it_closed(sqlite_store: StateStore) -> None:
    """A re-run that passed its overtaken check just before a later change closed its promotion must not
    reopen or complete the closed row, nor write its audit entry."""
    from airflow_provider_agentic_mlops.core.state import StateStoreError

    approval = _approved(sqlite_store)
    promotion, _ = sqlite_store.begin_promotion(approval, registered_model="registry-name", previous_version="1")
    sqlite_store.close_promotion_overtaken(
        promotion["id"],
        audit_entry={
            "action": "promotion_overtaken",
            "actor": "oncall",
            "model_name": MODEL,
            "subject": None,
            "details": {},
        },
    )
    entry = {"action": "promoted", "actor": "U1", "model_name": MODEL, "subject": "version:2", "details": {}}
    with pytest.raises(StateStoreError, match="overtaken"):
        sqlite_store.mark_promotion_step(promotion["id"], "audit", all_steps=PROMOTION_STEPS, audit_entry=entry)
    (closed,) = sqlite_store.list_promotions(MODEL)
    assert closed["status"] == "overtaken" and closed["steps"] == []
    assert not [a for a in sqlite_store.audit_trail(MODEL) if a["action"] == "promoted"]


@pytest.mark.parametrize(
    ("validation", "missing"),
    [
        (None, "no validation result"),
        ({}, "no validation result"),
        ({"passed": True, "champion_version": "1"}, "without 'report_digest'"),
        ({"passed": True, "report_digest": "d"}, "without 'champion_version'"),
    ],
)
def test_promotion_without_the_validation_result_is_refused_naming_the_task_and_the_fix(
    validation: dict[str, Any] | None, missing: str
) -> None:
    # a DAG whose validation task has another id: promote found no XCom and promoted a rejected challenger
    with pytest.raises(PromotionRefused) as refused:
        validated_report(validation, model_name=MODEL, version="2", validate_task_id="validate")
    message = str(refused.value)
    assert missing in message and "task 'validate'" in message and "validate_task_id=" in message


def test_a_rejected_challenger_is_refused_and_a_passed_one_returns_what_the_gate_checks() -> None:
    with pytest.raises(PromotionRefused, match="failed validation"):
        validated_report(
            {"passed": False, "report_digest": "d", "champion_version": "1"},
            model_name=MODEL,
            version="2",
            validate_task_id="validate",
        )
    passed = {"passed": True, "report_digest": "d", "champion_version": None, "report_uri": "runs:/r/x.html"}
    assert validated_report(passed, model_name=MODEL, version="2", validate_task_id="validate") == passed


def test_a_report_changed_after_approval_is_refused_naming_the_artifact(sqlite_store: StateStore) -> None:
    # report.md/.html overwritten in the challenger's run after validation: promotion went through
    from airflow_provider_agentic_mlops.core.validation import markdown_digest

    approved = "# Validation: PASSED\n"
    approval, _ = sqlite_store.request_approval(
        MODEL,
        "2",
        dag_id=DAG_ID,
        run_id=RUN_ID,
        expires_at=utcnow() + timedelta(hours=1),
        report_digest=markdown_digest(approved),
    )
    sqlite_store.decide_approval(approval["id"], approve=True, user="alice", via="cli")
    gate = {
        "model_name": MODEL,
        "version": "2",
        "dag_id": DAG_ID,
        "run_id": RUN_ID,
        "report_digest": markdown_digest(approved),
    }
    md = "runs:/r/agentic_mlops/validation/report.md"

    with pytest.raises(PromotionRefused, match=r"runs:/r/agentic_mlops/validation/report\.md .*changed"):
        check_promotion_gate(sqlite_store, **gate, stored_reports=[StoredReport(md, "# Validation: PASSED (edited)\n")])
    assert (
        check_promotion_gate(sqlite_store, **gate, stored_reports=[StoredReport(md, approved)])["id"] == approval["id"]
    )

    # report.html, the page the approvals page and Slack link to, is bound too: by its digest at validation
    html = "<html>PASSED</html>"
    page = "runs:/r/agentic_mlops/validation/report.html"

    def stored(page_now: str) -> list[StoredReport]:
        return [StoredReport(md, approved), StoredReport(page, page_now, digest=markdown_digest(html))]

    with pytest.raises(PromotionRefused, match=r"runs:/r/agentic_mlops/validation/report\.html .*changed"):
        check_promotion_gate(sqlite_store, **gate, stored_reports=stored("<html>PASSED, trust me</html>"))
    assert check_promotion_gate(sqlite_store, **gate, stored_reports=stored(html))["id"] == approval["id"]


def test_the_promotion_records_the_approved_report_digest_and_utc_times(sqlite_store: StateStore) -> None:
    # the audit entry and the version's tags did not say which report was approved; times had no zone
    from datetime import datetime

    registry = RegistryDouble()
    _approved(sqlite_store)
    _promote(registry, sqlite_store)
    tags = registry.tags["2"]
    assert tags["agentic_mlops.report_digest"] == "d1"
    for key in ("agentic_mlops.approved_at", "agentic_mlops.promoted_at"):
        assert tags[key].endswith("+00:00") and datetime.fromisoformat(tags[key]).utcoffset() == timedelta(0)
    (promoted,) = [a for a in sqlite_store.audit_trail(MODEL) if a["action"] == "promoted"]
    assert promoted["details"]["report_digest"] == "d1"


def test_a_run_whose_version_another_run_already_promoted_changes_nothing_and_says_since_when(
    sqlite_store: StateStore,
) -> None:
    """Run 2 attached to run 1's retrain (the same v2), both approved: run 1 promotes; run 2 found the
    champion already on v2 and promoted it again, a second 'promoted' entry and Asset event, and overwrote
    the first approver's tags on the version."""
    registry = RegistryDouble()
    _approved(sqlite_store)  # run1, alice
    record_asset_event_sent(sqlite_store, _promote(registry, sqlite_store)["promotion_id"])
    other, _ = sqlite_store.request_approval(
        MODEL, "2", dag_id=DAG_ID, run_id="run2", expires_at=utcnow() + timedelta(hours=1), report_digest="d1"
    )
    sqlite_store.decide_approval(other["id"], approve=True, user="bob", via="cli")
    writes, trail = registry.writes, len(sqlite_store.audit_trail(MODEL))
    (promoted,) = [a for a in sqlite_store.audit_trail(MODEL) if a["action"] == "promoted"]

    result = promote_version(
        registry,
        sqlite_store,
        model_name=MODEL,
        registered_model=MODEL,
        version="2",
        dag_id=DAG_ID,
        run_id="run2",
        validated_champion="1",
    )

    assert result["noop"] is True and result["promotion_id"] is None and result["approval_id"] == other["id"]
    assert result["previous_version"] == "1"
    assert result["already_champion_since"]["audit_id"] == promoted["id"]
    assert result["already_champion_since"]["run_id"] == RUN_ID
    assert "v2 is already the champion since alice's promotion in DAG run 'run1'" in result["reason"]
    assert registry.writes == writes and registry.tags["2"]["agentic_mlops.approved_by"] == "alice"
    assert len(sqlite_store.audit_trail(MODEL)) == trail  # no 'promoted' entry, nor a promotion started
    assert [p["run_id"] for p in sqlite_store.list_promotions(MODEL)] == [RUN_ID]


@pytest.mark.parametrize(
    ("registered", "aliases", "has_versions", "status", "says"),
    [
        (False, (), False, "absent", "does not exist (a first model)"),
        (True, ("champion",), True, "unavailable", "boom"),
        (True, ("previous_champion",), True, "unavailable", "the model had one"),
        (True, (), False, "unavailable", "has no version left"),
        (True, ("challenger",), True, "absent", "set_registered_model_alias('m', 'champion', <version>)"),
    ],
)
def test_a_champion_that_did_not_load_is_absent_only_when_the_registry_shows_none_yet(
    registered: bool, aliases: tuple, has_versions: bool, status: str, says: str
) -> None:
    from airflow_provider_agentic_mlops.core.promotion import champion_status

    versions = lambda: has_versions  # noqa: E731
    found = champion_status("m", "champion", "boom", registered=registered, aliases=aliases, has_versions=versions)
    assert found[0] == status and says in found[1], found
