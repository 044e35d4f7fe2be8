"""Feeds and sitemaps: hints, windows, recursion caps, and hostile XML."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

from fetch_newsroom import Newsroom, Reply, article, rss

from pipeline.config import Settings
from pipeline.discover import Candidate, Skipped, discover
from pipeline.discover.feeds import parse_feed
from pipeline.discover.sitemaps import parse_sitemap, walk_sitemaps
from pipeline.fetch import run_fetch
from pipeline.outcomes import Outcome, StageResult
from pipeline.sources import Source, SourceKind

JAN = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Ministry</title>
<entry><title>Minister meets counterpart</title><link href="https://mfa.example/en/press/1"/>
<published>2024-01-10T09:00:00+09:00</published><updated>2024-01-11T09:00:00Z</updated>
<author><name>Press Office</name></author><category term="diplomacy"/></entry></feed>"""

RDF = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://kantei.example/"><title>Kantei</title><link>https://kantei.example/</link></channel>
<item rdf:about="https://kantei.example/news/1"><title>Cabinet meeting</title><link>https://kantei.example/news/1</link>
<dc:date>2024-01-20T10:00:00+09:00</dc:date><dc:creator>Cabinet Office</dc:creator></item></rdf:RDF>"""


def test_rss_atom_and_rdf_give_links_with_hints() -> None:
    (rss_item,) = parse_feed(
        rss([("Envoy visits Kyiv", "https://desk.example/a", "Mon, 15 Jan 2024 10:00:00 GMT")]),
        "https://desk.example/feed",
        "desk",
        None,
    )
    (atom_item,) = parse_feed(ATOM, "https://mfa.example/feed", "mfa", None)
    (rdf_item,) = parse_feed(RDF, "https://kantei.example/rdf", "kantei", None)
    assert isinstance(rss_item, Candidate) and rss_item.title == "Envoy visits Kyiv"
    assert rss_item.published_at == datetime(2024, 1, 15, 10, tzinfo=UTC)
    assert isinstance(atom_item, Candidate) and atom_item.authors == ("Press Office",)
    assert atom_item.published_at == datetime(2024, 1, 10, 0, tzinfo=UTC) and atom_item.keywords == ("diplomacy",)
    assert isinstance(rdf_item, Candidate) and rdf_item.url == "https://kantei.example/news/1"
    assert rdf_item.published_at == datetime(2024, 1, 20, 1, tzinfo=UTC) and rdf_item.authors == ("Cabinet Office",)


def test_feed_window_selects_entries() -> None:
    body = rss(
        [
            ("in", "https://d.example/in", "Mon, 15 Jan 2024 10:00:00 GMT"),
            ("before", "https://d.example/old", "Sun, 31 Dec 2023 23:59:59 GMT"),
            ("end is exclusive", "https://d.example/feb", "Thu, 01 Feb 2024 00:00:00 GMT"),
        ]
    )
    assert [c.url for c in parse_feed(body, "https://d.example/f", "d", JAN)] == ["https://d.example/in"]  # type: ignore[union-attr]


def test_malformed_feed_and_xml_bomb_are_parse_errors() -> None:
    for body in (
        b"this is not xml {{{",
        b"<html><body>Moved</body></html>",
        BOMB + b"<rss><channel><title>&lol3;</title></channel></rss>",
    ):
        (result,) = parse_feed(body, "https://d.example/f", "d", None)
        assert isinstance(result, StageResult) and result.outcome is Outcome.PARSE_ERROR
    (bomb,) = parse_feed(BOMB + b"<rss/>", "https://d.example/f", "d", None)
    assert "entity" in bomb.reason  # type: ignore[union-attr]


NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://wire.example/world/talks-resume</loc><lastmod>2024-01-16T08:00:00Z</lastmod>
<news:news><news:publication><news:name>Wire</news:name><news:language>en</news:language></news:publication>
<news:publication_date>2024-01-15T10:30:00+00:00</news:publication_date><news:title>Talks resume in Doha</news:title>
<news:keywords>diplomacy, Qatar, ceasefire</news:keywords></news:news></url>
<url><loc>https://wire.example/world/older</loc><lastmod>2023-12-01</lastmod></url>
</urlset>"""


def test_news_sitemap_hints_and_lastmod() -> None:
    entries, children = parse_sitemap(NEWS_SITEMAP)
    assert children == [] and len(entries) == 2
    news = entries[0]
    assert news.title == "Talks resume in Doha" and news.keywords == ("diplomacy", "Qatar", "ceasefire")
    assert news.published_at == datetime(2024, 1, 15, 10, 30, tzinfo=UTC) and news.language == "en"
    assert entries[1].lastmod == datetime(2023, 12, 1, tzinfo=UTC)


def _index(children: list[str]) -> bytes:
    items = "".join(f"<sitemap><loc>{c}</loc></sitemap>" for c in children)
    return f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'.encode()


def _urlset(urls: list[tuple[str, str]]) -> bytes:
    items = "".join(f"<url><loc>{u}</loc><lastmod>{d}</lastmod></url>" for u, d in urls)
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</urlset>'.encode()


def test_sitemap_index_recursion_is_capped_by_depth_and_count(newsroom: Newsroom) -> None:
    # A chain of indexes that never ends, and one that points at itself.
    for i in range(10):
        newsroom.route(
            f"/idx{i}.xml",
            Reply(
                body=_index([newsroom.url(f"/idx{i + 1}.xml"), newsroom.url("/idx0.xml")]),
                content_type="application/xml",
            ),
        )
    fetched: list[str] = []

    def fetch_xml(url: str) -> bytes | None:
        fetched.append(url)
        import urllib.request

        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback test server
            return bytes(response.read())

    items = list(walk_sitemaps(newsroom.url("/idx0.xml"), "wire", None, fetch_xml, max_depth=3, max_count=50))
    assert fetched == [newsroom.url(f"/idx{i}.xml") for i in range(4)]  # depth 0..3, the self-loop read once
    assert any(isinstance(i, Skipped) and "depth cap" in i.reason for i in items)
    fetched.clear()
    items = list(walk_sitemaps(newsroom.url("/idx0.xml"), "wire", None, fetch_xml, max_depth=10, max_count=2))
    assert len(fetched) == 2 and any(isinstance(i, Skipped) and "count cap" in i.reason for i in items)


def test_window_over_a_dated_sitemap_archive_reads_only_the_months_it_needs(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    months = ["2023-11", "2023-12", "2024-01", "2024-02"]
    newsroom.route(
        "/sitemap.xml",
        Reply(body=_index([newsroom.url(f"/sitemap-{m}.xml.gz") for m in months]), content_type="application/xml"),
    )
    for month in months:
        urls = [(newsroom.url(f"/{month}/story-{d}"), f"{month}-{d:02d}T12:00:00Z") for d in (1, 15, 28)]
        newsroom.route(
            f"/sitemap-{month}.xml.gz", Reply(body=gzip.compress(_urlset(urls)), content_type="application/x-gzip")
        )
        for url, _ in urls:
            newsroom.page(url.removeprefix(newsroom.base), article("Archive story", f"Story from {month}."))
    source = Source(id="archive", name="Archive", kind=SourceKind.SITEMAP, urls=(newsroom.url("/sitemap.xml"),))
    window = (datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 20, tzinfo=UTC))
    run = run_fetch(fetch_settings, [source], window, "backfill", tmp_path, show_progress=False)
    read = {h.path for h in newsroom.hits if h.path.startswith("/sitemap")}
    assert read == {"/sitemap.xml", "/sitemap-2024-01.xml.gz"}
    articles = [r.url for r in run.report.records if r.kind == "article"]
    assert articles == [newsroom.url("/2024-01/story-15")]
    assert {s["reason"] for s in run.report.skipped} == {"sitemap period outside the window"}


def test_malformed_sitemap_and_xml_bomb_are_parse_errors(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    broken = newsroom.route("/broken.xml", Reply(body=b"<urlset><url><loc>https://x", content_type="application/xml"))
    bomb = newsroom.route(
        "/bomb.xml", Reply(body=BOMB + b"<urlset><url><loc>&lol3;</loc></url></urlset>", content_type="application/xml")
    )
    sources = [
        Source(id="broken", name="B", kind=SourceKind.SITEMAP, urls=(broken,)),
        Source(id="bomb", name="X", kind=SourceKind.SITEMAP, urls=(bomb,)),
    ]
    run = run_fetch(fetch_settings, sources, None, "badxml", tmp_path, show_progress=False)
    assert run.report.counts_by_source() == {"bomb": {"parse_error": 1}, "broken": {"parse_error": 1}}
    reasons = {r.source: r.reason for r in run.report.records}
    assert "malformed XML" in reasons["broken"] and "entity" in reasons["bomb"]


def test_url_list_source_needs_no_fetch_for_discovery() -> None:
    source = Source(id="list", name="L", kind=SourceKind.URLS, urls=("https://a.example/1", "https://a.example/2"))
    items = list(discover(source, None, lambda url: None))
    assert [c.url for c in items if isinstance(c, Candidate)] == list(source.urls)
