"""Which kinds reach a window, archive entries in the sources file, and the DAG's fetch step choosing them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from archive_servers import Capture, Page, Publisher, Wayback, article_html, diplomacy_text, rss

from pipeline.config import Settings
from pipeline.discover.reach import backfill_parts
from pipeline.discover.sitemaps import period_from_url
from pipeline.orchestrate.ledger import CaptureLedger
from pipeline.orchestrate.steps import fetch_batch
from pipeline.sources import SourceKind, SourcesError, load_sources

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SOURCES = """sources:
  - id: ministry
    name: Ministry
    kind: rss
    url: https://www.ministry.example/rss.xml
    language: en
    country: JP
    archives:
      - kind: sitemap
        url: https://www.ministry.example/sitemap-archive.xml
      - kind: wayback
        url: https://www.ministry.example/press/
      - kind: gdelt
      - kind: ccnews
  - id: wire
    name: Wire
    kind: sitemap
    url: https://wire.example/news-sitemap.xml
    reach_days: 7
  - id: gdelt-diplomacy
    name: Diplomacy anywhere, by GDELT
    kind: gdelt
    countries: [JP, RU]
    events: ["04", "05"]
"""


def _sources(tmp_path: Path, text: str = SOURCES) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


def test_archive_entries_inherit_their_source(tmp_path: Path) -> None:
    ministry, wire, anywhere = load_sources(_sources(tmp_path))
    kinds = [e.kind for e in ministry.archives]
    assert kinds == [SourceKind.SITEMAP, SourceKind.WAYBACK, SourceKind.GDELT, SourceKind.CCNEWS]
    assert all(e.id == "ministry" and e.language == "en" and e.country == "JP" and e.archive_entry
               for e in ministry.archives)
    gdelt, ccnews = ministry.archives[2], ministry.archives[3]
    assert gdelt.hosts == ("ministry.example",) and ccnews.hosts == ("ministry.example",)  # from the feed's URL
    assert ministry.archives[1].archive == "https://web.archive.org"
    assert ccnews.archive == "https://data.commoncrawl.org/"
    assert ministry.archives[0].kind_label == "sitemap-archive" and wire.reach_days == 7
    assert anywhere.countries == ("JPN", "RUS") and anywhere.events == ("04", "05") and not anywhere.hosts


@pytest.mark.parametrize(("entry", "line", "message"), [
    ("      - kind: rss\n        url: https://x.example/feed\n", 7, "kind must be one of"),
    ("      - kind: wayback\n        name: other\n", 8, "'name' comes from its source"),
    ("      - kind: wayback\n", 7, "kind wayback needs 'url'"),
    ("      - kind: wayback\n        url: https://x.example/\n        archive: ftp://x\n", 9, "'archive' must be"),
    ("      - kind: sitemap\n        url: https://x.example/s.xml\n        archive: https://a.example\n", 9,
     "is for wayback, gdelt and ccnews"),
    ("      - kind: gdelt\n        tables: [gkg]\n        countries: [JP]\n", 8, "GKG rows carry no CAMEO"),
])
def test_bad_archive_entries_name_file_and_line(tmp_path: Path, entry: str, line: int, message: str) -> None:
    text = ("sources:\n  - id: s\n    name: S\n    kind: rss\n    url: https://s.example/rss\n    archives:\n"
            + entry)
    path = _sources(tmp_path, text)
    with pytest.raises(SourcesError, match=message) as caught:
        load_sources(path)
    assert str(caught.value).startswith(f"{path}:{line}: source 's' archives entry:")


def test_more_bad_sources(tmp_path: Path) -> None:
    cases = [
        ("sources:\n  - id: c\n    name: C\n    kind: ccnews\n", "kind ccnews needs 'hosts'"),
        ("sources:\n  - id: w\n    name: W\n    kind: wayback\n    url: https://x.example/\n    archives: []\n",
         "'archives' is for live sources"),
        ("sources:\n  - id: r\n    name: R\n    kind: rss\n    url: https://x.example/\n    reach_days: 0\n",
         "'reach_days' must be"),
        ("sources:\n  - id: r\n    name: R\n    kind: rss\n    url: https://x.example/\n    archives: {kind: x}\n",
         "'archives' must be a list"),
    ]
    for text, message in cases:
        with pytest.raises(SourcesError, match=message):
            load_sources(_sources(tmp_path, text))


def test_a_window_past_the_feeds_reach_uses_the_archives_and_a_recent_one_does_not(tmp_path: Path) -> None:
    sources = load_sources(_sources(tmp_path))
    week_2015 = (datetime(2015, 9, 14, tzinfo=UTC), datetime(2015, 9, 21, tzinfo=UTC))
    parts = {p.kind: [s.id for s in p.sources] for p in backfill_parts(sources, week_2015, NOW, 2)}
    # CC-NEWS starts in August 2016: it does not reach 2015. The ministry's feed is not read for a 2015
    # window; the wire, with no archive, reads its sitemap all the same.
    assert parts == {"sitemap": ["wire"], "sitemap-archive": ["ministry"], "wayback": ["ministry"],
                     "gdelt": ["ministry", "gdelt-diplomacy"]}
    assert list(parts) == ["sitemap", "sitemap-archive", "wayback", "gdelt"]  # live, then the publisher's own
    yesterday = (datetime(2026, 11, 30, tzinfo=UTC), NOW)
    assert {p.kind: [s.id for s in p.sources] for p in backfill_parts(sources, yesterday, NOW, 2)} == {
        "rss": ["ministry"], "sitemap": ["wire"], "gdelt": ["gdelt-diplomacy"]}
    five_days = (datetime(2026, 11, 26, tzinfo=UTC), NOW)  # past the ministry's 2 days, within the wire's 7
    parts = {p.kind: [s.id for s in p.sources] for p in backfill_parts(sources, five_days, NOW, 2)}
    assert parts["rss"] == ["ministry"] and parts["sitemap"] == ["wire"] and parts["wayback"] == ["ministry"]
    assert "sitemap-archive" in parts and parts["ccnews"] == ["ministry"]


def test_dated_archive_sitemaps_are_read_by_the_period_their_url_names() -> None:
    assert period_from_url("https://m.example/sitemap.xml?yyyy=2016&mm=09") == (
        datetime(2016, 9, 1, tzinfo=UTC), datetime(2016, 10, 1, tzinfo=UTC))
    assert period_from_url("https://m.example/sitemaps/2016/09/press.xml")[0] == datetime(2016, 9, 1, tzinfo=UTC)  # type: ignore[index]
    assert period_from_url("https://m.example/archive?year=2016&month=9&day=14") == (
        datetime(2016, 9, 14, tzinfo=UTC), datetime(2016, 9, 15, tzinfo=UTC))
    assert period_from_url("https://m.example/sitemap.xml?page=2") is None


def test_the_dags_fetch_step_uses_a_sources_archives_for_an_old_window(
    fetch_settings: Settings, tmp_path: Path
) -> None:
    site = Publisher("127.0.0.2")
    with Wayback() as wayback, site:
        site.pages["/rss.xml"] = Page(rss([("Today", site.url("/today.html"), datetime.now(UTC))]),
                                      content_type="application/rss+xml")
        url = site.url("/press/2016/09/14/talks.html")
        wayback.add(Capture("20160914101500", url, article_html("Talks", "2016-09-14T09:00:00Z",
                                                                diplomacy_text("trade", "Seoul"))))
        path = _sources(tmp_path, f"""sources:
  - id: ministry
    name: Ministry
    kind: rss
    url: {site.url('/rss.xml')}
    archives:
      - kind: wayback
        url: {site.url('/press/')}
        archive: {wayback.base_url}
""")
        settings = type(fetch_settings)(**{**fetch_settings.__dict__, "sources": path})
        window = (datetime(2016, 9, 14, tzinfo=UTC), datetime(2016, 9, 15, tzinfo=UTC))
        result = fetch_batch(settings, ["ministry"], window, "backfill__2016-09-14", "nightly_ingest", 0,
                             "2016-09-14")
        assert site.paths("/rss.xml") == []  # a 2016 day is past the feed's reach
    assert result["sources"]["ministry"].get("ok", 0) >= 2  # the CDX query and the capture
    assert [Path(w).parent.name for w in result["warcs"]] == ["ministry.wayback"]
    ledger = CaptureLedger(settings.ledger_db, 60)
    assert ledger.counts().get("pending") == 1  # recorded for process_captures, like any batch
    assert json.loads(Path(result["report"]).read_text())["failures"] == {}
