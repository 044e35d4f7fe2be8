"""GDELT 2.0 against a loopback data.gdeltproject.org: the master file list by range, zipped 61-column exports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from archive_servers import (
    Gdelt,
    Page,
    Publisher,
    article_html,
    diplomacy_text,
    export_row,
    gkg_row,
    mentions_row,
)

from pipeline.config import Settings
from pipeline.discover.gdelt import parse_list_line
from pipeline.fetch import run_fetch
from pipeline.sources import Source, SourceKind, SourcesError, load_sources

WINDOW = (datetime(2016, 9, 12, tzinfo=UTC), datetime(2016, 9, 19, tzinfo=UTC))


def _article(title: str, published: str) -> Page:
    return Page(article_html(title, published, diplomacy_text("fishing rights", "Moscow")))


def test_a_master_list_line_is_size_md5_url() -> None:
    line = "150383 297a16b493de7cf6ca809a7cc31d0b93 http://data.gdeltproject.org/gdeltv2/20150218230000.export.CSV.zip"
    item = parse_list_line(line)
    assert item is not None and item.size == 150383 and item.table == "export"
    assert item.slot == datetime(2015, 2, 18, 23, 0, tzinfo=UTC)
    assert parse_list_line("150383 nothex http://x/20150218230000.export.CSV.zip") is None
    assert parse_list_line("<html>") is None


def test_gdelt_files_in_the_window_become_candidates_on_the_publishers(
    fetch_settings: Settings, tmp_path: Path
) -> None:
    gdelt, wire, other = Gdelt(), Publisher("127.0.0.3"), Publisher("127.0.0.4")
    with gdelt, wire, other:
        gdelt.padding("20160801000000", 31 * 96)  # a month of earlier slots: the list needs its binary search
        story, older = wire.url("/world/2016/09/14/islands.html"), wire.url("/world/2016/08/01/recap.html")
        elsewhere, unrelated = other.url("/news/jp-ru-talks"), other.url("/news/us-fr-trade")
        only_mentioned, in_gkg = wire.url("/world/2016/09/14/analysis.html"), wire.url("/world/gkg-only.html")
        wire.pages = {"/world/2016/09/14/islands.html": _article("Islands talks", "2016-09-14T09:00:00Z"),
                      "/world/2016/08/01/recap.html": _article("A recap", "2016-08-01T09:00:00Z"),
                      "/world/2016/09/14/analysis.html": _article("Analysis", "2016-09-14T11:00:00Z"),
                      "/world/gkg-only.html": _article("From the GKG", "2016-09-14T12:00:00Z")}
        other.pages = {"/news/jp-ru-talks": _article("Japan, Russia consult", "2016-09-14T10:00:00Z"),
                       "/news/us-fr-trade": _article("Trade", "2016-09-14T10:00:00Z")}
        slot = "20160914101500"
        gdelt.add_file(slot, "export", [
            export_row(1, story, slot),
            export_row(2, story, slot, event_code="043"),  # another event of the same article: one candidate
            export_row(3, elsewhere, slot, event_code="040"),  # Japan and Russia consult: coded, any domain
            export_row(4, unrelated, slot, actor1=("USAGOV", "USA"), actor2=("FRAGOV", "FRA")),
            export_row(5, older, slot),  # GDELT saw it now; the page says August: outside the window
        ])
        gdelt.add_file(slot, "mentions", [mentions_row(1, only_mentioned, slot, "127.0.0.3"),
                                          mentions_row(1, other.url("/tv"), slot, "tv", mention_type="2")])
        gdelt.add_file(slot, "gkg", [gkg_row(f"{slot}-0", in_gkg, slot, "127.0.0.3")])
        gdelt.add_file("20160915000000", "export", [export_row(9, wire.url("/x1"), "20160915000000")], damage="md5")
        gdelt.add_file("20160915001500", "export", [export_row(9, wire.url("/x2"), "20160915001500")],
                       damage="truncated")
        short = export_row(10, wire.url("/x3"), "20160915003000")[:-1]  # 60 columns
        gdelt.add_file("20160915003000", "export", [short, export_row(11, wire.url("/x4"), "20160915003000")])
        gdelt.extra_lines.append(("20160915004500", "<html><body>oops</body></html>"))
        gdelt.add_file("20160925000000", "export", [export_row(12, wire.url("/late"), "20160925000000")])
        gdelt.publish_list()
        sources = [
            Source(id="wire", name="Wire", kind=SourceKind.GDELT, archive=gdelt.archive, hosts=("127.0.0.3",),
                   tables=("export", "mentions", "gkg"), archive_entry=True),
            Source(id="gdelt-jp-ru", name="JP-RU consultations", kind=SourceKind.GDELT, archive=gdelt.archive,
                   countries=("JPN", "RUS"), events=("04",), tables=("export",)),
        ]
        run = run_fetch(fetch_settings, sources, WINDOW, "gdelt-1", tmp_path)
        listed = len(gdelt.files["/gdeltv2/masterfilelist.txt"])
        list_reads = [h for m, p, h in gdelt.requests if p.endswith("masterfilelist.txt") and m == "GET"]
    articles = {r.url: r for r in run.report.records if r.kind == "article"}
    assert articles[story].outcome == "ok" and articles[story].source == "wire"
    assert articles[only_mentioned].outcome == "ok" and articles[in_gkg].outcome == "ok"
    assert articles[elsewhere].outcome == "ok" and articles[elsewhere].source == "gdelt-jp-ru"
    assert articles[older].outcome == "outside_window"
    assert unrelated not in articles and other.url("/tv") not in articles
    assert wire.url("/x4") in articles and wire.url("/late") not in articles
    assert run.report.duplicates == {}  # GDELT's repeated rows were folded before fetching
    damage = {r.url: (r.outcome, r.reason) for r in run.report.records if r.outcome in ("bad_record", "parse_error")}
    assert damage[f"{gdelt.archive}20160915000000.export.CSV.zip"][0] == "bad_record"
    assert "md5" in damage[f"{gdelt.archive}20160915000000.export.CSV.zip"][1]
    assert "zip" in damage[f"{gdelt.archive}20160915001500.export.CSV.zip"][1]
    assert damage[f"{gdelt.archive}20160915003000.export.CSV.zip#rows"][0] == "parse_error"
    assert any("size md5 url" in reason for _, reason in damage.values())
    # The list was searched by range, not downloaded: a few blocks of a ~1 MB file.
    assert all("range" in h for h in list_reads) and listed > 500_000
    assert sum(1 for _ in list_reads) < 30


def test_gdelt_sources_are_validated_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    cases = {
        "    countries: [JP, NO]\n": "quote it",
        "    countries: [JP, XX]\n": "'XX' is no ISO 3166",
        "    actors: [JP]\n": "no CAMEO actor code",
        "    tables: [events]\n": "'tables' takes export, mentions, gkg",
        "    url: http://example.org/\n": "takes 'archive'",
    }
    for line, message in cases.items():
        path.write_text("sources:\n  - id: g\n    name: G\n    kind: gdelt\n" + line)
        with pytest.raises(SourcesError, match=message) as caught:
            load_sources(path)
        assert str(caught.value).startswith(f"{path}:5:")
    path.write_text("sources:\n  - id: g\n    name: G\n    kind: gdelt\n")
    with pytest.raises(SourcesError, match="needs 'hosts'"):
        load_sources(path)
    path.write_text("sources:\n  - id: g\n    name: G\n    kind: gdelt\n    countries: [JP, RO, 'NO']\n")
    (source,) = load_sources(path)
    assert source.countries == ("JPN", "ROM", "NOR") and source.tables == ("export",)
    assert source.archive == "http://data.gdeltproject.org/gdeltv2/"
