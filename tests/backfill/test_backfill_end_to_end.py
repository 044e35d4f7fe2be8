"""`chancery backfill` over one past week, end to end: archive sitemaps, Wayback, GDELT, CC-NEWS, the real engine."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from archive_servers import (
    Capture,
    CcNews,
    Gdelt,
    Page,
    Publisher,
    Wayback,
    article_html,
    diplomacy_text,
    export_row,
    rss,
    sitemap_index,
    urlset,
    warc_file,
)

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.index.client import connect
from pipeline.index.setup import make_searchable
from pipeline.models import article_id
from pipeline.urls import canonicalize

pytestmark = pytest.mark.engine


def _page(title: str, published: str, topic: str) -> Page:
    return Page(article_html(title, published, diplomacy_text(topic, "Tokyo")))


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    es = settings.elasticsearch
    for name, value in {
        "CHANCERY_HOME": str(settings.home),
        "CHANCERY_ELASTICSEARCH_INDEX_PREFIX": es.index_prefix,
        "ELASTICSEARCH_URL": str(es.url),
        "ELASTICSEARCH_USERNAME": es.username or "",
        "ELASTICSEARCH_PASSWORD": es.password or "",
        "CHANCERY_ALLOW_NETWORKS": "127.0.0.0/8",
        "CHANCERY_FETCH_PER_HOST_DELAY": "0",
        "CHANCERY_FETCH_BACKOFF_BASE": "0.05",
    }.items():
        monkeypatch.setenv(name, value)


def test_a_past_week_from_the_archives_indexes_each_article_once_over_two_runs(
    es_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, es_settings)
    ministry, wire = Publisher("127.0.0.2"), Publisher("127.0.0.3")
    wayback, gdelt, cc = Wayback(), Gdelt("127.0.0.4"), CcNews("127.0.0.5")
    now = datetime.now(UTC)
    with ministry, wire, wayback, gdelt, cc:
        # The live feeds list only this week: nothing of September 2016.
        ministry.pages["/rss.xml"] = Page(rss([("Today", ministry.url("/press/today.html"), now)]),
                                          content_type="application/rss+xml")
        wire.pages["/rss.xml"] = Page(rss([("Today", wire.url("/world/today.html"), now)]),
                                      content_type="application/rss+xml")
        # The ministry's archive sitemap, split by month (one child by name, one by query).
        on_site = ministry.url("/press/2016/09/13/statement.html")
        ministry.pages["/press/2016/09/13/statement.html"] = _page("Statement on the talks", "2016-09-13T08:00:00Z",
                                                                    "a joint statement")
        ministry.pages["/sitemap-archive.xml"] = Page(sitemap_index([
            (ministry.url("/sitemap-2016-08.xml"), "2016-08-31"),
            (ministry.url("/sitemap.xml?yyyy=2016&mm=09"), None),
            (ministry.url("/sitemap-2016-10.xml"), "2016-10-31"),
        ]), content_type="application/xml")
        ministry.pages["/sitemap.xml?yyyy=2016&mm=09"] = Page(urlset([(on_site, "2016-09-13")]),
                                                              content_type="application/xml")
        # What only the Wayback Machine still has: the ministry took the page down.
        gone = ministry.url("/press/2016/09/14/islands.html")
        wayback.add(Capture("20160914101500", gone, _page("Talks on the islands resume", "2016-09-14T09:00:00Z",
                                                          "the disputed islands").body))
        recaptured = ministry.url("/press/2016/08/30/old.html")  # captured in the week, dated August 30
        wayback.add(Capture("20160915090000", recaptured, _page("An August note", "2016-08-30T09:00:00Z",
                                                                "fisheries").body))
        wayback.add(Capture("20160913120000", on_site, ministry.pages["/press/2016/09/13/statement.html"].body))
        # The wire: GDELT coded a story on its domain; CC-NEWS crawled another.
        coded = wire.url("/world/2016/09/15/summit.html")
        wire.pages["/world/2016/09/15/summit.html"] = _page("Summit planned", "2016-09-15T06:00:00Z", "a summit")
        gdelt.add_file("20160915061500", "export", [export_row(1, coded, "20160915061500")])
        gdelt.publish_list()
        crawled = wire.url("/world/2016/09/16/vote.html")
        cc.add_month(2016, 9, {"CC-NEWS-20160913000000-00000.warc.gz": warc_file(tmp_path, "cc.warc.gz", [
            (crawled, datetime(2016, 9, 16, 9, tzinfo=UTC), _page("UN vote", "2016-09-16T07:00:00Z", "a vote").body)])})
        sources = tmp_path / "sources.yaml"
        sources.write_text(f"""sources:
  - id: ministry
    name: Ministry of Foreign Affairs
    kind: rss
    url: {ministry.url('/rss.xml')}
    language: en
    archives:
      - kind: sitemap
        url: {ministry.url('/sitemap-archive.xml')}
      - kind: wayback
        url: {ministry.url('/press/')}
        archive: {wayback.base_url}
  - id: wire
    name: The Wire
    kind: rss
    url: {wire.url('/rss.xml')}
    language: en
    archives:
      - kind: gdelt
        archive: {gdelt.archive}
      - kind: ccnews
        archive: {cc.base_url}/
""")
        args = ["backfill", "--since", "2016-09-12", "--until", "2016-09-19", "--sources", str(sources)]
        first = main([*args, "--report", str(tmp_path / "first.json")])
        shown = capsys.readouterr().err
        raw_reads = len(wayback.paths("/web/"))
        second = main([*args, "--report", str(tmp_path / "second.json")])
        raw_reads_again = len(wayback.paths("/web/")) - raw_reads
        feeds = ministry.paths("/rss.xml") + wire.paths("/rss.xml")
        months = ministry.paths("/sitemap-2016-08.xml") + ministry.paths("/sitemap-2016-10.xml")
    assert (first, second) == (0, 0)
    expected = {gone, on_site, coded, crawled}
    client = connect(es_settings)
    make_searchable(client, es_settings)
    hits = client.search(index=es_settings.elasticsearch.index_prefix, size=100,
                         source=["url", "canonical_url", "source", "provenance", "published_at"])["hits"]["hits"]
    assert sorted(h["_source"]["url"] for h in hits) == sorted(expected)  # each once; August's note kept out
    by_url = {h["_source"]["url"]: h for h in hits}
    archived = by_url[gone]
    assert archived["_id"] == article_id(canonicalize(gone))  # the original URL is the id, not the archive's
    assert archived["_source"]["source"]["id"] == "ministry"
    assert archived["_source"]["provenance"]["archive_url"] == f"{wayback.base_url}/web/20160914101500id_/{gone}"
    assert archived["_source"]["provenance"]["archived_at"].startswith("2016-09-14T10:15:00")
    assert by_url[crawled]["_source"]["provenance"]["archive_url"].endswith("CC-NEWS-20160913000000-00000.warc.gz")
    assert by_url[coded]["_source"]["source"]["id"] == "wire" and by_url[coded]["_source"]["provenance"].get(
        "archive_url") is None  # found through GDELT, fetched from the wire itself
    assert feeds == [] and months == []  # the week is past the feeds' reach; other months' sitemaps unread
    # The rerun fetched from the archive only the page it kept out (August's: not indexed, so not seen).
    assert raw_reads_again == 1 and wayback.paths("/web/")[-1].endswith(recaptured)
    report = json.loads((tmp_path / "first.json").read_text())
    assert set(report["fetch"]["kinds"]) == {"sitemap-archive", "wayback", "gdelt", "ccnews"}
    wayback_urls = {u["url"]: u["outcome"] for u in report["fetch"]["kinds"]["wayback"]["urls"]}
    assert wayback_urls[recaptured] == "outside_window"
    assert wayback_urls[on_site] == "unchanged"  # the archive sitemap's kind indexed it first
    again = json.loads((tmp_path / "second.json").read_text())
    assert again["indexed"] == 0 and again["status"] == "ok"
    for kind in ("backfill: wayback", "backfill: gdelt", "backfill: ccnews", "backfill: sitemap-archive"):
        assert kind in shown
