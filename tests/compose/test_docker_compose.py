"""docker-compose.yml, without docker: the Compose Specification schema, health, pinning, secrets, ports.

The schema is the Compose Specification JSON schema (compose-spec/compose-spec, schema/compose-spec.json)
as vendored by the check-jsonschema package (pinned in requirements.txt; its copy's sha256 is asserted
below, so a package upgrade that changes the schema shows up here). The file is interpolated first, the
way `docker compose` does, from a sample .env.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
SCHEMA_FILE = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"  # check-jsonschema 0.39.0

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")
SECRET_KEY = re.compile(r"(PASSWORD|SECRET|API_KEY|TOKEN)$", re.IGNORECASE)  # not *_PASSWORDS_FILE


class MissingVariable(ValueError):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """`docker compose` interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error}; $$ is a literal $."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        if env.get(name):
            return env[name]
        if op == ":?":
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        return arg if op == ":-" else ""

    return _VARIABLE.sub(one, value)


def env_example() -> dict[str, str]:
    """Every variable .env.example names, commented-out optional ones included, with its value."""
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=(\S*)", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def sample_env() -> dict[str, str]:
    return {name: f"sample{name.lower().replace('_', '')}" for name, value in env_example().items() if value == ""}


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any], sample_env: dict[str, str]) -> dict[str, Any]:
    return interpolate(raw, sample_env)


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    text = SCHEMA_FILE.read_bytes()
    assert hashlib.sha256(text).hexdigest() == SCHEMA_SHA256
    schema = yaml.safe_load(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]


@pytest.mark.parametrize("breakage", ["unknown service key", "ports as a mapping", "bad depends_on condition"])
def test_the_schema_catches_a_broken_file(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator, breakage: str
) -> None:
    broken = copy.deepcopy(compose)
    kibana = broken["services"]["kibana"]
    if breakage == "unknown service key":
        kibana["restart_policy"] = "always"
    elif breakage == "ports as a mapping":
        kibana["ports"] = {"5601": 5601}
    else:
        kibana["depends_on"]["elasticsearch"]["condition"] = "service_ready"
    assert list(validator.iter_errors(broken))


def test_every_service_another_depends_on_is_healthy_or_a_finished_job(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions, not a bare list"
        for target, rule in depends.items():
            condition = rule["condition"]
            if condition == "service_healthy":
                assert services[target].get("healthcheck", {}).get("test"), f"{target} has no healthcheck"
            else:
                assert condition == "service_completed_successfully", (name, target, condition)
                assert services[target].get("restart") == "no", f"{target} is a one-shot job: restart must be no"


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service.get("image", "")
        assert image, f"{name} has no image"
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned to a version"
        if "build" not in service:
            # a release, not a line: 9.2.8, 7.4.1; PostgreSQL numbers its releases major.minor (16.6)
            assert re.match(r"\d+\.\d+", tag), f"{name}: {image} floats (pin a release)"
    for name, service in compose["services"].items():
        inline = (service.get("build") or {}).get("dockerfile_inline", "")
        for base in re.findall(r"^FROM\s+(\S+)", inline, flags=re.MULTILINE):
            assert re.search(r":\d+\.\d+\.\d+", base), f"{name}: base image {base} is not pinned"


def _environments(raw: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for name, service in raw["services"].items():
        env = service.get("environment") or {}
        pairs = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
        found += [(name, str(k), str(v)) for k, v in pairs]
    return found


def test_no_literal_secret(raw: dict[str, Any]) -> None:
    required = re.compile(r"\$\{[A-Z_]+:\?[^}]+\}")
    for service, key, value in _environments(raw):
        if SECRET_KEY.search(key):
            assert required.fullmatch(value), f"{service}: {key} must come from .env as ${{VAR:?...}}, got {value!r}"
        for secret in re.findall(r"://[^:/@]+:([^@]+)@", value):
            assert required.fullmatch(secret), f"{service}: {key} has a password in its URL: {secret!r}"
    text = COMPOSE.read_text(encoding="utf-8")
    assert "admin:admin@" not in text and "change-me" not in text
    assert "xpack.security.enabled: \"true\"" in text


def test_every_secret_is_required_and_documented_without_a_default(raw: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    used = {m.group("name") for m in _VARIABLE.finditer(text) if m.group("name")}
    documented = env_example()
    assert used <= set(documented), f"not in .env.example: {sorted(used - set(documented))}"
    required = {m.group("name") for m in _VARIABLE.finditer(text) if m.group("op") == ":?"}
    assert {"ELASTIC_PASSWORD", "KIBANA_SYSTEM_PASSWORD", "CHANCERY_WRITER_PASSWORD", "AIRFLOW_ADMIN_PASSWORD",
            "AIRFLOW_JWT_SECRET", "POSTGRES_PASSWORD"} <= required
    for name in required:
        assert documented[name] == "", f".env.example gives {name} a default"


def test_a_missing_secret_stops_interpolation(raw: dict[str, Any], sample_env: dict[str, str]) -> None:
    env = {k: v for k, v in sample_env.items() if k != "AIRFLOW_JWT_SECRET"}
    with pytest.raises(MissingVariable, match="AIRFLOW_JWT_SECRET"):
        interpolate(raw, env)


def test_published_ports_are_loopback_only_and_documented(compose: dict[str, Any]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## docker compose", 1)[1].split("\n## ", 1)[0]
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            host, published, _container = str(port).split(":")
            assert host == "127.0.0.1", f"{name}: {port} is not bound to 127.0.0.1"
            assert f"127.0.0.1:{published}" in section, f"{name}: port {published} is not in the README section"


def test_the_writer_is_what_the_pipeline_and_airflow_log_in_as(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["airflow-scheduler"]["environment"]["ELASTICSEARCH_USERNAME"] == "chancery_writer"
    assert services["kibana"]["environment"]["ELASTICSEARCH_USERNAME"] == "kibana_system"
    init = (REPO / "scripts/compose/airflow_init.sh").read_text(encoding="utf-8")
    assert '"login": "chancery_writer"' in init
    setup = (REPO / "scripts/compose/setup_security.py").read_text(encoding="utf-8")
    assert "put_indexer_role" in setup  # the role body is pipeline.index.roles', not a copy


def _clean_env() -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "SYSTEMROOT"}
    return {k: v for k, v in os.environ.items() if k in keep}


def test_the_init_script_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(REPO / "scripts/compose/airflow_init.sh")], env=_clean_env(),
                            cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "ELASTIC_PASSWORD is not set; copy .env.example to .env" in result.stderr
    assert "migrating" not in result.stdout  # nothing ran


def test_the_security_setup_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts/compose/setup_security.py")],
                            env={**_clean_env(), "ELASTICSEARCH_PASSWORD": "x"}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "KIBANA_SYSTEM_PASSWORD, CHANCERY_WRITER_PASSWORD not set" in result.stderr


# ---------------------------------------------------------------- Celery: workers, broker, queues

WORKERS = {"airflow-worker": "default", "airflow-worker-fetch": "fetch", "airflow-worker-process": "process"}


def _airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if "AIRFLOW__CORE__EXECUTOR" in s.get("environment", {})}


def _served_queues(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    assert command[:3] == ["airflow", "celery", "worker"], command
    return str(command[command.index("--queues") + 1]).split(",")


def test_the_celery_workers_share_one_broker_and_serve_the_fetch_and_process_queues(compose: dict[str, Any]) -> None:
    services = compose["services"]
    airflow = _airflow_services(compose)
    assert set(WORKERS) <= set(airflow)
    assert {s["environment"]["AIRFLOW__CORE__EXECUTOR"] for s in airflow.values()} == {"CeleryExecutor"}
    brokers = {s["environment"]["AIRFLOW__CELERY__BROKER_URL"] for s in airflow.values()}
    backends = {s["environment"]["AIRFLOW__CELERY__RESULT_BACKEND"] for s in airflow.values()}
    assert len(brokers) == 1 and len(backends) == 1  # scheduler and every worker: one broker, one result store
    (broker,) = brokers
    broker_host = re.match(r"redis://([^:/]+):6379/\d+$", broker)
    assert broker_host, broker
    broker_service = services[broker_host.group(1)]
    assert broker_service["image"].startswith("redis:") and broker_service["healthcheck"]["test"]
    assert not broker_service.get("ports"), "the broker carries work the workers run: never publish it"
    assert re.match(r"db\+postgresql://airflow:[^@]+@postgres:5432/airflow$", backends.pop())

    env = airflow["airflow-scheduler"]["environment"]
    assert WORKERS["airflow-worker-fetch"] == env["CHANCERY_AIRFLOW_FETCH_QUEUE"]
    assert WORKERS["airflow-worker-process"] == env["CHANCERY_AIRFLOW_PROCESS_QUEUE"]
    for name, queue in WORKERS.items():
        worker = services[name]
        assert _served_queues(worker) == [queue], name  # one queue each, so each scales on its own
        assert worker["depends_on"][broker_host.group(1)]["condition"] == "service_healthy"
        assert "celery" in " ".join(worker["healthcheck"]["test"]) and "ping" in " ".join(worker["healthcheck"]["test"])
        # `docker compose up --scale NAME=N` refuses a fixed container name or a published host port.
        assert "container_name" not in worker and not worker.get("ports"), name
        assert "chancery-state:/opt/chancery/state" in worker["volumes"]  # captures written by fetch, read by process


def test_the_dag_tasks_go_to_the_queues_the_workers_serve(
    compose: dict[str, Any], base_settings: Any, tmp_path: Path
) -> None:
    """The DAG files parsed by Airflow itself, once with the compose environment's queues and once without."""
    import dataclasses
    import json

    from pipeline.orchestrate.bootstrap import airflow_environment

    settings = dataclasses.replace(base_settings, home=tmp_path / "home")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CHANCERY_", "AIRFLOW"))}
    env = airflow_environment(settings, base)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    script = (
        "import json\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(REPO / 'dags')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(json.dumps({d.dag_id: {t.task_id: t.queue for t in d.tasks} for d in bag.dags.values()}))\n"
    )

    def queues(extra: dict[str, str]) -> dict[str, dict[str, str]]:
        done = subprocess.run([sys.executable, "-c", script], env={**env, **extra}, capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    scheduler = compose["services"]["airflow-scheduler"]["environment"]
    routed = queues({k: scheduler[k] for k in ("CHANCERY_AIRFLOW_FETCH_QUEUE", "CHANCERY_AIRFLOW_PROCESS_QUEUE")})
    assert routed["nightly_ingest"] == {"plan": "default", "fetch": "fetch", "emit": "default", "report": "default"}
    assert routed["backfill_archive"] == {"plan": "default", "extract": "fetch", "emit": "default"}
    assert routed["event_ingest"] == {"ingest": "fetch"}
    assert routed["process_captures"] == {"drain": "process"}
    served = {q for name in WORKERS for q in _served_queues(compose["services"][name])}
    assert {q for tasks in routed.values() for q in tasks.values()} <= served  # no task waits for a worker

    unrouted = queues({})  # the defaults: the LocalExecutor of `chancery airflow` and the tests, unchanged
    assert {q for tasks in unrouted.values() for q in tasks.values()} == {"default"}
