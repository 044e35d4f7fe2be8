"""`chancery engine start | stop | status | check`: the local Elasticsearch node, or a local cluster."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from pipeline.config import Settings
from pipeline.engine import distribution, local, prereqs
from pipeline.engine.local import EngineStatus
from pipeline.urls import masked

Progress = Callable[[str], None]


def register(sub: Any) -> None:
    parser = sub.add_parser("engine", help="start, stop or inspect the local Elasticsearch node (or cluster)")
    actions = parser.add_subparsers(dest="engine_action", required=True, metavar="ACTION")

    start = actions.add_parser("start", help="download if needed, start, and wait for a healthy node or cluster")
    start.add_argument("--port", type=int, help="HTTP port (default: first free from 9200; a cluster's node K: +K-1)")
    start.add_argument("--es-version", dest="es_version", help="Elasticsearch version on Maven Central")
    start.add_argument("--nodes", type=_positive, metavar="N",
                       help="a cluster of N nodes on loopback (a new home only; default: what this home has, else 1)")
    start.add_argument("--node", type=_positive, metavar="K", help="start only node K of this home's cluster")
    start.set_defaults(run=run_start, setting_overrides=_overrides)

    stop = actions.add_parser("stop", help="stop the node (or every node of the cluster) this home started")
    stop.add_argument("--node", type=_positive, metavar="K", help="stop only node K of this home's cluster")
    stop.set_defaults(run=run_stop)

    status = actions.add_parser("status", help="running or not, URL, version, health, where its files are")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(run=run_status)

    check = actions.add_parser("check", help="find a JDK 21+ and Maven, or name what to install")
    check.set_defaults(run=run_check)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not 1 or more")
    return value


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"engine.port": args.port, "engine.version": args.es_version, "engine.nodes": args.nodes}


def run_start(args: argparse.Namespace, settings: Settings) -> int:
    console = Console(stderr=True)
    if settings.elasticsearch.url:
        console.print(f"ELASTICSEARCH_URL is set: the configured cluster {masked(settings.elasticsearch.url)} is used.")
        return run_status(argparse.Namespace(json=False), settings)
    try:
        with _spinner(console, "starting Elasticsearch") as progress:
            state = local.start(settings, progress=progress, node_number=args.node)
    except local.EngineLayoutConflict as exc:
        console.print(f"[red]chancery engine start:[/red] {exc}")
        return 2
    except prereqs.PrerequisiteMissing as exc:
        console.print(f"[red]missing prerequisite:[/red] {exc}")
        return 3
    except distribution.DistributionUnavailable as exc:
        console.print(f"[red]no distribution:[/red] {exc}")
        return 1
    except local.EngineStartFailed as exc:
        console.print(f"[red]Elasticsearch did not start:[/red] {exc}")
        return 1
    _print_status(state)
    return 0


def run_stop(args: argparse.Namespace, settings: Settings) -> int:
    console = Console(stderr=True)
    try:
        with _spinner(console, "stopping Elasticsearch") as progress:
            stopped = local.stop(settings, progress=progress, node_number=args.node)
    except local.EngineLayoutConflict as exc:
        console.print(f"[red]chancery engine stop:[/red] {exc}")
        return 2
    print("stopped" if stopped else "not running")
    return 0


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    state = local.describe(settings)
    if args.json:
        print(json.dumps(_as_dict(state), indent=2))
    else:
        _print_status(state)
    return 0 if state.running else 1


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    try:
        found = prereqs.check(settings.engine)
    except prereqs.PrerequisiteMissing as exc:
        print(f"chancery engine check: missing prerequisite: {exc}", file=sys.stderr)
        return 3
    print(f"JDK {found.java.version} at {found.java.path}")
    print(f"Maven at {found.maven}")
    cached = distribution.cached_zip(settings.engine)
    wanted = distribution.artifact(settings.engine).coordinate
    print(f"distribution {wanted}: " + (f"cached at {cached}" if cached else "not cached yet (start downloads it)"))
    return 0


def _print_status(state: EngineStatus) -> None:
    if state.external:
        print("cluster:  the configured ELASTICSEARCH_URL (no local node is used)")
    print(f"running:  {'yes' if state.running else 'no'}" + (f" ({state.detail})" if state.detail else ""))
    rows: dict[str, object] = {
        "url": masked(state.url) if state.url else None,  # ELASTICSEARCH_URL may carry user:password@
        "version": state.version,
        "health": state.health,
        "pid": state.pid,
        "run as": state.run_as,
        "node dir": f"{state.node_dir}" + (" (fallback: the home is not reachable by the node's user)"
                                           if state.fallback else "") if state.node_dir else None,
    }  # fmt: skip
    if state.node_dir is not None and not state.external and len(state.nodes) <= 1:
        rows["logs"] = state.node_dir / "logs" / "chancery.log"
    for label, value in rows.items():
        if value is not None:
            print(f"{label + ':':<9} {value}")
    if len(state.nodes) > 1:
        print("nodes:")
        for one in state.nodes:
            where = f"{one.url}  transport {one.transport_port}" if one.url else "-"
            pid = f"  pid {one.pid}" if one.pid else ""
            sees = f"  sees {one.cluster_nodes} nodes" if one.cluster_nodes else ""
            print(f"  {one.name:<7} {'running' if one.running else one.detail:<8}  {where}{pid}{sees}")
            print(f"  {'':<7} logs {one.node_dir / 'logs' / 'chancery.log'}")


def _as_dict(state: EngineStatus) -> dict[str, Any]:
    shown = dataclasses.replace(state, url=masked(state.url) if state.url else None)
    return {k: _plain(v) for k, v in dataclasses.asdict(shown).items()}


def _plain(value: Any) -> Any:
    """Paths as strings, at any depth (the nodes list holds each node's folder)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@contextmanager
def _spinner(console: Console, title: str) -> Iterator[Progress]:
    """A rich spinner whose text follows the engine's progress messages; plain lines when not a TTY."""
    if not console.is_terminal:
        yield _changed_lines_printer(console)
        return
    with console.status(title) as status:
        yield lambda message: status.update(message)


def _changed_lines_printer(console: Console) -> Progress:
    """For CI logs: one line per new step; repeats of a step that only differ in seconds are dropped."""
    last_step = ""

    def show(message: str) -> None:
        nonlocal last_step
        step = re.sub(r"\(\d+s\)", "", message)
        if step != last_step:
            console.print(message)
            last_step = step

    return show
