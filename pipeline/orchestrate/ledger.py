"""The capture ledger: every WARC a fetching run closes, and whether its articles are indexed yet.

Asset events only wake ``process_captures`` up; they are not its work list (a burst of
events can start fewer runs than events, see docs/airflow.md). The ledger is the work
list: a capture is recorded ``pending`` when its WARC is closed, ``claimed`` by exactly
one processing run at a time, then ``done`` with its counts (or back to ``pending`` with
the error after a failure, ``failed`` once it has used up its attempts).

The claim is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock), so two
``process_captures`` runs draining at once never process the same capture; a claim
older than the lease is taken as abandoned (a killed worker) and can be claimed again.
Plain sqlite3, no Airflow: the CLI, the tests and the DAG tasks share it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pipeline.logs import get_logger, log_event

log = get_logger("orchestrate.ledger")

MAX_ATTEMPTS = 3  # a capture that failed this many times is parked as `failed` until marked pending
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


class CaptureStatus(str, Enum):
    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"


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
            "done_at": self.done_at,
            "attempts": self.attempts,
            "counts": dict(self.counts),
            "error": self.error,
        }


class CaptureLedger:
    """SQLite-backed ledger at ``path`` (``settings.ledger_db``); every method is one short transaction."""

    def __init__(self, path: Path, lease_seconds: float = 3600.0, clock: Any = time.time) -> None:
        self.path = Path(path)
        self.lease_seconds = lease_seconds
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)) as db:
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the one writer
            db.executescript(_SCHEMA)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock from its first statement."""
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as db:
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
        rows = [(str(Path(p).resolve()), run_id, dag_id, json.dumps(list(sources)), now) for p in paths]
        with self._write() as db:
            db.executemany(
                "INSERT INTO captures (path, status, run_id, dag_id, sources, recorded_at)"
                " VALUES (?, 'pending', ?, ?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET status='pending', run_id=excluded.run_id,"
                " dag_id=excluded.dag_id, sources=excluded.sources, recorded_at=excluded.recorded_at,"
                " claimed_by=NULL, claimed_at=NULL, attempts=0, error=''",
                rows,
            )
        for row in rows:
            log_event(log, "capture_recorded", path=row[0], run_id=run_id, dag_id=dag_id)
        return len(rows)

    def claim(self, worker: str, limit: int = 1) -> list[Capture]:
        """Atomically take up to ``limit`` pending (or abandoned) captures for ``worker``, oldest first."""
        now = self._clock()
        stale = now - self.lease_seconds
        with self._write() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT path FROM captures WHERE status='pending' OR (status='claimed' AND claimed_at < ?)"
                " ORDER BY recorded_at, path LIMIT ?",
                (stale, limit),
            ).fetchall()
            paths = [row["path"] for row in rows]
            db.executemany(
                "UPDATE captures SET status='claimed', claimed_by=?, claimed_at=?, attempts=attempts+1"
                " WHERE path=?",
                [(worker, now, p) for p in paths],
            )
        claimed = [c for p in paths for c in self.get_many([p])]
        for c in claimed:
            log_event(log, "capture_claimed", path=c.path, worker=worker, attempt=c.attempts)
        return claimed

    def mark_done(self, path: str, worker: str, counts: dict[str, int]) -> bool:
        """Done with its counts, if ``worker`` still holds the claim (False: the claim was lost)."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE captures SET status='done', done_at=?, counts=?, error='', claimed_by=NULL,"
                " claimed_at=NULL WHERE path=? AND status='claimed' AND claimed_by=?",
                (self._clock(), json.dumps(counts, sort_keys=True), path, worker),
            )
            ok = cur.rowcount == 1
        log_event(log, "capture_done" if ok else "capture_claim_lost", path=path, worker=worker, **counts)
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
                "UPDATE captures SET status=?, error=?, claimed_by=NULL, claimed_at=NULL WHERE path=?",
                (status.value, error[:2000], path),
            )
        log_event(log, "capture_failed", path=path, worker=worker, status=status.value, error=error[:200])
        return status

    def mark_pending(
        self, paths: Sequence[str] = (), status: CaptureStatus | None = None, run_id: str | None = None
    ) -> int:
        """Re-queue captures (e.g. after an enrichment upgrade): by path, by status, by run, or all."""
        where, args = ["status != 'claimed'"], list[Any]()
        if paths:
            where.append(f"path IN ({','.join('?' * len(paths))})")
            args.extend(str(Path(p).resolve()) for p in paths)
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
        done_at=row["done_at"],
        attempts=row["attempts"],
        counts=json.loads(row["counts"]),
        error=row["error"],
    )
