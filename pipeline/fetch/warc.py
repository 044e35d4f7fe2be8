"""The run's raw capture: one WARC per run, request + response records, and its reader.

Writing: ``WarcSink`` appends a request record and a response record for every
fetched article (or a response record copied from a source archive). The
response block is the HTTP response as received: status line, headers and the
body still in its Content-Encoding, so any WARC tool can replay it. Chancery's
own facts ride in extra WARC headers:

- ``WARC-Chancery-Source``: the sources-file id;
- ``WARC-Chancery-Run-Id``: the run that captured it;
- ``WARC-Chancery-Fetch-URL``: the URL first requested (before redirects);
- ``WARC-Chancery-Canonical-URL``: the seen-store key (rel=canonical / og:url, same site);
- ``WARC-Chancery-Redirects``: JSON list of the hops followed.

Reading: ``iter_responses(path)`` yields one ``RawPage`` per response record and
a ``StageResult(BAD_RECORD)`` for anything unreadable; it never raises mid-batch,
so one truncated file cannot stop a replay.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from pipeline.models import Provenance, RawPage, SourceRef, domain_of
from pipeline.outcomes import Outcome, StageResult

HEADER_SOURCE = "WARC-Chancery-Source"
HEADER_RUN_ID = "WARC-Chancery-Run-Id"
HEADER_FETCH_URL = "WARC-Chancery-Fetch-URL"
HEADER_CANONICAL = "WARC-Chancery-Canonical-URL"
HEADER_REDIRECTS = "WARC-Chancery-Redirects"

# A replayed page larger than this is refused rather than held in memory; fetch
# never writes one this big (FetchSettings.max_bytes is far below).
DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024

# Hop-by-hop framing the capture no longer has: the stored body is de-chunked.
_FRAMING_HEADERS = {"transfer-encoding", "content-length", "connection", "keep-alive"}


@dataclass(frozen=True)
class CapturedResponse:
    """One HTTP exchange, ready to be written as request + response records."""

    url: str  # final URL after redirects: the WARC-Target-URI
    status: int
    reason: str
    headers: Sequence[tuple[str, str]]
    raw_body: bytes  # as received on the wire, still content-encoded
    fetched_at: datetime
    source_id: str
    run_id: str
    fetch_url: str
    canonical_url: str
    redirects: Sequence[str] = ()
    request_headers: Mapping[str, str] | None = None  # None: copied from an archive, no request record


class WarcSink:
    """Appends captured responses to one gzipped WARC 1.1 file (one gzip member per record).

    Records are serialised here rather than through warcio's writer: the format is a
    header block and a body, and warcio's record builder cost a quarter of a page's CPU
    in bench/fetch_throughput.py. warcio still reads every file (iter_responses, and the
    tests check the digests with it).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[bytes] = path.open("wb")  # "wb": a retried run rewrites its own batch
        self.records = 0
        self._write_warcinfo()

    def __enter__(self) -> WarcSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def _write_warcinfo(self) -> None:
        block = b"software: chancery\r\nformat: WARC File Format 1.1\r\n"
        headers = [
            ("WARC-Type", "warcinfo"),
            ("WARC-Record-ID", _record_id()),
            ("WARC-Filename", self.path.name),
            ("WARC-Date", _warc_date(datetime.now(UTC))),
            ("Content-Type", "application/warc-fields"),
        ]
        self._append(headers, block)

    def write(self, captured: CapturedResponse) -> int:
        """Write the exchange; return the byte offset of its response record."""
        warc_date = _warc_date(captured.fetched_at)
        status_line = f"HTTP/1.1 {captured.status} {captured.reason}".strip()
        http_head = _http_head(status_line, _stored_headers(captured.headers, len(captured.raw_body)))
        block = http_head + captured.raw_body
        response_id = _record_id()
        headers = [
            ("WARC-Type", "response"),
            ("WARC-Record-ID", response_id),
            ("WARC-Date", warc_date),
            ("WARC-Target-URI", captured.url),
            (HEADER_SOURCE, captured.source_id),
            (HEADER_RUN_ID, captured.run_id),
            (HEADER_FETCH_URL, captured.fetch_url),
            (HEADER_CANONICAL, captured.canonical_url),
            (HEADER_REDIRECTS, json.dumps(list(captured.redirects))),
            ("WARC-Payload-Digest", _sha1(captured.raw_body)),
            ("WARC-Block-Digest", _sha1(block)),
            ("Content-Type", "application/http; msgtype=response"),
        ]
        offset = self._append(headers, block)
        if captured.request_headers is not None:
            self._write_request(captured, warc_date, response_id)
        return offset

    def _write_request(self, captured: CapturedResponse, warc_date: str, response_id: str) -> None:
        parts = urlsplit(captured.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        fields = [("Host", parts.netloc), *(captured.request_headers or {}).items()]
        block = _http_head(f"GET {target} HTTP/1.1", fields)
        headers = [
            ("WARC-Type", "request"),
            ("WARC-Record-ID", _record_id()),
            ("WARC-Date", warc_date),
            ("WARC-Target-URI", captured.url),
            ("WARC-Concurrent-To", response_id),
            ("WARC-Block-Digest", _sha1(block)),
            ("Content-Type", "application/http; msgtype=request"),
        ]
        self._append(headers, block)

    def _append(self, headers: list[tuple[str, str]], block: bytes) -> int:
        """One record as one gzip member, so any record can be read from its offset alone."""
        head = "WARC/1.1\r\n" + "".join(f"{k}: {_one_line(v)}\r\n" for k, v in headers)
        head += f"Content-Length: {len(block)}\r\n\r\n"
        packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        member = packer.compress(head.encode("utf-8")) + packer.compress(block) + packer.compress(b"\r\n\r\n")
        offset = self._file.tell()
        self._file.write(member + packer.flush())
        self.records += 1
        return offset


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def _one_line(value: str) -> str:
    """Header values never carry a line break into the record (a hostile server cannot forge headers)."""
    return value.replace("\r", " ").replace("\n", " ")


def _http_head(start_line: str, fields: Sequence[tuple[str, str]]) -> bytes:
    # HTTP header bytes are ISO-8859-1 on the wire (http.client decoded them that way).
    text = start_line + "\r\n" + "".join(f"{k}: {_one_line(v)}\r\n" for k, v in fields) + "\r\n"
    return text.encode("iso-8859-1", "replace")


def _stored_headers(headers: Sequence[tuple[str, str]], body_length: int) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in headers if k.lower() not in _FRAMING_HEADERS]
    return kept + [("Content-Length", str(body_length))]


def _warc_date(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_warc_date(value: str | None) -> datetime | None:
    """WARC-Date in its 1.0 (seconds) or 1.1 (fractions) form, as an aware UTC datetime."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------- reading


def iter_responses(path: Path | str, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Iterator[RawPage | StageResult]:
    """Every response record of a WARC / WARC.gz as a RawPage; unreadable records as BAD_RECORD.

    ``path`` is a local path or an fsspec URL (s3://, gs://, memory:// ...).
    Truncation or a corrupt gzip member ends the file with one BAD_RECORD, since
    nothing after it can be trusted; the caller's batch goes on.
    """
    name = str(path)
    try:
        stream = open_location(path)
    except OSError as exc:
        yield StageResult(Outcome.BAD_RECORD, reason=f"cannot open WARC: {exc}", url=name)
        return
    with stream:
        yield from _iter_stream(stream, name, max_payload)


def open_location(path: Path | str) -> IO[bytes]:
    """A local path, a file:// URL, or an object-store URL through fsspec (s3://, gs://, memory:// ...)."""
    if isinstance(path, str) and "://" in path and not path.startswith("file://"):
        import fsspec  # only for object-store locations

        opened: IO[bytes] = fsspec.open(path, "rb").open()
        return opened
    local = Path(path[len("file://") :] if isinstance(path, str) and path.startswith("file://") else path)
    return local.open("rb")


# What a damaged archive raises from deep inside warcio / gzip / zlib.
# AttributeError/TypeError: warcio trips on a response record with no WARC-Target-URI.
_READ_ERRORS = (ArchiveLoadFailed, EOFError, zlib.error, OSError, ValueError, IndexError, AttributeError, TypeError)


def unread_tail(records: ArchiveIterator, stream: IO[bytes]) -> int:
    """Bytes after the last complete record: warcio stops silently at a cut-off record, this notices."""
    end = int(sum(records.member_info)) if records.member_info else int(records.offset)
    try:
        size = int(stream.seek(0, io.SEEK_END))
    except (OSError, ValueError):  # an unseekable stream: cannot tell, trust warcio
        return 0
    tail = max(0, size - end)
    if 0 < tail <= 64:
        stream.seek(end)
        if not stream.read(tail).strip():  # the CRLF CRLF that ends an uncompressed record
            return 0
    return tail


def response_records(stream: IO[bytes], location: str) -> Iterator[tuple[Any, int] | StageResult]:
    """Each HTTP response record with its offset. Damage or truncation ends the file with one
    BAD_RECORD, since nothing after it can be trusted. Read each record before asking for the next."""
    records = ArchiveIterator(stream)
    while True:
        try:
            record = next(records)
        except StopIteration:
            tail = unread_tail(records, stream)
            if tail:
                yield StageResult(
                    Outcome.BAD_RECORD, reason=f"truncated WARC: {tail} bytes after the last record", url=location
                )
            return
        except _READ_ERRORS as exc:
            yield StageResult(Outcome.BAD_RECORD, reason=f"unreadable WARC: {type(exc).__name__}: {exc}", url=location)
            return
        if record.rec_type == "response" and record.http_headers is not None:
            yield record, records.offset  # the record's start; get_record_offset() would consume it


def _iter_stream(stream: IO[bytes], name: str, max_payload: int) -> Iterator[RawPage | StageResult]:
    for item in response_records(stream, name):
        if isinstance(item, StageResult):
            yield item
            return
        record, offset = item
        try:
            yield _raw_page(record, name, offset, max_payload)
        except _READ_ERRORS as exc:
            target = record.rec_headers.get_header("WARC-Target-URI") or name
            yield StageResult(Outcome.BAD_RECORD, reason=f"unreadable record: {type(exc).__name__}: {exc}", url=target)
            return


def _raw_page(record: Any, name: str, offset: int, max_payload: int) -> RawPage | StageResult:
    warc = record.rec_headers
    url = warc.get_header("WARC-Target-URI") or ""
    content = record.content_stream().read(max_payload + 1)  # decodes chunking and Content-Encoding
    if len(content) > max_payload:
        return StageResult(Outcome.BAD_RECORD, reason=f"payload over {max_payload} bytes", url=url)
    if getattr(record.raw_stream, "limit", 0) > 0:  # warcio returns a cut-off block without complaint
        raise EOFError(f"record truncated: {record.raw_stream.limit} bytes missing")
    http = record.http_headers
    status = _status(http.get_statuscode())
    if status is None:
        return StageResult(Outcome.BAD_RECORD, reason="no HTTP status line", url=url)
    return RawPage(
        url=url,
        content=content,
        content_type=http.get_header("Content-Type"),
        status=status,
        headers=_header_map(http.headers),
        fetched_at=parse_warc_date(warc.get_header("WARC-Date")),
        source=SourceRef(domain=domain_of(url), id=warc.get_header(HEADER_SOURCE) or None),
        provenance=Provenance(
            fetch_url=warc.get_header(HEADER_FETCH_URL) or url,
            warc_file=name,
            warc_offset=offset,
            run_id=warc.get_header(HEADER_RUN_ID) or None,
        ),
    )


def _status(code: str | None) -> int | None:
    try:
        return int(code or "")
    except ValueError:
        return None


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Repeated headers are joined with ", " as HTTP allows (Set-Cookie aside, which no stage reads)."""
    merged: dict[str, str] = {}
    for key, value in headers:
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged
