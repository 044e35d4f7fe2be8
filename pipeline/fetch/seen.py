"""The seen-store: keyed by canonical URL, with a content hash; plus feed/sitemap validators.

Why a database of its own and not the index: fetch must work (and de-duplicate) with no
Elasticsearch running (``chancery fetch`` alone, a backfill on a laptop, a DAG
whose index task has not run yet), and a lookup is a primary-key read (~µs in the
SQLite file under CHANCERY_HOME; a loopback round trip in the shared PostgreSQL of
``CHANCERY_STATE_URL``, pipeline/state), not an HTTP search per URL. The index stays
the truth for search; this is only the crawler's memory, and deleting it means "refetch everything".

Pending, then confirmed. What a run fetches is only *pending*: it is staged
against the capture (the WARC file) that holds it, at the record's offset. It
becomes *seen* when that capture has been processed: the step that indexed the
capture confirms exactly the records it read (each ended indexed, dead-lettered
or in a named non-article outcome). Until then lookups do not see it, so a run
that crashed, or whose engine went away, loses nothing: the next run drains the
capture from the ledger, or fetches the page again. Feed and sitemap validators
follow the same rule: staged per capture, stored only when the capture was
confirmed whole, so a 304 never hides an article that was fetched but not indexed.

Tables:
- ``pages``: confirmed pages, canonical_url → content_hash, first/last run, validators;
- ``pending_pages``: (capture, warc_offset) → the page staged there, until confirmed;
- ``aliases``: every fetched or listed URL spelling → its canonical URL, so a
  tracking-parameter variant or a rel=canonical target is recognised before any request;
- ``validators``: feed / sitemap URL → ETag and Last-Modified for conditional GET (confirmed);
- ``pending_validators``: (capture, URL) → validators a run saw, until its capture is confirmed.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from pipeline.fetch.client import Validators
from pipeline.state.base import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    canonical_url TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    source TEXT,
    first_run_id TEXT,
    last_run_id TEXT,
    first_seen TEXT,
    last_fetched TEXT,
    etag TEXT,
    last_modified TEXT
);
CREATE TABLE IF NOT EXISTS pending_pages (
    capture TEXT NOT NULL,
    warc_offset BIGINT NOT NULL,
    canonical_url TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT,
    run_id TEXT,
    fetched TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    PRIMARY KEY (capture, warc_offset)
);
CREATE TABLE IF NOT EXISTS aliases (
    url TEXT PRIMARY KEY,
    canonical_url TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS validators (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    updated TEXT
);
CREATE TABLE IF NOT EXISTS pending_validators (
    capture TEXT NOT NULL,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    updated TEXT NOT NULL,
    PRIMARY KEY (capture, url)
)
"""


class Change(str, Enum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SeenPage:
    canonical_url: str
    content_hash: str
    first_run_id: str | None
    last_run_id: str | None


@dataclass(frozen=True)
class Confirmation:
    """What confirming a processed capture did to the seen-store."""

    pages: int  # pending pages now seen
    unread: int  # pending pages whose record the processing never read (a cut-off WARC): forgotten, so refetched
    validators: int  # feed / sitemap validators stored (0 unless the whole capture was read)


def seen_store_path(home: Path) -> Path:
    return home / "seen.sqlite3"


def capture_key(path: Path | str) -> str:
    """How a capture is named here and in the capture ledger: its URI (``pipeline.captures.capture_key``)."""
    from pipeline.captures import capture_key as uri_of

    return uri_of(path)


# Markup that changes on every request (scripts with nonces, CSRF tokens in comments)
# must not make an article look "changed"; the hash is over the rest, whitespace-folded.
_VOLATILE = re.compile(rb"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)


def page_hash(body: bytes) -> str:
    stable = b" ".join(_VOLATILE.sub(b" ", body).split())
    return hashlib.sha256(stable).hexdigest()


class SeenStore:
    """One connection, guarded by a lock, so pool workers and the main thread can share it.

    ``database``: the state store's (``open_state(settings).seen()``), or a path: the SQLite file there.
    """

    def __init__(self, database: Database | Path) -> None:
        if isinstance(database, Path):
            from pipeline.state.sqlite import SqliteDatabase

            database = SqliteDatabase(database, synchronous="NORMAL")
        self.where = database.where
        database.ensure_schema(SCHEMA)
        self._db = database.connect()
        self._commit_every = self.COMMIT_EVERY if database.batches_writes else 1
        self._lock = threading.Lock()
        self._uncommitted = 0
        self._first_uncommitted = 0.0

    # Commit in batches: one commit per page cost more than the fetch itself in the benchmark.
    # A crash loses at most a batch of *pending* rows, which only means those pages are fetched
    # again. The age cap matters as much: an open write transaction locks out other processes
    # (parallel DAG tasks share this file), so none is held longer than COMMIT_AFTER seconds.
    # On PostgreSQL each write commits at once (``Database.batches_writes``).
    COMMIT_EVERY = 200
    COMMIT_AFTER = 0.5

    def _execute(self, sql: str, args: tuple[Any, ...]) -> None:
        """One write, inside the open batch (begun here when none is)."""
        if not self._db.in_transaction:
            self._db.begin()
        self._db.execute(sql, args)

    def _written(self) -> None:
        if self._uncommitted == 0:
            self._first_uncommitted = time.monotonic()
        self._uncommitted += 1
        if self._uncommitted >= self._commit_every or self._due():
            self._commit()

    def _due(self) -> bool:
        return self._uncommitted > 0 and time.monotonic() - self._first_uncommitted >= self.COMMIT_AFTER

    def _commit(self) -> None:
        self._db.commit()
        self._uncommitted = 0

    def flush_if_due(self) -> None:
        """Called from the run loop while it waits, so a quiet spell never keeps the write lock."""
        with self._lock:
            if self._due():
                self._commit()

    def close(self) -> None:
        with self._lock:
            try:
                self._db.commit()
            finally:
                self._db.close()

    def __enter__(self) -> SeenStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading: confirmed pages only -----------------------------------------------------------

    def lookup(self, url: str) -> SeenPage | None:
        """The confirmed page a URL (any known spelling, canonicalised by the caller) was last stored as."""
        with self._lock:
            row = self._db.execute(
                "SELECT p.canonical_url, p.content_hash, p.first_run_id, p.last_run_id FROM pages p "
                "WHERE p.canonical_url = ? UNION ALL "
                "SELECT p.canonical_url, p.content_hash, p.first_run_id, p.last_run_id FROM aliases a "
                "JOIN pages p ON p.canonical_url = a.canonical_url WHERE a.url = ? LIMIT 1",
                (url, url),
            ).fetchone()
        if row is None:
            return None
        return SeenPage(row["canonical_url"], row["content_hash"], row["first_run_id"], row["last_run_id"])

    def change(self, canonical_url: str, content_hash: str, run_id: str) -> Change:
        """New, changed or unchanged against the confirmed page: a pending copy proves nothing yet."""
        with self._lock:
            row = self._db.execute(
                "SELECT content_hash, first_run_id FROM pages WHERE canonical_url = ?", (canonical_url,)
            ).fetchone()
        if row is None or row["first_run_id"] == run_id:  # a retry of the run that first saw it: still new
            return Change.NEW
        return Change.UNCHANGED if row["content_hash"] == content_hash else Change.CHANGED

    def validators(self, url: str) -> Validators | None:
        with self._lock:
            row = self._db.execute("SELECT etag, last_modified FROM validators WHERE url = ?", (url,)).fetchone()
        return Validators(etag=row["etag"], last_modified=row["last_modified"]) if row else None

    def pending_count(self, capture: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) AS n FROM pending_pages WHERE capture = ?", (capture,)).fetchone()
        return int(row["n"]) if row else 0

    # -- writing: staged against a capture ----------------------------------------------------------

    def begin_capture(self, capture: str) -> None:
        """A run (re)writes this WARC from scratch: what an earlier try staged in it is gone with it."""
        with self._lock:
            self._execute("DELETE FROM pending_pages WHERE capture = ?", (capture,))
            self._execute("DELETE FROM pending_validators WHERE capture = ?", (capture,))
            self._commit()

    def stage(
        self,
        capture: str,
        warc_offset: int,
        canonical_url: str,
        aliases: list[str],
        content_hash: str,
        run_id: str,
        source: str,
        validators: Validators | None = None,
    ) -> None:
        """A page written into ``capture`` at ``warc_offset``: pending until that record is confirmed."""
        validators = validators or Validators()
        with self._lock:
            self._execute(
                "INSERT INTO pending_pages (capture, warc_offset, canonical_url, content_hash, source,"
                " run_id, fetched, etag, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (capture, warc_offset) DO UPDATE SET canonical_url = excluded.canonical_url,"
                " content_hash = excluded.content_hash, source = excluded.source, run_id = excluded.run_id,"
                " fetched = excluded.fetched, etag = excluded.etag, last_modified = excluded.last_modified",
                (
                    capture,
                    warc_offset,
                    canonical_url,
                    content_hash,
                    source,
                    run_id,
                    datetime.now(UTC).isoformat(),
                    validators.etag,
                    validators.last_modified,
                ),
            )
            self._add_aliases(canonical_url, aliases)
            self._written()

    def add_aliases(self, canonical_url: str, aliases: list[str]) -> None:
        """Remember more spellings of a page (an AMP copy that declared the same canonical URL).

        Aliases are facts about URL spellings, not about what was indexed, so they are stored at
        once: an alias of a page that is only pending finds nothing in ``lookup`` until it is confirmed.
        """
        with self._lock:
            self._add_aliases(canonical_url, aliases)
            self._written()

    def _add_aliases(self, canonical_url: str, aliases: list[str]) -> None:
        # In sorted order: two fetchers upserting the same spellings take their row locks in one order.
        for alias in sorted(set(aliases) - {canonical_url}):
            self._execute(
                "INSERT INTO aliases (url, canonical_url) VALUES (?, ?)"
                " ON CONFLICT (url) DO UPDATE SET canonical_url = excluded.canonical_url",
                (alias, canonical_url),
            )

    def stage_validators(self, capture: str, url: str, validators: Validators) -> None:
        """A feed's or sitemap's validators seen by the run writing ``capture``: stored once it is confirmed."""
        if not validators.etag and not validators.last_modified:
            return
        with self._lock:
            self._execute(
                "INSERT INTO pending_validators (capture, url, etag, last_modified, updated)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (capture, url) DO UPDATE SET etag = excluded.etag,"
                " last_modified = excluded.last_modified, updated = excluded.updated",
                (capture, url, validators.etag, validators.last_modified, datetime.now(UTC).isoformat()),
            )
            self._written()

    def confirm(self, capture: str, read_offsets: Iterable[int]) -> Confirmation:
        """The capture was processed: the records read at ``read_offsets`` are seen now.

        Pending pages at other offsets (records after a cut-off, a writer killed before its
        buffer reached the file) are forgotten rather than confirmed: the next run fetches
        them again. The capture's validators are stored only when nothing of it was left
        unread; otherwise they are dropped, and the next run reads its feeds unconditionally.
        """
        offsets = set(read_offsets)
        with self._lock:
            if not self._db.in_transaction:
                self._db.begin()
            rows = self._db.execute(
                "SELECT warc_offset, canonical_url, content_hash, source, run_id, fetched, etag, last_modified"
                " FROM pending_pages WHERE capture = ?",
                (capture,),
            ).fetchall()
            read = sorted((row for row in rows if row["warc_offset"] in offsets), key=lambda r: str(r["fetched"]))
            # Oldest first, and never over a newer confirmed copy: captures can be processed out of order.
            self._db.executemany(
                "INSERT INTO pages (canonical_url, content_hash, source, first_run_id, last_run_id, first_seen,"
                " last_fetched, etag, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(canonical_url) DO UPDATE SET content_hash = excluded.content_hash,"
                " last_run_id = excluded.last_run_id, last_fetched = excluded.last_fetched,"
                " etag = excluded.etag, last_modified = excluded.last_modified"
                " WHERE pages.last_fetched IS NULL OR pages.last_fetched <= excluded.last_fetched",
                [(r["canonical_url"], r["content_hash"], r["source"], r["run_id"], r["run_id"], r["fetched"],
                  r["fetched"], r["etag"], r["last_modified"]) for r in read],
            )
            unread = len(rows) - len(read)
            stored = 0
            if unread == 0:
                stored = self._db.execute(
                    "INSERT INTO validators (url, etag, last_modified, updated)"
                    " SELECT url, etag, last_modified, updated FROM pending_validators WHERE capture = ?"
                    " ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,"
                    " updated = excluded.updated",
                    (capture,),
                ).rowcount
            self._db.execute("DELETE FROM pending_pages WHERE capture = ?", (capture,))
            self._db.execute("DELETE FROM pending_validators WHERE capture = ?", (capture,))
            self._commit()
        return Confirmation(pages=len(read), unread=unread, validators=max(0, stored))
