"""The seen-store: SQLite, keyed by canonical URL, with a content hash; plus feed/sitemap validators.

Why SQLite and not the index: fetch must work (and de-duplicate) with no
Elasticsearch running (``chancery fetch`` alone, a backfill on a laptop, a DAG
whose index task has not run yet), a lookup is a local primary-key read (~µs,
not an HTTP round trip per URL), and it is one file under CHANCERY_HOME that a
retry of the same run can safely rewrite. The index stays the truth for search;
this file is only the crawler's memory, and deleting it means "refetch everything".

Tables:
- ``pages``: canonical_url → content_hash, first/last run, validators;
- ``aliases``: every fetched or listed URL spelling → its canonical URL, so a
  tracking-parameter variant or a rel=canonical target is recognised before any request;
- ``validators``: feed / sitemap URL → ETag and Last-Modified for conditional GET.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from pipeline.fetch.client import Validators

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


def seen_store_path(home: Path) -> Path:
    return home / "seen.sqlite3"


# Markup that changes on every request (scripts with nonces, CSRF tokens in comments)
# must not make an article look "changed"; the hash is over the rest, whitespace-folded.
_VOLATILE = re.compile(rb"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)


def page_hash(body: bytes) -> str:
    stable = b" ".join(_VOLATILE.sub(b" ", body).split())
    return hashlib.sha256(stable).hexdigest()


class SeenStore:
    """One connection, guarded by a lock, so pool workers and the main thread can share it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")  # a DAG task and a CLI run can read while one writes
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._uncommitted = 0
        self._first_uncommitted = 0.0

    # Commit in batches: one commit per page cost more than the fetch itself in the benchmark.
    # A crash loses at most a batch, which only means those pages are fetched again. The age
    # cap matters as much: an open write transaction locks out other processes (parallel DAG
    # tasks share this file), so none is held longer than COMMIT_AFTER seconds (see flush_if_due).
    COMMIT_EVERY = 200
    COMMIT_AFTER = 0.5

    def _written(self) -> None:
        if self._uncommitted == 0:
            self._first_uncommitted = time.monotonic()
        self._uncommitted += 1
        if self._uncommitted >= self.COMMIT_EVERY or self._due():
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
            self._db.commit()
            self._db.close()

    def __enter__(self) -> SeenStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lookup(self, url: str) -> SeenPage | None:
        """The page a URL (any known spelling, canonicalised by the caller) was last stored as."""
        with self._lock:
            row = self._db.execute(
                "SELECT p.canonical_url, p.content_hash, p.first_run_id, p.last_run_id FROM pages p "
                "WHERE p.canonical_url = ? UNION ALL "
                "SELECT p.canonical_url, p.content_hash, p.first_run_id, p.last_run_id FROM aliases a "
                "JOIN pages p ON p.canonical_url = a.canonical_url WHERE a.url = ? LIMIT 1",
                (url, url),
            ).fetchone()
        return SeenPage(*row) if row else None

    def record(
        self,
        canonical_url: str,
        aliases: list[str],
        content_hash: str,
        run_id: str,
        source: str,
        validators: Validators | None = None,
    ) -> Change:
        """Store a fetched page; say whether it is new, changed or unchanged since the last run that had it."""
        now = datetime.now(UTC).isoformat()
        validators = validators or Validators()
        with self._lock:
            row = self._db.execute(
                "SELECT content_hash, first_run_id FROM pages WHERE canonical_url = ?", (canonical_url,)
            ).fetchone()
            if row is None:
                change = Change.NEW
            elif row[1] == run_id:
                change = Change.NEW  # a retry of the run that first saw it: still new for this batch
            else:
                change = Change.UNCHANGED if row[0] == content_hash else Change.CHANGED
            self._db.execute(
                "INSERT INTO pages (canonical_url, content_hash, source, first_run_id, last_run_id, first_seen, "
                "last_fetched, etag, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(canonical_url) DO UPDATE SET content_hash = excluded.content_hash, "
                "last_run_id = excluded.last_run_id, last_fetched = excluded.last_fetched, "
                "etag = excluded.etag, last_modified = excluded.last_modified",
                (
                    canonical_url,
                    content_hash,
                    source,
                    run_id,
                    run_id,
                    now,
                    now,
                    validators.etag,
                    validators.last_modified,
                ),
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO aliases (url, canonical_url) VALUES (?, ?)",
                [(alias, canonical_url) for alias in set(aliases) if alias != canonical_url],
            )
            self._written()
        return change

    def add_aliases(self, canonical_url: str, aliases: list[str]) -> None:
        """Remember more spellings of a stored page (an AMP copy that declared the same canonical URL)."""
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO aliases (url, canonical_url) VALUES (?, ?)",
                [(alias, canonical_url) for alias in set(aliases) if alias != canonical_url],
            )
            self._written()

    def validators(self, url: str) -> Validators | None:
        with self._lock:
            row = self._db.execute("SELECT etag, last_modified FROM validators WHERE url = ?", (url,)).fetchone()
        return Validators(etag=row[0], last_modified=row[1]) if row else None

    def save_validators(self, url: str, validators: Validators) -> None:
        if not validators.etag and not validators.last_modified:
            return
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO validators (url, etag, last_modified, updated) VALUES (?, ?, ?, ?)",
                (url, validators.etag, validators.last_modified, datetime.now(UTC).isoformat()),
            )
            self._written()
