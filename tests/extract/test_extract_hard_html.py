"""Hard HTML: huge, deeply nested, broken, bodiless, mis-declared or invalid bytes. Nothing raises."""

from __future__ import annotations

from extract_pages import GERMAN, STORY_A, page, paragraphs_html, raw

from pipeline.config import Settings
from pipeline.extract import extract_page
from pipeline.outcomes import Outcome

SETTINGS = Settings()


def test_five_megabyte_page_still_extracts() -> None:
    # Real pages reach megabytes through inline application state and long teaser lists.
    state = '<script id="state" type="application/json">{"items": [' + ",".join(
        f'{{"id": {i}, "text": "{"y" * 120}"}}' for i in range(27000)) + "]}</script>"
    filler = "".join(f'<div class="promo"><a href="/p/{i}">Offer {i}</a><span>{"x" * 80}</span></div>'
                     for i in range(8000))
    html = page(head=state, after_article=f'<section class="promos">{filler}</section>')
    assert len(html.encode()) > 5_000_000
    result = extract_page(raw(html), SETTINGS)
    assert result.outcome is Outcome.PROCESSED and result.article is not None
    assert STORY_A[2][:50] in result.article.body


def test_deeply_nested_html() -> None:
    depth = 2000
    html = page(body_html="<div>" * depth + paragraphs_html(STORY_A) + "</div>" * depth)
    result = extract_page(raw(html), SETTINGS)
    assert result.outcome is Outcome.PROCESSED and result.article is not None
    assert STORY_A[0][:50] in result.article.body


def test_broken_html_unclosed_and_stray_tags() -> None:
    body = "".join(f"<p>{p}<b><i>" for p in STORY_A) + "</span></td></table><div"
    html = "<html><head><title>Broken</title><body><article><h1>Broken page</h1>" + body
    result = extract_page(raw(html), SETTINGS)
    assert result.outcome is Outcome.PROCESSED and result.article is not None
    assert result.article.word_count > 200


def test_no_body_element() -> None:
    html = "<title>No body here</title>" + paragraphs_html(STORY_A)
    result = extract_page(raw(html), SETTINGS)
    assert result.outcome is Outcome.PROCESSED and result.article is not None
    assert result.article.title == "No body here"


def test_invalid_utf8_bytes_are_replaced() -> None:
    # UTF-8 text with two stray bytes stays UTF-8 (the bad bytes replaced), not a whole page of mojibake.
    german = page(paragraphs=GERMAN * 2, lang="de").encode("utf-8")
    content = german.replace(b"zwei Jahren", b"zwei \xff\xfe Jahren", 1)
    result = extract_page(raw(content), SETTINGS)
    assert result.outcome is Outcome.PROCESSED and result.article is not None
    assert "\ufffd" in result.article.body and "Außenminister" in result.article.body
    assert result.article.methods["encoding"] == "utf-8-repaired:utf-8"
    # Bytes with no UTF-8 text at all are not UTF-8 whatever the label says: detection decides.
    ascii_page = page().encode("utf-8").replace(b"two-year pause", b"two-year \xff\xfe pause")
    result = extract_page(raw(ascii_page), SETTINGS)
    assert result.outcome is Outcome.PROCESSED and result.article is not None
    assert result.article.methods["encoding"].startswith("detected:")
    assert "in a step that diplomats described as modest but overdue" in result.article.body


def test_charset_from_header_then_meta() -> None:
    german = page(paragraphs=GERMAN * 2, lang="de").replace('<meta charset="utf-8">', "")
    latin = german.encode("cp1252")
    result = extract_page(raw(latin, content_type="text/html; charset=windows-1252"), SETTINGS)
    assert result.article is not None and "Außenminister" in result.article.body
    with_meta = german.replace("<head>", '<head><meta charset="iso-8859-1">').encode("cp1252")
    result = extract_page(raw(with_meta, content_type="text/html"), SETTINGS)
    assert result.article is not None and "Außenminister" in result.article.body
    assert result.article.methods["encoding"].startswith("meta")
    detected = extract_page(raw(latin, content_type=None), SETTINGS)
    assert detected.article is not None and "Außenminister" in detected.article.body


def test_stale_latin1_declaration_on_utf8_bytes() -> None:
    html = page(paragraphs=GERMAN * 2, lang="de").replace('<meta charset="utf-8">', '<meta charset="iso-8859-1">')
    result = extract_page(raw(html.encode("utf-8"), content_type="text/html"), SETTINGS)
    assert result.article is not None and "Außenminister" in result.article.body


def test_binary_content_is_a_decode_error() -> None:
    content = bytes(range(256)) * 200
    result = extract_page(raw(content, content_type="text/html"), SETTINGS)
    assert result.article is None
    assert result.outcome in (Outcome.DECODE_ERROR, Outcome.EMPTY, Outcome.NOT_ARTICLE, Outcome.PARSE_ERROR)


def test_language_detector_beats_html_lang_on_long_text() -> None:
    result = extract_page(raw(page(paragraphs=GERMAN * 2, lang="en")), SETTINGS)
    assert result.article is not None
    assert result.article.language == "de" and result.article.methods["language"] == "detector"


def test_canonical_url_same_site_only() -> None:
    own = page(head='<link rel="canonical" href="https://dailyledger.test/world/river-talks">')
    article = extract_page(raw(own), SETTINGS).article
    assert article is not None and article.canonical_url == "https://dailyledger.test/world/river-talks"
    foreign = page(head='<link rel="canonical" href="https://aggregator.example/copy/123">')
    fetched = "https://www.dailyledger.test/world/2026/03/03/river-talks"
    article = extract_page(raw(foreign, url=fetched), SETTINGS).article
    assert article is not None and article.canonical_url == fetched


def test_charset_from_the_response_headers_when_content_type_is_unset() -> None:
    german = page(paragraphs=GERMAN * 2, lang="de").replace('<meta charset="utf-8">', "")
    base = raw(german.encode("cp1252"), content_type=None)
    from dataclasses import replace

    result = extract_page(replace(base, headers={"Content-Type": "text/html; charset=windows-1252"}), SETTINGS)
    assert result.article is not None and "Außenminister" in result.article.body
    assert result.article.methods["encoding"] == "header:cp1252"
