"""The WARC format as Chancery writes and reads it: its own headers, WARC dates, and the one reader.

Every WARC record Chancery reads goes through ``read_responses``: captures replayed for
processing (``iter_responses``, pipeline/process.py), WARC archives and CC-NEWS files in discovery
(pipeline/discover/archives.py, ccnews.py, the latter over HTTP ranges from
pipeline/fetch/ranged.py), whatever the stream is. It lives here, outside pipeline.fetch, so that
discovery and replay share it without importing the fetcher. Writing a run's capture is
``pipeline.fetch.warc.WarcSink``'s.

Chancery's own facts ride in extra WARC headers on each response record:

- ``WARC-Chancery-Source``: the sources-file id;
- ``WARC-Chancery-Scope``: the source's scope when it was fetched (``all`` or ``diplomacy``), for a
  page whose source is in no sources file when the capture is processed (``ingest --sources FILE``);
- ``WARC-Chancery-Run-Id``: the run that captured it;
- ``WARC-Chancery-Fetch-URL``: the URL first requested (before redirects);
- ``WARC-Chancery-Canonical-URL``: the seen-store key (``pipeline.urls.page_canonical``), which is
  also the article's canonical URL and id: read back as the page's ``CapturedRecord``;
- ``WARC-Chancery-Content-Hash``: fetch's hash of the page (``pipeline.fetch.seen.page_hash``);
- ``WARC-Chancery-Redirects``: JSON list of the hops followed;
- ``WARC-Chancery-Archive-URL``, ``WARC-Chancery-Archived-At``: for a response read from an archive
  (a Wayback raw capture, a CC-NEWS or WARC file), where and when the archive captured it; the
  WARC-Target-URI is then the original URL.

Reading: ``iter_responses(path)`` yields one ``RawPage`` per response record, and
``read_responses`` one ``WarcResponse``. A corrupt gzip member or record is one BAD_RECORD and
reading resumes at the next one; a cut-off last record is BAD_RECORD "truncated"; a payload over
``fetch.max_bytes`` is TOO_LARGE, skipped without being held. Nothing raises mid-batch.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeadersParserException

from pipeline.config import FetchSettings
from pipeline.decode import BodyDecoder, BodyTooLarge
from pipeline.models import CapturedRecord, Provenance, RawPage, SourceRef, domain_of
from pipeline.outcomes import Outcome, StageResult
from pipeline.urls import is_object_store, local_path

HEADER_SOURCE = "WARC-Chancery-Source"
HEADER_SCOPE = "WARC-Chancery-Scope"
HEADER_RUN_ID = "WARC-Chancery-Run-Id"
HEADER_FETCH_URL = "WARC-Chancery-Fetch-URL"
HEADER_CANONICAL = "WARC-Chancery-Canonical-URL"
HEADER_CONTENT_HASH = "WARC-Chancery-Content-Hash"
HEADER_REDIRECTS = "WARC-Chancery-Redirects"
HEADER_ARCHIVE_URL = "WARC-Chancery-Archive-URL"
HEADER_ARCHIVED_AT = "WARC-Chancery-Archived-At"


def format_warc_date(value: datetime) -> str:
    """WARC-Date in the 1.1 form (microseconds, UTC, Z); a naive datetime is taken as UTC."""
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
#
# warcio parses each record's WARC and HTTP headers (and undoes chunking); the framing
# between records is done here, because warcio cannot go on after damage: its gzip
# layer swallows a zlib error once a member has begun (it prints the error and returns no more
# data), so one corrupt member silently ends the file, and a cut-off record ends it without a
# word. So each gzip member is inflated here with zlib to its trailer (CRC and length checked)
# and handed to warcio as a plain stream of its own. A member or record that fails is one
# BAD_RECORD naming the file and offset, and reading resumes at the next gzip member (magic
# 1f 8b 08) or `WARC/1.x` line after it. A plain (uncompressed) file goes to warcio as one
# stream, re-entered the same way after a record it cannot parse. Resynchronising is one
# forward pass (_Resync): bytes it has scanned are not scanned again, so a damaged file costs
# what a clean one does. Payloads are inflated by fetch's BodyDecoder, under the same limits
# as fetching.

GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1, ID2 and CM=deflate: how every gzip member starts
# What the resynchronising scan looks for: the empty line closing a header block (group 1,
# CRLF or bare LF), a record's first line after the newline closing the line before it, or a
# gzip member.
_SCAN = re.compile(rb"(\n\r?\n)|\nWARC/1\.[01]\r?\n|\x1f\x8b\x08")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*(\d+)")
_BOUNDARY_OVERLAP = 10  # so a boundary split across two scanned blocks is still found (the longest is 11 bytes)
READ_CHUNK = 64 * 1024
# A WARC line met while resynchronising has its header block checked over at most this many bytes,
# held meanwhile; real header blocks are a few hundred bytes. One longer goes to warcio unchecked.
_HEADER_CHECK_BYTES = 1024 * 1024
# A gzip member met while resynchronising starts a record if its first bytes inflate to `WARC/` within
# this many: a 10-byte header with its optional fields (short in every WARC writer) and a deflate
# block header (under 300 bytes).
_MEMBER_PROBE = 2048

# What warcio raises on a record it cannot parse: unknown format, bad header lines or length, and
# (AttributeError, TypeError) a response record without a WARC-Target-URI. Caught around
# warcio's record parsing only, never around code of ours.
_UNPARSABLE = (ArchiveLoadFailed, StatusAndHeadersParserException, EOFError, ValueError, IndexError,
               AttributeError, TypeError)


@dataclass(frozen=True)
class WarcResponse:
    """One HTTP response record, read whole: payload decoded (chunking, Content-Encoding), gzip member checked."""

    url: str  # WARC-Target-URI
    status: int
    reason: str  # the status line's text
    headers: tuple[tuple[str, str], ...]  # the HTTP response headers as stored
    payload: bytes
    warc_headers: tuple[tuple[str, str], ...]
    warc_date: datetime | None
    location: str  # the file
    offset: int  # of the record's gzip member, or of the record in a plain file

    def header(self, name: str) -> str | None:
        return _lookup(self.headers, name)

    def warc_header(self, name: str) -> str | None:
        return _lookup(self.warc_headers, name)


Wanted = Callable[[str, datetime | None], bool]  # (WARC-Target-URI, WARC-Date) → read this response?


def iter_responses(path: Path | str, max_payload: int = FetchSettings.max_bytes) -> Iterator[RawPage | StageResult]:
    """Every response record of a WARC / WARC.gz as a RawPage; whatever cannot be read as a StageResult.

    ``path`` is a local path or an fsspec URL (s3://, gs://, memory:// ...). ``max_payload`` is
    ``fetch.max_bytes``: a page fetch would have refused is ``too_large`` here too. Never raises
    mid-batch; ``read_responses`` says what a damaged file yields.
    """
    name = str(path)
    try:
        stream = open_location(path)
    except OSError as exc:
        yield StageResult(Outcome.BAD_RECORD, reason=f"cannot open WARC: {exc}", url=name)
        return
    with stream:
        for item in read_responses(stream, name, max_payload):
            yield item if isinstance(item, StageResult) else _raw_page(item)


def open_location(path: Path | str) -> IO[bytes]:
    """A local path, a file:// URL, or an object-store URL through fsspec (s3://, gs://, memory:// ...)."""
    if is_object_store(path):
        import fsspec  # only for object-store locations

        opened: IO[bytes] = fsspec.open(str(path), "rb").open()
        return opened
    return local_path(path).open("rb")


def read_responses(
    stream: IO[bytes], location: str, max_payload: int, wanted: Wanted | None = None
) -> Iterator[WarcResponse | StageResult]:
    """Every HTTP response record of one WARC stream, in file order, each yielded once it is read and checked.

    ``wanted`` passes over records on their headers alone, before any payload is read. Besides
    the responses this yields, each counted once:

    - BAD_RECORD "corrupt record at offset N of FILE": a gzip member that does not inflate or
      fails its CRC, a record warcio cannot parse, or bytes where no record starts. Reading
      resumes at the next member or record, so everything after it is still read;
    - BAD_RECORD "truncated record ...": the file ends inside a record;
    - BAD_RECORD for an empty file, or one with no WARC record in it at all;
    - TOO_LARGE: a payload over ``max_payload``, passed over while streaming, never held whole.
    """
    cursor = _Cursor(stream)
    try:
        yield from _read_file(cursor, location, max_payload, wanted)
    except OSError as exc:  # the storage failed under us: nothing further in this file can be read
        yield StageResult(
            Outcome.BAD_RECORD, reason=f"cannot read {location} at offset {cursor.position}: {exc}", url=location
        )


DamageKind = Literal["corrupt", "truncated"]


class _Damage(Exception):
    """A member or record that cannot be read, and where it starts."""

    def __init__(self, kind: DamageKind, offset: int, detail: str, url: str = "") -> None:
        super().__init__(f"{kind} record at offset {offset}: {detail}")
        self.kind, self.offset, self.detail, self.url = kind, offset, detail, url


def _read_file(
    cursor: _Cursor, location: str, max_payload: int, wanted: Wanted | None
) -> Iterator[WarcResponse | StageResult]:
    if not cursor.peek(1):
        yield StageResult(Outcome.BAD_RECORD, reason=f"empty file: no WARC record in {location}", url=location)
        return
    resync = _Resync(cursor)
    in_damage = False  # reading resumed after damage, and no record has been read since
    while head := cursor.peek(len(b"WARC/")):
        start = cursor.position
        member: _Inflated | None = None
        try:
            if head.startswith(GZIP_MAGIC):
                member = _Inflated(cursor)
                yield from _records(ArchiveIterator(member), location, member, max_payload, wanted)
                member.finish()
            elif head.startswith(b"WARC/"):
                yield from _records(ArchiveIterator(cursor), location, None, max_payload, wanted)
            else:
                raise _Damage("corrupt", start, "no WARC record or gzip member starts here")
        except _Damage as damage:
            resumed = resync.after(damage.offset)
            if resumed is None and start == 0 and not head.startswith((GZIP_MAGIC, b"WARC/")):
                yield StageResult(Outcome.BAD_RECORD, reason=f"not a WARC file: no WARC record in {location}",
                                  url=location)
                return
            # One BAD_RECORD per damaged region: a start that fails where reading resumed, with no record
            # read since, is a false start inside damage counted already. A gzip member that began as a
            # record is a record of its own, each one lost.
            if not in_damage or damage.offset > start or (member is not None and member.head.startswith(b"WARC/")):
                kind = _damage_kind(damage, cursor, plain=member is None, followed=resumed is not None)
                yield StageResult(
                    Outcome.BAD_RECORD,
                    reason=f"{kind} record at offset {damage.offset} of {location}: {damage.detail}",
                    url=damage.url or location,
                )
            in_damage = True
            continue
        in_damage = False


def _damage_kind(damage: _Damage, cursor: _Cursor, plain: bool, followed: bool) -> DamageKind:
    """Truncated only for the last record, cut off by the end of the file; with records after it, corrupt.

    In a plain file warcio fails on a cut-off header block as it does on a garbled one, so the
    last record's own header block says which it was: unfinished, or a Content-Length past the end.
    """
    if followed:
        return "corrupt"
    if damage.kind == "truncated" or not plain:
        return damage.kind
    end = cursor.position  # the scan for a next record ran to the end of the file
    cursor.seek(damage.offset)
    head = cursor.read(READ_CHUNK)
    cursor.seek(end)
    if not head or cursor.position != end:  # a stream that cannot seek back: no telling
        return damage.kind
    if not (head.startswith(b"WARC/") or b"WARC/".startswith(head) or GZIP_MAGIC.startswith(head)):
        return damage.kind  # not the start of a record at all: junk, not a cut
    block_end = head.find(b"\r\n\r\n")
    if block_end < 0:
        return "truncated" if len(head) < READ_CHUNK else damage.kind
    length = _CONTENT_LENGTH.search(head[:block_end])
    cut = length is not None and damage.offset + block_end + 4 + int(length.group(1)) > end
    return "truncated" if cut else damage.kind


def _records(
    records: ArchiveIterator, location: str, member: _Inflated | None, max_payload: int, wanted: Wanted | None
) -> Iterator[WarcResponse | StageResult]:
    """The responses of one gzip ``member``, or of a plain file from the cursor on.

    Each is yielded only when warcio has moved past it: its record is read to the end (so a
    short one is noticed) and, for the last record of a member, the member's CRC is checked.
    A record that fails to parse after it does not take it along: it was whole.
    """
    member_offset = member.offset if member is not None else None
    pending: WarcResponse | StageResult | None = None
    current: tuple[Any, int] | None = None  # the record warcio returned last, and its offset
    while True:
        unparsable: _Damage | None = None
        try:
            record = next(records, None)
        except _UNPARSABLE as exc:
            offset = member_offset if member_offset is not None else int(records.offset)
            record, unparsable = None, _Damage("corrupt", offset, f"{type(exc).__name__}: {exc}"[:300])
        if current is not None and getattr(current[0].raw_stream, "limit", 0) > 0:  # LimitReader: bytes missing
            raise _Damage("truncated", current[1], "the record ends before its Content-Length", _target(current[0]))
        if pending is not None:
            if unparsable is not None and member is not None:
                member.finish()  # garbage after a record in its own member: is the member itself intact?
            yield pending
            pending = None
        if unparsable is not None:
            raise unparsable
        if record is None:
            # warcio ends quietly (an EOFError it takes for the end) on a record cut off in its headers.
            tail = int(records.fh.tell()) - int(records.offset)
            if tail > 0:
                offset = member_offset if member_offset is not None else int(records.offset)
                raise _Damage("truncated", offset, f"the file ends {tail} bytes into this record")
            return
        current = (record, member_offset if member_offset is not None else int(records.offset))
        declared = (record.rec_headers.get_header("Content-Length") or "").strip()
        if record.format == "warc" and not declared.isdigit():  # what warcio makes of a header block cut short
            raise _Damage("corrupt", current[1], f"Content-Length {declared!r} is not a length", _target(record))
        if member is None and _runs_past_the_end(records, record):
            # Said now rather than after warcio has read to the end of the file: in a run of such records
            # (a false start in damage, say) each would read the rest of the file again.
            raise _Damage("truncated", current[1], "the record ends before its Content-Length", _target(record))
        pending = _response(record, location, current[1], max_payload, wanted)


def _response(
    record: Any, location: str, offset: int, max_payload: int, wanted: Wanted | None
) -> WarcResponse | StageResult | None:
    """The record as a WarcResponse, TOO_LARGE or BAD_RECORD; None for a record that is not a wanted response."""
    if record.rec_type != "response" or record.http_headers is None:
        return None  # warcinfo, request, metadata, and responses that are not HTTP (dns:)
    url = _target(record)
    warc_date = parse_warc_date(record.rec_headers.get_header("WARC-Date"))
    if wanted is not None and not wanted(url, warc_date):
        return None
    where = f"record at offset {offset} of {location}"
    try:
        urlsplit(url).hostname  # noqa: B018 - raises on what no stage could use as a URL
    except ValueError as exc:
        return StageResult(Outcome.BAD_RECORD, reason=f"WARC-Target-URI {url[:200]!r}: {exc} ({where})", url=location)
    if record.payload_length > max_payload:  # refused before reading a byte of it
        return StageResult(
            Outcome.TOO_LARGE, reason=f"payload of {record.payload_length} bytes over {max_payload} ({where})", url=url
        )
    payload = _payload(record, max_payload)
    if isinstance(payload, StageResult):
        return dataclasses.replace(payload, reason=f"{payload.reason} ({where})", url=url)
    http = record.http_headers
    status = _status(http.get_statuscode())
    if status is None:
        return StageResult(Outcome.BAD_RECORD, reason=f"no HTTP status line ({where})", url=url)
    status_text = (http.statusline or "").split(" ", 1)
    return WarcResponse(
        url=url,
        status=status,
        reason=status_text[1] if len(status_text) > 1 else "",
        headers=tuple(http.headers),
        payload=payload,
        warc_headers=tuple(record.rec_headers.headers),
        warc_date=warc_date,
        location=location,
        offset=offset,
    )


def _payload(record: Any, max_payload: int) -> bytes | StageResult:
    """The payload with chunking and Content-Encoding undone, streamed through the bounded inflater fetch uses.

    Not warcio's content_stream(): it inflates each 16 KB read whole, so a highly compressed
    body lands in memory megabytes at a time. BodyDecoder stops at ``max_payload`` of input or
    output (and at fetch's decompression-ratio limit); the rest of the record is left unread.
    """
    http = record.http_headers
    stream = record.raw_stream
    if (http.get_header("Transfer-Encoding") or "").lower() == "chunked":
        stream = ChunkedDataReader(stream)  # chunks are each within the payload length checked before
    try:
        decoder = BodyDecoder(
            http.get_header("Content-Encoding"), max_payload, FetchSettings.max_decompression_ratio
        )
    except ValueError as exc:  # br, compress, ...: what fetch never asks for
        return StageResult(Outcome.BAD_CONTENT_TYPE, reason=str(exc))
    try:
        while chunk := stream.read(READ_CHUNK):
            decoder.feed(chunk)
        return decoder.body()
    except BodyTooLarge as exc:
        return StageResult(Outcome.TOO_LARGE, reason=str(exc))
    except zlib.error as exc:  # the body's own Content-Encoding, not the WARC's gzip member
        return StageResult(Outcome.DECODE_ERROR, reason=f"bad Content-Encoding: {exc}")


def _runs_past_the_end(records: ArchiveIterator, record: Any) -> bool:
    """A plain file's record whose Content-Length ends past the end of the file (where its length is known)."""
    size: int | None = getattr(records.fh, "size", None)  # records.fh is the _Cursor
    if size is None:
        return False
    here = int(records.fh.tell()) - int(records.reader.rem_length())  # what warcio has parsed, not what it buffered
    return here + int(getattr(record.raw_stream, "limit", 0)) > size


def _target(record: Any) -> str:
    return str(record.rec_headers.get_header("WARC-Target-URI") or "")


class _Cursor:
    """The file read forward: its absolute position, and bytes read too far put back."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._seekable = stream.seekable()
        self._back = b""
        self.position = stream.tell() if self._seekable else 0
        self.size: int | None = None  # the file's length, where the stream can tell
        if self._seekable:
            self.size = stream.seek(0, 2)
            stream.seek(self.position)

    def read(self, size: int = -1) -> bytes:
        if self._back:
            cut = len(self._back) if size < 0 else size
            data, self._back = self._back[:cut], self._back[cut:]
        else:
            data = self._stream.read(size)
        self.position += len(data)
        return data

    def tell(self) -> int:  # warcio takes record offsets from this
        return self.position

    def unread(self, data: bytes) -> None:
        self._back = data + self._back
        self.position -= len(data)

    def peek(self, size: int) -> bytes:
        data = b""
        while len(data) < size and (more := self.read(size - len(data))):
            data += more
        self.unread(data)
        return data

    def seek(self, offset: int) -> None:
        """To ``offset``; a stream that cannot seek only skips forward (the bytes behind are gone)."""
        if self._seekable:
            self._stream.seek(offset)
            self._back, self.position = b"", offset
            return
        while self.position < offset and self.read(min(READ_CHUNK, offset - self.position)):
            pass


class _Inflated:
    """One gzip member's inflated bytes, as a stream for warcio; the bytes after the member go back to the cursor."""

    def __init__(self, cursor: _Cursor) -> None:
        self._cursor = cursor
        self.offset = cursor.position
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._produced = 0
        self.head = b""  # the first inflated bytes: b"WARC/" when the member holds a record

    def tell(self) -> int:
        return self._produced

    def read(self, size: int = -1) -> bytes:
        # The first few bytes alone first: a member damaged further on still shows it began as a record.
        limit = (size if size > 0 else READ_CHUNK) if self.head else len(b"WARC/")
        while not self._inflater.eof:
            data = self._inflater.unconsumed_tail or self._cursor.read(READ_CHUNK)
            if not data:
                raise _Damage("truncated", self.offset, "the file ends inside this gzip member")
            try:
                out = self._inflater.decompress(data, limit)
            except zlib.error as exc:  # bad deflate data, or the trailer's CRC or length does not match
                raise _Damage("corrupt", self.offset, f"gzip member does not inflate: {exc}") from exc
            if self._inflater.eof:
                self._cursor.unread(self._inflater.unused_data)
            if out:
                self.head = (self.head + out)[:5] if len(self.head) < 5 else self.head
                self._produced += len(out)
                return out
        return b""

    def finish(self) -> None:
        """Inflate to the member's end (warcio normally has): the trailer's CRC and length are checked there."""
        while self.read(READ_CHUNK):
            pass


class _Resync:
    """Where reading resumes after damage: the next gzip member or WARC record, found in one forward pass.

    Candidates are checked before anything reads them as a record, each over a bounded span, so
    a run of false starts costs its length and no more:

    - a ``WARC/1.x`` line starts a record only if its header block closes (an empty line)
      before another such line: a header line is never a record's first line. warcio reads a
      whole block to fail it, so a record holding N of these lines cost N blocks of N lines
      each (quadratic: 4,000 lines took 6 s);
    - a gzip member, if its first ``_MEMBER_PROBE`` bytes inflate to ``WARC/``. zlib reads a
      false header on to its end (a name with no NUL, say), and a run of them cost the same.

    The bytes the scan has passed without a start are remembered (``_clear_to``): when the start
    it settled on fails too, scanning goes on from there, never over them again.
    """

    def __init__(self, cursor: _Cursor) -> None:
        self._cursor = cursor
        self._clear_to = 0  # no start lies between the last start returned and this offset

    def after(self, offset: int) -> int | None:
        """Put the cursor on the next start after ``offset`` (where reading failed); None: none before the end."""
        cursor = self._cursor
        cursor.seek(max(offset, self._clear_to))  # from `offset` itself: a newline there may open a WARC line
        base, data, at = cursor.position, b"", 0  # data[0] is at offset `base`; the search goes on from data[at]
        line: int | None = None  # a WARC line whose header block is being checked (index in data)
        while True:
            block = cursor.read(READ_CHUNK)
            data += block
            while (match := _SCAN.search(data, at)) is not None:
                member = match.group().startswith(GZIP_MAGIC)
                if member and block and len(data) - match.start() < _MEMBER_PROBE:
                    break  # too few of its bytes read to tell: read on and come back to it
                at = match.start() + 1
                if match.group(1) is not None:  # an empty line: it closes the header block of `line`
                    if line is not None:
                        return self._settle(data, base, line, clear_to=base + match.start())
                    continue
                found = match.start() if member else match.start() + 1  # a WARC line begins after its newline
                if base + found <= offset:
                    continue
                if not member:
                    line = found  # the first WARC line, or one inside the header block of the last: that was false
                elif _opens_a_record(data[found : found + _MEMBER_PROBE]):
                    return self._settle(data, base, found, clear_to=base + found)
            else:
                at = max(at, len(data) - _BOUNDARY_OVERLAP)
            if not block:  # the end of the file: a WARC line there is cut off, and warcio says how
                return None if line is None else self._settle(data, base, line, clear_to=base + len(data))
            if line is not None and len(data) - line > _HEADER_CHECK_BYTES:
                return self._settle(data, base, line, clear_to=base + at)
            keep = at if line is None else line  # what is behind this is scanned and held no more
            data, base, at = data[keep:], base + keep, at - keep
            line = None if line is None else line - keep

    def _settle(self, data: bytes, base: int, start: int, clear_to: int) -> int:
        self._cursor.unread(data[start:])
        self._clear_to = clear_to
        return base + start


def _opens_a_record(member_start: bytes) -> bool:
    """Do these first bytes of a gzip member inflate to a WARC record's first ones?"""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(member_start, len(b"WARC/")) == b"WARC/"
    except zlib.error:
        return False


def _raw_page(response: WarcResponse) -> RawPage:
    url = response.url
    return RawPage(
        url=url,
        content=response.payload,
        content_type=response.header("Content-Type"),
        status=response.status,
        headers=_header_map(response.headers),
        fetched_at=response.warc_date,
        source=SourceRef(domain=domain_of(url), id=response.warc_header(HEADER_SOURCE) or None,
                         scope=response.warc_header(HEADER_SCOPE) or None),
        provenance=Provenance(
            fetch_url=response.warc_header(HEADER_FETCH_URL) or url,
            warc_file=response.location,
            warc_offset=response.offset,
            run_id=response.warc_header(HEADER_RUN_ID) or None,
            archive_url=response.warc_header(HEADER_ARCHIVE_URL) or None,
            archived_at=parse_warc_date(response.warc_header(HEADER_ARCHIVED_AT)),
        ),
        capture=_captured_record(response),
    )


def _captured_record(response: WarcResponse) -> CapturedRecord | None:
    """What fetch recorded for this page: its canonical URL (so its id) and hash; None in a WARC fetch did not write."""
    canonical = (response.warc_header(HEADER_CANONICAL) or "").strip()
    if not canonical.lower().startswith(("http://", "https://")):
        return None
    return CapturedRecord(response.offset, canonical, (response.warc_header(HEADER_CONTENT_HASH) or "").strip())


def _lookup(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers if key.lower() == lowered), None)


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
