"""Reading damaged WARCs: a corrupt member is one bad_record and the records after it are still read.

Every file here is written by the project's own WarcSink (one gzip member per record), then
damaged on purpose: bytes flipped inside a member, its gzip header or its CRC, the file cut
short; plus empty and non-WARC files, uncompressed WARCs, and payloads over fetch.max_bytes.
"""

from __future__ import annotations

import gzip
import inspect
import random
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.config import FetchSettings
from pipeline.discover.archives import iter_archive
from pipeline.discover.candidates import Candidate
from pipeline.fetch.warc import CapturedResponse, WarcSink
from pipeline.models import RawPage
from pipeline.outcomes import Outcome, StageResult
from pipeline.sources import Source, SourceKind
from pipeline.warc import iter_responses

FETCHED = datetime(2024, 1, 15, 10, tzinfo=UTC)


def _page(i: int) -> bytes:
    return (
        f"<!DOCTYPE html><html><head><title>Communique {i}</title></head><body><article>"
        f"<h1>Communique {i}</h1><p>Ministers met for round {i} of the talks on the river treaty.</p>"
        f"<p>{'The delegations exchanged drafts. ' * 40}</p></article></body></html>"
    ).encode()


def _captured(i: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> CapturedResponse:
    url = f"https://news.example.org/2024/01/15/communique-{i}"
    return CapturedResponse(
        url=url,
        status=200,
        reason="OK",
        headers=headers or [("Content-Type", "text/html; charset=utf-8")],
        raw_body=body,
        fetched_at=FETCHED,
        source_id="example-news",
        run_id="damage-test",
        fetch_url=url,
        canonical_url=url,
    )


def _warc(path: Path, count: int = 100) -> list[int]:
    """A WARC of ``count`` response records; the offset of each record's gzip member, then the file's end."""
    with WarcSink(path) as sink:
        offsets = [sink.write(_captured(i, _page(i))) for i in range(count)]
    return [*offsets, path.stat().st_size]


def _split(items: list[RawPage | StageResult]) -> tuple[list[RawPage], list[StageResult]]:
    pages = [i for i in items if isinstance(i, RawPage)]
    return pages, [i for i in items if isinstance(i, StageResult)]


def _flip(data: bytearray, start: int, count: int) -> None:
    for i in range(start, start + count):
        data[i] ^= 0xFF


def test_a_clean_warc_reads_whole(tmp_path: Path) -> None:
    offsets = _warc(tmp_path / "clean.warc.gz")
    pages, others = _split(list(iter_responses(tmp_path / "clean.warc.gz")))
    assert len(pages) == 100 and others == []
    assert [p.provenance.warc_offset for p in pages if p.provenance] == offsets[:-1]
    assert pages[7].content == _page(7) and pages[7].source is not None and pages[7].source.id == "example-news"


@pytest.mark.parametrize(
    ("where", "how"),
    [
        ("deflate data", lambda start, end: ((start + end) // 2, 8)),
        ("gzip header", lambda start, end: (start, 2)),
        ("CRC trailer", lambda start, end: (end - 8, 4)),
    ],
)
def test_one_corrupt_member_costs_one_record(
    tmp_path: Path, where: str, how: Callable[[int, int], tuple[int, int]]
) -> None:
    path = tmp_path / "damaged.warc.gz"
    offsets = _warc(path)
    data = bytearray(path.read_bytes())
    start, end = offsets[50], offsets[51]
    at, count = how(start, end)
    _flip(data, at, count)
    path.write_bytes(bytes(data))

    pages, others = _split(list(iter_responses(path)))
    assert len(pages) == 99, where
    assert [p.url.rsplit("-", 1)[1] for p in pages] == [str(i) for i in range(100) if i != 50]
    assert len(others) == 1 and others[0].outcome is Outcome.BAD_RECORD
    reason = others[0].reason
    assert "corrupt" in reason and f"offset {start} " in reason and str(path) in reason, reason
    assert "truncated" not in reason


def test_two_corrupt_members_are_two_bad_records(tmp_path: Path) -> None:
    path = tmp_path / "twice.warc.gz"
    offsets = _warc(path)
    data = bytearray(path.read_bytes())
    for k in (20, 21, 70):  # two neighbours and one far away
        _flip(data, (offsets[k] + offsets[k + 1]) // 2, 8)
    path.write_bytes(bytes(data))
    pages, others = _split(list(iter_responses(path)))
    assert len(pages) == 97
    assert [o.outcome for o in others] == [Outcome.BAD_RECORD] * 3
    assert [f"offset {offsets[k]} " in o.reason for o, k in zip(others, (20, 21, 70), strict=True)] == [True] * 3


def test_a_truncated_file_keeps_every_complete_record(tmp_path: Path) -> None:
    path = tmp_path / "cut.warc.gz"
    offsets = _warc(path)
    data = path.read_bytes()
    path.write_bytes(data[: (offsets[99] + offsets[100]) // 2])  # the last record cut in half
    pages, others = _split(list(iter_responses(path)))
    assert len(pages) == 99
    assert len(others) == 1 and others[0].outcome is Outcome.BAD_RECORD
    assert "truncated" in others[0].reason and f"offset {offsets[99]} " in others[0].reason

    path.write_bytes(data[: offsets[60]])  # cut exactly between two members: nothing is damaged
    pages, others = _split(list(iter_responses(path)))
    assert len(pages) == 60 and others == []


def test_empty_and_non_warc_files_are_one_bad_record_each(tmp_path: Path) -> None:
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    text = tmp_path / "notes.warc"
    text.write_text("Minutes of the meeting.\nNothing here is a WARC record.\n" * 200)
    for path, words in ((empty, "empty file"), (text, "not a WARC file")):
        items = list(iter_responses(path))
        assert len(items) == 1 and isinstance(items[0], StageResult), path
        assert items[0].outcome is Outcome.BAD_RECORD and words in items[0].reason and str(path) in items[0].reason


def test_junk_before_the_first_record_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "prefixed.warc.gz"
    _warc(path, count=5)
    path.write_bytes(b"leftover bytes from a failed upload\n" + path.read_bytes())
    pages, others = _split(list(iter_responses(path)))
    assert len(pages) == 5 and len(others) == 1 and "corrupt" in others[0].reason and "offset 0 " in others[0].reason


def _plain(path: Path, gz: Path) -> bytes:
    data = gzip.decompress(gz.read_bytes())  # every member inflated: an uncompressed WARC
    path.write_bytes(data)
    return data


def test_uncompressed_warc_resumes_after_a_bad_record(tmp_path: Path) -> None:
    _warc(tmp_path / "src.warc.gz")
    path = tmp_path / "plain.warc"
    data = _plain(path, tmp_path / "src.warc.gz")
    starts = [i for i in range(len(data)) if data.startswith(b"WARC/1.1\r\n", i)]
    assert len(starts) == 101  # warcinfo + 100 responses
    damaged = bytearray(data)
    damaged[starts[41] : starts[41] + 4] = b"WXRC"  # the record of page 40 no longer starts as a record
    path.write_bytes(bytes(damaged))
    pages, others = _split(list(iter_responses(path)))
    assert len(pages) == 99 and "communique-40" not in {p.url.rsplit("/", 1)[1] for p in pages}
    assert len(others) == 1 and "corrupt" in others[0].reason and f"offset {starts[41]} " in others[0].reason

    path.write_bytes(data[: starts[100] + 600])  # the last record cut inside its payload
    pages, others = _split(list(iter_responses(path)))
    assert len(pages) == 99 and len(others) == 1 and "truncated" in others[0].reason


def test_discovery_reads_on_past_a_corrupt_member(tmp_path: Path) -> None:
    path = tmp_path / "CC-NEWS-20240115.warc.gz"
    offsets = _warc(path)
    data = bytearray(path.read_bytes())
    _flip(data, (offsets[10] + offsets[11]) // 2, 8)
    path.write_bytes(bytes(data))
    source = Source(id="cc", name="CC", kind=SourceKind.WARC, path=str(path), hosts=("news.example.org",))
    items = list(iter_archive(source, None))
    assert len([i for i in items if isinstance(i, Candidate)]) == 99
    bad = [i for i in items if isinstance(i, StageResult)]
    assert len(bad) == 1 and bad[0].outcome is Outcome.BAD_RECORD and "corrupt" in bad[0].reason


def test_the_payload_cap_is_fetch_max_bytes() -> None:
    assert inspect.signature(iter_responses).parameters["max_payload"].default == FetchSettings().max_bytes


def _gzip(body: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(body) + packer.flush()


@pytest.mark.slow
def test_a_60_mb_record_is_too_large_and_never_held(tmp_path: Path) -> None:
    path = tmp_path / "big.warc.gz"
    big = b"<!DOCTYPE html><html><body>" + b"<p>The delegations exchanged drafts.</p>" * (60 * 1024 * 1024 // 40)
    words = [b"treaty", b"river", b"minister", b"talks", b"draft", b"summit", b"envoy", b"accord", b"delegation"]
    rng = random.Random(0)
    prose = b" ".join(rng.choice(words) + str(rng.randrange(1000)).encode() for _ in range(330_000))  # ~3 MB
    gzip_headers = [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]
    with WarcSink(path) as sink:
        sink.write(_captured(0, _page(0)))
        sink.write(_captured(1, big))  # 60 MB on the wire
        sink.write(_captured(2, _gzip(big), gzip_headers))  # 60 KB on the wire, 60 MB decoded
        sink.write(_captured(3, _gzip(prose), gzip_headers))  # under 1 MB on the wire, 3 MB decoded
        sink.write(_captured(4, _page(4)))
    assert len(_gzip(prose)) < 1024 * 1024 < len(prose)
    del big

    tracemalloc.start()
    try:
        items = list(iter_responses(path))  # the default cap: fetch.max_bytes, 10 MiB
        _, peak_default = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        held, _ = tracemalloc.get_traced_memory()  # what the first run's results still hold (the 3 MB page)
        small_cap = list(iter_responses(path, max_payload=1024 * 1024))
        peak_small = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()

    pages, others = _split(items)
    assert [p.url[-1] for p in pages] == ["0", "3", "4"] and pages[1].content == prose
    assert [o.outcome for o in others] == [Outcome.TOO_LARGE, Outcome.TOO_LARGE]
    assert "payload of 629" in others[0].reason and "decompression bomb" in others[1].reason
    assert peak_default < 16 * 1024 * 1024  # the 3 MB page kept, at most a cap's worth being read; never 60 MB
    pages, others = _split(small_cap)
    assert [p.url[-1] for p in pages] == ["0", "4"]
    assert [o.outcome for o in others] == [Outcome.TOO_LARGE] * 3
    assert "decoded body over 1048576 bytes" in others[2].reason
    assert peak_small < 3 * 1024 * 1024  # a 1 MiB cap: about 1 MiB read before the refusal
