"""The deployment files agree with the code (docs/deploy.md): .env.example lists every variable the portal reads and
nothing it does not; docker-compose.yml has a healthcheck per service, waits on health, keeps Redis append-only,
and references only variables .env.example documents. No Docker here: the compose file is checked as YAML.

Variables are discovered from the source (an AST walk), never listed by hand, so a setting added in any branch
is caught: ``os.environ.get("X")``, ``os.environ["X"]``, ``os.getenv("X")`` and the helpers ``envbool``/``envint``/
``envurl`` (any ``env*``/``_env*`` function called with a string first).
"""

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "registry_portal" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE = ROOT / "docker-compose.yml"
SKIP_PARTS = {".venv", "var", "node_modules", "migrations", "bench"}  # bench/: developer tools, not the portal

# Read by code that is not the running portal: never configuration of a deployment.
NOT_CONFIGURATION = {
    "CI": "tests: CI must have PostgreSQL, Redis and Chromium instead of skipping",
    "PORTAL_TEST_BROKER_URL": "tests: the Redis database real Celery workers of the tests use",
    "PORTAL_E2E_STACK": "tests: which stack the browser journeys drive (live-server or prod-local)",
    "DJANGO_ALLOW_ASYNC_UNSAFE": "tests: saved and restored around Playwright's event loop",
    "PORTAL_TOKEN": "scripts/portal-gate: a CI/CD job's API token, the gate client's, not the portal's",
}

ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
COMPOSE_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:[:?+-][^}]*)?\}")


def env_reads(path: Path) -> set[str]:
    """Names of the environment variables ``path`` reads, by string literal."""
    tree = ast.parse(path.read_text(), str(path))

    def is_environ(node) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "environ"
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        )

    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            first, func = node.args[0].value, node.func
            if not isinstance(first, str):
                continue
            if isinstance(func, ast.Attribute) and (
                (func.attr in ("get", "pop") and is_environ(func.value)) or func.attr == "getenv"
            ):
                names.add(first)
            elif isinstance(func, ast.Name) and re.fullmatch(r"_?env[a-z_]*", func.id):
                names.add(first)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and is_environ(node.value)
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return names


def python_sources():
    """Our Python files, test modules left out (conftest files, which hold the fixtures' knobs, stay in), and the
    Python scripts under scripts/."""
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if SKIP_PARTS & set(rel.parts) or rel.name.startswith("test_"):
            continue
        yield path
    for path in sorted((ROOT / "scripts").iterdir()):
        if path.is_file() and path.read_text(errors="replace").startswith("#!/usr/bin/env python"):
            yield path


def read_by_code() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in python_sources():
        for name in env_reads(path):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def documented() -> set[str]:
    """Variables in .env.example, commented-out (optional) lines included."""
    return set(ENV_LINE.findall(ENV_EXAMPLE.read_text()))


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_discovery_finds_what_the_settings_read():
    """The walk itself, on names settings.py certainly reads through each form: a broken walk would make the
    two-way tests below pass on nothing."""
    names = env_reads(SETTINGS)
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "PORTAL_URL", "LOG_LEVEL"} <= names
    assert {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} <= set(read_by_code())


def test_every_variable_the_settings_read_is_in_env_example():
    missing = sorted(env_reads(SETTINGS) - documented())
    assert not missing, f"add these to .env.example (with a comment and a safe example value): {missing}"


def test_every_variable_the_portal_reads_is_in_env_example_or_excluded_with_a_reason():
    found = read_by_code()
    missing = {name: sorted(where) for name, where in found.items() if name not in documented()}
    missing = {name: where for name, where in missing.items() if name not in NOT_CONFIGURATION}
    assert not missing, (
        "read by the code but not in .env.example: add them there, or, if no deployment sets them, to "
        f"NOT_CONFIGURATION in {Path(__file__).name} with the reason: {missing}"
    )


def test_every_variable_in_env_example_is_read_somewhere():
    compose_vars = set(COMPOSE_VAR.findall(COMPOSE.read_text()))
    unread = sorted(documented() - set(read_by_code()) - compose_vars)
    assert not unread, f".env.example lists variables nothing reads (neither the code nor docker-compose.yml): {unread}"


def test_no_exclusion_is_documented_too():
    both = sorted(documented() & set(NOT_CONFIGURATION))
    assert not both, f"excluded as not configuration, yet in .env.example: {both}"


def test_every_variable_docker_compose_references_is_in_env_example():
    missing = sorted(set(COMPOSE_VAR.findall(COMPOSE.read_text())) - documented())
    assert not missing, f"docker-compose.yml uses ${{VAR}}s that .env.example does not list: {missing}"


@pytest.mark.parametrize("service", sorted(compose()["services"]))
def test_every_service_has_a_healthcheck_and_a_restart_policy(service):
    spec = compose()["services"][service]
    check = spec.get("healthcheck") or {}
    assert check.get("test"), f"{service} has no healthcheck"
    assert check["test"][0] in ("CMD", "CMD-SHELL"), check["test"]
    assert spec.get("restart") in ("always", "unless-stopped", "on-failure"), (
        f"{service}: restart {spec.get('restart')}"
    )
    if check["test"][:3] == ["CMD", "python", "-c"]:
        compile(check["test"][3], f"{service} healthcheck", "exec")


def test_services_wait_for_the_health_of_what_they_depend_on():
    services = compose()["services"]
    for name, spec in services.items():
        depends = spec.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name conditions, got {depends}"
        for other, condition in depends.items():
            assert other in services, f"{name} depends on unknown {other}"
            assert condition == {"condition": "service_healthy"}, f"{name} → {other}: {condition}"
    assert set(services["web"]["depends_on"]) == {"postgres", "redis", "mlflow"}
    assert set(services["worker"]["depends_on"]) >= {"web", "redis"}
    assert set(services["beat"]["depends_on"]) >= {"worker"}


def test_the_healthchecks_probe_what_the_brief_of_each_service_is():
    services = compose()["services"]
    flat = {name: " ".join(spec["healthcheck"]["test"]) for name, spec in services.items()}
    assert "/healthz" in flat["web"]
    assert "celery -A registry_portal inspect ping -d celery@$$HOSTNAME" in flat["worker"]
    assert "--hostname=celery@%h" in services["worker"]["command"]
    assert "/health" in flat["mlflow"]
    assert (
        "celerybeat-schedule" in flat["beat"]
        and "--schedule /app/var/celerybeat-schedule" in (services["beat"]["command"])
    )


def test_redis_keeps_queued_work_append_only_on_a_volume():
    redis = compose()["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    assert "--save" not in command or command[command.index("--save") + 1] != ""
    volumes = [v.split(":")[0] for v in redis["volumes"]]
    assert any(v in compose()["volumes"] and "/data" in m for v, m in zip(volumes, redis["volumes"], strict=True))


def test_exactly_one_beat():
    services = compose()["services"]
    beats = [name for name, spec in services.items() if " beat" in str(spec.get("command", ""))]
    assert beats == ["beat"]
    assert "replicas" not in services["beat"].get("deploy", {}) or services["beat"]["deploy"]["replicas"] == 1
