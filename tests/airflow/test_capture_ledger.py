"""The capture ledger: pending → claimed → done, failures, re-queueing, and concurrent drains."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from pipeline.orchestrate.ledger import MAX_ATTEMPTS, CaptureLedger, CaptureStatus


def _ledger(tmp_path: Path, **kw: object) -> CaptureLedger:
    return CaptureLedger(tmp_path / "ledger.sqlite3", **kw)  # type: ignore[arg-type]


def test_record_claim_done(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    paths = [tmp_path / f"c{i}.warc.gz" for i in range(3)]
    assert ledger.record(paths, run_id="r1", dag_id="nightly_ingest", sources=["s"]) == 3
    claimed = ledger.claim("w1", limit=2)
    assert [c.path for c in claimed] == [str(p.resolve()) for p in paths[:2]]
    assert all(c.status is CaptureStatus.CLAIMED and c.claimed_by == "w1" for c in claimed)
    assert ledger.claim("w2", limit=5)[0].path == str(paths[2].resolve())
    assert ledger.claim("w3") == []
    assert ledger.mark_done(claimed[0].path, "w1", {"indexed": 2})
    assert not ledger.mark_done(claimed[1].path, "w2", {"indexed": 1})  # not w2's claim
    done = ledger.list(status=CaptureStatus.DONE)
    assert [(c.path, c.counts) for c in done] == [(claimed[0].path, {"indexed": 2})]
    assert ledger.counts() == {"done": 1, "claimed": 2}


def test_rerun_records_pending_again(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    path = tmp_path / "c.warc.gz"
    ledger.record([path], run_id="r1")
    (c,) = ledger.claim("w")
    ledger.mark_done(c.path, "w", {})
    ledger.record([path], run_id="r2")  # the same WARC rewritten by a rerun
    (again,) = ledger.list()
    assert again.status is CaptureStatus.PENDING and again.run_id == "r2" and again.attempts == 0


def test_failures_retry_then_park(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.record([tmp_path / "bad.warc.gz"], run_id="r")
    statuses = []
    for _ in range(MAX_ATTEMPTS):
        (c,) = ledger.claim("w")
        statuses.append(ledger.mark_failed(c.path, "w", "ParseError: truncated"))
    assert statuses == [CaptureStatus.PENDING] * (MAX_ATTEMPTS - 1) + [CaptureStatus.FAILED]
    assert ledger.claim("w") == []
    (parked,) = ledger.list(status=CaptureStatus.FAILED)
    assert parked.error == "ParseError: truncated"
    assert ledger.mark_pending(status=CaptureStatus.FAILED) == 1
    assert ledger.claim("w")[0].attempts == 1


def test_abandoned_claim_is_claimable_after_the_lease(tmp_path: Path) -> None:
    now = [1000.0]
    ledger = _ledger(tmp_path, lease_seconds=60.0, clock=lambda: now[0])
    ledger.record([tmp_path / "c.warc.gz"], run_id="r")
    assert ledger.claim("killed-worker")
    now[0] += 30
    assert ledger.claim("w2") == []
    now[0] += 31
    (c,) = ledger.claim("w2")
    assert c.claimed_by == "w2"
    assert not ledger.mark_done(c.path, "killed-worker", {})  # the old claim is gone
    assert ledger.mark_done(c.path, "w2", {"indexed": 1})


def test_mark_pending_filters(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.record([tmp_path / "a.warc.gz"], run_id="r1")
    ledger.record([tmp_path / "b.warc.gz"], run_id="r2")
    for c in ledger.claim("w", limit=2):
        ledger.mark_done(c.path, "w", {})
    assert ledger.mark_pending(run_id="r2") == 1
    assert [c.run_id for c in ledger.list(status=CaptureStatus.PENDING)] == ["r2"]
    assert ledger.mark_pending([str(tmp_path / "a.warc.gz")]) == 1
    assert ledger.counts() == {"pending": 2}


def _drain(db: str, worker: str, out: multiprocessing.Queue[list[str]]) -> None:
    ledger = CaptureLedger(Path(db))
    mine = []
    while claimed := ledger.claim(worker):
        ledger.mark_done(claimed[0].path, worker, {"indexed": 1})
        mine.append(claimed[0].path)
    out.put(mine)


def test_two_drains_at_once_process_each_capture_exactly_once(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    paths = [tmp_path / f"c{i:03d}.warc.gz" for i in range(200)]
    ledger.record(paths, run_id="burst")
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[list[str]] = ctx.Queue()
    workers = [ctx.Process(target=_drain, args=(str(ledger.path), f"w{i}", out)) for i in range(3)]
    for w in workers:
        w.start()
    results = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    processed = [p for r in results for p in r]
    assert sorted(processed) == sorted(str(p.resolve()) for p in paths)  # all, none twice
    assert ledger.counts() == {"done": 200}
