"""The Airflow installation Chancery runs in: environment, pools, connections, login (no Airflow import).

``airflow_environment(settings)`` is the one place that turns Settings into Airflow's
own configuration (``AIRFLOW__SECTION__KEY`` variables and ``AIRFLOW_CONN_*``
connections); ``chancery airflow``, the tests and docker-compose.yml use the same names.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

from pipeline.config import Settings
from pipeline.orchestrate import FETCH_POOL, INDEX_POOL
from pipeline.statefiles import private_dir, write_private

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
PLUGINS_DIR = REPO / "plugins"
ADMIN_USER = "admin"
ES_CONN_ID = "chancery_elasticsearch"
REDIS_CONN_ID = "chancery_redis"
# Airflow's components are separate processes on one SQLite file: a writer waits this long for
# another's lock instead of failing with "database is locked" (Airflow reads this dict by import path).
SQLITE_CONNECT_ARGS = {"timeout": 60}
DAG_REFRESH_SECONDS = 30  # how often the dag-processor looks for new DAG files (Airflow's default: 300)


def pools(settings: Settings) -> dict[str, dict[str, object]]:
    """The pools the DAGs use, in `airflow pools import` form; nobody creates them by hand."""
    return {
        FETCH_POOL: {"slots": settings.airflow.fetch_pool_slots, "include_deferred": False,
                     "description": "Chancery fetch tasks at once, over all DAGs (politeness)"},
        INDEX_POOL: {"slots": settings.airflow.index_pool_slots, "include_deferred": False,
                     "description": "Chancery capture processing (extract, enrich, index) at once"},
    }


def es_connection_uri(settings: Settings) -> str:
    """The Elasticsearch connection as an Airflow connection URI: ELASTICSEARCH_URL, else the local engine."""
    from pipeline.orchestrate.runtime import es_connection_uri as to_uri

    url, username, password = settings.elasticsearch.url, settings.elasticsearch.username, \
        settings.elasticsearch.password
    if not url:
        try:
            from pipeline.engine.local import connection

            url, username, password = connection(settings)
        except Exception:  # the engine is not set up yet: the tasks use the settings anyway
            url = "http://127.0.0.1:9200"
    return to_uri(url, username, password)


def passwords_file(settings: Settings) -> Path:
    return settings.airflow_home / "simple_auth_manager_passwords.json"


def ensure_login(settings: Settings) -> tuple[str, str]:
    """The admin login of the local installation, created once with a random password."""
    path = passwords_file(settings)
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get(ADMIN_USER):
            return ADMIN_USER, str(data[ADMIN_USER])
    password = secrets.token_urlsafe(12)
    write_private(path, json.dumps({ADMIN_USER: password}))
    return ADMIN_USER, password


def _secret(settings: Settings, name: str) -> str:
    """A per-installation secret, made once and kept under AIRFLOW_HOME, shared by all Airflow processes."""
    path = settings.airflow_home / "chancery-secrets.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if name not in data:
        data[name] = secrets.token_urlsafe(32)
        write_private(path, json.dumps(data))
    return str(data[name])


def airflow_environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for every Airflow process of the local installation (standalone or the tests).

    ``base`` is the caller's environment (the CLI passes os.environ through), so the
    Chancery variables the tasks read (CHANCERY_*, ELASTICSEARCH_*) reach them unchanged;
    CHANCERY_HOME is pinned so tasks and CLI share one state directory.
    """
    home = settings.airflow_home
    env = dict(base or {})
    env.update({
        "AIRFLOW_HOME": str(home),
        "CHANCERY_HOME": str(settings.home),
        "CHANCERY_SOURCES": str(settings.sources),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.airflow.parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(settings.airflow.parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(settings)),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "pipeline.orchestrate.bootstrap.SQLITE_CONNECT_ARGS",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(DAG_REFRESH_SECONDS),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__API__PORT": str(settings.airflow.api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{settings.airflow.api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{settings.airflow.api_port}/execution/",
        # Task tokens outlive the longest task (drain budget, fetch timeout) with a wide margin.
        "AIRFLOW__EXECUTION_API__JWT_EXPIRATION_TIME": str(settings.airflow.token_lifetime_seconds),
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(settings, "jwt_secret"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        f"AIRFLOW_CONN_{ES_CONN_ID.upper()}": es_connection_uri(settings),
        f"AIRFLOW_CONN_{REDIS_CONN_ID.upper()}": settings.airflow.redis_url,
    })
    if settings.elasticsearch.url:
        env.setdefault("ELASTICSEARCH_URL", settings.elasticsearch.url)
    # `airflow standalone` starts its components as plain `airflow` from PATH: make that this venv's.
    bin_dir = str(Path(airflow_bin()).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", os.defpath)
    return env


def _sqlite_wal(env: Mapping[str, str]) -> None:
    """WAL journal on the metadata database: readers stop blocking the one writer (kept in the file)."""
    conn = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if conn.startswith("sqlite:///"):
        import sqlite3

        with closing(sqlite3.connect(conn[len("sqlite:///"):], timeout=60)) as db:
            db.execute("PRAGMA journal_mode=WAL")


def airflow_bin() -> str:
    """The `airflow` next to this interpreter (the venv's), else the one on PATH."""
    import sys

    local = Path(sys.executable).with_name("airflow")
    return str(local) if local.exists() else (shutil.which("airflow") or "airflow")


def bootstrap(settings: Settings, env: Mapping[str, str]) -> None:
    """Create or upgrade the metadata database and import the pools (idempotent)."""
    private_dir(settings.airflow_home)  # airflow.db holds the connections' passwords
    ensure_login(settings)
    run = [airflow_bin()]
    subprocess.run([*run, "db", "migrate"], env=dict(env), check=True, stdout=subprocess.DEVNULL)
    _sqlite_wal(env)
    pools_path = settings.airflow_home / "chancery-pools.json"
    pools_path.write_text(json.dumps(pools(settings), indent=2), encoding="utf-8")
    subprocess.run([*run, "pools", "import", str(pools_path)], env=dict(env), check=True,
                   stdout=subprocess.DEVNULL)
