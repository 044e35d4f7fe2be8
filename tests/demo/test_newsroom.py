"""The demo newsroom over real loopback HTTP: pages, feed, sitemaps, conditional GET, sources file."""

from __future__ import annotations

import http.client
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
import yaml
from bs4 import BeautifulSoup

from pipeline.demo.newsroom import Newsroom, serve, write_sources_file

NEWS_NS = {
    "sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "news": "http://www.google.com/schemas/sitemap-news/0.9",
}


@pytest.fixture(scope="module")
def newsroom() -> Iterator[Newsroom]:
    with serve() as running:
        yield running


def get(
    newsroom: Newsroom, path: str, headers: Mapping[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    host = urlsplit(newsroom.base_url)
    conn = http.client.HTTPConnection(host.hostname or "127.0.0.1", host.port, timeout=10)
    try:
        conn.request(method, path, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_feed_parses_and_lists_the_newest_world_articles(newsroom: Newsroom) -> None:
    status, headers, body = get(newsroom, "/feeds/world.xml")
    assert status == 200
    assert headers["content-type"].startswith("application/rss+xml")
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    world = sorted((a for a in newsroom.articles if a.section == "World"), key=lambda a: a.published_utc)
    expected = [newsroom.url_for(a) for a in reversed(world[-20:])]
    assert [e.link for e in feed.entries] == expected
    first = feed.entries[0]
    article = newsroom.article(first.link)
    assert first.title == article.title
    assert first.summary == article.summary
    assert datetime(*first.published_parsed[:6]).date() == article.day
    assert first.author_detail.name == article.authors[0] or first.author in article.authors


def news_sitemap_entries(newsroom: Newsroom) -> list[tuple[str, datetime, str]]:
    status, headers, body = get(newsroom, "/sitemaps/news.xml")
    assert status == 200 and headers["content-type"].startswith("application/xml")
    root = ET.fromstring(body)
    entries = []
    for url in root.findall("sm:url", NEWS_NS):
        loc = url.findtext("sm:loc", namespaces=NEWS_NS)
        published = url.findtext("news:news/news:publication_date", namespaces=NEWS_NS)
        title = url.findtext("news:news/news:title", namespaces=NEWS_NS)
        assert loc and published and title
        assert url.findtext("news:news/news:keywords", namespaces=NEWS_NS)
        entries.append((loc, datetime.fromisoformat(published), title))
    return entries


def test_news_sitemap_lists_every_article_and_a_date_window_selects_a_subset(newsroom: Newsroom) -> None:
    entries = news_sitemap_entries(newsroom)
    assert sorted(loc for loc, _, _ in entries) == sorted(newsroom.article_urls())
    day = date(2015, 9, 28)
    in_window = sorted(loc for loc, published, _ in entries if published.astimezone(UTC).date() == day)
    assert in_window == sorted(newsroom.article_urls(day, day + timedelta(days=1)))
    assert 2 <= len(in_window) <= 3
    week = newsroom.article_urls(date(2015, 9, 20), date(2015, 9, 27))
    assert 0 < len(week) < len(newsroom.articles)
    assert set(week) | set(newsroom.article_urls(date(2015, 9, 27), None)) == set(newsroom.article_urls())


def test_sitemap_index_points_at_the_news_and_monthly_sitemaps(newsroom: Newsroom) -> None:
    status, _, body = get(newsroom, "/sitemap.xml")
    assert status == 200
    root = ET.fromstring(body)
    locs = [s.findtext("sm:loc", namespaces=NEWS_NS) for s in root.findall("sm:sitemap", NEWS_NS)]
    assert all(s.findtext("sm:lastmod", namespaces=NEWS_NS) for s in root.findall("sm:sitemap", NEWS_NS))
    assert locs == [f"{newsroom.base_url}/sitemaps/{name}.xml" for name in ("news", "2015-09", "2015-10")]
    monthly: list[str] = []
    for loc in locs[1:]:
        status, _, body = get(newsroom, path_of(loc or ""))
        assert status == 200
        monthly += [u.findtext("sm:loc", namespaces=NEWS_NS) or "" for u in ET.fromstring(body)]
    assert sorted(monthly) == sorted(newsroom.article_urls())


def test_robots_allows_everything_and_names_the_sitemap(newsroom: Newsroom) -> None:
    status, headers, body = get(newsroom, "/robots.txt")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert "User-agent: *" in text and "Disallow: /" not in text
    assert f"Sitemap: {newsroom.base_url}/sitemap.xml" in text


def test_etag_revalidation_answers_304_without_a_body(newsroom: Newsroom) -> None:
    path = path_of(newsroom.article_urls()[0])
    status, headers, body = get(newsroom, path)
    assert status == 200 and headers["etag"] and headers["last-modified"]
    status, again, body = get(newsroom, path, {"If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")
    assert again["etag"] == headers["etag"]
    status, _, _ = get(newsroom, path, {"If-None-Match": '"something-else"'})
    assert status == 200
    status, _, _ = get(newsroom, path, {"If-Modified-Since": headers["last-modified"]})
    assert status == 304
    status, head, body = get(newsroom, path, method="HEAD")
    assert (status, body, head["etag"]) == (200, b"", headers["etag"])
    assert head["content-length"] == headers["content-length"]


def test_article_page_carries_metadata_and_boilerplate(newsroom: Newsroom) -> None:
    article = newsroom.article("abe-and-putin-meet-at-un-agree-to-keep-talking-on-islands")
    url = newsroom.url_for(article)
    assert url.endswith("/2015/09/28/abe-and-putin-meet-at-un-agree-to-keep-talking-on-islands.html")
    status, headers, body = get(newsroom, path_of(url))
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    soup = BeautifulSoup(body, "html.parser")
    assert soup.html is not None and soup.html["lang"] == "en"
    assert soup.find("link", rel="canonical")["href"] == url
    assert soup.find("meta", property="og:url")["content"] == url
    assert soup.find("meta", property="og:image")["content"].startswith(newsroom.base_url)
    assert soup.find("meta", attrs={"name": "description"})["content"] == article.summary
    published = soup.find("meta", property="article:published_time")["content"]
    assert datetime.fromisoformat(published) == article.published
    ld = json.loads(soup.find("script", type="application/ld+json").string)
    assert ld["@type"] == "NewsArticle" and ld["headline"] == article.title
    assert [a["name"] for a in ld["author"]] == list(article.authors)
    assert datetime.fromisoformat(ld["datePublished"]) == article.published
    assert datetime.fromisoformat(ld["dateModified"]) > article.published
    assert soup.find(class_="byline").get_text(" ", strip=True) == "By Daniel Whitcombe and Aiko Tanabe"
    assert [p.get_text() for p in soup.select("article .story-body p")] == list(article.body)
    for boilerplate in ("share-bar", "related-stories", "newsletter-signup", "site-footer"):
        assert soup.find(class_=boilerplate) is not None, boilerplate
    assert soup.find("figcaption") is not None
    assert soup.select(".related-stories li a")


def test_section_front_is_a_list_of_links(newsroom: Newsroom) -> None:
    status, headers, body = get(newsroom, "/world/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    soup = BeautifulSoup(body, "html.parser")
    links = {a["href"] for a in soup.select(".story-list a")}
    assert links == {newsroom.url_for(a) for a in newsroom.articles if a.section == "World"}
    assert soup.find("script", type="application/ld+json") is None


def test_unknown_path_is_404_and_requests_are_logged(newsroom: Newsroom) -> None:
    status, _, _ = get(newsroom, "/2015/01/01/no-such-story.html")
    assert status == 404
    assert "/2015/01/01/no-such-story.html" in newsroom.requests
    assert newsroom.requests.records()[-1].status == 404


def test_sources_file_has_the_fixed_shape(newsroom: Newsroom, tmp_path: Path) -> None:
    path = write_sources_file(newsroom.base_url, tmp_path / "sources.yaml")
    sources = yaml.safe_load(path.read_text())["sources"]
    assert {s["kind"] for s in sources} == {"rss", "sitemap"}
    for source in sources:
        assert set(source) >= {"id", "name", "kind", "url", "language"}
        assert source["language"] == "en"
        status, _, _ = get(newsroom, path_of(source["url"]))
        assert status == 200


def test_stop_frees_the_port() -> None:
    with serve() as running:
        base = running.base_url
    host = urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname or "", host.port, timeout=2)
    with pytest.raises(OSError):
        try:
            conn.request("GET", "/robots.txt")
        finally:
            conn.close()


def test_html_has_no_unrendered_placeholders(newsroom: Newsroom) -> None:
    for url in newsroom.article_urls()[:5]:
        _, _, body = get(newsroom, path_of(url))
        assert not re.search(r"\{[a-z_]+\}", body.decode()), url
