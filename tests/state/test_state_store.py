"""One behavioural suite, run against both state backends: SQLite files and a real PostgreSQL.

Claims are exclusive across threads and processes, an expired lease is taken over and its old
holder's late ``mark_done`` refused, seen pages and feed validators count only once confirmed,
dead letters are stored, listed and removed as read, and a publisher host's concurrency and
Crawl-delay hold across processes sharing the store (measured by the loopback server the pages
come from).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fetch_newsroom import Hit, Newsroom, Reply, article

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.fetch.client import Validators
from pipeline.fetch.politeness import HostGate
from pipeline.fetch.seen import Change
from pipeline.index.deadletters import list_deadletters
from pipeline.orchestrate.ledger import CaptureStatus
from pipeline.state import StateUnavailable, open_state

# -- the capture ledger --------------------------------------------------------------------------


def _keys(n: int) -> list[str]:
    # Opaque keys, as an object store names its captures: the ledger never opens or resolves them.
    return [f"s3://captures/run/c{i:03d}.warc.gz" for i in range(n)]


def _drain(settings: Settings, worker: str) -> list[str]:
    ledger = open_state(settings).ledger()
    mine = []
    while claimed := ledger.claim(worker):
        assert ledger.mark_done(claimed[0].path, worker, {"indexed": 1})
        mine.append(claimed[0].path)
    return mine


def test_claimers_in_threads_never_take_the_same_capture(state_settings: Settings) -> None:
    keys = _keys(120)
    open_state(state_settings).ledger().record(keys, run_id="burst")
    results: dict[str, list[str]] = {}
    threads = [threading.Thread(target=lambda w=f"t{i}": results.__setitem__(w, _drain(state_settings, w)))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    taken = [k for mine in results.values() for k in mine]
    assert sorted(taken) == sorted(keys)  # every capture, none twice
    assert open_state(state_settings).ledger().counts() == {"done": 120}


def _drain_in_process(settings: Settings, worker: str, out: multiprocessing.Queue[list[str]], start: Any) -> None:
    open_state(settings).ledger()  # imports and connection done before the race starts
    start.wait(timeout=120)  # both claim from the same moment: a slow spawn must not let one take everything
    out.put(_drain(settings, worker))


@pytest.mark.slow
def test_claimers_in_two_processes_never_take_the_same_capture(state_settings: Settings) -> None:
    keys = _keys(150)
    open_state(state_settings).ledger().record(keys, run_id="burst")
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[list[str]] = ctx.Queue()
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_drain_in_process, args=(state_settings, f"p{i}", out, start)) for i in range(2)]
    for w in workers:
        w.start()
    results = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert all(results), "both processes claimed captures"
    assert sorted(k for mine in results for k in mine) == sorted(keys)
    assert open_state(state_settings).ledger().counts() == {"done": 150}


def test_an_expired_lease_is_taken_over_and_the_late_mark_done_refused(state_settings: Settings) -> None:
    first = open_state(state_settings).ledger(lease_seconds=1.0)
    second = open_state(state_settings).ledger(lease_seconds=1.0)
    (key,) = _keys(1)
    first.record([key], run_id="r")
    (held,) = first.claim("hung-worker")  # alive, but stops renewing (hung, or on a host that went away)
    assert held.lease_expires is not None and held.claimed_by == "hung-worker"
    assert second.claim("other") == []  # its lease runs
    time.sleep(0.6)
    assert first.renew(key, "hung-worker")  # still working: the lease runs a second from now
    time.sleep(0.6)
    assert second.claim("other") == []
    time.sleep(1.0)
    (taken,) = second.claim("other")  # the lease ran out: another worker finishes the work
    assert (taken.claimed_by, taken.attempts) == ("other", 2)
    assert not first.renew(key, "hung-worker")
    assert not first.mark_done(key, "hung-worker", {"indexed": 1})  # too late: not its claim any more
    assert second.mark_done(key, "other", {"indexed": 1})
    (done,) = second.list()
    assert done.status is CaptureStatus.DONE and done.counts == {"indexed": 1}


_HOLDER = """
import pickle, sys, time
from pipeline.state import open_state
settings = pickle.loads(bytes.fromhex(sys.argv[1]))
open_state(settings).ledger().claim("killed-drainer")
print("holding", flush=True)
time.sleep(120)
"""


def test_a_worker_killed_mid_drain_loses_its_claim(state_settings: Settings) -> None:
    import pickle

    ledger = open_state(state_settings).ledger()  # an hour's lease: the dead process is what frees it
    (key,) = _keys(1)
    ledger.record([key], run_id="r")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, pickle.dumps(state_settings).hex()],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    assert ledger.claim("w2") == []  # its holder runs
    holder.kill()
    holder.wait(timeout=10)
    holder.stdout.close()
    (again,) = ledger.claim("w2")
    assert (again.claimed_by, again.attempts) == ("w2", 2)
    assert ledger.mark_done(key, "w2", {"indexed": 1})


# -- the seen-store ------------------------------------------------------------------------------


def test_staged_pages_are_seen_only_once_confirmed(state_settings: Settings) -> None:
    capture = "s3://captures/run/seen.warc.gz"
    with open_state(state_settings).seen() as seen:
        seen.begin_capture(capture)
        for offset, name in ((0, "a"), (700, "b"), (1400, "c")):
            url = f"https://mfa.example/{name}"
            seen.stage(capture, offset, url, [f"{url}?utm_source=x"], f"hash-{name}", "run-1", "mfa")
        assert seen.lookup("https://mfa.example/a") is None  # pending proves nothing yet
        assert seen.change("https://mfa.example/a", "hash-a", "run-2") is Change.NEW
        assert seen.pending_count(capture) == 3
    with open_state(state_settings).seen() as seen:  # another process's store: what was staged was kept
        confirmed = seen.confirm(capture, [0, 700])  # the record at 1400 was never read (a cut-off WARC)
        assert (confirmed.pages, confirmed.unread) == (2, 1)
        assert seen.pending_count(capture) == 0
        page = seen.lookup("https://mfa.example/a?utm_source=x")  # by an alias
        assert page is not None and (page.canonical_url, page.first_run_id) == ("https://mfa.example/a", "run-1")
        assert seen.lookup("https://mfa.example/c") is None  # forgotten: fetched again next time
        assert seen.change("https://mfa.example/b", "hash-b", "run-2") is Change.UNCHANGED
        assert seen.change("https://mfa.example/b", "hash-b2", "run-2") is Change.CHANGED


def test_feed_validators_are_stored_only_after_a_whole_capture_is_confirmed(state_settings: Settings) -> None:
    feed = "https://mfa.example/feed.xml"
    whole, cut = "s3://captures/run/whole.warc.gz", "s3://captures/run/cut.warc.gz"
    with open_state(state_settings).seen() as seen:
        seen.stage_validators(cut, feed, Validators(etag='"v1"', last_modified=None))
        seen.stage(cut, 0, "https://mfa.example/x", [], "hx", "run-1", "mfa")
        assert seen.validators(feed) is None
        assert seen.confirm(cut, []).validators == 0  # its page was not read: a 304 must not hide it
        assert seen.validators(feed) is None
        seen.stage_validators(whole, feed, Validators(etag='"v2"', last_modified="Mon, 15 Jan 2024 10:00:00 GMT"))
        seen.stage(whole, 0, "https://mfa.example/x", [], "hx", "run-2", "mfa")
        assert seen.validators(feed) is None
        assert seen.confirm(whole, [0]).validators == 1
        assert seen.validators(feed) == Validators(etag='"v2"', last_modified="Mon, 15 Jan 2024 10:00:00 GMT")


# -- out of scope, dead letters ------------------------------------------------------------------


def test_out_of_scope_rows_are_replaced_per_capture(state_settings: Settings) -> None:
    from pipeline.gate import HeldPage

    store = open_state(state_settings).out_of_scope()
    capture = "s3://captures/run/gate.warc.gz"
    store.replace(capture, [HeldPage(capture, 0, "https://x.example/sport", "x", 1.5),
                            HeldPage(capture, 3_000_000_000, "https://x.example/markets", "x", 2.0)])
    assert store.captures(["x"]) == {capture: 2}
    store.replace(capture, [HeldPage(capture, 0, "https://x.example/sport", "x", 1.5)])  # after a wider scope
    assert [(p.warc_offset, p.url) for p in store.held(capture)] == [(0, "https://x.example/sport")]


def _letter(article_id: str, failed_at: str) -> dict[str, object]:
    return {"article_id": article_id, "url": f"https://x.example/{article_id}", "index": "articles-v1",
            "status": None, "error_type": "engine_unreachable", "reason": "engine unreachable: refused",
            "failed_at": failed_at, "document": {"id": article_id, "url": f"https://x.example/{article_id}"}}


def test_dead_letters_are_stored_listed_and_removed_as_read(state_settings: Settings) -> None:
    store = open_state(state_settings).deadletters()
    store.append([_letter("a1", "2024-01-15T10:00:00Z"), _letter("b2", "2024-01-15T11:00:00Z")])
    snapshot = store.snapshot()
    store.append([_letter("c3", "2024-01-15T12:00:00Z")])  # after the snapshot: never touched by it
    read = list(store.letters(snapshot))
    assert [s.letter["article_id"] for s in read if s.letter] == ["a1", "b2"]
    assert store.count() == 3

    listing = list_deadletters(None, state_settings)  # the engine is down: the shared store alone
    assert (listing.in_file, listing.file) == (3, store.where)
    assert listing.by_reason == {"engine_unreachable": {"index": 0, "file": 3}}
    assert [entry["article_id"] for entry in listing.latest] == ["c3", "b2", "a1"]

    removed, _ = store.remove(snapshot, {s.key for s in read})
    assert removed == 2
    assert [s.letter["article_id"] for s in store.letters(store.snapshot()) if s.letter] == ["c3"]


# -- politeness across workers -------------------------------------------------------------------


@dataclasses.dataclass
class _Requests:
    """What the loopback publisher saw: each request's start and end, and the most at once."""

    spans: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    active: int = 0
    most: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def page(self, hit: Hit) -> Reply:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.05)  # long enough that unpoliced requests would overlap
        with self.lock:
            self.active -= 1
            self.spans.append((hit.at, time.monotonic()))  # the newsroom's clock
        return Reply(body=article("Readout", "The ministers spoke for an hour about the border talks.").encode())

    def gaps(self) -> list[float]:
        starts = sorted(start for start, _ in self.spans)
        return [b - a for a, b in zip(starts, starts[1:], strict=False)]


CRAWL_DELAY = 0.3


def _polite_settings(settings: Settings) -> Settings:
    fetch = dataclasses.replace(settings.fetch, allow_networks=("127.0.0.0/8",), per_host_delay=0.0,
                                per_host_concurrency=1, global_concurrency=4, total_timeout=5.0, max_retries=0)
    return dataclasses.replace(settings, fetch=fetch)


def _fetch_pages(settings: Settings, urls: list[str], run_id: str, out: Path) -> dict[str, int]:
    from pipeline.fetch import run_fetch
    from pipeline.sources import Source, SourceKind

    source = Source(id=f"mfa-{run_id}", name="Ministry", kind=SourceKind.URLS, urls=tuple(urls))
    return run_fetch(settings, [source], None, run_id, out, show_progress=False).report.counts_by_outcome()


def _fetch_in_process(settings: Settings, urls: list[str], run_id: str, out: str,
                      results: multiprocessing.Queue[dict[str, int]]) -> None:
    results.put(_fetch_pages(settings, urls, run_id, Path(out)))


@pytest.mark.slow
def test_two_processes_fetching_one_host_share_its_concurrency_and_crawl_delay(
    shared_settings: Settings, tmp_path: Path
) -> None:
    """The real crawler in two processes, the host's limits in the shared store: never two requests at
    once (concurrency 1), and request starts at least robots.txt's Crawl-delay apart, across both."""
    settings = _polite_settings(shared_settings)
    seen = _Requests()
    with Newsroom() as room:
        room.route("/robots.txt", Reply(body=f"User-agent: *\nCrawl-delay: {CRAWL_DELAY}\n".encode(),
                                        content_type="text/plain"))
        urls = [room.route(f"/readout/{i}", seen.page) for i in range(10)]
        ctx = multiprocessing.get_context("spawn")
        results: multiprocessing.Queue[dict[str, int]] = ctx.Queue()
        workers = [ctx.Process(target=_fetch_in_process,
                               args=(settings, urls[i::2], f"host{i}", str(tmp_path / f"host{i}"), results))
                   for i in range(2)]
        for w in workers:
            w.start()
        outcomes = [results.get(timeout=120) for _ in workers]
        for w in workers:
            w.join(timeout=30)
    assert outcomes == [{"ok": 5}, {"ok": 5}]
    assert seen.most == 1, seen.spans
    spans = sorted(seen.spans)
    assert all(a_end <= b_start + 0.01 for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
    assert min(seen.gaps()) >= CRAWL_DELAY - 0.05, seen.gaps()  # starts reserved 0.3 s apart; a little jitter


def test_threads_sharing_a_gate_keep_the_host_limits(state_settings: Settings) -> None:
    """One process's threads: in memory on one machine, through the store's leases when it is shared."""
    state = open_state(state_settings)
    leases = state.host_leases()
    assert (leases is None) == (state_settings.state_url is None)
    gate = HostGate(delay=0.2, concurrency=1, leases=leases)
    starts: list[float] = []
    active = [0, 0]
    lock = threading.Lock()

    def request() -> None:
        with gate.slot("mfa.example"):
            with lock:
                starts.append(time.monotonic())
                active[0] += 1
                active[1] = max(active[1], active[0])
            time.sleep(0.03)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    if leases is not None:
        leases.close()
    starts.sort()
    assert active[1] == 1
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= 0.19


@pytest.mark.slow
def test_a_retry_after_defers_every_worker(shared_settings: Settings) -> None:
    first, second = open_state(shared_settings).host_leases(), open_state(shared_settings).host_leases()
    assert first is not None and second is not None
    try:
        first.release("mfa.example", first.acquire("mfa.example", 0.0, 2))
        first.defer("mfa.example", 0.5)  # the host said Retry-After to the first worker
        started = time.monotonic()
        second.release("mfa.example", second.acquire("mfa.example", 0.0, 2))
        assert time.monotonic() - started >= 0.45
    finally:
        first.close()
        second.close()


# -- setup errors --------------------------------------------------------------------------------


def test_an_unreachable_state_store_stops_the_run_naming_it(settings: Settings, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://ops:s3cret@127.0.0.1:{port}/chancery"
    with pytest.raises(StateUnavailable) as refused:
        open_state(dataclasses.replace(settings, state_url=url))
    message = str(refused.value)
    assert f"postgresql://ops:***@127.0.0.1:{port}/chancery" in message and "s3cret" not in message

    monkeypatch.setenv("CHANCERY_STATE_URL", url)
    monkeypatch.setenv("CHANCERY_HOME", str(tmp_path / "home"))
    assert main(["captures", "list"]) == 3
    err = capsys.readouterr().err
    assert "cannot use the state store" in err and "s3cret" not in err


@pytest.mark.slow
@pytest.mark.engine
def test_dead_letters_of_an_outage_are_replayed_from_the_shared_store(es_settings: Settings,
                                                                       postgres_state_url: str) -> None:
    """The engine went away mid-batch on some host: its letters are in the shared store, and a retry
    (on any host, the engine back) indexes them and removes them there."""
    from datetime import UTC, datetime

    from pipeline.index.bulk import DeadLetter, DeadLetterWriter, IndexReport, article_document
    from pipeline.index.client import connect
    from pipeline.index.deadletters import retry_deadletters
    from pipeline.index.mapping import IndexNames
    from pipeline.models import Article, SourceRef, format_datetime

    settings = dataclasses.replace(es_settings, state_url=postgres_state_url)
    docs = [Article.new(f"https://mfa.example/press/{i}", source=SourceRef(domain="mfa.example", id="mfa"),
                        title=f"Statement {i} on the border talks", language="en").with_text(
                            "The ministers of both countries met in Geneva and agreed to resume the talks.")
            for i in range(3)]
    es = connect(settings)
    try:
        names = IndexNames(settings.elasticsearch.index_prefix)
        report = IndexReport(index=names.write_alias)
        writer = DeadLetterWriter(es, settings, names, report)
        writer.to_file_only = True  # what bulk does once the engine is unreachable
        for doc in docs:
            writer.add(DeadLetter(doc.id, doc.url, names.write_alias, None, "engine_unreachable",
                                  "engine unreachable: connection refused", format_datetime(datetime.now(UTC)),
                                  article_document(doc)))
        writer.flush()
        store = open_state(settings).deadletters()
        assert (report.deadlettered_to_file, report.deadletter_file) == (3, store.where)
        assert "table deadletters" in store.where and store.count() == 3

        assert list_deadletters(es, settings).in_file == 3
        replay = retry_deadletters(es, settings)
        assert replay.ok and replay.by_reason["engine_unreachable"].replayed == 3
        assert replay.removed_from_file == 3 and store.count() == 0
        es.indices.refresh(index=names.read_alias)
        assert es.count(index=names.read_alias)["count"] == 3
    finally:
        es.close()
