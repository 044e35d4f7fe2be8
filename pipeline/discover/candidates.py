"""The record discovery hands to fetch, and the date window every kind selects by."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from pipeline.outcomes import Outcome

if TYPE_CHECKING:
    from pipeline.discover.archives import ArchivedResponse

Window = tuple[datetime, datetime]  # [start, end): start included, end excluded
# URL → body bytes, or None when the fetch failed or answered 304 (the fetcher records which).
FetchXml = Callable[[str], bytes | None]
# URL → a seekable stream read by HTTP range requests (a GDELT file list, a CC-NEWS WARC), held open
# under the host's politeness slot; raises RangedReadFailed.
OpenRanged = Callable[[str], AbstractContextManager[IO[bytes]]]


@dataclass(frozen=True)
class Candidate:
    """A URL worth fetching, with what the feed or sitemap already said about it (hints)."""

    url: str
    source_id: str
    title: str | None = None
    published_at: datetime | None = None
    modified_at: datetime | None = None
    authors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    language: str | None = None
    via: str = ""  # the feed, sitemap or archive it came from
    archived: ArchivedResponse | None = None  # kind warc / ccnews: the response is already captured
    # Wayback: the raw capture the bytes are fetched from; `url` stays the original URL, the article's id.
    snapshot: str | None = None
    # When an archive captured it (Wayback) or GDELT first saw it: a stand-in for the publication
    # date, which the page's own date overrides (pipeline/fetch/run.py, outside_window).
    captured_at: datetime | None = None


@dataclass(frozen=True)
class Skipped:
    """A document discovery chose not to read, and why (recursion cap, outside the window)."""

    url: str
    reason: str


class RangedReadFailed(Exception):
    """A ranged read (file list, CC-NEWS WARC) that could not start, with the outcome it is counted as."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome, self.reason = outcome, reason


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_window(when: datetime | None, window: Window | None) -> bool:
    """No window takes everything; with a window, undated items are left out (a backfill wants proof)."""
    if window is None:
        return True
    if when is None:
        return False
    start, end = window
    return as_utc(start) <= as_utc(when) < as_utc(end)
