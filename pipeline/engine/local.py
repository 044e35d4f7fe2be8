"""The local Elasticsearch node: start, stop, status and connection details.

One node per Chancery home. Its files live under ``settings.engine_dir`` unless the
node's user cannot reach that path (a checkout under /root, or pytest's tmp_path, both
mode 700): then under ``settings.engine.fallback_home/home-<hash of the home path>``,
so two homes never share a node. ``status`` shows which.

The node runs the stock distribution (see ``distribution.py``) with security on and
HTTP TLS off, bound to loopback only; the ``elastic`` user's password is generated once
and stored mode 0600 under the node's folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests

from pipeline.config import Settings
from pipeline.engine import account, distribution
from pipeline.engine.account import NodeUser
from pipeline.engine.prereqs import JavaHome, PrerequisiteMissing, find_java
from pipeline.logs import get_logger, log_event
from pipeline.statefiles import write_private

__all__ = [
    "EngineStartFailed",
    "EngineStatus",
    "EngineNotStarted",
    "PrerequisiteMissing",
    "connection",
    "describe",
    "start",
    "status",
    "stop",
]

log = get_logger("engine")

Progress = Callable[[str], None]

USERNAME = "elastic"
FIRST_HTTP_PORT = 9200
FIRST_TRANSPORT_PORT = 9300
PORT_SCAN_WIDTH = 100
# A fixed, minimal environment for the node: nothing from the caller's shell (JAVA_TOOL_OPTIONS,
# ES_PATH_CONF ...) can change how it starts.
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HEALTH_POLL_S = 0.5
HEALTH_REPORT_EVERY_S = 1.0
STOP_GRACE_S = 60.0
LOG_TAIL_LINES = 40
BIND_RETRIES = 3  # another node may take the port between our check and the node's bind


class EngineStartFailed(RuntimeError):
    """The node did not become healthy in time; carries the tail of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(f"{message}\n--- node log tail ---\n{log_tail}" if log_tail else message)
        self.log_tail = log_tail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self).split("\n--- node log tail ---\n")[0], self.log_tail))


class EngineNotStarted(RuntimeError):
    """No local node was ever started for this home, so there is nothing to connect to."""


@dataclass(frozen=True)
class EngineStatus:
    running: bool
    url: str | None = None
    version: str | None = None
    health: str | None = None  # green / yellow / red; None when not answering
    pid: int | None = None
    port: int | None = None
    node_dir: Path | None = None
    fallback: bool = False  # True: node_dir is under engine.fallback_home, not the home itself
    run_as: str | None = None
    external: bool = False  # True: settings.elasticsearch.url names the cluster; no local node involved
    detail: str = ""


@dataclass(frozen=True)
class NodeLayout:
    """Every path one node uses, all under one folder the node's user can reach."""

    node_dir: Path
    version: str
    fallback: bool

    @property
    def dist(self) -> Path:
        return self.node_dir / "dist" / f"elasticsearch-{self.version}"

    @property
    def data(self) -> Path:
        return self.node_dir / "data"

    @property
    def logs(self) -> Path:
        return self.node_dir / "logs"

    @property
    def tmp(self) -> Path:
        return self.node_dir / "tmp"

    @property
    def pidfile(self) -> Path:
        return self.node_dir / "es.pid"

    @property
    def state_file(self) -> Path:
        return self.node_dir / "node.json"

    @property
    def password_file(self) -> Path:
        return self.node_dir / "elastic-password"

    @property
    def lock_file(self) -> Path:
        return self.node_dir / ".lock"

    @property
    def launcher_log(self) -> Path:
        return self.logs / "launcher.log"

    @property
    def node_log(self) -> Path:
        return self.logs / "chancery.log"  # <cluster.name>.log


@dataclass(frozen=True)
class NodeState:
    """What `start` records for `status`, `stop` and `connection`."""

    http_port: int
    transport_port: int
    version: str
    run_as: str
    pid: int | None = None
    started_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


# ---------------------------------------------------------------- where the node lives


def fallback_dir(settings: Settings) -> Path:
    digest = hashlib.sha256(str(settings.home).encode()).hexdigest()[:16]
    return Path(settings.engine.fallback_home) / f"home-{digest}"


def locate(settings: Settings, user: NodeUser | None) -> NodeLayout:
    """The node's folder: wherever a node was set up before, else the home if reachable, else the fallback."""
    version = settings.engine.version
    preferred, fallback = settings.engine_dir, fallback_dir(settings)
    for folder, is_fallback in ((preferred, False), (fallback, True)):
        if (folder / "node.json").is_file():
            return NodeLayout(folder, version, is_fallback)
    if user is None or account.reachable(preferred, user):
        return NodeLayout(preferred, version, False)
    return NodeLayout(fallback, version, True)


def _user_if_exists(settings: Settings) -> NodeUser | None:
    try:
        return account.node_user(settings.engine.run_as_user, create=False)
    except KeyError:
        return None


# ---------------------------------------------------------------- public contract


def status(settings: Settings) -> EngineStatus:
    """Whether this home's local node runs, with its URL, version and health (ignores elasticsearch.url)."""
    layout = locate(settings, _user_if_exists(settings))
    return _probe(layout, settings)


def describe(settings: Settings) -> EngineStatus:
    """What `chancery engine status` shows: the configured cluster when elasticsearch.url is set."""
    es = settings.elasticsearch
    if not es.url:
        return status(settings)
    headers = {"Authorization": f"ApiKey {es.api_key}"} if es.api_key else {}
    auth = (es.username, es.password or "") if es.username and not es.api_key else None
    try:
        answer = requests.get(
            f"{es.url.rstrip('/')}/_cluster/health",
            auth=auth,
            headers=headers,
            verify=es.ca_certs or True,
            timeout=es.request_timeout,
        )
        health = str(answer.json().get("status")) if answer.ok else None
        detail = "configured cluster" if answer.ok else f"configured cluster answered HTTP {answer.status_code}"
    except (requests.RequestException, ValueError) as exc:
        health, detail = None, f"configured cluster not reachable: {type(exc).__name__}"
    return EngineStatus(running=health is not None, url=es.url, health=health, external=True, detail=detail)


def connection(settings: Settings) -> tuple[str, str, str]:
    """(url, username, password) of this home's local node, as recorded by `start`."""
    layout = locate(settings, _user_if_exists(settings))
    state = _read_state(layout)
    if state is None or not layout.password_file.is_file():
        raise EngineNotStarted(
            f"no local Elasticsearch set up under {layout.node_dir}: run `chancery engine start` "
            "or set ELASTICSEARCH_URL"
        )
    try:
        password = layout.password_file.read_text().strip()
    except PermissionError as exc:
        raise EngineNotStarted(
            f"the local engine's password file {layout.password_file} belongs to the user who started "
            "it (root): run as that user, or set ELASTICSEARCH_URL and its credentials"
        ) from exc
    return state.url, USERNAME, password


def start(settings: Settings, progress: Progress | None = None) -> EngineStatus:
    """Start this home's node and wait until it is healthy; a running node is returned as is."""
    report = progress or _log_progress
    java = find_java(settings.engine)  # first: a machine without a JDK 21+ gets no folders made
    user = account.node_user(settings.engine.run_as_user, create=True)
    layout = locate(settings, user)
    _prepare_node_dir(layout, settings, user)
    with _locked(layout.lock_file, settings.engine.startup_timeout * 2, report):
        current = _probe(layout, settings)
        if current.running:
            log_event(log, "already_running", pid=current.pid, url=current.url)
            if current.version and current.version != settings.engine.version:
                log_event(
                    log,
                    "version_mismatch",
                    logging.WARNING,
                    running=current.version,
                    configured=settings.engine.version,
                    fix="`chancery engine stop`, then start again",
                )
            return current
        if current.pid is not None:
            # Alive but not answering: still starting (or just slow on a loaded machine) is far
            # likelier than hung, so give it the startup deadline before replacing it.
            current = _await_answer(layout, settings, report)
            if current.running:
                return current
            if current.pid is not None:
                _terminate(current.pid, report)
        _install(layout, settings, user, java, report)
        return _launch_with_retries(layout, settings, user, java, report)


def stop(settings: Settings, progress: Progress | None = None) -> bool:
    """End exactly the process this home's node recorded; True when one was running."""
    report = progress or _log_progress
    layout = locate(settings, _user_if_exists(settings))
    if not layout.node_dir.is_dir():
        return False
    with _locked(layout.lock_file, STOP_GRACE_S * 2, report):
        pid = _live_node_pid(layout)
        if pid is None:
            _forget_pid(layout)
            return False
        _terminate(pid, report)
        _forget_pid(layout)
        log_event(log, "stopped", pid=pid, node_dir=str(layout.node_dir))
        return True


# ---------------------------------------------------------------- setup


def _prepare_node_dir(layout: NodeLayout, settings: Settings, user: NodeUser) -> None:
    account.make_reachable_dirs(layout.node_dir)
    if not user.is_self:
        os.chown(layout.node_dir, user.uid, user.gid)  # the node writes its pid file here
    if layout.fallback:
        # For whoever finds this folder: which home it belongs to.
        (layout.node_dir / "home.txt").write_text(f"{settings.home}\n")


def _install(layout: NodeLayout, settings: Settings, user: NodeUser, java: JavaHome, report: Progress) -> None:
    fresh = not (layout.dist / "bin" / "elasticsearch").is_file()
    if fresh:
        zip_path = distribution.ensure_downloaded(settings.engine, report)
        distribution.unpack(zip_path, layout.dist, report)
    distribution.install_hunspell(settings.engine, layout.dist)
    _ensure_keystore(layout, java, report)
    for folder in (layout.data, layout.logs, layout.tmp):
        folder.mkdir(exist_ok=True)
        if not user.is_self:
            os.chown(folder, user.uid, user.gid)  # what the node writes inside is its own already
    account.give_to(layout.dist, user)


def _ensure_keystore(layout: NodeLayout, java: JavaHome, report: Progress) -> None:
    """A keystore holding bootstrap.password, and the same password stored 0600 for our commands.

    Both are (re)made together: the bootstrap password is the elastic user's password for as
    long as no other password was set through the API, which Chancery never does.
    """
    keystore = layout.dist / "config" / "elasticsearch.keystore"
    if keystore.is_file() and layout.password_file.is_file():
        return
    report("creating the keystore with a generated elastic password")
    password = secrets.token_urlsafe(24)
    tool = str(layout.dist / "bin" / "elasticsearch-keystore")
    env = _node_env(layout, java, heap=None)
    keystore.unlink(missing_ok=True)
    # One JVM instead of two: --force creates the (unprotected) keystore on the way.
    _run_tool([tool, "add", "--force", "--stdin", "bootstrap.password"], env, password)
    write_private(layout.password_file, password + "\n")


def _run_tool(command: list[str], env: dict[str, str], stdin: str | None) -> None:
    done = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise EngineStartFailed(f"{' '.join(command[-3:])} failed", (done.stdout + done.stderr)[-4000:])


def _node_env(layout: NodeLayout, java: JavaHome, heap: str | None) -> dict[str, str]:
    env = {
        "PATH": NODE_PATH,
        "HOME": str(layout.node_dir),  # the node user has no home; keep the JVM's dotfiles here
        "LANG": "C.UTF-8",
        "ES_JAVA_HOME": str(java.path),
        "ES_TMPDIR": str(layout.tmp),
    }
    if heap:
        env["ES_JAVA_OPTS"] = f"-Xms{heap} -Xmx{heap}"
    return env


# ---------------------------------------------------------------- launch and wait


def _launch_with_retries(
    layout: NodeLayout, settings: Settings, user: NodeUser, java: JavaHome, report: Progress
) -> EngineStatus:
    previous = _read_state(layout)
    for attempt in range(1, BIND_RETRIES + 1):
        http_port, transport_port = _choose_ports(settings, previous)
        state = NodeState(http_port, transport_port, settings.engine.version, user.name)
        try:
            return _launch(layout, settings, user, java, state, report)
        except EngineStartFailed as exc:
            lost_port = "BindException" in exc.log_tail or "Address already in use" in exc.log_tail
            configured = settings.engine.port or settings.engine.transport_port
            if not lost_port or attempt == BIND_RETRIES or configured:
                raise
            log_event(log, "port_taken_retrying", http_port=http_port, transport_port=transport_port)
            previous = None
    raise AssertionError("unreachable")  # the loop returns or raises


def _launch(
    layout: NodeLayout, settings: Settings, user: NodeUser, java: JavaHome, state: NodeState, report: Progress
) -> EngineStatus:
    engine = settings.engine
    _write_state(layout, state)  # port first: a status during startup already knows where to look
    layout.pidfile.unlink(missing_ok=True)
    command = [
        *user.command_prefix(),
        str(layout.dist / "bin" / "elasticsearch"),
        "-d",
        "-p", str(layout.pidfile),
        *_node_settings(layout, state),
    ]  # fmt: skip
    report(f"starting Elasticsearch {engine.version} on {state.url} as {user.name}")
    started = time.monotonic()
    deadline = started + engine.startup_timeout
    log_event(log, "launch", url=state.url, node_dir=str(layout.node_dir), java=str(java.path), user=user.name)
    try:
        with open(layout.launcher_log, "ab") as launcher_out:
            try:
                # With -d the launcher returns once the node is up (or has failed), leaving it running.
                launched = subprocess.run(
                    command,
                    env=_node_env(layout, java, engine.heap),
                    cwd=layout.logs,  # the JVM writes gc.log relative to its working directory
                    stdin=subprocess.DEVNULL,
                    stdout=launcher_out,
                    stderr=subprocess.STDOUT,
                    timeout=engine.startup_timeout,
                    start_new_session=True,  # a Ctrl-C at the terminal reaches us, not the node
                )
            except subprocess.TimeoutExpired as exc:
                raise EngineStartFailed(
                    f"the launcher did not return within {engine.startup_timeout:.0f}s", _log_tail(layout)
                ) from exc
        if launched.returncode != 0:
            raise EngineStartFailed(f"bin/elasticsearch exited with {launched.returncode}", _log_tail(layout))
        health = _wait_for_health(layout, state, deadline, started, report)
    except BaseException:
        # Either a healthy node or none: a half-started one would hold the data folder's lock.
        _abandon(layout, report)
        raise
    pid = _live_node_pid(layout)
    state = NodeState(**{**state.__dict__, "pid": pid, "started_at": time.time()})
    _write_state(layout, state)
    elapsed = time.monotonic() - started
    log_event(log, "started", url=state.url, pid=pid, health=health, seconds=round(elapsed, 1))
    return _probe(layout, settings)


def _node_settings(layout: NodeLayout, state: NodeState) -> list[str]:
    values = {
        "cluster.name": "chancery",
        "node.name": f"chancery-{layout.node_dir.name}",
        "network.host": "127.0.0.1",
        "http.port": str(state.http_port),
        "transport.port": str(state.transport_port),
        "discovery.type": "single-node",
        "path.data": str(layout.data),
        "path.logs": str(layout.logs),
        "xpack.security.enabled": "true",
        # Loopback only, so plain HTTP with basic auth; no certificates to hand out.
        "xpack.security.http.ssl.enabled": "false",
        "xpack.security.transport.ssl.enabled": "false",
        # A dev/CI node on a shared disk: a full disk elsewhere must not turn indices read-only.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }
    return [arg for key, value in values.items() for arg in ("-E", f"{key}={value}")]


def _wait_for_health(layout: NodeLayout, state: NodeState, deadline: float, started: float, report: Progress) -> str:
    password = layout.password_file.read_text().strip()
    last_report = 0.0
    while True:
        health = _cluster_health(state.url, password)
        if health in ("yellow", "green"):
            return health
        if time.monotonic() > deadline:
            raise EngineStartFailed(
                f"no yellow/green cluster health at {state.url} within the startup timeout", _log_tail(layout)
            )
        if layout.pidfile.is_file() and _live_node_pid(layout) is None:
            raise EngineStartFailed("the node exited during startup", _log_tail(layout))
        waited = time.monotonic() - started
        if waited - last_report >= HEALTH_REPORT_EVERY_S:
            report(f"waiting for cluster health at {state.url} ({waited:.0f}s)")
            last_report = waited
        time.sleep(HEALTH_POLL_S)


def _abandon(layout: NodeLayout, report: Progress) -> None:
    """After a failed start, end what may have started, so the next try begins clean.

    Killing the launcher does not end the server it spawned, and the server writes its pid
    file only once started: so look for it by the distribution it runs.
    """
    for pid in _node_pids(layout):
        _terminate(pid, report)
    _forget_pid(layout)


# ---------------------------------------------------------------- ports


def _choose_ports(settings: Settings, previous: NodeState | None) -> tuple[int, int]:
    """Configured ports, else the ones used last time (a stable URL) when still free, else the first free."""
    engine = settings.engine
    for name, port in (("engine.port", engine.port), ("engine.transport_port", engine.transport_port)):
        if port and not port_is_free(port):
            raise EngineStartFailed(f"{name} {port} on 127.0.0.1 is in use by another program")
    http = engine.port or _reuse_or_scan(previous.http_port if previous else None, FIRST_HTTP_PORT, set())
    transport = engine.transport_port or _reuse_or_scan(
        previous.transport_port if previous else None, FIRST_TRANSPORT_PORT, {http}
    )
    return http, transport


def _reuse_or_scan(previous: int | None, first: int, taken: set[int]) -> int:
    if previous and previous not in taken and port_is_free(previous):
        return previous
    for port in range(first, first + PORT_SCAN_WIDTH):
        if port not in taken and port_is_free(port):
            return port
    raise EngineStartFailed(f"no free port in {first}..{first + PORT_SCAN_WIDTH - 1} on 127.0.0.1")


def port_is_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port and we could bind it now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as binder:
        try:
            binder.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# ---------------------------------------------------------------- probing


def _probe(layout: NodeLayout, settings: Settings) -> EngineStatus:
    state = _read_state(layout)
    base = EngineStatus(
        running=False,
        node_dir=layout.node_dir,
        fallback=layout.fallback,
        port=state.http_port if state else None,
        url=state.url if state else None,
        run_as=state.run_as if state else None,
    )
    if state is None:
        return _with(base, detail="not set up: `chancery engine start` downloads and starts it")
    pid = _live_node_pid(layout)
    if pid is None:
        return _with(base, detail="stopped")
    password = layout.password_file.read_text().strip() if layout.password_file.is_file() else ""
    health = _cluster_health(state.url, password)
    running = health in ("yellow", "green", "red")
    return _with(
        base,
        running=running,
        pid=pid,
        health=health,
        version=_node_version(state.url, password) if running else None,
        detail="running" if running else "process alive but not answering (starting, or hung)",
    )


def _await_answer(layout: NodeLayout, settings: Settings, report: Progress) -> EngineStatus:
    report("a node process is alive but not answering yet: waiting for it")
    deadline = time.monotonic() + settings.engine.startup_timeout
    current = _probe(layout, settings)
    while not current.running and current.pid is not None and time.monotonic() < deadline:
        time.sleep(2)
        current = _probe(layout, settings)
    return current


def _with(status: EngineStatus, **changes: Any) -> EngineStatus:
    return EngineStatus(**{**status.__dict__, **changes})


def _cluster_health(url: str, password: str) -> str | None:
    """green/yellow/red, "unauthorized", or None when nothing answers. GET / is 405 on this distribution."""
    try:
        answer = requests.get(f"{url}/_cluster/health", auth=(USERNAME, password), timeout=5)
    except requests.RequestException:
        return None
    if answer.status_code == 401:
        return "unauthorized"
    if not answer.ok:
        return None
    found = answer.json().get("status")
    return str(found) if found else None


def _node_version(url: str, password: str) -> str | None:
    try:
        answer = requests.get(
            f"{url}/_nodes/_local",
            params={"filter_path": "nodes.*.version"},
            auth=(USERNAME, password),
            timeout=5,
        )
        nodes = answer.json().get("nodes", {}) if answer.ok else {}
    except (requests.RequestException, ValueError):
        return None
    versions = [str(n.get("version")) for n in nodes.values() if n.get("version")]
    return versions[0] if versions else None


def _live_node_pid(layout: NodeLayout) -> int | None:
    """This node's Elasticsearch process: the one in its pid file, else one found running its files.

    The scan covers a node whose pid file was lost, so a second node is never started on the
    same data folder (it would fail on the node lock).
    """
    try:
        recorded = int(layout.pidfile.read_text().strip())
    except (OSError, ValueError):
        recorded = None
    if recorded is not None and _is_our_node(recorded, layout):
        return recorded
    found = _node_pids(layout)
    return found[0] if found else None


def _node_pids(layout: NodeLayout) -> list[int]:
    """Every running Elasticsearch server whose home is this node's unpacked distribution."""
    pids: list[int] = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if _runs_our_distribution(cmdline, layout):
            pids.append(int(process.info["pid"]))
    return sorted(pids)


def _is_our_node(pid: int, layout: NodeLayout) -> bool:
    try:
        cmdline = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return _runs_our_distribution(cmdline, layout)


def _runs_our_distribution(cmdline: list[str], layout: NodeLayout) -> bool:
    # A recycled pid belongs to some other program; only a JVM serving our unpacked copy counts.
    home_prefix = f"-Des.path.home={layout.node_dir}/dist/"
    return any(arg.startswith(home_prefix) for arg in cmdline) and any(
        arg.endswith("org.elasticsearch.bootstrap.Elasticsearch") for arg in cmdline
    )


def _terminate(pid: int, report: Progress) -> None:
    report(f"stopping Elasticsearch (pid {pid})")
    try:
        process = psutil.Process(pid)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_GRACE_S)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        log_event(log, "kill_after_grace", pid=pid, grace_s=STOP_GRACE_S)
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
            psutil.Process(pid).wait(timeout=30)


# ---------------------------------------------------------------- state files


def _read_state(layout: NodeLayout) -> NodeState | None:
    try:
        data = json.loads(layout.state_file.read_text())
        return NodeState(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_state(layout: NodeLayout, state: NodeState) -> None:
    scratch = layout.state_file.with_suffix(".tmp")
    scratch.write_text(json.dumps(state.__dict__, indent=2) + "\n")
    os.replace(scratch, layout.state_file)


def _forget_pid(layout: NodeLayout) -> None:
    layout.pidfile.unlink(missing_ok=True)
    state = _read_state(layout)
    if state is not None and state.pid is not None:
        _write_state(layout, NodeState(**{**state.__dict__, "pid": None, "started_at": None}))


@contextlib.contextmanager
def _locked(lock_file: Path, timeout: float, report: Progress) -> Iterator[None]:
    """One start/stop at a time per node, also across processes (parallel test sessions)."""
    with open(lock_file, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another chancery command holds {lock_file}") from None
                report("waiting for another chancery engine command to finish")
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_tail(layout: NodeLayout) -> str:
    lines: list[str] = []
    for path in (layout.launcher_log, layout.node_log):
        if path.is_file():
            text = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            lines.append(f"[{path}]")
            lines.extend(text)
    return "\n".join(lines)


def _log_progress(message: str) -> None:
    log_event(log, "progress", message=message)
