"""The run's raw capture: one WARC per run, request + response records.

``WarcSink`` appends a request record and a response record for every fetched article (or a
response record copied from a source archive). The response block is the HTTP response as
received: status line, headers and the body still in its Content-Encoding, so any WARC tool can
replay it. Chancery's own facts ride in extra WARC headers, named and read in ``pipeline.warc``
(the format and the one reader, which replay and discovery share).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from pipeline.statefiles import private_dir
from pipeline.warc import (
    HEADER_ARCHIVE_URL,
    HEADER_ARCHIVED_AT,
    HEADER_CANONICAL,
    HEADER_CONTENT_HASH,
    HEADER_FETCH_URL,
    HEADER_REDIRECTS,
    HEADER_RUN_ID,
    HEADER_SCOPE,
    HEADER_SOURCE,
    format_warc_date,
)

# Hop-by-hop framing the capture no longer has: the stored body is de-chunked.
_FRAMING_HEADERS = {"transfer-encoding", "content-length", "connection", "keep-alive"}
# Credentials never go into a capture, which is meant to be copied, shared and replayed. We send
# none of these request headers but Authorization (and that never reaches request_headers); they
# are dropped here too, so no caller can put one in a WARC. A publisher's Set-Cookie is its
# session for us: a credential to whoever replays the file, and read by no stage. Dropped rather
# than masked: a "***" cookie is not the response either, and the names alone serve no one.
_SECRET_REQUEST_HEADERS = {"authorization", "proxy-authorization", "cookie"}
_DROPPED_RESPONSE_HEADERS = _FRAMING_HEADERS | {"set-cookie", "set-cookie2"}



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
    archive_url: str | None = None  # read from an archive: the capture's address there (provenance)
    archived_at: datetime | None = None  # and when the archive captured it
    scope: str = ""  # the source's scope at fetch time ("" unknown)
    content_hash: str = ""  # fetch's page hash (seen.page_hash): the seen-store's, carried to processing


class WarcSink:
    """Appends captured responses to one gzipped WARC 1.1 file (one gzip member per record).

    Records are serialised here rather than through warcio's writer: the format is a
    header block and a body, and warcio's record builder cost a quarter of a page's CPU
    in bench/fetch_throughput.py. warcio still reads every file (pipeline.warc, and the
    tests check the digests with it).
    """

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
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
            ("WARC-Date", format_warc_date(datetime.now(UTC))),
            ("Content-Type", "application/warc-fields"),
        ]
        self._append(headers, block)

    def write(self, captured: CapturedResponse) -> int:
        """Write the exchange; return the byte offset of its response record."""
        warc_date = format_warc_date(captured.fetched_at)
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
            *([(HEADER_SCOPE, captured.scope)] if captured.scope else []),
            (HEADER_RUN_ID, captured.run_id),
            (HEADER_FETCH_URL, captured.fetch_url),
            (HEADER_CANONICAL, captured.canonical_url),
            *([(HEADER_CONTENT_HASH, captured.content_hash)] if captured.content_hash else []),
            (HEADER_REDIRECTS, json.dumps(list(captured.redirects))),
            *([(HEADER_ARCHIVE_URL, captured.archive_url)] if captured.archive_url else []),
            *([(HEADER_ARCHIVED_AT, format_warc_date(captured.archived_at))] if captured.archived_at else []),
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
        host = parts.netloc.rpartition("@")[2]  # what a Host header carries: never a userinfo
        sent = [(k, v) for k, v in (captured.request_headers or {}).items() if k.lower() not in _SECRET_REQUEST_HEADERS]
        fields = [("Host", host), *sent]
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
    kept = [(k, v) for k, v in headers if k.lower() not in _DROPPED_RESPONSE_HEADERS]
    return kept + [("Content-Length", str(body_length))]
