"""WARC / WARC.gz archives (CC-NEWS style) → already-captured responses in a window, for some hosts.

Read streaming with warcio: one record at a time, never the whole file. A record
is kept when it is an HTTP 2xx response, its WARC-Date falls in the window and
its host is one of the source's ``hosts`` (a host or any subdomain of it; no
hosts means every host). The location is a local path or glob (``~`` expanded),
or an object-store URL that fsspec understands (``s3://bucket/CC-NEWS-*.warc.gz``).
"""

from __future__ import annotations

import glob
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from urllib.parse import urlsplit

from warcio.exceptions import ArchiveLoadFailed

from pipeline.discover.candidates import Candidate, Window, in_window
from pipeline.outcomes import Outcome, StageResult
from pipeline.sources import Source

# Headers that described the wire framing of the original body, which we store decoded.
_DROPPED_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}
_READ_ERRORS = (ArchiveLoadFailed, EOFError, zlib.error, OSError, ValueError, IndexError)


@dataclass(frozen=True)
class ArchivedResponse:
    """One HTTP response as an archive holds it, body decoded, ready to copy into the run's WARC."""

    url: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    captured_at: datetime | None
    archive: str
    offset: int


def archive_locations(location: str) -> list[str]:
    """The files a source's ``path`` names, sorted so a run reads them in a stable order."""
    if "://" in location and not location.startswith("file://"):
        import fsspec  # object stores only

        if any(ch in location for ch in "*?["):
            return sorted(f.full_name for f in fsspec.open_files(location))
        return [location]
    local = os.path.expanduser(location.removeprefix("file://"))
    return sorted(glob.glob(local)) if any(ch in local for ch in "*?[") else [local]


def host_matches(url: str, hosts: Sequence[str]) -> bool:
    if not hosts:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in (x.lower().lstrip(".") for x in hosts))


def iter_archive(
    source: Source, window: Window | None, max_bytes: int = 10 * 1024 * 1024
) -> Iterator[Candidate | StageResult]:
    """Candidates carrying their archived response; a damaged file yields one BAD_RECORD and the next file goes on."""
    from pipeline.fetch.warc import open_location  # lazily: pipeline.fetch imports discovery

    for location in archive_locations(source.path or ""):
        try:
            stream = open_location(location)
        except OSError as exc:
            yield StageResult(Outcome.BAD_RECORD, reason=f"cannot open archive: {exc}", url=location)
            continue
        with stream:
            yield from _records(stream, location, source, window, max_bytes)


def _records(
    stream: IO[bytes], location: str, source: Source, window: Window | None, max_bytes: int
) -> Iterator[Candidate | StageResult]:
    from pipeline.fetch.warc import parse_warc_date, response_records

    for item in response_records(stream, location):
        if isinstance(item, StageResult):
            yield item
            return
        record, offset = item
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        captured_at = parse_warc_date(record.rec_headers.get_header("WARC-Date"))
        if not host_matches(url, source.hosts) or not in_window(captured_at, window):
            continue  # cheap header checks first: most of a CC-NEWS file is other hosts
        try:
            response = _response(record, url, captured_at, location, offset, max_bytes)
        except _READ_ERRORS as exc:
            yield StageResult(Outcome.BAD_RECORD, reason=f"unreadable record: {type(exc).__name__}: {exc}", url=url)
            return
        if isinstance(response, StageResult):
            yield response
        elif 200 <= response.status < 300:
            yield Candidate(url=url, source_id=source.id, language=source.language, via=location, archived=response)


def _response(
    record: Any, url: str, captured_at: datetime | None, location: str, offset: int, max_bytes: int
) -> ArchivedResponse | StageResult:
    body = record.content_stream().read(max_bytes + 1)
    if len(body) > max_bytes:
        return StageResult(Outcome.TOO_LARGE, reason=f"archived body over {max_bytes} bytes", url=url)
    if getattr(record.raw_stream, "limit", 0) > 0:
        raise EOFError(f"record truncated: {record.raw_stream.limit} bytes missing")
    http = record.http_headers
    status_line = (http.statusline or "").split(" ", 1)
    try:
        status = int(status_line[0])
    except ValueError:
        return StageResult(Outcome.BAD_RECORD, reason="no HTTP status line", url=url)
    return ArchivedResponse(
        url=url,
        status=status,
        reason=status_line[1] if len(status_line) > 1 else "",
        headers=tuple((k, v) for k, v in http.headers if k.lower() not in _DROPPED_HEADERS),
        body=body,
        captured_at=captured_at,
        archive=location,
        offset=offset,
    )
