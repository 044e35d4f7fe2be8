"""The capture ledger: every WARC a fetching run writes, and whether its articles are indexed yet.

Asset events only wake ``process_captures`` up; they are not its work list (a burst of
events can start fewer runs than events, see docs/airflow.md). The ledger is the work
list, shared by the DAGs and the CLI (``chancery ingest --sources``, ``chancery captures drain``):

    writing ──> pending ──> claimed ──> done
       │                       │  └──> pending (released: engine away, run stopped; no attempt used)
       └─> claimed (the writer  └────> pending with the error, or failed after MAX_ATTEMPTS
           processes it itself)

A capture is recorded ``writing`` *before* its WARC is opened, held by the writing process,
so a writer that dies mid-file leaves a known capture, not an orphan file. It becomes
``pending`` when the WARC is closed (or ``claimed`` by the writer itself, which processes it),
``claimed`` by exactly one processing run at a time, and ``done`` only when every article in it
ended indexed, dead-lettered or in a named non-article outcome.

The claim is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock), so two drains at
once never take the same capture. A ``claimed`` or ``writing`` capture is *abandoned*, and
can be claimed again, when its holder's process is gone (same host: its pid no longer
runs) or, for a claim, when the claim is older than the lease (another host, or a hung
worker). A capture abandoned MAX_ATTEMPTS times is parked as ``failed``.
Plain sqlite3, no Airflow: the CLI, the tests and the DAG tasks share it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pipeline.fetch.seen import capture_key
from pipeline.logs import get_logger, log_event
from pipeline.statefiles import private_database

log = get_logger("orchestrate.ledger")

MAX_ATTEMPTS = 3  # a capture that failed (or was abandoned) this many times is parked as `failed`
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another's lock before SQLite gives up

_SCHEMA = """
CREATE TABLE IF NOT EXISTS captures (
    path        TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    run_id      TEXT NOT NULL DEFAULT '',
    dag_id      TEXT NOT NULL DEFAULT '',
    sources     TEXT NOT NULL DEFAULT '[]',
    recorded_at REAL NOT NULL,
    claimed_by  TEXT,
    claimed_at  REAL,
    done_at     REAL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    counts      TEXT NOT NULL DEFAULT '{}',
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS captures_status ON captures (status, recorded_at);
"""
# Columns added after the first release; a ledger written before gets them on open.
_ADDED_COLUMNS = {"claimed_host": "TEXT", "claimed_pid": "INTEGER"}


class CaptureStatus(str, Enum):
    WRITING = "writing"
    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"


_HELD = (CaptureStatus.WRITING.value, CaptureStatus.CLAIMED.value)


@dataclass(frozen=True)
class Capture:
    path: str
    status: CaptureStatus
    run_id: str = ""
    dag_id: str = ""
    sources: tuple[str, ...] = ()
    recorded_at: float = 0.0
    claimed_by: str | None = None
    claimed_at: float | None = None
    claimed_host: str | None = None
    claimed_pid: int | None = None
    done_at: float | None = None
    attempts: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status.value,
            "run_id": self.run_id,
            "dag_id": self.dag_id,
            "sources": list(self.sources),
            "recorded_at": self.recorded_at,
            "claimed_by": self.claimed_by,
            "claimed_at": self.claimed_at,
            "claimed_host": self.claimed_host,
            "claimed_pid": self.claimed_pid,
            "done_at": self.done_at,
            "attempts": self.attempts,
            "counts": dict(self.counts),
            "error": self.error,
        }


def process_running(pid: int) -> bool:
    """Whether a process of this host still runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux), or it ended just now: kill(0) said it ran
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


class CaptureLedger:
    """SQLite-backed ledger at ``path`` (``settings.ledger_db``); every method is one short transaction."""

    def __init__(self, path: Path, lease_seconds: float = 3600.0, clock: Any = time.time) -> None:
        self.path = Path(path)
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._host = socket.gethostname()
        with closing(sqlite3.connect(private_database(self.path), timeout=BUSY_TIMEOUT_S)) as db:  # 0600
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the one writer
            db.executescript(_SCHEMA)
            present = {row[1] for row in db.execute("PRAGMA table_info(captures)")}
            for column, kind in _ADDED_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE captures ADD COLUMN {column} {kind}")
            db.commit()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock from its first statement."""
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as db:
            db.row_factory = sqlite3.Row
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Capture]:
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)) as db:
            db.row_factory = sqlite3.Row
            return [_capture(row) for row in db.execute(sql, args)]

    def record(self, paths: Iterable[Path | str], run_id: str, dag_id: str = "", sources: Sequence[str] = ()) -> int:
        """Record closed WARCs as pending; a path seen before (a rerun rewrote it) is pending again."""
        now = self._clock()
        rows = [(capture_key(p), run_id, dag_id, json.dumps(list(sources)), now) for p in paths]
        with self._write() as db:
            db.executemany(
                "INSERT INTO captures (path, status, run_id, dag_id, sources, recorded_at)"
                " VALUES (?, 'pending', ?, ?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET status='pending', run_id=excluded.run_id,"
                " dag_id=excluded.dag_id, sources=excluded.sources, recorded_at=excluded.recorded_at,"
                " claimed_by=NULL, claimed_at=NULL, claimed_host=NULL, claimed_pid=NULL, attempts=0, error=''",
                rows,
            )
        for row in rows:
            log_event(log, "capture_recorded", path=row[0], run_id=run_id, dag_id=dag_id)
        return len(rows)

    def record_writing(
        self, path: Path | str, run_id: str, worker: str, dag_id: str = "", sources: Sequence[str] = ()
    ) -> None:
        """Before the WARC is opened: ``worker`` (this process) is writing it; a rerun's rewrite starts over."""
        now = self._clock()
        with self._write() as db:
            db.execute(
                "INSERT INTO captures (path, status, run_id, dag_id, sources, recorded_at, claimed_by, claimed_at,"
                " claimed_host, claimed_pid) VALUES (?, 'writing', ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET status='writing', run_id=excluded.run_id, dag_id=excluded.dag_id,"
                " sources=excluded.sources, recorded_at=excluded.recorded_at, claimed_by=excluded.claimed_by,"
                " claimed_at=excluded.claimed_at, claimed_host=excluded.claimed_host,"
                " claimed_pid=excluded.claimed_pid, attempts=0, counts='{}', error='', done_at=NULL",
                (capture_key(path), run_id, dag_id, json.dumps(list(sources)), now, worker, now, self._host,
                 os.getpid()),
            )
        log_event(log, "capture_writing", path=capture_key(path), run_id=run_id, worker=worker)

    def claim_written(self, path: Path | str, worker: str) -> Capture:
        """The writer closed the WARC and processes it itself: claimed by ``worker``, whatever happened meanwhile.

        The writer always wins: a drain that took the capture while it was being written
        (past the lease, from another host) read only part of it, so the whole file is processed again.
        """
        key = capture_key(path)
        with self._write() as db:
            db.execute(
                "UPDATE captures SET status='claimed', claimed_by=?, claimed_at=?, claimed_host=?, claimed_pid=?,"
                " attempts=attempts+1, done_at=NULL WHERE path=?",
                (worker, self._clock(), self._host, os.getpid(), key),
            )
        (capture,) = self.get_many([key])
        log_event(log, "capture_claimed", path=key, worker=worker, attempt=capture.attempts)
        return capture

    def discard(self, path: Path | str, worker: str) -> bool:
        """The writer wrote no file after all (its run failed before opening it): forget the capture."""
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM captures WHERE path=? AND status='writing' AND claimed_by=?", (capture_key(path), worker)
            )
        return cur.rowcount == 1

    def claim(self, worker: str, limit: int = 1) -> list[Capture]:
        """Atomically take up to ``limit`` pending (or abandoned) captures for ``worker``, oldest first."""
        now = self._clock()
        with self._write() as db:
            rows = db.execute(
                "SELECT * FROM captures WHERE status IN ('pending', 'writing', 'claimed')"
                " ORDER BY recorded_at, path"
            ).fetchall()
            paths: list[str] = []
            for row in rows:
                if len(paths) >= limit:
                    break
                if row["status"] != CaptureStatus.PENDING.value:
                    if not self._abandoned(row, now):
                        continue
                    if row["attempts"] >= MAX_ATTEMPTS:
                        error = f"abandoned {row['attempts']} times (last by {row['claimed_by']}): parked"
                        db.execute(
                            "UPDATE captures SET status='failed', error=?, claimed_by=NULL, claimed_at=NULL,"
                            " claimed_host=NULL, claimed_pid=NULL WHERE path=?",
                            (error, row["path"]),
                        )
                        log_event(log, "capture_failed", path=row["path"], status="failed", error=error)
                        continue
                    log_event(log, "capture_abandoned", path=row["path"], status=row["status"],
                              holder=row["claimed_by"], pid=row["claimed_pid"], host=row["claimed_host"])
                paths.append(row["path"])
            db.executemany(
                "UPDATE captures SET status='claimed', claimed_by=?, claimed_at=?, claimed_host=?, claimed_pid=?,"
                " attempts=attempts+1 WHERE path=?",
                [(worker, now, self._host, os.getpid(), p) for p in paths],
            )
        claimed = self.get_many(paths)
        for c in claimed:
            log_event(log, "capture_claimed", path=c.path, worker=worker, attempt=c.attempts)
        return claimed

    def _abandoned(self, row: sqlite3.Row, now: float) -> bool:
        """A held capture whose holder is gone: its process died (this host), or its claim outlived the lease.

        A capture being written by a live process of this host is never taken, whatever its age:
        reading a WARC still being written would process only part of it.
        """
        if row["claimed_host"] == self._host and row["claimed_pid"] is not None:
            if not process_running(int(row["claimed_pid"])):
                return True
            if row["status"] == CaptureStatus.WRITING.value:
                return False
        return bool((row["claimed_at"] or 0.0) < now - self.lease_seconds)

    def mark_done(self, path: str, worker: str, counts: dict[str, int]) -> bool:
        """Done with its counts, if ``worker`` still holds the claim (False: the claim was lost)."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE captures SET status='done', done_at=?, counts=?, error='', claimed_by=NULL,"
                " claimed_at=NULL, claimed_host=NULL, claimed_pid=NULL"
                " WHERE path=? AND status='claimed' AND claimed_by=?",
                (self._clock(), json.dumps(counts, sort_keys=True), path, worker),
            )
            ok = cur.rowcount == 1
        log_event(log, "capture_done" if ok else "capture_claim_lost", path=path, worker=worker, **counts)
        return ok

    def release(self, path: str, worker: str, reason: str) -> bool:
        """Back to pending with the reason, the attempt not counted: the engine was away, or the run was stopped.

        Nothing about the capture itself failed, so an outage never parks a capture as failed.
        False when ``worker`` no longer held it.
        """
        with self._write() as db:
            cur = db.execute(
                "UPDATE captures SET status='pending', error=?, attempts=MAX(0, attempts-1), claimed_by=NULL,"
                " claimed_at=NULL, claimed_host=NULL, claimed_pid=NULL"
                " WHERE path=? AND status IN ('claimed', 'writing') AND claimed_by=?",
                (reason[:2000], path, worker),
            )
            ok = cur.rowcount == 1
        log_event(log, "capture_released" if ok else "capture_claim_lost", path=path, worker=worker,
                  reason=reason[:200])
        return ok

    def mark_failed(self, path: str, worker: str, error: str) -> CaptureStatus | None:
        """Back to pending with the error, or failed after MAX_ATTEMPTS; None when the claim was lost."""
        with self._write() as db:
            row = db.execute(
                "SELECT attempts FROM captures WHERE path=? AND status='claimed' AND claimed_by=?", (path, worker)
            ).fetchone()
            if row is None:
                return None
            status = CaptureStatus.FAILED if row[0] >= MAX_ATTEMPTS else CaptureStatus.PENDING
            db.execute(
                "UPDATE captures SET status=?, error=?, claimed_by=NULL, claimed_at=NULL, claimed_host=NULL,"
                " claimed_pid=NULL WHERE path=?",
                (status.value, error[:2000], path),
            )
        log_event(log, "capture_failed", path=path, worker=worker, status=status.value, error=error[:200])
        return status

    def mark_pending(
        self, paths: Sequence[str] = (), status: CaptureStatus | None = None, run_id: str | None = None
    ) -> int:
        """Re-queue captures (e.g. after an enrichment upgrade): by path, by status, by run, or all.

        Captures being written or processed are left to their holder.
        """
        where, args = [f"status NOT IN ({', '.join(repr(s) for s in _HELD)})"], list[Any]()
        if paths:
            where.append(f"path IN ({','.join('?' * len(paths))})")
            args.extend(capture_key(p) for p in paths)
        if status is not None:
            where.append("status=?")
            args.append(status.value)
        if run_id is not None:
            where.append("run_id=?")
            args.append(run_id)
        with self._write() as db:
            cur = db.execute(
                "UPDATE captures SET status='pending', attempts=0, error='', recorded_at=?"
                f" WHERE {' AND '.join(where)}",
                [self._clock(), *args],
            )
            changed = cur.rowcount
        log_event(log, "captures_marked_pending", count=changed)
        return int(changed)

    def get_many(self, paths: Sequence[str]) -> list[Capture]:
        if not paths:
            return []
        marks = ",".join("?" * len(paths))
        return self._read(f"SELECT * FROM captures WHERE path IN ({marks}) ORDER BY recorded_at, path", paths)

    def list(self, status: CaptureStatus | None = None, run_id: str | None = None, limit: int = 1000) -> list[Capture]:
        where, args = ["1=1"], list[Any]()
        if status is not None:
            where.append("status=?")
            args.append(status.value)
        if run_id is not None:
            where.append("run_id=?")
            args.append(run_id)
        return self._read(
            f"SELECT * FROM captures WHERE {' AND '.join(where)} ORDER BY recorded_at, path LIMIT ?", [*args, limit]
        )

    def counts(self) -> dict[str, int]:
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)) as db:
            return {status: n for status, n in db.execute("SELECT status, COUNT(*) FROM captures GROUP BY status")}


def _capture(row: sqlite3.Row) -> Capture:
    return Capture(
        path=row["path"],
        status=CaptureStatus(row["status"]),
        run_id=row["run_id"],
        dag_id=row["dag_id"],
        sources=tuple(json.loads(row["sources"])),
        recorded_at=row["recorded_at"],
        claimed_by=row["claimed_by"],
        claimed_at=row["claimed_at"],
        claimed_host=row["claimed_host"],
        claimed_pid=row["claimed_pid"],
        done_at=row["done_at"],
        attempts=row["attempts"],
        counts=json.loads(row["counts"]),
        error=row["error"],
    )
