"""One machine, the default: SQLite files under CHANCERY_HOME, and the dead-letter JSON lines file.

- the capture ledger: ``captures.sqlite3``; the seen-store: ``seen.sqlite3``; the out-of-scope
  store: ``out-of-scope.sqlite3`` (each 0600, in WAL mode so readers never wait for the writer);
- dead letters the engine could not take: ``deadletter/{prefix}-deadletter.jsonl``, appended under
  a lock file and rewritten into a new file renamed over the old one;
- politeness: in process memory (``pipeline.fetch.politeness.HostGate``); no host leases.

A write transaction is ``BEGIN IMMEDIATE``: it holds SQLite's one write lock from its first
statement, so two drains at once never take the same capture.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.logs import get_logger, log_event
from pipeline.state.base import (
    Connection,
    Database,
    DeadLetterStore,
    HostLeases,
    LetterSnapshot,
    Row,
    Statement,
    StateStore,
    StoredLetter,
)
from pipeline.statefiles import open_private, open_private_binary, private_database, private_dir

log = get_logger("state.sqlite")

BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another's lock before SQLite gives up


def _dict_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, values, strict=True)}


class SqliteConnection(Connection):
    def __init__(self, path: Path, synchronous: str) -> None:
        # check_same_thread off: the seen-store's owner guards its one connection with a lock.
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        self._db.row_factory = _dict_row
        self._db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the one writer
        self._db.execute(f"PRAGMA synchronous={synchronous}")

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Statement:
        cursor = self._db.execute(sql, tuple(args))
        return Statement(cursor.fetchall() if cursor.description else [], cursor.rowcount)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        return self._db.executemany(sql, [tuple(r) for r in rows]).rowcount

    def _begin(self, exclusive: bool) -> None:
        self._db.execute("BEGIN IMMEDIATE" if exclusive else "BEGIN")

    def close(self) -> None:
        self._db.close()


class SqliteDatabase(Database):
    """A SQLite file, made 0600 (with its companions) before the first connection."""

    kind = "sqlite"

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.where = str(self.path)
        # NORMAL for the seen-store: a crash may lose its last pending rows, which are only refetched.
        self.synchronous = synchronous
        private_database(self.path)

    def connect(self) -> SqliteConnection:
        return SqliteConnection(self.path, self.synchronous)

    def _lock_schema(self, db: Connection) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the file's one write lock."""

    def _columns(self, db: Connection, table: str) -> set[str]:
        return {str(row["name"]) for row in db.execute(f"PRAGMA table_info({table})").rows}


class SqliteState(StateStore):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.where = str(settings.home)

    def database(self, store: str) -> Database:
        from pipeline.fetch.seen import seen_store_path

        if store == "ledger":
            return SqliteDatabase(self.settings.ledger_db)
        if store == "seen":
            return SqliteDatabase(seen_store_path(self.settings.home), synchronous="NORMAL")
        if store == "out_of_scope":
            return SqliteDatabase(self.settings.out_of_scope_db)
        raise ValueError(f"no such store: {store}")

    def deadletters(self) -> FileDeadLetters:
        return FileDeadLetters(deadletter_file(self.settings))

    def host_leases(self) -> HostLeases | None:
        return None


# ---------------------------------------------------------------------------------------------
# The dead-letter file


def deadletter_file(settings: Settings) -> Path:
    """The JSON lines fallback for dead letters the dead-letter index could not take."""
    return Path(settings.deadletter_dir) / f"{settings.elasticsearch.index_prefix}-deadletter.jsonl"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside `path`, held by every appender and by the rewrite in replay.

    A separate lock file, because the rewrite renames a new file over `path`: a lock on the old
    inode would let a waiting writer append to a file that is no longer there.
    """
    private_dir(path.parent)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append_letters(path: Path, letters: Iterable[Mapping[str, Any]]) -> None:
    """Append letters as JSON lines, under the lock and synced, so a crash right after loses none."""
    text = "".join(json.dumps(dict(letter), ensure_ascii=False, default=str) + "\n" for letter in letters)
    with locked(path), open_private(path, "a") as out:  # 0600: letters carry article text and errors
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def parse_letter(raw: bytes | str) -> dict[str, Any] | None:
    """A stored letter, or None when it is not one (kept as it is, never replayed)."""
    try:
        letter = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return letter if isinstance(letter, dict) and letter.get("article_id") else None


class FileDeadLetters(DeadLetterStore):
    """The JSON lines file; a letter's key is the sha256 of its line, so a rewrite recognises it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def append(self, letters: Iterable[Mapping[str, Any]]) -> None:
        append_letters(self.path, letters)

    def snapshot(self) -> LetterSnapshot:
        """The part of the file present now (bytes and inode): later appends are never touched."""
        if not self.path.exists():
            return LetterSnapshot(0, None)
        with locked(self.path):  # no appender is half-way through a line
            stat = self.path.stat()
        return LetterSnapshot(stat.st_size, stat.st_ino)

    def letters(self, snapshot: LetterSnapshot) -> Iterator[StoredLetter]:
        if snapshot.upto == 0:
            return
        with self.path.open("rb") as lines:
            read = 0
            for raw in lines:
                read += len(raw)
                if read > snapshot.upto:
                    return
                if not raw.strip():
                    continue
                yield StoredLetter(hashlib.sha256(raw.rstrip(b"\n")).hexdigest(), parse_letter(raw))

    def remove(self, snapshot: LetterSnapshot, keys: set[str]) -> tuple[int, str]:
        """Drop the doomed lines of the part read; everything else, and later appends, stay.

        Written to a new file, synced and renamed over the old one under the lock, so a crash leaves
        the old file or the new one, never half of each.
        """
        path = self.path
        if not keys or snapshot.upto == 0:
            return 0, ""
        with locked(path):
            if not path.exists() or path.stat().st_ino != snapshot.generation:
                why = f"{path} was rewritten by another retry meanwhile; its letters are left for the next retry"
                log_event(log, "deadletter_file_left_alone", logging.WARNING, reason=why)
                return 0, why
            removed = 0
            temporary = path.with_name(path.name + ".rewrite")
            with path.open("rb") as old, open_private_binary(temporary) as new:  # the file it replaces was 0600
                read = 0
                for raw in old:
                    read += len(raw)
                    if read <= snapshot.upto and raw.strip() and hashlib.sha256(raw.rstrip(b"\n")).hexdigest() in keys:
                        removed += 1
                        continue
                    new.write(raw)
                new.flush()
                os.fsync(new.fileno())
            os.replace(temporary, path)
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        log_event(log, "deadletter_file_rewritten", file=str(path), removed=removed)
        return removed, ""
