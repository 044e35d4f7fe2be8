"""`chancery deadletters list|retry`: the documents indexing gave up on, and replaying them.

Both read the dead-letter index and the JSON lines fallback under the state directory
(`pipeline.index.deadletters`). `retry` sends the stored documents through the same bulk path
into the write alias and removes the letters it settled.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from pipeline.config import Settings

if TYPE_CHECKING:
    from pipeline.index.deadletters import DeadLetterListing, ReplayReport

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ENGINE_DOWN = 3


def register(sub: Any) -> None:
    parser = sub.add_parser("deadletters", help="list dead letters (index and file), replay them into the index")
    actions = parser.add_subparsers(dest="deadletters_action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="counts by reason and the latest letters, from the index and the file")
    listing.add_argument("--latest", type=int, default=10, help="how many of the newest letters to show (default 10)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(run=run_list)

    retry = actions.add_parser("retry", help="replay the stored documents into the write alias; remove those settled")
    retry.add_argument("--json", action="store_true", help="machine-readable output")
    retry.set_defaults(run=run_retry)


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.index.client import EngineUnavailable, connect
    from pipeline.index.deadletters import list_deadletters

    try:
        es = connect(settings)
    except EngineUnavailable as exc:
        # The file is still worth showing: it is where letters go when the engine is away.
        print(f"chancery deadletters list: {exc}; showing the file only", file=sys.stderr)
        es = None
    try:
        listing = list_deadletters(es, settings, latest=args.latest)
    finally:
        if es is not None:
            es.close()
    if args.json:
        print(json.dumps(listing.as_dict(), indent=2, default=str))
    else:
        _print_listing(listing)
    return EXIT_ENGINE_DOWN if es is None else EXIT_OK


def run_retry(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.index.client import EngineUnavailable, connect
    from pipeline.index.deadletters import retry_deadletters

    try:
        es = connect(settings)
        try:
            report = retry_deadletters(es, settings)
        finally:
            es.close()
    except EngineUnavailable as exc:
        print(f"chancery deadletters retry: {exc}", file=sys.stderr)
        return EXIT_ENGINE_DOWN
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        _print_replay(report)
    return EXIT_OK if report.ok else EXIT_FAILED


def _print_listing(listing: DeadLetterListing) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    in_index = str(listing.in_index) if listing.index_error is None else f"unknown ({listing.index_error})"
    console.print(f"dead letters: {in_index} in index {listing.index}; {listing.in_file} in {listing.file}")
    if listing.unreadable_lines:
        console.print(f"{listing.unreadable_lines} unreadable line(s) in the file: kept, never replayed")
    if listing.by_reason:
        reasons = Table(title="by reason")
        for column in ("error type", "index", "file"):
            reasons.add_column(column)
        for error_type, counts in sorted(listing.by_reason.items()):
            reasons.add_row(error_type, str(counts["index"]), str(counts["file"]))
        console.print(reasons)
    if listing.latest:
        latest = Table(title="latest")
        for column in ("failed at", "where", "status", "error type", "article id", "url", "reason", "replayable"):
            latest.add_column(column)
        for letter in listing.latest:
            latest.add_row(
                str(letter["failed_at"]),
                letter["where"],
                str(letter["status"]),
                str(letter["error_type"]),
                str(letter["article_id"]),
                str(letter["url"] or ""),
                letter["reason"],
                "yes" if letter["replayable"] else "no",
            )
        console.print(latest)


def _print_replay(report: ReplayReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not report.by_reason:
        console.print("no dead letters to replay")
        return
    table = Table(title="deadletters retry, by original reason")
    for column in ("error type", "replayed", "superseded", "still failing", "pending", "not replayable"):
        table.add_column(column)
    for error_type, counts in sorted(report.by_reason.items()):
        unreplayable = str(counts.not_replayable)
        if counts.not_replayable:
            unreplayable += f" ({counts.why_not_replayable})"
        table.add_row(
            error_type,
            str(counts.replayed),
            str(counts.superseded),
            str(counts.still_failing),
            str(counts.pending),
            unreplayable,
        )
    console.print(table)
    if report.now_failing:
        console.print("still failing with: " + ", ".join(f"{k} {v}" for k, v in sorted(report.now_failing.items())))
    removed = f"{report.removed_from_index} from the index, {report.removed_from_file} from the file"
    console.print(f"letters removed: {removed}")
    if report.file_left_alone:
        console.print(report.file_left_alone)
