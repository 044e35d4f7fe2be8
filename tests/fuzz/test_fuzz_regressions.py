"""What the fuzz suite found, pinned as plain tests (fast: not marked slow).

Each test is one input that used to raise out of a parser, lose an article to a caught exception,
run for seconds or allocate twice its cap; each now ends in a named result.
"""

from __future__ import annotations

import time
import tracemalloc
import zlib
from datetime import UTC, datetime

from pipeline.config import Settings
from pipeline.discover import Candidate, Skipped
from pipeline.discover.feeds import parse_feed
from pipeline.discover.sitemaps import parse_w3c_date, period_from_url, walk_sitemaps
from pipeline.discover.xmlsafe import MAX_XML_BYTES, XmlRejected, maybe_gunzip
from pipeline.extract import extract_page
from pipeline.extract.dates import parse_date
from pipeline.models import RawPage, domain_of
from pipeline.outcomes import Outcome, StageResult, Tally
from pipeline.process import extract_all

SETTINGS = Settings()
FETCHED = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
URL = "https://www.harbourpost.test/world/2026/03/03/fishing-patrols"
WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC))
TEXT = "".join(
    f"<p>Envoys from the coastal states met on day {i} in a harbour town to settle how the shared fishing "
    f"grounds will be patrolled, after a season of boats seized and nets cut on both sides of the line.</p>"
    for i in range(6))


def _page(head: str = "", body: str = TEXT, url: str = URL) -> RawPage:
    html = (f"<!doctype html><html lang='en'><head><title>Envoys agree on fishing patrols</title>{head}</head>"
            f"<body><article><h1>Envoys agree on fishing patrols</h1>{body}</article></body></html>")
    return RawPage(url=url, content=html.encode(), fetched_at=FETCHED)


# ---------------------------------------------------------------- extract_page


def test_a_date_past_the_calendar_in_utc_is_skipped_not_raised() -> None:
    assert parse_date("Fri, 31 Dec 9999 23:59:59 -2359") is None  # was OverflowError, out of extract_page
    result = extract_page(_page(
        '<meta property="article:published_time" content="Fri, 31 Dec 9999 23:59:59 -2359">'
        '<meta name="date" content="2026-03-03T09:30:00Z">'), SETTINGS)
    assert result.outcome is Outcome.PROCESSED and result.article is not None
    assert result.article.published_at == datetime(2026, 3, 3, 9, 30, tzinfo=UTC)  # the next source


def test_a_malformed_link_in_the_metadata_does_not_cost_the_article() -> None:
    bad = "http://[::1"  # urllib raises ValueError on it
    result = extract_page(_page(
        f'<link rel="canonical" href="{bad}"><meta property="og:url" content="https://[x]/">'
        f'<meta property="og:image" content="{bad}">'
        f'<script type="application/ld+json">{{"@type": "NewsArticle", "url": "{bad}", "image": "{bad}"}}</script>',
        body=TEXT + f'<h2><a href="{bad}">a teaser headline long enough to count here</a></h2>'), SETTINGS)
    assert result.outcome is Outcome.PROCESSED and result.article is not None, result.reason
    assert result.article.canonical_url == URL and result.article.image_url is None


def test_json_ld_ids_and_types_of_any_json_type_are_ignored() -> None:
    jsonld = ('{"@type": "NewsArticle", "author": [{"@id": {"x": 1}}, {"@type": [{"a": 1}], "name": "Lena Marsh"},'
              ' {"@type": {"a": 1}, "name": "Tom Reyes"}]}')
    result = extract_page(_page(f'<script type="application/ld+json">{jsonld}</script>'), SETTINGS)
    assert result.outcome is Outcome.PROCESSED and result.article is not None, result.reason
    assert result.article.authors == ("Lena Marsh", "Tom Reyes")


def test_a_page_at_a_malformed_url_ends_in_an_outcome() -> None:
    assert domain_of("http://[::1") == ""  # was ValueError, raised before extract_page's own guard
    result = extract_page(_page(url="http://[::1"), SETTINGS)
    assert result.article is not None or (result.outcome is Outcome.PARSE_ERROR and result.reason)


def test_deeply_nested_tables_are_read_in_milliseconds() -> None:
    extract_page(_page(), SETTINGS)  # imports and first-call set-up outside the clock
    for nesting in (600, 1000):  # 3.7 s and 5 s of CPU before
        page = _page(body="<table><tr><td>x " * nesting + TEXT)
        started = time.process_time()
        result = extract_page(page, SETTINGS)
        assert time.process_time() - started < 1.0
        assert isinstance(result.outcome, Outcome)


def test_extract_all_counts_a_record_with_a_malformed_url() -> None:
    tally = Tally()
    inputs = [StageResult(Outcome.BAD_RECORD, reason="unreadable record", url="http://[::1"), _page(url="https://[x]/")]
    articles = list(extract_all(inputs, SETTINGS, tally))  # was ValueError, out of the batch
    assert tally.counts == {"bad_record": 1} and tally.by_source == {"http://[::1": {"bad_record": 1}}
    assert len(articles) == 1 and articles[0].source.domain == ""


# ---------------------------------------------------------------- feeds


def test_a_feed_date_outside_datetimes_years_is_no_date() -> None:
    feed = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry>'
            b'<link href="https://www.harbourpost.test/a/1"/><published>0001-01-01T00:00:00+14:00</published></entry>'
            b'<entry><link href="http://[::1"/></entry>'
            b'<entry><link href="https://www.harbourpost.test/a/2"/></entry></feed>')
    items = list(parse_feed(feed, "https://www.harbourpost.test/feed", "harbourpost", None))
    assert [i.url for i in items if isinstance(i, Candidate)] == [
        "https://www.harbourpost.test/a/1", "https://www.harbourpost.test/a/2"]  # the malformed link is passed over
    assert all(isinstance(i, Candidate) and i.published_at is None for i in items)


def test_a_feed_declaring_an_impossible_encoding_is_a_parse_error() -> None:
    for declaration in (b"utf\x008", b"bogus-8"):
        feed = b'<?xml version="1.0" encoding="' + declaration + b'"?><rss version="2.0"><channel/></rss>'
        items = list(parse_feed(feed, "https://www.harbourpost.test/feed", "harbourpost", None))
        assert [(type(i), i.outcome) for i in items if isinstance(i, StageResult)] == [
            (StageResult, Outcome.PARSE_ERROR)], items


# ---------------------------------------------------------------- sitemaps


def test_dates_that_do_not_exist_are_no_dates() -> None:
    assert period_from_url("https://www.harbourpost.test/sitemap-2024-02-30.xml") is None
    assert parse_w3c_date("0001-01-01T00:00:00+14:00") is None
    index = (b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             b"<sitemap><loc>https://www.harbourpost.test/sitemap-2026-02-30.xml</loc>"
             b"<lastmod>0001-01-01T00:00:00+14:00</lastmod></sitemap></sitemapindex>")
    child = (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url>'
             b"<loc>https://www.harbourpost.test/a/1</loc><lastmod>2026-03-03</lastmod></url></urlset>")
    documents = {"https://www.harbourpost.test/sitemap.xml": index,
                 "https://www.harbourpost.test/sitemap-2026-02-30.xml": child}
    items = list(walk_sitemaps("https://www.harbourpost.test/sitemap.xml", "harbourpost", WINDOW, documents.get))
    assert [i.url for i in items if isinstance(i, Candidate)] == ["https://www.harbourpost.test/a/1"], items


def test_a_sitemap_in_an_unknown_encoding_is_a_parse_error() -> None:
    documents = {"https://www.harbourpost.test/sitemap.xml": b'<?xml version="1.0" encoding="bogus"?><urlset/>'}
    items = list(walk_sitemaps("https://www.harbourpost.test/sitemap.xml", "harbourpost", None, documents.get))
    assert [i.outcome for i in items if isinstance(i, StageResult)] == [Outcome.PARSE_ERROR]
    assert not any(isinstance(i, (Candidate, Skipped)) for i in items)


def test_a_gzip_bomb_is_refused_within_its_cap() -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(packer.compress(b"\0" * (1024 * 1024)) for _ in range(MAX_XML_BYTES // (1024 * 1024) + 1))
    bomb += packer.flush()
    tracemalloc.start()
    try:
        maybe_gunzip(bomb)
        raise AssertionError("a gzip past the cap was inflated")
    except XmlRejected as exc:
        assert "inflates past" in str(exc)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 1.3 * MAX_XML_BYTES, f"{peak / 1e6:.0f} MB"  # was 105 MB: twice the cap
