"""`chancery captures list|mark-pending|summary|drain`: the capture ledger that process_captures drains.

Re-processing a capture (e.g. after an enrichment upgrade) is marking it pending
again, then waking process_captures (a raw-captures asset event, or wait for its
hourly fallback), or draining it here with `chancery captures drain`; see docs/airflow.md.
"""

from __future__ import annotations

import argparse
import json
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.cli.process_cmd import add_processing_arguments, workers_of
from pipeline.config import Settings
from pipeline.orchestrate.ledger import CaptureLedger, CaptureStatus

_STATUSES = [s.value for s in CaptureStatus]


def register(sub: Any) -> None:
    parser = sub.add_parser("captures", help="the capture ledger: list captures, mark them pending again")
    actions = parser.add_subparsers(dest="captures_action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="list captures (newest recorded last)")
    listing.add_argument("--status", choices=_STATUSES)
    listing.add_argument("--run-id")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(run=run_list)

    pending = actions.add_parser("mark-pending", help="queue captures for processing again")
    pending.add_argument("paths", nargs="*", help="WARC paths (default: every capture the filters select)")
    pending.add_argument("--status", choices=_STATUSES, help="only captures in this status (e.g. done, failed)")
    pending.add_argument("--run-id", help="only the captures of this run")
    pending.add_argument("--all", action="store_true", help="required to re-queue everything with no filter")
    pending.add_argument("--out-of-scope", action="store_true",
                         help="the captures holding pages the relevance gate kept out, to replay them after a "
                              "scope was widened (scope: all on a source, a lower process.gate_threshold)")
    pending.add_argument("--source", action="append", default=[],
                         help="with --out-of-scope: only pages of this source id (repeatable)")
    pending.set_defaults(run=run_mark_pending)

    summary = actions.add_parser("summary", help="counts by status")
    summary.set_defaults(run=run_summary)

    drain = actions.add_parser("drain", help="process and index pending (and abandoned) captures now, as "
                                             "process_captures does")
    drain.add_argument("--limit", type=_positive, help="at most N captures (default: until none is pending)")
    drain.add_argument("--report", type=Path, help="write the run report as JSON here (also when the run fails)")
    add_processing_arguments(drain, scope=False)
    drain.set_defaults(run=run_drain)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _ledger(settings: Settings) -> CaptureLedger:
    from pipeline.state import open_state

    return open_state(settings).ledger()


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    status = CaptureStatus(args.status) if args.status else None
    captures = _ledger(settings).list(status=status, run_id=args.run_id, limit=args.limit)
    for c in captures:
        if args.json:
            print(json.dumps(c.to_dict(), sort_keys=True))
        else:
            counts = " ".join(f"{k}={v}" for k, v in sorted(c.counts.items()))
            print(f"{c.status.value:8} {c.attempts} {c.run_id:40} {c.path} {counts} {c.error}".rstrip())
    return 0


def run_mark_pending(args: argparse.Namespace, settings: Settings) -> int:
    if args.out_of_scope:
        if args.paths or args.status or args.run_id or args.all:
            print("chancery captures mark-pending: --out-of-scope takes only --source")
            return 2
        from pipeline.orchestrate.steps import mark_out_of_scope_pending

        captures, pages = mark_out_of_scope_pending(settings, args.source)
        print(f"{captures} capture(s) holding {pages} out-of-scope page(s) marked pending; they are processed "
              "again with the sources' scopes as they are now: run `chancery captures drain`")
        return 0
    if args.source:
        print("chancery captures mark-pending: --source goes with --out-of-scope")
        return 2
    if not (args.paths or args.status or args.run_id or args.all):
        print("chancery captures mark-pending: name paths, --status, --run-id, or pass --all")
        return 2
    status = CaptureStatus(args.status) if args.status else None
    changed = _ledger(settings).mark_pending(args.paths, status=status, run_id=args.run_id)
    print(f"{changed} capture(s) marked pending; run `chancery captures drain`, or wake process_captures "
          "with a raw-captures event (see docs/airflow.md) or wait for its hourly run")
    return 0


def run_summary(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(_ledger(settings).counts(), sort_keys=True))
    return 0


def run_drain(args: argparse.Namespace, settings: Settings) -> int:
    """The DAG's drain step from the command line: same claims, same processing, the ingest exit codes."""
    from pipeline.cli.process_cmd import run_reported
    from pipeline.ingest import IngestReport, connect_ready
    from pipeline.orchestrate.steps import drain_captures

    run_id = f"drain-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    report = IngestReport(run_id=run_id, kind="drain")
    ledger = _ledger(settings)

    def drain() -> None:
        es = connect_ready(settings)
        try:
            drain_captures(settings, f"captures-drain:{run_id}", budget_seconds=math.inf, ledger=ledger,
                           limit=args.limit, es=es, on_result=report.add_capture, workers=workers_of(args, settings))
        finally:
            report.ledger = ledger.counts()

    return run_reported("captures drain", settings, report, args.report, drain)
