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

The claim is one transaction, so two drains at once never take the same capture: on SQLite
(one machine) ``BEGIN IMMEDIATE`` holds the file's write lock; on PostgreSQL (several hosts,
``CHANCERY_STATE_URL``) the claimer takes its rows ``FOR UPDATE SKIP LOCKED``, so drains on
other hosts claim other captures meanwhile. Each claim (and each capture being written) carries
its holder (``claimed_by``, host, pid) and a lease expiry (``lease_expires``), which the holder
extends while it works (``renew``). A ``claimed`` or ``writing`` capture is *abandoned*, and can
be claimed again, when its holder's process is gone (same host: its pid no longer runs) or its
lease ran out (another host, a killed or hung worker); the old holder's late ``mark_done`` is then
refused. A capture abandoned MAX_ATTEMPTS times is parked as ``failed``.
No Airflow: the CLI, the tests and the DAG tasks share it (``pipeline.state.open_state(settings).ledger()``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pipeline.fetch.seen import capture_key
from pipeline.logs import get_logger, log_event
from pipeline.state.base import Database, Row, process_running

__all__ = ["MAX_ATTEMPTS", "Capture", "CaptureLedger", "CaptureStatus", "process_running"]

log = get_logger("orchestrate.ledger")

MAX_ATTEMPTS = 3  # a capture that failed (or was abandoned) this many times is parked as `failed`

# A capture's key (``path``) is an opaque string: a local path or an object-store URI. The ledger
# never opens it; whoever processes the capture does.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS captures (
    path        TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    run_id      TEXT NOT NULL DEFAULT '',
    dag_id      TEXT NOT NULL DEFAULT '',
    sources     TEXT NOT NULL DEFAULT '[]',
    recorded_at DOUBLE PRECISION NOT NULL,
    claimed_by  TEXT,
    claimed_at  DOUBLE PRECISION,
    done_at     DOUBLE PRECISION,
    attempts    INTEGER NOT NULL DEFAULT 0,
    counts      TEXT NOT NULL DEFAULT '{}',
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS captures_status ON captures (status, recorded_at)
"""
# Columns added after the first release; a ledger written before gets them on open.
_ADDED_COLUMNS = {"captures": {"claimed_host": "TEXT", "claimed_pid": "INTEGER", "lease_expires": "DOUBLE PRECISION"}}
_NO_HOLDER = "claimed_by=NULL, claimed_at=NULL, claimed_host=NULL, claimed_pid=NULL, lease_expires=NULL"


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
    lease_expires: float | None = None
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
            "lease_expires": self.lease_expires,
            "done_at": self.done_at,
            "attempts": self.attempts,
            "counts": dict(self.counts),
            "error": self.error,
        }


class CaptureLedger:
    """The ledger on a state database (``open_state(settings).ledger()``); every method is one short transaction.

    ``database`` may be a path: the SQLite file there (``settings.ledger_db`` is the home's).
    ``lease_seconds``: how long a claim (or a capture being written) is its holder's without a ``renew``.
    """

    def __init__(self, database: Database | Path, lease_seconds: float = 3600.0, clock: Any = time.time) -> None:
        if isinstance(database, Path):
            from pipeline.state.sqlite import SqliteDatabase

            database = SqliteDatabase(database)
        self.db = database
        self.where = database.where
        self.path = Path(database.where) if database.kind == "sqlite" else None  # the SQLite file, for tests
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._host = socket.gethostname()
        database.ensure_schema(_SCHEMA, _ADDED_COLUMNS)

    def _holder(self, worker: str, now: float) -> tuple[str, float, str, int, float]:
        """claimed_by, claimed_at, claimed_host, claimed_pid, lease_expires of a claim taken now."""
        return worker, now, self._host, os.getpid(), now + self.lease_seconds

    def record(self, paths: Iterable[Path | str], run_id: str, dag_id: str = "", sources: Sequence[str] = ()) -> int:
        """Record closed WARCs as pending; a path seen before (a rerun rewrote it) is pending again."""
        now = self._clock()
        rows = [(capture_key(p), run_id, dag_id, json.dumps(list(sources)), now) for p in paths]
        with self.db.transaction() as db:
            db.executemany(
                "INSERT INTO captures (path, status, run_id, dag_id, sources, recorded_at)"
                " VALUES (?, 'pending', ?, ?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET status='pending', run_id=excluded.run_id,"
                " dag_id=excluded.dag_id, sources=excluded.sources, recorded_at=excluded.recorded_at,"
                f" {_NO_HOLDER}, attempts=0, error=''",
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
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO captures (path, status, run_id, dag_id, sources, recorded_at, claimed_by, claimed_at,"
                " claimed_host, claimed_pid, lease_expires) VALUES (?, 'writing', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET status='writing', run_id=excluded.run_id, dag_id=excluded.dag_id,"
                " sources=excluded.sources, recorded_at=excluded.recorded_at, claimed_by=excluded.claimed_by,"
                " claimed_at=excluded.claimed_at, claimed_host=excluded.claimed_host,"
                " claimed_pid=excluded.claimed_pid, lease_expires=excluded.lease_expires,"
                " attempts=0, counts='{}', error='', done_at=NULL",
                (capture_key(path), run_id, dag_id, json.dumps(list(sources)), now, *self._holder(worker, now)),
            )
        log_event(log, "capture_writing", path=capture_key(path), run_id=run_id, worker=worker)

    def claim_written(self, path: Path | str, worker: str) -> Capture:
        """The writer closed the WARC and processes it itself: claimed by ``worker``, whatever happened meanwhile.

        The writer always wins: a drain that took the capture while it was being written
        (past the lease, from another host) read only part of it, so the whole file is processed again.
        """
        key = capture_key(path)
        with self.db.transaction() as db:
            db.execute(
                "UPDATE captures SET status='claimed', claimed_by=?, claimed_at=?, claimed_host=?, claimed_pid=?,"
                " lease_expires=?, attempts=attempts+1, done_at=NULL WHERE path=?",
                (*self._holder(worker, self._clock()), key),
            )
        (capture,) = self.get_many([key])
        log_event(log, "capture_claimed", path=key, worker=worker, attempt=capture.attempts)
        return capture

    def discard(self, path: Path | str, worker: str) -> bool:
        """The writer wrote no file after all (its run failed before opening it): forget the capture."""
        with self.db.transaction() as db:
            deleted = db.execute(
                "DELETE FROM captures WHERE path=? AND status='writing' AND claimed_by=?", (capture_key(path), worker)
            ).rowcount
        return deleted == 1

    def claim(self, worker: str, limit: int = 1) -> list[Capture]:
        """Atomically take up to ``limit`` pending (or abandoned) captures for ``worker``, oldest first.

        Read a page at a time, each no larger than what is still wanted: on PostgreSQL the rows read
        are locked until the claim commits (others skip them), so reading more would hide captures
        another drain could take meanwhile.
        """
        now = self._clock()
        paths: list[str] = []
        after: tuple[float, str] = (-1.0, "")
        with self.db.transaction() as db:
            while len(paths) < limit:
                rows = db.execute(
                    "SELECT * FROM captures WHERE (status = 'pending' OR (status IN ('writing', 'claimed') AND"
                    " (claimed_host = ? OR COALESCE(lease_expires, COALESCE(claimed_at, 0) + ?) < ?)))"
                    " AND (recorded_at > ? OR (recorded_at = ? AND path > ?))"
                    f" ORDER BY recorded_at, path LIMIT ?{self.db.for_update}{self.db.skip_locked}",
                    (self._host, self.lease_seconds, now, after[0], after[0], after[1], limit - len(paths)),
                ).rows
                if not rows:
                    break
                for row in rows:
                    after = (row["recorded_at"], row["path"])
                    if row["status"] != CaptureStatus.PENDING.value:
                        if not self._abandoned(row, now):
                            continue
                        if row["attempts"] >= MAX_ATTEMPTS:
                            error = f"abandoned {row['attempts']} times (last by {row['claimed_by']}): parked"
                            db.execute(f"UPDATE captures SET status='failed', error=?, {_NO_HOLDER} WHERE path=?",
                                       (error, row["path"]))
                            log_event(log, "capture_failed", path=row["path"], status="failed", error=error)
                            continue
                        log_event(log, "capture_abandoned", path=row["path"], status=row["status"],
                                  holder=row["claimed_by"], pid=row["claimed_pid"], host=row["claimed_host"])
                    paths.append(row["path"])
            db.executemany(
                "UPDATE captures SET status='claimed', claimed_by=?, claimed_at=?, claimed_host=?, claimed_pid=?,"
                " lease_expires=?, attempts=attempts+1 WHERE path=?",
                [(*self._holder(worker, now), p) for p in paths],
            )
        claimed = self.get_many(paths)
        for c in claimed:
            log_event(log, "capture_claimed", path=c.path, worker=worker, attempt=c.attempts)
        return claimed

    def _abandoned(self, row: Row, now: float) -> bool:
        """A held capture whose holder is gone: its process died (this host), or its lease ran out.

        A capture being written by a live process of this host is never taken, whatever its age:
        reading a WARC still being written would process only part of it.
        """
        if row["claimed_host"] == self._host and row["claimed_pid"] is not None:
            if not process_running(int(row["claimed_pid"])):
                return True
            if row["status"] == CaptureStatus.WRITING.value:
                return False
        expires = row["lease_expires"]
        if expires is None:  # claimed by a release before leases were stored: the claim's age decides
            expires = (row["claimed_at"] or 0.0) + self.lease_seconds
        return bool(expires < now)

    def renew(self, path: str, worker: str) -> bool:
        """``worker`` still works on its capture: its lease runs ``lease_seconds`` from now.

        False: the claim was lost (taken over past its lease); its work will not be marked done.
        """
        with self.db.transaction() as db:
            renewed = db.execute(
                "UPDATE captures SET lease_expires=? WHERE path=? AND status IN ('claimed', 'writing')"
                " AND claimed_by=?",
                (self._clock() + self.lease_seconds, path, worker),
            ).rowcount
        if renewed != 1:
            log_event(log, "capture_claim_lost", path=path, worker=worker)
        return renewed == 1

    def mark_done(self, path: str, worker: str, counts: dict[str, int]) -> bool:
        """Done with its counts, if ``worker`` still holds the claim (False: the claim was lost)."""
        with self.db.transaction() as db:
            ok = db.execute(
                f"UPDATE captures SET status='done', done_at=?, counts=?, error='', {_NO_HOLDER}"
                " WHERE path=? AND status='claimed' AND claimed_by=?",
                (self._clock(), json.dumps(counts, sort_keys=True), path, worker),
            ).rowcount == 1
        log_event(log, "capture_done" if ok else "capture_claim_lost", path=path, worker=worker, **counts)
        return ok

    def release(self, path: str, worker: str, reason: str) -> bool:
        """Back to pending with the reason, the attempt not counted: the engine was away, or the run was stopped.

        Nothing about the capture itself failed, so an outage never parks a capture as failed.
        False when ``worker`` no longer held it.
        """
        with self.db.transaction() as db:
            ok = db.execute(
                "UPDATE captures SET status='pending', error=?, attempts=CASE WHEN attempts > 0 THEN attempts - 1"
                f" ELSE 0 END, {_NO_HOLDER} WHERE path=? AND status IN ('claimed', 'writing') AND claimed_by=?",
                (reason[:2000], path, worker),
            ).rowcount == 1
        log_event(log, "capture_released" if ok else "capture_claim_lost", path=path, worker=worker,
                  reason=reason[:200])
        return ok

    def mark_failed(self, path: str, worker: str, error: str) -> CaptureStatus | None:
        """Back to pending with the error, or failed after MAX_ATTEMPTS; None when the claim was lost."""
        with self.db.transaction() as db:
            row = db.execute(
                f"SELECT attempts FROM captures WHERE path=? AND status='claimed' AND claimed_by=?{self.db.for_update}",
                (path, worker),
            ).fetchone()
            if row is None:
                return None
            status = CaptureStatus.FAILED if row["attempts"] >= MAX_ATTEMPTS else CaptureStatus.PENDING
            db.execute(f"UPDATE captures SET status=?, error=?, {_NO_HOLDER} WHERE path=?",
                       (status.value, error[:2000], path))
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
        with self.db.transaction() as db:
            changed = db.execute(
                "UPDATE captures SET status='pending', attempts=0, error='', recorded_at=?"
                f" WHERE {' AND '.join(where)}",
                [self._clock(), *args],
            ).rowcount
        log_event(log, "captures_marked_pending", count=changed)
        return int(changed)

    def get_many(self, paths: Sequence[str]) -> list[Capture]:
        if not paths:
            return []
        marks = ",".join("?" * len(paths))
        rows = self.db.read(f"SELECT * FROM captures WHERE path IN ({marks}) ORDER BY recorded_at, path", paths)
        return [_capture(row) for row in rows]

    def list(self, status: CaptureStatus | None = None, run_id: str | None = None, limit: int = 1000) -> list[Capture]:
        where, args = ["1=1"], list[Any]()
        if status is not None:
            where.append("status=?")
            args.append(status.value)
        if run_id is not None:
            where.append("run_id=?")
            args.append(run_id)
        rows = self.db.read(
            f"SELECT * FROM captures WHERE {' AND '.join(where)} ORDER BY recorded_at, path LIMIT ?", [*args, limit]
        )
        return [_capture(row) for row in rows]

    def counts(self) -> dict[str, int]:
        rows = self.db.read("SELECT status, COUNT(*) AS n FROM captures GROUP BY status")
        return {str(row["status"]): int(row["n"]) for row in rows}


def _capture(row: Row) -> Capture:
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
        lease_expires=row.get("lease_expires"),
        done_at=row["done_at"],
        attempts=row["attempts"],
        counts=json.loads(row["counts"]),
        error=row["error"],
    )
