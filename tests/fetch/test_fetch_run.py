"""run_fetch end to end: conditional GET, canonical URLs, the seen-store, the WARC round trip, the CLI."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest
from fetch_newsroom import Hit, Newsroom, Reply, article, rss

from pipeline.config import Settings
from pipeline.fetch import FetchRun, run_fetch
from pipeline.fetch.seen import capture_key
from pipeline.models import RawPage
from pipeline.outcomes import Outcome, StageResult
from pipeline.sources import Source, SourceKind
from pipeline.warc import iter_responses

DATE = "Mon, 15 Jan 2024 10:00:00 GMT"


def processed(settings: Settings, run: FetchRun) -> None:
    """What the drain step does once a capture is indexed: every record it read is confirmed as seen."""
    from pipeline.orchestrate.steps import confirm_seen

    path = run.warc_paths[0]
    offsets = [p.provenance.warc_offset for p in iter_responses(path) if isinstance(p, RawPage)]
    confirm_seen(settings, capture_key(path), [o for o in offsets if o is not None])


def _feed_source(url: str) -> Source:
    return Source(id="desk", name="Diplomatic desk", kind=SourceKind.RSS, urls=(url,), language="en")


def _etag_feed(newsroom: Newsroom, body: bytes, etag: str = '"feed-v1"') -> str:
    def reply(hit: Hit) -> Reply:
        if hit.headers.get("if-none-match") == etag:
            return Reply(304, content_type=None, headers={"ETag": etag})
        return Reply(body=body, content_type="application/rss+xml", headers={"ETag": etag})

    return newsroom.route("/feed.xml", reply)


def test_etag_answered_with_304_means_nothing_is_refetched(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    a = newsroom.page("/news/geneva", article("Talks in Geneva", "Delegations met for a second round."))
    feed = _etag_feed(newsroom, rss([("Talks in Geneva", a, DATE)]))
    first = run_fetch(fetch_settings, [_feed_source(feed)], None, "run-1", tmp_path, show_progress=False)
    processed(fetch_settings, first)
    second = run_fetch(fetch_settings, [_feed_source(feed)], None, "run-2", tmp_path, show_progress=False)
    assert first.report.changes() == {"new": 1}
    assert [r.outcome for r in second.report.records] == [Outcome.NOT_MODIFIED.value]
    assert len(newsroom.hits_for("/news/geneva")) == 1
    assert newsroom.hits_for("/feed.xml")[1].headers["if-none-match"] == '"feed-v1"'


def test_a_windowed_run_reads_the_feed_unconditionally(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    """A backfill day must see its entries even after another day's run saved the feed's ETag."""
    from datetime import datetime

    a = newsroom.page("/news/geneva", article("Talks in Geneva", "Delegations met for a second round."))
    feed = _etag_feed(newsroom, rss([("Talks in Geneva", a, DATE)]))
    run_fetch(fetch_settings, [_feed_source(feed)], None, "nightly", tmp_path, show_progress=False)
    day = (datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 1, 16, tzinfo=UTC))
    backfill = run_fetch(fetch_settings, [_feed_source(feed)], day, "backfill", tmp_path, show_progress=False)
    assert "if-none-match" not in newsroom.hits_for("/feed.xml")[1].headers
    assert Outcome.NOT_MODIFIED.value not in [r.outcome for r in backfill.report.records]


def test_tracking_parameters_reach_one_fetch(newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path) -> None:
    a = newsroom.page("/news/accord", article("Accord signed", "The two states signed a maritime accord."))
    listed = [
        a + "?utm_source=rss&utm_medium=feed",
        a + "?fbclid=abc123",
        a + "#comments",
        a.upper().replace("/NEWS/ACCORD", "/news/accord"),
    ]
    source = Source(id="wire", name="Wire", kind=SourceKind.URLS, urls=tuple(listed))
    run = run_fetch(fetch_settings, [source], None, "canon", tmp_path, show_progress=False)
    assert len(newsroom.hits_for("/news/accord")) == 1
    assert run.report.duplicates["wire"] == 3
    assert len([p for p in iter_responses(run.warc_paths[0]) if isinstance(p, RawPage)]) == 1


def test_rel_canonical_makes_two_urls_one_article(newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path) -> None:
    canonical = newsroom.url("/2024/01/15/envoy-named")
    html = article("Envoy named", "A new special envoy for the region was named.", canonical=canonical)
    first = newsroom.page("/2024/01/15/envoy-named", html)
    amp = newsroom.page("/amp/envoy-named", html)
    source = Source(id="desk", name="Desk", kind=SourceKind.URLS, urls=(first, amp))
    run = run_fetch(fetch_settings, [source], None, "relcanon", tmp_path, show_progress=False)
    # Whichever copy completes first is the new article; the other is the same article again.
    assert sorted((r.outcome, r.change) for r in run.report.records) == [("ok", "new"), ("unchanged", "unchanged")]
    assert {r.canonical_url for r in run.report.records} == {canonical}
    processed(fetch_settings, run)
    # Next run: the AMP URL is known as an alias of the canonical one, so it is not even requested.
    again = run_fetch(fetch_settings, [source], None, "relcanon-2", tmp_path, show_progress=False)
    assert {r.outcome for r in again.report.records} == {Outcome.UNCHANGED.value}
    assert len(newsroom.hits_for("/amp/envoy-named")) == 1


def test_seen_store_new_changed_unchanged_and_refetch(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    versions = iter(
        [
            article("Sanctions", "First version."),
            article("Sanctions", "First version."),
            article("Sanctions", "Updated: the council adopted the text."),
        ]
    )
    url = newsroom.route("/news/sanctions", lambda hit: Reply(body=next(versions).encode()))
    source = Source(id="desk", name="Desk", kind=SourceKind.URLS, urls=(url,))
    one = run_fetch(fetch_settings, [source], None, "s1", tmp_path, show_progress=False)
    processed(fetch_settings, one)
    skipped = run_fetch(fetch_settings, [source], None, "s2", tmp_path, show_progress=False)
    same = run_fetch(fetch_settings, [source], None, "s3", tmp_path, refetch=True, show_progress=False)
    changed = run_fetch(fetch_settings, [source], None, "s4", tmp_path, refetch=True, show_progress=False)
    assert [r.change for r in one.report.records] == ["new"]
    assert [(r.outcome, r.change) for r in skipped.report.records] == [("unchanged", "unchanged")]
    assert [(r.outcome, r.change) for r in same.report.records] == [("ok", "unchanged")]
    assert [(r.outcome, r.change) for r in changed.report.records] == [("ok", "changed")]
    assert len(newsroom.hits_for("/news/sanctions")) == 3  # s2 made no request
    assert [p.url for p in iter_responses(changed.warc_paths[0]) if isinstance(p, RawPage)] == [url]
    assert [p for p in iter_responses(same.warc_paths[0]) if isinstance(p, RawPage)] == []


def test_a_retried_run_rewrites_its_own_batch(newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path) -> None:
    url = newsroom.page("/news/retry", article("Ceasefire holds", "Observers reported calm."))
    source = Source(id="desk", name="Desk", kind=SourceKind.URLS, urls=(url,))
    first = run_fetch(fetch_settings, [source], None, "same-run", tmp_path, show_progress=False)
    retry = run_fetch(fetch_settings, [source], None, "same-run", tmp_path, show_progress=False)
    assert [r.change for r in retry.report.records] == [r.change for r in first.report.records] == ["new"]
    assert len([p for p in iter_responses(retry.warc_paths[0]) if isinstance(p, RawPage)]) == 1


def test_warc_round_trip_gives_the_bytes_of_a_direct_fetch(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    pages = {
        "/press/1": article(
            "Foreign minister visits Jakarta",
            "The ministers discussed ASEAN centrality, maritime law and fisheries. " * 12,
        ),
        "/press/2": article(
            "Statement on the Security Council vote",
            "The delegation regretted the veto and called for renewed negotiations. " * 12,
        ),
    }
    urls = [newsroom.page(path, html) for path, html in pages.items()]
    source = Source(id="mfa", name="Ministry", kind=SourceKind.URLS, urls=tuple(urls))
    run = run_fetch(fetch_settings, [source], None, "roundtrip", tmp_path, show_progress=False)
    replayed = {p.url: p for p in iter_responses(run.warc_paths[0]) if isinstance(p, RawPage)}
    assert set(replayed) == set(urls)
    for path, html in pages.items():
        page = replayed[newsroom.url(path)]
        assert page.content == html.encode() and page.status == 200
        assert page.content_type == "text/html; charset=utf-8"
        assert page.source is not None and page.source.id == "mfa"
        assert page.provenance.run_id == "roundtrip" and page.provenance.warc_offset is not None
    # Extraction of the replayed capture equals extraction of the same page fetched directly.
    extract = pytest.importorskip("pipeline.extract")
    if not hasattr(extract, "extract_page"):
        pytest.skip("pipeline.extract.extract_page not available yet")
    for url in urls:
        direct = RawPage(
            url=url,
            content=pages[url.removeprefix(newsroom.base)].encode(),
            content_type="text/html; charset=utf-8",
            source=replayed[url].source,
        )
        from_warc = extract.extract_page(replayed[url], fetch_settings)
        from_direct = extract.extract_page(direct, fetch_settings)
        assert from_warc.outcome == from_direct.outcome
        if from_warc.article is not None and from_direct.article is not None:
            assert (from_warc.article.title, from_warc.article.body) == (
                from_direct.article.title,
                from_direct.article.body,
            )


def test_truncated_warc_yields_bad_record_not_an_exception(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    url = newsroom.page("/press/long", article("Long communique", "Paragraph. " * 2000))
    source = Source(id="mfa", name="Ministry", kind=SourceKind.URLS, urls=(url,))
    run = run_fetch(fetch_settings, [source], None, "trunc", tmp_path, show_progress=False)
    data = run.warc_paths[0].read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) // 2])
    items = list(iter_responses(cut))
    assert items and isinstance(items[-1], StageResult) and items[-1].outcome is Outcome.BAD_RECORD


def test_chancery_fetch_writes_warc_and_report(newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path) -> None:
    import argparse

    from pipeline.cli import fetch_cmd
    from pipeline.config import load_settings

    a = newsroom.page("/news/a", article("Ambassador summoned", "The ministry summoned the ambassador."))
    old = newsroom.page("/news/old", article("Old news", "From last year."))
    feed = newsroom.route(
        "/feed.xml",
        Reply(
            body=rss([("A", a, DATE), ("Old", old, "Mon, 16 Jan 2023 10:00:00 GMT")]),
            content_type="application/rss+xml",
        ),
    )
    sources_file = tmp_path / "sources.yaml"
    sources_file.write_text(
        f"sources:\n  - id: desk\n    name: Desk\n    kind: rss\n    url: {feed}\n    language: en\n"
    )
    report_path = tmp_path / "report.json"
    settings = load_settings(
        environ={"CHANCERY_ALLOW_NETWORKS": "127.0.0.0/8", "CHANCERY_FETCH_PER_HOST_DELAY": "0"},
        overrides={"home": str(fetch_settings.home)},
    )
    parser = argparse.ArgumentParser()
    fetch_cmd.register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "fetch",
            "--sources",
            str(sources_file),
            "--since",
            "2024-01-01",
            "--until",
            "2024-02-01",
            "--report",
            str(report_path),
            "--out",
            str(tmp_path / "warc"),
            "--run-id",
            "cli-run",
            "--no-progress",
        ]
    )
    code = args.run(args, settings)
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["by_source"] == {"desk": {"ok": 2}}
    assert {u["url"] for u in report["urls"]} == {feed, a}  # the 2023 entry is outside the window
    assert set(report["urls"][0]) >= {"url", "source", "outcome", "status", "bytes", "redirects", "seconds"}
    assert (tmp_path / "warc" / "cli-run.warc.gz").is_file()


def test_warc_records_are_valid_for_warcio(newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path) -> None:
    import gzip

    from warcio.archiveiterator import ArchiveIterator

    html = article("Talks on the Black Sea grain corridor", "Negotiators met in Istanbul.").encode()
    url = newsroom.route("/press/gz", Reply(body=gzip.compress(html), headers={"Content-Encoding": "gzip"}))
    source = Source(id="mfa", name="Ministry", kind=SourceKind.URLS, urls=(url,))
    run = run_fetch(fetch_settings, [source], None, "digests", tmp_path, show_progress=False)
    kinds = []
    with run.warc_paths[0].open("rb") as handle:
        for record in ArchiveIterator(handle, check_digests="raise"):
            kinds.append(record.rec_type)
            body = record.content_stream().read()
            if record.rec_type == "response":
                assert body == html  # stored Content-Encoded, replayed decoded
                assert record.rec_headers.get_header("WARC-Chancery-Canonical-URL") == url
    assert kinds == ["warcinfo", "response", "request"]
