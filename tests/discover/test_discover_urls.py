"""URL canonicalisation and the fetch-time canonical URL."""

from __future__ import annotations

from pipeline.urls import canonical_from_html, canonicalize, same_site


def test_canonicalize() -> None:
    assert canonicalize("HTTPS://News.UN.org:443/en/story//2024/01/./1?utm_source=x&b=2&a=1&fbclid=z#top") == (
        "https://news.un.org/en/story/2024/01/1?a=1&b=2"
    )
    assert canonicalize("http://example.org") == "http://example.org/"
    assert canonicalize("http://example.org:8080/a/../b/") == "http://example.org:8080/b/"
    assert canonicalize("https://x.org/p?gclid=1&mc_cid=2&mc_eid=3&id=7") == "https://x.org/p?id=7"
    assert canonicalize("https://x.org/%7Eenvoy") == canonicalize("https://x.org/~envoy")


def test_canonical_from_html_same_site_only() -> None:
    page = '<html><head><link rel="canonical" href="/en/story/2024/01/1"></head></html>'
    assert (
        canonical_from_html(page, "https://news.un.org/amp/1?utm_medium=x") == "https://news.un.org/en/story/2024/01/1"
    )
    og = '<meta property="og:url" content="https://www.un.org/en/story/9?utm_source=og">'
    assert canonical_from_html(og, "https://news.un.org/x") == "https://www.un.org/en/story/9"
    foreign = '<link rel="canonical" href="https://aggregator.example/copy/1">'
    assert canonical_from_html(foreign, "https://news.un.org/x") is None
    assert canonical_from_html("<p>no hints</p>", "https://news.un.org/x") is None
    assert not same_site("https://news.un.org/", "https://press.un.org/")
