"""The Wayback Machine kind against a loopback CDX server and raw-capture server (archive_servers.Wayback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from archive_servers import Capture, Publisher, Wayback, article_html, diplomacy_text

from pipeline.config import Settings
from pipeline.discover.wayback import CdxRejected, original_headers, parse_cdx
from pipeline.fetch import run_fetch
from pipeline.models import RawPage
from pipeline.outcomes import StageResult
from pipeline.sources import Source, SourceKind
from pipeline.warc import iter_responses

WINDOW = (datetime(2016, 9, 12, tzinfo=UTC), datetime(2016, 9, 19, tzinfo=UTC))


def _wayback_source(wayback: Wayback, prefix: str) -> Source:
    return Source(id="ministry", name="Ministry", kind=SourceKind.WAYBACK, urls=(prefix,), archive=wayback.base_url,
                  archive_entry=True, language="en")


def _page(title: str, published: str) -> bytes:
    return article_html(title, published, diplomacy_text("maritime boundaries", "Tokyo"))


def test_cdx_answer_is_read_by_its_header_row_and_resume_key() -> None:
    body = json.dumps([
        ["timestamp", "original", "mimetype", "statuscode", "digest"],
        ["20160914101500", "http://ministry.example/press/a.html", "text/html", "200", "AAA"],
        ["20160915101500", "http://ministry.example/press/b.html", "text/html", "200", "BBB"],
        [],
        ["example%2Cministry%29%2Fpress%2Fb.html+20160915101500%21"],
    ]).encode()
    page = parse_cdx(body)
    assert [r["original"] for r in page.rows if isinstance(r, dict)] == [
        "http://ministry.example/press/a.html", "http://ministry.example/press/b.html"]
    assert page.resume_key == "example%2Cministry%29%2Fpress%2Fb.html+20160915101500%21"
    assert parse_cdx(b"[]").rows == []
    for bad in (b"<!DOCTYPE html><html>Service Unavailable</html>", b'[["timestamp","orig', b'{"error": 1}'):
        try:
            parse_cdx(bad)
        except CdxRejected as exc:
            assert str(exc)
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_original_headers_come_back_from_x_archive_orig() -> None:
    headers = original_headers([
        ("Content-Type", "text/html; charset=utf-8"), ("Memento-Datetime", "Wed, 14 Sep 2016 10:15:00 GMT"),
        ("X-Archive-Orig-Server", "Apache"), ("X-Archive-Orig-Last-Modified", "Wed, 14 Sep 2016 09:00:00 GMT"),
        ("X-Archive-Orig-Content-Length", "5120"), ("Content-Encoding", "gzip"), ("Set-Cookie", "wb=1"),
    ])
    assert dict(headers) == {"Server": "Apache", "Last-Modified": "Wed, 14 Sep 2016 09:00:00 GMT",
                             "Content-Type": "text/html; charset=utf-8"}


def test_captures_are_fetched_raw_and_kept_under_their_original_url(fetch_settings: Settings, tmp_path: Path) -> None:
    site = Publisher("127.0.0.2")
    with Wayback(page_rows=2) as wayback, site:
        prefix = site.url("/press/")
        gone = site.url("/press/2016/09/14/talks.html")  # the publisher removed it: only the archive has it
        wayback.add(Capture("20160914101500", gone, _page("Talks on the islands resume", "2016-09-14T09:00:00Z")))
        # The same page captured twice: collapse=urlkey keeps its first capture in the range.
        wayback.add(Capture("20160916080000", gone, _page("Talks on the islands resume", "2016-09-14T09:00:00Z")))
        for day in (13, 15, 16):  # more rows than a CDX page holds: resume keys page through them
            wayback.add(Capture(f"201609{day}120000", site.url(f"/press/2016/09/{day}/note.html"),
                                _page(f"Note of September {day}", f"2016-09-{day}T08:00:00Z")))
        wayback.add(Capture("20160914120000", site.url("/press/logo.png"), b"\x89PNG", mimetype="image/png"))
        wayback.add(Capture("20160914120500", site.url("/press/moved.html"), b"", statuscode="301"))
        wayback.add(Capture("20150101000000", site.url("/press/2015/old.html"), _page("Old", "2015-01-01")))
        run = run_fetch(fetch_settings, [_wayback_source(wayback, prefix)], WINDOW, "wb-1", tmp_path)
        cdx = [parse_qs(urlsplit(p).query) for p in wayback.paths("/cdx/search/cdx")]
    assert len(cdx) == 2  # 4 URLs at 2 rows per answer: the first answer ends with a resume key, the last not
    assert cdx[0]["filter"] == ["statuscode:200", "mimetype:text/html"] and cdx[0]["collapse"] == ["urlkey"]
    assert cdx[0]["output"] == ["json"] and cdx[0]["matchType"] == ["prefix"] and cdx[0]["from"] == ["20160912000000"]
    assert "resumeKey" not in cdx[0] and "resumeKey" in cdx[1]
    pages = {p.url: p for p in iter_responses(run.warc_paths[0]) if isinstance(p, RawPage)}
    assert set(pages) == {gone} | {site.url(f"/press/2016/09/{d}/note.html") for d in (13, 15, 16)}
    page = pages[gone]
    assert page.provenance.archive_url == f"{wayback.base_url}/web/20160914101500id_/{gone}"
    assert page.provenance.archived_at == datetime(2016, 9, 14, 10, 15, tzinfo=UTC)
    assert page.fetched_at == datetime(2016, 9, 14, 10, 15, tzinfo=UTC)  # the capture's time
    assert page.headers.get("Server") == "Apache" and "Memento-Datetime" not in page.headers
    assert b"Talks on the islands resume" in page.content


def test_a_capture_redirecting_to_its_nearest_timestamp_is_followed_once(
    fetch_settings: Settings, tmp_path: Path
) -> None:
    site = Publisher("127.0.0.2")
    with Wayback() as wayback, site:
        url = site.url("/press/2016/09/14/visit.html")
        # The index says 10:00:00, the archive holds the bytes at 10:15:00: it redirects to the nearest.
        wayback.add(Capture("20160914101500", url, _page("State visit", "2016-09-14T09:00:00Z")))
        wayback.index_only.append(Capture("20160914100000", url, b"", ))
        run = run_fetch(fetch_settings, [_wayback_source(wayback, site.url("/press/"))], WINDOW, "wb-2", tmp_path)
    record = next(r for r in run.report.records if r.url == url)
    assert record.outcome == "ok"
    page = next(p for p in iter_responses(run.warc_paths[0]) if isinstance(p, RawPage))
    assert page.url == url
    assert page.provenance.fetch_url == f"{wayback.base_url}/web/20160914100000id_/{url}"  # asked for
    assert page.provenance.archive_url == f"{wayback.base_url}/web/20160914101500id_/{url}"  # read from
    assert record.redirects == [page.provenance.archive_url]


def test_the_archive_host_gets_retry_after_and_one_gate(fetch_settings: Settings, tmp_path: Path) -> None:
    site = Publisher("127.0.0.2")
    with Wayback() as wayback, site:
        url = site.url("/press/2016/09/14/talks.html")
        wayback.add(Capture("20160914101500", url, _page("Talks", "2016-09-14T09:00:00Z")))
        wayback.index_only.append(Capture("20160914100000", url, b""))  # the retry is redirected, once
        wayback.throttle_once.add(f"/web/20160914100000id_/{url}")
        run = run_fetch(fetch_settings, [_wayback_source(wayback, site.url("/press/"))], WINDOW, "wb-3", tmp_path)
        raw = [p for p in wayback.paths("/web/")]
    record = next(r for r in run.report.records if r.url == url)
    assert record.outcome == "ok" and record.attempts == 2  # 429 with Retry-After: 1, then 302 and the capture
    assert [p.split("id_")[0] for p in raw] == ["/web/20160914100000", "/web/20160914100000", "/web/20160914101500"]
    assert site.paths("/press/") == []  # nothing went to the publisher: the bytes are the archive's


def test_bad_cdx_answers_are_named_outcomes_and_the_rest_goes_on(fetch_settings: Settings, tmp_path: Path) -> None:
    site = Publisher("127.0.0.2")
    with Wayback() as wayback, site:
        good = site.url("/press/2016/09/14/talks.html")
        wayback.add(Capture("20160914101500", good, _page("Talks", "2016-09-14T09:00:00Z")))
        wayback.broken = {site.url("/html/"): "html", site.url("/field/"): "missing-field",
                          site.url("/cut/"): "truncated"}
        sources = [
            Source(id="html", name="h", kind=SourceKind.WAYBACK, urls=(site.url("/html/"),), archive=wayback.base_url),
            Source(id="field", name="f", kind=SourceKind.WAYBACK, urls=(site.url("/field/"),),
                   archive=wayback.base_url),
            Source(id="cut", name="c", kind=SourceKind.WAYBACK, urls=(site.url("/cut/"),), archive=wayback.base_url),
            _wayback_source(wayback, site.url("/press/")),
        ]
        run = run_fetch(fetch_settings, sources, WINDOW, "wb-4", tmp_path)
    by_source = run.report.counts_by_source()
    assert by_source["html"].get("parse_error") == 1
    assert by_source["cut"].get("parse_error") == 1
    assert by_source["field"].get("bad_record") == 1
    reasons = {r.source: r.reason for r in run.report.records if r.outcome in ("parse_error", "bad_record")}
    assert "HTML page instead of CDX JSON" in reasons["html"]
    assert "fields" in reasons["field"]
    fetched = [r for r in run.report.records if r.source == "ministry" and r.kind == "article"]
    assert [(r.url, r.outcome) for r in fetched] == [(good, "ok")]  # not held up by the broken ones
    assert not [x for x in iter_responses(run.warc_paths[0]) if isinstance(x, StageResult)]
