"""The boundary both state backends implement: a small database interface, and the errors it raises.

The ledger, the seen-store and the out-of-scope store are written once, over ``Database``:
their SQL is the subset SQLite and PostgreSQL share (``?`` placeholders, ``ON CONFLICT ... DO
UPDATE``, ``DOUBLE PRECISION`` and ``BIGINT`` columns, rows as dicts), so the two backends differ
only where the engines do (how a write transaction locks, ``FOR UPDATE SKIP LOCKED``) and not in
what the stores mean. Dead letters and per-host fetch leases have their own small interfaces here,
since one machine keeps them outside any database (a JSON lines file; process memory).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.fetch.seen import SeenStore
    from pipeline.gate import OutOfScopeStore
    from pipeline.orchestrate.ledger import CaptureLedger

Row = dict[str, Any]


class StateUnavailable(RuntimeError):
    """The configured state store cannot be reached or used: a setup error that stops the run.

    Its message names the store (a path, or the URL without its password) and how to fix it;
    it is never an outcome of one page or one capture.
    """


class Statement:
    """What one statement returned: its rows (dicts) and how many rows it changed."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Row | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Row]:
        return self.rows


class Connection(ABC):
    """One connection in autocommit mode; transactions are explicit (``begin`` / ``commit``)."""

    in_transaction = False

    @abstractmethod
    def execute(self, sql: str, args: Sequence[Any] = ()) -> Statement: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int: ...

    @abstractmethod
    def _begin(self, exclusive: bool) -> None: ...

    def begin(self, exclusive: bool = False) -> None:
        """``exclusive``: SQLite takes its one write lock now (BEGIN IMMEDIATE); PostgreSQL locks rows, not files."""
        self._begin(exclusive)
        self.in_transaction = True

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")
            self.in_transaction = False

    def rollback(self) -> None:
        if self.in_transaction:
            self.in_transaction = False
            self.execute("ROLLBACK")

    @abstractmethod
    def close(self) -> None: ...


class Database(ABC):
    """One database (a SQLite file, or the PostgreSQL database of ``CHANCERY_STATE_URL``).

    ``transaction()`` and ``read()`` open a connection for the one transaction and close it
    after, as the SQLite stores always did (nothing to close, nothing shared across a fork);
    an owner that talks to the database all the time (the seen-store, the host leases) keeps
    one of its own from ``connect()`` and closes it.
    """

    kind: str  # "sqlite" or "postgresql"
    where: str  # what messages name: the file, or the URL without its password
    # Appended to a SELECT that takes rows it will update. SQLite: "" (its write lock is the
    # whole file, taken by BEGIN IMMEDIATE); PostgreSQL: row locks, others' skipped or waited for.
    for_update: str = ""
    skip_locked: str = ""
    # Whether the seen-store may keep a write transaction open across many pages. Yes on SQLite
    # (one commit per page cost more than the fetch); no on PostgreSQL, where an open transaction
    # holds row locks that another host's fetcher, upserting the same aliases, could deadlock on.
    batches_writes: bool = True

    @abstractmethod
    def connect(self) -> Connection: ...

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction (SQLite: the file's write lock from the start); rolled back if the body raises."""
        connection = self.connect()
        try:
            connection.begin(exclusive=True)
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
        finally:
            connection.close()

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        connection = self.connect()
        try:
            return connection.execute(sql, args).rows
        finally:
            connection.close()

    def ensure_schema(self, ddl: str, added: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Create what ``ddl`` creates when missing; ``added``: columns (table -> name -> type) added since."""
        with self.transaction() as db:
            self._lock_schema(db)
            for statement in (s.strip() for s in ddl.split(";")):
                if statement:
                    db.execute(statement)
            for table, columns in (added or {}).items():
                present = self._columns(db, table)
                for column, kind in columns.items():
                    if column not in present:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    @abstractmethod
    def _lock_schema(self, db: Connection) -> None:
        """Two processes creating the same tables at once must not collide (PostgreSQL's catalog can)."""

    @abstractmethod
    def _columns(self, db: Connection, table: str) -> set[str]:
        """The columns ``table`` has now, so a store written by an older release gets the ones added since."""


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


# ---------------------------------------------------------------------------------------------
# Dead letters the engine could not take


@dataclass(frozen=True)
class StoredLetter:
    """One stored dead letter: ``key`` names it for removal; ``letter`` is None when unreadable (kept)."""

    key: str
    letter: dict[str, Any] | None


@dataclass(frozen=True)
class LetterSnapshot:
    """What a store held when a reader looked: ``upto`` bytes of the file, or rows up to that id;
    ``generation`` tells a file rewritten since (its inode)."""

    upto: int
    generation: int | None = None


class DeadLetterStore(ABC):
    """Where dead letters go when the dead-letter index cannot take them (the engine is down).

    A reader works on a ``snapshot``: what was stored when it looked; letters stored later are
    never touched by a ``remove`` made from it.
    """

    where: str  # the file, or the database and table

    @abstractmethod
    def append(self, letters: Iterable[Mapping[str, Any]]) -> None:
        """Store letters durably (a crash right after loses none)."""

    @abstractmethod
    def snapshot(self) -> LetterSnapshot: ...

    @abstractmethod
    def letters(self, snapshot: LetterSnapshot) -> Iterator[StoredLetter]: ...

    @abstractmethod
    def remove(self, snapshot: LetterSnapshot, keys: set[str]) -> tuple[int, str]:
        """Remove the letters of ``keys`` read in ``snapshot``: (how many, why none were, or "")."""

    def count(self) -> int:
        return sum(1 for stored in self.letters(self.snapshot()) if stored.letter is not None)


# ---------------------------------------------------------------------------------------------
# Per-publisher-host fetch leases shared by every worker


class HostLeases(ABC):
    """Per-host politeness across processes and hosts: at most ``concurrency`` requests at once,
    request starts at least ``delay`` apart, and a host's Retry-After honoured by every worker."""

    @abstractmethod
    def acquire(self, host: str, delay: float, concurrency: int) -> str:
        """Block until this process may start a request to ``host``; return the lease to release."""

    @abstractmethod
    def release(self, host: str, lease: str) -> None: ...

    @abstractmethod
    def defer(self, host: str, seconds: float) -> None:
        """No request to ``host`` starts, from any worker, before ``seconds`` from now."""

    @abstractmethod
    def close(self) -> None:
        """Release what the store holds open (a connection)."""


# ---------------------------------------------------------------------------------------------
# The whole store, as a backend provides it


class StateStore(ABC):
    """Every piece of state that decides what is done, on one backend (``pipeline.state.open_state``)."""

    where: str  # the home's files, or the database URL without its password

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def database(self, store: str) -> Database:
        """The database of one store: "ledger", "seen" or "out_of_scope"."""

    def ledger(self, lease_seconds: float | None = None) -> CaptureLedger:
        from pipeline.orchestrate.ledger import CaptureLedger

        lease = self.settings.airflow.claim_lease_seconds if lease_seconds is None else lease_seconds
        return CaptureLedger(self.database("ledger"), lease)

    def seen(self) -> SeenStore:
        """The seen-store and feed validators; the caller closes it (``with``)."""
        from pipeline.fetch.seen import SeenStore

        return SeenStore(self.database("seen"))

    def out_of_scope(self) -> OutOfScopeStore:
        from pipeline.gate import OutOfScopeStore

        return OutOfScopeStore(self.database("out_of_scope"))

    @abstractmethod
    def deadletters(self) -> DeadLetterStore:
        """Where dead letters go when the engine cannot take them."""

    @abstractmethod
    def host_leases(self) -> HostLeases | None:
        """Fetch leases shared by every worker, or None: one machine keeps politeness in process memory."""
