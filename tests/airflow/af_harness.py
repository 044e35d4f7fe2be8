"""Helpers for the Airflow suites: the environment a run sees, a driver process, standalone, Redis.

Everything Airflow runs in its own processes with an environment built from the
test's Settings, exactly as ``chancery airflow`` builds it (pipeline.orchestrate.bootstrap).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from pipeline.config import Settings
from pipeline.orchestrate.bootstrap import airflow_bin, airflow_environment, bootstrap, ensure_login

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DRIVER = HERE / "af_drive.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """The CHANCERY_* / ELASTICSEARCH_* variables that make a task's load_settings() equal ``settings``."""
    es = settings.elasticsearch
    env = {
        "CHANCERY_HOME": str(settings.home),
        "CHANCERY_SOURCES": str(settings.sources),
        "CHANCERY_ALLOW_NETWORKS": ",".join(settings.fetch.allow_networks),
        "CHANCERY_FETCH_PER_HOST_DELAY": str(settings.fetch.per_host_delay),
        "CHANCERY_ELASTICSEARCH_INDEX_PREFIX": es.index_prefix,
        "CHANCERY_ELASTICSEARCH_RUNS_INDEX": es.runs_index,
        "CHANCERY_AIRFLOW_API_PORT": str(settings.airflow.api_port),
        "CHANCERY_AIRFLOW_REDIS_URL": settings.airflow.redis_url,
        "CHANCERY_AIRFLOW_EVENTS_CHANNEL": settings.airflow.events_channel,
        "CHANCERY_AIRFLOW_PROCESS_FALLBACK_CRON": settings.airflow.process_fallback_cron,
    }
    for name, value in (("ELASTICSEARCH_URL", es.url), ("ELASTICSEARCH_USERNAME", es.username),
                        ("ELASTICSEARCH_PASSWORD", es.password)):
        if value:
            env[name] = value
    return env


def airflow_env(settings: Settings) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "CHANCERY_", "ELASTICSEARCH_", "PYTEST", "COV_"))}
    base.update(settings_env(settings))
    env = airflow_environment(settings, base)
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"  # the tests' installation runs what it parses
    env["PYTHONWARNINGS"] = "ignore"  # Airflow's own deprecation noise is not the test's business
    # The log servers of the scheduler and triggerer default to fixed ports (8793, 8794): free ones,
    # so a test installation never collides with another Airflow on the machine.
    env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
    env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
    return env


def prepare(settings: Settings) -> dict[str, str]:
    """Environment + migrated metadata database + pools, for dag.test() or standalone."""
    env = airflow_env(settings)
    bootstrap(settings, env)
    return env


def drive(env: Mapping[str, str], *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run af_drive.py in a fresh process with ``env``; its JSON result (output kept for the failure message)."""
    proc = subprocess.run([sys.executable, str(DRIVER), *args], env=dict(env), cwd=env["AIRFLOW_HOME"],
                          capture_output=True, text=True, timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("AF_DRIVE_RESULT "):
            return json.loads(line[len("AF_DRIVE_RESULT "):])  # type: ignore[no-any-return]
    raise AssertionError(f"af_drive {args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")


def airflow_cli(env: Mapping[str, str], *args: str, timeout: float = 300, attempts: int = 4) -> str:
    """Run an airflow command; retried when SQLite said "database is locked" (its transaction rolled back).

    The metadata database is SQLite for the tests; a CLI transaction that starts while the
    scheduler writes can be refused outright. PostgreSQL (docker-compose.yml) never does this.
    """
    for attempt in range(1, attempts + 1):
        proc = subprocess.run([airflow_bin(), *args], env=dict(env), cwd=env["AIRFLOW_HOME"], capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode == 0:
            return proc.stdout
        if "database is locked" not in proc.stderr + proc.stdout or attempt == attempts:
            break
        time.sleep(2 * attempt)
    raise AssertionError(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-5000:]}")


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


class Redis:
    """redis-server on a loopback port owned by the test, through scripts/services.sh."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        script = REPO / "scripts" / "services.sh"
        subprocess.run([str(script), "install"], check=True)
        subprocess.run([str(script), "redis-start", str(self.port), str(self.dir)], check=True)
        return self

    def stop(self) -> None:
        subprocess.run([str(REPO / "scripts" / "services.sh"), "redis-stop", str(self.dir)], check=False)

    def publish(self, channel: str, message: str) -> int:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            return int(client.publish(channel, message))
        finally:
            client.close()

    def subscribers(self, channel: str) -> int:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            return int(dict(client.pubsub_numsub(channel)).get(channel.encode(), 0))
        finally:
            client.close()


class Standalone:
    """`airflow standalone` (scheduler, dag-processor, triggerer, api-server) in its own process group."""

    def __init__(self, settings: Settings, env: Mapping[str, str]) -> None:
        self.settings = settings
        self.env = dict(env)
        self.base = f"http://127.0.0.1:{settings.airflow.api_port}"
        self.log_path = settings.airflow_home / "standalone.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._token: str | None = None

    def start(self, timeout: float = 300) -> Standalone:
        with self.log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([airflow_bin(), "standalone"], env=self.env, cwd=self.env["AIRFLOW_HOME"],
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for("the api-server", self._healthy, timeout, every=3)
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"airflow standalone exited ({self.proc.returncode}):\n{self.tail()}")
        try:
            return requests.get(f"{self.base}/api/v2/monitor/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def token(self) -> str:
        if self._token is None:
            user, password = ensure_login(self.settings)
            response = requests.post(f"{self.base}/auth/token", json={"username": user, "password": password},
                                     timeout=30)
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kw: Any) -> Any:
        response = requests.request(method, f"{self.base}/api/v2{path}", timeout=60,
                                    headers={"Authorization": f"Bearer {self.token()}"}, **kw)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text[:2000]}")
        return response.json() if response.content else None

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])


def wired(settings: Settings, home: Path, newsroom: object, **airflow: object) -> Settings:
    """Settings with a fresh home, the newsroom as the only sources, loopback fetching allowed."""
    from pipeline.demo.newsroom import write_sources_file

    home.mkdir(parents=True, exist_ok=True)
    sources = home / "sources.yaml"
    write_sources_file(newsroom.base_url, sources)  # type: ignore[attr-defined]
    return dataclasses.replace(
        settings,
        home=home,
        sources=sources,
        fetch=dataclasses.replace(settings.fetch, allow_networks=("127.0.0.0/8",), per_host_delay=0.05),
        airflow=dataclasses.replace(settings.airflow, **airflow),  # type: ignore[arg-type]
    )


def run_reports(settings: Settings) -> list[dict[str, Any]]:
    from pipeline.index.client import connect

    es = connect(settings)
    index = settings.elasticsearch.runs_index
    if not es.indices.exists(index=index):
        return []
    es.indices.refresh(index=index)
    return [dict(h["_source"], id=h["_id"]) for h in es.search(index=index, size=500)["hits"]["hits"]]
