"""`chancery process` (offline batch to JSON lines) and `chancery ingest` (the same, plus indexing).

Exit codes of the indexing commands (`ingest`, `captures drain`), from the run's status:
0 everything ended indexed or in a named non-article outcome; 1 stopped by an unexpected
error; 2 usage; 3 the engine was unreachable at the start (nothing done); 4 some articles
were dead-lettered, or a capture was set aside as failed; 5 work was left pending (the
engine went away or refused mid-run): run the same command again; 130 interrupted
(Ctrl-C, SIGTERM), what it held is pending again. Every run that started writes its report.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import Settings
from pipeline.outcomes import Tally
from pipeline.sources import Scope
from pipeline.statefiles import write_private

if TYPE_CHECKING:
    from pipeline.ingest import IngestReport, RunStatus

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ENGINE_DOWN = 3
EXIT_DEAD_LETTERED = 4
EXIT_PENDING = 5


def register(sub: Any) -> None:
    process = sub.add_parser("process", help="HTML files, directories or WARC captures → Article JSON lines")
    process.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    process.add_argument("-o", "--output", type=Path, required=True, help="JSON lines file to write")
    process.add_argument("--url", help="the article URL, for a single HTML file without a sidecar")
    add_processing_arguments(process)
    process.set_defaults(run=run_process)

    ingest = sub.add_parser("ingest", help="process inputs or fetch sources, then index into Elasticsearch")
    ingest.add_argument("inputs", nargs="*", type=Path, metavar="INPUT")
    ingest.add_argument("--url", help="the article URL, for a single HTML file without a sidecar")
    ingest.add_argument("--sources", type=Path, help="sources file (default: CHANCERY_SOURCES)")
    ingest.add_argument("--source", action="append", default=[], help="only this source id (repeatable)")
    ingest.add_argument("--since", type=_date, help="window start (inclusive), YYYY-MM-DD")
    ingest.add_argument("--until", type=_date, help="window end (exclusive), YYYY-MM-DD")
    ingest.add_argument("--refetch", action="store_true", help="refetch articles seen before")
    ingest.add_argument("--report", type=Path, help="write the run report as JSON here (also when the run fails)")
    add_processing_arguments(ingest)
    ingest.set_defaults(run=run_ingest)


def add_processing_arguments(parser: argparse.ArgumentParser, scope: bool = True) -> None:
    parser.add_argument("--workers", type=_workers, metavar="N",
                        help="worker processes that extract and enrich (default: process.workers, one per core)")
    if scope:
        parser.add_argument("--scope", type=Scope, choices=list(Scope), default=Scope.ALL, metavar="{all,diplomacy}",
                            help="for pages of no source in the sources file (plain files): 'diplomacy' runs the "
                                 "relevance gate, 'all' keeps every article (default); pages of a known source "
                                 "keep its scope")


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes >= 1, got {text!r}")
    return value


def workers_of(args: argparse.Namespace, settings: Settings) -> int:
    """--workers, else the setting: how many worker processes (0 in the setting: one per core)."""
    from pipeline.workers import worker_count

    return worker_count(args.workers if args.workers is not None else settings.process.workers)


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from exc


def run_process(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.gate import source_scopes
    from pipeline.process import process, read_inputs, write_jsonl

    tally = Tally()
    inputs = read_inputs(args.inputs, url=args.url, max_payload=settings.fetch.max_bytes)
    articles = process(inputs, settings, tally, workers=workers_of(args, settings),
                       scopes=source_scopes(settings, args.scope))
    count = write_jsonl(articles, args.output)
    print_summary(tally, f"wrote {count} articles to {args.output}")
    return EXIT_OK


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline import ingest
    from pipeline.sources import SourcesError, load_sources, select_sources

    run_id = f"ingest-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    report = ingest.IngestReport(run_id=run_id)
    if args.inputs:
        return run_reported("ingest", settings, report, args.report,
                            lambda: ingest.ingest_paths(settings, args.inputs, run_id, url=args.url, report=report,
                                                        workers=workers_of(args, settings), scope=args.scope))
    if not (args.sources or args.source or args.since or args.until):
        print("chancery ingest: give INPUT files or --sources", file=sys.stderr)
        return EXIT_USAGE
    try:
        sources = select_sources(load_sources(args.sources or settings.sources), args.source or None)
    except SourcesError as exc:
        print(f"chancery ingest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    window = None
    if args.since or args.until:
        window = (args.since or datetime(1970, 1, 1, tzinfo=UTC), args.until or datetime.now(UTC))
        if window[0] >= window[1]:
            print("chancery ingest: --since must be before --until", file=sys.stderr)
            return EXIT_USAGE
    return run_reported(
        "ingest", settings, report, args.report,
        lambda: ingest.ingest_sources(settings, sources, window, run_id, refetch=args.refetch, report=report,
                                      workers=workers_of(args, settings)),
    )


def run_reported(
    command: str, settings: Settings, report: IngestReport, path: Path | None, work: Callable[[], object]
) -> int:
    """Run ``work``, which fills ``report``; however it ends, write and print the report; the exit code.

    The report goes to ``path`` (when given) and to the run-report index (to its fallback file
    when the engine is unreachable). An unexpected error or an interruption is recorded in the
    report and then goes on to `chancery`'s own handler (exit 1, or 130).
    """
    from pipeline.index.client import EngineUnavailable
    from pipeline.ingest import RunStatus

    try:
        with _sigterm_as_interrupt():
            work()
    except EngineUnavailable as exc:  # at the start: nothing was done
        report.halt(RunStatus.FAILED, str(exc))
        print(f"chancery {command}: {exc}", file=sys.stderr)
        _write(settings, report, path)
        return EXIT_ENGINE_DOWN
    except KeyboardInterrupt:
        report.halt(RunStatus.PENDING, "interrupted: what the run held is pending again for the next run")
        _write(settings, report, path)
        raise
    except BaseException as exc:
        report.halt(RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
        _write(settings, report, path)
        raise
    _write(settings, report, path)
    print_report(report)
    return exit_code(report.status)


def exit_code(status: RunStatus) -> int:
    from pipeline.ingest import RunStatus

    return {
        RunStatus.OK: EXIT_OK,
        RunStatus.DEAD_LETTERED: EXIT_DEAD_LETTERED,
        RunStatus.PENDING: EXIT_PENDING,
        RunStatus.FAILED: EXIT_FAILED,
    }[status]


def _write(settings: Settings, report: IngestReport, path: Path | None) -> None:
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    from pipeline.index.client import EngineUnavailable, connect
    from pipeline.index.runs import store_run_report
    from pipeline.logs import get_logger, log_event

    if path is not None:
        write_private(path, json.dumps(report.to_dict(), indent=2, default=str))
    try:
        store_run_report(connect(settings, check=False), settings, report.run_record())
    except (EngineUnavailable, ApiError, TransportError) as exc:  # the report file above still has it
        log_event(get_logger("ingest"), "run_report_not_stored", run_id=report.run_id,
                  reason=f"{type(exc).__name__}: {exc}"[:300])


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a service manager, `kill`) stops the run like Ctrl-C: claims released, report written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_report(report: IngestReport) -> None:
    from rich.console import Console

    headline = (f"{report.status.value}: indexed {report.indexed} articles, {report.failed} dead-lettered, "
                f"{report.pending} pending (run {report.run_id})")
    print_summary(report.tally, headline)
    console = Console(stderr=True)
    for capture in report.captures:
        console.print(f"capture {capture['verdict']}: {capture['path']} (indexed {capture['indexed']}, "
                      f"dead-lettered {capture['dead_lettered']}, pending {capture['pending']})"
                      + (f": {capture['error']}" if capture["error"] else ""), highlight=False)
    if report.pending_captures:
        console.print(f"left pending for the next run: {', '.join(report.pending_captures)}", highlight=False)
    if report.error:
        console.print(f"error: {report.error}", highlight=False)


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
