"""End-to-end runs: process inputs and index them; or fetch sources, then process and index.

The engine is checked before any work starts, so an unreachable engine fails the
run with a clear message and nothing is fetched or marked as done.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import Settings
from pipeline.logs import get_logger, log_event
from pipeline.models import Article
from pipeline.outcomes import Tally
from pipeline.process import Input, process, read_inputs

if TYPE_CHECKING:
    from pipeline.sources import Source

log = get_logger("ingest")


@dataclass
class IngestReport:
    run_id: str
    tally: Tally = field(default_factory=Tally)
    warc_paths: list[Path] = field(default_factory=list)
    fetch_report: dict[str, Any] | None = None
    indexed: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "outcomes": self.tally.as_dict(),
            "outcomes_by_source": self.tally.source_counts(),
            "reasons": dict(self.tally.reasons),
            "warc_paths": [str(p) for p in self.warc_paths],
            "indexed": self.indexed,
            "failed": self.failed,
            "fetch": self.fetch_report,
        }


def connect_ready(settings: Settings) -> Any:
    """A client to a live engine with the index set up; raises EngineUnavailable with how to start it."""
    from pipeline.index.client import check_available, connect
    from pipeline.index.setup import setup_index

    es = connect(settings)
    check_available(es)
    setup_index(es, settings)
    return es


def index_all(settings: Settings, articles: Iterable[Article], report: IngestReport, es: Any = None) -> None:
    from pipeline.index.bulk import index_articles

    es = es if es is not None else connect_ready(settings)
    result = index_articles(es, articles, settings, report.tally)
    report.indexed += result.indexed
    report.failed += result.failed


def ingest_inputs(settings: Settings, inputs: Iterable[Input], run_id: str, es: Any = None) -> IngestReport:
    report = IngestReport(run_id=run_id)
    es = es if es is not None else connect_ready(settings)
    index_all(settings, process(inputs, settings, report.tally), report, es)
    log_event(log, "ingested", run_id=run_id, indexed=report.indexed, failed=report.failed)
    return report


def ingest_paths(settings: Settings, paths: Sequence[Path], run_id: str, url: str | None = None) -> IngestReport:
    return ingest_inputs(settings, read_inputs(paths, url=url), run_id)


def index_warcs(settings: Settings, warc_paths: Sequence[Path], run_id: str = "process") -> IngestReport:
    report = ingest_inputs(settings, read_inputs(warc_paths), run_id)
    report.warc_paths = list(warc_paths)
    return report


def ingest_sources(
    settings: Settings,
    sources: Sequence[Source],
    window: tuple[datetime, datetime] | None,
    run_id: str,
    refetch: bool = False,
) -> IngestReport:
    """Fetch the sources into a run-scoped WARC, then process and index that capture."""
    from pipeline.fetch import run_fetch

    es = connect_ready(settings)  # before fetching: a down engine must not leave captures marked seen
    out_dir = settings.captures_dir / run_id
    fetched = run_fetch(settings, list(sources), window, run_id, out_dir, refetch=refetch)
    report = ingest_inputs(settings, read_inputs(fetched.warc_paths), run_id, es)
    report.warc_paths = list(fetched.warc_paths)
    report.fetch_report = fetched.report.to_dict()
    return report
