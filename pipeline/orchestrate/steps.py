"""The steps the DAGs run, as plain functions: plan, fetch a batch, drain the ledger, ingest an event.

No Airflow here: a task body is one call to one of these with the run's ids and
interval, and everything returned is small and JSON-able (paths, ids, counts),
so XCom carries references, never payloads. Each step is keyed by the run and its
data interval, never by the clock, so a retried task rewrites the same batch.
"""

from __future__ import annotations

import glob
import json
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipeline.config import Settings
from pipeline.gate import HeldPage, Scopes, source_scopes
from pipeline.logs import get_logger, log_event
from pipeline.orchestrate.errors import EngineDown, FetchBatchError, RateLimited, SourceGone
from pipeline.orchestrate.ledger import Capture, CaptureLedger, CaptureStatus
from pipeline.orchestrate.messages import EventRequest
from pipeline.outcomes import Outcome, Tally
from pipeline.sources import Scope
from pipeline.state import open_state
from pipeline.statefiles import private_dir, write_private

if TYPE_CHECKING:
    from pipeline.fetch import FetchRun
    from pipeline.fetch.seen import Confirmation

log = get_logger("orchestrate.steps")

SOURCE_ERROR = "source_error"  # the outcome of a source whose fetch raised; its reason is kept in the report


# -- windows and plans -------------------------------------------------------------------------


def day_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The calendar days (UTC) a data interval covers: [02:00 D-1, 02:00 D) → [D-1, D).

    The nightly timetable fires at a configurable hour, so its interval runs from
    that hour to the same hour; discovery works on publication days, so both ends are
    truncated to midnight. Consecutive runs still tile the days with no gap or overlap.
    """
    def floor(value: datetime) -> datetime:
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(hour=0, minute=0, second=0, microsecond=0)

    lo, hi = floor(start), floor(end)
    return lo, (hi if hi > lo else lo + timedelta(days=1))


def window_label(window: tuple[datetime, datetime]) -> str:
    lo, hi = window
    if hi - lo == timedelta(days=1):
        return lo.strftime("%Y-%m-%d")
    return f"{lo:%Y-%m-%d}_{hi:%Y-%m-%d}"


def safe_name(text: str) -> str:
    """A run id or label as one path component."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "run"


def plan_batches(settings: Settings, only: Sequence[str] = (), max_batches: int | None = None) -> list[list[str]]:
    """Source ids in at most ``max_batches`` batches; all sources of one host share a batch.

    Keeping a host in one batch means one task at a time talks to it within a run
    (the fetcher's per-host delay does the rest), and the ``chancery_fetch`` pool caps
    fetch tasks over all DAGs at once.
    """
    from pipeline.sources import load_sources, select_sources

    sources = select_sources(load_sources(settings.sources), list(only) or None)
    limit = max(1, max_batches or settings.airflow.max_mapped_batches)
    by_host: dict[str, list[str]] = {}
    for source in sources:
        by_host.setdefault(_host_of(source), []).append(source.id)
    hosts = sorted(by_host)
    per_batch = max(1, -(-len(hosts) // limit))  # ceiling: never more than `limit` batches
    batches = [
        [sid for host in hosts[i : i + per_batch] for sid in by_host[host]] for i in range(0, len(hosts), per_batch)
    ]
    log_event(log, "planned", sources=len(sources), hosts=len(hosts), batches=len(batches))
    return batches


def _host_of(source: Any) -> str:
    if source.urls:
        return (urlsplit(source.urls[0]).hostname or "").lower() or source.id
    return f"archive:{source.path or source.id}"


# -- fetching ----------------------------------------------------------------------------------


def capture_dir(settings: Settings, dag_id: str, label: str, run_id: str, batch: int) -> Path:
    """Run-scoped: <captures>/<dag>/<window or label>/<run>/batch-NNN; a retry rewrites the same place."""
    return settings.captures_dir / dag_id / safe_name(label) / safe_name(run_id) / f"batch-{batch:03d}"


def fetch_capture(
    settings: Settings,
    ledger: CaptureLedger,
    sources: Sequence[Any],
    window: tuple[datetime, datetime] | None,
    run_id: str,
    out_dir: Path,
    worker: str,
    dag_id: str = "",
    refetch: bool = False,
    show_progress: bool | None = None,  # None: bars only on a terminal
) -> FetchRun:
    """``run_fetch`` with its capture in the ledger from before the WARC is opened, held by ``worker``; then published.

    The capture is named by its URI (pipeline/captures.py). Once the WARC is closed it is published
    to ``CHANCERY_CAPTURES_URL`` (nothing to do without one). On success the capture is still
    ``writing``, held by this process: the caller records it pending (a DAG's fetch task) or claims
    it to process it itself (``chancery ingest``). If this process dies meanwhile, the capture is
    abandoned and the next drain processes what the WARC holds. If the fetch raises (or is
    interrupted), what was written is recorded pending before the error goes on, so nothing fetched
    waits for a process that is gone.

    A capture that is not in the captures store (its upload failed: ``CaptureUploadFailed``, or the
    fetch stopped before it) stays ``writing``, held by this process: its WARC is on this host
    only, so no other host may claim it before the lease runs out. Once this process is gone, a
    drain on this host claims it and uploads it before processing it (``CaptureStore.readable``).
    """
    from pipeline.captures import CaptureStore, CaptureUploadFailed
    from pipeline.fetch import run_fetch
    from pipeline.fetch.run import capture_path

    store = CaptureStore.of(settings)
    path = capture_path(out_dir, run_id)
    uri = store.uri(path)
    ledger.record_writing(uri, run_id, worker, dag_id=dag_id, sources=[s.id for s in sources])
    try:
        fetched = run_fetch(settings, list(sources), window, run_id, out_dir, refetch=refetch,
                            show_progress=show_progress)
        try:
            store.publish(path, uri)
        except CaptureUploadFailed as exc:
            exc.fetch_report = fetched.report.to_dict()
            raise
    except BaseException:
        if not path.is_file():  # nothing was written (publishing removes the file only once it succeeded)
            ledger.discard(uri, worker)
        elif not store.remote:
            ledger.record([uri], run_id=run_id, dag_id=dag_id, sources=[s.id for s in sources])
        raise
    return fetched


def fetch_batch(
    settings: Settings,
    source_ids: Sequence[str],
    window: tuple[datetime, datetime] | None,
    run_id: str,
    dag_id: str,
    batch: int,
    label: str,
    raise_on_error: bool = True,
    sources: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Fetch each source of the batch into WARCs under a run-scoped directory; record them pending.

    One source that fails does not stop the others: each is fetched on its own, its
    failure becomes the ``source_error`` outcome with its reason. After all sources ran
    (their WARCs are kept and recorded), a batch with failures raises a typed error
    when ``raise_on_error`` (the task still has tries left), so the RetryPolicy decides;
    on the last try the partial result is returned and the failures are reported.

    A window older than a source's live reach (an Airflow backfill of past days) also
    fetches the source's archive entries that cover it, each into a capture of its own
    (pipeline/discover/reach.py). Those never refetch what the seen-store has confirmed:
    a rerun re-processes the live kind's window, not the archives' pages.
    """
    from pipeline.sources import load_sources, select_sources

    chosen = list(sources) if sources is not None else select_sources(load_sources(settings.sources), source_ids)
    out_dir = capture_dir(settings, dag_id, label, run_id, batch)
    if out_dir.exists():
        shutil.rmtree(out_dir)  # this task's own earlier try: rewrite the batch
    private_dir(out_dir)
    ledger = open_state(settings).ledger()
    warcs: list[str] = []
    per_source: dict[str, dict[str, int]] = {}
    failures: dict[str, str] = {}
    kinds: dict[str, str] = {}
    worker = f"{dag_id}:{run_id}:batch-{batch:03d}"
    now = datetime.now(UTC)  # a feed's reach is counted back from today, whatever the window
    parts = [(s, part) for s in chosen for part in source_reach(settings, s, window, now)]
    for source, part in parts:
        started = time.monotonic()
        where = safe_name(source.id) if part is source else safe_name(f"{source.id}.{part.kind_label}")
        try:
            # A windowed DAG run (nightly, backfill, archive) captures its window's articles again even
            # when seen before: re-running a date re-processes it, and ids keep the index unchanged.
            # An archive entry does not: what is indexed is not fetched from the archive again.
            fetched = fetch_capture(settings, ledger, [part], window, run_id, out_dir / where, worker,
                                    dag_id=dag_id, refetch=window is not None and not part.archive_entry)
        except Exception as exc:  # one source's failure is counted and reported; the batch goes on
            failures[source.id] = f"{type(exc).__name__}: {exc}"[:500]
            kinds[source.id] = _failure_kind(exc)
            per_source[source.id] = {SOURCE_ERROR: 1}
            log_event(log, "source_failed", source=source.id, kind=part.kind_label, run_id=run_id,
                      outcome=SOURCE_ERROR, reason=failures[source.id])
            continue
        paths = [fetched.capture.uri]
        ledger.record(paths, run_id=run_id, dag_id=dag_id, sources=[source.id])
        warcs.extend(paths)
        per_source.setdefault(source.id, {})
        # By the source each record names: an archive file's records keep the source that first
        # captured them (WARC-Chancery-Source), and they count there, not under the file.
        for owner, outcomes in _source_counts(fetched).items():
            counts = per_source.setdefault(owner, {})
            for outcome, n in outcomes.items():
                counts[outcome] = counts.get(outcome, 0) + n
        log_event(log, "source_fetched", source=source.id, kind=part.kind_label, run_id=run_id, warcs=len(paths),
                  seconds=round(time.monotonic() - started, 2))
    result = {
        "batch": batch,
        "sources": per_source,
        "warcs": warcs,
        "failures": failures,
        "report": str(out_dir / "report.json"),
    }
    write_private(out_dir / "report.json", json.dumps(result, indent=2, sort_keys=True))
    if failures and raise_on_error:
        raise _batch_error(failures, kinds)
    return result


def source_reach(settings: Settings, source: Any, window: tuple[datetime, datetime] | None,
                 now: datetime) -> list[Any]:
    """The source itself and/or its archive entries that reach the window (pipeline/discover/reach.py)."""
    from pipeline.discover.reach import reaches

    return reaches(source, window, now, settings.fetch.live_reach_days)


def _failure_kind(exc: BaseException) -> str:
    status = getattr(exc, "status", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if status == 429:
        return "rate_limited"
    if status in (404, 410):
        return "gone"
    return "other"


def _batch_error(failures: dict[str, str], kinds: dict[str, str]) -> FetchBatchError:
    message = f"{len(failures)} source(s) failed: " + "; ".join(f"{k}: {v}" for k, v in sorted(failures.items()))
    values = set(kinds.values())
    if values == {"gone"}:
        return SourceGone(message, failures)
    if "rate_limited" in values:
        return RateLimited(message, failures)
    return FetchBatchError(message, failures)


def _source_counts(fetched: Any) -> dict[str, dict[str, int]]:
    """Outcome counts per source id from a FetchRun's report."""
    return {str(source): {str(k): int(v) for k, v in counts.items()}
            for source, counts in fetched.report.counts_by_source().items()}


# -- reports -----------------------------------------------------------------------------------


def raw_captures_extra(results: Sequence[Mapping[str, Any] | None], run_id: str, dag_id: str,
                       window: tuple[datetime, datetime] | None) -> dict[str, Any]:
    """The ``extra`` of a raw-captures asset event: which WARCs this run wrote (a hint; the ledger is the list)."""
    warcs = [w for r in results if r for w in r.get("warcs", ())]
    return {
        "run_id": run_id,
        "dag_id": dag_id,
        "warcs": warcs,
        "window": [window[0].isoformat(), window[1].isoformat()] if window else None,
    }


def assemble_report(results: Sequence[Mapping[str, Any] | None], run_id: str, dag_id: str,
                    window: tuple[datetime, datetime] | None, logical_date: datetime | None = None,
                    planned_batches: int | None = None) -> dict[str, Any]:
    """The run report: counts per outcome per source, totals, WARCs and failures (stored in pipeline-runs)."""
    sources: dict[str, dict[str, int]] = {}
    failures: dict[str, str] = {}
    warcs: list[str] = []
    done = [r for r in results if r]
    for result in done:
        for sid, counts in result.get("sources", {}).items():
            merged = sources.setdefault(sid, {})
            for outcome, n in counts.items():
                merged[outcome] = merged.get(outcome, 0) + int(n)
        failures.update(result.get("failures", {}))
        warcs.extend(result.get("warcs", ()))
    totals: dict[str, int] = {}
    for counts in sources.values():
        for outcome, n in counts.items():
            totals[outcome] = totals.get(outcome, 0) + n
    missing = (planned_batches or len(results)) - len(done)
    status = "success" if not failures and missing <= 0 else ("failed" if not done else "partial")
    return {
        "id": f"{dag_id}:{run_id}:fetch",
        "kind": "fetch",
        "run_id": run_id,
        "dag_id": dag_id,
        "status": status,
        "logical_date": logical_date.isoformat() if logical_date else None,
        "window": {"start": window[0].isoformat(), "end": window[1].isoformat()} if window else None,
        "sources": {k: dict(sorted(v.items())) for k, v in sorted(sources.items())},
        "totals": dict(sorted(totals.items())),
        "warcs": warcs,
        "failures": failures,
        "batches_failed": max(0, missing),
    }


def store_report(settings: Settings, report: Mapping[str, Any]) -> None:
    """Store a report in the pipeline-runs index."""
    from pipeline.index.client import connect
    from pipeline.index.runs import store_run_report

    store_run_report(connect(settings), settings, dict(report))


# -- processing --------------------------------------------------------------------------------


class CaptureVerdict(str, Enum):
    DONE = "done"  # every article in it ended indexed, dead-lettered or in a named non-article outcome
    LEFT_PENDING = "pending"  # the engine went away or kept refusing: pending again, for a later run
    FAILED = "failed"  # it cannot be processed (its file is gone): retried, then parked with the reason
    CLAIM_LOST = "claim_lost"  # another worker took it over meanwhile (its writer, or past the lease)


@dataclass(frozen=True)
class CaptureResult:
    """What processing one claimed capture came to, and where the ledger now has it."""

    path: str
    verdict: CaptureVerdict
    tally: Tally = field(default_factory=Tally)
    indexed: int = 0
    dead_lettered: int = 0
    pending: int = 0  # documents neither indexed nor dead-lettered
    error: str = ""
    confirmed: Confirmation | None = None  # what the seen-store took as seen

    def counts(self) -> dict[str, int]:
        """Stored on the capture in the ledger: outcomes of its pages, and the index's word on its articles."""
        return {**self.tally.as_dict(), "indexed": self.indexed, "failed": self.dead_lettered}

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "verdict": self.verdict.value,
            "indexed": self.indexed,
            "dead_lettered": self.dead_lettered,
            "pending": self.pending,
            "outcomes": self.tally.as_dict(),
            "error": self.error,
            "seen_confirmed": self.confirmed.pages if self.confirmed else 0,
            "seen_unread": self.confirmed.unread if self.confirmed else 0,
        }


def process_capture(settings: Settings, ledger: CaptureLedger, capture: Capture, worker: str,
                    es: Any, workers: int | None = None) -> CaptureResult:
    """Extract, enrich and index one capture ``worker`` holds; done only when nothing of it is left over.

    ``workers`` as in ``pipeline.process.process``: None in this process, N worker processes, 0 one per core.
    Done: every page read ended indexed, dead-lettered or in a named non-article outcome (a page that
    killed two workers is dead-lettered as ``worker_died``; one the relevance gate kept out is
    ``out_of_scope``, and its offset is kept in the out-of-scope store for a replay); the capture is
    marked done with its counts, and the seen-store confirms exactly the records whose processing
    finished (so feeds' validators are stored, and those pages are skipped from now on). Left pending: the
    engine went away (``EngineUnavailable``) or refused documents past its retry budget, or the
    captures store could not be reached (``CaptureStoreUnavailable``); the claim is released without
    using an attempt. A capture this host still has to upload whose upload fails (``CaptureUploadFailed``)
    is left pending too, but stays claimed here: no other host can read it.
    Failed: the capture is neither in the captures store nor on this host. Anything else is a bug
    or a setup error, not the capture's fault: the claim is released with the error and the error goes on.

    ``capture.path`` is the capture's URI (pipeline/captures.py): read through fsspec from an object
    store or a share, whichever host wrote it.
    """
    from pipeline.captures import CaptureStore, CaptureStoreUnavailable, CaptureUploadFailed
    from pipeline.index.bulk import index_articles
    from pipeline.index.client import EngineUnavailable
    from pipeline.process import Finished, process

    path = capture.path
    store = CaptureStore.of(settings)
    try:
        readable = store.readable(path)
    except CaptureUploadFailed as exc:
        # Not released: the only copy is on this host, so the claim stays this worker's (no other host takes
        # it before the lease runs out; once this process is gone, the next drain here tries the upload again).
        reason = f"CaptureUploadFailed: {exc}"[:1000]
        return _logged(CaptureResult(path, CaptureVerdict.LEFT_PENDING, error=reason))
    except CaptureStoreUnavailable as exc:
        reason = f"CaptureStoreUnavailable: {exc}"[:1000]
        ledger.release(path, worker, reason)
        return _logged(CaptureResult(path, CaptureVerdict.LEFT_PENDING, error=reason))
    if not readable:
        reason = f"FileNotFoundError: capture file is gone: {path}"
        ledger.mark_failed(path, worker, reason)
        return _logged(CaptureResult(path, CaptureVerdict.FAILED, error=reason))
    tally = Tally()
    offsets: list[int] = []
    held: list[HeldPage] = []
    # The claim's lease is renewed while pages finish, so only a worker that stopped working loses it.
    renew_every = ledger.lease_seconds / 4
    renewed = [time.monotonic()]

    def finished(result: Finished) -> None:
        if time.monotonic() - renewed[0] >= renew_every:
            renewed[0] = time.monotonic()
            ledger.renew(path, worker)
        if result.warc_offset is None:
            return
        offsets.append(result.warc_offset)
        if result.outcome is Outcome.OUT_OF_SCOPE:
            held.append(HeldPage(path, result.warc_offset, result.url, result.source, result.score or 0.0))

    try:
        pages = store.read(path, max_payload=settings.fetch.max_bytes)
        articles = process(pages, settings, tally, workers=workers, scopes=capture_scopes(settings),
                           on_finished=finished)
        report = index_articles(es, articles, settings, tally)
    except (EngineUnavailable, CaptureStoreUnavailable) as exc:
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        ledger.release(path, worker, reason)
        indexed = tally.counts.get("indexed", 0)
        return _logged(CaptureResult(path, CaptureVerdict.LEFT_PENDING, tally, indexed=indexed, error=reason))
    except BaseException as exc:
        ledger.release(path, worker, f"{type(exc).__name__}: {exc}")
        raise
    pending = int(getattr(report, "pending", 0))
    dead_lettered = report.failed + tally.counts.get(Outcome.WORKER_DIED.value, 0)
    result = CaptureResult(path, CaptureVerdict.DONE, tally, report.indexed, dead_lettered, pending)
    if pending:
        reason = f"{pending} document(s) neither indexed nor dead-lettered: the engine kept refusing them"
        ledger.release(path, worker, reason)
        return _logged(replace(result, verdict=CaptureVerdict.LEFT_PENDING, error=reason))
    if not ledger.mark_done(path, worker, result.counts()):
        return _logged(replace(result, verdict=CaptureVerdict.CLAIM_LOST, error=f"claim lost by {worker}"))
    open_state(settings).out_of_scope().replace(path, held)  # what is still out of scope, after a replay too
    return _logged(replace(result, confirmed=confirm_seen(settings, path, offsets)))


# Ad-hoc sources the steps make (not in the sources file): URLs an event names are wanted whatever they hold.
_AD_HOC_SCOPES = {"event-urls": Scope.ALL}


def capture_scopes(settings: Settings) -> Scopes:
    """Each page's scope by its source id: the sources file's, else diplomacy (a backfill's archive files)."""
    known = source_scopes(settings, Scope.DIPLOMACY)
    return replace(known, by_source={**_AD_HOC_SCOPES, **known.by_source})


def mark_out_of_scope_pending(settings: Settings, sources: Sequence[str] = (),
                              ledger: CaptureLedger | None = None) -> tuple[int, int]:
    """Re-queue the captures holding pages the gate kept out (of these sources): (captures, pages held).

    After a scope was widened (``scope: all`` on a source, a lower ``process.gate_threshold``), the next
    drain re-processes those captures with the new scope; idempotent indexing leaves the articles
    already indexed unchanged, and the store keeps only what is still out of scope.
    """
    held = open_state(settings).out_of_scope().captures(sources)
    if not held:
        return 0, 0
    ledger = ledger or open_state(settings).ledger()
    return ledger.mark_pending(sorted(held)), sum(held.values())


def confirm_seen(settings: Settings, path: str, offsets: Sequence[int]) -> Confirmation:
    with open_state(settings).seen() as seen:
        return seen.confirm(path, offsets)


def _logged(result: CaptureResult) -> CaptureResult:
    log_event(log, "capture_processed", path=result.path, verdict=result.verdict.value, indexed=result.indexed,
              dead_lettered=result.dead_lettered, pending=result.pending, error=result.error[:200])
    return result


@dataclass(frozen=True)
class Drain:
    """What one drain did: a result per capture it claimed, and what the ledger still has pending."""

    worker: str
    results: tuple[CaptureResult, ...]
    remaining: int
    budget_exhausted: bool

    @property
    def left_pending(self) -> list[CaptureResult]:
        return [r for r in self.results if r.verdict is CaptureVerdict.LEFT_PENDING]

    def raise_if_left_pending(self) -> None:
        """For a task: the engine went away, its captures are pending again, so fail and let the retry drain."""
        if self.left_pending:
            raise EngineDown(f"{len(self.left_pending)} capture(s) left pending: {self.left_pending[0].error}")

    def to_dict(self) -> dict[str, Any]:
        done = [r for r in self.results if r.verdict is CaptureVerdict.DONE]
        outcomes = Tally()
        for r in self.results:
            outcomes.merge(r.tally)
        return {
            "worker": self.worker,
            "processed": len(done),
            "captures": [r.path for r in done],
            "indexed": sum(r.indexed for r in self.results),
            "dead_lettered": {r.path: r.dead_lettered for r in self.results if r.dead_lettered},
            "outcomes": outcomes.as_dict(),
            "failed": {r.path: r.error for r in self.results if r.verdict is CaptureVerdict.FAILED},
            "left_pending": {r.path: r.error for r in self.left_pending},
            "remaining": self.remaining,
            "budget_exhausted": self.budget_exhausted,
        }


def drain_captures(settings: Settings, worker: str, budget_seconds: float | None = None,
                   ledger: CaptureLedger | None = None, limit: int | None = None, es: Any = None,
                   on_result: Callable[[CaptureResult], None] | None = None,
                   workers: int | None = None) -> Drain:
    """Process pending (and abandoned) captures, whatever event woke us: claim one, process it; repeat.

    The one implementation of draining: the ``process_captures`` DAG, ``chancery captures drain``
    and ``chancery ingest --sources`` (before it fetches) all call it. Safe to run twice at once
    (each claim is atomic). Stops at ``limit`` captures, after the time budget (the task token's
    lifetime is far longer; the DAG hands the rest to a new run), or at the first capture left
    pending: the engine is away, and the rest would only meet it too. The engine is connected to
    only once there is work (``es`` reuses a caller's client). ``on_result`` sees each capture's
    result as soon as it is known, so a caller's report holds them even if a later capture raises.
    ``workers`` (the DAG and the CLI pass ``process.workers``): worker processes that extract and enrich.
    """
    from pipeline.index.client import EngineUnavailable
    from pipeline.ingest import connect_ready

    ledger = ledger or open_state(settings).ledger()
    budget = settings.airflow.drain_budget_seconds if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    results: list[CaptureResult] = []
    exhausted = False
    while limit is None or len(results) < limit:
        if time.monotonic() >= deadline:
            exhausted = True
            break
        claimed = ledger.claim(worker, limit=1)
        if not claimed:
            break
        (capture,) = claimed
        try:
            es = es if es is not None else connect_ready(settings)
        except EngineUnavailable as exc:
            ledger.release(capture.path, worker, f"EngineUnavailable: {exc}")
            result = _logged(CaptureResult(capture.path, CaptureVerdict.LEFT_PENDING, error=str(exc)))
        else:
            result = process_capture(settings, ledger, capture, worker, es, workers=workers)
        results.append(result)
        if on_result is not None:
            on_result(result)
        if result.verdict is CaptureVerdict.LEFT_PENDING:
            break
    remaining = ledger.counts().get(CaptureStatus.PENDING.value, 0)
    drain = Drain(worker, tuple(results), remaining, exhausted)
    log_event(log, "drained", worker=worker, processed=drain.to_dict()["processed"],
              indexed=sum(r.indexed for r in results), left_pending=len(drain.left_pending), remaining=remaining)
    return drain


# -- backfill ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindCount:
    """What one kind did for one source in a backfill."""

    source: str
    kind: str
    found: int  # candidates discovery handed to fetch (each ends in one outcome)
    fetched: int  # of those, fetched (or read from an archive) and captured
    indexed: int  # articles of the source the kind's capture processed into the index
    outcomes: dict[str, int]  # every outcome of the source's candidates, ok included

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "found": self.found, "fetched": self.fetched,
                "indexed": self.indexed, "outcomes": self.outcomes}


def backfill_sources(settings: Settings, sources: Sequence[Any], window: tuple[datetime, datetime], run_id: str,
                     report: Any, refetch: bool = False, now: datetime | None = None,
                     on_kind: Callable[[str, list[KindCount]], None] | None = None) -> list[KindCount]:
    """``chancery backfill``: per source, the kinds that reach the window, each kind one ``ingest_sources`` run.

    The kinds go in the order of ``backfill_parts`` (live first, then the publisher's archive
    sitemaps, Wayback, GDELT, CC-NEWS), each through the capture ledger as ``ingest --sources``
    does, so a later kind meets in the seen-store what an earlier one indexed and skips it, and a
    rerun skips everything indexed before (unless ``refetch``). ``report`` (an IngestReport) is
    filled as the run goes, with every kind's fetch report under ``fetch["kinds"]``. A kind that
    leaves work pending (the engine went away) stops the run: the rest would meet the same.
    """
    from pipeline.discover.reach import backfill_parts
    from pipeline.ingest import IngestReport, RunStatus, connect_ready, ingest_sources

    report.kind = "backfill"
    parts = backfill_parts(sources, window, now or datetime.now(UTC), settings.fetch.live_reach_days)
    log_event(log, "backfill_planned", run_id=run_id, kinds=",".join(p.kind for p in parts),
              sources=len(sources), window=window_label(window))
    drain_captures(settings, f"backfill:{run_id}", budget_seconds=float("inf"), es=connect_ready(settings),
                   on_result=report.add_capture)  # earlier runs' leftovers first, counted apart from any kind
    if report.pending_captures:
        report.halt(RunStatus.PENDING, f"{report.error}; nothing fetched until the pending captures are indexed")
        return []
    kinds: dict[str, Any] = {}
    counts: list[KindCount] = []
    for part in parts:
        part_report = IngestReport(run_id=f"{run_id}-{part.kind}")
        try:
            ingest_sources(settings, list(part.sources), window, part_report.run_id, refetch=refetch,
                           report=part_report)
        finally:
            _merge_part(report, part_report)
            kinds[part.kind] = part_report.fetch_report
            report.fetch_report = {"kinds": kinds}
        found = _kind_counts(part.kind, part.sources, part_report)
        counts.extend(found)
        if on_kind is not None:
            on_kind(part.kind, found)
        if part_report.status is RunStatus.PENDING:
            report.halt(RunStatus.PENDING, f"{part.kind}: {part_report.error}; later kinds not fetched")
            break
    return counts


def _merge_part(report: Any, part: Any) -> None:
    """A kind's IngestReport folded into the backfill's."""
    report.tally.merge(part.tally)
    report.indexed += part.indexed
    report.failed += part.failed
    report.pending += part.pending
    report.captures.extend(part.captures)
    report.pending_captures.extend(part.pending_captures)
    report.failed_captures.update(part.failed_captures)
    report.warc_paths.extend(part.warc_paths)
    report.ledger = part.ledger or report.ledger
    report.error = report.error or part.error
    if part.halted is not None and report.halted is None:
        report.halt(part.halted, part.error)


def _kind_counts(kind: str, sources: Sequence[Any], part: Any) -> list[KindCount]:
    records = (part.fetch_report or {}).get("urls", [])
    processed = part.tally.source_counts()
    out: list[KindCount] = []
    for source_id in dict.fromkeys(s.id for s in sources):
        outcomes: dict[str, int] = {}
        for record in records:
            if record.get("source") == source_id and record.get("kind") in ("article", "archive"):
                outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
        out.append(KindCount(source_id, kind, found=sum(outcomes.values()), fetched=outcomes.get("ok", 0),
                             indexed=processed.get(source_id, {}).get("processed", 0),
                             outcomes=dict(sorted(outcomes.items()))))
    return out


# -- events ------------------------------------------------------------------------------------


def event_sources(settings: Settings, request: EventRequest, run_id: str) -> list[Any]:
    """The sources an event names: known source ids, plus one ad-hoc ``urls`` source for named URLs."""
    from pipeline.sources import Source, SourceKind, load_sources

    known = {s.id: s for s in load_sources(settings.sources)}
    chosen: list[Any] = []
    for sid in request.sources:
        if sid in known:
            chosen.append(known[sid])
        else:
            log_event(log, "unknown_source", source=sid, run_id=run_id, outcome="bad_message")
    if request.urls:
        chosen.append(Source(id="event-urls", name="URLs named by an event", kind=SourceKind.URLS,
                             urls=tuple(request.urls)))
    return chosen


def ingest_event(settings: Settings, request: EventRequest, run_id: str, dag_id: str,
                 anchor: datetime) -> dict[str, Any]:
    """Fetch what an event names into a run-scoped WARC and record it; the named URLs are not date-filtered.

    Polling a source looks ``event_window_days`` back from the run's own time (its
    ``run_after``), never the clock, so a retry asks for the same window.
    """
    if request.empty:
        return {"batch": 0, "sources": {}, "warcs": [], "failures": {}, "request": request.to_dict()}
    end = anchor.astimezone(UTC) + timedelta(days=1)
    start = end - timedelta(days=settings.airflow.event_window_days + 1)
    results: dict[str, Any] = {"batch": 0, "sources": {}, "warcs": [], "failures": {}}
    for source in event_sources(settings, request, run_id):
        window = None if source.id == "event-urls" else day_window(start, end)
        part = fetch_batch(settings, [source.id], window, run_id, dag_id, batch=len(results["sources"]),
                           label="events", raise_on_error=False, sources=[source])
        results["sources"].update(part["sources"])
        results["warcs"].extend(part["warcs"])
        results["failures"].update(part["failures"])
    results["request"] = request.to_dict()
    return results


# -- archives ----------------------------------------------------------------------------------


def archive_batches(pattern: str | Sequence[str], batch_size: int, max_batches: int) -> list[list[str]]:
    """Expand a WARC / CC-NEWS file list or glob(s) into at most ``max_batches`` batches of paths."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    files: list[str] = []
    for item in patterns:
        for part in re.split(r"[\s,]+", item.strip()):
            if not part:
                continue
            matches = sorted(glob.glob(part)) if any(c in part for c in "*?[") else [part]
            files.extend(str(Path(m).resolve()) for m in matches)
    files = list(dict.fromkeys(files))
    size = max(batch_size, -(-len(files) // max(1, max_batches))) if files else batch_size
    return [files[i : i + size] for i in range(0, len(files), size)]


def archive_sources(files: Sequence[str], hosts: Sequence[str]) -> list[Any]:
    """One ``warc`` source per archive file, keeping only the given hosts (empty: every host)."""
    from pipeline.sources import Source, SourceKind

    return [
        Source(id=safe_name(Path(f).name.lower())[:64].strip("._-") or "archive", name=Path(f).name,
               kind=SourceKind.WARC, path=f, hosts=tuple(hosts))
        for f in files
    ]


def hosts_for(settings: Settings, source_filter: Sequence[str]) -> list[str]:
    """The hosts of the named sources (a backfill's source filter), or [] for every host."""
    if not source_filter:
        return []
    from pipeline.sources import load_sources, select_sources

    hosts: list[str] = []
    for source in select_sources(load_sources(settings.sources), list(source_filter)):
        hosts.extend(source.hosts or [(urlsplit(u).hostname or "") for u in source.urls])
    return sorted({h.lower() for h in hosts if h})


def parse_day(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def hinted_warcs(triggering_asset_events: Any, conf: Mapping[str, Any] | None = None) -> list[str]:
    """The WARCs the triggering raw-captures events named: logged only, the ledger decides the work.

    A manual or test run can pass the same hints as ``conf={"asset_events": [extra, ...]}``.
    """
    extras: list[Mapping[str, Any]] = [
        getattr(event, "extra", None) or {} for events in (triggering_asset_events or {}).values() for event in events
    ]
    extras.extend(e for e in (conf or {}).get("asset_events", ()) if isinstance(e, Mapping))
    hints = [str(w) for extra in extras for w in extra.get("warcs", ())]
    log_event(log, "woken", hinted_warcs=len(hints))
    return hints
