"""Smoke suite of the compatibility job: the installed wheel works on this Airflow (3.1, 3.2 or 3.3).

Run by scripts/compat in a venv holding only a pinned Airflow plus the wheel; each test says what a
shop would see fail otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest
from compat_helpers import BIN, IN_COMPAT_JOB, RUN_LOOP, airflow, run

PKG = "airflow_provider_agentic_mlops"
DIST = "airflow-provider-agentic-mlops"
CONN_TYPES = {"agentic_mlops_state", "agentic_mlops_mlflow", "agentic_mlops_llm"}
MODEL_DAG = "agentic_mlops__fraud-detector"


@pytest.mark.skipif(not IN_COMPAT_JOB, reason="only meaningful in scripts/compat's venv")
def test_the_package_under_test_is_the_installed_wheel() -> None:
    import airflow_provider_agentic_mlops

    assert "site-packages" in Path(airflow_provider_agentic_mlops.__file__).parts
    assert not (Path(airflow_provider_agentic_mlops.__file__).parent / ".." / "pyproject.toml").exists()


def test_the_wheel_carries_license_author_and_no_test_extras() -> None:
    from importlib.metadata import distribution

    dist = distribution(DIST)
    meta = dist.metadata
    assert meta["License-Expression"] == "Apache-2.0"
    assert any(str(f).endswith("licenses/LICENSE") for f in dist.files or []), dist.files
    assert "Apache License" in (dist.read_text("licenses/LICENSE") or "")
    assert meta["Author"] or meta["Author-email"]
    assert set(meta.get_all("Provides-Extra") or []) == {"report", "postgres"}  # test tools are a dependency group
    packaged = {str(f) for f in dist.files or []}
    for name in ("dags/agentic_mlops_models.py", "dags/models.yaml", "dags/example_fraud_detector_training.py"):
        assert f"{PKG}/{name}" in packaged, name


def test_the_wheels_version_is_the_one_whose_newest_migration_it_ships() -> None:
    """pip skips a wheel of the version already installed: a wheel whose migrations outgrew its version would
    not reach a deployment that upgrades."""
    from importlib.metadata import version

    from airflow_provider_agentic_mlops import __version__
    from airflow_provider_agentic_mlops.core.migrations import PROVIDER_VERSIONS
    from airflow_provider_agentic_mlops.core.state import head_revision

    assert version(DIST) == __version__
    assert PROVIDER_VERSIONS.get(__version__) == head_revision(), (__version__, PROVIDER_VERSIONS)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="pandas 3 needs Python 3.11+")
def test_pandas_3_is_not_held_back() -> None:
    """The provider caps no pandas: its drift check and training run on pandas 3 (without Evidently,
    which does not import there; the report step says why it was skipped)."""
    import pandas

    assert int(pandas.__version__.split(".")[0]) >= 3, pandas.__version__


def test_provider_and_its_hooks_are_discovered(airflow_home: Path) -> None:
    (info,) = json.loads(airflow("providers", "get", DIST, "--full", "-o", "json"))
    assert info["package-name"] == DIST
    hooks = json.loads(airflow("providers", "hooks", "-o", "json"))
    ours = {h["connection_type"]: h["class"] for h in hooks if h["package_name"] == DIST}
    assert set(ours) == CONN_TYPES, hooks


def test_plugin_loads(airflow_home: Path) -> None:
    plugins = json.loads(airflow("plugins", "-o", "json"))
    assert any(p["name"] == "agentic_mlops" for p in plugins), plugins


def test_moved_names_resolve_and_a_missing_connection_raises_a_not_found_class(airflow_home: Path) -> None:
    from airflow.sdk import BaseHook

    from airflow_provider_agentic_mlops import version_compat

    assert issubclass(version_compat.AirflowFailException, Exception)
    assert issubclass(version_compat.DagRunTriggerException, Exception)
    with pytest.raises(version_compat.CONNECTION_NOT_FOUND):
        BaseHook.get_connection("agentic_mlops_compat_no_such_connection")


def test_the_llm_hook_reaches_an_openai_compatible_server(airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed openai with the target's httpx: openai before 1.55.3 fails every call on httpx 0.28
    (TypeError: ... unexpected keyword argument 'proxies'), which a unit suite on one Airflow cannot see."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from airflow_provider_agentic_mlops.hooks.llm import LLMHook

    class Models(BaseHTTPRequestHandler):  # GET /v1/models, what test_connection asks
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            body = json.dumps(
                {"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "c"}]}
            )
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        conn = {"conn_type": "agentic_mlops_llm", "host": url, "password": "k", "extra": {"model": "m"}}
        monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_COMPAT_LLM", json.dumps(conn))
        assert LLMHook("agentic_mlops_compat_llm").test_connection() == (True, f"reached {url}; it serves model 'm'")
    finally:
        server.shutdown()
        server.server_close()


def test_connection_forms_show_the_declared_extra_fields(airflow_home: Path) -> None:
    """3.2+ builds forms from provider info's conn-fields, 3.1 from the hooks' methods: same form."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    from airflow_provider_agentic_mlops.get_provider_info import get_provider_info

    declared = {c["connection-type"]: c for c in get_provider_info()["connection-types"]}
    shown = {m.connection_type: m for m in HookMetaService.hook_meta_data() if m.connection_type in CONN_TYPES}
    assert set(shown) == CONN_TYPES
    for conn_type, meta in shown.items():
        assert set(meta.extra_fields or {}) == set(declared[conn_type]["conn-fields"]), conn_type
        hidden = {
            name
            for name in ("host", "port", "login", "password")
            if getattr(meta.standard_fields, name) is not None and getattr(meta.standard_fields, name).hidden
        }
        wanted = set(declared[conn_type]["ui-field-behaviour"]["hidden-fields"]) - {"schema"}
        assert hidden == wanted, conn_type


def test_cli_init_and_commands(airflow_home: Path, request: pytest.FixtureRequest) -> None:
    from airflow_provider_agentic_mlops.version_compat import PROVIDER_CLI_COMMANDS_LOADED

    # the commands a message names are the ones that run here (3.1 has no `airflow agentic-mlops`)
    cli = "airflow agentic-mlops" if PROVIDER_CLI_COMMANDS_LOADED else "agentic-mlops"
    dags = airflow_home / "dags"
    out = run(BIN / "agentic-mlops", "init", "--dags-folder", dags)
    assert (dags / "agentic_mlops_models.py").exists() and (dags / "models.yaml").exists(), out
    assert f"(`{cli} demo` creates its data)" in out, out
    assert "unchanged" in run(BIN / "agentic-mlops", "init", "--dags-folder", dags)
    models = dags / "models.yaml"
    packaged = models.read_text()
    models.write_text(packaged + "# edited by the shop\n")
    assert "kept" in run(BIN / "agentic-mlops", "init", "--dags-folder", dags)  # never overwritten...
    assert models.read_text().endswith("# edited by the shop\n")
    assert "kept" in run(BIN / "agentic-mlops", "init", "--dags-folder", dags, "--force")  # not even by --force...
    assert models.read_text().endswith("# edited by the shop\n")
    assert "reset" in run(BIN / "agentic-mlops", "init", "--dags-folder", dags, "--reset-models")  # ...only this
    assert models.read_text() == packaged and (dags / "models.yaml.bak").read_text().endswith("# edited by the shop\n")
    # the commands read the connections made in Airflow's UI: before Airflow's own tables exist, they say
    # so (never falling back to the embedded store), and once `airflow db migrate` has run, they work
    import subprocess

    unset = subprocess.run(
        [str(BIN / "agentic-mlops"), "approvals", "list"], capture_output=True, text=True, timeout=600, env=os.environ
    )
    assert unset.returncode != 0 and "run `airflow db migrate` first" in unset.stderr, unset.stderr[-2000:]
    assert not (airflow_home / "agentic_mlops.db").exists()
    request.getfixturevalue("metadata_db")
    assert json.loads(run(BIN / "agentic-mlops", "approvals", "list", "-o", "json")) == []
    missing = subprocess.run(
        [str(BIN / "agentic-mlops"), "approvals", "approve", "424242", "--yes", "--user", "compat"],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ,
    )
    said = "is not in the state store 'agentic_mlops_state_default'" in missing.stderr
    assert missing.returncode != 0 and said and f"the pending ones with `{cli} approvals list`" in missing.stderr, (
        missing.stderr[-2000:]
    )
    if PROVIDER_CLI_COMMANDS_LOADED:  # 3.2+: the same commands under `airflow`
        help_text = airflow("agentic-mlops", "--help")
        for command in ("init", "approvals", "decisions", "models", "rollback", "demo"):
            assert command in help_text


#: A models file with one valid entry and one invalid one (the commands warn about it).
ONE_INVALID_ENTRY = """
models:
  - name: good
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
    retrain: {python_callable: "m:f"}
  - name: bad
    drift: {reference: r.parquet, current: c.parquet, label_column: y}
    decision: {cooldown_hours: two}
    retrain: {python_callable: "m:f"}
"""


def test_json_output_is_only_the_document_when_the_models_file_has_an_invalid_entry(metadata_db: Path) -> None:
    """Airflow 3.1 and 3.2 log to stdout: the invalid entry's warning went before the JSON (``-o json | jq``
    failed); stdout holds only the document, the warning is on stderr."""
    from airflow_provider_agentic_mlops.version_compat import PROVIDER_CLI_COMMANDS_LOADED

    models = metadata_db / "one-invalid-entry.yaml"
    models.write_text(ONE_INVALID_ENTRY)
    commands = [[str(BIN / "agentic-mlops")]]
    if PROVIDER_CLI_COMMANDS_LOADED:  # 3.2+: under `airflow` too
        commands.append([sys.executable, "-m", "airflow", "agentic-mlops"])
    for command in commands:
        out = run(*command, "models", "list", "--models-file", models, "-o", "json")
        assert [row["model"] for row in json.loads(out)] == ["good"], out


def test_config_check_finds_where_each_option_is_set_and_the_options_airflow_ignores(metadata_db: Path) -> None:
    """``config check`` reads airflow.cfg's own section through this Airflow's configuration parser and the
    environment: a value's source, and a misspelt option in either (which Airflow ignores), on 3.1 to 3.3 alike."""
    import subprocess

    cfg = metadata_db / "config-check.cfg"
    cfg.write_text("[agentic_mlops]\nalert_model_label = service\nalert_lock_timout = 5\n")
    env = {
        **os.environ,
        "AIRFLOW_CONFIG": str(cfg),
        "AIRFLOW__AGENTIC_MLOPS__MIGRATION_LOCK_TIMEOUT": "60",
        "AIRFLOW__AGENTIC_MLOPS__STATE_CON_ID": "shared_state",
    }
    out = subprocess.run(
        [str(BIN / "agentic-mlops"), "config", "check", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert out.returncode == 1, out.stderr[-3000:]
    document = json.loads(out.stdout)
    rows = {row["option"]: row for row in document["options"]}
    assert (rows["alert_model_label"]["value"], rows["alert_model_label"]["source"]) == ("service", "airflow.cfg")
    assert rows["migration_lock_timeout"]["source"] == "env AIRFLOW__AGENTIC_MLOPS__MIGRATION_LOCK_TIMEOUT"
    assert rows["state_conn_id"]["source"] == "default"
    unknown = {f["option"]: f["message"] for f in document["findings"] if f["severity"] == "error"}
    assert "did you mean 'alert_lock_timeout'" in unknown["alert_lock_timout"], unknown
    assert "AIRFLOW__AGENTIC_MLOPS__STATE_CONN_ID" in unknown["AIRFLOW__AGENTIC_MLOPS__STATE_CON_ID"], unknown


def test_dag_files_parse_without_import_errors(airflow_home: Path) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag  # 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag  # 3.1

    dags = airflow_home / "dags"
    if not (dags / "models.yaml").exists():
        run(BIN / "agentic-mlops", "init", "--dags-folder", dags)
    bag = DagBag(dag_folder=str(dags))  # no examples: the fixture sets [core] load_examples off
    assert bag.import_errors == {}
    assert {MODEL_DAG, "fraud_detector_training"} <= set(bag.dag_ids)


#: An Alertmanager webhook (version 4): one firing alert for the demo model.
ALERTMANAGER_WEBHOOK = {
    "version": "4",
    "status": "firing",
    "receiver": "agentic-mlops",
    "groupKey": '{}:{alertname="FeatureDrift"}',
    "commonLabels": {"alertname": "FeatureDrift", "model": "fraud-detector"},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "FeatureDrift", "model": "fraud-detector"},
            "annotations": {"summary": "PSI above 0.2 on amount"},
            "startsAt": "2026-01-01T00:00:00Z",
            "fingerprint": "c0ffee",
        }
    ],
}


def test_a_firing_alert_starts_a_queued_run_of_the_models_dag(
    metadata_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``POST /agentic-mlops/alerts`` through Airflow's own API-server app, in process, with this Airflow's
    ``trigger_dag`` and metadata DB: 201, a queued run of the model's DAG with the alert in its conf and
    the provider's note, and the alert in the audit trail. On Airflow 3.1 the endpoint passed ``note``
    to a ``trigger_dag`` without it: a 500 for every alert, no run."""
    from airflow.api_fastapi.app import create_app
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from airflow_provider_agentic_mlops.hooks.state import StateStoreHook

    if not (metadata_db / "dags" / "models.yaml").exists():
        run(BIN / "agentic-mlops", "init", "--dags-folder", metadata_db / "dags")
    airflow("dags", "reserialize")  # the model's DAG in the metadata DB, as the dag-processor puts it
    token = "compat-alerts-token"
    # the documented setup: any connection type, its password the bearer token
    monkeypatch.setenv("AIRFLOW_CONN_AGENTIC_MLOPS_ALERTS", json.dumps({"conn_type": "generic", "password": token}))
    client = TestClient(create_app())  # the plugin mounted at /agentic-mlops, as `airflow api-server` does
    answer = client.post(
        "/agentic-mlops/alerts", json=ALERTMANAGER_WEBHOOK, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 201, answer.text
    [result] = answer.json()["results"]
    assert (result["dag_id"], result["outcome"]) == (MODEL_DAG, "started"), result
    with create_session() as session:
        started = session.scalars(select(DagRun).where(DagRun.run_id == result["run_id"])).one()
        assert (started.dag_id, started.state) == (MODEL_DAG, "queued")
        assert started.conf["alert"]["fingerprint"] == "c0ffee"
        # named and noted as an alert's run; still a manual run, the one kind an API caller may create
        assert started.run_id.startswith("alert__") and started.run_type == "manual", started.run_id
        assert started.note.startswith("started by a monitoring alert (agentic MLOps): FeatureDrift"), started.note
        assert "c0ffee" in started.note
        session.delete(started)  # the demo loop runs this DAG next, with no other run around
    trail = StateStoreHook().get_store().audit_trail("fraud-detector")
    received = [(row["subject"], row["details"]["run_id"]) for row in trail if row["action"] == "alert_received"]
    assert received == [("c0ffee", result["run_id"])]


@pytest.mark.skipif(not RUN_LOOP, reason="the demo loop runs once, on the newest target (AGENTIC_MLOPS_COMPAT_LOOP=1)")
def test_demo_loop_from_a_plain_install_retrains_and_promotes_after_approval(airflow_home: Path) -> None:
    import mlflow
    import yaml

    run(BIN / "agentic-mlops", "demo", "--no-start", "--rows", "2000")
    models = airflow_home / "dags" / "models.yaml"
    config = yaml.safe_load(models.read_text())
    config["defaults"].setdefault("approval", {})["poke_interval_seconds"] = 1
    models.write_text(yaml.safe_dump(config))
    airflow("db", "migrate")

    approved: list[dict] = []
    stop = threading.Event()

    def approve_when_asked() -> None:
        while not stop.is_set():
            pending = json.loads(run(BIN / "agentic-mlops", "approvals", "list", "-o", "json"))
            if pending:
                run(BIN / "agentic-mlops", "approvals", "approve", str(pending[0]["id"]), "--yes", "--user", "compat")
                approved.append(pending[0])
                return
            time.sleep(1)

    approver = threading.Thread(target=approve_when_asked, daemon=True)
    approver.start()
    try:
        # the whole output is kept for a look (scripts/compat keeps it under its cache)
        log = Path(os.environ.get("AGENTIC_MLOPS_COMPAT_LOGS") or airflow_home) / "dags-test.log"
        out = airflow("dags", "test", MODEL_DAG, timeout=1200, log=log)
    finally:
        stop.set()
        approver.join(timeout=30)
    assert approved, out[-3000:]

    uri = f"sqlite:///{airflow_home / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("fraud-detector", "champion").version
    previous = client.get_model_version_by_alias("fraud-detector", "previous_champion").version
    assert int(champion) == int(previous) + 1
    # quiet logs: no warning floods, no ERROR for normal events, no migration chatter
    out = log.read_text()  # stdout and stderr
    flood = out.count("DeprecatedImportWarning")
    assert flood == 0, f"{flood} DeprecatedImportWarning lines, the first:\n" + _around(out, "DeprecatedImportWarning")
    for noise in ("RESOURCE_ALREADY_EXISTS", "already exists", "Running upgrade", "[error", "[critical"):
        assert noise not in out, _around(out, noise)
    print(f"python {sys.version.split()[0]}; champion moved {previous} -> {champion}")


def _around(text: str, needle: str, width: int = 1500) -> str:
    at = text.find(needle)
    return text[max(0, at - width) : at + width]
