"""WARC archives (CC-NEWS style): streamed, filtered by window and host, copied into the run's WARC."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from fetch_newsroom import article
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.config import Settings
from pipeline.discover import Candidate, discover
from pipeline.fetch import run_fetch
from pipeline.fetch.seen import capture_key
from pipeline.models import RawPage
from pipeline.orchestrate.steps import confirm_seen
from pipeline.outcomes import Outcome, StageResult
from pipeline.sources import Source, SourceKind
from pipeline.warc import iter_responses

RECORDS = [
    ("https://news.un.org/en/story/2024/01/1", "2024-01-15T10:00:00Z", "UN envoy briefs the Council"),
    ("https://www.mofa.go.jp/press/release/2024/0116.html", "2024-01-16T02:00:00Z", "Foreign Minister's visit"),
    ("https://sport.example/match-report", "2024-01-15T11:00:00Z", "Cup final"),
    ("https://news.un.org/en/story/2023/12/9", "2023-12-30T10:00:00Z", "Year-end review"),
]


def _cc_news(path: Path) -> Path:
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, date, title in RECORDS:
            body = article(title, "Paragraph about diplomacy and negotiations. " * 20).encode()
            headers = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=headers,
                warc_headers_dict={"WARC-Date": date},
            )
            writer.write_record(record)
    return path


def _source(location: str, hosts: tuple[str, ...]) -> Source:
    return Source(id="cc-news", name="CC-NEWS", kind=SourceKind.WARC, path=location, hosts=hosts)


def test_archive_records_filtered_by_window_and_host(tmp_path: Path) -> None:
    _cc_news(tmp_path / "CC-NEWS-20240115.warc.gz")
    window = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
    items = list(
        discover(_source(str(tmp_path / "CC-NEWS-*.warc.gz"), ("un.org", "mofa.go.jp")), window, lambda url: None)
    )
    assert [c.url for c in items if isinstance(c, Candidate)] == [RECORDS[0][0], RECORDS[1][0]]
    everything = list(discover(_source(str(tmp_path / "CC-NEWS-*.warc.gz"), ()), None, lambda url: None))
    assert len(everything) == 4


def test_archive_matches_are_copied_into_the_run_warc(tmp_path: Path, fetch_settings: Settings) -> None:
    archive = _cc_news(tmp_path / "CC-NEWS-20240115.warc.gz")
    window = (datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 1, 16, tzinfo=UTC))
    run = run_fetch(
        fetch_settings,
        [_source(str(archive), ("news.un.org",))],
        window,
        "replay",
        tmp_path / "out",
        show_progress=False,
    )
    pages = [p for p in iter_responses(run.warc_paths[0]) if isinstance(p, RawPage)]
    assert [p.url for p in pages] == [RECORDS[0][0]]
    assert pages[0].source is not None and pages[0].source.id == "cc-news"
    assert pages[0].fetched_at == datetime(2024, 1, 15, 10, tzinfo=UTC)
    assert run.report.counts_by_source() == {"cc-news": {"ok": 1}}
    offsets = [p.provenance.warc_offset for p in pages if p.provenance.warc_offset is not None]
    confirm_seen(fetch_settings, capture_key(run.warc_paths[0]), offsets)  # the capture was indexed
    again = run_fetch(
        fetch_settings,
        [_source(str(archive), ("news.un.org",))],
        window,
        "replay-2",
        tmp_path / "out",
        show_progress=False,
    )
    assert again.report.counts_by_source() == {"cc-news": {"unchanged": 1}}  # the seen-store remembers it


def test_damaged_archive_is_a_bad_record_and_the_batch_goes_on(tmp_path: Path) -> None:
    good = _cc_news(tmp_path / "a.warc.gz")
    (tmp_path / "b.warc.gz").write_bytes(good.read_bytes()[:700])
    items = list(discover(_source(str(tmp_path / "*.warc.gz"), ()), None, lambda url: None))
    assert len([i for i in items if isinstance(i, Candidate)]) >= 4
    assert any(isinstance(i, StageResult) and i.outcome is Outcome.BAD_RECORD for i in items)
