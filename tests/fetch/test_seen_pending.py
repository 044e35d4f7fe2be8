"""Nothing a run fetches counts as seen, and no feed validator is stored, until its capture is processed.

A page is staged pending against the capture (WARC) that holds it; the drain step confirms
exactly the records it read. Until then a later run fetches the page again and writes it into
its own capture, and a feed is read without the validators this run saw.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from fetch_newsroom import Hit, Newsroom, Reply, article, rss
from test_fetch_run import processed

from pipeline.config import Settings
from pipeline.fetch import run_fetch
from pipeline.fetch.seen import SeenStore, capture_key, page_hash, seen_store_path
from pipeline.models import RawPage
from pipeline.orchestrate.steps import confirm_seen
from pipeline.sources import Source, SourceKind
from pipeline.warc import iter_responses

DATE = "Mon, 15 Jan 2024 10:00:00 GMT"


def _etag_feed(newsroom: Newsroom, items: list[tuple[str, str, str]]) -> str:
    etag = '"feed-v1"'

    def reply(hit: Hit) -> Reply:
        if hit.headers.get("if-none-match") == etag:
            return Reply(304, content_type=None, headers={"ETag": etag})
        return Reply(body=rss(items), content_type="application/rss+xml", headers={"ETag": etag})

    return newsroom.route("/feed.xml", reply)


def _desk(feed: str) -> Source:
    return Source(id="desk", name="Desk", kind=SourceKind.RSS, urls=(feed,), language="en")


def _pages(run_path: Path) -> list[str]:
    return [p.url for p in iter_responses(run_path) if isinstance(p, RawPage)]


def _newsroom_desk(newsroom: Newsroom, count: int) -> tuple[str, list[str]]:
    urls = [
        newsroom.page(f"/news/{i}", article(f"Envoys meet, round {i}", f"Round {i} of talks on the border accord."))
        for i in range(count)
    ]
    return _etag_feed(newsroom, [(f"Round {i}", u, DATE) for i, u in enumerate(urls)]), urls


def test_an_unprocessed_capture_hides_nothing_from_the_next_run(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    feed, urls = _newsroom_desk(newsroom, 3)
    first = run_fetch(fetch_settings, [_desk(feed)], None, "crashed", tmp_path, show_progress=False)
    assert sorted(_pages(first.warc_paths[0])) == sorted(urls)
    # Its capture was never indexed (the process died, the engine went away): the next run asks
    # for the feed unconditionally and captures every page again, as new.
    again = run_fetch(fetch_settings, [_desk(feed)], None, "rerun", tmp_path, show_progress=False)
    assert "if-none-match" not in newsroom.hits_for("/feed.xml")[1].headers
    assert again.report.changes() == {"new": 3}
    assert sorted(_pages(again.warc_paths[0])) == sorted(urls)
    # Once that capture is processed, the next run gets a 304 and fetches nothing.
    processed(fetch_settings, again)
    third = run_fetch(fetch_settings, [_desk(feed)], None, "third", tmp_path, show_progress=False)
    assert [r.outcome for r in third.report.records] == ["not_modified"]
    assert all(len(newsroom.hits_for(f"/news/{i}")) == 2 for i in range(3))


def test_only_the_records_read_are_confirmed_and_a_cut_capture_keeps_its_feed_unconditional(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    feed, urls = _newsroom_desk(newsroom, 4)
    first = run_fetch(fetch_settings, [_desk(feed)], None, "cut", tmp_path, show_progress=False)
    path = first.warc_paths[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # the writer died: the last records never reached the file
    read = [p for p in iter_responses(path) if isinstance(p, RawPage)]
    assert 0 < len(read) < 4
    offsets = [p.provenance.warc_offset for p in read if p.provenance.warc_offset is not None]
    confirmed = confirm_seen(fetch_settings, capture_key(path), offsets)
    assert (confirmed.pages, confirmed.unread, confirmed.validators) == (len(read), 4 - len(read), 0)

    again = run_fetch(fetch_settings, [_desk(feed)], None, "after-cut", tmp_path, show_progress=False)
    assert "if-none-match" not in newsroom.hits_for("/feed.xml")[1].headers  # the validators were not stored
    by_url = {r.url: (r.outcome, r.reason) for r in again.report.records if r.kind == "article"}
    assert {u for u, (outcome, _) in by_url.items() if outcome == "unchanged"} == {p.url for p in read}
    assert sorted(_pages(again.warc_paths[0])) == sorted(set(urls) - {p.url for p in read})


def test_a_source_with_an_article_worth_retrying_keeps_its_feed_unconditional(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    good = newsroom.page("/news/good", article("Summit opens", "Leaders arrived for the summit."))
    tries = 1 + fetch_settings.fetch.max_retries  # every try of the first run meets a 503
    late = Reply(body=article("Late", "Delegates arrived a day late.").encode())
    answers = itertools.chain([Reply(503, b"busy")] * tries, itertools.repeat(late))
    flaky = newsroom.route("/news/flaky", lambda hit: next(answers))
    feed = _etag_feed(newsroom, [("Good", good, DATE), ("Flaky", flaky, DATE)])
    first = run_fetch(fetch_settings, [_desk(feed)], None, "flaky-1", tmp_path, show_progress=False)
    assert {r.url: r.outcome for r in first.report.records if r.kind == "article"} == {
        good: "ok", flaky: "http_5xx"}
    processed(fetch_settings, first)  # everything the capture holds was indexed
    again = run_fetch(fetch_settings, [_desk(feed)], None, "flaky-2", tmp_path, show_progress=False)
    assert "if-none-match" not in newsroom.hits_for("/feed.xml")[1].headers
    assert {r.url: r.outcome for r in again.report.records if r.kind == "article"} == {
        good: "unchanged", flaky: "ok"}


def test_a_pending_copy_is_not_what_changes_are_measured_against(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    """The lost-article bug: a page fetched but not indexed must be written again, not called unchanged."""
    url = newsroom.page("/news/accord", article("Accord signed", "The two states signed the accord."))
    source = Source(id="wire", name="Wire", kind=SourceKind.URLS, urls=(url,))
    first = run_fetch(fetch_settings, [source], None, "p1", tmp_path, show_progress=False)
    refetched = run_fetch(fetch_settings, [source], None, "p2", tmp_path, refetch=True, show_progress=False)
    assert [r.change for r in first.report.records] == [r.change for r in refetched.report.records] == ["new"]
    assert _pages(refetched.warc_paths[0]) == [url]


def test_captures_confirmed_out_of_order_keep_the_newest_copy(fetch_settings: Settings, tmp_path: Path) -> None:
    url = "https://example.org/news/1"
    older, newer = capture_key(tmp_path / "older.warc.gz"), capture_key(tmp_path / "newer.warc.gz")
    with SeenStore(seen_store_path(fetch_settings.home)) as seen:
        seen.stage(older, 10, url, [], page_hash(b"<p>first version</p>"), "r1", "desk")
        seen.stage(newer, 10, url, [], page_hash(b"<p>second version</p>"), "r2", "desk")
        assert seen.lookup(url) is None  # pending copies are not seen yet
        assert seen.confirm(newer, [10]).pages == 1
        assert seen.confirm(older, [10]).pages == 1  # processed late: must not bring the old text back
        stored = seen.lookup(url)
        assert stored is not None and stored.content_hash == page_hash(b"<p>second version</p>")
        assert seen.pending_count(older) == seen.pending_count(newer) == 0
