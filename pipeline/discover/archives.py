"""WARC / WARC.gz archives (CC-NEWS style) → already-captured responses in a window, for some hosts.

Read streaming with the one WARC reader (pipeline.warc), one record at a time, never the whole file; a damaged
record is one BAD_RECORD and the records after it are still read. A record is kept when it is
an HTTP 2xx response, its WARC-Date falls in the window and its host is one of the source's
``hosts`` (a host or any subdomain of it; no hosts means every host). The location is a local
path or glob (``~`` expanded), or an object-store URL that fsspec understands
(``s3://bucket/CC-NEWS-*.warc.gz``).
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO
from urllib.parse import urlsplit

from pipeline.discover.candidates import Candidate, Window, as_utc
from pipeline.outcomes import Outcome, StageResult
from pipeline.sources import Source
from pipeline.urls import is_object_store, local_path
from pipeline.warc import open_location, read_responses

# Headers that described the wire framing of the original body, which we store decoded.
_DROPPED_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


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
    if is_object_store(location):
        import fsspec  # object stores only

        if any(ch in location for ch in "*?["):
            return sorted(f.full_name for f in fsspec.open_files(location))
        return [location]
    local = str(local_path(location))
    return sorted(glob.glob(local)) if any(ch in local for ch in "*?[") else [local]


def host_matches(url: str, hosts: Sequence[str]) -> bool:
    if not hosts:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in (x.lower().lstrip(".") for x in hosts))


def captured_since_start(captured_at: datetime | None, window: Window | None) -> bool:
    """Whether a record captured then may hold an article of the window (undated: no proof, left out)."""
    if window is None:
        return True
    return captured_at is not None and as_utc(captured_at) >= as_utc(window[0])


def iter_archive(
    source: Source, window: Window | None, max_bytes: int = 10 * 1024 * 1024
) -> Iterator[Candidate | StageResult]:
    """Candidates carrying their archived response; a damaged file yields one BAD_RECORD and the next file goes on."""
    for location in archive_locations(source.path or ""):
        try:
            stream = open_location(location)
        except OSError as exc:
            yield StageResult(Outcome.BAD_RECORD, reason=f"cannot open archive: {exc}", url=location)
            continue
        with stream:
            yield from archived_candidates(stream, location, source, window, max_bytes)


def archived_candidates(
    stream: IO[bytes], location: str, source: Source, window: Window | None, max_bytes: int
) -> Iterator[Candidate | StageResult]:
    """The 2xx responses of one WARC stream for the source's hosts in the window, as Candidates carrying them."""
    def wanted(url: str, captured_at: datetime | None) -> bool:
        # Most of CC-NEWS is other hosts. A record captured before the window cannot hold an article of
        # it; one captured later can (an archive re-read, a late crawl): its own date decides, in fetch.
        return host_matches(url, source.hosts) and captured_since_start(captured_at, window)

    # Damage in the file is a BAD_RECORD and the reader goes on to the next record: so does discovery.
    for item in read_responses(stream, location, max_bytes, wanted):
        if isinstance(item, StageResult):
            yield item
        elif 200 <= item.status < 300:
            archived = ArchivedResponse(
                url=item.url,
                status=item.status,
                reason=item.reason,
                headers=tuple((k, v) for k, v in item.headers if k.lower() not in _DROPPED_HEADERS),
                body=item.payload,
                captured_at=item.warc_date,
                archive=location,
                offset=item.offset,
            )
            yield Candidate(
                url=item.url, source_id=source.id, language=source.language, via=location, archived=archived
            )
