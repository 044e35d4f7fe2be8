"""docker-compose.yml speaks the settings' language: every Chancery variable it sets is one load_settings reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipeline.config import load_settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
OURS = ("CHANCERY_", "ELASTICSEARCH_URL", "ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD", "KIBANA_URL")


# ${NAME:-default} / ${NAME-default} / ${NAME}: what compose puts there with nothing set in .env.
_INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}")


def _as_compose_sets_it(value: str) -> str:
    return _INTERPOLATION.sub(lambda m: m.group(1) or "", value)


def _chancery_environment() -> dict[str, str]:
    compose = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, str] = {}
    for service in compose["services"].values():
        env = service.get("environment") or {}
        pairs = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
        found.update({k: _as_compose_sets_it(str(v)) for k, v in pairs if k.startswith(OURS)})
    return found


def test_compose_sets_the_core_settings() -> None:
    env = _chancery_environment()
    assert {"CHANCERY_HOME", "CHANCERY_SOURCES", "ELASTICSEARCH_URL"} <= set(env)


def test_every_compose_variable_is_a_known_setting() -> None:
    env = _chancery_environment()
    settings = load_settings(environ=env)  # an unknown CHANCERY_<SECTION>_<KEY> raises SettingsError
    assert settings.elasticsearch.url == env["ELASTICSEARCH_URL"]
    assert str(settings.home) == env["CHANCERY_HOME"]
