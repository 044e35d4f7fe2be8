"""`chancery search "QUERY"`: ranked hits with highlighted snippets, and facet counts."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pipeline.config import Settings

EXIT_OK = 0
EXIT_NO_INDEX = 1
EXIT_ENGINE_DOWN = 3


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "search",
        help="full-text search with filters and facets",
        description='Query syntax: words (all must match), "exact phrase", a OR b, -excluded, prefix*.',
    )
    parser.add_argument("query", nargs="?", default="", help='e.g. "Kuril Islands" talks -sanctions')
    parser.add_argument(
        "--from", dest="date_from", type=_date, metavar="DATE", help="published on or after (YYYY-MM-DD)"
    )
    parser.add_argument("--to", dest="date_to", type=_date, metavar="DATE", help="published on or before (YYYY-MM-DD)")
    parser.add_argument(
        "--country", action="append", default=[], help="ISO 3166-1 alpha-2 code, e.g. JP; repeat: all must appear"
    )
    parser.add_argument("--person", help="person name (canonical, or words of it)")
    parser.add_argument("--org", help="organisation name (canonical, or words of it)")
    parser.add_argument("--topic", help="topic id")
    parser.add_argument("--source", help="publisher domain or source id")
    parser.add_argument(
        "--brief", action=argparse.BooleanOptionalAction, default=None, help="briefs only (--brief), or none"
    )
    parser.add_argument("-n", "--size", type=int, default=10, help="number of hits (default 10)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def _date(text: str) -> Any:
    from pipeline.index.search import parse_date

    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from exc


def run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.index.client import EngineUnavailable, connect
    from pipeline.index.search import IndexMissing, SearchQuery, search

    query = SearchQuery(
        text=args.query,
        date_from=args.date_from,
        date_to=args.date_to,
        countries=tuple(args.country),
        person=args.person,
        org=args.org,
        topic=args.topic,
        source=args.source,
        brief=args.brief,
        size=args.size,
    )
    try:
        result = search(connect(settings), settings, query)
    except EngineUnavailable as exc:
        print(f"chancery search: {exc}", file=sys.stderr)
        return EXIT_ENGINE_DOWN
    except IndexMissing as exc:
        print(f"chancery search: {exc}", file=sys.stderr)
        return EXIT_NO_INDEX
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        print_result(result)
    return EXIT_OK


def print_result(result: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from pipeline.index.search import HIGHLIGHT_POST, HIGHLIGHT_PRE

    def marked(text: str) -> str:
        # Escape the article text for rich, then turn the highlight tags into rich styling.
        return escape(text).replace(HIGHLIGHT_PRE, "[bold yellow]").replace(HIGHLIGHT_POST, "[/bold yellow]")

    console = Console()
    console.print(f"[bold]{result.total}[/bold] articles ({result.took_ms} ms)")
    for rank, hit in enumerate(result.hits, start=1):
        date = (hit.published_at or "")[:10] or "undated"
        console.print(f"\n[bold]{rank}. {marked(hit.title_highlighted) or '(untitled)'}[/bold]")
        console.print(f"   [dim]{date} · {escape(hit.source)} · {escape(hit.url)}[/dim]")
        if hit.snippet:
            console.print(f"   {marked(hit.snippet)}")
    facets = Table(title="facets", show_lines=False)
    names = [name for name, buckets in result.facets.items() if buckets]
    for name in names:
        facets.add_column(name)
    depth = max((len(result.facets[name]) for name in names), default=0)
    for row in range(depth):
        cells = []
        for name in names:
            buckets = result.facets[name]
            cells.append(f"{escape(buckets[row].key)} ({buckets[row].count})" if row < len(buckets) else "")
        facets.add_row(*cells)
    if names:
        console.print()
        console.print(facets)
    if result.histogram:
        peak = max(b.count for b in result.histogram)
        console.print(f"\npublished per {result.histogram_interval}:")
        for bucket in result.histogram[-24:]:
            bar = "█" * max(1, round(30 * bucket.count / peak))
            console.print(f"  {bucket.key}  {bar} {bucket.count}")
