"""Several hosts: one PostgreSQL database (``CHANCERY_STATE_URL=postgresql://user@host:port/db``).

Every host's workers share it: the capture ledger (claims are ``SELECT ... FOR UPDATE SKIP
LOCKED``, each with a lease that expires, so a worker killed mid-drain loses its captures to the
next drain), the seen-store and feed validators, the out-of-scope store, the dead letters the
engine could not take (table ``deadletters``, so ``chancery deadletters list|retry`` on any host
replays them), and per-publisher-host fetch leases (tables ``host_leases`` and ``host_holders``),
so a host's concurrency and Crawl-delay hold across all workers, not per process.

Times that several hosts compare at sub-second grain (the host leases) come from the database's
clock, so the hosts' clocks need not agree; the ledger's leases are minutes long and use the
worker's own clock, like the SQLite ledger.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row

from pipeline.config import Settings
from pipeline.logs import get_logger, log_event
from pipeline.state.base import (
    Connection,
    Database,
    DeadLetterStore,
    HostLeases,
    LetterSnapshot,
    Statement,
    StateStore,
    StateUnavailable,
    StoredLetter,
    process_running,
)

log = get_logger("state.postgres")

T = TypeVar("T")

CONNECT_TIMEOUT_S = 10
SCHEMA_LOCK = 7_206_010_515  # pg_advisory_xact_lock key: one process at a time creates the tables
HOST_POLL_S = 0.05  # how often a worker waiting for a full host looks again (with jitter)


def display_url(url: str) -> str:
    """The URL as messages and listings show it: the password replaced by ***, the user kept."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _lost(where: str, exc: BaseException) -> StateUnavailable:
    """The server went away (or shut down) mid-run: the run stops; what it held is reclaimed by lease."""
    return StateUnavailable(f"lost the state store {where} (CHANCERY_STATE_URL): {_first_line(exc)}")


class PostgresConnection(Connection):
    def __init__(self, url: str, where: str) -> None:
        self._where = where
        self._db: psycopg.Connection[dict[str, Any]] = psycopg.connect(
            url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_S, application_name="chancery"
        )

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Statement:
        # The stores write SQL with SQLite's ``?``; none of it holds a literal ``?`` or ``%``.
        try:
            cursor = self._db.execute(sql.replace("?", "%s"), tuple(args) if args else None)
            return Statement(cursor.fetchall() if cursor.description else [], cursor.rowcount)
        except psycopg.OperationalError as exc:
            raise _lost(self._where, exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        batch = [tuple(r) for r in rows]
        if not batch:
            return 0
        try:
            with self._db.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), batch)
                return max(0, cursor.rowcount)
        except psycopg.OperationalError as exc:
            raise _lost(self._where, exc) from exc

    def _begin(self, exclusive: bool) -> None:
        self._db.execute("BEGIN")  # READ COMMITTED; what must not race takes its rows FOR UPDATE

    def close(self) -> None:
        self._db.close()


class PostgresDatabase(Database):
    kind = "postgresql"
    for_update = " FOR UPDATE"
    skip_locked = " SKIP LOCKED"
    batches_writes = False

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = display_url(url)

    def connect(self) -> PostgresConnection:
        try:
            return PostgresConnection(self.url, self.where)
        except psycopg.Error as exc:  # refused, unknown database, authentication, a malformed URL
            raise StateUnavailable(
                f"cannot use the state store {self.where} (CHANCERY_STATE_URL): {_first_line(exc)}; "
                "start PostgreSQL there, or unset CHANCERY_STATE_URL for the SQLite files under CHANCERY_HOME"
            ) from None  # the cause's text can repeat the connection string; the message says all

    def _lock_schema(self, db: Connection) -> None:
        db.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")

    def _columns(self, db: Connection, table: str) -> set[str]:
        rows = db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ?",
            (table,),
        ).rows
        return {str(row["column_name"]) for row in rows}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class PostgresState(StateStore):
    """Every store on the one database; the tables are created on first use by any host."""

    def __init__(self, settings: Settings, url: str) -> None:
        super().__init__(settings)
        self.url = url
        self.where = display_url(url)

    def database(self, store: str) -> PostgresDatabase:
        return PostgresDatabase(self.url)

    def deadletters(self) -> PostgresDeadLetters:
        return PostgresDeadLetters(PostgresDatabase(self.url))

    def host_leases(self) -> PostgresHostLeases:
        fs = self.settings.fetch
        # A holder on another host that died keeps its slot this long: the longest one request can take
        # with its retries. On this host a dead holder's slot is freed at once (its pid is gone).
        hold = fs.total_timeout * (fs.max_retries + 1) + fs.backoff_max * fs.max_retries
        return PostgresHostLeases(PostgresDatabase(self.url), hold_seconds=hold)


# ---------------------------------------------------------------------------------------------
# Dead letters


_DEADLETTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS deadletters (
    id         BIGSERIAL PRIMARY KEY,
    article_id TEXT NOT NULL,
    failed_at  TEXT NOT NULL DEFAULT '',
    letter     TEXT NOT NULL,
    stored_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS deadletters_article ON deadletters (article_id)
"""


class PostgresDeadLetters(DeadLetterStore):
    """Table ``deadletters``: one row a letter, its id the key; a snapshot is the highest id read."""

    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database
        self.where = f"{database.where} (table deadletters)"
        database.ensure_schema(_DEADLETTER_SCHEMA)

    def append(self, letters: Iterable[Mapping[str, Any]]) -> None:
        now = time.time()
        rows = [
            (str(letter.get("article_id", "")), str(letter.get("failed_at", "")),
             json.dumps(dict(letter), ensure_ascii=False, default=str), now)
            for letter in letters
        ]
        with self.database.transaction() as db:  # committed, so durable, before this returns
            db.executemany("INSERT INTO deadletters (article_id, failed_at, letter, stored_at) VALUES (?, ?, ?, ?)",
                           rows)

    def snapshot(self) -> LetterSnapshot:
        (row,) = self.database.read("SELECT COALESCE(MAX(id), 0) AS upto FROM deadletters")
        return LetterSnapshot(int(row["upto"]))

    def letters(self, snapshot: LetterSnapshot) -> Iterator[StoredLetter]:
        from pipeline.state.sqlite import parse_letter

        after = 0
        while True:  # in pages: letters carry whole documents
            rows = self.database.read(
                "SELECT id, letter FROM deadletters WHERE id > ? AND id <= ? ORDER BY id LIMIT 500",
                (after, snapshot.upto),
            )
            if not rows:
                return
            for row in rows:
                yield StoredLetter(str(row["id"]), parse_letter(row["letter"]))
            after = int(rows[-1]["id"])

    def remove(self, snapshot: LetterSnapshot, keys: set[str]) -> tuple[int, str]:
        ids = sorted(int(k) for k in keys if int(k) <= snapshot.upto)
        removed = 0
        for start in range(0, len(ids), 500):
            page = ids[start : start + 500]
            with self.database.transaction() as db:
                removed += db.execute(
                    f"DELETE FROM deadletters WHERE id IN ({', '.join('?' * len(page))})", page
                ).rowcount
        if removed:
            log_event(log, "deadletters_removed", store=self.where, removed=removed)
        return removed, ""

    def count(self) -> int:
        (row,) = self.database.read("SELECT COUNT(*) AS n FROM deadletters")
        return int(row["n"])


# ---------------------------------------------------------------------------------------------
# Per-publisher-host fetch leases


_HOST_SCHEMA = """
CREATE TABLE IF NOT EXISTS host_leases (
    host       TEXT PRIMARY KEY,
    last_start DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_delay DOUBLE PRECISION NOT NULL DEFAULT 0,
    not_before DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS host_holders (
    host        TEXT NOT NULL,
    lease       TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    holder_host TEXT NOT NULL,
    holder_pid  INTEGER NOT NULL,
    expires     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (host, lease)
)
"""

_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::double precision"


class PostgresHostLeases(HostLeases):
    """A row per publisher host (when the last request started, the delay it asked for, a Retry-After)
    and a row per request in flight; both taken in one transaction that locks the host's row.

    A request may start when fewer requests are in flight than the smallest concurrency any of
    them (or this one) allows, and not before ``last_start + max(delay, last_delay)``: two
    consecutive starts are as far apart as the stricter of the two workers' delays (one may have
    read robots.txt's Crawl-delay, the other not yet). A worker that waits sleeps outside the
    transaction, its start already reserved. A worker that went later than its reserved start (a
    busy core, a long sleep) moves ``last_start`` to when it went as it releases, so the next
    request (with concurrency 1, always granted after that release) keeps the delay from the
    request the publisher actually saw.
    """

    def __init__(self, database: PostgresDatabase, hold_seconds: float) -> None:
        self.database = database
        self.hold_seconds = hold_seconds
        self._me = (socket.gethostname(), os.getpid())
        self._lock = threading.Lock()  # the fetch pool's threads share the one connection
        self._connection: PostgresConnection | None = None
        self._went: dict[str, float] = {}  # lease -> when its request went, on the database's clock
        database.ensure_schema(_HOST_SCHEMA)

    def _db(self) -> PostgresConnection:
        if self._connection is None:
            self._connection = self.database.connect()
        return self._connection

    def _transaction(self, body: Callable[[Connection], T]) -> T:
        with self._lock:
            db = self._db()
            try:
                db.begin()
                result = body(db)
                db.commit()
            except StateUnavailable:  # the connection broke: the next call opens a new one
                self._forget(db)
                raise
            except BaseException:
                try:
                    db.rollback()
                except StateUnavailable:
                    self._forget(db)
                raise
            return result

    def _forget(self, db: PostgresConnection) -> None:
        with contextlib.suppress(psycopg.Error):  # closing a broken connection: nothing left to release
            db.close()
        self._connection = None

    def acquire(self, host: str, delay: float, concurrency: int) -> str:
        lease = uuid.uuid4().hex
        while True:
            asked = time.monotonic()
            reserved = self._transaction(lambda db: self._try(db, host, lease, delay, max(1, concurrency)))
            if reserved is not None:
                start, now = reserved
                if start > now:
                    time.sleep(start - now)
                self._went[lease] = now + (time.monotonic() - asked)  # the database's clock, give or take a trip
                return lease
            time.sleep(HOST_POLL_S * (1 + random.random()))

    def _try(self, db: Connection, host: str, lease: str, delay: float, concurrency: int) -> tuple[float, float] | None:
        """Reserve a start for ``lease``: (the start, now), or None when the host is full."""
        db.execute("INSERT INTO host_leases (host) VALUES (?) ON CONFLICT (host) DO NOTHING", (host,))
        row = db.execute(
            f"SELECT last_start, last_delay, not_before, {_NOW} AS now FROM host_leases WHERE host = ? FOR UPDATE",
            (host,),
        ).rows[0]
        now = float(row["now"])
        holders = db.execute("SELECT lease, concurrency, holder_host, holder_pid, expires FROM host_holders"
                             " WHERE host = ?", (host,)).rows
        gone = [h["lease"] for h in holders if self._gone(h, now)]
        if gone:
            db.execute(f"DELETE FROM host_holders WHERE host = ? AND lease IN ({', '.join('?' * len(gone))})",
                       (host, *gone))
            log_event(log, "host_leases_expired", host=host, leases=len(gone))
        live = [h for h in holders if h["lease"] not in gone]
        if len(live) >= min([concurrency, *(int(h["concurrency"]) for h in live)]):
            return None
        start = max(now, float(row["not_before"]), float(row["last_start"]) + max(delay, float(row["last_delay"])))
        db.execute("UPDATE host_leases SET last_start = ?, last_delay = ? WHERE host = ?", (start, delay, host))
        db.execute(
            "INSERT INTO host_holders (host, lease, concurrency, holder_host, holder_pid, expires)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (host, lease, concurrency, *self._me, start + self.hold_seconds),
        )
        return start, now

    def _gone(self, holder: Mapping[str, Any], now: float) -> bool:
        """A holder that died: on this host its process is gone; anywhere, its hold ran out."""
        if holder["holder_host"] == self._me[0] and not process_running(int(holder["holder_pid"])):
            return True
        return float(holder["expires"]) < now

    def release(self, host: str, lease: str) -> None:
        went = self._went.pop(lease, 0.0)

        def end(db: Connection) -> None:
            db.execute("UPDATE host_leases SET last_start = GREATEST(last_start, ?) WHERE host = ?", (went, host))
            db.execute("DELETE FROM host_holders WHERE host = ? AND lease = ?", (host, lease))

        self._transaction(end)

    def defer(self, host: str, seconds: float) -> None:
        def push(db: Connection) -> None:
            db.execute("INSERT INTO host_leases (host) VALUES (?) ON CONFLICT (host) DO NOTHING", (host,))
            db.execute(f"UPDATE host_leases SET not_before = GREATEST(not_before, {_NOW} + ?) WHERE host = ?",
                       (seconds, host))

        self._transaction(push)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
