"""Authors (people only) and dates (UTC, sane, from the best source)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from extract_pages import FETCHED, STORY_A, jsonld_script, page, paragraphs_html, raw

from pipeline.config import Settings
from pipeline.extract import extract_page
from pipeline.extract.authors import clean_author
from pipeline.extract.dates import parse_date

SETTINGS = Settings()


@pytest.mark.parametrize(
    ("raw_text", "expected"),
    [
        ("By Ana Costa and Rahul Mehta | Reuters", ["Ana Costa", "Rahul Mehta"]),
        ("Ana Costa, Rahul Mehta & Li Wei", ["Ana Costa", "Rahul Mehta", "Li Wei"]),
        ("By ANA COSTA, Diplomatic Correspondent", ["ANA COSTA"]),
        ("Rahul Mehta (rahul.mehta@ledger.test)", ["Rahul Mehta"]),
        ("Staff Reporter", []),
        ("The Daily Ledger", []),
        ("Associated Press", []),
        ("https://www.dailyledger.test/authors/ana", []),
    ],
)
def test_clean_author(raw_text: str, expected: list[str]) -> None:
    assert clean_author(raw_text, {"the daily ledger"}) == expected


def test_several_authors_from_byline_markup() -> None:
    byline = ('<p class="byline">By <a rel="author" href="/a/1">Ana Costa</a> and '
              '<a rel="author" href="/a/2">Rahul Mehta</a></p>')
    article = extract_page(raw(page(before_article=byline)), SETTINGS).article
    assert article is not None
    assert article.authors == ("Ana Costa", "Rahul Mehta")
    assert article.methods["authors"] == "byline"


def test_by_line_with_agency_at_top_of_text_is_removed_and_read() -> None:
    body = "<p>By Ana Costa and Rahul Mehta | Reuters</p>" + paragraphs_html(STORY_A)
    article = extract_page(raw(page(body_html=body)), SETTINGS).article
    assert article is not None
    assert article.authors == ("Ana Costa", "Rahul Mehta")
    assert "Reuters" not in article.body.split("\n\n")[0]


def test_date_only_in_the_url() -> None:
    url = "https://www.dailyledger.test/world/2026/02/14/river-talks"
    article = extract_page(raw(page(), url=url), SETTINGS).article
    assert article is not None
    assert article.published_at == datetime(2026, 2, 14, tzinfo=UTC)
    assert article.published_precision == "day"
    assert article.methods["published_at"] == "url"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-03T23:30:00+05:30", datetime(2026, 3, 3, 18, 0, tzinfo=UTC)),
        ("2026-03-03T01:30:00-0800", datetime(2026, 3, 3, 9, 30, tzinfo=UTC)),
        ("2026-03-03T10:00:00Z", datetime(2026, 3, 3, 10, 0, tzinfo=UTC)),
        ("2026-03-03 10:00", datetime(2026, 3, 3, 10, 0, tzinfo=UTC)),
        ("Tue, 03 Mar 2026 10:00:00 +0100", datetime(2026, 3, 3, 9, 0, tzinfo=UTC)),
    ],
)
def test_timezone_offsets_are_normalised_to_utc(text: str, expected: datetime) -> None:
    parsed = parse_date(text)
    assert parsed is not None
    assert parsed[0] == expected and parsed[0].tzinfo is UTC


def test_offset_across_midnight_in_a_page() -> None:
    head = '<meta property="article:published_time" content="2026-03-04T00:30:00+02:00">'
    article = extract_page(raw(page(head=head)), SETTINGS).article
    assert article is not None
    assert article.published_at == datetime(2026, 3, 3, 22, 30, tzinfo=UTC)


def test_a_date_in_the_future_is_rejected_for_the_next_source() -> None:
    data = {"@type": "NewsArticle", "headline": "h", "datePublished": "2031-01-01T00:00:00Z"}
    head = jsonld_script(data) + '<meta property="article:published_time" content="2026-03-02T07:00:00Z">'
    article = extract_page(raw(page(head=head)), SETTINGS).article
    assert article is not None
    assert article.published_at == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    assert article.published_at <= FETCHED
    assert article.methods["published_at"] == "meta"


def test_only_a_future_date_gives_no_date() -> None:
    head = '<meta property="article:published_time" content="2031-01-01T00:00:00Z">'
    article = extract_page(raw(page(head=head), url="https://www.dailyledger.test/world/river-talks"),
                           SETTINGS).article
    assert article is not None
    assert article.published_at is None or article.published_at <= FETCHED
