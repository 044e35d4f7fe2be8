"""The record discovery hands to fetch, and the date window every kind selects by."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.discover.archives import ArchivedResponse

Window = tuple[datetime, datetime]  # [start, end): start included, end excluded
# URL → body bytes, or None when the fetch failed or answered 304 (the fetcher records which).
FetchXml = Callable[[str], bytes | None]


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
    archived: ArchivedResponse | None = None  # kind warc: the response is already captured


@dataclass(frozen=True)
class Skipped:
    """A document discovery chose not to read, and why (recursion cap, outside the window)."""

    url: str
    reason: str


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
