"""CC-NEWS (Common Crawl's news crawl, from August 2016): the WARC files of a window, streamed by range.

Each month has a listing, ``{archive}crawl-data/CC-NEWS/YYYY/MM/warc.paths.gz``: gzipped, one
path per line (``crawl-data/CC-NEWS/2016/09/CC-NEWS-20160926211809-00000.warc.gz``), where the
name's timestamp is when the crawler began writing that file. A file is read when its span, from
its timestamp to the next file's, meets the window (so the month before the window's is listed
too: its last file runs into the window). Each file (about 1 GB) is streamed over HTTP range
requests through the one WARC reader (pipeline.warc), records kept by host and WARC-Date,
damaged records counted and skipped; one pass serves every ccnews source of the run, each record
going to the source whose hosts hold it. The listing gives no md5; the file's length as the
server states it is checked against the bytes read, so a short transfer is a BAD_RECORD.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import IO, cast

from pipeline.discover.archives import archived_candidates, host_matches
from pipeline.discover.candidates import (
    Candidate,
    FetchXml,
    OpenRanged,
    RangedReadFailed,
    Skipped,
    Window,
    as_utc,
)
from pipeline.discover.xmlsafe import XmlRejected, maybe_gunzip
from pipeline.outcomes import Outcome, StageResult
from pipeline.sources import Source

FIRST_MONTH = datetime(2016, 8, 1, tzinfo=UTC)
# Pages are crawled hours to a day after they are published; the page's own date then decides.
CRAWL_LAG = timedelta(days=1)
_NAME = re.compile(r"CC-NEWS-(\d{14})-\d{5}\.warc\.gz$")


def listing_url(archive: str, month: datetime) -> str:
    return f"{archive.rstrip('/')}/crawl-data/CC-NEWS/{month:%Y/%m}/warc.paths.gz"


def file_time(path: str) -> datetime | None:
    match = _NAME.search(path)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def months(window: Window) -> list[datetime]:
    """The month before the window's start through the month of its end, from CC-NEWS's first."""
    start, end = as_utc(window[0]), as_utc(window[1]) - timedelta(microseconds=1)
    month = datetime(start.year, start.month, 1, tzinfo=UTC)
    month = datetime(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1, tzinfo=UTC)
    out: list[datetime] = []
    while month <= end:
        if month >= FIRST_MONTH:
            out.append(month)
        month = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    return out


def files_in_window(paths: Sequence[tuple[datetime, str]], window: Window) -> list[str]:
    """The paths whose span (to the next file's timestamp; the last one's is open) meets [start, end)."""
    start, end = as_utc(window[0]), as_utc(window[1])
    ordered = sorted(paths)
    chosen: list[str] = []
    for i, (began, path) in enumerate(ordered):
        ended = ordered[i + 1][0] if i + 1 < len(ordered) else None
        if began < end and (ended is None or ended > start):
            chosen.append(path)
    return chosen


def discover_ccnews(
    sources: Sequence[Source], window: Window | None, fetch_data: FetchXml, open_ranged: OpenRanged,
    max_bytes: int = 10 * 1024 * 1024,
) -> Iterator[Candidate | StageResult | Skipped]:
    """Archived responses of every ccnews source given, one pass over the files they share."""
    if window is None:
        yield Skipped(sources[0].archive or "ccnews", "ccnews needs a window (--since/--until)")
        return
    by_archive: dict[str, list[Source]] = {}
    for source in sources:
        by_archive.setdefault(source.archive or "", []).append(source)
    wide = (as_utc(window[0]), as_utc(window[1]) + CRAWL_LAG)
    for archive, group in by_archive.items():
        paths: list[tuple[datetime, str]] = []
        for month in months(wide):
            url = listing_url(archive, month)
            body = fetch_data(url)
            if body is None:  # the fetcher recorded why (a month CC-NEWS does not have is a 404)
                continue
            try:
                text = maybe_gunzip(body).decode("utf-8", "replace")
            except XmlRejected as exc:
                yield StageResult(Outcome.BAD_RECORD, reason=f"CC-NEWS listing: {exc}", url=url)
                continue
            for line in text.splitlines():
                began = file_time(line.strip())
                if began is not None:
                    paths.append((began, line.strip()))
                elif line.strip():
                    yield StageResult(Outcome.BAD_RECORD, reason=f"not a CC-NEWS WARC path: {line[:160]!r}",
                                      url=f"{url}#{line[:80]}")
        for path in files_in_window(paths, wide):
            yield from _read_file(f"{archive.rstrip('/')}/{path.lstrip('/')}", group, wide, open_ranged, max_bytes)


def _read_file(
    url: str, sources: Sequence[Source], window: Window, open_ranged: OpenRanged, max_bytes: int
) -> Iterator[Candidate | StageResult]:
    hosts = tuple(h for s in sources for h in s.hosts)
    reader = replace(sources[0], hosts=hosts)  # one pass keeps every source's hosts
    try:
        with open_ranged(url) as stream:
            counted = _Counted(stream)
            for item in archived_candidates(cast(IO[bytes], counted), url, reader, window, max_bytes):
                yield _owned(item, sources) if isinstance(item, Candidate) else item
            short = counted.short_by()
            if short:
                yield StageResult(Outcome.BAD_RECORD, url=f"{url}#length",
                                  reason=f"the server's length is {counted.size} bytes, {short} fewer were read")
    except RangedReadFailed as exc:
        yield StageResult(exc.outcome, reason=exc.reason, url=url)


def _owned(candidate: Candidate, sources: Sequence[Source]) -> Candidate:
    owner = next((s for s in sources if host_matches(candidate.url, s.hosts)), sources[0])
    return replace(candidate, source_id=owner.id, language=owner.language)


class _Counted:
    """The stream as the WARC reader sees it, counting the bytes that arrive, to check the length at the end."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.size: int | None = getattr(stream, "size", None)
        self._end = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._end = max(self._end, self._stream.tell() if self._stream.seekable() else self._end + len(data))
        return data

    def readline(self) -> bytes:
        return self._stream.readline()

    def seekable(self) -> bool:
        return self._stream.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def short_by(self) -> int:
        """How many bytes short of the stated length reading ended; 0 when whole or no length is stated."""
        return max(0, self.size - self._end) if isinstance(self.size, int) else 0
