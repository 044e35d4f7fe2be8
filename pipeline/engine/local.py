"""The home's local Elasticsearch engine: start, stop, status and connection details.

One engine per Chancery home: a single node (the default: the demo, `make test`), or a cluster
of N nodes on loopback (`chancery engine start --nodes N`, ``cluster.py``); whichever the home
was first started as, it stays. Its files live under ``settings.engine_dir`` unless the node's
user cannot reach that path (a checkout under /root, or pytest's tmp_path, both mode 700): then
under ``settings.engine.fallback_home/home-<hash of the home path>``, so two homes never share
an engine. ``status`` shows which.

Each node runs the stock distribution (``node.py``, ``distribution.py``) with security on and
HTTP TLS off, bound to loopback only; the ``elastic`` user's password is generated once and
stored mode 0600 in the engine's folder.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from pipeline.config import Settings
from pipeline.engine import account, cluster, node
from pipeline.engine.account import NodeUser
from pipeline.engine.cluster import ClusterLayout
from pipeline.engine.node import (
    USERNAME,
    EngineStartFailed,
    EngineStatus,
    Launch,
    NodeLayout,
    NodeState,
    NodeStatus,
    Progress,
)
from pipeline.engine.prereqs import JavaHome, PrerequisiteMissing, find_java
from pipeline.logs import get_logger, log_event

__all__ = [
    "EngineLayoutConflict",
    "EngineNotStarted",
    "EngineStartFailed",
    "EngineStatus",
    "NodeLayout",
    "NodeStatus",
    "PrerequisiteMissing",
    "connection",
    "describe",
    "fallback_dir",
    "locate",
    "start",
    "status",
    "stop",
]

log = get_logger("engine")

NOT_SET_UP = "not set up: `chancery engine start` downloads and starts it"
# Only the single node speaks plain transport: nothing can join a single-node cluster.
SINGLE_NODE_DISCOVERY = {"discovery.type": "single-node", "xpack.security.transport.ssl.enabled": "false"}


class EngineNotStarted(RuntimeError):
    """No local engine was ever started for this home, so there is nothing to connect to."""


class EngineLayoutConflict(RuntimeError):
    """The command asks for another engine than the one this home has (a cluster of another size,
    a node number that does not exist); the message says what to do instead."""


@dataclass(frozen=True)
class EngineFolder:
    """Where this home's engine lives and how many nodes it was set up with (0: none yet)."""

    path: Path
    fallback: bool
    size: int


# ---------------------------------------------------------------- where the engine lives


def fallback_dir(settings: Settings) -> Path:
    digest = hashlib.sha256(str(settings.home).encode()).hexdigest()[:16]
    return Path(settings.engine.fallback_home) / f"home-{digest}"


def _engine_folder(settings: Settings, user: NodeUser | None) -> EngineFolder:
    """The folder an engine was set up in before, else the home if reachable, else the fallback."""
    preferred, fallback = settings.engine_dir, fallback_dir(settings)
    for folder, is_fallback in ((preferred, False), (fallback, True)):
        size = cluster.recorded_size(folder)
        if size is not None:
            return EngineFolder(folder, is_fallback, size)
        if (folder / "node.json").is_file():
            return EngineFolder(folder, is_fallback, 1)
    if user is None or account.reachable(preferred, user):
        return EngineFolder(preferred, False, 0)
    return EngineFolder(fallback, True, 0)


def locate(settings: Settings, user: NodeUser | None) -> NodeLayout:
    """The single node's folder (see ``_engine_folder``)."""
    folder = _engine_folder(settings, user)
    return NodeLayout(folder.path, settings.engine.version, folder.fallback)


def _cluster_layout(settings: Settings, folder: EngineFolder, size: int) -> ClusterLayout:
    return ClusterLayout(folder.path, settings.engine.version, folder.fallback, size)


def _size_to_start(settings: Settings, folder: EngineFolder, only: int | None) -> int:
    """How many nodes this start is about: the configured number, checked against what the home has."""
    configured, recorded = settings.engine.nodes, folder.size
    if configured < 0:
        raise EngineLayoutConflict(f"engine.nodes is {configured}: use 1 or more (0: as this home has it)")
    size = configured or recorded or 1
    if recorded and size != recorded:
        have = "a single node" if recorded == 1 else f"a {recorded}-node cluster"
        raise EngineLayoutConflict(
            f"this home's engine is {have} ({folder.path}), not {size} node(s): use another CHANCERY_HOME "
            f"for the other engine, or `chancery engine stop` and delete {folder.path} (its indices go with it)"
        )
    _check_node_number(size, only)
    if only is not None and not recorded:
        raise EngineLayoutConflict(
            "this home's cluster was never started: start all of it first (`chancery engine start --nodes N`)"
        )
    return size


def _check_node_number(size: int, only: int | None) -> None:
    if only is None:
        return
    if size == 1:
        raise EngineLayoutConflict("this home's engine is a single node: --node applies to a cluster's nodes")
    if not 1 <= only <= size:
        raise EngineLayoutConflict(f"this home's cluster has nodes 1 to {size}, not {only}")


def _user_if_exists(settings: Settings) -> NodeUser | None:
    try:
        return account.node_user(settings.engine.run_as_user, create=False)
    except KeyError:
        return None


# ---------------------------------------------------------------- public contract


def status(settings: Settings) -> EngineStatus:
    """Whether this home's engine runs, with its URL, version, health and nodes (ignores elasticsearch.url)."""
    folder = _engine_folder(settings, _user_if_exists(settings))
    if folder.size > 1:
        return cluster.status(_cluster_layout(settings, folder, folder.size))
    return _probe(NodeLayout(folder.path, settings.engine.version, folder.fallback))


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
    """(url, username, password) of this home's engine, as recorded by `start`.

    For a cluster, the URL is that of the first node whose process runs, so a client made after
    one node went down still reaches the others.
    """
    folder = _engine_folder(settings, _user_if_exists(settings))
    if folder.size > 1:
        layout = _cluster_layout(settings, folder, folder.size)
        url, password_file = cluster.connection(layout), layout.password_file
    else:
        single = NodeLayout(folder.path, settings.engine.version, folder.fallback)
        state = node.read_state(single)
        url, password_file = (state.url if state else None), single.password_file
    if url is None or not password_file.is_file():
        raise EngineNotStarted(
            f"no local Elasticsearch set up under {folder.path}: run `chancery engine start` or set ELASTICSEARCH_URL"
        )
    try:
        password = password_file.read_text().strip()
    except PermissionError as exc:
        raise EngineNotStarted(
            f"the local engine's password file {password_file} belongs to the user who started "
            "it (root): run as that user, or set ELASTICSEARCH_URL and its credentials"
        ) from exc
    return url, USERNAME, password


def start(settings: Settings, progress: Progress | None = None, node_number: int | None = None) -> EngineStatus:
    """Start this home's engine and wait until it is healthy; what already runs is returned as is.

    ``settings.engine.nodes`` (N >= 2) makes a new home's engine a cluster of N nodes;
    ``node_number`` starts only that node of the home's cluster.
    """
    report = progress or _log_progress
    java = find_java(settings.engine)  # first: a machine without a JDK 21+ gets no folders made
    user = account.node_user(settings.engine.run_as_user, create=True)
    folder = _engine_folder(settings, user)
    size = _size_to_start(settings, folder, node_number)
    if size > 1:
        layout = _cluster_layout(settings, folder, size)
        cluster.start(layout, settings.engine, settings.home, user, java, report, only=node_number)
        return cluster.status(layout)
    return _start_single(
        NodeLayout(folder.path, settings.engine.version, folder.fallback), settings, user, java, report
    )


def stop(settings: Settings, progress: Progress | None = None, node_number: int | None = None) -> bool:
    """End exactly the processes this home's engine recorded (or only node ``node_number``'s).

    True when one was running.
    """
    report = progress or _log_progress
    folder = _engine_folder(settings, _user_if_exists(settings))
    _check_node_number(max(folder.size, 1), node_number)
    if folder.size > 1:
        return cluster.stop(_cluster_layout(settings, folder, folder.size), report, only=node_number)
    layout = NodeLayout(folder.path, settings.engine.version, folder.fallback)
    if not layout.node_dir.is_dir():
        return False
    with node.locked(layout.lock_file, node.STOP_GRACE_S * 2, report):
        pid = node.live_node_pid(layout)
        if pid is None:
            node.forget_pid(layout)
            return False
        node.terminate([pid], report)
        node.forget_pid(layout)
        log_event(log, "stopped", pid=pid, node_dir=str(layout.node_dir))
        return True


# ---------------------------------------------------------------- the single node


def _start_single(
    layout: NodeLayout, settings: Settings, user: NodeUser, java: JavaHome, report: Progress
) -> EngineStatus:
    node.prepare_node_dir(layout, user, settings.home)
    with node.locked(layout.lock_file, settings.engine.startup_timeout * 2, report):
        current = _probe(layout)
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
                node.terminate([current.pid], report)
        node.install(layout, settings.engine, user, java, report)
        return _launch_single(layout, settings, user, java, report)


def _launch_single(
    layout: NodeLayout, settings: Settings, user: NodeUser, java: JavaHome, report: Progress
) -> EngineStatus:
    engine = settings.engine

    def plan(previous: NodeState | None) -> Launch:
        http, transport = node.choose_ports(engine.port, engine.transport_port, previous, set())
        return Launch(NodeState(http, transport, engine.version, user.name), engine.heap, SINGLE_NODE_DISCOVERY,
                      engine.http_hosts)

    started = time.monotonic()
    deadline = started + engine.startup_timeout
    configured = bool(engine.port or engine.transport_port)
    launch = node.spawn_with_retries(
        layout, plan(node.read_state(layout)), lambda: plan(None), user, java, engine.startup_timeout, report,
        configured,
    )  # fmt: skip
    try:
        health = node.wait_for_health(
            launch.state.url, node.read_password(layout), [layout], 1, deadline, started, report
        )
    except BaseException:
        node.abandon(layout, report)  # either a healthy node or none
        raise
    state = node.record_started(layout, launch.state)
    log_event(log, "started", url=state.url, pid=state.pid, health=health,
              seconds=round(time.monotonic() - started, 1))  # fmt: skip
    return _probe(layout)


def _probe(layout: NodeLayout) -> EngineStatus:
    one = node.probe(layout, NOT_SET_UP)
    state = node.read_state(layout)
    version = node.node_version(one.url, node.read_password(layout)) if one.running and one.url else None
    return EngineStatus(
        running=one.running,
        url=one.url,
        version=version,
        health=one.health,
        pid=one.pid,
        port=one.port,
        node_dir=layout.node_dir,
        fallback=layout.fallback,
        run_as=state.run_as if state else None,
        detail=one.detail,
        nodes=(one,),
    )


def _await_answer(layout: NodeLayout, settings: Settings, report: Progress) -> EngineStatus:
    report("a node process is alive but not answering yet: waiting for it")
    deadline = time.monotonic() + settings.engine.startup_timeout
    current = _probe(layout)
    while not current.running and current.pid is not None and time.monotonic() < deadline:
        time.sleep(2)
        current = _probe(layout)
    return current


def _log_progress(message: str) -> None:
    log_event(log, "progress", message=message)
