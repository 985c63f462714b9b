"""``airflow agentic-mlops models list``: which models are blocked, and why."""

from __future__ import annotations

import argparse
import json
import os
from datetime import timedelta

import pytest
import sqlalchemy as sa

from airflow_provider_agentic_mlops.cli.commands import models as models_cli
from airflow_provider_agentic_mlops.core.state import utcnow
from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

MODELS = """
models:
  - name: {name}
    drift: {{reference: r.parquet, current: c.parquet, label_column: y}}
    decision: {{cooldown_hours: 0, max_retrains: 1, budget_window_hours: 24}}
    retrain: {{python_callable: "m:f", timeout_minutes: 30, heartbeat_timeout_minutes: 5}}
"""


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setattr(models_cli, "_champion_version", lambda *_: (None, None))  # no registry in this test
    return StateStoreHook().get_store()


def _list(tmp_path, capsys, name: str = "m") -> dict:
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(name=name))
    models_cli.models_list(
        argparse.Namespace(models_file=str(path), state_conn_id="agentic_mlops_state_default", output="json")
    )
    return json.loads(capsys.readouterr().out)[0]


def _age(store, job_id: int, **ago: timedelta) -> None:
    from airflow_provider_agentic_mlops.core.schema import jobs

    with store.engine.begin() as conn:
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(**{k: utcnow() - v for k, v in ago.items()}))


def test_a_running_job_blocks_and_is_named(store, tmp_path, capsys) -> None:
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"timeout_minutes": 30})
    row = _list(tmp_path, capsys)
    assert row["running_job"] == job["id"] and f"job {job['id']} running since" in row["blocked"]


def test_a_dead_job_is_failed_by_listing_and_the_budget_says_when_the_next_retrain_is_allowed(
    store, tmp_path, capsys
) -> None:
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"heartbeat_timeout_minutes": 5})
    _age(store, job["id"], heartbeat_at=timedelta(minutes=6))
    row = _list(tmp_path, capsys)
    assert row["running_job"] is None and store.get_job(job["id"])["status"] == "failed"
    assert "retrain budget exhausted" in row["blocked"] and "next allowed at" in row["blocked"]


def test_an_overdue_job_says_runs_escalate(store, tmp_path, capsys) -> None:
    job, _ = store.start_job("m", dag_id="d", run_id="r1", details={"timeout_minutes": 30})
    _age(store, job["id"], started_at=timedelta(minutes=40))
    assert "runs escalate" in _list(tmp_path, capsys)["blocked"]


def test_a_free_model_is_not_blocked(store, tmp_path, capsys) -> None:
    assert _list(tmp_path, capsys)["blocked"] is None


def test_without_models_file_the_list_reads_models_yaml_in_the_dags_folder(store, tmp_path, monkeypatch, capsys):
    dags = tmp_path / "dags-folder"
    dags.mkdir()
    (dags / "models.yaml").write_text(MODELS.format(name="from-dags-folder"))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    monkeypatch.chdir(tmp_path.parent)  # not where the DAGs are
    models_cli.models_list(argparse.Namespace(models_file=None, state_conn_id=None, output="json"))
    assert [row["model"] for row in json.loads(capsys.readouterr().out)] == ["from-dags-folder"]


def test_json_output_is_only_the_json_document_when_the_hooks_log(tmp_path, monkeypatch, capsys):
    # no MLflow connection: the hook logs which tracking URI it falls back to; that must not reach stdout
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(name="m"))
    main(["models", "list", "--models-file", str(path), "-o", "json"])
    captured = capsys.readouterr()
    assert [row["model"] for row in json.loads(captured.out)] == ["m"]
    assert "MLflow connection 'agentic_mlops_mlflow_registry' not found" in captured.err


def test_the_table_is_alone_on_stdout_when_the_hooks_log(tmp_path, monkeypatch, capsys):
    """Without ``-o json`` too: the hook's INFO line (Airflow logs to stdout) went into the table's output, and
    ``2>/dev/null`` did not hide it."""
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(name="m"))
    main(["models", "list", "--models-file", str(path)])
    captured = capsys.readouterr()
    header, rule, row = captured.out.splitlines()
    assert header.split()[:4] == ["model", "dag_id", "schedule", "champion"] and set(rule) <= {"-", " "}
    assert row.split()[0] == "m"
    assert "MLflow connection 'agentic_mlops_mlflow_registry' not found" in captured.err


def test_an_unreachable_registry_is_an_unknown_champion_with_a_warning_not_no_champion(
    tmp_path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(  # nothing listens on port 9
        "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_REGISTRY",
        json.dumps({"conn_type": "agentic_mlops_mlflow", "host": "http://127.0.0.1:9", "extra": {"max_retries": 0}}),
    )
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with caplog.at_level("WARNING"):
        version, error = models_cli._champion_version("fraud", "agentic_mlops_mlflow_registry")
    assert version is None and error.startswith(
        "MLflow at http://127.0.0.1:9 is unreachable (connection 'agentic_mlops_mlflow_registry'): ConnectionError; "
        "try again later: MlflowException"
    )
    assert "MLflow at http://127.0.0.1:9 is unreachable (connection 'agentic_mlops_mlflow_registry')" in caplog.text


def test_a_missing_models_file_is_a_one_line_error_not_a_traceback(tmp_path, monkeypatch) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        main(["models", "list", "--models-file", str(tmp_path / "absent.yaml")])
    assert str(exc.value).startswith("error: ") and "absent.yaml" in str(exc.value)


def test_a_mistyped_models_file_setting_is_named_as_where_the_path_came_from(tmp_path, monkeypatch) -> None:
    """The error said "Set [agentic_mlops] models_file or AIRFLOW__AGENTIC_MLOPS__MODELS_FILE" while the
    variable was set, to the mistyped path."""
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", str(tmp_path / "modles.yaml"))
    with pytest.raises(SystemExit) as exc:
        main(["models", "list"])
    message = str(exc.value)
    assert f"cannot read models file {str(tmp_path / 'modles.yaml')!r}" in message
    assert "the path is AIRFLOW__AGENTIC_MLOPS__MODELS_FILE" in message and "correct it" in message
    assert "Set [agentic_mlops] models_file" not in message


def test_models_validate_names_a_models_file_that_is_not_utf8(tmp_path, monkeypatch) -> None:
    """A Latin-1 file ended in a UnicodeDecodeError traceback: only OSError was caught."""
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    path = tmp_path / "models.yaml"
    path.write_bytes(MODELS.format(name="caf\xe9").encode("latin-1"))
    with pytest.raises(SystemExit) as exc:
        main(["models", "validate", "--models-file", str(path)])
    message = str(exc.value)
    assert message.startswith("error: ") and f"models file {str(path)!r} is not UTF-8" in message
    assert "0xe9" in message and "save it as UTF-8" in message


def test_a_missing_default_models_file_is_named_as_the_default(tmp_path, monkeypatch) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "dags"))
    with pytest.raises(SystemExit) as exc:
        main(["models", "list"])
    message = str(exc.value)
    assert f"cannot read models file {str(tmp_path / 'dags' / 'models.yaml')!r}" in message
    assert "the default, models.yaml in [core] dags_folder" in message and "[agentic_mlops] models_file" in message


@pytest.mark.parametrize("command", [["models", "list"], ["decisions", "list"], ["approvals", "list"]])
@pytest.mark.parametrize("given", ["absent.yaml", "."])
def test_a_models_file_given_that_is_not_a_file_is_named_as_given_not_the_setting(
    tmp_path, monkeypatch, command, given
) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    path = tmp_path / given
    with pytest.raises(SystemExit) as exc:
        main([*command, "--models-file", str(path)])
    message = str(exc.value)
    assert message.startswith(f"error: --models-file {str(path)!r} ") and "[agentic_mlops] models_file" not in message
    assert ("does not exist" if given == "absent.yaml" else "is not a file") in message


def test_a_schedule_the_dag_parse_refuses_is_a_bad_entry_the_list_warns_of(store, tmp_path, capsys, caplog):
    """``0 3 * * 8`` (no weekday 8): the DAG parse refuses it and keeps the model's last valid entry; the list
    warned of nothing and showed the model as if its entry were fine."""
    path = tmp_path / "models.yaml"
    weekly = MODELS.format(name="weekly").replace("models:", "")
    weekly = weekly.replace("\n    drift", '\n    schedule: "0 3 * * 8"\n    drift')
    path.write_text(MODELS.format(name="m") + weekly)
    with caplog.at_level("WARNING"):
        models_cli.models_list(
            argparse.Namespace(models_file=str(path), state_conn_id="agentic_mlops_state_default", output="json")
        )
    assert [row["model"] for row in json.loads(capsys.readouterr().out)] == ["m"]
    warning = "\n".join(r.getMessage() for r in caplog.records if "not listed, its entry is invalid" in r.getMessage())
    assert "model 'weekly': field 'schedule': not a cron expression or an Airflow preset" in warning
    assert "(got '0 3 * * 8')" in warning


def test_a_model_whose_state_store_fails_is_listed_as_unknown_with_a_warning_not_an_abort(
    store, tmp_path, capsys, caplog
) -> None:
    path = tmp_path / "models.yaml"
    other = MODELS.format(name="typo-store").replace("models:", "")
    other = other.replace("\n    drift", "\n    state_conn_id: no_such_state_conn\n    drift")
    path.write_text(MODELS.format(name="m") + other)
    with caplog.at_level("WARNING"):
        models_cli.models_list(argparse.Namespace(models_file=str(path), state_conn_id=None, output="json"))
    rows = {row["model"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["m"]["blocked"] is None and rows["m"]["pending_approvals"] == 0  # its store answered
    assert rows["m"]["state_error"] is None
    unknown = rows["typo-store"]
    # JSON keeps each column's type (a "?" in an integer column broke `jq '.pending_approvals > 0'`); the error says why
    columns = ("running_job", "blocked", "last_decision", "pending_approvals", "promotion")
    assert [unknown[c] for c in columns] == [None] * 5
    assert unknown["state_error"].startswith("StateConnectionNotFound: state store connection 'no_such_state_conn'")
    warning = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "state of typo-store unknown (shown as '?')" in warning
    assert "state store connection 'no_such_state_conn' does not exist" in warning

    models_cli.models_list(argparse.Namespace(models_file=str(path), state_conn_id=None, output="table"))
    table = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert table["typo-store"].split()[4:] == ["?"] * 5 and "state_error" not in table["typo-store"]


def test_an_unfinished_promotion_is_shown_with_the_steps_done(store, tmp_path, capsys) -> None:
    """A promotion stopped after moving ``champion`` (retries ran out): MLflow serves the version, the audit
    trail does not name it yet; the list says so."""
    from airflow_provider_agentic_mlops.core.promotion import PROMOTION_STEPS

    assert _list(tmp_path, capsys)["promotion"] is None
    approval, _ = store.request_approval("m", "2", dag_id="d", run_id="r1", expires_at=utcnow() + timedelta(hours=1))
    store.decide_approval(approval["id"], approve=True, user="alice", via="cli")
    promotion, _ = store.begin_promotion(approval, registered_model="m", previous_version="1")
    for step in PROMOTION_STEPS[:2]:
        store.mark_promotion_step(promotion["id"], step, all_steps=PROMOTION_STEPS)
    shown = _list(tmp_path, capsys)["promotion"]
    assert shown.startswith("v2 unfinished since") and "previous_alias, champion_alias" in shown
    assert "'r1'" in shown and "champion already points at v2" in shown


def _seed_models(store, n: int) -> list[str]:
    """``n`` models in varied states: decisions, pending and decided approvals, running and finished
    retrains; the first model also has an unfinished promotion."""
    from airflow_provider_agentic_mlops.core.promotion import PROMOTION_STEPS

    names = [f"m{i:03d}" for i in range(n)]
    for i, name in enumerate(names):
        for k in range(i % 3):
            store.record_decision(name, mode="rules", final_action=("retrain", "none")[k % 2], dag_id=f"d-{name}")
        if i % 2 == 0:
            store.request_approval(name, "1", dag_id=f"d-{name}", run_id="r", expires_at=utcnow() + timedelta(hours=1))
        if i % 4 == 1:
            store.start_job(name, dag_id=f"d-{name}", run_id="r1", details={"timeout_minutes": 30})
        if i % 5 == 2:
            job, _ = store.start_job(name, dag_id=f"d-{name}", run_id="r0")
            store.finish_job(job["id"], status="succeeded")
    approval, _ = store.request_approval(
        names[0], "2", dag_id=f"d-{names[0]}", run_id="r9", expires_at=utcnow() + timedelta(hours=1)
    )
    store.decide_approval(approval["id"], approve=True, user="alice", via="cli")
    promotion, _ = store.begin_promotion(approval, registered_model=names[0], previous_version="1")
    store.mark_promotion_step(promotion["id"], PROMOTION_STEPS[0], all_steps=PROMOTION_STEPS)
    return names


def _list_all(tmp_path, capsys, names: list[str]) -> list[dict]:
    path = tmp_path / "models.yaml"
    path.write_text("models:" + "".join(MODELS.format(name=name).removeprefix("\nmodels:") for name in names))
    models_cli.models_list(
        argparse.Namespace(models_file=str(path), state_conn_id="agentic_mlops_state_default", output="json")
    )
    return json.loads(capsys.readouterr().out)


def test_the_list_reads_the_store_in_as_many_statements_for_25_models_as_for_5(store, tmp_path, capsys) -> None:
    """The jobs, last decisions, pending approvals, budgets and promotions are read for all models at once;
    each row still says what the per-model reads say."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    names = _seed_models(store, 25)
    used = {}
    for n in (5, 25):
        sa.event.listen(store.engine, "before_cursor_execute", count)
        try:
            rows = _list_all(tmp_path, capsys, names[:n])
        finally:
            sa.event.remove(store.engine, "before_cursor_execute", count)
        used[n], statements[:] = len(statements), []
        assert [row["model"] for row in rows] == names[:n]
        for name, row in zip(names[:n], rows, strict=True):
            job = store.inflight_job(name)
            last = store.list_decisions(name, limit=1)
            assert row["running_job"] == (job["id"] if job else None)
            assert row["last_decision"] == (f"{last[0]['final_action']} (#{last[0]['id']})" if last else None)
            assert row["pending_approvals"] == len(store.list_approvals(status="pending", model_name=name))
            assert row["blocked"] == models_cli.blocked_reason(
                store, next(s for s in _specs(tmp_path) if s.name == name), job
            )
    assert used[25] == used[5], used
    assert rows[0]["promotion"].startswith("v2 unfinished since")
    assert [r["promotion"] for r in rows[1:]] == [None] * 24
    assert {r["last_decision"] for r in rows} > {None} and {r["pending_approvals"] for r in rows} == {0, 1}
    assert {r["running_job"] is None for r in rows} == {True, False}
    assert any(r["blocked"] and "retrain budget exhausted" in r["blocked"] for r in rows)


def _specs(tmp_path):
    from airflow_provider_agentic_mlops.core.config import load_models

    return load_models(tmp_path / "models.yaml")


def test_a_request_past_its_deadline_is_not_counted_as_pending(store, tmp_path, capsys) -> None:
    """The sensor expires requests only while it pokes: one past its deadline was counted as still pending."""
    store.request_approval("m", "2", dag_id="d", run_id="r1", expires_at=utcnow() + timedelta(hours=1))
    store.request_approval("m", "3", dag_id="d", run_id="r2", expires_at=utcnow() - timedelta(minutes=1))
    assert _list(tmp_path, capsys)["pending_approvals"] == 1
    assert [a["model_version"] for a in store.list_approvals(status="expired")] == ["3"]


def test_a_registry_connection_that_cannot_be_looked_up_is_warned_of_once_not_once_per_model(
    monkeypatch, caplog
) -> None:
    """Before `airflow db migrate`, each model's champion warned "run `airflow db migrate` first" (23 lines)."""
    from airflow_provider_agentic_mlops.hooks.connection import ConnectionLookupFailed
    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

    def lookup_fails(self):
        raise ConnectionLookupFailed("agentic_mlops_mlflow_registry", "MetastoreBackend", RuntimeError("no table"))

    monkeypatch.setattr(MlflowRegistryHook, "registry_uri", property(lookup_fails))
    unreachable: dict[str, str] = {}
    with caplog.at_level("WARNING"):
        results = [models_cli._champion_version(name, "agentic_mlops_mlflow_registry", unreachable) for name in "abc"]
    assert len({error for _, error in results}) == 1 and all(version is None for version, _ in results)
    warnings = [r.getMessage() for r in caplog.records if "agentic_mlops_mlflow_registry" in r.getMessage()]
    assert len(warnings) == 1 and "champions of the models of MLflow connection" in warnings[0], warnings


def test_models_validate_exits_non_zero_naming_each_invalid_entry(tmp_path, monkeypatch, capsys) -> None:
    """`models list` only warned of a bad entry and exited 0: CI had no command that fails on one."""
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(name="good") + MODELS.format(name="bad").replace("models:", "") + "    x: 1\n")
    with pytest.raises(SystemExit) as exc:
        main(["models", "validate", "--models-file", str(path)])
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "model 'bad': field 'x'" in out and "1 of 2 entries invalid" in out

    path.write_text(MODELS.format(name="good"))
    main(["models", "validate", "--models-file", str(path)])
    assert f"{path}: 1 model, all valid" in capsys.readouterr().out


@pytest.fixture
def unavailable_mlflow(monkeypatch):
    """An MLflow server that answers every request with 503, counting them; the models' registry."""
    import http.server
    import threading

    requests_seen: list[str] = []

    class Unavailable(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            requests_seen.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{server.server_port}")
    try:
        yield server.server_port, requests_seen
    finally:
        server.shutdown()
        server.server_close()


def test_an_unavailable_registry_is_asked_once_in_a_few_attempts_not_once_per_model(
    tmp_path, monkeypatch, capsys, caplog, unavailable_mlflow
) -> None:
    """MLflow's default retries (7, backoff factor 2) kept `models list` waiting about 4 minutes per model
    with the registry down; the command now makes 3 attempts, once for all the models it keeps."""
    from airflow_provider_agentic_mlops.cli.definition import main

    port, requests_seen = unavailable_mlflow
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)  # the command's own budget
    # set by the user: kept (and the test does not sleep between attempts)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    path = tmp_path / "models.yaml"
    path.write_text("models:" + "".join(MODELS.format(name=n).removeprefix("\nmodels:") for n in ("a", "b", "c")))
    with caplog.at_level("WARNING"):
        main(["models", "list", "--models-file", str(path), "-o", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert len(requests_seen) == 3  # one call, retried twice
    assert [row["champion"] for row in rows] == [None] * 3
    for row in rows:
        assert row["champion_error"].startswith(f"MLflow at http://127.0.0.1:{port} is unavailable")
    warnings = [r.getMessage() for r in caplog.records if "MLflow at" in r.getMessage()]
    assert len(warnings) == 1 and "not asked again" in warnings[0]
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # only while the command ran


CHECKED_AT_BUILD = """
models:
  - name: ok-model
    drift: {reference: ref.parquet, current: cur.parquet, label_column: y}
    retrain: {trigger_dag_id: train}
    validation: {data: val.parquet}
  - name: var-unset
    drift: {reference: "${NOPE_UNSET_CFG1}/ref.parquet", current: cur.parquet, label_column: y}
    retrain: {trigger_dag_id: train}
    validation: {data: val.parquet}
  - name: train-is-val
    drift: {reference: ref.parquet, current: cur.parquet, label_column: y}
    retrain: {trigger_dag_id: train, conf: {train_data: cur.parquet}}
"""


def test_models_validate_counts_entries_not_names_when_two_entries_share_a_name(tmp_path, monkeypatch, capsys) -> None:
    """Two entries of one name are one error (about both) but two invalid entries: 3 entries, 2 of them invalid
    (it said "1 of 2")."""
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(name="good") + (MODELS.format(name="twice").replace("models:", "") * 2))
    with pytest.raises(SystemExit) as exc:
        main(["models", "validate", "--models-file", str(path)])
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "entries #2 and #3 have the same name" in out and "2 of 3 entries invalid" in out, out


def test_models_validate_fails_the_entries_the_dag_file_flags_and_says_a_variable_is_unset_here(
    tmp_path, monkeypatch, capsys
) -> None:
    """`models validate` said "all valid" for entries whose DAGs the DAG file then flagged: the checks made when
    a DAG is built (variables set, validation data not training data) were not made."""
    from airflow_provider_agentic_mlops.cli.definition import main
    from airflow_provider_agentic_mlops.dag_factory import build_dags

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("NOPE_UNSET_CFG1", raising=False)
    path = tmp_path / "models.yaml"
    path.write_text(CHECKED_AT_BUILD)
    flagged = sorted(d for d, dag in build_dags(path).items() if "models-yaml-error" in dag.tags)
    assert flagged == ["agentic_mlops__train-is-val", "agentic_mlops__var-unset"]
    with pytest.raises(SystemExit) as exc:
        main(["models", "validate", "--models-file", str(path)])
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "model 'train-is-val': validation.data" in out and "is retrain.conf.train_data too" in out
    assert "model 'var-unset': field 'drift.reference': variable ${NOPE_UNSET_CFG1} is unset in this environment" in out
    assert "2 of 3 entries invalid" in out and "1 of them only because a variable is unset here" in out
    monkeypatch.setenv("NOPE_UNSET_CFG1", "/data")  # set where the DAG file is parsed: valid there
    with pytest.raises(SystemExit):
        main(["models", "validate", "--models-file", str(path)])
    out = capsys.readouterr().out
    assert "var-unset" not in out and "1 of 3 entries invalid" in out and "unset here" not in out


def test_a_relative_models_file_setting_is_warned_about_by_validate(tmp_path, monkeypatch, capsys) -> None:
    # valid here, but the DAG processor reads it from its own working directory
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    (tmp_path / "fleet.yaml").write_text(MODELS.format(name="m"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE", "fleet.yaml")
    main(["models", "validate"])
    captured = capsys.readouterr()
    assert "all valid" in captured.out
    assert captured.err.count("AIRFLOW__AGENTIC_MLOPS__MODELS_FILE ('fleet.yaml') is a relative path") == 1
    assert f"working directory {tmp_path}" in captured.err and "absolute path" in captured.err


def test_models_validate_names_a_key_yaml_reads_as_no_text(tmp_path, monkeypatch, capsys) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(name="bad") + "    tags: [a]\n    yes: 1\n")
    with pytest.raises(SystemExit) as exc:
        main(["models", "validate", "--models-file", str(path)])
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "model 'bad': field '(entry)': key yes (line" in out and "is read by YAML as a boolean" in out


def _registry_answering(monkeypatch, status: int) -> str:
    """The models' registry: a server answering every request with ``status`` (MLflow's retries off); its URL."""
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = b"Permission denied" if status == 403 else b"You are not authenticated" if status == 401 else b"busy"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_REGISTRY", json.dumps({"conn_type": "agentic_mlops_mlflow", "host": url})
    )
    return url


@pytest.mark.parametrize("status", [503, 429])
def test_a_busy_registry_is_said_unavailable_with_its_status_and_to_try_again(
    status, tmp_path, monkeypatch, request
) -> None:
    """MLflow answering 503/429 was said "unreachable" with MLflow's text cut before the status; the hook says
    the same error is HTTP 503 until MLflow's retries ran out (the task is retried): the CLI now says so too."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    url = _registry_answering(monkeypatch, status)
    seen: dict[str, str] = {}
    version, error = models_cli._champion_version("fraud", "agentic_mlops_mlflow_registry", seen)
    assert version is None
    assert error.startswith(
        f"MLflow at {url} is unavailable (connection 'agentic_mlops_mlflow_registry'): HTTP {status}"
    )
    assert "try again later" in error
    assert seen == {url: error}  # not asked again for the other models


@pytest.mark.parametrize(("status", "code"), [(401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED")])
def test_a_refused_registry_names_the_permission_the_connection_needs(status, code, tmp_path, monkeypatch) -> None:
    """The hook's refusal names the permission (READ on the registered model) and the fix; the CLI cut it at 200
    characters, before the permission."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    _registry_answering(monkeypatch, status)
    seen: dict[str, str] = {}
    version, error = models_cli._champion_version("fraud", "agentic_mlops_mlflow_registry", seen)
    assert version is None and code in error
    assert "READ on the registered model 'fraud'" in error
    assert seen == {}  # a permission is per model: the next model is still asked


def test_an_error_the_hook_calls_unavailable_is_unavailable_to_the_cli_too(tmp_path, monkeypatch) -> None:
    """One classifier: an artifact store's HTTP 503 (a ``requests`` HTTPError with its response) or a bare
    ``ConnectionError`` was "MLflow unavailable" to the hook but a model's own error to ``models list``."""
    import requests

    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    url = _registry_answering(monkeypatch, 503)
    response = requests.Response()
    response.status_code = 503
    for raised in (requests.HTTPError("503 Server Error", response=response), ConnectionError("reset by peer")):

        def fail(*_args, raised=raised):
            raise RuntimeError("wrapped") from raised

        monkeypatch.setattr(MlflowRegistryHook, "get_alias_version", fail)
        seen: dict[str, str] = {}
        _, error = models_cli._champion_version("fraud", "agentic_mlops_mlflow_registry", seen)
        assert url in seen, error


def test_models_validate_warns_of_each_connection_a_model_names_that_airflow_does_not_have(
    tmp_path, monkeypatch, capsys
) -> None:
    """A typo in state_conn_id passed `models validate`; the DAG's decide task then failed on it. Each connection
    id a model names is looked up (no service is called): one that is not there is a warning naming the model, the
    setting, the id and the fix, in the words the tasks and `models list` use; the entries stay valid (CI may
    validate the file without the deployment's connections)."""
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_TRAIN_PROD",
        json.dumps({"conn_type": "agentic_mlops_mlflow", "host": "http://ml:5000", "extra": {"access": "train"}}),
    )
    path = tmp_path / "models.yaml"
    path.write_text(
        MODELS.format(name="good")
        + """
  - name: typos
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
    decision: {mode: llm, llm_conn_id: llm_prod}
    retrain: {python_callable: "m:f", mlflow_conn_id: mlflow_train_prod}
    approval: {channel: C1, slack_conn_id: slack_prod}
    state_conn_id: state_prd
    promote_conn_id: mlflow_promote_prod
"""
    )
    main(["models", "validate", "--models-file", str(path)])  # no SystemExit: every entry is valid
    captured = capsys.readouterr()
    assert f"{path}: 2 models, all valid" in captured.out
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 4, captured.err
    state, promote, llm, slack = warnings
    assert state.startswith("warning: model 'typos': state_conn_id 'state_prd': state store connection 'state_prd'")
    assert "does not exist" in state and "airflow connections add state_prd --conn-type agentic_mlops_state" in state
    assert promote.startswith("warning: model 'typos': promote_conn_id 'mlflow_promote_prod': MLflow connection")
    assert "airflow connections add mlflow_promote_prod --conn-type agentic_mlops_mlflow" in promote
    assert llm.startswith("warning: model 'typos': decision.llm_conn_id 'llm_prod': LLM connection 'llm_prod'")
    assert slack.startswith("warning: model 'typos': approval.slack_conn_id 'slack_prod': Slack connection")
    assert "airflow connections add slack_prod --conn-type slack" in slack
    # the default connections may be absent (each has its fallback): no warning, nor the hooks' log of it
    assert "good" not in captured.err and "not found; using tracking URI" not in captured.err
    # the train connection that exists is not warned of, nor checked further than its lookup
    assert "mlflow_train_prod" not in captured.err


def test_models_validate_warns_of_a_connection_without_the_access_its_tasks_need(tmp_path, monkeypatch, capsys):
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(  # access read: the promotion would be refused after a person approved
        "AIRFLOW_CONN_MLFLOW_PROD", json.dumps({"conn_type": "agentic_mlops_mlflow", "host": "http://ml:5000"})
    )
    path = tmp_path / "models.yaml"
    path.write_text(MODELS.format(name="m") + "    promote_conn_id: mlflow_prod\n")
    main(["models", "validate", "--models-file", str(path)])
    captured = capsys.readouterr()
    assert "all valid" in captured.out
    assert "warning: model 'm': promote_conn_id 'mlflow_prod': promote_conn_id of model 'm' needs an MLflow " in (
        captured.err
    )
    assert """but 'mlflow_prod' has 'read'. Use agentic_mlops_mlflow_promote or set the connection's extra""" in (
        captured.err
    )


def test_models_validate_without_a_metadata_database_says_once_the_connections_were_not_checked(
    tmp_path, monkeypatch, capsys, cli_metadata_db
) -> None:
    from airflow_provider_agentic_mlops.cli.definition import main

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    path = tmp_path / "models.yaml"
    path.write_text(
        (MODELS.format(name="a") + MODELS.format(name="b").replace("models:", "")).replace(
            '"m:f",', '"m:f", mlflow_conn_id: mlflow_train_prod,'
        )
    )
    cli_metadata_db.down()
    try:
        main(["models", "validate", "--models-file", str(path)])  # valid entries: exit status 0
    finally:
        cli_metadata_db.up()
    captured = capsys.readouterr()
    assert "2 models, all valid" in captured.out
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: the models' connections were not checked: ")
    assert "Airflow's metadata database" in warnings[0]
