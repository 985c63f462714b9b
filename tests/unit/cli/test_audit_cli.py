"""``airflow agentic-mlops audit list``: the audit trail, read without SQL."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_agentic_mlops.cli.definition import main, since
from airflow_provider_agentic_mlops.hooks.state import StateStoreHook
from tests.approval_data import request_approval

KEYS = ["id", "at", "actor", "action", "model_name", "subject", "details"]


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "models.yaml"))  # none unless written
    return StateStoreHook().get_store()


def _trail(store) -> None:
    store.record_decision("fraud", mode="rules", final_action="escalate", rationale="severe drift")
    store.audit("escalated", actor="agent", model_name="fraud", subject="decision:1", details={"channel": "#ml"})
    request_approval(store, model_name="fraud", run_id="r1")
    store.audit("escalated", actor="agent", model_name="churn", subject="decision:9")


def _json(argv, capsys) -> list[dict]:
    main(argv)
    return json.loads(capsys.readouterr().out)


def test_audit_list_shows_a_models_trail_newest_first_with_stable_keys_and_utc_times(store, capsys) -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    _trail(store)
    rows = _json(["audit", "list", "--model", "fraud", "-o", "json"], capsys)
    actions = [row["action"] for row in rows]
    assert actions[-2:] == ["escalated", "decision"] and "approval_requested" in actions[:-2]
    assert [row["id"] for row in rows] == sorted((row["id"] for row in rows), reverse=True)
    assert all(list(row) == KEYS and row["model_name"] == "fraud" for row in rows)
    for row in rows:
        at = datetime.fromisoformat(row["at"])
        assert at.utcoffset() == timedelta(0) and at >= before
    escalated = next(row for row in rows if row["action"] == "escalated")
    assert escalated["details"] == {"channel": "#ml"} and escalated["subject"] == "decision:1"


def test_audit_list_filters_by_action_and_limits(store, capsys) -> None:
    _trail(store)
    rows = _json(["audit", "list", "--action", "escalated", "-o", "json"], capsys)
    assert [(row["action"], row["model_name"]) for row in rows] == [("escalated", "churn"), ("escalated", "fraud")]
    assert len(_json(["audit", "list", "--limit", "1", "-o", "json"], capsys)) == 1
    main(["audit", "list", "--model", "fraud"])
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == KEYS and any("escalated" in line for line in table[2:])


def test_audit_list_since_takes_a_duration_or_an_iso_time(store, capsys) -> None:
    _trail(store)
    assert len(_json(["audit", "list", "--since", "1h", "-o", "json"], capsys)) >= 4
    assert _json(["audit", "list", "--since", "2999-01-01", "-o", "json"], capsys) == []
    past = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    assert len(_json(["audit", "list", "--since", past, "-o", "json"], capsys)) >= 4


@pytest.mark.parametrize("value", ["yesterday", "7", "-1d", "2026-13-45"])
def test_audit_list_refuses_a_since_it_cannot_read_naming_the_value_and_the_forms(store, value, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["audit", "list", f"--since={value}"])
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"argument --since: {value!r}" in err and "7d" in err and "2026-11-28" in err


@pytest.mark.parametrize("value", ["999999d", "9999999999d", "P9999999999D"])
def test_a_since_too_long_is_a_usage_error_naming_the_longest(store, value, capsys) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="longer than the longest accepted, 36525d"):
        since(value)
    with pytest.raises(SystemExit) as exc:
        main(["audit", "list", f"--since={value}"])
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"argument --since: --since {value!r}" in err and "36525d" in err and "2026-11-28" in err


@pytest.mark.parametrize("value", ["0001-01-01T00:00+02:00"])
def test_a_since_before_year_one_is_a_usage_error_not_an_overflow(store, value, capsys) -> None:
    # datetime arithmetic past year 1 raises OverflowError, which argparse does not turn into a usage error
    with pytest.raises(argparse.ArgumentTypeError, match="before year 1"):
        since(value)
    with pytest.raises(SystemExit) as exc:
        main(["audit", "list", f"--since={value}"])
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"argument --since: {value!r}" in err and "7d" in err and "2026-11-28" in err


def test_audit_list_notes_an_action_the_store_never_recorded(store, capsys) -> None:
    _trail(store)
    main(["audit", "list", "--action", "escalate", "-o", "json"])
    printed = capsys.readouterr()
    assert json.loads(printed.out) == []
    assert "'escalate'" in printed.err and "escalated" in printed.err
