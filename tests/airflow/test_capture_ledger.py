"""The capture ledger: pending → claimed → done, failures, re-queueing, and concurrent drains."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
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


_HOLDER = """
import sys, time
from pathlib import Path
from pipeline.orchestrate.ledger import CaptureLedger
ledger = CaptureLedger(Path(sys.argv[1]))
if sys.argv[2] == "writing":
    ledger.record_writing(sys.argv[3], run_id="r", worker="killed-writer")
else:
    ledger.claim("killed-drainer")
print("holding", flush=True)
time.sleep(120)
"""


def _hold_then_die(ledger: CaptureLedger, how: str, path: Path) -> int:
    """A real process takes the capture (writing it, or claimed) and is killed -9 while it holds it."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(ledger.path), how, str(path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    (held,) = ledger.get_many([str(path.resolve())])
    assert held.claimed_pid == holder.pid and held.status.value == ("writing" if how == "writing" else "claimed")
    assert ledger.claim("w2") == []  # its holder runs: not abandoned
    holder.kill()
    holder.wait(timeout=10)
    holder.stdout.close()
    return holder.pid


def test_a_capture_held_by_a_killed_process_is_claimable_at_once(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, lease_seconds=3600.0)  # far from expiring: the dead pid is what frees it
    claimed = tmp_path / "claimed.warc.gz"
    ledger.record([claimed], run_id="r")
    _hold_then_die(ledger, "claimed", claimed)
    (again,) = ledger.claim("w2")
    assert (again.path, again.claimed_by, again.attempts) == (str(claimed.resolve()), "w2", 2)
    assert ledger.mark_done(again.path, "w2", {"indexed": 1})

    written = tmp_path / "written.warc.gz"  # a WARC whose writer died mid-file
    _hold_then_die(ledger, "writing", written)
    (taken,) = ledger.claim("w3")
    assert taken.path == str(written.resolve()) and taken.claimed_by == "w3"


def test_a_live_writer_keeps_its_capture_past_the_lease(tmp_path: Path) -> None:
    now = [1000.0]
    ledger = _ledger(tmp_path, lease_seconds=60.0, clock=lambda: now[0])
    path = tmp_path / "big-run.warc.gz"
    ledger.record_writing(path, run_id="r", worker="writer")  # this test's own process writes it
    now[0] += 3600
    assert ledger.claim("drainer") == []  # reading a WARC still being written would process part of it
    assert ledger.mark_pending(status=CaptureStatus.WRITING) == 0  # nor can an operator re-queue it
    mine = ledger.claim_written(path, "writer")
    assert (mine.status, mine.claimed_by, mine.attempts) == (CaptureStatus.CLAIMED, "writer", 1)


def test_release_never_uses_an_attempt(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.record([tmp_path / "c.warc.gz"], run_id="r")
    for _ in range(MAX_ATTEMPTS + 2):  # an engine outage, again and again
        (c,) = ledger.claim("w")
        assert ledger.release(c.path, "w", "EngineUnavailable: refused")
    (back,) = ledger.list()
    assert (back.status, back.attempts, back.error) == (CaptureStatus.PENDING, 0, "EngineUnavailable: refused")
    assert not ledger.release(back.path, "w", "not held")  # only the holder releases


def test_a_capture_abandoned_again_and_again_is_parked(tmp_path: Path) -> None:
    now = [1000.0]
    ledger = _ledger(tmp_path, lease_seconds=60.0, clock=lambda: now[0])
    ledger.record([tmp_path / "poison.warc.gz"], run_id="r")
    for i in range(MAX_ATTEMPTS):
        assert ledger.claim(f"w{i}")  # each worker dies on it (its lease runs out)
        now[0] += 61
    assert ledger.claim("last") == []
    (parked,) = ledger.list(status=CaptureStatus.FAILED)
    assert parked.error.startswith(f"abandoned {MAX_ATTEMPTS} times")


def test_a_ledger_from_before_the_holder_columns_opens_and_works(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE captures (path TEXT PRIMARY KEY, status TEXT NOT NULL, run_id TEXT NOT NULL DEFAULT '',"
            " dag_id TEXT NOT NULL DEFAULT '', sources TEXT NOT NULL DEFAULT '[]', recorded_at REAL NOT NULL,"
            " claimed_by TEXT, claimed_at REAL, done_at REAL, attempts INTEGER NOT NULL DEFAULT 0,"
            " counts TEXT NOT NULL DEFAULT '{}', error TEXT NOT NULL DEFAULT '');"
            "INSERT INTO captures (path, status, recorded_at) VALUES ('/old/a.warc.gz', 'pending', 1.0);"
        )
    ledger = CaptureLedger(path)
    (c,) = ledger.claim("w")
    assert c.path == "/old/a.warc.gz" and c.claimed_host
