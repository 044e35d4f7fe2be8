"""Fuzzing extract_page: random bytes, mutated pages and pages built from hostile parts.

Every example must end in one named outcome with a reason, in bounded time and memory. A page
built around a real article body must not be lost to a bug: its metadata may be anything at all,
but it is not a PARSE_ERROR from an exception caught inside the extractor.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime

import pytest
from fuzzing import FUZZ, HTML_EXAMPLES, MB, any_text, bounded, mutated
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import Settings
from pipeline.extract import extract_page
from pipeline.extract.dates import MODIFIED_META, PUBLISHED_META
from pipeline.models import RawPage
from pipeline.outcomes import Outcome, StageResult

pytestmark = pytest.mark.slow

SETTINGS = Settings()
FETCHED = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
# Pages here stay under about 300 KB. Measured: median 0.03 MB, largest 32 MB (a 300 KB page of one
# repeated tag, parsed, copied for htmldate and walked by trafilatura); twice that is a leak or a blow-up.
MEMORY_LIMIT = 64 * MB

PARAGRAPHS = [
    "Envoys from the coastal states met on Thursday in a harbour town to settle how the shared fishing grounds "
    "will be patrolled, after a season of boats seized and nets cut on both sides of the line.",
    "The draft, seen by this newspaper, gives each navy the right to board vessels in a joint zone, and sets up "
    "a commission of six officers that will meet every month to hear complaints from crews.",
    "Fishermen's unions on both coasts said they had not been asked, and warned that a patrol regime written by "
    "ministries would fail unless the people who work the water had a seat on the commission.",
    "A second round is planned for the spring, when the ministers hope to sign the text in the capital of the "
    "larger state, diplomats said, though a date has not been fixed and the opposition has promised a fight.",
]

NEWS_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Envoys agree on fishing patrols | The Harbour Post</title>
<meta property="og:title" content="Envoys agree on fishing patrols">
<meta property="og:type" content="article">
<meta property="article:published_time" content="2026-03-03T09:30:00+01:00">
<link rel="canonical" href="https://www.harbourpost.test/world/2026/03/03/fishing-patrols">
<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "NewsArticle",
"headline": "Envoys agree on fishing patrols", "datePublished": "2026-03-03T09:30:00+01:00",
"author": [{{"@type": "Person", "name": "Lena Marsh"}}], "publisher": {{"@type": "Organization",
"name": "The Harbour Post"}}}}</script></head>
<body><header><nav><a href="/">Home</a><a href="/world">World</a></nav></header>
<article><h1>Envoys agree on fishing patrols</h1><p class="byline">By Lena Marsh</p>
<time datetime="2026-03-03T09:30:00+01:00">3 March 2026</time>
{"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}
</article><footer>Sign up for our newsletter</footer></body></html>""".encode()

SEEDS = [
    NEWS_PAGE,
    NEWS_PAGE.replace(b'charset="utf-8"', b'charset="iso-8859-1"').replace(b"Envoys", "Envoyés".encode("latin-1")),
    b"\xff\xfe" + NEWS_PAGE.decode().encode("utf-16-le"),
    b"<html><body>" + b"".join(b"<h2><a href='/world/2026/03/0%d/story'>A story headline number %d</a></h2>"
                               % (i % 9 + 1, i) for i in range(20)) + b"</body></html>",
    b"<p>Just a paragraph, no html or head.</p>",
    b"",
]
TOKENS = [
    b"<", b">", b"</p>", b"<div>", b"</div>", b"<script>", b"</script>", b"<!--", b"-->", b"<![CDATA[", b"]]>",
    b"&#0;", b"&#x110000;", b"&amp;", b"&nbsp;", b'"', b"'", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"\xc3",
    b'<meta charset="utf-16">', b'<meta charset="bogus-8">',
    b'<meta http-equiv="content-type" content="text/html; charset=shift_jis">',
    b'<html lang="zz-ZZ">', b"<article>", b"<time datetime='0001-01-01T00:00:00+14:00'>", b"<h1>",
    b'<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": 5, "author": [null]}</script>',
    b'<script type="application/ld+json">[[[[{"@graph": [{"@id": "#a"}, {"@id": "#a"}]}]]]]</script>',
    b'<meta property="article:published_time" content="Fri, 31 Dec 9999 23:59:59 -2359">',
    b'<link rel="canonical" href="http://[::1">', b'<meta property="og:image" content="//\x00">',
    b"<table><tr><td>", b"<svg><foreignObject>", b"<math><mi>", b"<template>", b"<noscript>",
]

# Values that have broken date, URL and JSON handling elsewhere: extremes, impossible days, huge offsets.
HOSTILE_VALUES = [
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "2024-02-30", "20240230T250000", "2024-13-01",
    "Fri, 31 Dec 9999 23:59:59 -2359", "Mon, 01 Jan 0001 00:00:00 +2359", "99999999999", "9999999999999",
    "1970-01-01", "-1", "NaN", "", " ", "\x00", "http://[::1", "https://", "//", "javascript:alert(1)",
    "https://xn--zz.test/\u00ff", "a" * 5000, "2026-03-03T09:30:00+29:99",
]
value_text = st.one_of(st.sampled_from(HOSTILE_VALUES), any_text)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                         value_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["@type", "@id", "@graph", "name", "headline", "url", "author"]) | any_text, inner, max_size=4)),
    max_leaves=12)
JSONLD_KEYS = ["@type", "@id", "@graph", "headline", "name", "datePublished", "dateCreated", "dateModified",
               "author", "creator", "articleBody", "description", "isAccessibleForFree", "wordCount", "image",
               "url", "mainEntityOfPage", "keywords", "articleSection", "publisher", "inLanguage"]
META_NAMES = list(PUBLISHED_META) + list(MODIFIED_META) + [
    "og:title", "twitter:title", "og:description", "description", "og:url", "og:image", "twitter:image",
    "author", "article:author", "article:section", "news_keywords", "keywords", "article:tag", "og:type",
    "og:site_name", "application-name"]


@st.composite
def built_pages(draw: st.DrawFn) -> bytes:
    """A page around a real article body, with every other part drawn from hostile values."""
    jsonld: dict[str, object] = {"@type": draw(st.sampled_from(["NewsArticle", "Article", ["NewsArticle"], 7]))}
    for key in draw(st.lists(st.sampled_from(JSONLD_KEYS), max_size=8)):
        jsonld[key] = draw(json_values)
    metas = draw(st.lists(st.tuples(st.sampled_from(META_NAMES), value_text), max_size=8))
    times = draw(st.lists(value_text, max_size=3))
    lang = draw(value_text)
    title = draw(value_text)
    canonical = draw(value_text)
    extra = draw(st.lists(any_text, max_size=3))
    escape = draw(st.booleans())  # unescaped values break the markup around them too
    q = (lambda v: html.escape(v, quote=True)) if escape else (lambda v: v)
    parts = [f'<!doctype html><html lang="{q(lang)}"><head><title>{q(title)}</title>',
             f'<link rel="canonical" href="{q(canonical)}">',
             *(f'<meta property="{name}" name="{name}" content="{q(value)}">' for name, value in metas),
             f'<script type="application/ld+json">{json.dumps(jsonld)}</script></head><body><article>',
             f"<h1>{q(title)}</h1>",
             *(f'<time datetime="{q(t)}">{q(t)}</time>' for t in times),
             *(f"<p>{p}</p>" for p in PARAGRAPHS),
             *(f"<p>{q(e)}</p>" for e in extra),
             "</article></body></html>"]
    return "".join(parts).encode("utf-8")


page_urls = st.one_of(st.just("https://www.harbourpost.test/world/2026/03/03/fishing-patrols"),
                      st.sampled_from(["https://www.harbourpost.test/2026/02/30/impossible-day", "http://[::1]/x",
                                       "http://[::1", "https://[x]/", "not a url", "",
                                       "https://a.test/" + "x" * 3000, "https://b.test/live/today"]))
content_types = st.one_of(st.none(), st.sampled_from([
    "text/html", "text/html; charset=utf-8", "text/html; charset=bogus", "text/html; charset=utf-16",
    "text/html; charset=utf-7", "application/xhtml+xml", "text/html; charset=", "text/html; charset=\x00"]))


def _extract(content: bytes, url: str, content_type: str | None) -> StageResult:
    page = RawPage(url=url, content=content, content_type=content_type, fetched_at=FETCHED)
    with bounded(MEMORY_LIMIT):
        result = extract_page(page, SETTINGS)
    assert isinstance(result, StageResult) and isinstance(result.outcome, Outcome)
    if result.outcome is Outcome.PROCESSED:
        assert result.article is not None and result.article.body
    else:
        assert result.article is None and result.reason, result
    return result


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Imports, the publisher registry and trafilatura's first call happen once, outside any example's clock."""
    extract_page(RawPage(url="https://www.harbourpost.test/x", content=NEWS_PAGE, fetched_at=FETCHED), SETTINGS)


@settings(FUZZ, max_examples=HTML_EXAMPLES)
@given(content=st.one_of(st.binary(max_size=4096), mutated(SEEDS, TOKENS)), url=page_urls, content_type=content_types)
def test_any_bytes_end_in_a_named_outcome(content: bytes, url: str, content_type: str | None) -> None:
    _extract(content, url, content_type)


@settings(FUZZ, max_examples=HTML_EXAMPLES)
@given(content=built_pages(), url=page_urls, content_type=content_types)
def test_an_article_with_hostile_metadata_is_never_lost_to_a_bug(content: bytes, url: str,
                                                                content_type: str | None) -> None:
    result = _extract(content, url, content_type)
    # A PARSE_ERROR whose reason is an exception name means a field extractor broke on a value.
    assert result.outcome is not Outcome.PARSE_ERROR, result.reason
