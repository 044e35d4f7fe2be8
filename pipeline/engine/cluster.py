"""A real Elasticsearch cluster of N nodes on loopback, for one home: `chancery engine start --nodes N`.

Each node is a full node of the stock distribution (``node.py`` runs it, as it runs the single
node): its own unpacked copy, data, logs, ports and pid. They find each other through
``discovery.seed_hosts`` on their 127.0.0.1 transport ports, bootstrap once with
``cluster.initial_master_nodes`` (never again after the cluster has formed: a node whose data was
wiped must join the cluster, not found a second one), and talk TLS on the transport layer with
certificates from the cluster's own CA (``certs.py``). Security is as on the single node: basic
auth, one ``elastic`` password for all nodes, stored 0600.

    <engine dir>/               the home's engine folder, or its fallback (see local.py)
      cluster.json              size, and whether the cluster has formed
      elastic-password          0600; every node's keystore holds it as bootstrap.password
      ca/ca.crt ca/ca.key       the cluster's CA (0600, the command's user)
      node-1/ ... node-N/       one node each: dist/ (config/certs inside), data/, logs/, tmp/, node.json

Every node is master-eligible and holds data, so any one of three can stop (or be killed) and the
other two keep a master and every shard (the indices have one replica from two nodes on).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pipeline.config import EngineSettings
from pipeline.engine import account, certs, node
from pipeline.engine.account import NodeUser
from pipeline.engine.node import EngineStartFailed, EngineStatus, Launch, NodeLayout, NodeState, Progress
from pipeline.engine.prereqs import JavaHome
from pipeline.logs import get_logger, log_event
from pipeline.statefiles import write_private

log = get_logger("engine.cluster")

STATE_FILE = "cluster.json"
CERTS_IN_CONFIG = "certs"  # NodeLayout.certs, relative to the node's config folder
NOT_SET_UP = "not set up: `chancery engine start --nodes N` downloads and starts it"


@dataclass(frozen=True)
class ClusterLayout:
    root: Path
    version: str
    fallback: bool
    size: int

    def member(self, number: int) -> NodeLayout:
        return NodeLayout(self.root / f"node-{number}", self.version, self.fallback, member=number)

    @property
    def members(self) -> list[NodeLayout]:
        return [self.member(number) for number in range(1, self.size + 1)]

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    @property
    def password_file(self) -> Path:
        return self.root / "elastic-password"

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"


@dataclass(frozen=True)
class ClusterState:
    size: int
    # True once all nodes were healthy together: from then on no node is given
    # cluster.initial_master_nodes, so no subset of wiped nodes can bootstrap a second cluster.
    formed: bool = False


def recorded_size(root: Path) -> int | None:
    """The size of the cluster set up in ``root``; None when there is none."""
    state = _read_state(root / STATE_FILE)
    return state.size if state else None


# ---------------------------------------------------------------- start


def start(
    layout: ClusterLayout,
    engine: EngineSettings,
    home: Path,
    user: NodeUser,
    java: JavaHome,
    report: Progress,
    only: int | None = None,
) -> None:
    """Start every stopped node (or only node ``only``) and wait until they are all in one healthy cluster."""
    account.make_reachable_dirs(layout.root)
    with node.locked(layout.lock_file, engine.startup_timeout * 2, report):
        state = _read_state(layout.state_file) or ClusterState(layout.size)
        _write_state(layout.state_file, state)
        alive = [m for m in layout.members if node.live_node_pid(m) is not None]
        _ensure_password(layout, alive)
        wanted = [layout.member(only)] if only else layout.members
        to_launch = [m for m in wanted if m not in alive]
        if not to_launch:
            log_event(log, "already_running", nodes=len(alive), root=str(layout.root))
            return
        authority = certs.ensure_authority(layout.ca_dir)
        for member in to_launch:
            node.prepare_node_dir(member, user, home)
            node.install(member, engine, user, java, report)
            certs.issue_node_certificate(authority, member.name, member.certs)
            account.give_to(member.certs, user)
        launches = _plan(layout, engine, user, state, to_launch)
        started = time.monotonic()
        deadline = started + engine.startup_timeout
        try:
            final = _spawn_all(layout, engine, user, java, report, launches)
            first = final[to_launch[0].member]
            node.wait_for_health(
                first.state.url, layout.password_file.read_text().strip(), to_launch,
                len(alive) + len(to_launch), deadline, started, report,
            )  # fmt: skip
        except BaseException:
            for member in to_launch:  # either all of them joined, or none of them runs
                node.abandon(member, report)
            raise
        for member in to_launch:
            node.record_started(member, final[member.member].state)
        if len(alive) + len(to_launch) == layout.size and not state.formed:
            _write_state(layout.state_file, replace(state, formed=True))
        log_event(log, "started", nodes=len(alive) + len(to_launch), launched=len(to_launch),
                  seconds=round(time.monotonic() - started, 1), root=str(layout.root))  # fmt: skip


def _ensure_password(layout: ClusterLayout, alive: list[NodeLayout]) -> None:
    """The cluster's elastic password, made before any node's keystore is.

    A new password (first start, or the file was lost) invalidates every node's keystore, so they
    are removed and rebuilt from it; with nodes running that cannot be done behind their back.
    """
    if layout.password_file.is_file():
        return
    if alive:
        raise EngineStartFailed(
            f"{layout.password_file} is missing while {len(alive)} node(s) run: `chancery engine stop`, "
            "then start again (every node's keystore gets a new password)"
        )
    write_private(layout.password_file, secrets.token_urlsafe(24) + "\n")
    for member in layout.members:
        (member.dist / "config" / "elasticsearch.keystore").unlink(missing_ok=True)


Plan = tuple[Launch, Callable[[], Launch]]  # the first try, and how to try again on fresh ports


def _plan(
    layout: ClusterLayout, engine: EngineSettings, user: NodeUser, state: ClusterState, to_launch: list[NodeLayout]
) -> dict[int, Plan]:
    """Ports for every node to start, and how to start it."""
    recorded = {m.member: node.read_state(m) for m in layout.members}
    ports: dict[int, tuple[int, int]] = {
        number: (s.http_port, s.transport_port) for number, s in recorded.items() if s is not None
    }
    chosen: dict[int, tuple[int, int]] = {}
    for member in to_launch:
        others = {p for number, pair in {**ports, **chosen}.items() if number != member.member for p in pair}
        chosen[member.member] = node.choose_ports(
            *_configured_ports(engine, member.member), recorded[member.member], others
        )
    ports.update(chosen)
    seeds = ",".join(f"127.0.0.1:{transport}" for _, transport in sorted(ports.values()))
    discovery = {"discovery.seed_hosts": seeds, **certs.transport_tls_settings(CERTS_IN_CONFIG)}
    if not state.formed:
        discovery["cluster.initial_master_nodes"] = ",".join(m.name for m in layout.members)

    def launch(member: NodeLayout, pair: tuple[int, int]) -> Launch:
        return Launch(NodeState(pair[0], pair[1], engine.version, user.name), engine.cluster_heap, discovery,
                      engine.http_hosts)

    def on_fresh_ports(member: NodeLayout) -> Callable[[], Launch]:
        # Chosen when the retry comes: the port lost meanwhile is in use by then, so the scan passes it.
        taken = {p for number, pair in ports.items() if number != member.member for p in pair}
        return lambda: launch(member, node.choose_ports(*_configured_ports(engine, member.member), None, taken))

    return {m.member: (launch(m, chosen[m.member]), on_fresh_ports(m)) for m in to_launch}


def _configured_ports(engine: EngineSettings, number: int) -> tuple[int, int]:
    """Node K's configured ports: engine.port + K - 1 and engine.transport_port + K - 1; 0 means any free."""
    return (engine.port + number - 1 if engine.port else 0,
            engine.transport_port + number - 1 if engine.transport_port else 0)  # fmt: skip


def _spawn_all(
    layout: ClusterLayout,
    engine: EngineSettings,
    user: NodeUser,
    java: JavaHome,
    report: Progress,
    launches: dict[int, Plan],
) -> dict[int, Launch]:
    """Launch the nodes at once: each launcher waits until its node has joined, which needs the others."""
    configured = bool(engine.port or engine.transport_port)

    def one(number: int) -> Launch:
        member = layout.member(number)
        first, fresh = launches[number]
        return node.spawn_with_retries(
            member, first, fresh, user, java, engine.startup_timeout,
            lambda message: report(f"{member.name}: {message}"), configured,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=len(launches), thread_name_prefix="es-launch") as pool:
        futures = {number: pool.submit(one, number) for number in launches}
        return {number: future.result() for number, future in futures.items()}


# ---------------------------------------------------------------- stop, status, connection


def stop(layout: ClusterLayout, report: Progress, only: int | None = None) -> bool:
    """End exactly the processes of every node (or of node ``only``); True when one was running."""
    if not layout.root.is_dir():
        return False
    members = [layout.member(only)] if only else layout.members
    with node.locked(layout.lock_file, node.STOP_GRACE_S * 2, report):
        running = [(m, pid) for m in members if (pid := node.live_node_pid(m)) is not None]
        node.terminate([pid for _, pid in running], report)
        for member in members:
            node.forget_pid(member)
    for member, pid in running:
        log_event(log, "stopped", node=member.name, pid=pid, node_dir=str(member.node_dir))
    return bool(running)


def status(layout: ClusterLayout) -> EngineStatus:
    """Every node, and the cluster's health as the first answering node sees it."""
    base = EngineStatus(running=False, node_dir=layout.root, fallback=layout.fallback)
    if not layout.state_file.is_file():
        return replace(base, detail=NOT_SET_UP)
    nodes = tuple(node.probe(m, "not started yet") for m in layout.members)
    answering = [n for n in nodes if n.running]
    recorded = [s for s in (node.read_state(m) for m in layout.members) if s is not None]
    shown = answering[0] if answering else next((n for n in nodes if n.url), None)
    if answering:
        detail = f"{len(answering)} of {layout.size} nodes running"
    elif any(n.pid for n in nodes):
        detail = f"0 of {layout.size} nodes answering (starting, or too few run to elect a master)"
    else:
        detail = "stopped"
    return replace(
        base,
        running=bool(answering),
        url=shown.url if shown else None,
        port=shown.port if shown else None,
        health=answering[0].health if answering else None,
        version=node.node_version(answering[0].url or "", layout.password_file.read_text().strip())
        if answering
        else None,
        run_as=recorded[0].run_as if recorded else None,
        detail=detail,
        nodes=nodes,
    )


def connection(layout: ClusterLayout) -> str | None:
    """The URL of the first node whose process runs (else node 1's), or None before the first start."""
    recorded = [(m, s) for m in layout.members if (s := node.read_state(m)) is not None]
    for member, state in recorded:
        if node.live_node_pid(member) is not None:
            return state.url
    return recorded[0][1].url if recorded else None


# ---------------------------------------------------------------- cluster.json


def _read_state(path: Path) -> ClusterState | None:
    try:
        return ClusterState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_state(path: Path, state: ClusterState) -> None:
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(asdict(state), indent=2) + "\n")
    os.replace(scratch, path)
