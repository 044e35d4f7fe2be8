"""GDELT 2.0: the 15-minute event, mention and GKG files of a window → Candidates on the publishers' sites.

GDELT lists every file it publishes in ``masterfilelist.txt`` (from 2015-02-18 23:00 UTC), one
per line as ``size md5 url``, in time order; the file's name carries its 15-minute slot
(``20150918143000.export.CSV.zip``). The list is over 100 MB, so it is not downloaded: it is
read by HTTP range requests, a binary search to the window's first slot, then line by line
to its end (``read_file_list``). Each file of the tables asked for is fetched politely, its
length and md5 checked against the list, and its one tab-separated member read row by row
with GDELT's real column layout:

- export (61 columns): GLOBALEVENTID … Actor1Code (5), Actor1CountryCode (7), Actor2Code (15),
  Actor2CountryCode (17), EventCode (26) … DATEADDED (59), SOURCEURL (60, the last);
- mentions (16 columns): GLOBALEVENTID, EventTimeDate, MentionTimeDate (2), MentionType (3,
  1 = web), MentionSourceName, MentionIdentifier (5, the URL) …;
- GKG 2.1 (27 columns): GKGRECORDID, V2.1DATE (1), V2SOURCECOLLECTIONIDENTIFIER (2, 1 = web),
  V2SOURCECOMMONNAME, V2DOCUMENTIDENTIFIER (4, the URL) ….

A row's URL goes to the first source it matches: one whose ``hosts`` hold its host, else one
coded with ``countries`` / ``actors`` / ``events`` that the row's actor and event codes meet (a
discovery engine for diplomacy coverage on any site). A mention row of such a source counts
when its event passed in the same slot's export. Each URL is yielded once, dated by when GDELT
first saw it, which the page's own date overrides when the page is fetched.

Damage is counted and skipped: a file whose length or md5 differs from the list, a zip that is
truncated or corrupt, a file-list line that is not ``size md5 url`` (BAD_RECORD each); rows
with the wrong number of columns (one PARSE_ERROR per file, counting them).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO

from pipeline.discover.archives import host_matches
from pipeline.discover.candidates import (
    Candidate,
    FetchXml,
    OpenRanged,
    RangedReadFailed,
    Skipped,
    Window,
    as_utc,
)
from pipeline.outcomes import Outcome, StageResult
from pipeline.sources import Source

FIRST_SLOT = datetime(2015, 2, 18, 23, 0, tzinfo=UTC)  # GDELT 2.0's first file
SLOT = timedelta(minutes=15)
# An article is often first seen by GDELT a little after it was published; a day covers that.
SIGHTING_LAG = timedelta(days=1)
COLUMNS = {"export": 61, "mentions": 16, "gkg": 27}
_NAME = re.compile(r"/(\d{14})\.(export|mentions|gkg)\.csv\.zip$", re.IGNORECASE)
_MD5 = re.compile(r"^[0-9a-f]{32}$")
# A 15-minute GKG file inflates to about 100 MB; far more is no GDELT file.
MAX_MEMBER_BYTES = 512 * 1024 * 1024
_SEARCH_BLOCK = 64 * 1024  # the binary search stops when the range left is this small, then reads on

# Column positions (0-based) in GDELT 2.0's layouts.
EXPORT_ID, ACTOR1_CODE, ACTOR1_COUNTRY, ACTOR2_CODE, ACTOR2_COUNTRY = 0, 5, 7, 15, 17
EVENT_CODE, DATE_ADDED, SOURCE_URL = 26, 59, 60
MENTION_EVENT, MENTION_TIME, MENTION_TYPE, MENTION_URL = 0, 2, 3, 5
GKG_DATE, GKG_COLLECTION, GKG_URL = 1, 2, 4
WEB = "1"  # MentionType / V2SOURCECOLLECTIONIDENTIFIER of a web article


@dataclass(frozen=True)
class GdeltFile:
    url: str
    size: int
    md5: str
    slot: datetime
    table: str  # export | mentions | gkg


@dataclass
class _Pass:
    """The sources one reading of GDELT serves, and what it has yielded so far."""

    by_host: list[Source]
    coded: list[Source]
    tables: set[str]
    yielded: set[str] = field(default_factory=set)


def parse_slot(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_list_line(line: str) -> GdeltFile | None:
    """One ``size md5 url`` line of a GDELT file list; None when it is not one."""
    parts = line.split()
    if len(parts) != 3 or not parts[0].isdigit() or not _MD5.match(parts[1].lower()):
        return None
    match = _NAME.search(parts[2])
    slot = parse_slot(match.group(1)) if match else None
    if match is None or slot is None:
        return None
    return GdeltFile(parts[2], int(parts[0]), parts[1].lower(), slot, match.group(2).lower())


def read_file_list(stream: IO[bytes], window: Window, name: str = "file list") -> Iterator[GdeltFile | StageResult]:
    """The files of the slots in the window, found by binary search in a time-ordered list.

    A stream that cannot seek (a server without range requests) is read from its start.
    """
    start, end = as_utc(window[0]), as_utc(window[1])
    offset = 0
    if stream.seekable():
        offset = _first_offset(stream, start)
        stream.seek(offset)
        if offset:
            stream.readline()  # the search landed inside a line
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            continue
        item = parse_list_line(line)
        if item is None:
            yield StageResult(Outcome.BAD_RECORD, reason=f"file list line not 'size md5 url': {line[:160]!r}",
                              url=f"{name}#{line[:80]}")
            continue
        if item.slot >= end:
            return
        if item.slot >= start:
            yield item


def _first_offset(stream: IO[bytes], start: datetime) -> int:
    """An offset at or before the first line of a slot >= start (the list is in time order)."""
    size = stream.seek(0, io.SEEK_END)
    lo, hi = 0, size
    while hi - lo > _SEARCH_BLOCK:
        mid = (lo + hi) // 2
        slot = _slot_after(stream, mid)
        if slot is not None and slot < start:
            lo = mid
        else:
            hi = mid
    return lo


def _slot_after(stream: IO[bytes], offset: int) -> datetime | None:
    """The slot of the first whole, readable line after ``offset``; None past the end."""
    stream.seek(offset)
    stream.readline()
    for _ in range(16):  # a few unreadable lines in a row are skipped; more means the end
        raw = stream.readline()
        if not raw:
            return None
        item = parse_list_line(raw.decode("utf-8", "replace"))
        if item is not None:
            return item.slot
    return None


def discover_gdelt(
    sources: Sequence[Source], window: Window | None, fetch_data: FetchXml, open_ranged: OpenRanged
) -> Iterator[Candidate | StageResult | Skipped]:
    """Candidates of every gdelt source given, from one reading of the files they share (same archive)."""
    if window is None:
        yield Skipped(sources[0].archive or "gdelt", "gdelt needs a window (--since/--until)")
        return
    by_archive: dict[str, list[Source]] = {}
    for source in sources:
        by_archive.setdefault(source.archive or "", []).append(source)
    for archive, group in by_archive.items():
        yield from _read_archive(archive, group, window, fetch_data, open_ranged)


def _read_archive(
    archive: str, sources: list[Source], window: Window, fetch_data: FetchXml, open_ranged: OpenRanged
) -> Iterator[Candidate | StageResult | Skipped]:
    start = max(as_utc(window[0]), FIRST_SLOT)
    end = as_utc(window[1]) + SIGHTING_LAG
    if start >= end:
        yield Skipped(archive, "the window ends before GDELT 2.0 starts (2015-02-18)")
        return
    coded = [s for s in sources if s.countries or s.actors or s.events]
    work = _Pass(by_host=[s for s in sources if s.hosts and s not in coded], coded=coded,
                 tables={t for s in sources for t in s.tables} | ({"export"} if coded else set()))
    list_url = f"{archive.rstrip('/')}/masterfilelist.txt"
    files: list[GdeltFile] = []
    try:
        with open_ranged(list_url) as stream:
            for item in read_file_list(stream, (start, end), list_url):
                if isinstance(item, StageResult):
                    yield item
                elif item.table in work.tables:
                    files.append(item)
    except RangedReadFailed as exc:
        yield StageResult(exc.outcome, reason=f"GDELT file list: {exc.reason}", url=list_url)
        return
    by_slot: dict[datetime, dict[str, GdeltFile]] = {}
    for item in files:
        by_slot.setdefault(item.slot, {})[item.table] = item
    for slot in sorted(by_slot):
        yield from _read_slot(by_slot[slot], work, (start, end), fetch_data)


def _read_slot(
    tables: dict[str, GdeltFile], work: _Pass, window: Window, fetch_data: FetchXml
) -> Iterator[Candidate | StageResult]:
    coded_events: dict[str, Source] = {}  # GLOBALEVENTID → the coded source its export row met
    for table in ("export", "mentions", "gkg"):
        item = tables.get(table)
        if item is None:
            continue
        rows = _rows(item, fetch_data)
        bad = 0
        first_bad = ""
        for row in rows:
            if isinstance(row, StageResult):
                yield row
                continue
            if len(row) != COLUMNS[table]:
                bad += 1
                first_bad = first_bad or f"{len(row)} columns"
                continue
            found = _match(table, row, work, coded_events, window)
            if found is not None and found.url not in work.yielded:
                work.yielded.add(found.url)
                yield found
        if bad:
            yield StageResult(Outcome.PARSE_ERROR, url=f"{item.url}#rows",
                              reason=f"{bad} row(s) not {COLUMNS[table]} columns (first: {first_bad})")


def _rows(item: GdeltFile, fetch_data: FetchXml) -> Iterator[list[str] | StageResult]:
    body = fetch_data(item.url)
    if body is None:  # the fetcher recorded why
        return
    if len(body) != item.size:
        yield StageResult(Outcome.BAD_RECORD, url=item.url,
                          reason=f"{len(body)} bytes, the file list says {item.size}: truncated or replaced")
        return
    digest = hashlib.md5(body, usedforsecurity=False).hexdigest()
    if digest != item.md5:
        yield StageResult(Outcome.BAD_RECORD, url=item.url, reason=f"md5 {digest}, the file list says {item.md5}")
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            raise zipfile.BadZipFile(f"{len(members)} members, a GDELT zip holds one")
        if members[0].file_size > MAX_MEMBER_BYTES:
            raise zipfile.BadZipFile(f"member inflates to {members[0].file_size} bytes")
        with archive.open(members[0]) as member:
            for raw in io.TextIOWrapper(member, encoding="utf-8", errors="replace", newline="\n"):
                line = raw.rstrip("\r\n")
                if line:
                    yield line.split("\t")
    except (zipfile.BadZipFile, EOFError, OSError) as exc:  # zlib damage surfaces as BadZipFile or EOFError
        yield StageResult(Outcome.BAD_RECORD, url=item.url, reason=f"truncated or corrupt zip: {exc}")


def _match(
    table: str, row: list[str], work: _Pass, coded_events: dict[str, Source], window: Window
) -> Candidate | None:
    if table == "export":
        url, seen, event = row[SOURCE_URL], row[DATE_ADDED], row[EXPORT_ID]
    elif table == "mentions":
        if row[MENTION_TYPE] != WEB:
            return None
        url, seen, event = row[MENTION_URL], row[MENTION_TIME], row[MENTION_EVENT]
    else:
        if row[GKG_COLLECTION] != WEB:
            return None
        url, seen, event = row[GKG_URL], row[GKG_DATE], ""
    when = parse_slot(seen)
    if when is None or not url.startswith(("http://", "https://")) or not window[0] <= when < window[1]:
        return None
    source = next((s for s in work.by_host if table in s.tables and host_matches(url, s.hosts)), None)
    if source is None and table == "export":
        source = next((s for s in work.coded if _coded(row, s)), None)
        if source is not None:
            coded_events[event] = source
    elif source is None and table == "mentions":
        coded = coded_events.get(event)
        source = coded if coded is not None and "mentions" in coded.tables else None
    if source is None or (table == "export" and "export" not in source.tables):
        return None
    return Candidate(url=url, source_id=source.id, language=source.language, via=f"gdelt {table}", captured_at=when)


def _coded(row: list[str], source: Source) -> bool:
    """Whether an export row meets a coded source: every filter it sets must hold (each is any-of)."""
    if source.hosts and not host_matches(row[SOURCE_URL], source.hosts):
        return False
    if source.countries and not {row[ACTOR1_COUNTRY], row[ACTOR2_COUNTRY]} & set(source.countries):
        return False
    if source.actors and not _starts(row[ACTOR1_CODE], source.actors) and not _starts(row[ACTOR2_CODE], source.actors):
        return False
    return not source.events or _starts(row[EVENT_CODE], source.events)


def _starts(code: str, prefixes: Iterable[str]) -> bool:
    return bool(code) and any(code.startswith(p) for p in prefixes)
