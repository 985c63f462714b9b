"""``airflow agentic-mlops decisions list|show`` on a real state store (SQLite in a tmp AIRFLOW_HOME)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

import pytest

from airflow_provider_agentic_mlops.cli.commands.decisions import decisions_list, decisions_show
from airflow_provider_agentic_mlops.cli.output import CommandStopped
from airflow_provider_agentic_mlops.core.config import DecisionConfig
from airflow_provider_agentic_mlops.core.decision import LLMReply, ModelHistory, decide
from airflow_provider_agentic_mlops.hooks.state import StateStoreHook
from tests.approval_data import approve_and_promote
from tests.model_history_data import record_decision_before_digests


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "models.yaml"))  # none unless written
    return StateStoreHook().get_store()


DRIFT = {
    "drift_share": 0.3,
    "n_columns": 2,
    "n_drifted": 1,
    "columns": {"amount": {"score": 0.8, "method": "psi", "threshold": 0.1, "drifted": True, "type": "num"}},
    "top_drifted": [{"column": "amount", "score": 0.8, "method": "psi", "threshold": 0.1}],
    "data_quality": {"null_share": {}, "missing_columns": [], "schema_errors": []},
}


def llm_saying(action: str):
    def llm(*, messages, tools, response_format, max_tokens, validate):
        content = json.dumps({"action": action, "rationale": "LLM reasons here", "confidence": 0.6, "evidence": ["e1"]})
        return LLMReply(
            content=content, answer=validate(content, None), prompt_tokens=800, completion_tokens=70, model="gpt-4o-08"
        )

    return llm


def record(
    store, model: str, *, share: float = 0.3, last_retrain_hours_ago: float | None = None, run_id: str = "manual__1"
) -> int:
    now = datetime(2025, 6, 1, 12)
    last = None
    if last_retrain_hours_ago is not None:
        from datetime import timedelta

        last = {"id": 1, "status": "succeeded", "started_at": now - timedelta(hours=last_retrain_hours_ago)}
    decision = decide(
        model_name=model,
        drift={**DRIFT, "drift_share": share},
        history=ModelHistory(now=now, last_retrain=last),
        config=DecisionConfig(),
        mode="llm",
        llm=llm_saying("retrain"),
        llm_identity={"conn_id": "llm_prod", "model": "gpt-4o", "base_url": "https://llm.example.com/v1"},
    )
    return store.record_decision(model, dag_id=f"agentic_mlops__{model}", run_id=run_id, **decision.record_fields())


def ns(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"model": None, "limit": 20, "output": "table", "state_conn_id": None, **kw})


def test_list_shows_newest_first_with_action_override_and_tokens(store, capsys):
    first = record(store, "fraud")
    second = record(store, "fraud", last_retrain_hours_ago=2)  # cooldown: the LLM's retrain is overridden
    record(store, "churn")
    decisions_list(ns(model="fraud"))
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:6] == ["id", "created_at", "model_name", "mode", "decided_by", "final_action"]
    body = out[2:]
    assert [line.split()[0] for line in body] == [str(second), str(first)]
    assert "guardrail" in body[0] and "escalate" in body[0] and "870" in body[0]
    assert "LLM chose 'retrain'" in body[0]
    assert "llm" in body[1] and "retrain" in body[1]


def test_list_as_json_with_a_limit(store, capsys):
    for _ in range(3):
        record(store, "fraud")
    decisions_list(ns(output="json", limit=2))
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and rows[0]["id"] > rows[1]["id"]
    assert rows[0]["tokens"] == 870 and rows[0]["final_action"] == "retrain"


def test_list_when_empty_says_none(store, capsys):
    decisions_list(ns())
    assert capsys.readouterr().out.strip() == "(none)"


def test_show_prints_the_full_trace(store, capsys):
    decision_id = record(store, "fraud", last_retrain_hours_ago=2)
    decisions_show(ns(decision_id=decision_id))
    out = capsys.readouterr().out
    assert out.startswith(f"Decision {decision_id}  model fraud")
    for expected in (
        "Action:      escalate  (decided by guardrail, mode llm)",
        "LLM action:  retrain",
        "LLM:         gpt-4o (answered as gpt-4o-08) at https://llm.example.com/v1, connection llm_prod",
        "Override:    LLM chose 'retrain'",
        "- cooldown: retrain not allowed",
        "Tokens:      prompt 800, completion 70 (total 870)",
        "Inputs (sha256 ",
        '"drift_share": 0.3',
        "[system]",
        "[user]",
        '<untrusted-data id="',
        "Raw answer:",
        '"action": "retrain"',
    ):
        assert expected in out, expected


def test_show_as_json_round_trips_the_stored_row(store, capsys):
    decision_id = record(store, "fraud")
    decisions_show(ns(decision_id=decision_id, output="json"))
    row = json.loads(capsys.readouterr().out)
    assert row["id"] == decision_id and row["prompt"][1]["role"] == "user" and row["evidence"] == ["e1"]


def test_show_unknown_id_is_a_clear_error(store):
    with pytest.raises(CommandStopped, match="decision 999 is not in the state store.*decisions list"):
        decisions_show(ns(decision_id=999))


def test_a_decision_the_store_does_not_hold_ends_in_one_error_line_as_other_mistakes_do(store, iso_store):
    from airflow_provider_agentic_mlops.cli.definition import main

    record(store, "fraud")
    churn = record(store, "churn")
    for argv, expected in (
        (["decisions", "show", "999"], "error: decision 999 is not in the state store 'agentic_mlops_state_default'"),
        (["decisions", "show", str(churn), "--model", "fraud"], f"error: decision {churn} in state store "),
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        message = str(exc.value.code)
        assert message.startswith(expected) and "\n" not in message, message


@pytest.mark.usefixtures("commands_as_on_airflow_3_1")
def test_on_airflow_3_1_the_error_names_the_console_script_to_list_the_ids(store):
    with pytest.raises(CommandStopped, match="list the ids with `agentic-mlops decisions list`"):
        decisions_show(ns(decision_id=999))


def test_wired_in_the_agentic_mlops_command(store, capsys):
    from airflow_provider_agentic_mlops.cli.definition import main

    decision_id = record(store, "fraud")
    main(["decisions", "show", str(decision_id), "-o", "json"])
    assert json.loads(capsys.readouterr().out)["id"] == decision_id
    main(["decisions", "list", "--model", "fraud", "--limit", "1"])
    assert str(decision_id) in capsys.readouterr().out


def test_without_state_conn_id_the_cli_reads_the_store_the_setting_names(store, tmp_path, monkeypatch, capsys):
    from airflow_provider_agentic_mlops.cli.definition import main

    team = tmp_path / "team.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEAM_STATE",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": f"sqlite:///{team}"}}),
    )
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID", "team_state")
    record(StateStoreHook("team_state").get_store(), "fraud")
    record(store, "other")  # in the default store, which the setting moved away from
    main(["decisions", "list", "-o", "json"])
    assert [row["model_name"] for row in json.loads(capsys.readouterr().out)] == ["fraud"]


def test_show_lists_the_evidence_read_apart_from_the_evidence_the_llm_cited(store, capsys):
    evidence = {
        "faults": [{"column": "amount", "kind": "scale_change", "detail": "scale changed about x1000"}],
        "performance": None,
        "severity": {"weighted_share": 0.3, "importance_source": "equal weights", "n_drifted_after_fdr": 1, "top": []},
        "notes": [],
    }
    decision = decide(
        model_name="fraud",
        drift={**DRIFT, "evidence": evidence},
        history=ModelHistory(now=datetime(2025, 6, 1, 12)),
        config=DecisionConfig(),
        mode="rules",
    )
    decision_id = store.record_decision("fraud", dag_id="agentic_mlops__fraud", **decision.record_fields())
    decisions_show(argparse.Namespace(decision_id=decision_id, output="table", state_conn_id=None))
    out = capsys.readouterr().out
    assert "Evidence:\n  Pipeline faults: column 'amount': scale_change: scale changed about x1000\n" in out
    assert "  Drift severity: 30.0% of the model's importance on drifted columns" in out
    assert "Evidence cited by the LLM" not in out

    decision_id = record(store, "fraud")  # an LLM decision: what it cited, under its own heading
    decisions_show(argparse.Namespace(decision_id=decision_id, output="table", state_conn_id=None))
    assert "Evidence cited by the LLM:\n  - e1\n" in capsys.readouterr().out


def test_show_prints_a_stored_evidence_table_of_another_shape_as_it_is(store, capsys):
    """A decision recorded by an older provider (or from odd data): shown, not a traceback."""
    evidence = {"faults": [], "faults_omitted": "many", "notes": 5, "performance": {"drop": 0.1, "class_mix": [1]}}
    decision_id = store.record_decision(
        "fraud",
        mode="rules",
        final_action="escalate",
        decided_by="rules",
        dag_id="agentic_mlops__fraud",
        rationale="r",
        rules_fired=[],
        evidence=[],
        inputs={"drift": {**DRIFT, "evidence": evidence}},
        prompt=[],
        raw_answer="",
        prompt_tokens=0,
        completion_tokens=0,
    )
    decisions_show(argparse.Namespace(decision_id=decision_id, output="table", state_conn_id=None))
    out = capsys.readouterr().out
    assert '  Pipeline faults: {"faults": [], "faults_omitted": "many"}\n' in out
    assert '  Performance: {"drop": 0.1, "class_mix": [1]}\n' in out
    assert "  Notes: 5\n" in out


OWN_STORE_MODELS = """
defaults:
  retrain: {python_callable: "m:f"}
models:
  - {name: fraud, drift: {reference: r.parquet, current: c.parquet, label_column: y}}
  - {name: churn, drift: {reference: r.parquet, current: c.parquet, label_column: y}}
  - {name: iso, state_conn_id: iso_state, drift: {reference: r.parquet, current: c.parquet, label_column: y}}
"""


@pytest.fixture
def iso_store(store, tmp_path, monkeypatch):
    """Model ``iso`` keeps its records in a store of its own (models.yaml ``state_conn_id: iso_state``)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_ISO_STATE",
        json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": f"sqlite:///{tmp_path / 'iso.db'}"}}),
    )
    (tmp_path / "models.yaml").write_text(OWN_STORE_MODELS)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "models.yaml"))
    return StateStoreHook("iso_state").get_store()


def test_a_model_with_its_own_store_has_its_decisions_listed_and_shown_from_that_store(store, iso_store, capsys):
    from airflow_provider_agentic_mlops.cli.definition import main

    assert record(iso_store, "iso") == record(store, "fraud") == 1  # ids are numbered per store
    main(["decisions", "list", "--model", "iso", "-o", "json"])
    assert [(row["id"], row["model_name"]) for row in json.loads(capsys.readouterr().out)] == [(1, "iso")]
    main(["decisions", "show", "1", "--model", "iso", "-o", "json"])
    shown = json.loads(capsys.readouterr().out)
    assert (shown["model_name"], shown["state_conn_id"]) == ("iso", "iso_state")
    main(["decisions", "show", "1", "--model", "iso"])
    out = capsys.readouterr().out
    assert out.startswith("Decision 1  model iso") and "State store: iso_state\n" in out


def test_show_without_model_names_its_store_and_the_models_that_keep_their_own(store, iso_store, capsys):
    from airflow_provider_agentic_mlops.cli.definition import main

    record(iso_store, "iso")
    record(store, "fraud")
    main(["decisions", "show", "1"])
    printed = capsys.readouterr()
    assert printed.out.startswith("Decision 1  model fraud")
    assert "State store: agentic_mlops_state_default\n" in printed.out
    assert "iso (iso_state)" in printed.err and "--model NAME" in printed.err


def test_list_without_model_says_which_models_keep_their_decisions_elsewhere(store, iso_store, capsys):
    from airflow_provider_agentic_mlops.cli.definition import main

    record(iso_store, "iso")
    record(store, "fraud")
    main(["decisions", "list", "-o", "json"])
    printed = capsys.readouterr()
    assert [row["model_name"] for row in json.loads(printed.out)] == ["fraud"]
    assert "'agentic_mlops_state_default'" in printed.err and "iso (iso_state)" in printed.err


def test_show_with_model_refuses_another_models_decision_of_the_same_store(store, iso_store):
    from airflow_provider_agentic_mlops.cli.definition import main

    record(store, "fraud")
    churn = record(store, "churn")
    with pytest.raises(SystemExit, match=f"decision {churn} in state store 'agentic_mlops_state_default' is churn's"):
        main(["decisions", "show", str(churn), "--model", "fraud"])


def test_show_of_an_id_absent_from_the_store_names_the_store_and_the_others(store, iso_store):
    from airflow_provider_agentic_mlops.cli.definition import main

    record(iso_store, "iso")
    with pytest.raises(SystemExit) as exc:
        main(["decisions", "show", "1"])
    assert "decision 1 is not in the state store 'agentic_mlops_state_default'" in str(exc.value)
    assert "iso (iso_state)" in str(exc.value) and "--model NAME" in str(exc.value)


@pytest.mark.postgres
def test_a_limit_beyond_what_postgresql_takes_lists_every_decision(pg_url, tmp_path, monkeypatch, capsys):
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "models.yaml"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_PG_STATE", json.dumps({"conn_type": "agentic_mlops_state", "extra": {"url": pg_url}})
    )
    pg_store = StateStoreHook("pg_state").get_store()
    record(pg_store, "fraud")
    record(pg_store, "fraud")
    main(["decisions", "list", "--limit", str(2**64), "--state-conn-id", "pg_state", "-o", "json"])
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_a_model_the_models_file_does_not_list_is_warned_about_with_the_closest_name(store, iso_store, capsys):
    from airflow_provider_agentic_mlops.cli.definition import main

    record(store, "fraud")
    main(["decisions", "list", "--model", "fruad"])
    printed = capsys.readouterr()
    assert printed.out.strip() == "(none)"
    assert "warning: model 'fruad' is not in the models file" in printed.err and "did you mean 'fraud'?" in printed.err
    main(["decisions", "list", "--model", "zzz"])
    assert "(it lists churn, fraud, iso)" in capsys.readouterr().err


def test_a_model_whose_entry_is_invalid_is_warned_about_as_invalid_saying_why(store, iso_store, tmp_path, capsys):
    # "not in the models file" sent its owner looking for a typo in the name while the entry was there
    from airflow_provider_agentic_mlops.cli.definition import main

    path = tmp_path / "models.yaml"
    path.write_text(OWN_STORE_MODELS + "  - name: typo-key\n    shedule: '@daily'\n")
    main(["decisions", "list", "--model", "typo-key"])
    err = capsys.readouterr().err
    assert "not in the models file" not in err
    assert "warning: model 'typo-key' has an invalid entry in the models file" in err
    assert "field 'shedule': Extra inputs are not permitted" in err


def test_no_warning_about_the_model_without_a_models_file_to_check_it_against(store, tmp_path, monkeypatch, capsys):
    """No models.yaml at the default location (none set up): nothing to check against, nothing to warn of. A file
    that ``[agentic_mlops] models_file`` names and that is missing is a warning (test_approvals_cli)."""
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.delenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "dags"))
    record(store, "fraud")
    main(["decisions", "list", "--model", "fraud", "-o", "json"])
    printed = capsys.readouterr()
    assert len(json.loads(printed.out)) == 1 and "warning" not in printed.err


def test_list_and_show_name_the_override_alike(store, capsys):
    """``decisions list`` named the override ``override`` while ``show`` (the stored column) names it
    ``override_reason``: a script reading both had to know two names for one field."""
    decision_id = record(store, "fraud", last_retrain_hours_ago=2)  # cooldown: the LLM's retrain is overridden
    decisions_list(ns(output="json"))
    listed = json.loads(capsys.readouterr().out)[0]
    decisions_show(ns(decision_id=decision_id, output="json"))
    shown = json.loads(capsys.readouterr().out)
    assert "override" not in listed
    assert listed["override_reason"] == shown["override_reason"] and "LLM chose 'retrain'" in shown["override_reason"]
    decisions_list(ns())
    assert "override_reason" in capsys.readouterr().out.splitlines()[0].split()


def test_a_decision_of_a_run_that_decided_again_reads_as_superseded_in_list_and_show(store, capsys):
    """A retried or cleared decide stores a second decision of the run: both were listed and shown as standing."""
    first = record(store, "fraud", run_id="scheduled__1")
    second = record(store, "fraud", run_id="scheduled__1")
    alone = record(store, "fraud", run_id="scheduled__2")
    decisions_list(ns(model="fraud", output="json"))
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows[first]["superseded_by"], rows[second]["superseded_by"], rows[alone]["superseded_by"]) == (
        second,
        None,
        None,
    )
    decisions_list(ns(model="fraud"))
    table = capsys.readouterr().out.splitlines()
    column = table[0].index("superseded_by")
    cells = {line.split()[0]: line[column:].split()[0] for line in table[2:]}
    assert (cells[str(first)], cells[str(second)], cells[str(alone)]) == (str(second), "-", "-")
    decisions_show(ns(decision_id=str(first)))
    shown = capsys.readouterr().out
    assert f"superseded by decision {second} (a later try of the run's decide task)" in shown
    decisions_show(ns(decision_id=str(alone)))
    assert "superseded" not in capsys.readouterr().out
    decisions_show(ns(decision_id=str(first), output="json"))
    assert json.loads(capsys.readouterr().out)["superseded_by"] == second


def test_show_names_the_approvers_their_votes_and_the_promotion_that_followed(store, capsys):
    decision_id = record(store, "fraud")
    record(store, "fraud", run_id="manual__2")  # another run's decision: not this one's approval
    approval = approve_and_promote(store, "fraud")
    approve_and_promote(store, "fraud", run_id="manual__2", promote=False)
    decisions_show(ns(decision_id=decision_id))
    out = capsys.readouterr().out
    section = out[out.index("Approval:") :]
    assert f"request {approval['id']} for v7: approved" in section
    assert "required approvals 2" in section
    assert "- alice approve via slack at " in section and "- bob approve via cli at " in section
    assert "Promotion:" in section
    assert "v7 (registered model fraud-reg) -> alias 'champion'" in section
    assert "previous champion v6 -> alias 'previous_champion'" in section
    assert "completed" in section and "by alice,bob" in section.replace(", ", ",")
    assert section.count("request ") == 1  # manual__2's request is another run's

    decisions_show(ns(decision_id=decision_id, output="json"))
    row = json.loads(capsys.readouterr().out)
    (request,) = row["approvals"]
    assert request["id"] == approval["id"] and request["status"] == "approved"
    assert [(v["user_id"], v["vote"], v["via"]) for v in request["votes"]] == [
        ("alice", "approve", "slack"),
        ("bob", "approve", "cli"),
    ]
    promotion = request["promotion"]
    assert promotion["version"] == "7" and promotion["alias"] == "champion" and promotion["status"] == "completed"
    assert promotion["promoted_by"] == approval["decided_by"] and promotion["completed_at"]


def test_show_of_a_decision_without_approval_says_none_was_requested(store, capsys):
    decision_id = record(store, "fraud")
    decisions_show(ns(decision_id=decision_id))
    assert "Approval:    none requested in this DAG run" in capsys.readouterr().out
    decisions_show(ns(decision_id=decision_id, output="json"))
    assert json.loads(capsys.readouterr().out)["approvals"] == []


def test_show_verifies_the_trace_against_the_digest_of_its_decision_audit_entry(store, capsys):
    import sqlalchemy as sa

    from airflow_provider_agentic_mlops.core.schema import decisions

    decision_id = record(store, "fraud")
    (entry,) = store.audit_trail("fraud", action="decision")
    assert len(entry["details"]["trace_sha256"]) == 64
    decisions_show(ns(decision_id=decision_id))
    assert "Trace:       digest matches the audit entry" in capsys.readouterr().out
    decisions_show(ns(decision_id=decision_id, output="json"))
    assert json.loads(capsys.readouterr().out)["trace_digest"]["status"] == "matches"

    with store.engine.begin() as conn:  # a hand edit of the decision row
        conn.execute(decisions.update().where(decisions.c.id == decision_id).values(final_action="no_action"))
    decisions_show(ns(decision_id=decision_id))
    assert "Trace:       DOES NOT match its audit entry (changed after it was recorded)" in capsys.readouterr().out
    decisions_show(ns(decision_id=decision_id, output="json"))
    shown = json.loads(capsys.readouterr().out)["trace_digest"]
    assert shown["status"] == "differs" and shown["recorded"] == entry["details"]["trace_sha256"]
    assert shown["computed"] != shown["recorded"]

    with store.engine.begin() as conn:  # a hand edit that moves the decision onto another model
        conn.execute(decisions.update().where(decisions.c.id == decision_id).values(model_name="churn"))
    decisions_show(ns(decision_id=decision_id))
    out = capsys.readouterr().out
    assert "Trace:       DOES NOT match its audit entry (changed after it was recorded)" in out
    assert "model_name" in out and "'fraud'" in out
    decisions_show(ns(decision_id=decision_id, output="json"))
    shown = json.loads(capsys.readouterr().out)["trace_digest"]
    assert shown["status"] == "differs" and shown["recorded_model_name"] == "fraud"

    with store.engine.begin() as conn:  # a row inserted by hand after digests were: no audit entry at all
        forged = conn.execute(
            decisions.insert().values(
                model_name="fraud", mode="rules", final_action="no_action", created_at=sa.func.now()
            )
        ).inserted_primary_key[0]
    decisions_show(ns(decision_id=forged))
    out = capsys.readouterr().out
    assert "Trace:       no digest recorded" in out and "missing" in out and "before digests were" not in out


def test_show_says_a_decision_recorded_before_digests_were_has_none(store, capsys):
    old = record_decision_before_digests(store, "fraud")  # its audit entry has no digest, and none before it has one
    record(store, "fraud")  # digests begin
    decisions_show(ns(decision_id=old))
    assert "Trace:       no digest recorded (a decision recorded before digests were)" in capsys.readouterr().out


def test_the_trace_digest_is_the_same_read_back_on_postgresql(pg_url, tmp_path, monkeypatch, capsys):
    from airflow_provider_agentic_mlops.core.state import StateStore

    store = StateStore(pg_url)
    try:
        decision_id = record(store, "fraud", last_retrain_hours_ago=2)
        assert store.trace_check(store.get_decision(decision_id))["status"] == "matches"
        # the lookups by subject alone and of the first digest (a JSON key) on PostgreSQL
        import sqlalchemy as sa

        from airflow_provider_agentic_mlops.core.schema import decisions

        with store.engine.begin() as conn:
            conn.execute(decisions.update().where(decisions.c.id == decision_id).values(model_name="churn"))
            forged = conn.execute(
                decisions.insert().values(
                    model_name="fraud", mode="rules", final_action="retrain", created_at=sa.func.now()
                )
            ).inserted_primary_key[0]
        moved = store.trace_check(store.get_decision(decision_id))
        assert moved["status"] == "differs" and moved["recorded_model_name"] == "fraud"
        assert store.trace_check(store.get_decision(forged))["status"] == "missing"
    finally:
        store.dispose()
