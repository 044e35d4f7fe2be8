"""Resynchronising after damage is linear, and one damaged region is one bad_record.

Found by fuzzing: a plain WARC whose record holds N ``WARC/1.1`` lines made the reader hand
each line to warcio as a record start; warcio read the rest of the block to fail it, so N
lines cost N² (2,000 lines: 1.6 s and 1,986 bad records; 4,000: 6.3 s). The same for a run of
gzip magic bytes whose false headers zlib read to their end (17 s for the one here), and a run of
records whose Content-Length runs past the end of the file, each read to the end again and each
counted. The bound on time is one a linear reader meets with room on a loaded machine.
"""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime
from pathlib import Path

from pipeline.fetch.warc import CapturedResponse, WarcSink
from pipeline.models import RawPage
from pipeline.outcomes import Outcome, StageResult
from pipeline.warc import iter_responses

FETCHED = datetime(2025, 6, 2, 9, tzinfo=UTC)
LINES = 20_000  # the quadratic reader: about 160 s and 19,986 bad records
SECONDS = 3.0  # the linear one: about 0.05 s on the project's 2-core machine


def _page(i: int) -> bytes:
    return (f"<html><head><title>Border talks, round {i}</title></head><body><article><p>The two foreign "
            f"ministers met for round {i} of the border talks.</p></article></body></html>").encode()


def _warc(path: Path, count: int = 5) -> list[int]:
    """A gzipped WARC of ``count`` pages; each response record's offset, then the file's end."""
    with WarcSink(path) as sink:
        offsets = []
        for i in range(count):
            url = f"https://gazette.example.net/2025/06/02/border-talks-{i}"
            offsets.append(sink.write(CapturedResponse(
                url=url, status=200, reason="OK", headers=[("Content-Type", "text/html; charset=utf-8")],
                raw_body=_page(i), fetched_at=FETCHED, source_id="gazette", run_id="resync-test",
                fetch_url=url, canonical_url=url, request_headers={"User-Agent": "ChanceryBot/test"})))
    return [*offsets, path.stat().st_size]


def _plain(tmp_path: Path) -> bytes:
    gz = tmp_path / "source.warc.gz"
    _warc(gz)
    return gzip.decompress(gz.read_bytes())


def _read(path: Path) -> tuple[list[str], list[StageResult], float]:
    began = time.perf_counter()
    items = list(iter_responses(path))
    took = time.perf_counter() - began
    pages = [i.url.rsplit("-", 1)[1] for i in items if isinstance(i, RawPage)]
    return pages, [i for i in items if isinstance(i, StageResult)], took


def test_warc_lines_inside_a_damaged_record_are_one_bad_record_read_in_linear_time(tmp_path: Path) -> None:
    plain = _plain(tmp_path)
    record = plain.index(b"WARC/1.1\r\nWARC-Type: response", plain.index(b"border-talks-1") - 400)
    assert b"border-talks-1" in plain[record : record + 400]
    body = plain.index(b"<html>", record)
    damaged = plain[:body] + b"WARC/1.1\r\n" * LINES + plain[body:]
    # ... and its Content-Length no longer a length, so the record itself is where reading fails
    length = damaged.index(b"Content-Length: ", record)
    damaged = damaged[:length] + b"Content-Length: x" + damaged[length + len(b"Content-Length: ") + 1 :]
    path = tmp_path / "lines.warc"
    path.write_bytes(damaged)

    pages, others, took = _read(path)
    assert pages == ["0", "2", "3", "4"]
    assert len(others) == 1 and others[0].outcome is Outcome.BAD_RECORD, [o.reason for o in others[:3]]
    assert f"corrupt record at offset {record} " in others[0].reason, others[0].reason
    assert took < SECONDS, took


def test_warc_lines_after_the_last_record_are_one_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "tail.warc"
    plain = _plain(tmp_path)
    path.write_bytes(plain + b"WARC/1.1\r\n" * LINES)
    pages, others, took = _read(path)
    assert pages == ["0", "1", "2", "3", "4"]
    assert [o.outcome for o in others] == [Outcome.BAD_RECORD]
    assert f"offset {len(plain)} " in others[0].reason, others[0].reason
    assert took < SECONDS, took


def test_a_run_of_gzip_magic_between_members_is_one_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "magic.warc.gz"
    offsets = _warc(path)
    data = path.read_bytes()
    # FLG 0x1f: a name, a comment and an extra field, each a false header zlib would read on to its end
    path.write_bytes(data[: offsets[2]] + b"\x1f\x8b\x08\x1f" * (LINES * 5) + data[offsets[2] :])
    pages, others, took = _read(path)
    assert pages == ["0", "1", "2", "3", "4"]
    assert [o.outcome for o in others] == [Outcome.BAD_RECORD]
    assert f"corrupt record at offset {offsets[2]} " in others[0].reason, others[0].reason
    assert took < SECONDS, took


def test_records_running_past_the_end_of_the_file_are_read_once(tmp_path: Path) -> None:
    path = tmp_path / "long.warc"
    false_record = (b"WARC/1.1\r\nWARC-Type: response\r\nWARC-Target-URI: https://gazette.example.net/\r\n"
                    b"Content-Type: application/http; msgtype=response\r\nContent-Length: 99999999\r\n\r\n"
                    b"HTTP/1.1 200 OK\r\n\r\n")
    path.write_bytes(false_record * 5_000 + _plain(tmp_path))  # 5,000 records, each claiming the rest of the file
    pages, others, took = _read(path)
    assert pages == ["0", "1", "2", "3", "4"]
    assert [o.outcome for o in others] == [Outcome.BAD_RECORD]
    assert "offset 0 " in others[0].reason and "ends before its Content-Length" in others[0].reason
    assert took < SECONDS, took


def test_a_record_after_a_false_start_in_its_own_header_block_is_still_read(tmp_path: Path) -> None:
    """The false-start rule passes over a line, never over the record that follows it.

    A record cut inside its header block, then a whole one: the cut block runs into the next
    record's first line, so the cut one is the false start and the whole one is read (the
    reader before this rule lost it too). The price: while resynchronising, a real record whose
    header block holds a ``WARC/1.x`` line (which warcio would read as a line without a colon)
    is taken for a false start.
    """
    plain = _plain(tmp_path)
    second = plain.index(b"WARC/1.1\r\nWARC-Type: response", plain.index(b"border-talks-1") - 400)
    # junk where reading resumes, then a WARC line whose block is cut by the next real record
    path = tmp_path / "cut.warc"
    path.write_bytes(plain[:second] + b"garbage\r\nWARC/1.1\r\nWARC-Type: resp\r\n" + plain[second:])
    pages, others, _ = _read(path)
    assert pages == ["0", "1", "2", "3", "4"]
    assert len(others) == 1 and others[0].outcome is Outcome.BAD_RECORD
