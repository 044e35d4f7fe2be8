"""`chancery fetch`: discover and fetch sources into one WARC per run, with a JSON + table report."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.statefiles import write_private
from pipeline.urls import is_object_store, local_path, masked

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_PENDING = 5  # the capture could not be published: it waits in the ledger (README, "Commands")


def register(sub: Any) -> None:
    parser = sub.add_parser("fetch", help="discover and fetch sources into a WARC capture, with a run report")
    parser.add_argument("--sources", type=Path, help="sources file (default: CHANCERY_SOURCES / the shipped one)")
    parser.add_argument(
        "--source", action="extend", nargs="+", default=[], metavar="ID", help="only these sources (repeatable)"
    )
    parser.add_argument("--since", type=parse_day, help="window start, inclusive (YYYY-MM-DD or ISO 8601)")
    parser.add_argument("--until", type=parse_day, help="window end, exclusive (YYYY-MM-DD or ISO 8601)")
    parser.add_argument("--report", type=Path, help="write the JSON run report here")
    parser.add_argument(
        "--out",
        help="directory for the WARC (default: CHANCERY_HOME/captures), or an object-store URL (s3://...) to"
        " publish it to, as CHANCERY_CAPTURES_URL does",
    )
    parser.add_argument("--run-id", help="run id, names the WARC (default: fetch-<UTC time>-<random>)")
    parser.add_argument("--refetch", action="store_true", help="fetch articles the seen-store already has")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def parse_day(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or an ISO 8601 time, got {text!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def window_of(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime] | None:
    """[since, until); an open side is the beginning of time or now."""
    if since is None and until is None:
        return None
    return since or datetime(1970, 1, 1, tzinfo=UTC), until or datetime.now(UTC)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from pipeline.captures import CaptureUploadFailed
    from pipeline.orchestrate.steps import fetch_capture
    from pipeline.sources import SourcesError, load_sources, select_sources
    from pipeline.state import open_state

    try:
        sources = select_sources(load_sources(args.sources or settings.sources), args.source)
    except SourcesError as exc:
        print(f"chancery fetch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    window = window_of(args.since, args.until)
    if window and window[0] >= window[1]:
        print("chancery fetch: --since must be before --until", file=sys.stderr)
        return EXIT_USAGE
    run_id = args.run_id or f"fetch-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    if args.out and is_object_store(args.out):  # a captures URL for this run: staged in the home, then published
        settings = dataclasses.replace(settings, captures_url=args.out)
    out_dir = local_path(args.out) if args.out and not is_object_store(args.out) else settings.captures_dir
    # In the capture ledger like a DAG's fetch: `captures drain` or the next `ingest --sources` indexes it,
    # and its pages count as seen only then.
    ledger = open_state(settings).ledger()
    try:
        fetched = fetch_capture(
            settings,
            ledger,
            sources,
            window,
            run_id,
            out_dir,
            f"fetch:{run_id}",
            refetch=args.refetch,
            show_progress=False if args.no_progress else None,
        )
    except CaptureUploadFailed as exc:  # the capture stays in the ledger; a drain on this host uploads it
        print(f"chancery fetch: {exc}; `chancery captures drain` on this host, with the same captures URL,"
              " uploads and indexes it", file=sys.stderr)
        return EXIT_PENDING
    ledger.record([fetched.capture.uri], run_id=run_id, sources=[s.id for s in sources])
    if args.report:
        write_private(args.report, fetched.to_json())
    console = Console(stderr=True)
    console.print(fetched.report.table())
    console.print(f"WARC: {masked(fetched.capture.uri)}")
    return EXIT_OK
