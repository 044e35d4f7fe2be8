"""`chancery backfill`: a past window, from the kinds that reach it per source (feeds, archives).

Kinds: the live feed or sitemap, archive sitemaps, the Wayback Machine, GDELT and CC-NEWS.

The same ledger, report and exit codes as `chancery ingest --sources` (pipeline/cli/process_cmd.py):
0 done, 2 usage, 3 the engine was unreachable at the start, 4 dead-lettered, 5 left pending
(run the same command again), 1 an unexpected error, 130 interrupted. A rerun over the same
window indexes nothing twice and fetches nothing from an archive that is indexed already,
unless `--refetch`. See docs/backfill.md.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.cli.process_cmd import EXIT_USAGE, _date, run_reported
from pipeline.config import Settings


def register(sub: Any) -> None:
    backfill = sub.add_parser(
        "backfill",
        help="fetch and index a past window from each source's feed and archives (Wayback, GDELT, CC-NEWS)",
    )
    backfill.add_argument("--since", type=_date, required=True, help="window start (inclusive), YYYY-MM-DD")
    backfill.add_argument("--until", type=_date, required=True, help="window end (exclusive), YYYY-MM-DD")
    backfill.add_argument("--sources", type=Path, help="sources file (default: CHANCERY_SOURCES)")
    backfill.add_argument("--source", action="append", default=[], help="only this source id (repeatable)")
    backfill.add_argument("--refetch", action="store_true",
                          help="fetch again what is indexed already (from the archives too)")
    backfill.add_argument("--report", type=Path, help="write the run report as JSON here (also when the run fails)")
    backfill.set_defaults(run=run_backfill)


def run_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline import ingest
    from pipeline.orchestrate.steps import backfill_sources
    from pipeline.sources import SourcesError, load_sources, select_sources

    if args.since >= args.until:
        print("chancery backfill: --since must be before --until", file=sys.stderr)
        return EXIT_USAGE
    try:
        sources = select_sources(load_sources(args.sources or settings.sources), args.source or None)
    except SourcesError as exc:
        print(f"chancery backfill: {exc}", file=sys.stderr)
        return EXIT_USAGE
    run_id = f"backfill-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    report = ingest.IngestReport(run_id=run_id, kind="backfill")
    window = (args.since, args.until)
    return run_reported(
        "backfill", settings, report, args.report,
        lambda: backfill_sources(settings, sources, window, run_id, report, refetch=args.refetch,
                                 on_kind=_print_kind),
    )


def _print_kind(kind: str, counts: list[Any]) -> None:
    """One table per kind as soon as it is done: found, fetched, indexed and the other outcomes, per source."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"backfill: {kind}")
    for column, justify in (("source", "left"), ("found", "right"), ("fetched", "right"), ("indexed", "right"),
                            ("other outcomes", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for count in counts:
        others = ", ".join(f"{k} {v}" for k, v in count.outcomes.items() if k != "ok")
        table.add_row(count.source, str(count.found), str(count.fetched), str(count.indexed), others)
    Console(stderr=True).print(table)
