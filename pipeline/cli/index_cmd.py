"""`chancery index setup|status` and `chancery reindex`: the index's template, versions and aliases."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pipeline.config import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ENGINE_DOWN = 3


def register(sub: Any) -> None:
    index = sub.add_parser("index", help="set up or inspect the articles index (template, versions, aliases)")
    actions = index.add_subparsers(dest="index_action", required=True, metavar="ACTION")
    setup = actions.add_parser("setup", help="create or confirm the template, the current index and its aliases")
    setup.add_argument("--json", action="store_true", help="machine-readable output")
    setup.set_defaults(run=run_setup)
    status = actions.add_parser("status", help="aliases, index versions with document counts, dead letters, runs")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(run=run_status)

    reindex = sub.add_parser("reindex", help="copy the live index into the current mapping version, then swap aliases")
    reindex.add_argument(
        "--force", action="store_true", help="rebuild into a new version even if the mapping is current"
    )
    reindex.add_argument("--json", action="store_true", help="machine-readable output")
    reindex.set_defaults(run=run_reindex)


def _connect(settings: Settings, command: str) -> Any:
    from pipeline.index.client import EngineUnavailable, connect

    try:
        return connect(settings)
    except EngineUnavailable as exc:
        print(f"chancery {command}: {exc}", file=sys.stderr)
        return None


def run_setup(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.index.setup import setup_index
    from pipeline.kibana.links import dashboard_url

    es = _connect(settings, "index setup")
    if es is None:
        return EXIT_ENGINE_DOWN
    state = setup_index(es, settings)
    if args.json:
        print(json.dumps(state.as_dict(), indent=2))
    else:
        _print_pairs(
            "index setup",
            {
                "analysis": f"{state.analysis} ({state.analysis_reason})",
                "read alias": f"{state.prefix} -> {state.read_index}",
                "write alias": f"{state.prefix}-write -> {state.write_index}",
                "current index": f"{state.current_index}{' (created)' if state.created else ''}",
                "state": state.reason + ("; run `chancery reindex`" if state.reindex_needed else ""),
                "kibana": dashboard_url(settings.kibana) or "set KIBANA_URL, then `chancery kibana setup`",
            },
        )
    return EXIT_OK


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.index.runs import recent_runs
    from pipeline.index.setup import index_status

    es = _connect(settings, "index status")
    if es is None:
        return EXIT_ENGINE_DOWN
    status = index_status(es, settings)
    status["recent_runs"] = [
        {k: run.get(k) for k in ("id", "kind", "status", "state", "recorded_at")}
        for run in recent_runs(es, settings, 5)
    ]
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    console = Console()
    _print_pairs(
        "index status",
        {
            **status["read_alias"],
            **status["write_alias"],
            "mapping version (code)": str(status["mapping_version"]),
            "dead letters (index)": str(status["deadletters"]),
            "dead letters (file)": f"{status['deadletters_in_file']} in {status['deadletter_file']}",
        },
    )
    table = Table(title="indices")
    for column in ("index", "docs", "mapping version", "analysis", "fingerprint"):
        table.add_column(column)
    for name, info in status["indices"].items():
        table.add_row(
            name,
            str(info["docs"]),
            str(info["mapping_version"]),
            str(info["analysis"]),
            str(info["fingerprint"]),
        )
    console.print(table)
    if status["recent_runs"]:
        runs = Table(title=f"recent runs ({settings.elasticsearch.runs_index})")
        for column in ("id", "kind", "status", "recorded_at"):
            runs.add_column(column)
        for run in status["recent_runs"]:
            runs.add_row(str(run["id"]), str(run["kind"]), str(run["status"] or run["state"]), str(run["recorded_at"]))
        console.print(runs)
    return EXIT_OK


def run_reindex(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.index.setup import reindex

    es = _connect(settings, "reindex")
    if es is None:
        return EXIT_ENGINE_DOWN
    report = reindex(es, settings, force=args.force)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_pairs(
            "reindex",
            {
                "from": str(report.source),
                "to": str(report.target),
                "copied": str(report.copied),
                "kept newer copy": str(report.kept_newer),
                "failed": str(report.failed),
                "seconds": f"{report.seconds:.1f}",
                "result": report.message,
            },
        )
    return EXIT_OK if report.failed == 0 else EXIT_FAILED


def _print_pairs(title: str, pairs: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in pairs.items():
        table.add_row(key, value)
    Console().print(table)
