"""URL canonicalisation and the one canonical-URL resolver that fetch and extraction share."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pipeline.config import Settings
from pipeline.extract import extract_page
from pipeline.models import RawPage, article_id
from pipeline.urls import (
    Canonical,
    canonicalize,
    is_object_store,
    local_path,
    page_canonical,
    registrable_domain,
    same_site,
)

BODY = "<p>" + " ".join(["The envoys met in Geneva to discuss the river treaty and its water quotas."] * 30) + "</p>"


def test_canonicalize() -> None:
    assert canonicalize("HTTPS://News.UN.org:443/en/story//2024/01/./1?utm_source=x&b=2&a=1&fbclid=z#top") == (
        "https://news.un.org/en/story/2024/01/1?a=1&b=2"
    )
    assert canonicalize("http://example.org") == "http://example.org/"
    assert canonicalize("http://example.org:8080/a/../b/") == "http://example.org:8080/b/"
    assert canonicalize("https://x.org/p?gclid=1&mc_cid=2&mc_eid=3&id=7") == "https://x.org/p?id=7"
    assert canonicalize("https://x.org/%7Eenvoy") == canonicalize("https://x.org/~envoy")


def test_canonicalize_strips_every_kind_of_tracking_parameter() -> None:
    tracked = ("https://desk.example/a?id=3&utm_source=x&UTM_Medium=y&utm_campaign=z&fbclid=1&gclid=2&msclkid=3"
               "&pk_campaign=4&mtm_source=5&_ga=6&igshid=7&yclid=8")
    assert canonicalize(tracked) == "https://desk.example/a?id=3"


def test_page_canonical_reads_link_then_og_url_on_the_same_site() -> None:
    page = '<html><head><link rel="canonical" href="/en/story/2024/01/1"></head></html>'
    assert page_canonical(page, "https://news.un.org/amp/1?utm_medium=x") == Canonical(
        "https://news.un.org/en/story/2024/01/1", "link")
    og = '<meta property="og:url" content="https://www.un.org/en/story/9?utm_source=og">'
    assert page_canonical(og, "https://news.un.org/x") == Canonical("https://www.un.org/en/story/9", "meta")
    foreign = '<link rel="canonical" href="https://aggregator.example/copy/1">'
    assert page_canonical(foreign, "https://news.un.org/x?utm_source=feed") == Canonical(
        "https://news.un.org/x", "fetched")
    assert page_canonical("<p>no hints</p>", "https://news.un.org/x") == Canonical("https://news.un.org/x", "fetched")


def test_page_canonical_drops_tracking_parameters_of_the_declared_url() -> None:
    page = '<link rel="canonical" href="https://harbour.example/world/talks?utm_source=rss&amp;utm_medium=feed&amp;p=2">'
    assert page_canonical(page, "https://harbour.example/world/talks").url == "https://harbour.example/world/talks?p=2"


def test_page_canonical_ignores_commented_out_and_malformed_hints() -> None:
    page = ('<!-- <link rel="canonical" href="https://harbour.example/old-slug"> -->'
            '<link rel="canonical" href="http://[::1"><meta property="og:url" content="https://harbour.example/b">')
    assert page_canonical(page, "https://harbour.example/a") == Canonical("https://harbour.example/b", "meta")
    assert page_canonical("<link rel=canonical href=/x>", "http://[::1").url == "http://[::1"  # no exception
    assert page_canonical("<!-- never closed <link rel=canonical href=/x>", "https://a.example/y").method == "fetched"


def test_page_canonical_finds_a_hint_behind_a_megabyte_of_inline_script() -> None:
    script = "<script>var config = {" + "'k': 'v', " * 100_000 + "};</script>"  # about 1 MB, as cnbc.com
    page = f'<html><head>{script}<link rel="canonical" href="https://harbour.example/b"></head></html>'
    assert page_canonical(page, "https://harbour.example/a") == Canonical("https://harbour.example/b", "link")


def test_same_site_is_one_registrable_domain() -> None:
    assert same_site("https://news.un.org/", "https://press.un.org/")  # sibling desks of one publisher
    assert same_site("https://www.un.org/", "https://un.org/a")
    assert not same_site("https://un.org/", "https://un.int/")
    assert same_site("https://news.bbc.co.uk/", "https://www.bbc.co.uk/")
    assert not same_site("https://bbc.co.uk/", "https://itv.co.uk/")  # co.uk is a public suffix
    assert not same_site("https://ann.blogspot.com/", "https://bob.blogspot.com/")  # a private suffix
    assert same_site("https://www.dailyledger.test/a", "https://dailyledger.test/b")  # unknown suffix: last label
    assert not same_site("https://127.0.0.1:8001/", "https://127.0.0.2:8001/")
    assert not same_site("https://a.example/", "not a url")
    assert registrable_domain("mofa.go.jp") == "mofa.go.jp" and registrable_domain("www.mofa.go.jp") == "mofa.go.jp"
    assert registrable_domain("localhost") == "localhost" and registrable_domain("127.0.0.1") == "127.0.0.1"


def _extracted(html: str, url: str) -> tuple[str, str]:
    page = RawPage(url=url, content=html.encode(), content_type="text/html; charset=utf-8",
                   fetched_at=datetime(2026, 3, 3, tzinfo=UTC))
    article = extract_page(page, Settings()).article
    assert article is not None
    return article.canonical_url, article.id


def test_extraction_ids_an_article_by_the_url_fetch_keyed_it_by() -> None:
    """The bug of two resolvers: utm_ parameters and a sibling desk gave an id the fetcher never saw."""
    fetched = "https://news.harbour.example/world/2026/03/03/talks?utm_source=rss"
    for head in (
        '<link rel="canonical" href="https://news.harbour.example/world/talks?utm_source=share&utm_medium=x">',
        '<link rel="canonical" href="https://press.harbour.example/releases/talks">',  # a sibling desk
        '<meta property="og:url" content="/world/talks?fbclid=abc">',
        '<link rel="canonical" href="https://aggregator.example/copy/9">',  # another site: the fetched URL
        "",
    ):
        html = f"<html><head><title>Talks</title>{head}</head><body><h1>Talks</h1>{BODY}</body></html>"
        fetch_key = page_canonical(html, fetched).url  # what pipeline/fetch/run.py stores and writes to the WARC
        assert "utm_" not in fetch_key and "fbclid" not in fetch_key
        assert _extracted(html, fetched) == (fetch_key, article_id(fetch_key))


def test_object_store_locations_and_local_ones() -> None:
    for remote in ("s3://bucket/captures", "gs://b/x.warc.gz", "memory://x", "S3://Bucket/p", "https://data.example/f"):
        assert is_object_store(remote), remote
    for local in ("/var/captures", "captures/x.warc.gz", "file:///var/captures", "FILE:///x", Path("/x"), "~/c"):
        assert not is_object_store(local), local
    assert local_path("file:///var/captures/a.warc.gz") == Path("/var/captures/a.warc.gz")
    assert local_path(Path("/var/c")) == Path("/var/c")
    assert local_path("~/c") == Path.home() / "c"
