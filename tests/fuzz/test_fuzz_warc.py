"""Fuzzing the WARC reader through its public function, iter_responses, on damaged captures.

The seed is a capture written with the project's own WarcSink (three exchanges, one of them
gzip-encoded), gzipped as the sink writes it or inflated to a plain WARC. Examples flip, insert,
cut and duplicate bytes, and drop, repeat or swap whole records. Every example must yield only
RawPages and named outcomes (BAD_RECORD, TOO_LARGE, DECODE_ERROR ...) with a reason, in bounded time and memory.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fuzzing import FUZZ, MB, WARC_EXAMPLES, bounded, mutated
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.fetch.warc import CapturedResponse, WarcSink
from pipeline.models import RawPage
from pipeline.outcomes import Outcome, StageResult
from pipeline.warc import iter_responses

pytestmark = pytest.mark.slow

# Payloads are capped (MAX_PAYLOAD) and the reader holds one record at a time (measured peak 0.6 MB).
MAX_PAYLOAD = 1 * MB
MEMORY_LIMIT = 16 * MB
FETCHED = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)

PAGE = (b"<html><head><title>Envoys agree on fishing patrols</title></head><body><article>"
        b"<p>Envoys from the coastal states met on Thursday to settle how the shared fishing grounds "
        b"will be patrolled.</p></article></body></html>")


def _exchange(path: str, body: bytes, headers: list[tuple[str, str]]) -> CapturedResponse:
    url = f"https://www.harbourpost.test/{path}"
    return CapturedResponse(
        url=url, status=200, reason="OK", headers=headers, raw_body=body, fetched_at=FETCHED,
        source_id="harbourpost", run_id="fuzz", fetch_url=url, canonical_url=url,
        redirects=["https://harbourpost.test/old"], request_headers={"User-Agent": "ChanceryBot/fuzz"},
    )


def _seed_warc() -> bytes:
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / "seed.warc.gz"
        with WarcSink(path) as sink:
            sink.write(_exchange("world/fishing-patrols", PAGE, [("Content-Type", "text/html; charset=utf-8")]))
            sink.write(_exchange("world/gzipped", gzip.compress(PAGE, mtime=0),
                                 [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]))
            sink.write(_exchange("world/empty", b"", [("Content-Type", "text/html")]))
        return path.read_bytes()


SEED_GZ = _seed_warc()
SEED_PLAIN = gzip.decompress(SEED_GZ)  # every gzip member, inflated and concatenated: a plain WARC


def _members(data: bytes) -> list[bytes]:
    """The sink writes one gzip member per record; each starts with the gzip magic."""
    starts = [i for i in range(len(data)) if data.startswith(b"\x1f\x8b\x08", i)]
    return [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]


def _records(plain: bytes) -> list[bytes]:
    parts = plain.split(b"WARC/1.1\r\n")
    return [b"WARC/1.1\r\n" + p for p in parts if p]


TOKENS = [
    b"WARC/1.1\r\n", b"WARC/1.0\r\n", b"WARC/9.9\r\n", b"\r\n\r\n", b"\r\n", b"Content-Length: 99999999999\r\n",
    b"Content-Length: -1\r\n", b"Content-Length: \r\n", b"WARC-Type: response\r\n", b"WARC-Type: revisit\r\n",
    b"WARC-Target-URI: http://[::1\r\n", b"WARC-Target-URI: \r\n", b"WARC-Date: 9999-99-99T99:99:99Z\r\n",
    b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 abc\r\n", b"HTTP/1.1\r\n", b"Transfer-Encoding: chunked\r\n",
    b"Content-Encoding: gzip\r\n", b"Content-Encoding: br\r\n", b"ffffffff\r\n", b"0\r\n\r\n",
    b"Content-Type: application/http; msgtype=response\r\n", b"\x1f\x8b\x08\x00", b"\x1f\x8b", b"\x00" * 16,
]


@st.composite
def damaged_warcs(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(file bytes, gzipped?): whole records dropped, repeated or swapped, then bytes mutated."""
    gzipped = draw(st.booleans())
    units = _members(SEED_GZ) if gzipped else _records(SEED_PLAIN)
    order = draw(st.lists(st.integers(0, len(units) - 1), min_size=0, max_size=2 * len(units)))
    rebuilt = b"".join(units[i] for i in order) if draw(st.booleans()) else b"".join(units)
    data = draw(mutated([rebuilt], TOKENS))
    return data, gzipped


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="chancery-fuzz-warc-") as temp:
        yield Path(temp)


def _read(workdir: Path, data: bytes, gzipped: bool) -> None:
    path = workdir / ("capture.warc.gz" if gzipped else "capture.warc")
    path.write_bytes(data)
    with bounded(MEMORY_LIMIT):
        items = list(iter_responses(path, MAX_PAYLOAD))
    for item in items:
        if isinstance(item, RawPage):
            assert isinstance(item.url, str) and isinstance(item.content, bytes)
            assert len(item.content) <= MAX_PAYLOAD
        else:
            assert isinstance(item, StageResult) and isinstance(item.outcome, Outcome), item
            assert item.outcome not in (Outcome.OK, Outcome.PROCESSED) and item.reason, item


def test_the_seed_capture_reads_back_whole(workdir: Path) -> None:
    for data, gzipped in ((SEED_GZ, True), (SEED_PLAIN, False)):
        path = workdir / ("seed.warc.gz" if gzipped else "seed.warc")
        path.write_bytes(data)
        pages = list(iter_responses(path, MAX_PAYLOAD))
        assert [p.url for p in pages if isinstance(p, RawPage)] == [
            "https://www.harbourpost.test/world/fishing-patrols", "https://www.harbourpost.test/world/gzipped",
            "https://www.harbourpost.test/world/empty"], pages
        assert [p.content for p in pages if isinstance(p, RawPage)] == [PAGE, PAGE, b""]


@settings(FUZZ, max_examples=WARC_EXAMPLES)
@given(warc=st.one_of(damaged_warcs(), st.tuples(st.binary(max_size=2048), st.booleans())))
def test_any_damage_yields_pages_or_named_outcomes(workdir: Path, warc: tuple[bytes, bool]) -> None:
    _read(workdir, *warc)
