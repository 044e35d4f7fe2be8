"""``run_fetch``: sources → discovery → polite fetching → one WARC per run + a report.

The main thread owns the schedule, the WARC and the report's final word on each
URL; a thread pool (``global_concurrency`` workers) does discovery and fetching.
Candidates wait in one queue per host and are handed to the pool only while the
host has a free slot (``per_host_concurrency``), so one slow or strict host
never fills the pool and starves the others.

Per candidate: canonicalise → drop if already listed this run → skip without a
request if the seen-store has it confirmed (unless ``refetch``) → robots.txt →
politeness slot → fetch → charset → rel=canonical / og:url → content hash →
new / changed / unchanged against the confirmed copy → new and changed pages go
into the WARC and are staged in the seen-store as pending against it. Nothing a
run fetches counts as seen, and no feed validator is stored, until the capture
has been processed (``SeenStore.confirm``): see pipeline/fetch/seen.py.

Archives: a Wayback candidate is fetched from its raw capture (through the archive host's
gate, like any page) and written under its original URL, with the original response headers
and the archive URL and capture time as provenance. GDELT's and CC-NEWS's files serve every
source of their kind at once, so they are read once per run. A candidate whose date is only a
capture or sighting time (Wayback, GDELT, CC-NEWS, WARC files) is kept only when the page's own
date, or without one that time, falls in the window: ``outside_window`` otherwise.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.captures import CaptureStore
from pipeline.config import Settings
from pipeline.decode import DecodeFailed, decode_page
from pipeline.discover import (
    SHARED_KINDS,
    Candidate,
    FetchXml,
    OpenRanged,
    RangedReadFailed,
    Skipped,
    Window,
    discover,
    discover_shared,
    in_window,
)
from pipeline.fetch.client import Fetcher, FetchResult, Validators
from pipeline.fetch.content import ContentKind, acceptable_type
from pipeline.fetch.politeness import HostGate
from pipeline.fetch.ranged import ranged_file
from pipeline.fetch.report import FetchReport, UrlRecord
from pipeline.fetch.robots import RobotsCache
from pipeline.fetch.seen import Change, page_hash
from pipeline.fetch.ssrf import Refusal, SsrfGuard
from pipeline.fetch.warc import CapturedResponse, WarcSink
from pipeline.logs import get_logger, log_event
from pipeline.models import CapturedRecord, CaptureRef
from pipeline.outcomes import Outcome, StageResult, Tally
from pipeline.sources import BasicAuth, Source, SourceKind
from pipeline.state import StateUnavailable, open_state
from pipeline.urls import canonicalize, local_path, page_canonical

log = get_logger("fetch")


@dataclass
class FetchRun:
    """What a run produced: the WARC file(s) written and the report of every attempt."""

    run_id: str
    warc_paths: list[Path]  # the local file written (gone once published to a captures URL)
    report: FetchReport
    capture: CaptureRef  # what processing is handed: the capture's URI, and what fetch wrote into it

    def to_json(self) -> str:
        return self.report.to_json()

    @property
    def tally(self) -> Tally:
        return self.report.tally()


@dataclass(frozen=True)
class _Fetched:
    """A worker's answer for one article: the HTTP result plus what the page said about itself."""

    candidate: Candidate
    result: FetchResult
    canonical_url: str | None = None
    content_hash: str = ""
    decode_error: str = ""
    stated_date: datetime | None = None  # the page's own publication date, read for candidates dated by an archive
    archived_at: datetime | None = None  # a raw capture's time: the bytes are the original site's, as archived


def run_fetch(
    settings: Settings,
    sources: list[Source],
    window: tuple[datetime, datetime] | None,
    run_id: str,
    out_dir: Path,
    refetch: bool = False,
    show_progress: bool | None = None,
) -> FetchRun:
    """Fetch the sources given; write ``out_dir/{run_id}.warc.gz``; never raise for one bad URL.

    ``window`` is [start, end) and selects feed entries, sitemap entries and archive
    records by date (undated ones are left out when a window is given).
    What is written is staged in the seen-store against the capture's URI (pipeline/captures.py),
    which names the capture from here on; publishing it to ``CHANCERY_CAPTURES_URL`` is the
    caller's (``pipeline.orchestrate.steps.fetch_capture``, with the ledger).
    ``show_progress``: None shows bars only on a terminal.
    """
    warc_path = capture_path(out_dir, run_id)
    uri = CaptureStore.of(settings).uri(warc_path)
    report = FetchReport(run_id=run_id, window=window, warc_files=list(dict.fromkeys([str(warc_path), uri])))
    with (
        _Crawler(settings, run_id, report, refetch, uri) as crawler,
        WarcSink(warc_path) as sink,
        _progress(show_progress) as progress,
    ):
        crawler.run(sources, window, sink, progress)
    report.finish()
    log_event(log, "fetch run done", run_id=run_id, warc=str(warc_path), **report.counts_by_outcome())
    return FetchRun(run_id=run_id, warc_paths=[warc_path], report=report,
                    capture=CaptureRef(uri, tuple(crawler.records)))


def capture_path(out_dir: Path, run_id: str) -> Path:
    """The local WARC ``run_fetch`` writes for this run."""
    return local_path(out_dir) / f"{run_id}.warc.gz"


class _Crawler:
    def __init__(self, settings: Settings, run_id: str, report: FetchReport, refetch: bool, capture: str) -> None:
        self.settings = settings
        self.fs = settings.fetch
        self.run_id = run_id
        self.report = report
        self.refetch = refetch
        self.fetcher = Fetcher(self.fs)
        state = open_state(settings)
        # A shared state store shares politeness too: every worker on every host takes its host leases.
        self.leases = state.host_leases() if self.fs.polite else None
        self.gate = HostGate(self.fs.per_host_delay, self.fs.per_host_concurrency, enabled=self.fs.polite,
                             leases=self.leases)
        self.holding = threading.local()  # .host: the host whose slot this thread holds, while it fetches
        self.robots = (
            RobotsCache(self._fetch_robots, self.fs.user_agent)
            if self.fs.polite
            else None
        )
        self.seen = state.seen()
        self.capture = capture  # what this run writes is staged against it, pending until it is processed
        self.records: list[CapturedRecord] = []  # what it wrote there, in file order (the CaptureRef's)
        self.seen.begin_capture(capture)
        self.feed_validators: list[tuple[str, str, Validators]] = []  # (source id, URL, validators), from workers
        self.pool = ThreadPoolExecutor(max_workers=max(1, self.fs.global_concurrency), thread_name_prefix="fetch")
        self.listed: set[str] = set()  # canonical URLs admitted this run
        self.written: dict[str, str] = {}  # canonical URL → URL whose capture is in this run's WARC
        self.queues: dict[str, deque[Candidate]] = {}
        self.inflight: dict[str, int] = {}
        self.host_limit: dict[str, int] = {}
        self.configured: set[tuple[str, str]] = set()  # (host, source id) overrides already applied
        self.sources: dict[str, Source] = {}
        self.window: Window | None = None
        self.guard = SsrfGuard(self.fs.allow_networks)  # for ranged reads, which do not go through the Fetcher
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Crawler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.fetcher.close()
        self.seen.close()
        if self.leases is not None:
            self.leases.close()
        for result in self.robots.fetched if self.robots else ():
            self.report.robots.append({"url": result.url, "outcome": result.outcome.value, "status": result.status})

    # -- schedule ------------------------------------------------------------

    def _scope_of(self, source_id: str) -> str:
        """Recorded in the capture, so a page keeps its source's scope where no sources file names it."""
        source = self.sources.get(source_id)
        return source.scope.value if source is not None else ""

    def run(self, sources: Iterable[Source], window: Window | None, sink: WarcSink, progress: Any) -> None:
        self.progress = progress
        self.window = window
        pending: dict[Future[Any], tuple[str, Any]] = {}
        archives: list[Source] = []
        shared: dict[SourceKind, list[Source]] = {}
        for source in sources:
            self.sources[source.id] = source
            self.tasks[source.id] = progress.add_task(source.id, total=None) if progress else None
            self._configure_hosts(source)
            if source.kind is SourceKind.WARC:
                archives.append(source)
            elif source.kind in SHARED_KINDS:
                shared.setdefault(source.kind, []).append(source)
            else:
                pending[self.pool.submit(self._discover, source, window)] = ("discover", source)
        gdelt = shared.get(SourceKind.GDELT, [])
        if gdelt:  # one reading of GDELT's files for all of them; their articles are fetched from the publishers
            pending[self.pool.submit(self._discover_shared, gdelt, window)] = ("discover", gdelt[0])
        for source in archives:  # streamed in this thread while the pool discovers the rest
            for item in discover(source, window, lambda url: None, max_bytes=self.fs.max_bytes):
                self._discovered(item, source, sink)
        ccnews = shared.get(SourceKind.CCNEWS, [])
        if ccnews:  # streamed here too, one pass for all of them: its records are the captures
            for item in self._discover_shared(ccnews, window):
                self._discovered(item, ccnews[0], sink)
        while pending:
            self._submit_ready(pending)
            done, _ = wait(pending, timeout=self.seen.COMMIT_AFTER, return_when=FIRST_COMPLETED)
            self.seen.flush_if_due()
            for future in done:
                what, payload = pending.pop(future)
                if what == "discover":
                    self._discovery_done(future, payload, sink)
                else:
                    host, candidate = payload
                    self.inflight[host] -= 1
                    self._article_done(future, candidate, sink)
            self._submit_ready(pending)
        self._stage_validators()

    def _stage_validators(self) -> None:
        """Stage the run's feed and sitemap validators, except for sources with an article worth retrying.

        A stored validator turns the next read of the feed into a 304 that lists nothing, so an
        article that timed out or met a 5xx / 429 would only come back when the feed changes.
        Those sources keep their old validators, and the next run reads them in full.
        """
        retry = {r.source for r in self.report.records if r.kind in ("article", "archive") and _worth_retrying(r)}
        for source_id, url, validators in self.feed_validators:
            if source_id in retry:
                log_event(log, "validators_held_back", source=source_id, url=url,
                          reason="an article of this source is worth retrying")
            else:
                self.seen.stage_validators(self.capture, url, validators)

    # A bug in one source's discovery or one page's handling must not end the run:
    # it is logged with its traceback and recorded as that item's outcome.

    def _discovery_done(self, future: Future[Any], source: Source, sink: WarcSink) -> None:
        try:
            items = future.result()
        except StateUnavailable:  # the shared state store went away: a setup error for the run, not this source's
            raise
        except Exception as exc:
            log.exception("discovery failed", extra={"fields": {"source": source.id}})
            self._record(
                source.url or source.id,
                source.id,
                Outcome.PARSE_ERROR,
                kind=source.kind.value,
                reason=f"discovery failed: {type(exc).__name__}: {exc}",
            )
            return
        for item in items:
            self._discovered(item, source, sink)

    def _article_done(self, future: Future[Any], candidate: Candidate, sink: WarcSink) -> None:
        try:
            self._complete(future.result(), sink)
        except StateUnavailable:  # the shared state store went away: a setup error for the run, not this page's
            raise
        except Exception as exc:
            log.exception("fetch failed", extra={"fields": {"url": candidate.url}})
            self._record(
                candidate.url,
                candidate.source_id,
                Outcome.CONNECTION_ERROR,
                reason=f"unexpected {type(exc).__name__}: {exc}",
            )

    def _configure_hosts(self, source: Source) -> None:
        for url in source.urls:
            self._configure_host(_host(url), source)

    def _configure_host(self, host: str, source: Source) -> None:
        """A source's politeness overrides apply to every host it leads us to (feed host and article hosts)."""
        if source.politeness.delay is None and source.politeness.concurrency is None:
            return
        self.gate.configure(host, source.politeness.delay, source.politeness.concurrency)
        if source.politeness.concurrency:
            self.host_limit[host] = min(self.host_limit.get(host, 10**6), source.politeness.concurrency)

    def _submit_ready(self, pending: dict[Future[Any], tuple[str, Any]]) -> None:
        """Hand queued candidates to the pool, at most per_host_concurrency in flight per host."""
        budget = 2 * max(1, self.fs.global_concurrency) - sum(self.inflight.values())
        default_limit = self.fs.per_host_concurrency if self.fs.polite else max(1, self.fs.global_concurrency)
        progressed = True
        while budget > 0 and progressed:
            progressed = False
            for host, queue in self.queues.items():  # round robin: one per host per pass
                if queue and budget > 0 and self.inflight.get(host, 0) < self.host_limit.get(host, default_limit):
                    candidate = queue.popleft()
                    self.inflight[host] = self.inflight.get(host, 0) + 1
                    pending[self.pool.submit(self._fetch_article, candidate)] = ("article", (host, candidate))
                    budget -= 1
                    progressed = True

    # -- discovery -------------------------------------------------------------

    def _discover(self, source: Source, window: Window | None) -> list[Candidate | StageResult | Skipped]:
        """Runs in a worker: feeds and sitemaps fetched politely and conditionally, each attempt recorded."""

        def fetch_xml(url: str) -> bytes | None:
            # No conditional GET for a windowed run: a 304 (validators saved by another day's run)
            # says nothing about *this* window's entries, and a backfill must see them.
            validators = None if self.refetch or window is not None else self.seen.validators(url)
            result = self._fetch_document(url, source, ContentKind.XML, validators)
            if not result.ok:
                return None
            self.feed_validators.append((source.id, url, result.validators))
            return result.body

        fs = self.fs
        return list(discover(source, window, fetch_xml, fs.sitemap_max_depth, fs.sitemap_max_count, fs.max_bytes,
                             fetch_data=self._data_fetcher(source)))

    def _discover_shared(self, sources: list[Source], window: Window | None) -> list[Candidate | StageResult | Skipped]:
        """GDELT's or CC-NEWS's files, read once for every source of the kind (labelled by the first)."""
        first = sources[0]
        return list(discover_shared(sources, window, self._data_fetcher(first), self._ranged_opener(first),
                                    self.fs.max_bytes))

    def _fetch_document(
        self, url: str, source: Source, kind: ContentKind, validators: Validators | None = None
    ) -> FetchResult:
        """A feed, sitemap or archive index fetched politely, the attempt recorded under the source."""
        result = self._polite_fetch(url, kind, validators, source.credentials)
        self._record(
            url,
            source.id,
            result.outcome,
            kind=source.kind.value,
            status=result.status,
            size=len(result.raw_body),
            redirects=list(result.redirects),
            seconds=result.seconds,
            reason=result.reason,
            attempts=result.attempts,
        )
        return result

    def _data_fetcher(self, source: Source) -> FetchXml:
        """CDX answers, file lists and data files: any Content-Type (the reader checks), never conditional."""

        def fetch_data(url: str) -> bytes | None:
            result = self._fetch_document(url, source, ContentKind.DATA)
            return result.body if result.ok else None

        return fetch_data

    def _ranged_opener(self, source: Source) -> OpenRanged:
        """Big archive files read by range, under the host's politeness slot and robots.txt, the attempt recorded."""

        @contextmanager
        def open_ranged(url: str) -> Iterator[Any]:
            host = _host(url)
            refusal = self.robots.check(url) if self.robots is not None else None
            if refusal is not None:
                self._record(url, source.id, refusal.outcome, kind=source.kind.value, reason=refusal.reason)
                raise RangedReadFailed(refusal.outcome, refusal.reason)
            with self.gate.slot(host):
                try:
                    with ranged_file(url, self.fs, self.guard, self.fetcher.backoff, time.sleep,
                                     lambda s: self.gate.defer(host, s)) as stream:
                        self._record(url, source.id, Outcome.OK, kind=source.kind.value, status=206,
                                     size=getattr(stream, "size", 0) or 0)
                        yield stream
                except RangedReadFailed as exc:
                    self._record(url, source.id, exc.outcome, kind=source.kind.value, reason=exc.reason)
                    raise

        return open_ranged

    def _discovered(self, item: Candidate | StageResult | Skipped, source: Source, sink: WarcSink) -> None:
        if isinstance(item, Skipped):
            self.report.skipped.append({"url": item.url, "source": source.id, "reason": item.reason})
        elif isinstance(item, StageResult):
            if any(r.url == item.url for r in self.report.records):
                self.report.mark(item.url, item.outcome, item.reason)
            else:
                self._record(item.url, source.id, item.outcome, kind=source.kind.value, reason=item.reason)
        elif item.archived is not None:
            self._admit_archived(item, sink)
        else:
            self._admit(item)

    def _admit(self, candidate: Candidate) -> None:
        key = canonicalize(candidate.url)
        if self._already_listed(key, candidate):
            return
        if not self.refetch:
            seen = self.seen.lookup(key)
            if seen is not None and self.run_id not in (seen.first_run_id, seen.last_run_id):
                self._record(
                    candidate.url,
                    candidate.source_id,
                    Outcome.UNCHANGED,
                    reason="in the seen-store",
                    canonical_url=seen.canonical_url,
                    change=Change.UNCHANGED.value,
                )
                return
        host = _host(candidate.snapshot or candidate.url)  # a raw capture waits for the archive host's slot
        if (host, candidate.source_id) not in self.configured and candidate.source_id in self.sources:
            self.configured.add((host, candidate.source_id))
            self._configure_host(host, self.sources[candidate.source_id])
        self.queues.setdefault(host, deque()).append(candidate)

    def _already_listed(self, key: str, candidate: Candidate) -> bool:
        if key in self.listed:
            self.report.duplicates[candidate.source_id] += 1
            return True
        self.listed.add(key)
        task = self.tasks.get(candidate.source_id)
        if self.progress and task is not None:
            total = self.progress.tasks[task].total or 0
            self.progress.update(task, total=total + 1)
        return False

    # -- workers ---------------------------------------------------------------

    def _polite_fetch(
        self,
        url: str,
        kind: ContentKind,
        validators: Any = None,
        credentials: tuple[BasicAuth, ...] = (),
        hop_check: Any = None,
    ) -> FetchResult:
        host = _host(url)
        if self.robots is not None:
            refusal = self.robots.check(url)
            if refusal is not None:
                return FetchResult(url, url, refusal.outcome, reason=refusal.reason)
            delay = self.robots.crawl_delay(url)
            if delay:
                self.gate.configure(host, delay=delay)
        with self.gate.slot(host):
            self.holding.host = host
            try:
                return self.fetcher.fetch(
                    url,
                    kind,
                    validators,
                    hop_check=hop_check or self._hop_check,
                    on_retry_after=lambda s: self.gate.defer(host, s),
                    credentials=credentials,
                )
            finally:
                self.holding.host = None

    def _fetch_robots(self, url: str) -> FetchResult:
        # robots.txt is a request to the host like any other: it waits for the host's slot (and, with a
        # shared state store, its lease), or every run's first request would ignore the Crawl-delay. A
        # redirect to another origin of the host being fetched (http → https) asks for it under the slot
        # this thread holds: waiting for a second one could wait for itself.
        host = _host(url)
        if getattr(self.holding, "host", None) == host:
            return self.fetcher.fetch(url, ContentKind.ROBOTS)
        with self.gate.slot(host):
            return self.fetcher.fetch(url, ContentKind.ROBOTS)

    def _hop_check(self, url: str) -> Refusal | None:
        return self.robots.check(url) if self.robots is not None else None

    def _fetch_article(self, candidate: Candidate) -> _Fetched:
        if candidate.snapshot is not None:
            return self._fetch_snapshot(candidate, candidate.snapshot)
        # The canonical spelling is what we request: tracking parameters never reach the publisher.
        source = self.sources.get(candidate.source_id)  # its credentials go to its own origins only
        result = self._polite_fetch(
            canonicalize(candidate.url), ContentKind.ARTICLE, credentials=source.credentials if source else ()
        )
        if not result.ok:
            return _Fetched(candidate, result)
        try:
            text = decode_page(result.body, result.content_type).text
        except DecodeFailed as exc:
            return _Fetched(candidate, result, decode_error=str(exc))
        canonical = page_canonical(text, result.final_url).url
        stated = stated_date(text, result.final_url, result.fetched_at) if candidate.captured_at else None
        return _Fetched(candidate, result, canonical_url=canonical, content_hash=page_hash(result.body),
                        stated_date=stated)

    def _fetch_snapshot(self, candidate: Candidate, snapshot: str) -> _Fetched:
        """A Wayback raw capture: followed once to its nearest timestamp, stored as the original response."""
        from pipeline.discover.wayback import capture_of, original_headers, same_original

        hops: list[str] = []

        def one_redirect(url: str) -> Refusal | None:
            if url == snapshot:  # each attempt (a retry after a 429 too) starts here
                hops.clear()
            hops.append(url)
            if len(hops) > 2:
                return Refusal(Outcome.TOO_MANY_REDIRECTS, "a raw capture redirects once, to its nearest timestamp; "
                                                           f"this one redirected again, to {url}")
            if len(hops) == 2 and not same_original(snapshot, url):
                return Refusal(Outcome.TOO_MANY_REDIRECTS, f"a raw capture redirected to another URL: {url}")
            return self._hop_check(url)

        result = self._polite_fetch(snapshot, ContentKind.ARTICLE, hop_check=one_redirect)
        if not result.ok:
            return _Fetched(candidate, result)
        # Stored as the site sent it: its headers, the body decoded (the archive's transfer coding is its own).
        result = dataclasses.replace(result, headers=original_headers(result.headers), raw_body=result.body)
        captured = capture_of(result.final_url)
        archived_at = captured[0] if captured else candidate.captured_at
        try:
            text = decode_page(result.body, result.content_type).text
        except DecodeFailed as exc:
            return _Fetched(candidate, result, decode_error=str(exc))
        canonical = page_canonical(text, candidate.url).url
        return _Fetched(candidate, result, canonical_url=canonical, content_hash=page_hash(result.body),
                        stated_date=stated_date(text, candidate.url, archived_at or result.fetched_at),
                        archived_at=archived_at)

    def _outside_window(self, candidate: Candidate, stated: datetime | None, captured: datetime | None) -> str:
        """Why a candidate dated by an archive falls outside the window ("" when it is inside, or not so dated)."""
        if self.window is None or captured is None:
            return ""
        when, what = (stated, "the page is dated") if stated is not None else (captured, "captured, with no date,")
        if in_window(when, self.window):
            return ""
        return f"{what} {when:%Y-%m-%d %H:%M}, outside {self.window[0]:%Y-%m-%d} to {self.window[1]:%Y-%m-%d}"

    # -- results (main thread) -----------------------------------------------------

    def _complete(self, fetched: _Fetched, sink: WarcSink) -> None:
        candidate, result = fetched.candidate, fetched.result
        if fetched.decode_error:
            self._record_result(candidate, result, Outcome.DECODE_ERROR, fetched.decode_error)
            return
        if not result.ok or fetched.canonical_url is None:
            self._record_result(candidate, result, result.outcome, result.reason)
            return
        canonical = fetched.canonical_url
        outside = self._outside_window(candidate, fetched.stated_date, fetched.archived_at or candidate.captured_at)
        if outside:
            self._record_result(candidate, result, Outcome.OUTSIDE_WINDOW, outside, canonical)
            return
        snapshot = fetched.archived_at is not None or candidate.snapshot is not None
        # A raw capture is the original URL's: the archive's address is provenance, never an alias.
        aliases = [canonicalize(candidate.url)] + ([] if snapshot else [canonicalize(result.final_url)])
        if canonical in self.written:
            self.seen.add_aliases(canonical, aliases)
            self._record_result(
                candidate,
                result,
                Outcome.UNCHANGED,
                f"same article as {self.written[canonical]}",
                canonical,
                Change.UNCHANGED.value,
            )
            return
        change = self.seen.change(canonical, fetched.content_hash, self.run_id)
        if change is Change.UNCHANGED:
            self.seen.add_aliases(canonical, aliases)
        else:
            offset = sink.write(
                CapturedResponse(
                    url=candidate.url if snapshot else result.final_url,
                    status=result.status or 200,
                    reason=result.http_reason,
                    headers=result.headers,
                    raw_body=result.raw_body,
                    # An archived page was captured then: its date is judged against that day, not today.
                    fetched_at=fetched.archived_at or result.fetched_at,
                    source_id=candidate.source_id,
                    scope=self._scope_of(candidate.source_id),
                    run_id=self.run_id,
                    fetch_url=result.url,
                    canonical_url=canonical,
                    redirects=result.redirects,
                    request_headers=result.request_headers,
                    archive_url=result.final_url if snapshot else None,
                    archived_at=fetched.archived_at,
                    content_hash=fetched.content_hash,
                )
            )
            self.records.append(CapturedRecord(offset, canonical, fetched.content_hash))
            self.seen.stage(
                self.capture, offset, canonical, aliases, fetched.content_hash, self.run_id, candidate.source_id,
                result.validators,
            )
            self.written[canonical] = candidate.url
        self._record_result(candidate, result, Outcome.OK, "", canonical, change.value)

    def _admit_archived(self, candidate: Candidate, sink: WarcSink) -> None:
        archived = candidate.archived
        assert archived is not None
        key = canonicalize(candidate.url)
        if self._already_listed(key, candidate):
            return
        content_type = next((v for k, v in archived.headers if k.lower() == "content-type"), None)
        if not acceptable_type(ContentKind.ARTICLE, content_type, archived.body[:512]):
            self._record(
                candidate.url,
                candidate.source_id,
                Outcome.BAD_CONTENT_TYPE,
                kind="archive",
                status=archived.status,
                reason=f"Content-Type {content_type}",
            )
            return
        try:
            text = decode_page(archived.body, content_type).text
        except DecodeFailed as exc:
            self._record(candidate.url, candidate.source_id, Outcome.DECODE_ERROR, kind="archive", reason=str(exc))
            return
        canonical = page_canonical(text, candidate.url).url
        captured = archived.captured_at
        stated = stated_date(text, candidate.url, captured or datetime.now(UTC)) if self.window else None
        outside = self._outside_window(candidate, stated, captured)
        if outside:
            self._record(candidate.url, candidate.source_id, Outcome.OUTSIDE_WINDOW, kind="archive",
                         status=archived.status, reason=outside, canonical_url=canonical)
            return
        seen = None if self.refetch else self.seen.lookup(canonical)
        if canonical in self.written or (seen and self.run_id not in (seen.first_run_id, seen.last_run_id)):
            self._record(
                candidate.url,
                candidate.source_id,
                Outcome.UNCHANGED,
                kind="archive",
                reason="already captured",
                canonical_url=canonical,
                change=Change.UNCHANGED.value,
            )
            return
        content_hash = page_hash(archived.body)
        change = self.seen.change(canonical, content_hash, self.run_id)
        offset = sink.write(
            CapturedResponse(
                url=candidate.url,
                status=archived.status,
                reason=archived.reason,
                headers=archived.headers,
                raw_body=archived.body,
                fetched_at=archived.captured_at or datetime.now(UTC),
                source_id=candidate.source_id,
                scope=self._scope_of(candidate.source_id),
                run_id=self.run_id,
                fetch_url=candidate.url,
                canonical_url=canonical,
                archive_url=archived.archive,
                archived_at=archived.captured_at,
                content_hash=content_hash,
            )
        )
        self.records.append(CapturedRecord(offset, canonical, content_hash))
        self.seen.stage(self.capture, offset, canonical, [key], content_hash, self.run_id, candidate.source_id)
        self.written[canonical] = candidate.url
        self._record(
            candidate.url,
            candidate.source_id,
            Outcome.OK,
            kind="archive",
            status=archived.status,
            size=len(archived.body),
            canonical_url=canonical,
            change=change.value,
        )

    def _record_result(
        self,
        candidate: Candidate,
        result: FetchResult,
        outcome: Outcome,
        reason: str,
        canonical_url: str | None = None,
        change: str | None = None,
    ) -> None:
        self._record(
            candidate.url,
            candidate.source_id,
            outcome,
            status=result.status,
            size=len(result.raw_body),
            redirects=list(result.redirects),
            seconds=result.seconds,
            reason=reason,
            canonical_url=canonical_url,
            change=change,
            attempts=result.attempts,
        )

    def _record(
        self,
        url: str,
        source_id: str,
        outcome: Outcome,
        kind: str = "article",
        status: int | None = None,
        size: int = 0,
        redirects: list[str] | None = None,
        seconds: float = 0.0,
        reason: str = "",
        canonical_url: str | None = None,
        change: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.report.add(
            UrlRecord(
                url=url,
                source=source_id,
                outcome=outcome.value,
                status=status,
                bytes=size,
                redirects=redirects or [],
                seconds=round(seconds, 4),
                kind=kind,
                reason=reason,
                canonical_url=canonical_url,
                change=change,
                attempts=attempts,
            )
        )
        if outcome is not Outcome.OK:
            log_event(log, "fetch outcome", url=url, source=source_id, outcome=outcome.value, reason=reason)
        task = self.tasks.get(source_id)
        if self.progress and task is not None and kind in ("article", "archive"):
            self.progress.advance(task)


def stated_date(html: str, url: str, reference: datetime) -> datetime | None:
    """The publication date a page states (JSON-LD, meta, microdata, hNews, <time>, its URL), as extraction reads it."""
    from pipeline.extract.dates import published_date
    from pipeline.extract.html import parse
    from pipeline.extract.metadata import read_page_meta

    tree = parse(html)
    if tree is None:
        return None
    found = published_date(read_page_meta(tree, url), None, reference)  # no tree: htmldate's guess is not proof
    return found.value if found else None


def _worth_retrying(record: UrlRecord) -> bool:
    """A failure the next run may well not meet: a timeout, a dropped connection, 5xx, 408 or 429."""
    transient = (Outcome.TIMEOUT.value, Outcome.CONNECTION_ERROR.value, Outcome.HTTP_5XX.value)
    return record.outcome in transient or record.status in (408, 429)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


@contextmanager
def _progress(show: bool | None) -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if show is None:
        show = console.is_terminal
    if not show:
        yield None
        return
    columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        yield progress
