"""End-to-end runs: process inputs and index them; or fetch sources, then process and index.

``ingest_sources`` goes through the capture ledger like the DAGs do: it first finishes
what earlier runs left (pending captures, and captures abandoned by a dead process,
including a WARC whose writer died mid-file), then fetches into a capture recorded in the
ledger before its WARC is opened, processes and indexes it, and marks it done only when
every article in it ended indexed, dead-lettered or in a named non-article outcome. A run
that is killed, or whose engine goes away, leaves its capture pending for the next one.

The engine is checked before any work starts, so an unreachable engine fails the run
with a clear message and nothing is fetched.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import Settings
from pipeline.gate import Scopes, source_scopes
from pipeline.logs import get_logger, log_event
from pipeline.models import Article, format_datetime
from pipeline.outcomes import Outcome, Tally
from pipeline.process import Input, process, read_inputs
from pipeline.sources import Scope

if TYPE_CHECKING:
    from pipeline.orchestrate.steps import CaptureResult
    from pipeline.sources import Source

log = get_logger("ingest")


class RunStatus(str, Enum):
    """How a run ended; the CLI's exit code follows it (README, "Commands")."""

    OK = "ok"  # everything ended indexed or in a named non-article outcome
    DEAD_LETTERED = "dead_lettered"  # some articles were dead-lettered, or a capture was set aside as failed
    PENDING = "pending"  # work was left for a later run: the engine went away or refused, or the run was stopped
    FAILED = "failed"  # stopped by an unexpected error (see ``error``); what it held is pending again


@dataclass
class IngestReport:
    """What a run did so far; filled as it goes, so a run that stops still reports its outcomes."""

    run_id: str
    kind: str = "ingest"  # or "drain" (`chancery captures drain`)
    tally: Tally = field(default_factory=Tally)
    warc_paths: list[str] = field(default_factory=list)  # the URIs of the captures this run fetched
    fetch_report: dict[str, Any] | None = None
    indexed: int = 0
    failed: int = 0  # dead-lettered, with their reasons in the dead-letter index (or file)
    pending: int = 0  # documents neither indexed nor dead-lettered: the engine refused them or went away
    captures: list[dict[str, Any]] = field(default_factory=list)  # every capture this run processed
    pending_captures: list[str] = field(default_factory=list)  # left pending by this run, for the next one
    failed_captures: dict[str, str] = field(default_factory=dict)  # path → why it could not be processed
    ledger: dict[str, int] = field(default_factory=dict)  # capture counts by status when the run ended
    error: str = ""
    halted: RunStatus | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def halt(self, status: RunStatus, error: str) -> None:
        """The run stopped before its end: PENDING (engine away, interrupted) or FAILED (a bug, a setup error)."""
        self.halted = status
        self.error = error

    @property
    def status(self) -> RunStatus:
        if self.halted is not None:
            return self.halted
        if self.pending or self.pending_captures:
            return RunStatus.PENDING
        if self.failed or self.failed_captures:
            return RunStatus.DEAD_LETTERED
        return RunStatus.OK

    def add_capture(self, result: CaptureResult) -> None:
        from pipeline.orchestrate.steps import CaptureVerdict

        self.captures.append(result.to_dict())
        self.tally.merge(result.tally)
        self.indexed += result.indexed
        self.failed += result.dead_lettered
        self.pending += result.pending
        if result.verdict is CaptureVerdict.LEFT_PENDING:
            self.pending_captures.append(result.path)
            self.error = self.error or result.error
        elif result.verdict is CaptureVerdict.FAILED:
            self.failed_captures[result.path] = result.error

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "status": self.status.value,
            "error": self.error,
            "started_at": format_datetime(self.started_at),
            "outcomes": self.tally.as_dict(),
            "outcomes_by_source": self.tally.source_counts(),
            "reasons": dict(self.tally.reasons),
            "warc_paths": [str(p) for p in self.warc_paths],
            "indexed": self.indexed,
            "failed": self.failed,
            "pending": self.pending,
            "captures": self.captures,
            "pending_captures": self.pending_captures,
            "failed_captures": self.failed_captures,
            "ledger": self.ledger,
            "fetch": self.fetch_report,
        }

    def run_record(self) -> dict[str, Any]:
        """The report for the run-report index: the same, without the fetch's per-URL list."""
        record = self.to_dict()
        record["id"] = f"{self.kind}:{self.run_id}"
        record["finished_at"] = format_datetime(datetime.now(UTC))
        if self.fetch_report is not None:
            record["fetch"] = {k: v for k, v in self.fetch_report.items() if k != "urls"}
        return record


def connect_ready(settings: Settings) -> Any:
    """A client to a live engine with the write alias in place; raises EngineUnavailable with how to start it.

    The index is set up only when its write alias is missing: a run as the least-privilege indexing user
    (which may not probe analysis or create templates) then works once `chancery index setup` has run.
    """
    from pipeline.index.bulk import ensure_write_alias
    from pipeline.index.client import check_available, connect

    es = connect(settings)
    check_available(es)
    ensure_write_alias(es, settings)
    return es


def index_all(settings: Settings, articles: Iterable[Article], report: IngestReport, es: Any = None) -> None:
    from pipeline.index.bulk import index_articles

    es = es if es is not None else connect_ready(settings)
    result = index_articles(es, articles, settings, report.tally)
    report.indexed += result.indexed
    report.failed += result.failed
    report.pending += getattr(result, "pending", 0)


def ingest_inputs(
    settings: Settings, inputs: Iterable[Input], run_id: str, es: Any = None, report: IngestReport | None = None,
    workers: int | None = None, scopes: Scopes | None = None,
) -> IngestReport:
    """Process and index files (no ledger: rerunning the same command is how to finish an interrupted one).

    ``report`` (made here when not given) is filled as the run goes. ``workers`` and ``scopes`` as in
    ``pipeline.process.process``; a page that killed two workers counts as dead-lettered. Raises
    EngineUnavailable only when the engine is unreachable at the start.
    """
    from pipeline.index.client import EngineUnavailable

    report = report if report is not None else IngestReport(run_id=run_id)
    es = es if es is not None else connect_ready(settings)
    try:
        index_all(settings, process(inputs, settings, report.tally, workers=workers, scopes=scopes), report, es)
    except EngineUnavailable as exc:  # mid-run: what was indexed stays, the rest waits for a rerun
        report.indexed = report.tally.counts.get("indexed", 0)
        report.halt(RunStatus.PENDING, str(exc))
    report.failed += report.tally.counts.get(Outcome.WORKER_DIED.value, 0)
    log_event(log, "ingested", run_id=run_id, indexed=report.indexed, failed=report.failed, pending=report.pending,
              status=report.status.value)
    return report


def ingest_paths(
    settings: Settings, paths: Sequence[Path], run_id: str, url: str | None = None, report: IngestReport | None = None,
    workers: int | None = None, scope: Scope = Scope.ALL,
) -> IngestReport:
    """``scope`` is for pages of no source in the sources file (plain files); the others keep their source's."""
    inputs = read_inputs(paths, url=url, max_payload=settings.fetch.max_bytes)
    return ingest_inputs(settings, inputs, run_id, report=report, workers=workers,
                         scopes=source_scopes(settings, scope))


def ingest_sources(
    settings: Settings,
    sources: Sequence[Source],
    window: tuple[datetime, datetime] | None,
    run_id: str,
    refetch: bool = False,
    report: IngestReport | None = None,
    workers: int | None = None,
) -> IngestReport:
    """Finish what earlier runs left in the ledger, then fetch the sources into a new capture and index it.

    ``workers``: worker processes that extract and enrich (``pipeline.process.process``).

    ``report`` (made here when not given) is filled as the run goes, so a caller still holds
    the outcomes so far, the captures left pending and the ledger's counts when this raises.
    Raises EngineUnavailable only when the engine is unreachable at the start.
    """
    from pipeline.captures import CaptureUploadFailed
    from pipeline.orchestrate.steps import drain_captures, fetch_capture, process_capture
    from pipeline.state import open_state

    report = report if report is not None else IngestReport(run_id=run_id)
    es = connect_ready(settings)  # before anything: a down engine fetches nothing
    ledger = open_state(settings).ledger()
    worker = f"ingest:{run_id}"
    try:
        drained = drain_captures(settings, worker, budget_seconds=math.inf, ledger=ledger, es=es,
                                 on_result=report.add_capture, workers=workers)
        if drained.left_pending:
            report.halt(RunStatus.PENDING, f"{report.error}; nothing fetched until the pending captures are indexed")
            return report
        try:
            fetched = fetch_capture(settings, ledger, list(sources), window, run_id, settings.captures_dir / run_id,
                                    worker, refetch=refetch)
        except CaptureUploadFailed as exc:  # kept on this host and in the ledger: the next run uploads it
            report.warc_paths = [exc.uri]
            report.fetch_report = exc.fetch_report
            report.pending_captures.append(exc.uri)
            report.halt(RunStatus.PENDING, f"{exc}; the next run on this host uploads and indexes it")
            return report
        report.warc_paths = [fetched.capture.uri]
        report.fetch_report = fetched.report.to_dict()
        capture = ledger.claim_written(fetched.capture.uri, worker)
        report.add_capture(process_capture(settings, ledger, capture, worker, es, workers=workers))
    finally:
        report.ledger = ledger.counts()
    log_event(log, "ingested", run_id=run_id, indexed=report.indexed, failed=report.failed, pending=report.pending,
              status=report.status.value, captures=len(report.captures))
    return report
