"""`chancery process` (offline batch to JSON lines) and `chancery ingest` (the same, plus indexing)."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.outcomes import Tally

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_ENGINE_DOWN = 3


def register(sub: Any) -> None:
    process = sub.add_parser("process", help="HTML files, directories or WARC captures → Article JSON lines")
    process.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    process.add_argument("-o", "--output", type=Path, required=True, help="JSON lines file to write")
    process.add_argument("--url", help="the article URL, for a single HTML file without a sidecar")
    process.set_defaults(run=run_process)

    ingest = sub.add_parser("ingest", help="process inputs or fetch sources, then index into Elasticsearch")
    ingest.add_argument("inputs", nargs="*", type=Path, metavar="INPUT")
    ingest.add_argument("--url", help="the article URL, for a single HTML file without a sidecar")
    ingest.add_argument("--sources", type=Path, help="sources file (default: CHANCERY_SOURCES)")
    ingest.add_argument("--source", action="append", default=[], help="only this source id (repeatable)")
    ingest.add_argument("--since", type=_date, help="window start (inclusive), YYYY-MM-DD")
    ingest.add_argument("--until", type=_date, help="window end (exclusive), YYYY-MM-DD")
    ingest.add_argument("--refetch", action="store_true", help="refetch articles seen before")
    ingest.add_argument("--report", type=Path, help="write the run report as JSON here")
    ingest.set_defaults(run=run_ingest)


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from exc


def run_process(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.process import process, read_inputs, write_jsonl

    tally = Tally()
    count = write_jsonl(process(read_inputs(args.inputs, url=args.url), settings, tally), args.output)
    print_summary(tally, f"wrote {count} articles to {args.output}")
    return EXIT_OK


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.index.client import EngineUnavailable

    run_id = f"ingest-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    try:
        report = _ingest(args, settings, run_id)
    except EngineUnavailable as exc:
        print(f"chancery ingest: {exc}", file=sys.stderr)
        return EXIT_ENGINE_DOWN
    if report is None:
        print("chancery ingest: give INPUT files or --sources", file=sys.stderr)
        return EXIT_USAGE
    if args.report:
        args.report.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    print_summary(report.tally, f"indexed {report.indexed} articles, {report.failed} dead-lettered (run {run_id})")
    return EXIT_OK


def _ingest(args: argparse.Namespace, settings: Settings, run_id: str) -> Any:
    from pipeline import ingest

    if args.inputs:
        return ingest.ingest_paths(settings, args.inputs, run_id, url=args.url)
    if args.sources or args.source or args.since or args.until:
        from pipeline.sources import load_sources, select_sources

        sources = select_sources(load_sources(args.sources or settings.sources), args.source or None)
        window = None
        if args.since or args.until:
            window = (args.since or datetime(1970, 1, 1, tzinfo=UTC), args.until or datetime.now(UTC))
        return ingest.ingest_sources(settings, sources, window, run_id, refetch=args.refetch)
    return None


def print_summary(tally: Tally, headline: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(title=headline, show_lines=False)
    table.add_column("outcome")
    table.add_column("count", justify="right")
    table.add_column("example reason")
    for outcome, count in tally.as_dict().items():
        table.add_row(outcome, str(count), tally.reasons.get(outcome, ""))
    console.print(table)
    by_source = tally.source_counts()
    if len(by_source) > 1:
        per_source = Table(title="by source")
        per_source.add_column("source")
        per_source.add_column("outcomes")
        for source, counts in by_source.items():
            per_source.add_row(source, ", ".join(f"{k} {v}" for k, v in counts.items()))
        console.print(per_source)
