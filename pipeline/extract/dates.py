"""Publication and modification dates: structured data first, then the page, the URL, htmldate.

Every date is timezone-aware UTC. A value without an offset is read as UTC; a value
with only a day gets precision "day". A date in the future (past the fetch time plus
a little slack) or before the web news era is rejected and the next source is tried.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from lxml import html as lxml_html

from pipeline.extract.metadata import PageMeta, jsonld_text

# Clocks and time zones disagree by up to 14 hours; a day of slack keeps honest dates and
# still rejects the far-future placeholders (copyright years, event dates) that pages carry.
FUTURE_SLACK = timedelta(days=1)
# No news site in scope published online before this: a date guessed from a URL or the page text that is
# earlier is a founding year or a copyright line, not the story's.
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)
# A date the page states for the story (JSON-LD, meta, <time>) may be far older: archives and digitised wire
# records carry 1987. Before this, and the Unix epoch's first day, a stated date is a placeholder (0001, 1970).
EARLIEST_STATED = datetime(1900, 1, 1, tzinfo=UTC)
EPOCH_DAY = datetime(1970, 1, 1, tzinfo=UTC).date()

PUBLISHED_META = (
    "article:published_time", "og:article:published_time", "og:published_time", "published_time",
    "datepublished", "pubdate", "publishdate", "publish-date", "publish_date", "parsely-pub-date",
    "sailthru.date", "article.published", "dc.date.issued", "dcterms.issued", "dc.date", "dcterms.date",
    "dcterms.created", "dc.date.created", "citation_publication_date", "date", "article_date_original",
    "cxenseparse:recs:publishtime", "originalpublicationdate",
)
MODIFIED_META = (
    "article:modified_time", "og:updated_time", "og:article:modified_time", "datemodified",
    "last-modified", "dcterms.modified", "article.updated", "lastmod",
)

_ISO = re.compile(
    r"(?P<y>(?:19|20)\d\d)-?(?P<m>[01]\d)-?(?P<d>[0-3]\d)"
    r"(?:[T ](?P<H>[0-2]\d):?(?P<M>[0-5]\d)(?::?(?P<S>[0-5]\d)(?:[.,]\d+)?)?"
    r"\s*(?P<tz>Z|z|UTC|GMT|[+-][0-2]\d(?::?[0-5]\d)?)?)?"
)
# Dates in article URLs: /2024/05/03/, /2024-05-03/, /20240503/ (all with a sane month and day).
_URL_DATE = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d\d)(?P<s>[/_-]?)(?P<m>0[1-9]|1[0-2])(?P=s)(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"
)


@dataclass(frozen=True)
class FoundDate:
    value: datetime
    precision: str  # "second" or "day"
    method: str


def parse_date(text: str | None) -> tuple[datetime, str] | None:
    """An aware UTC datetime and its precision from ISO 8601, compact ISO or RFC 2822 text."""
    if not text:
        return None
    text = text.strip()
    match = _ISO.search(text)
    if match:
        return _from_match(match)
    if re.fullmatch(r"\d{10}(\d{3})?", text):  # epoch seconds or milliseconds
        seconds = int(text[:10])
        return datetime.fromtimestamp(seconds, tz=UTC), "second"
    try:
        parsed = parsedate_to_datetime(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        # 31 Dec 9999 at -23:59 is past the last datetime once in UTC (found by tests/fuzz).
        return parsed.astimezone(UTC), "second"
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _from_match(match: re.Match[str]) -> tuple[datetime, str] | None:
    g = match.groupdict()
    try:
        if g["H"] is None:
            return datetime(int(g["y"]), int(g["m"]), int(g["d"]), tzinfo=UTC), "day"
        tz = UTC
        raw = g["tz"]
        if raw and raw[0] in "+-":
            digits = raw[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = timezone(offset if raw[0] == "+" else -offset)
        value = datetime(int(g["y"]), int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]),
                         int(g["S"] or 0), tzinfo=tz)
    except ValueError:
        return None
    return value.astimezone(UTC), "second"


def sane(value: datetime, reference: datetime, earliest: datetime = EARLIEST) -> bool:
    return earliest <= value <= reference + FUTURE_SLACK


def _stated_sane(value: datetime, reference: datetime) -> bool:
    return sane(value, reference, EARLIEST_STATED) and value.astimezone(UTC).date() != EPOCH_DAY


def _first_sane(candidates: list[tuple[str, str | None]], reference: datetime) -> FoundDate | None:
    for method, text in candidates:
        parsed = parse_date(text)
        if parsed and _stated_sane(parsed[0], reference):
            return FoundDate(parsed[0], parsed[1], method)
    return None


def url_date(url: str) -> tuple[datetime, str] | None:
    path = url.split("?", 1)[0].split("://", 1)[-1]
    match = _URL_DATE.search(path.split("/", 1)[-1] if "/" in path else "")
    if not match:
        return None
    try:
        return datetime(int(match["y"]), int(match["m"]), int(match["d"]), tzinfo=UTC), "day"
    except ValueError:
        return None


def _htmldate(tree: lxml_html.HtmlElement, url: str, reference: datetime) -> tuple[datetime, str] | None:
    from htmldate import find_date  # imported late: only pages without any stated date need it

    try:
        # htmldate prunes the tree it is given, so it gets its own copy.
        found = find_date(copy.deepcopy(tree), extensive_search=False, original_date=True, url=url,
                          max_date=(reference + FUTURE_SLACK).strftime("%Y-%m-%d"))
    except (ValueError, TypeError):
        return None
    return parse_date(found) if found else None


def stated_published(meta: PageMeta) -> list[tuple[str, str | None]]:
    """Publication dates the page states in its markup, by method: JSON-LD, meta, microdata, hNews, <time>."""
    article = meta.jsonld.article or {}
    candidates: list[tuple[str, str | None]] = [
        ("jsonld", jsonld_text(article.get("datePublished"))),
        ("jsonld", jsonld_text(article.get("dateCreated"))),
    ]
    candidates += [("meta", v) for v in meta.all(*PUBLISHED_META)]
    candidates += [("microdata", v) for v in meta.itemprops.get("datePublished", ())]
    candidates += [("hnews", v) for v in meta.hnews_published]
    candidates += [("time", v) for v in meta.time_datetimes[:3]]
    return candidates


def published_date(meta: PageMeta, tree: lxml_html.HtmlElement | None, reference: datetime) -> FoundDate | None:
    """The first sane publication date: JSON-LD, meta, microdata, hNews, <time>, URL, htmldate."""
    found = _first_sane(stated_published(meta), reference)
    if found:
        return found
    for method, parsed in (("url", url_date(meta.url)),
                           ("htmldate", _htmldate(tree, meta.url, reference) if tree is not None else None)):
        if parsed and sane(parsed[0], reference):
            return FoundDate(parsed[0], parsed[1], method)
    return None


def modified_date(meta: PageMeta, reference: datetime) -> FoundDate | None:
    article = meta.jsonld.article or {}
    candidates: list[tuple[str, str | None]] = [("jsonld", jsonld_text(article.get("dateModified")))]
    candidates += [("meta", v) for v in meta.all(*MODIFIED_META)]
    candidates += [("microdata", v) for v in meta.itemprops.get("dateModified", ())]
    candidates += [("hnews", v) for v in meta.hnews_updated]
    return _first_sane(candidates, reference)
