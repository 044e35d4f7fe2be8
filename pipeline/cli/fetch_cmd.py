"""`chancery fetch`: discover and fetch sources into one WARC per run, with a JSON + table report."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.statefiles import write_private
from pipeline.urls import masked

EXIT_OK = 0
EXIT_USAGE = 2


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
        "--out", help="directory or object-store URL (s3://...) for the WARC (default: CHANCERY_HOME/captures)"
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

    from pipeline.fetch import run_fetch
    from pipeline.orchestrate.ledger import CaptureLedger
    from pipeline.orchestrate.steps import fetch_capture
    from pipeline.sources import SourcesError, load_sources, select_sources

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
    out_dir: Path | str = args.out if args.out and "://" in args.out else Path(args.out or settings.captures_dir)
    if isinstance(out_dir, Path):
        # In the capture ledger like a DAG's fetch: `captures drain` or the next `ingest --sources` indexes it,
        # and its pages count as seen only then.
        ledger = CaptureLedger(settings.ledger_db, settings.airflow.claim_lease_seconds)
        worker = f"fetch:{run_id}"
        fetched = fetch_capture(
            settings,
            ledger,
            sources,
            window,
            run_id,
            out_dir,
            worker,
            refetch=args.refetch,
            show_progress=False if args.no_progress else None,
        )
        ledger.record(fetched.warc_paths, run_id=run_id, sources=[s.id for s in sources])
    else:  # an object store: the WARC is copied there for whoever reads that store
        fetched = run_fetch(
            settings,
            sources,
            window,
            run_id,
            out_dir,
            refetch=args.refetch,
            show_progress=False if args.no_progress else None,
        )
    if args.report:
        write_private(args.report, fetched.to_json())
    console = Console(stderr=True)
    console.print(fetched.report.table())
    console.print(f"WARC: {', '.join([str(p) for p in fetched.warc_paths] + [masked(u) for u in fetched.warc_urls])}")
    return EXIT_OK
