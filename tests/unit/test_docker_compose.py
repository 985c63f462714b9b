"""docker-compose.yaml, Dockerfile, .dockerignore, .env.example and the CI override, checked
without a Docker engine.

The stack itself runs in CI (scripts/compose-ci starts it and runs the loop); these tests catch a
broken file before that, in seconds: the services, their healthchecks and start order, the official
images and the one image that carries the provider, the MLflow server's stores, the connections the
provider reads, the settings users change in .env, and the override CI adds. When a compose CLI is
installed, ``config -q`` validates both files against the Compose schema as well (no engine needed).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import skip_unless_ci

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
CI_OVERRIDE = ROOT / "docker" / "ci" / "docker-compose.ci.yaml"

AIRFLOW_COMPONENTS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
AIRFLOW_SERVICES = {"airflow-init", *AIRFLOW_COMPONENTS}
ONE_SHOT_SERVICES = {"airflow-init"}
MLFLOW_CONNECTIONS = (
    "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_REGISTRY",
    "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_TRAIN",
    "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_PROMOTE",
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=value form
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short form means service_started
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _command(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def _argv(service: dict) -> list[str]:
    """What the container runs: its ``entrypoint`` (when the service sets one) followed by its ``command``."""
    entrypoint = service.get("entrypoint") or []
    entry = shlex.split(entrypoint) if isinstance(entrypoint, str) else [str(part) for part in entrypoint]
    return entry + _command(service)


def _option(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}`` / ``${VAR:-default}`` substitution (unset or empty: the default)."""
    return _VARIABLE.sub(lambda m: env.get(m[1]) or (m[2] or ""), value)


def _variables(text: str) -> set[str]:
    """Variables a compose file interpolates (comments excluded, ``$${...}`` escapes skipped)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return {m[1] for m in _VARIABLE.finditer("\n".join(lines).replace("$$", ""))}


def _healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def _volume_mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) for each short-syntax or long-syntax volume of a service."""
    mounts = []
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            mounts.append((vol.get("source", ""), vol["target"]))
        else:
            source, target = vol.split(":")[:2]
            mounts.append((source, target))
    return mounts


def _dockerfile_instructions() -> list[tuple[str, str, str]]:
    """(stage name, INSTRUCTION, arguments) per logical Dockerfile line, comments dropped and
    backslash continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends inside a line continuation"
    result, stage = [], ""
    for line in logical:
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            match = re.search(r"\bAS\s+(\S+)", args, flags=re.IGNORECASE)
            stage = match.group(1) if match else ""
        result.append((stage, instr, args.strip()))
    return result


def _stage(name: str) -> list[tuple[str, str]]:
    instructions = [(instr, args) for stage, instr, args in _dockerfile_instructions() if stage == name]
    assert instructions, f"Dockerfile has no stage named {name!r}"
    return instructions


def _resolve_from(image: str) -> str:
    """Substitute a FROM line's ${ARG} with the ARG's default declared before the first FROM."""
    defaults = {}
    for stage, instr, args in _dockerfile_instructions():
        if instr == "ARG" and stage == "" and "=" in args:
            key, value = args.split("=", 1)
            defaults[key] = value
    return re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), image)


# --- services and start order -------------------------------------------------------------------


def test_compose_defines_airflow_3_components_database_and_mlflow(services: dict) -> None:
    expected = AIRFLOW_SERVICES | {"postgres", "mlflow"}
    assert expected <= set(services), f"missing services: {sorted(expected - set(services))}"
    for name, subcommand in AIRFLOW_COMPONENTS.items():
        assert _command(services[name]) == [subcommand], f"{name} should run `airflow {subcommand}`"


def test_every_long_running_service_has_an_enabled_healthcheck(services: dict) -> None:
    for name, service in services.items():
        if name in ONE_SHOT_SERVICES:
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        assert check.get("test") and check["test"] != ["NONE"], f"{name} healthcheck has no test"
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), f"{name} is not restarted"


def test_healthchecks_probe_each_service_the_right_way(services: dict) -> None:
    assert "http://localhost:8080/api/v2/monitor/health" in _healthcheck_text(services["airflow-apiserver"])
    scheduler = _healthcheck_text(services["airflow-scheduler"])
    assert "localhost:8974/health" in scheduler
    # The scheduler serves that endpoint only with its health check server enabled.
    assert _env(services["airflow-scheduler"])["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"].lower() == "true"
    assert "DagProcessorJob" in _healthcheck_text(services["airflow-dag-processor"])
    assert "TriggererJob" in _healthcheck_text(services["airflow-triggerer"])
    assert "pg_isready" in _healthcheck_text(services["postgres"])
    assert "http://127.0.0.1:5000/health" in _healthcheck_text(services["mlflow"])


def test_postgres_healthcheck_goes_over_tcp_so_the_init_server_is_not_reported_ready(services: dict) -> None:
    """The entrypoint's temporary server (init scripts, listen_addresses='') answers on the Unix
    socket only: a socket check reported it ready and airflow-init's TCP connect was refused."""
    test = services["postgres"]["healthcheck"]["test"]
    assert test[0] == "CMD" and "pg_isready" in test
    assert _option(test, "-h") == "127.0.0.1", f"pg_isready must check TCP, not the Unix socket: {test}"


def test_airflow_components_start_after_init_succeeded_and_postgres_is_healthy(services: dict) -> None:
    for name in AIRFLOW_COMPONENTS:
        deps = _depends_on(services[name])
        assert deps.get("airflow-init") == "service_completed_successfully", name
        assert deps.get("postgres") == "service_healthy", name


def test_airflow_init_waits_for_healthy_postgres_and_runs_once(services: dict) -> None:
    init = services["airflow-init"]
    assert _depends_on(init).get("postgres") == "service_healthy"
    assert init.get("restart") in (None, "no")
    script = " ".join(_command(init))
    assert "airflow db migrate" in script
    # The state store too: otherwise the first task or API request migrates it, blocking writes.
    assert "airflow agentic-mlops db migrate" in script
    assert "airflow providers get airflow-provider-agentic-mlops" in script


def test_scheduler_waits_for_healthy_mlflow_because_local_executor_runs_tasks_there(services: dict) -> None:
    assert _env(services["airflow-scheduler"])["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert _depends_on(services["airflow-scheduler"]).get("mlflow") == "service_healthy"


def test_every_dependency_names_an_existing_service(services: dict) -> None:
    for name, service in services.items():
        for dep in _depends_on(service):
            assert dep in services, f"{name} depends on unknown service {dep!r}"


# --- images ---------------------------------------------------------------------------------------


def test_airflow_services_share_the_image_built_from_the_dockerfile_airflow_stage(services: dict) -> None:
    images = set()
    for name in AIRFLOW_SERVICES:
        build = services[name].get("build")
        assert isinstance(build, dict), f"{name} is not built from the Dockerfile"
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
        assert build.get("target") == "airflow", name
        images.add(services[name]["image"])
    assert len(images) == 1, f"airflow services use different images: {images}"
    _stage("airflow")  # the target exists


def test_dockerfile_airflow_stage_is_airflow_3_with_the_provider_installed_as_airflow_user() -> None:
    stage = _stage("airflow")
    base = _resolve_from(stage[0][1].split()[0])
    assert re.fullmatch(r"apache/airflow:3\.\d+\.\d+(-python3\.1[0-2])?", base), base

    user = None
    copied: list[str] = []
    installs = []  # (user, argv, what was copied before)
    for instr, args in stage:
        if instr == "USER":
            user = args.split(":")[0]
        elif instr == "COPY":
            copied.append(args)
        elif instr == "RUN" and re.search(r"\bpip install\b", args):
            installs.append((user, shlex.split(args), " ".join(copied)))
    provider_installs = [install for install in installs if "." in install[1]]
    assert provider_installs, f"no `pip install ... .` in the airflow stage: {installs}"
    run_user, argv, copied_before = provider_installs[0]
    assert run_user == "airflow", "the apache/airflow image wants pip installs as the airflow user"
    # Keeps pip from replacing the image's Airflow while resolving the provider's dependencies.
    assert "apache-airflow==${AIRFLOW_VERSION}" in argv
    assert "airflow_provider_agentic_mlops" in copied_before, "the package is copied after the install"
    assert "pyproject.toml" in copied_before


def test_dockerfile_installs_dependencies_before_copying_the_package() -> None:
    """A change to the code or README reuses the cached dependency layer (minutes on a small machine)."""
    stage = _stage("airflow")
    first_install = next(i for i, (instr, args) in enumerate(stage) if instr == "RUN" and "pip install" in args)
    copied_before = " ".join(args for instr, args in stage[:first_install] if instr == "COPY")
    assert "pyproject.toml" in copied_before
    assert "airflow_provider_agentic_mlops" not in copied_before and "README" not in copied_before
    assert "apache-airflow==${AIRFLOW_VERSION}" in stage[first_install][1]


def test_dockerignore_keeps_everything_the_dockerfile_copies() -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for _stage_name, instr, args in _dockerfile_instructions():
        if instr != "COPY" or "--from" in args:
            continue
        sources = [s for s in args.split()[:-1] if not s.startswith("--")]
        for source in sources:
            name = source.rstrip("/")
            if "*" not in name:  # a wildcard may match nothing (LICENSE* before there is a LICENSE)
                assert (ROOT / name).exists() or name == "README.md", f"Dockerfile copies missing {source}"
            if "**" in patterns:
                assert name in included, f".dockerignore excludes {source}, which the Dockerfile copies"


def test_databases_and_mlflow_run_official_images_by_name_unmodified(services: dict) -> None:
    # Anyone with a registry pulls these; CI builds stand-ins under the same names.
    assert re.fullmatch(r"postgres:\d+(\.\d+)?-bookworm", services["postgres"]["image"])
    assert re.fullmatch(r"ghcr\.io/mlflow/mlflow:v3\.\d+\.\d+", services["mlflow"]["image"])
    for name in ("postgres", "mlflow"):
        assert "build" not in services[name], f"{name} should run the official image, not a local build"


def test_postgres_major_version_is_the_one_debian_bookworm_packages(services: dict) -> None:
    # scripts/compose-ci builds the postgres stand-in from Debian's postgresql-<major> package; a
    # data directory is tied to its major version, so the stand-in must be the same major.
    major = re.match(r"postgres:(\d+)", services["postgres"]["image"]).group(1)
    assert major == "15", f"postgres:{major} has no Debian bookworm package; CI could not stand in for it"


# --- MLflow server ----------------------------------------------------------------------------------


def _volume_holding(service: dict, path: str) -> str | None:
    """The source of the service's mount that contains ``path``."""
    for source, target in _volume_mounts(service):
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source
    return None


def test_mlflow_keeps_its_sqlite_backend_store_in_a_declared_named_volume(compose: dict, services: dict) -> None:
    # The official MLflow image has no PostgreSQL driver; SQLite takes one writer, so one worker.
    args = _command(services["mlflow"])
    assert args[:2] == ["mlflow", "server"]
    uri = _option(args, "--backend-store-uri")
    assert uri.startswith("sqlite:////"), uri
    volume = _volume_holding(services["mlflow"], uri.removeprefix("sqlite:///"))
    assert volume in (compose.get("volumes") or {}), f"{uri} is not on a declared named volume"
    assert _option(args, "--workers") == "1"


def test_mlflow_starts_no_job_runner_processes(services: dict) -> None:
    # MLflow 3's server otherwise starts several job-runner processes the provider never uses.
    assert _env(services["mlflow"])["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


def test_mlflow_serves_artifacts_from_a_declared_named_volume(compose: dict, services: dict) -> None:
    args = _command(services["mlflow"])
    assert "--serve-artifacts" in args
    destination = _option(args, "--artifacts-destination")
    volume = _volume_holding(services["mlflow"], destination)
    assert volume is not None, f"{destination} is not on a volume of the mlflow service"
    assert volume in (compose.get("volumes") or {}), "artifact volume not declared top-level"


def test_mlflow_accepts_requests_addressed_to_its_service_name(services: dict) -> None:
    # MLflow 3 rejects Host headers other than localhost / private IPs unless allowed.
    allowed = _option(_command(services["mlflow"]), "--allowed-hosts").split(",")
    assert "mlflow:5000" in allowed
    assert "localhost:*" in allowed


_PORT = re.compile(r"(?:(?P<ip>[\d.]+):)?(?:\$\{(?P<var>\w+):-(?P<default>\d+)\}|(?P<host>\d+)):(?P<container>\d+)")


def _published(service: dict) -> list[dict[str, str | None]]:
    """Each short-syntax port as ip / var / default host port / container port."""
    ports = []
    for spec in service.get("ports") or []:
        match = _PORT.fullmatch(str(spec))
        assert match, f"unexpected port spec {spec!r}"
        ports.append({**match.groupdict(), "host": match["host"] or match["default"]})
    return ports


def test_ui_ports_are_published_on_loopback_only_at_8080_and_5000_by_default(services: dict) -> None:
    publishing = {name for name, service in services.items() if service.get("ports")}
    assert publishing == {"airflow-apiserver", "mlflow"}, "only the two UIs are published"
    for name in publishing:
        for port in _published(services[name]):
            assert port["ip"] == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    (airflow,) = _published(services["airflow-apiserver"])
    (mlflow,) = _published(services["mlflow"])
    assert (airflow["var"], airflow["host"], airflow["container"]) == ("AIRFLOW_PORT", "8080", "8080")
    assert (mlflow["var"], mlflow["host"], mlflow["container"]) == ("MLFLOW_PORT", "5000", "5000")
    assert _option(_command(services["mlflow"]), "--port") == "5000"
    assert _option(_command(services["mlflow"]), "--host") == "0.0.0.0"


def test_every_named_volume_is_declared(compose: dict, services: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source, _target in _volume_mounts(service):
            if source and not source.startswith((".", "/", "$")):
                assert source in declared, f"{name} uses undeclared volume {source!r}"


# --- Airflow configuration and the provider's connections -------------------------------------------


def test_airflow_services_share_metadata_db_secrets_and_provider_settings(services: dict) -> None:
    shared = (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__API_AUTH__JWT_SECRET_CMD",
        "AIRFLOW__API__SECRET_KEY_CMD",
        "AIRFLOW__CORE__FERNET_KEY_CMD",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__AGENTIC_MLOPS__MODELS_FILE",
        "AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT",
        *MLFLOW_CONNECTIONS,
    )
    values = {key: {_env(services[name]).get(key) for name in AIRFLOW_SERVICES} for key in shared}
    for key, seen in values.items():
        assert len(seen) == 1 and None not in seen, f"{key} differs or is missing across airflow services: {seen}"

    env = _env(services["airflow-scheduler"])
    dotenv = {"POSTGRES_PASSWORD": "pg-pw-from-env"}
    meta = urlsplit(_interpolate(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], dotenv))
    pg_env = {key: _interpolate(value, dotenv) for key, value in _env(services["postgres"]).items()}
    assert pg_env["POSTGRES_PASSWORD"] == "pg-pw-from-env", "the database password comes from .env"
    assert meta.hostname == "postgres"
    assert (meta.username, meta.password, meta.path.lstrip("/")) == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
        pg_env["POSTGRES_DB"],
    )
    execution = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution.hostname, execution.port, execution.path) == ("airflow-apiserver", 8080, "/execution/")


def test_models_file_lies_in_the_mounted_dags_folder(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        mounts = _volume_mounts(services[name])
        assert any(source.endswith("/dags") and target == "/opt/airflow/dags" for source, target in mounts), name
    assert _env(services["airflow-scheduler"])["AIRFLOW__AGENTIC_MLOPS__MODELS_FILE"] == "/opt/airflow/dags/models.yaml"


def test_state_store_is_the_agentic_mlops_database_created_on_the_airflow_postgres(services: dict) -> None:
    conn = json.loads(_env(services["airflow-scheduler"])["AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT"])
    assert conn["conn_type"] == "agentic_mlops_state"
    url = urlsplit(conn["extra"]["url"])
    assert (url.hostname, url.path) == ("postgres", "/agentic_mlops")

    init_scripts = [
        ROOT / source
        for source, target in _volume_mounts(services["postgres"])
        if target.startswith("/docker-entrypoint-initdb.d/")
    ]
    assert init_scripts, "postgres mounts no init script"
    sql = " ".join(path.read_text() for path in init_scripts)
    assert "CREATE DATABASE agentic_mlops OWNER agentic_mlops" in sql


def test_state_store_connects_as_its_own_role_not_the_postgres_superuser(services: dict) -> None:
    """The superuser owns Airflow's metadata DB (connection passwords) and can run programs."""
    env = _env(services["airflow-scheduler"])
    pg_env = _env(services["postgres"])
    conn = json.loads(
        _interpolate(env["AIRFLOW_CONN_AGENTIC_MLOPS_STATE_DEFAULT"], {"AGENTIC_MLOPS_DB_PASSWORD": "pw1"})
    )
    url = urlsplit(conn["extra"]["url"])
    assert url.username == "agentic_mlops" != _interpolate(pg_env["POSTGRES_USER"], {})
    assert url.password == "pw1", "the state store's password comes from .env"
    assert _interpolate(pg_env["AGENTIC_MLOPS_DB_PASSWORD"], {"AGENTIC_MLOPS_DB_PASSWORD": "pw1"}) == "pw1"
    script = (ROOT / "docker" / "postgres" / "init-agentic-mlops.sh").read_text()
    assert "CREATE ROLE agentic_mlops LOGIN" in script
    assert "NOSUPERUSER" in script
    assert "REVOKE CONNECT" in script and "FROM PUBLIC" in script


def test_mlflow_connections_point_at_the_mlflow_service(services: dict) -> None:
    env = _env(services["airflow-scheduler"])
    for key in MLFLOW_CONNECTIONS:
        conn = json.loads(env[key])
        assert conn["conn_type"] == "agentic_mlops_mlflow", key
        assert conn["host"] == "http://mlflow:5000", key


def test_compose_connections_resolve_through_the_provider_hooks(services: dict, monkeypatch, tmp_path) -> None:
    """The env values are read by Airflow's own connection parsing and the provider's hooks."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    env = _env(services["airflow-scheduler"])
    for key, value in env.items():
        if key.startswith("AIRFLOW_CONN_"):
            monkeypatch.setenv(key, _interpolate(value, {}))

    from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook
    from airflow_provider_agentic_mlops.hooks.state import resolve_state_url

    assert resolve_state_url("agentic_mlops_state_default") == (
        "postgresql+psycopg2://agentic_mlops:agentic-mlops-demo-db-password-change-me@postgres:5432/agentic_mlops"
    )
    for conn_id in ("agentic_mlops_mlflow_registry", "agentic_mlops_mlflow_train", "agentic_mlops_mlflow_promote"):
        hook = MlflowRegistryHook(conn_id)
        assert hook.tracking_uri == "http://mlflow:5000"
        # The browser's MLflow: the published port (default 5000).
        assert hook.ui_url == "http://localhost:5000"

    env = _env(services["airflow-scheduler"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_REGISTRY",
        _interpolate(env["AIRFLOW_CONN_AGENTIC_MLOPS_MLFLOW_REGISTRY"], {"MLFLOW_PORT": "15000"}),
    )
    assert MlflowRegistryHook("agentic_mlops_mlflow_registry").ui_url == "http://localhost:15000"


def test_alerts_token_from_env_authenticates_at_the_alerts_route(services: dict, monkeypatch, tmp_path) -> None:
    """POST /agentic-mlops/alerts answers 503 without its connection: compose defines it from .env."""
    from airflow.models.connection import Connection

    from airflow_provider_agentic_mlops.plugins.alerts import DEFAULT_CONN_ID, authenticate

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    key = f"AIRFLOW_CONN_{DEFAULT_CONN_ID.upper()}"
    value = _env(services["airflow-apiserver"])[key]
    monkeypatch.setenv(key, _interpolate(value, {"AGENTIC_MLOPS_ALERTS_TOKEN": "t0ken-from-env"}))
    conn = Connection.get_connection_from_secrets(DEFAULT_CONN_ID)
    assert authenticate("Bearer t0ken-from-env", login=conn.login, password=conn.password)
    assert (
        authenticate("Bearer agentic-mlops-demo-alerts-token-change-me", login=conn.login, password=conn.password)
        is None
    )

    monkeypatch.setenv(key, _interpolate(value, {}))
    conn = Connection.get_connection_from_secrets(DEFAULT_CONN_ID)
    assert authenticate("Bearer agentic-mlops-demo-alerts-token-change-me", login=conn.login, password=conn.password)


def test_airflow_init_runs_bash_itself_before_any_secret_its_components_read_exists(services: dict) -> None:
    """The image's entrypoint checks the database first, reading Airflow's config, whose *_CMD secrets
    (`cat` of files in the secrets volume) airflow-init itself creates: on a first start that check fails
    and init never runs. Components other than init keep the entrypoint (init succeeded before they start)."""
    cmd_secrets = [v for k, v in _env(services["airflow-init"]).items() if k.endswith("_CMD")]
    assert cmd_secrets and all("/opt/airflow/secrets/" in v for v in cmd_secrets)
    assert services["airflow-init"].get("entrypoint") == "/bin/bash"
    assert _argv(services["airflow-init"])[:2] == ["/bin/bash", "-c"]
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-triggerer", "airflow-dag-processor"):
        assert "entrypoint" not in services[name], name


def test_airflow_init_writes_the_login_the_simple_auth_manager_reads(services: dict) -> None:
    init_env = _env(services["airflow-init"])
    api_env = _env(services["airflow-apiserver"])
    assert api_env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    user = init_env["_AIRFLOW_WWW_USER_USERNAME"]
    assert api_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == f"{user}:admin"
    passwords_file = api_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    auth_dir = str(Path(passwords_file).parent)
    for name in ("airflow-init", "airflow-apiserver"):
        assert auth_dir in {target for _source, target in _volume_mounts(services[name])}, name


def test_airflow_init_script_writes_a_passwords_file_the_simple_auth_manager_accepts(
    services: dict, tmp_path: Path
) -> None:
    """Runs the init command with `airflow` replaced by a recorder; checks the file it leaves."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not available")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    calls = tmp_path / "calls"
    (fake_bin / "airflow").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (fake_bin / "airflow").chmod(0o755)
    python = fake_bin / "python"
    python.symlink_to(Path(shutil.which("python3") or shutil.which("python")))
    passwords = tmp_path / "passwords.json"
    argv = _argv(services["airflow-init"])
    assert argv[:2] == ["/bin/bash", "-c"]
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    env = {
        "PATH": f"{fake_bin}:/usr/bin:/bin",
        "_AIRFLOW_SECRETS_DIR": str(secrets_dir),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "_AIRFLOW_WWW_USER_USERNAME": "airflow",
        "_AIRFLOW_WWW_USER_PASSWORD": "s3cret",
    }
    subprocess.run([bash, "-c", argv[2]], env=env, check=True, capture_output=True, timeout=60)

    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    with passwords.open() as stream:
        assert SimpleAuthManager._get_passwords(stream) == {"airflow": "s3cret"}
    assert calls.read_text().splitlines() == [
        "db migrate",
        "agentic-mlops db migrate",
        "providers get airflow-provider-agentic-mlops",
    ]


# --- the Compose schema, when a compose CLI is installed --------------------------------------------


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_compose_file_passes_docker_compose_config_validation(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        skip_unless_ci(  # .ci/run installs Docker (scripts/compose-ci) before the main suite
            "no `docker compose` plugin or docker-compose binary installed; schema validation not run",
            absent="a missing docker compose",
        )
    result = subprocess.run(
        [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "-f", str(CI_OVERRIDE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


# --- .env: the settings users change ----------------------------------------------------------------


def _env_example() -> dict[str, str]:
    entries = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example line without '=': {line!r}"
            entries[key.strip()] = value.strip()
    return entries


def test_env_example_documents_every_setting_the_compose_file_reads_with_its_default() -> None:
    text = COMPOSE_FILE.read_text()
    used = _variables(text)
    documented = _env_example()
    assert used == set(documented), (
        f"only in compose: {used - set(documented)}; only in .env.example: {set(documented) - used}"
    )
    defaults = {m[1]: m[2] or "" for m in _VARIABLE.finditer(text)}
    for key, value in documented.items():
        assert defaults.get(key, "") == value, (
            f".env.example says {key}={value}, the compose default is {defaults.get(key)!r}"
        )


def test_env_file_is_not_committed_or_sent_to_the_build() -> None:
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert ".env" in gitignore
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    assert "**" in patterns and "!.env" not in patterns


# --- the CI override (scripts/compose-ci) ------------------------------------------------------------


def test_ci_override_pulls_nothing_and_changes_no_image_port_or_network(services: dict) -> None:
    override = yaml.safe_load(CI_OVERRIDE.read_text())
    assert set(override) == {"services"}, "the override adds no networks or volumes of its own"
    assert set(override["services"]) == set(services), "every service, and only those, is covered"
    for name, service in override["services"].items():
        assert service.get("pull_policy") == "never", name
        assert set(service) <= {"pull_policy", "environment", "healthcheck"}, f"{name} overrides {set(service)}"
        # Only patience on a busy machine: the checks themselves stay the user's.
        assert set(service.get("healthcheck") or {}) <= {"start_period"}, name


def test_ci_override_stops_scheduled_runs_only(services: dict) -> None:
    """The run under test in CI is the one the alert starts: no @daily run when the DAG is unpaused."""
    override = yaml.safe_load(CI_OVERRIDE.read_text())["services"]
    changed = {name: _env(service) for name, service in override.items() if service.get("environment")}
    assert changed == {"airflow-scheduler": {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "false"}}


def test_ci_stand_ins_exist_for_each_official_image() -> None:
    ci = ROOT / "docker" / "ci"
    for name in ("python", "postgres", "mlflow", "airflow"):
        assert (ci / name / "Dockerfile").is_file(), name
    script = (ROOT / "scripts" / "compose-ci").read_text()
    for context in ("docker/ci/python", "docker/ci/postgres", "docker/ci/mlflow", "docker/ci/airflow"):
        assert context in script, f"scripts/compose-ci does not build {context}"
    assert "docker/ci/docker-compose.ci.yaml" in script


def test_ci_airflow_and_mlflow_stand_ins_share_one_environment() -> None:
    """Airflow and the MLflow server are installed once, in the shared image both stand-ins build on.

    Two separate pip installs of them (and an `apt-get` layer for Python) made a cold CI build take
    39 minutes; the shared uv install is what keeps the compose step within CI's time.
    """
    ci = ROOT / "docker" / "ci"
    shared = (ci / "python" / "Dockerfile").read_text()
    install = next(line for line in shared.split("RUN ") if "uv pip install" in line)
    assert "apache-airflow==${AIRFLOW_VERSION}" in install and "mlflow==${MLFLOW_VERSION}" in install
    assert "--constraint" in install, "the stand-ins install the versions the project's .venv was tested with"
    for name in ("airflow", "mlflow"):
        dockerfile = (ci / name / "Dockerfile").read_text()
        assert re.search(r"^FROM \$\{PYTHON_IMAGE\}$", dockerfile, re.M), name
        assert "pip install" not in dockerfile, f"the {name} stand-in installs packages of its own"


# --- the shared secrets ---------------------------------------------------------------------------

SECRET_FILES = {
    "AIRFLOW__API_AUTH__JWT_SECRET_CMD": ("jwt_secret", "AIRFLOW_JWT_SECRET"),
    "AIRFLOW__API__SECRET_KEY_CMD": ("api_secret_key", "AIRFLOW_API_SECRET_KEY"),
    "AIRFLOW__CORE__FERNET_KEY_CMD": ("fernet_key", "AIRFLOW_FERNET_KEY"),
}


def _run_init_secrets(services: dict, tmp_path: Path, dotenv: dict[str, str]) -> subprocess.CompletedProcess:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not available")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "airflow").write_text("#!/bin/sh\n")
    (fake_bin / "airflow").chmod(0o755)
    python = fake_bin / "python"
    if not python.exists():
        python.symlink_to(Path(shutil.which("python3") or shutil.which("python")))
    init_env = _env(services["airflow-init"])
    env = {
        "PATH": f"{fake_bin}:/usr/bin:/bin",
        "_AIRFLOW_SECRETS_DIR": str(tmp_path / "secrets"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "passwords.json"),
        "_AIRFLOW_WWW_USER_USERNAME": "airflow",
        "_AIRFLOW_WWW_USER_PASSWORD": "pw",
    }
    for _file, variable in SECRET_FILES.values():
        env[variable] = _interpolate(init_env[variable], dotenv)
    (tmp_path / "secrets").mkdir(exist_ok=True)
    return subprocess.run(
        [bash, "-c", _argv(services["airflow-init"])[2]], env=env, capture_output=True, text=True, timeout=60
    )


def _secrets(tmp_path: Path) -> dict[str, str]:
    return {name: (tmp_path / "secrets" / name).read_text() for name, _variable in SECRET_FILES.values()}


def test_no_component_starts_with_a_known_default_secret(services: dict) -> None:
    """A default JWT secret let anyone mint an admin token (200 on /api/v2/connections)."""
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
            assert key not in env, f"{name} sets {key} directly; it must be read from the secrets volume"
        for key, (file, _variable) in SECRET_FILES.items():
            assert env[key] == f"cat /opt/airflow/secrets/{file}", (name, key)
        assert "/opt/airflow/secrets" in {target for _source, target in _volume_mounts(services[name])}, name
    assert "change-me" not in COMPOSE_FILE.read_text().split("AGENTIC_MLOPS_ALERTS", 1)[0].replace(
        "AGENTIC_MLOPS_DB_PASSWORD:-agentic-mlops-demo-db-password-change-me", ""
    )


def test_airflow_init_generates_random_secrets_once_and_keeps_them(services: dict, tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    result = _run_init_secrets(services, tmp_path, {})
    assert result.returncode == 0, result.stderr
    first = _secrets(tmp_path)
    assert all(len(value) >= 32 for value in first.values()), first
    Fernet(first["fernet_key"].encode())  # a valid key
    assert _run_init_secrets(services, tmp_path, {}).returncode == 0
    assert _secrets(tmp_path) == first, "a restart must keep the secrets (tokens, encrypted passwords)"

    other = tmp_path / "other"
    other.mkdir()
    assert _run_init_secrets(services, other, {}).returncode == 0
    assert _secrets(other)["jwt_secret"] != first["jwt_secret"], "each stack gets its own secret"


def test_airflow_init_takes_secrets_from_env_and_refuses_placeholders(services: dict, tmp_path: Path) -> None:
    key = "x" * 43 + "="
    dotenv = {"AIRFLOW_JWT_SECRET": "jwt-from-env", "AIRFLOW_API_SECRET_KEY": "key-from-env", "AIRFLOW_FERNET_KEY": key}
    result = _run_init_secrets(services, tmp_path, dotenv)
    assert result.returncode == 0, result.stderr
    assert _secrets(tmp_path) == {"jwt_secret": "jwt-from-env", "api_secret_key": "key-from-env", "fernet_key": key}

    result = _run_init_secrets(services, tmp_path, {"AIRFLOW_JWT_SECRET": "agentic-mlops-demo-jwt-secret-change-me"})
    assert result.returncode != 0
    assert "AIRFLOW_JWT_SECRET" in result.stderr and "placeholder" in result.stderr


def test_demo_data_paths_of_models_yaml_lie_on_a_named_volume_every_component_mounts(
    compose: dict, services: dict
) -> None:
    """In the container's writable layer the data was lost on down/up and absent from other containers."""
    models = yaml.safe_load((ROOT / "dags" / "models.yaml").read_text())
    paths = re.findall(r"\$\{AIRFLOW_HOME\}(/demo-data/[^\s'\"]+)", json.dumps(models))
    assert paths, "models.yaml names no demo data"
    for name in AIRFLOW_SERVICES:
        for path in paths:
            volume = _volume_holding(services[name], "/opt/airflow" + path)
            assert volume in (compose.get("volumes") or {}), f"{name}: {path} is not on a named volume"
    made = [args for instr, args in _stage("airflow") if instr == "RUN" and "/opt/airflow/demo-data" in args]
    assert made, "the image must create /opt/airflow/demo-data (as airflow) so the empty volume is writable"


# --- Slack approvals, uncommented -------------------------------------------------------------------


def _slack_uncommented() -> str:
    """docker-compose.yaml with its commented Slack settings and ``airflow-slack-listener`` service uncommented,
    as a user follows "uncomment the Slack ones to use them"."""
    lines, in_service = [], False
    for line in COMPOSE_FILE.read_text().splitlines():
        setting = re.match(r"^(\s*)# ((?:AIRFLOW_CONN_SLACK|AIRFLOW__AGENTIC_MLOPS__SLACK)\w*:.*|\s+\{.*\}.*)$", line)
        if re.match(r"^  # airflow-slack-listener:", line):
            in_service = True
        elif in_service and not line.startswith("  #   "):
            in_service = False
        if in_service:
            lines.append("  " + line[4:])
        elif setting and lines and ("SLACK" in setting.group(2) or "SLACK" in lines[-1]):
            lines.append(setting.group(1) + setting.group(2))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def test_uncommented_slack_settings_make_clicks_reach_the_provider_without_a_public_url() -> None:
    # the API port is published on 127.0.0.1 only, so Slack cannot post clicks to it: the Socket Mode listener
    # (an app-level token) is what receives them, and the comments say what else is needed
    compose = yaml.safe_load(_slack_uncommented())
    services = compose["services"]
    env = _env(services["airflow-apiserver"])
    slack = json.loads(env["AIRFLOW_CONN_SLACK_API_DEFAULT"])
    assert slack["password"].startswith("xoxb-") and slack["extra"]["app_token"].startswith("xapp-")
    assert env["AIRFLOW__AGENTIC_MLOPS__SLACK_SIGNING_SECRET"]
    listener = services["airflow-slack-listener"]
    assert _command(listener) == ["agentic-mlops", "slack-listener"]
    assert listener["image"] == services["airflow-apiserver"]["image"]
    assert _env(listener)["AIRFLOW_CONN_SLACK_API_DEFAULT"] == env["AIRFLOW_CONN_SLACK_API_DEFAULT"]
    assert _depends_on(listener)["airflow-init"] == "service_completed_successfully"
    text = COMPOSE_FILE.read_text()
    for needed in ("/agentic-mlops/slack/interactions", "slack-listener", "approval.approvers", "SLACK_APP_TOKEN"):
        assert needed in text


def test_compose_file_with_slack_uncommented_passes_docker_compose_config_validation(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no `docker compose` plugin or docker-compose binary installed")
    uncommented = tmp_path / "docker-compose.yaml"
    uncommented.write_text(_slack_uncommented())
    result = subprocess.run(
        [*cli, "--project-directory", str(ROOT), "-f", str(uncommented), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
