"""The Wayback Machine: its CDX index of a URL prefix → Candidates whose bytes are raw captures.

Discovery asks the CDX server (``{archive}/cdx/search/cdx``) in its own query form: the URL
prefix (``matchType=prefix``), ``from``/``to`` as 14-digit timestamps, ``filter=statuscode:200``
and ``filter=mimetype:text/html``, ``collapse=urlkey`` (each URL once: its first capture in the
range), ``fl=`` for the fields read, ``output=json`` (a header row first, then one row per
capture) and paging by ``showResumeKey=true``: after an empty row, the last row holds the key
the next request passes as ``resumeKey``. Every row becomes a Candidate whose ``url`` is the
original URL (the article's id) and whose ``snapshot`` is the raw capture,
``{archive}/web/{timestamp}id_/{original}``: the bytes as the site sent them, unrewritten.

The query runs ``CAPTURE_LAG`` past the window's end, because a page is often captured days
after it was published; the page's own date (or, without one, the capture time) then decides
whether it belongs to the window (pipeline/fetch/run.py). Fetching the captures goes through
the polite fetcher like any page: the archive host's per-host gate, robots.txt, Retry-After and
backoff on 429 and 503. ``original_headers`` turns a raw capture's ``X-Archive-Orig-*`` headers
back into the original response's.

An answer that is no CDX JSON (an HTML error page, a cut-off body) is one PARSE_ERROR for that
query; a row without the fields it needs is one BAD_RECORD; the other rows and sources go on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pipeline.discover.candidates import Candidate, FetchXml, Skipped, Window, as_utc
from pipeline.outcomes import Outcome, StageResult
from pipeline.sources import Source
from pipeline.urls import canonicalize

# Captures lag publication (a ministry's page may be archived days later); a week covers most.
CAPTURE_LAG = timedelta(days=7)
PAGE_ROWS = 5000  # rows asked per CDX request; the resume key continues from there
FIELDS = ("timestamp", "original", "mimetype", "statuscode", "digest")
_RAW_CAPTURE = re.compile(r"/web/(\d{14})id_/(.+)$")
_ORIGINAL_PREFIX = "x-archive-orig-"
# Framing of the archive's own response, not the original's: the stored body is the decoded one.
_FRAMING = {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}


class CdxRejected(ValueError):
    """A CDX answer that is not the JSON the server's documented format promises; the message says what it was."""


@dataclass(frozen=True)
class CdxPage:
    rows: list[dict[str, str] | StageResult]  # a row by field name, or BAD_RECORD for a row that cannot be used
    resume_key: str | None


def timestamp(value: datetime) -> str:
    return as_utc(value).strftime("%Y%m%d%H%M%S")


def parse_timestamp(text: str) -> datetime | None:
    """A Wayback timestamp (14 digits, UTC) as an aware datetime; None when it is not one."""
    if not re.fullmatch(r"\d{14}", text or ""):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def cdx_url(archive: str, prefix: str, window: Window, resume_key: str | None = None) -> str:
    """The CDX query for the captures of ``prefix`` from the window's start to CAPTURE_LAG past its end."""
    start, end = window
    params = [
        ("url", prefix),
        ("matchType", "prefix"),
        ("output", "json"),
        ("fl", ",".join(FIELDS)),
        ("filter", "statuscode:200"),
        ("filter", "mimetype:text/html"),
        ("collapse", "urlkey"),
        ("from", timestamp(start)),
        ("to", timestamp(as_utc(end) + CAPTURE_LAG - timedelta(seconds=1))),  # `to` is inclusive
        ("limit", str(PAGE_ROWS)),
        ("showResumeKey", "true"),
    ]
    if resume_key is not None:
        params.append(("resumeKey", resume_key))
    return f"{archive.rstrip('/')}/cdx/search/cdx?{urlencode(params)}"


def snapshot_url(archive: str, stamp: str, original: str) -> str:
    """The raw capture: the original bytes, no rewriting, no toolbar (the ``id_`` flag)."""
    return f"{archive.rstrip('/')}/web/{stamp}id_/{original}"


def parse_cdx(body: bytes) -> CdxPage:
    """One CDX JSON answer: rows by the header row's field names, and the resume key when there is more."""
    head = body.lstrip()[:1]
    if head == b"<":
        raise CdxRejected(f"an HTML page instead of CDX JSON: {_snippet(body)}")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CdxRejected(f"not CDX JSON ({exc}): {_snippet(body)}") from exc
    if not isinstance(data, list):
        raise CdxRejected(f"CDX JSON is a list of rows, got a {type(data).__name__}")
    if not data:
        return CdxPage([], None)  # no captures in the range
    header = data[0]
    if not isinstance(header, list) or not all(isinstance(f, str) for f in header) or not header:
        raise CdxRejected(f"the first CDX row is not the field header: {str(header)[:120]}")
    rows: list[dict[str, str] | StageResult] = []
    resume_key: str | None = None
    body_rows = data[1:]
    if len(body_rows) >= 2 and body_rows[-2] == []:  # [..rows.., [], [resume key]]
        last = body_rows[-1]
        resume_key = last[0] if isinstance(last, list) and last and isinstance(last[0], str) else None
        body_rows = body_rows[:-2]
    for number, row in enumerate(body_rows, start=2):
        if not isinstance(row, list) or len(row) != len(header) or not all(isinstance(v, str) for v in row):
            found = len(row) if isinstance(row, list) else type(row).__name__
            rows.append(StageResult(Outcome.BAD_RECORD, reason=f"CDX row {number} has {found} fields, "
                                                                f"the header {len(header)}: {str(row)[:160]}"))
            continue
        rows.append(dict(zip(header, row, strict=True)))
    return CdxPage(rows, resume_key)


def discover_wayback(
    source: Source, window: Window | None, fetch_data: FetchXml, max_pages: int = 200
) -> Iterator[Candidate | StageResult | Skipped]:
    """Every capture of the source's URL prefixes in the window (plus CAPTURE_LAG), as Candidates."""
    archive = source.archive or "https://web.archive.org"
    if window is None:
        yield Skipped(archive, "wayback needs a window (--since/--until): it holds decades of captures")
        return
    for prefix in source.urls:
        yield from _prefix(source, archive, prefix, window, fetch_data, max_pages)


def _prefix(
    source: Source, archive: str, prefix: str, window: Window, fetch_data: FetchXml, max_pages: int
) -> Iterator[Candidate | StageResult | Skipped]:
    resume_key: str | None = None
    for _ in range(max_pages):
        query = cdx_url(archive, prefix, window, resume_key)
        body = fetch_data(query)
        if body is None:  # the fetcher recorded why
            return
        try:
            page = parse_cdx(body)
        except CdxRejected as exc:
            yield StageResult(Outcome.PARSE_ERROR, reason=str(exc), url=query)
            return
        for row in page.rows:
            yield _candidate(row, source, archive, query) if isinstance(row, dict) else _located(row, query)
        if page.resume_key is None:
            return
        resume_key = page.resume_key
    yield Skipped(prefix, f"CDX page cap ({max_pages}) reached")


def _located(result: StageResult, query: str) -> StageResult:
    return StageResult(result.outcome, reason=result.reason, url=f"{query}#row")


def _candidate(row: dict[str, str], source: Source, archive: str, query: str) -> Candidate | StageResult:
    stamp, original = row.get("timestamp", ""), row.get("original", "")
    captured = parse_timestamp(stamp)
    if captured is None or not original.startswith(("http://", "https://")):
        return StageResult(Outcome.BAD_RECORD, url=f"{query}#row",
                           reason=f"CDX row without a timestamp and original URL: {json.dumps(row)[:200]}")
    if row.get("statuscode", "200") != "200" or not row.get("mimetype", "text/html").startswith("text/html"):
        return StageResult(Outcome.BAD_RECORD, url=f"{query}#row",
                           reason=f"CDX row outside the query's filters: {json.dumps(row)[:200]}")
    return Candidate(
        url=canonicalize(original),  # CDX spells default ports out (http://host:80/...)
        source_id=source.id,
        language=source.language,
        via=query,
        snapshot=snapshot_url(archive, stamp, original),
        captured_at=captured,
    )


def original_headers(headers: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """A raw capture's response headers as the original site sent them: ``X-Archive-Orig-*`` renamed back.

    The archive's own headers go, except Content-Type, which the raw mode passes through (used
    when no X-Archive-Orig-Content-Type is given). Framing goes too: the body is stored decoded.
    """
    original: list[tuple[str, str]] = []
    content_type: str | None = None
    for name, value in headers:
        lowered = name.lower()
        if lowered.startswith(_ORIGINAL_PREFIX):
            real = name[len(_ORIGINAL_PREFIX):]
            if real.lower() not in _FRAMING:
                original.append((real, value))
        elif lowered == "content-type":
            content_type = value
    if content_type and not any(k.lower() == "content-type" for k, _ in original):
        original.append(("Content-Type", content_type))
    return tuple(original)


def capture_of(url: str) -> tuple[datetime, str] | None:
    """(capture time, original URL) of a raw capture URL; None for anything else."""
    match = _RAW_CAPTURE.search(url)
    if match is None:
        return None
    when = parse_timestamp(match.group(1))
    return (when, match.group(2)) if when else None


def same_original(snapshot: str, other: str) -> bool:
    """Whether ``other`` is a raw capture of the same original URL as ``snapshot`` (another timestamp is fine)."""
    mine, theirs = capture_of(snapshot), capture_of(other)
    return mine is not None and theirs is not None and canonicalize(mine[1]) == canonicalize(theirs[1])


def _snippet(body: bytes) -> str:
    text = body[:120].decode("utf-8", "replace")
    return " ".join(text.split())
