"""After installation Airflow discovers the provider: `airflow providers get`, hooks, links, CLI, plugin.

These run the real ``airflow`` command in a subprocess against a fresh AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import AIRFLOW

PKG = "airflow_provider_agentic_mlops"


def _airflow(*args: str, home: Path) -> str:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([*AIRFLOW, *args], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, f"airflow {' '.join(args)} failed:\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("airflow_home")


def test_providers_get_lists_the_provider_with_its_parts(home: Path) -> None:
    (info,) = json.loads(
        _airflow("providers", "get", "airflow-provider-agentic-mlops", "--full", "-o", "json", home=home)
    )
    assert info["package-name"] == "airflow-provider-agentic-mlops"
    operators = info["operators"][0]["python-modules"]
    assert f"{PKG}.operators.drift" in operators and f"{PKG}.operators.promote" in operators
    assert info["sensors"][0]["python-modules"] == [f"{PKG}.sensors.approval"]
    assert info["triggers"][0]["python-modules"] == [f"{PKG}.triggers.approval"]
    assert {c["connection-type"] for c in info["connection-types"]} == {
        "agentic_mlops_state",
        "agentic_mlops_mlflow",
        "agentic_mlops_llm",
    }
    assert all("conn-fields" in c for c in info["connection-types"])
    assert "agentic_mlops" in info["config"]
    # the plugin is declared once, by the `airflow.plugins` entry point (test_the_plugin_is_declared_once)
    assert "plugins" not in info


def test_every_declared_module_and_class_imports(home: Path) -> None:
    from importlib import import_module

    from airflow_provider_agentic_mlops.get_provider_info import get_provider_info

    info = get_provider_info()
    modules = [
        m for key in ("operators", "sensors", "triggers", "hooks") for e in info[key] for m in e["python-modules"]
    ]
    for module in modules:
        import_module(module)
    for path in [c["hook-class-name"] for c in info["connection-types"]] + info["extra-links"]:
        module, _, name = path.rpartition(".")
        assert hasattr(import_module(module), name), path


def test_connection_types_are_registered_with_their_hooks(home: Path) -> None:
    hooks = json.loads(_airflow("providers", "hooks", "-o", "json", home=home))
    ours = {h["connection_type"]: h for h in hooks if h["package_name"] == "airflow-provider-agentic-mlops"}
    assert ours["agentic_mlops_mlflow"]["class"] == f"{PKG}.hooks.mlflow.MlflowRegistryHook"
    assert ours["agentic_mlops_llm"]["class"] == f"{PKG}.hooks.llm.LLMHook"
    assert ours["agentic_mlops_state"]["class"] == f"{PKG}.hooks.state.StateStoreHook"


def test_cli_group_and_plugin_are_registered(home: Path) -> None:
    help_text = _airflow("agentic-mlops", "--help", home=home)
    for command in ("approvals", "decisions", "models", "demo", "rollback", "slack-listener"):
        assert command in help_text
    assert "approve" in _airflow("agentic-mlops", "approvals", "--help", home=home)
    plugins = json.loads(_airflow("plugins", "-o", "json", home=home))
    assert any(p["name"] == "agentic_mlops" for p in plugins), plugins


@pytest.mark.parametrize("lazy", ["True", "False"])
def test_the_plugin_is_declared_once_and_loads_either_way(home: Path, lazy: str) -> None:
    """Airflow 3.1-3.3 load ``airflow.plugins`` entry points always, and provider info's ``plugins`` only with
    ``[core] lazy_discover_providers=False``; declared in both, each process warned "Plugin 'agentic_mlops'
    already registered, skipping" and counted it as a plugin import error."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": lazy,
    }
    code = (
        "import json; from airflow import plugins_manager as pm; "
        "print(json.dumps([[p['name'] for p in pm.get_plugin_info()], pm.get_import_errors()]))"
    )
    # not from the clone's root: `python -c` puts the working directory on sys.path, and the editable
    # install's *.egg-info there is a second copy of the package's metadata (see the demo's test of it)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=home)
    assert out.returncode == 0, out.stderr[-3000:]
    names, errors = json.loads(out.stdout.splitlines()[-1])
    assert names.count("agentic_mlops") == 1
    assert errors == {}
    assert "already registered" not in out.stderr


@pytest.mark.parametrize(
    "schema_path",
    [
        Path(__file__).resolve().parents[1] / "data" / "provider_info.schema.airflow-3.1.0.json",
        "installed",
    ],
    ids=["airflow-3.1.0", "installed-airflow"],
)
def test_provider_info_is_valid_for_airflow_3_1_and_the_installed_airflow(schema_path) -> None:
    """Airflow 3.1 knows neither `cli` nor `conn-fields`; its schema must still accept them (it does
    not forbid extra keys), so the same provider info serves 3.1 and 3.2+."""
    import airflow
    import jsonschema

    from airflow_provider_agentic_mlops.get_provider_info import get_provider_info

    if schema_path == "installed":
        schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    schema = json.loads(Path(schema_path).read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_champion_asset_scheme_is_registered_and_validated(home: Path) -> None:
    from airflow.sdk import Asset

    from airflow_provider_agentic_mlops.assets import champion_asset_uri, create_asset
    from airflow_provider_agentic_mlops.get_provider_info import get_provider_info

    (entry,) = get_provider_info()["asset-uris"]
    assert entry["schemes"] == ["agentic-mlops"]
    assert create_asset(model_name="fraud-detector").uri == champion_asset_uri("fraud-detector")
    # Airflow applies the provider's handler: a malformed URI of the scheme is refused by name
    assert Asset(uri="agentic-mlops://models/fraud-detector/champion/").uri == champion_asset_uri("fraud-detector")
    with pytest.raises(ValueError, match="is not agentic-mlops://models/<model_name>/champion"):
        Asset(uri="agentic-mlops://models/fraud-detector")


def test_every_setting_the_code_reads_is_declared_in_provider_info() -> None:
    """A setting read but not declared is missing from `airflow config list` and warns 'not found' on
    `config get-value` (mlflow_read_conn_id was)."""
    import re

    from airflow_provider_agentic_mlops.get_provider_info import get_provider_info

    declared = set(get_provider_info()["config"]["agentic_mlops"]["options"])
    read = {
        name
        for source in Path(PKG).rglob("*.py")
        for name in re.findall(r'"agentic_mlops",\s*"([a-z_]+)"', source.read_text())
    }
    assert read, "no setting found: the pattern no longer matches how the code reads settings"
    assert read <= declared, f"read but not declared: {sorted(read - declared)}"


def test_the_documented_defaults_are_the_ones_the_code_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """`airflow config list` shows the defaults the readers of the settings fall back to: the provider info takes
    them from the same constants (plain ones, cheap to import where Airflow reads the provider info), not copies."""
    from airflow_provider_agentic_mlops import get_provider_info as info
    from airflow_provider_agentic_mlops.core.state import DEFAULT_MIGRATION_LOCK_TIMEOUT
    from airflow_provider_agentic_mlops.plugins import alerts

    def defaults() -> dict[str, str]:
        options = info.get_provider_info()["config"]["agentic_mlops"]["options"]
        return {name: option["default"] for name, option in options.items()}

    code = {
        "alerts_conn_id": alerts.DEFAULT_CONN_ID,
        "alert_model_label": alerts.DEFAULT_MODEL_LABEL,
        "alert_lock_timeout": f"{alerts.DEFAULT_LOCK_TIMEOUT:g}",
        "migration_lock_timeout": f"{DEFAULT_MIGRATION_LOCK_TIMEOUT:g}",
    }
    assert {name: defaults()[name] for name in code} == code
    for name, value in (
        ("DEFAULT_ALERTS_CONN_ID", "team_alerts"),
        ("DEFAULT_ALERT_MODEL_LABEL", "service"),
        ("DEFAULT_ALERT_LOCK_TIMEOUT", 12.5),
        ("DEFAULT_MIGRATION_LOCK_TIMEOUT", 60.0),
    ):
        monkeypatch.setattr(info, name, value)  # the option's default follows the constant
    assert {name: defaults()[name] for name in code} == {
        "alerts_conn_id": "team_alerts",
        "alert_model_label": "service",
        "alert_lock_timeout": "12.5",
        "migration_lock_timeout": "60",
    }


def test_every_llm_connection_extra_the_hook_reads_is_a_field_of_the_connection_form() -> None:
    """An extra the README documents but the form lacks can only be set as raw JSON (decision_timeout,
    max_tokens_param and default_headers were)."""
    import re

    from airflow_provider_agentic_mlops.get_provider_info import get_provider_info

    (llm,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "agentic_mlops_llm"]
    source = (Path(PKG) / "hooks" / "llm.py").read_text()
    read = set(re.findall(r'extra\.get\("([a-z_]+)"', source)) | set(re.findall(r'number\(\s*"([a-z_]+)"', source))
    assert {"model", "timeout", "max_tokens"} <= read, "the pattern no longer matches how the hook reads extras"
    assert read <= set(llm["conn-fields"]), f"read but not in the form: {sorted(read - set(llm['conn-fields']))}"
