"""Sitemaps, news sitemaps and sitemap indexes → Candidates in a window.

An index is walked breadth-first with a depth cap and a count cap (both from
FetchSettings), so a hostile or runaway index cannot make a run read thousands
of documents. With a window, a child sitemap is skipped unread when its
``lastmod``, or a date in its URL (``sitemap-2024-01.xml``, ``/2024/01/15/``,
``?yyyy=2024&mm=01``), shows it cannot hold anything inside the window: that is
what makes a backfill over a dated sitemap archive cheap (a source names such an
index as a ``kind: sitemap`` entry of its ``archives:``).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit
from xml.etree.ElementTree import Element

from pipeline.discover.candidates import Candidate, FetchXml, Skipped, Window, as_utc, in_window
from pipeline.discover.xmlsafe import XmlRejected, maybe_gunzip, parse_xml
from pipeline.outcomes import Outcome, StageResult


@dataclass(frozen=True)
class SitemapEntry:
    url: str
    lastmod: datetime | None = None
    published_at: datetime | None = None  # news:publication_date
    title: str | None = None  # news:title
    keywords: tuple[str, ...] = ()  # news:keywords
    language: str | None = None  # news:publication/news:language


@dataclass(frozen=True)
class ChildSitemap:
    url: str
    lastmod: datetime | None = None


def walk_sitemaps(
    root_url: str,
    source_id: str,
    window: Window | None,
    fetch_xml: FetchXml,
    max_depth: int = 3,
    max_count: int = 200,
) -> Iterator[Candidate | StageResult | Skipped]:
    queue: deque[tuple[str, int]] = deque([(root_url, 0)])
    visited: set[str] = set()
    while queue:
        url, depth = queue.popleft()
        if url in visited:
            continue
        visited.add(url)
        if len(visited) > max_count:
            yield Skipped(url, f"sitemap count cap ({max_count}) reached")
            continue
        body = fetch_xml(url)
        if body is None:
            continue
        try:
            entries, children = parse_sitemap(maybe_gunzip(body))
        except XmlRejected as exc:
            yield StageResult(Outcome.PARSE_ERROR, reason=str(exc), url=url)
            continue
        for child in children:
            reason = _skip_child(child, depth + 1, max_depth, window)
            if reason:
                yield Skipped(child.url, reason)
            else:
                queue.append((child.url, depth + 1))
        for entry in entries:
            if in_window(entry.published_at or entry.lastmod, window):
                yield _candidate(entry, source_id, url)


def _skip_child(child: ChildSitemap, depth: int, max_depth: int, window: Window | None) -> str | None:
    if depth > max_depth:
        return f"sitemap depth cap ({max_depth}) reached"
    if window is None:
        return None
    start, end = as_utc(window[0]), as_utc(window[1])
    if child.lastmod is not None and as_utc(child.lastmod) < start:
        return "sitemap lastmod before the window"
    period = period_from_url(child.url)
    if period is not None and (period[1] <= start or period[0] >= end):
        return "sitemap period outside the window"
    return None


def _candidate(entry: SitemapEntry, source_id: str, via: str) -> Candidate:
    return Candidate(
        url=entry.url,
        source_id=source_id,
        title=entry.title,
        published_at=entry.published_at,
        modified_at=entry.lastmod,
        keywords=entry.keywords,
        language=entry.language,
        via=via,
    )


def parse_sitemap(body: bytes) -> tuple[list[SitemapEntry], list[ChildSitemap]]:
    """A urlset's entries and an index's child sitemaps (namespace-tolerant: many sites get it wrong)."""
    root = parse_xml(body)
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise XmlRejected(f"not a sitemap: root element <{kind}>")
    entries: list[SitemapEntry] = []
    children: list[ChildSitemap] = []
    for node in root:
        name = _local(node.tag)
        loc = _text(node, "loc")
        if not loc:
            continue
        if name == "url":
            entries.append(_entry(node, loc))
        elif name == "sitemap":
            children.append(ChildSitemap(url=loc, lastmod=parse_w3c_date(_text(node, "lastmod"))))
    return entries, children


def _entry(node: Element, loc: str) -> SitemapEntry:
    news = _child(node, "news")
    keywords = _text(news, "keywords") if news is not None else None
    publication = _child(news, "publication") if news is not None else None
    return SitemapEntry(
        url=loc,
        lastmod=parse_w3c_date(_text(node, "lastmod")),
        published_at=parse_w3c_date(_text(news, "publication_date")) if news is not None else None,
        title=_text(news, "title") if news is not None else None,
        keywords=tuple(k.strip() for k in (keywords or "").split(",") if k.strip()),
        language=_text(publication, "language") if publication is not None else None,
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _child(node: Element | None, name: str) -> Element | None:
    if node is None:
        return None
    for child in node:
        if _local(child.tag) == name:
            return child
    return None


def _text(node: Element | None, name: str) -> str | None:
    child = _child(node, name)
    text = (child.text or "").strip() if child is not None else ""
    return text or None


def parse_w3c_date(value: str | None) -> datetime | None:
    """W3C datetime (a profile of ISO 8601) as aware UTC; a bare date is midnight UTC."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        # 0001-01-01T00:00:00+14:00 is before the first datetime once in UTC (found by tests/fuzz).
        return as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


# sitemap-2024-01.xml, /2024/01/15/, ?date=2024-01-15, sitemap_2024_01.xml.gz
_URL_DATE = re.compile(r"(?<!\d)(20\d{2}|19\d{2})[-/_](0[1-9]|1[0-2])(?:[-/_](0[1-9]|[12]\d|3[01]))?(?!\d)")


# ?yyyy=2015&mm=09 (WordPress-style archives), ?year=2015&month=9, ?y=2015&m=09&d=14
_QUERY_YEAR, _QUERY_MONTH, _QUERY_DAY = ("yyyy", "year", "y"), ("mm", "month", "m"), ("dd", "day", "d")


def _query_date(url: str) -> tuple[int, int, str | None] | None:
    try:
        query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query)}
    except ValueError:
        return None
    year = next((query[k] for k in _QUERY_YEAR if k in query), "")
    month = next((query[k] for k in _QUERY_MONTH if k in query), "")
    day = next((query[k] for k in _QUERY_DAY if k in query), None)
    if not (year.isdigit() and len(year) == 4 and month.isdigit() and 1 <= int(month) <= 12):
        return None
    return int(year), int(month), day if day and day.isdigit() else None


def period_from_url(url: str) -> tuple[datetime, datetime] | None:
    """The day or month a dated child sitemap covers, read from its URL (path or query)."""
    match = _URL_DATE.search(url)
    if match:
        year, month, day = int(match.group(1)), int(match.group(2)), match.group(3)
    else:
        found = _query_date(url)
        if found is None:
            return None
        year, month, day = found
    if day:
        try:
            start = datetime(year, month, int(day), tzinfo=UTC)
        except ValueError:  # sitemap-2024-02-30.xml names no day at all (found by tests/fuzz)
            return None
        return start, start + timedelta(days=1)
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end
