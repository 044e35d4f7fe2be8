"""An article's id is the one fetch keyed its page by: the capture's canonical URL wins over the page's markup.

The fixture page (fixtures/sibling_desk.html) declares a canonical URL on a sibling desk, with
campaign parameters. Fetch recorded its own canonical URL in the capture
(``WARC-Chancery-Canonical-URL``); extraction of the capture must give the article that URL and
its id, whatever the markup says on a second reading. The same HTML as a plain file has no
capture, and keeps what the markup says.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fetch_newsroom import Newsroom

from pipeline.config import Settings
from pipeline.extract import extract_page
from pipeline.fetch import run_fetch
from pipeline.fetch.warc import CapturedResponse, WarcSink
from pipeline.models import CapturedRecord, RawPage, article_id
from pipeline.process import read_inputs
from pipeline.sources import Source, SourceKind
from pipeline.urls import canonicalize
from pipeline.warc import iter_responses

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "sibling_desk.html"
PAGE_URL = "https://www.desk.example.org/2024/05/border-commission"
FETCHED_AS = "https://www.desk.example.org/2024/05/border-commission"  # the fetcher's key for it


def _capture_of(tmp_path: Path, html: bytes, canonical: str) -> Path:
    path = tmp_path / "capture.warc.gz"
    with WarcSink(path) as sink:
        sink.write(CapturedResponse(
            url=PAGE_URL, status=200, reason="OK", headers=[("Content-Type", "text/html; charset=utf-8")],
            raw_body=html, fetched_at=datetime(2024, 5, 14, 10, tzinfo=UTC), source_id="desk", run_id="r1",
            fetch_url=PAGE_URL, canonical_url=canonical, content_hash="f" * 64, request_headers={},
        ))
    return path


def test_the_capture_names_the_article_not_its_markup(settings: Settings, tmp_path: Path) -> None:
    html = FIXTURE.read_bytes()
    (page,) = [p for p in iter_responses(_capture_of(tmp_path, html, FETCHED_AS)) if isinstance(p, RawPage)]
    assert page.capture is not None
    assert (page.capture.canonical_url, page.capture.content_hash) == (FETCHED_AS, "f" * 64)

    article = extract_page(page, settings).article
    assert article is not None
    assert article.canonical_url == FETCHED_AS and article.methods["canonical_url"] == "capture"
    assert article.id == article_id(FETCHED_AS) == page.capture.article_id

    # The same bytes with no capture record: the markup decides (the sibling desk, campaign parameters gone).
    (plain,) = list(read_inputs([_html_file(tmp_path, html)], url=PAGE_URL))
    assert isinstance(plain, RawPage) and plain.capture is None
    from_markup = extract_page(plain, settings).article
    assert from_markup is not None
    assert from_markup.canonical_url == "https://press.desk.example.org/2024/05/border-commission"
    assert from_markup.id != article.id


def _html_file(tmp_path: Path, html: bytes) -> Path:
    path = tmp_path / "page.html"
    path.write_bytes(html)
    return path


def test_a_fetched_page_keeps_the_id_the_fetcher_saw(newsroom: Newsroom, fetch_settings: Settings) -> None:
    """Through the real fetcher: a rel=canonical with ?utm_source= is the fetched URL, and so is the id."""
    target = newsroom.url("/press/commission")
    html = FIXTURE.read_text().replace(
        "https://press.desk.example.org/2024/05/border-commission?utm_source=newsletter&amp;utm_medium=email",
        f"{target}?utm_source=newsletter&amp;utm_campaign=may",
    )
    url = newsroom.page("/press/commission", html)
    source = Source(id="desk", name="Desk", kind=SourceKind.URLS, urls=(url,))
    run = run_fetch(fetch_settings, [source], None, "canonical", fetch_settings.captures_dir, show_progress=False)

    (record,) = run.capture.records
    assert record.canonical_url == canonicalize(url)
    pages = [p for p in iter_responses(run.capture.uri) if isinstance(p, RawPage)]
    assert [p.capture for p in pages] == [record]  # what fetch emitted is what processing reads
    assert isinstance(record, CapturedRecord) and record.offset == pages[0].provenance.warc_offset
    article = extract_page(pages[0], fetch_settings).article
    assert article is not None and article.id == record.article_id
