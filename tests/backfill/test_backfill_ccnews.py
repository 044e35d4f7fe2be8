"""CC-NEWS against a loopback data.commoncrawl.org: monthly warc.paths.gz, WARCs streamed by range."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from archive_servers import CcNews, article_html, diplomacy_text, warc_file

from pipeline.config import Settings
from pipeline.discover.ccnews import file_time, files_in_window, months
from pipeline.fetch import run_fetch
from pipeline.models import RawPage
from pipeline.sources import Source, SourceKind
from pipeline.warc import iter_responses

WINDOW = (datetime(2016, 9, 12, tzinfo=UTC), datetime(2016, 9, 19, tzinfo=UTC))
WIRE, OTHER = "http://wire.example", "http://elsewhere.example"


def _html(title: str, published: str) -> bytes:
    return article_html(title, published, diplomacy_text("a ceasefire", "Geneva"))


def test_files_are_chosen_by_the_span_their_names_give() -> None:
    names = ["crawl-data/CC-NEWS/2016/08/CC-NEWS-20160831000000-00000.warc.gz",
             "crawl-data/CC-NEWS/2016/09/CC-NEWS-20160913000000-00000.warc.gz",
             "crawl-data/CC-NEWS/2016/09/CC-NEWS-20160925000000-00000.warc.gz",
             "crawl-data/CC-NEWS/2016/08/CC-NEWS-20160820000000-00000.warc.gz"]
    dated = [(t, n) for n in names if (t := file_time(n)) is not None]
    assert files_in_window(dated, WINDOW) == names[:2]  # the Aug 31 file runs until Sep 13
    assert [m.month for m in months(WINDOW)] == [8, 9]
    assert months((datetime(2016, 1, 1, tzinfo=UTC), datetime(2016, 8, 10, tzinfo=UTC)))[0].month == 8  # no earlier


def test_cc_news_records_of_the_sources_hosts_in_the_window(fetch_settings: Settings, tmp_path: Path) -> None:
    late_aug = warc_file(tmp_path, "a.warc.gz", [
        (f"{WIRE}/2016/08/31/old.html", datetime(2016, 8, 31, 6, tzinfo=UTC), _html("Old", "2016-08-31T05:00:00Z")),
        (f"{WIRE}/2016/09/12/truce.html", datetime(2016, 9, 12, 3, tzinfo=UTC), _html("Truce", "2016-09-12T01:00:00Z")),
    ])
    september = bytearray(warc_file(tmp_path, "b.warc.gz", [
        (f"{WIRE}/2016/09/14/talks.html", datetime(2016, 9, 14, 8, tzinfo=UTC), _html("Talks", "2016-09-14T07:00:00Z")),
        (f"{OTHER}/2016/09/14/talks.html", datetime(2016, 9, 14, 8, tzinfo=UTC), _html("Else", "2016-09-14T07:00:00Z")),
        (f"{WIRE}/2016/09/14/back.html", datetime(2016, 9, 14, 9, tzinfo=UTC), _html("Back", "2016-08-20T07:00:00Z")),
        (f"{WIRE}/2016/09/15/vote.html", datetime(2016, 9, 15, 9, tzinfo=UTC), _html("Vote", "2016-09-15T07:00:00Z")),
    ]))
    cut = warc_file(tmp_path, "c.warc.gz", [
        (f"{WIRE}/2016/09/16/one.html", datetime(2016, 9, 16, 9, tzinfo=UTC), _html("One", "2016-09-16T07:00:00Z")),
        (f"{WIRE}/2016/09/16/two.html", datetime(2016, 9, 16, 10, tzinfo=UTC), _html("Two", "2016-09-16T08:00:00Z")),
    ])
    with CcNews() as cc:
        cc.add_month(2016, 8, {"CC-NEWS-20160831000000-00000.warc.gz": late_aug})
        cc.add_month(2016, 9, {"CC-NEWS-20160913000000-00000.warc.gz": bytes(september),
                               "CC-NEWS-20160916000000-00000.warc.gz": cut,
                               "CC-NEWS-20160925000000-00000.warc.gz": b"never read"})
        one = (f"{WIRE}/2016/09/16/one.html", datetime(2016, 9, 16, 9, tzinfo=UTC),
               _html("One", "2016-09-16T07:00:00Z"))
        whole_first = len(warc_file(tmp_path, "d.warc.gz", [one]))
        # The transfer stops inside the second response: the server states the whole length.
        cc.cut["/crawl-data/CC-NEWS/2016/09/CC-NEWS-20160916000000-00000.warc.gz"] = whole_first + 100
        source = Source(id="wire", name="Wire", kind=SourceKind.CCNEWS, archive=cc.base_url + "/",
                        hosts=("wire.example",), archive_entry=True, language="en")
        run = run_fetch(fetch_settings, [source], WINDOW, "cc-1", tmp_path / "out")
        read = {p for m, p, _ in cc.requests if m == "GET"}
    pages = {p.url: p for p in iter_responses(run.warc_paths[0]) if isinstance(p, RawPage)}
    assert set(pages) == {f"{WIRE}/2016/09/12/truce.html", f"{WIRE}/2016/09/14/talks.html",
                          f"{WIRE}/2016/09/15/vote.html", f"{WIRE}/2016/09/16/one.html"}
    page = pages[f"{WIRE}/2016/09/14/talks.html"]
    file = "CC-NEWS-20160913000000-00000.warc.gz"
    assert page.provenance.archive_url == f"{cc.base_url}/crawl-data/CC-NEWS/2016/09/{file}"
    assert page.provenance.archived_at == datetime(2016, 9, 14, 8, tzinfo=UTC)
    outcomes = {r.url: r.outcome for r in run.report.records}
    assert outcomes[f"{WIRE}/2016/09/14/back.html"] == "outside_window"  # crawled in the window, dated August
    damaged = [r for r in run.report.records if r.outcome == "bad_record"]
    assert {r.url.split("/")[-1] for r in damaged} == {  # the cut transfer: a truncated record, a short file
        "CC-NEWS-20160916000000-00000.warc.gz", "CC-NEWS-20160916000000-00000.warc.gz#length"}
    assert any("truncated" in r.reason for r in damaged) and any("fewer were read" in r.reason for r in damaged)
    assert not any("20160925000000" in p for p in read)
    assert not any("/2016/07/" in p or "/2016/10/" in p for p in read)
