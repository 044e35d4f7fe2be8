"""One Elasticsearch node process: its folders, its launch, its health, its end.

The single node of a home (``local.py``) and every node of a local cluster (``cluster.py``)
are run by these functions; they differ only in the ``Launch`` they are given (ports, heap,
and the discovery and transport-TLS settings).

Every node runs the stock distribution (``distribution.py``) with security on and HTTP TLS
off, bound to loopback only. Its ``elastic`` password is generated once and stored mode 0600:
beside the node, or beside the nodes of a cluster, which share it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil
import requests

from pipeline.config import EngineSettings
from pipeline.engine import account, distribution
from pipeline.engine.account import NodeUser
from pipeline.engine.prereqs import JavaHome
from pipeline.logs import get_logger, log_event
from pipeline.statefiles import write_private

log = get_logger("engine")

Progress = Callable[[str], None]

USERNAME = "elastic"
CLUSTER_NAME = "chancery"
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


@dataclass(frozen=True)
class NodeLayout:
    """Every path one node uses, all under one folder the node's user can reach."""

    node_dir: Path
    version: str
    fallback: bool
    member: int = 0  # 0: the single node of a home; K >= 1: node K of its cluster (node_dir <cluster>/node-K)

    @property
    def name(self) -> str:
        return f"node-{self.member}" if self.member else f"chancery-{self.node_dir.name}"

    @property
    def dist(self) -> Path:
        return self.node_dir / "dist" / f"elasticsearch-{self.version}"

    @property
    def certs(self) -> Path:
        return self.dist / "config" / "certs"  # the node reads TLS files only from its config folder

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
        # The nodes of a cluster share one elastic password, kept in the cluster's folder.
        return (self.node_dir.parent if self.member else self.node_dir) / "elastic-password"

    @property
    def lock_file(self) -> Path:
        return self.node_dir / ".lock"

    @property
    def launcher_log(self) -> Path:
        return self.logs / "launcher.log"

    @property
    def node_log(self) -> Path:
        return self.logs / f"{CLUSTER_NAME}.log"  # <cluster.name>.log


@dataclass(frozen=True)
class NodeState:
    """What a start records in node.json for `status`, `stop` and `connection`."""

    http_port: int
    transport_port: int
    version: str
    run_as: str
    pid: int | None = None
    started_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@dataclass(frozen=True)
class Launch:
    """How one node is started this time."""

    state: NodeState
    heap: str
    discovery: dict[str, str] = field(default_factory=dict)  # discovery and transport TLS (-E key=value)
    http_hosts: tuple[str, ...] = ("127.0.0.1",)  # engine.http_hosts


@dataclass(frozen=True)
class Health:
    status: str  # green / yellow / red, or "unauthorized" (401)
    nodes: int | None = None  # nodes in the cluster, as the answering node sees it


@dataclass(frozen=True)
class NodeStatus:
    """One node of this home's engine, as `chancery engine status` lists it."""

    name: str
    running: bool  # the process is alive and answers
    node_dir: Path
    url: str | None = None
    port: int | None = None
    transport_port: int | None = None
    pid: int | None = None
    health: str | None = None  # the cluster's health as this node sees it
    cluster_nodes: int | None = None  # how many nodes this node sees in its cluster
    detail: str = ""


@dataclass(frozen=True)
class EngineStatus:
    """This home's engine (a single node or a cluster), or the configured cluster."""

    running: bool
    url: str | None = None
    version: str | None = None
    health: str | None = None  # green / yellow / red; None when not answering
    pid: int | None = None  # the single node's; None for a cluster (see nodes)
    port: int | None = None
    node_dir: Path | None = None  # the node's folder, or the cluster's (holding node-1 ... node-N)
    fallback: bool = False  # True: node_dir is under engine.fallback_home, not the home itself
    run_as: str | None = None
    external: bool = False  # True: settings.elasticsearch.url names the cluster; no local node involved
    detail: str = ""
    nodes: tuple[NodeStatus, ...] = ()  # every node of the home's engine: one, or the cluster's N


# ---------------------------------------------------------------- setup


def prepare_node_dir(layout: NodeLayout, user: NodeUser, home: Path) -> None:
    account.make_reachable_dirs(layout.node_dir)
    if not user.is_self:
        os.chown(layout.node_dir, user.uid, user.gid)  # the node writes its pid file here
    if layout.fallback:
        # For whoever finds this folder: which home it belongs to.
        marker = (layout.node_dir.parent if layout.member else layout.node_dir) / "home.txt"
        marker.write_text(f"{home}\n")


def install(layout: NodeLayout, engine: EngineSettings, user: NodeUser, java: JavaHome, report: Progress) -> None:
    """The unpacked distribution, the hunspell dictionary, the keystore and the node's folders."""
    fresh = not (layout.dist / "bin" / "elasticsearch").is_file()
    if fresh:
        zip_path = distribution.ensure_downloaded(engine, report)
        distribution.unpack(zip_path, layout.dist, report)
    distribution.install_hunspell(engine, layout.dist)
    _ensure_keystore(layout, java, report)
    for folder in (layout.data, layout.logs, layout.tmp):
        folder.mkdir(exist_ok=True)
        if not user.is_self:
            os.chown(folder, user.uid, user.gid)  # what the node writes inside is its own already
    account.give_to(layout.dist, user)


def _ensure_keystore(layout: NodeLayout, java: JavaHome, report: Progress) -> None:
    """A keystore holding bootstrap.password, the password stored 0600 for our commands.

    The bootstrap password is the elastic user's password for as long as no other password was
    set through the API, which Chancery never does: so a lost keystore is rebuilt from the stored
    password, and a lost password file means a new password (and, for a cluster, new keystores
    on every node: ``cluster.ensure_password``).
    """
    keystore = layout.dist / "config" / "elasticsearch.keystore"
    if keystore.is_file() and layout.password_file.is_file():
        return
    if layout.password_file.is_file():
        password = layout.password_file.read_text().strip()
    else:
        report("creating the keystore with a generated elastic password")
        password = secrets.token_urlsafe(24)
    tool = str(layout.dist / "bin" / "elasticsearch-keystore")
    env = node_env(layout, java, heap=None)
    keystore.unlink(missing_ok=True)
    # One JVM instead of two: --force creates the (unprotected) keystore on the way.
    _run_tool([tool, "add", "--force", "--stdin", "bootstrap.password"], env, password)
    if not layout.password_file.is_file():
        write_private(layout.password_file, password + "\n")


def _run_tool(command: list[str], env: dict[str, str], stdin: str | None) -> None:
    done = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise EngineStartFailed(f"{' '.join(command[-3:])} failed", (done.stdout + done.stderr)[-4000:])


def node_env(layout: NodeLayout, java: JavaHome, heap: str | None) -> dict[str, str]:
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


def spawn_with_retries(
    layout: NodeLayout,
    first: Launch,
    replan: Callable[[], Launch],
    user: NodeUser,
    java: JavaHome,
    timeout: float,
    report: Progress,
    ports_configured: bool,
) -> Launch:
    """`spawn`, again on fresh ports (``replan``) when a port was lost to another program meanwhile."""
    launch = first
    for attempt in range(1, BIND_RETRIES + 1):
        try:
            spawn(layout, launch, user, java, timeout, report)
            return launch
        except EngineStartFailed as exc:
            lost_port = "BindException" in exc.log_tail or "Address already in use" in exc.log_tail
            if not lost_port or attempt == BIND_RETRIES or ports_configured:
                raise
            log_event(log, "port_taken_retrying", node=layout.name, http_port=launch.state.http_port,
                      transport_port=launch.state.transport_port)  # fmt: skip
            launch = replan()
    raise AssertionError("unreachable")  # the loop returns or raises


def spawn(layout: NodeLayout, launch: Launch, user: NodeUser, java: JavaHome, timeout: float, report: Progress) -> None:
    """Run `bin/elasticsearch -d`, which returns once the node has started (or has failed)."""
    state = launch.state
    write_state(layout, state)  # port first: a status during startup already knows where to look
    layout.pidfile.unlink(missing_ok=True)
    command = [
        *user.command_prefix(),
        str(layout.dist / "bin" / "elasticsearch"),
        "-d",
        "-p", str(layout.pidfile),
        *_node_settings(layout, launch),
    ]  # fmt: skip
    report(f"starting Elasticsearch {state.version} on {state.url} as {user.name}")
    log_event(log, "launch", node=layout.name, url=state.url, node_dir=str(layout.node_dir), java=str(java.path),
              user=user.name)  # fmt: skip
    try:
        with open(layout.launcher_log, "ab") as launcher_out:
            try:
                launched = subprocess.run(
                    command,
                    env=node_env(layout, java, launch.heap),
                    cwd=layout.logs,  # the JVM writes gc.log relative to its working directory
                    stdin=subprocess.DEVNULL,
                    stdout=launcher_out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    start_new_session=True,  # a Ctrl-C at the terminal reaches us, not the node
                )
            except subprocess.TimeoutExpired as exc:
                raise EngineStartFailed(
                    f"the launcher did not return within {timeout:.0f}s", log_tail(layout)
                ) from exc
        if launched.returncode != 0:
            raise EngineStartFailed(f"bin/elasticsearch exited with {launched.returncode}", log_tail(layout))
    except BaseException:
        # Either a started node or none: a half-started one would hold the data folder's lock.
        abandon(layout, report)
        raise


def _node_settings(layout: NodeLayout, launch: Launch) -> list[str]:
    values = {
        "cluster.name": CLUSTER_NAME,
        "node.name": layout.name,
        "network.host": "127.0.0.1",
        "http.host": ",".join(launch.http_hosts),
        "http.port": str(launch.state.http_port),
        "transport.port": str(launch.state.transport_port),
        "path.data": str(layout.data),
        "path.logs": str(layout.logs),
        "xpack.security.enabled": "true",
        # Loopback only, so plain HTTP with basic auth; no certificates to hand out to clients.
        "xpack.security.http.ssl.enabled": "false",
        # A dev/CI node on a shared disk: a full disk elsewhere must not turn indices read-only.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        **launch.discovery,
    }
    return [arg for key, value in values.items() for arg in ("-E", f"{key}={value}")]


def wait_for_health(
    url: str, password: str, members: Sequence[NodeLayout], wanted_nodes: int, deadline: float, started: float,
    report: Progress,
) -> str:  # fmt: skip
    """Poll ``url`` until the cluster is yellow or green with ``wanted_nodes`` nodes in it.

    Fails at the deadline, or as soon as one of ``members`` (the nodes just started) has exited.
    """
    last_report = 0.0
    while True:
        health = cluster_health(url, password)
        if health and health.status in ("yellow", "green") and (health.nodes or 0) >= wanted_nodes:
            return health.status
        if time.monotonic() > deadline:
            quorum = " (a cluster elects a master only while most of its nodes run)" if wanted_nodes > 1 else ""
            raise EngineStartFailed(
                f"no yellow/green cluster health at {url} within the startup timeout{quorum}",
                "\n".join(log_tail(layout) for layout in members),
            )
        for layout in members:
            if layout.pidfile.is_file() and live_node_pid(layout) is None:
                raise EngineStartFailed(f"{layout.name} exited during startup", log_tail(layout))
        waited = time.monotonic() - started
        if waited - last_report >= HEALTH_REPORT_EVERY_S:
            joined = f", {health.nodes or 0} of {wanted_nodes} nodes" if wanted_nodes > 1 and health else ""
            report(f"waiting for cluster health at {url} ({waited:.0f}s){joined}")
            last_report = waited
        time.sleep(HEALTH_POLL_S)


def record_started(layout: NodeLayout, state: NodeState) -> NodeState:
    started = replace(state, pid=live_node_pid(layout), started_at=time.time())
    write_state(layout, started)
    return started


def abandon(layout: NodeLayout, report: Progress) -> None:
    """After a failed start, end what may have started, so the next try begins clean.

    Killing the launcher does not end the server it spawned, and the server writes its pid
    file only once started: so look for it by the distribution it runs.
    """
    terminate(node_pids(layout), report)
    forget_pid(layout)


# ---------------------------------------------------------------- ports


def choose_ports(
    http_wanted: int, transport_wanted: int, previous: NodeState | None, taken: set[int]
) -> tuple[int, int]:
    """Configured ports, else the ones used last time (a stable URL) when still free, else the first free."""
    for name, port in (("engine.port", http_wanted), ("engine.transport_port", transport_wanted)):
        if port and not port_is_free(port):
            raise EngineStartFailed(f"{name} {port} on 127.0.0.1 is in use by another program")
    http = http_wanted or _reuse_or_scan(previous.http_port if previous else None, FIRST_HTTP_PORT, taken)
    transport = transport_wanted or _reuse_or_scan(
        previous.transport_port if previous else None, FIRST_TRANSPORT_PORT, taken | {http}
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
        # As Elasticsearch binds (reuse_address): a port whose last connections linger in TIME_WAIT,
        # such as a restarted node's transport port, is free to it, and so its node keeps its ports.
        binder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            binder.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# ---------------------------------------------------------------- probing


def cluster_health(url: str, password: str) -> Health | None:
    """The cluster's health as the node at ``url`` sees it; None when nothing answers (or no master yet).

    GET / answers 405 on this distribution, so health is the liveness check.
    """
    try:
        answer = requests.get(f"{url}/_cluster/health", auth=(USERNAME, password), timeout=5)
    except requests.RequestException:
        return None
    if answer.status_code == 401:
        return Health("unauthorized")
    if not answer.ok:
        return None
    body = answer.json()
    found = body.get("status")
    return Health(str(found), int(body.get("number_of_nodes") or 0)) if found else None


def node_version(url: str, password: str) -> str | None:
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


def probe(layout: NodeLayout, not_set_up: str) -> NodeStatus:
    """Whether this node's process runs and answers, with where it listens."""
    state = read_state(layout)
    if state is None:
        return NodeStatus(layout.name, False, layout.node_dir, detail=not_set_up)
    where = NodeStatus(layout.name, False, layout.node_dir, state.url, state.http_port, state.transport_port)
    pid = live_node_pid(layout)
    if pid is None:
        return replace(where, detail="stopped")
    health = cluster_health(state.url, read_password(layout))
    running = health is not None and health.status in ("yellow", "green", "red")
    if running:
        assert health is not None
        return replace(where, running=True, pid=pid, health=health.status, cluster_nodes=health.nodes, detail="running")
    stuck = "process alive but not answering (starting, or hung)"
    if layout.member:
        stuck = "process alive but not answering (starting, hung, or no master: too few of the cluster's nodes run)"
    return replace(where, pid=pid, health=health.status if health else None, detail=stuck)


def read_password(layout: NodeLayout) -> str:
    return layout.password_file.read_text().strip() if layout.password_file.is_file() else ""


def live_node_pid(layout: NodeLayout) -> int | None:
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
    found = node_pids(layout)
    return found[0] if found else None


def node_pids(layout: NodeLayout) -> list[int]:
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


def terminate(pids: Sequence[int], report: Progress) -> None:
    """SIGTERM to every pid at once, then wait for each up to the grace period; SIGKILL after it."""
    processes: list[psutil.Process] = []
    for pid in pids:
        report(f"stopping Elasticsearch (pid {pid})")
        try:
            process = psutil.Process(pid)
            process.send_signal(signal.SIGTERM)
            processes.append(process)
        except psutil.NoSuchProcess:
            continue
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except psutil.NoSuchProcess:
            continue
        except psutil.TimeoutExpired:
            log_event(log, "kill_after_grace", pid=process.pid, grace_s=STOP_GRACE_S)
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
                process.wait(timeout=30)


# ---------------------------------------------------------------- state files


def read_state(layout: NodeLayout) -> NodeState | None:
    try:
        data = json.loads(layout.state_file.read_text())
        return NodeState(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_state(layout: NodeLayout, state: NodeState) -> None:
    scratch = layout.state_file.with_suffix(".tmp")
    scratch.write_text(json.dumps(state.__dict__, indent=2) + "\n")
    os.replace(scratch, layout.state_file)


def forget_pid(layout: NodeLayout) -> None:
    layout.pidfile.unlink(missing_ok=True)
    state = read_state(layout)
    if state is not None and state.pid is not None:
        write_state(layout, replace(state, pid=None, started_at=None))


@contextlib.contextmanager
def locked(lock_file: Path, timeout: float, report: Progress) -> Iterator[None]:
    """One start/stop at a time per node (or cluster), also across processes (parallel test sessions)."""
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


def log_tail(layout: NodeLayout) -> str:
    lines: list[str] = []
    for path in (layout.launcher_log, layout.node_log):
        if path.is_file():
            text = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            lines.append(f"[{path}]")
            lines.extend(text)
    return "\n".join(lines)
