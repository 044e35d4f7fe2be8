"""`chancery demo`: serve the demo newsroom, ingest it end to end, and show example searches.

Steps: start the local engine unless ELASTICSEARCH_URL names a cluster; serve the
newsroom on loopback; write its sources file; fetch → process → index through the
same ``ingest_sources`` as ``chancery ingest``; then run a few searches with facets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from pipeline.config import Settings

if TYPE_CHECKING:
    from pipeline.demo.newsroom import Newsroom
    from pipeline.index.search import SearchQuery
    from pipeline.ingest import IngestReport

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ENGINE_DOWN = 3

# A fixed port keeps the article URLs, and so their index ids, the same from one demo run
# to the next: a second `chancery demo` updates the same documents instead of adding copies.
DEMO_PORT = 8765
LOOPBACK = "127.0.0.0/8"
# The newsroom is our own server on this machine; a short delay keeps politeness on
# without making the demo wait a second between each of its ~45 pages.
DEMO_PER_HOST_DELAY = 0.05


@dataclass(frozen=True)
class ExampleSearch:
    title: str
    command: str  # the same search from the command line
    query: SearchQuery


def example_searches() -> list[ExampleSearch]:
    from pipeline.index.search import SearchQuery

    year = (date(2015, 1, 1), date(2015, 12, 31))
    return [
        ExampleSearch(
            'The phrase "Northern Territories", where Japan and Russia meet, in 2015',
            "chancery search '\"Northern Territories\"' --country JP --country RU --from 2015-01-01 --to 2015-12-31",
            SearchQuery(
                text='"Northern Territories"', countries=("JP", "RU"), date_from=year[0], date_to=year[1], size=5
            ),
        ),
        ExampleSearch(
            "Sanctions, with Russia among the countries (see the country facet)",
            "chancery search sanctions --country RU",
            SearchQuery(text="sanctions", countries=("RU",), size=5),
        ),
        ExampleSearch(
            "Everything tagged with the topic territorial-dispute",
            "chancery search --topic territorial-dispute",
            SearchQuery(topic="territorial-dispute", size=5),
        ),
        ExampleSearch(
            "Refugees, leaving out the stories about EU quotas",
            "chancery search 'refugees -quotas'",
            SearchQuery(text="refugees -quotas", size=5),
        ),
    ]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="serve the demo newsroom on loopback, ingest it and show example searches",
        description="Start the engine if needed, serve a small newsroom written for this project, "
        "ingest it end to end (fetch, extract, enrich, index) and run example searches.",
    )
    parser.add_argument("--port", type=int, default=DEMO_PORT, help=f"newsroom port (default {DEMO_PORT})")
    parser.add_argument(
        "--serve-only",
        action="store_true",
        help="only serve the newsroom (no engine, no ingest) until Ctrl-C",
    )
    parser.add_argument("--keep-serving", action="store_true", help="keep the newsroom up after the demo, until Ctrl-C")
    parser.set_defaults(run=run)


def demo_settings(settings: Settings) -> Settings:
    """The user's settings, with loopback opened past the SSRF guard and a short per-host delay."""
    fetch = settings.fetch
    networks = fetch.allow_networks if LOOPBACK in fetch.allow_networks else (*fetch.allow_networks, LOOPBACK)
    delay = min(fetch.per_host_delay, DEMO_PER_HOST_DELAY)
    return dataclasses.replace(
        settings, fetch=dataclasses.replace(fetch, allow_networks=networks, per_host_delay=delay)
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.demo.newsroom import open_newsroom, write_sources_file

    console = Console()
    settings = demo_settings(settings)
    if not args.serve_only and not settings.elasticsearch.url and not _start_engine(console, settings):
        return EXIT_ENGINE_DOWN
    try:
        newsroom = open_newsroom(port=args.port)
    except OSError as exc:
        console.print(
            f"[red]Cannot serve the newsroom on port {args.port}:[/red] {exc.strerror or exc}. "
            "Pass --port N; another port gives the articles other URLs, and so other index ids."
        )
        return EXIT_FAILED
    with newsroom.start():
        write_sources_file(newsroom.base_url, demo_sources_path(settings))  # for `chancery ingest`, too
        _print_newsroom(console, newsroom, settings)
        code = EXIT_OK if args.serve_only else _ingest_and_search(console, newsroom, settings)
        if code == EXIT_OK and (args.serve_only or args.keep_serving):
            return _serve_until_interrupted(console)
        return code


def _start_engine(console: Console, settings: Settings) -> bool:
    from pipeline.engine import local
    from pipeline.engine.prereqs import PrerequisiteMissing

    try:
        with console.status("Starting the local Elasticsearch engine (the first run downloads it)…") as status:
            state = local.start(settings, progress=lambda line: status.update(f"Engine: {line}"))
    except PrerequisiteMissing as exc:
        console.print(f"[red]Cannot start the engine, a prerequisite is missing:[/red] {exc}")
        return False
    except local.EngineStartFailed as exc:
        console.print(f"[red]The engine did not start:[/red] {exc}")
        return False
    console.print(f"[green]✓[/green] Elasticsearch {state.version or ''} at {state.url} ({state.health})")
    return True


def _print_newsroom(console: Console, newsroom: Newsroom, settings: Settings) -> None:
    sources = demo_sources_path(settings)
    first, last = newsroom.articles[0].day, newsroom.articles[-1].day
    console.print(
        f"[green]✓[/green] Demo newsroom: {len(newsroom.articles)} articles ({first} to {last}) "
        f"at [link={newsroom.base_url}/world/]{newsroom.base_url}/world/[/link]"
    )
    console.print(f"  feed {newsroom.feed_url}\n  news sitemap {newsroom.news_sitemap_url}\n  sources file {sources}")


def demo_sources_path(settings: Settings) -> Path:
    return settings.home / "demo" / "sources.yaml"


def ingest_newsroom(console: Console, newsroom: Newsroom, settings: Settings) -> IngestReport:
    """Fetch, process and index the newsroom's feed and news sitemap, as `chancery ingest` would."""
    from pipeline.demo.newsroom import write_sources_file
    from pipeline.ingest import ingest_sources
    from pipeline.sources import load_sources

    run_id = f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    sources = load_sources(write_sources_file(newsroom.base_url, demo_sources_path(settings)))
    console.rule("Ingest: fetch → extract → enrich → index")
    started = time.monotonic()
    # refetch: the demo shows the whole path every time; ids from the URL keep reruns idempotent.
    report = ingest_sources(settings, sources, window=None, run_id=run_id, refetch=True)
    _make_searchable(settings)
    _print_report(console, report, time.monotonic() - started)
    return report


def fetch_changes(report: IngestReport) -> dict[str, int]:
    """How the fetched articles compare with earlier captures: new, changed, unchanged."""
    fetch = report.fetch_report
    if isinstance(fetch, str):  # the fetch report's JSON text
        fetch = json.loads(fetch)
    return {str(kind): int(count) for kind, count in ((fetch or {}).get("changes") or {}).items()}


def unchanged_count(report: IngestReport) -> int:
    """Articles the fetcher found identical to an earlier capture: not captured again, still indexed."""
    return fetch_changes(report).get("unchanged", 0)


def _make_searchable(settings: Settings) -> None:
    """Refresh now, so the example searches see this run's documents at once."""
    from pipeline.index.client import connect
    from pipeline.index.setup import make_searchable

    make_searchable(connect(settings), settings)


def _ingest_and_search(console: Console, newsroom: Newsroom, settings: Settings) -> int:
    from pipeline.index.client import EngineUnavailable, connect

    try:
        report = ingest_newsroom(console, newsroom, settings)
        unchanged = unchanged_count(report)
        if report.indexed == 0 and unchanged == 0:
            console.print("[red]Nothing was indexed; the outcomes above say why.[/red]")
            return EXIT_FAILED
        if unchanged:
            console.print(f"{unchanged} articles are unchanged since an earlier run, so already indexed.")
        es = connect(settings)
        for example in example_searches():
            _print_search(console, es, settings, example)
    except EngineUnavailable as exc:
        console.print(f"[red]Elasticsearch is not reachable:[/red] {exc}")
        return EXIT_ENGINE_DOWN
    _print_next_steps(console, settings, newsroom, report.run_id)
    return EXIT_OK


def _print_report(console: Console, report: IngestReport, seconds: float) -> None:
    from rich.table import Table

    console.print(
        f"[bold]Run {report.run_id}[/bold]: {report.indexed} indexed, {report.failed} dead-lettered, in {seconds:.1f} s"
    )
    changes = fetch_changes(report)
    if changes:
        console.print("Fetched articles: " + ", ".join(f"{count} {kind}" for kind, count in changes.items()))
    table = Table()
    table.add_column("outcome")
    table.add_column("count", justify="right")
    table.add_column("example reason")
    for outcome, count in report.tally.as_dict().items():
        table.add_row(outcome, str(count), report.tally.reasons.get(outcome, ""))
    if table.row_count:
        console.print(table)
    for path in report.warc_paths:
        console.print(f"Raw capture (WARC): {path}")


def _print_search(console: Console, es: Any, settings: Settings, example: ExampleSearch) -> None:
    from pipeline.cli.search_cmd import print_result
    from pipeline.index.search import search

    console.rule(example.title)
    console.print(f"[dim]$ {example.command}[/dim]", highlight=False)
    print_result(search(es, settings, example.query))


def _print_next_steps(console: Console, settings: Settings, newsroom: Newsroom, run_id: str) -> None:
    from pipeline.kibana.links import dashboard_url, kibana_discover_url

    console.rule("Where to look next")
    kibana = settings.kibana
    if kibana.url:
        console.print("Kibana (after `chancery kibana setup`):", highlight=False)
        console.print(f"  this run's articles in Discover: {kibana_discover_url(kibana.url, run_id, kibana.space)}",
                      highlight=False, soft_wrap=True)
        console.print(f"  the Diplomacy coverage dashboard: {dashboard_url(kibana)}", highlight=False, soft_wrap=True)
    else:
        console.print("Kibana: set KIBANA_URL and run `chancery kibana setup` for the data view, saved searches, "
                      "dashboards and a link to this run's articles.")
    console.print("Search from the command line, for example:")
    for command in (
        "chancery search '\"Kuril Islands\"' --from 2015-09-01 --to 2015-10-31",
        "chancery search Syria --person 'Sergey Lavrov' -n 5",
        "chancery search --topic sanctions --country JP",
        "chancery search 'peace treaty' --json",
    ):
        console.print(f"  [cyan]{command}[/cyan]", highlight=False)
    console.print(
        f"The newsroom's sources file stays at {demo_sources_path(settings)} "
        f"(it names {newsroom.base_url}, served only while the demo runs)."
    )


def _serve_until_interrupted(console: Console) -> int:
    console.print("Serving; press Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("Stopped.")
    return EXIT_OK
