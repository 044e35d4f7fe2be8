"""The scale test's machines: shared services on the host side of the bridge, Airflow's control plane
with the CeleryExecutor, and one Celery worker per worker host.

Everything listens on loopback and on the bridge's address (``gateway``), never on 0.0.0.0: the
worker hosts reach it, nothing outside this machine does. Each process is started by the test,
in its own session, and ended by its own pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil
import requests
from af_harness import REPO, Redis, Standalone, airflow_env, free_port, wait_for
from netns import Host, Network

from pipeline.config import Settings
from pipeline.orchestrate.bootstrap import airflow_bin, bootstrap

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port_on(address: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


class Postgres:
    """A PostgreSQL 15 server of the test's own (Debian's binaries), run as the `postgres` user.

    Listens on loopback and ``addresses``; trusts connections from ``allow`` (the bridge's subnet),
    as a private network's database would with passwords: here there is nothing to protect.
    """

    def __init__(self, addresses: Sequence[str], allow: str) -> None:
        # Not under pytest's tmp_path: that is 0700 root's, and the server runs as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="chancery-scale-pg-"))
        self.data = self.root / "data"
        self.addresses = ["127.0.0.1", *addresses]
        self.allow = allow
        self.port = free_port()
        self.host = addresses[0] if addresses else "127.0.0.1"

    def url(self, database: str, driver: str = "postgresql") -> str:
        return f"{driver}://postgres@{self.host}:{self.port}/{database}"

    def _as_postgres(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True,
                              timeout=120, check=True)

    def start(self, databases: Sequence[str]) -> Postgres:
        os.chmod(self.root, 0o711)  # the postgres user walks into it
        self.data.mkdir(mode=0o700)
        os.chown(self.data, *_ids("postgres"))
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                          "--no-sync", "-E", "UTF8")
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.allow} trust\n")
        options = (f"-c listen_addresses='{','.join(self.addresses)}' -p {self.port} -c fsync=off "
                   "-c max_connections=300 -c unix_socket_directories='' -c shared_buffers=64MB")
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log"),
                          "-o", options, "-w", "-t", "60", "start")
        for name in databases:
            subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True, timeout=60)
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data),
                            "-m", "fast", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)


class BridgedRedis(Redis):
    """redis-server on loopback and the bridge, through scripts/services.sh; ``url`` names the bridge."""

    def __init__(self, state_dir: Path, gateway: str) -> None:
        super().__init__(state_dir)
        self.port = free_port_on(gateway)
        self.url = f"redis://{gateway}:{self.port}/0"
        self.gateway = gateway

    def start(self) -> BridgedRedis:
        script = REPO / "scripts" / "services.sh"
        subprocess.run([str(script), "install"], check=True)
        subprocess.run([str(script), "redis-start", str(self.port), str(self.dir), f"127.0.0.1 {self.gateway}"],
                       check=True)
        return self

    def db_url(self, number: int) -> str:
        return self.url.rsplit("/", 1)[0] + f"/{number}"


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def celery_environment(settings: Settings, gateway: str, metadata_url: str, broker_url: str,
                       extra: Mapping[str, str]) -> dict[str, str]:
    """What every Airflow process of the test sees: the tests' environment, made a CeleryExecutor installation.

    The api-server listens on the bridge, and every URL names the bridge's address, so the
    same values work on the host and inside a worker host.
    """
    env = airflow_env(settings)
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS", None)  # SQLite's lock timeout; nothing for PostgreSQL
    api = f"http://{gateway}:{settings.airflow.api_port}"
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # Airflow would derive asyncpg for its async engine; psycopg (3) is installed and does both.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url.replace("+psycopg:", "+psycopg_async:"),
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
        "AIRFLOW__API__HOST": gateway,
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        **extra,
    })
    return env


def _stop_session(proc: subprocess.Popen[bytes] | None, grace: float = 60) -> None:
    """SIGTERM to the process group the test started, then SIGKILL after ``grace``."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


class ControlPlane(Standalone):
    """Airflow's scheduler, dag-processor and api-server, each its own process (standalone forces LocalExecutor)."""

    COMPONENTS = ("api-server", "scheduler", "dag-processor")

    def __init__(self, settings: Settings, env: Mapping[str, str], gateway: str) -> None:
        super().__init__(settings, env)
        self.base = f"http://{gateway}:{settings.airflow.api_port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, timeout: float = 300) -> ControlPlane:
        bootstrap(self.settings, self.env)  # metadata database migrated, pools imported
        for name in self.COMPONENTS:
            with (self.settings.airflow_home / f"{name}.log").open("wb") as log:
                self.procs[name] = subprocess.Popen([airflow_bin(), name], env=self.env, cwd=self.env["AIRFLOW_HOME"],
                                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for("the api-server", self._healthy, timeout, every=3)
        return self

    def _healthy(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited ({proc.returncode}):\n{self.tail(name)}")
        try:
            return requests.get(f"{self.base}/api/v2/monitor/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def tail(self, name: str = "scheduler", chars: int = 6000) -> str:  # type: ignore[override]
        path = self.settings.airflow_home / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs.values():
            _stop_session(proc)

    def task_instances(self, dag_id: str, run_id: str = "~") -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                             params={"limit": 1000})["task_instances"])

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """Every try of one task instance, earlier ones included (each with the hostname it ran on)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries"
        if map_index < 0:
            path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
        return list(self.api("GET", path)["task_instances"])


class Worker:
    """`airflow celery worker` inside one worker host, with that host's own Airflow and Chancery homes.

    ``pool``: Celery's ``prefork`` (``concurrency`` tasks at once) for fetching; ``solo`` (one task at a
    time, run from the worker's main process) for processing. A task forked from a prefork pool child
    is a daemonic process, and a daemonic process may not start children, so a drain's extract/enrich
    worker processes (``process.workers``) fail there ("daemonic processes are not allowed to have
    children"); the ``threads`` pool fails too (Airflow's task supervisor sets signal handlers, which
    only the main thread may).
    """

    def __init__(self, host: Host, name: str, env: Mapping[str, str], queues: Sequence[str], pool: str,
                 concurrency: int, log_path: Path) -> None:
        self.host = host
        self.name = name  # the Celery node: NAME@HOST
        self.env = {**env, "AIRFLOW__CELERY__POOL": pool}
        self.queues = queues
        self.concurrency = concurrency
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> Worker:
        # The `airflow` script, as docker-compose.yml runs it: a drain's spawned extract/enrich workers must
        # not run it again (pipeline/workers.py), since its import fails in a task's environment.
        argv = [airflow_bin(), "celery", "worker", "--queues", ",".join(self.queues), "--concurrency",
                str(self.concurrency), "--celery-hostname", f"{self.name}@{self.host.name}", "--skip-serve-logs"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.host.command(argv), env=self.env, cwd=str(REPO), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(f"the Celery worker {self.name}@{self.host.name}", self._ready, timeout, every=2)
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the worker on {self.host.name} exited ({self.proc.returncode}):\n{self.tail()}")
        return " ready." in self.tail(20000)

    def tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def processes(self) -> list[int]:
        """Every process of this worker: the Celery main process, its pool, the tasks they supervise."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root.pid, *(p.pid for p in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> list[int]:
        """kill -9 of every process of this worker at once, as when its host loses power."""
        pids = self.processes()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)
        return pids

    def stop(self) -> None:
        _stop_session(self.proc, grace=90)  # a warm shutdown lets a running task finish


def worker_env(control_env: Mapping[str, str], host: Host, net: Network, extra: Mapping[str, str]) -> dict[str, str]:
    """The control plane's environment with this host's own homes (on its own disk) and log folder."""
    env = dict(control_env)
    env.update({
        "AIRFLOW_HOME": str(net.disk / "airflow"),
        "CHANCERY_HOME": str(net.disk / "chancery"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(net.disk / "airflow" / "logs"),
        **extra,
    })
    return env


