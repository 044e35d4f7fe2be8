"""RSS 2.0, Atom and RDF feeds (feedparser) → Candidates with title, date and author hints."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from pipeline.discover.candidates import Candidate, FetchXml, Window, in_window
from pipeline.discover.xmlsafe import XmlRejected, check_safe
from pipeline.outcomes import Outcome, StageResult


def discover_feed(
    url: str, source_id: str, window: Window | None, fetch_xml: FetchXml
) -> Iterator[Candidate | StageResult]:
    body = fetch_xml(url)
    if body is None:  # failed or not modified: the fetcher recorded the outcome
        return
    yield from parse_feed(body, url, source_id, window)


def parse_feed(body: bytes, feed_url: str, source_id: str, window: Window | None) -> Iterator[Candidate | StageResult]:
    try:
        check_safe(body)  # feedparser's own parser is not hardened against entity tricks
    except XmlRejected as exc:
        yield StageResult(Outcome.PARSE_ERROR, reason=str(exc), url=feed_url)
        return
    try:
        parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    except ValueError as exc:  # feedparser looks up a declared encoding as is: "utf\x008" (found by tests/fuzz)
        yield StageResult(Outcome.PARSE_ERROR, reason=f"unreadable feed: {exc}", url=feed_url)
        return
    if not parsed.get("version") and not parsed.entries:
        reason = str(parsed.get("bozo_exception") or "not an RSS, Atom or RDF feed")
        yield StageResult(Outcome.PARSE_ERROR, reason=reason, url=feed_url)
        return
    language = _language(parsed.feed.get("language"))
    for entry in parsed.entries:
        link = _link(entry, feed_url)
        if not link:
            continue
        updated = _when(entry["updated_parsed"]) if "updated_parsed" in entry.keys() else None  # noqa: SIM118
        published = _when(entry.get("published_parsed")) or updated
        if not in_window(published, window):
            continue
        yield Candidate(
            url=link,
            source_id=source_id,
            title=(entry.get("title") or "").strip() or None,
            published_at=published,
            modified_at=updated,
            authors=_authors(entry),
            keywords=tuple(t.get("term", "") for t in entry.get("tags", []) if t.get("term")),
            language=language,
            via=feed_url,
        )


def _link(entry: Any, feed_url: str) -> str | None:
    link = entry.get("link")
    if not link and entry.get("guidislink"):
        link = entry.get("id")
    if not link:
        return None
    try:
        absolute = urljoin(feed_url, link.strip())
        scheme = urlsplit(absolute).scheme
    except ValueError:  # a bracketed host that is no IP address, "http://[::1" (found by tests/fuzz)
        return None
    return absolute if scheme in ("http", "https") else None


# ``"updated_parsed" in entry.keys()``: feedparser's entry.get("updated_parsed") silently falls
# back to published_parsed with a DeprecationWarning; keys() shows only what the feed said.


def _when(parsed: time.struct_time | None) -> datetime | None:
    """feedparser normalises every date format to a UTC struct_time; one outside datetime's years is no date.

    "0001-01-01T00:00:00+14:00" becomes year 0 in UTC, which datetime refuses (found by tests/fuzz).
    """
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _authors(entry: Any) -> tuple[str, ...]:
    names = [a.get("name", "").strip() for a in entry.get("authors", []) if a.get("name")]
    if not names and entry.get("author"):
        names = [entry["author"].strip()]
    return tuple(n for n in names if n)


def _language(value: str | None) -> str | None:
    return value.strip().lower() or None if value else None
