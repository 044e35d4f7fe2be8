"""robots.txt is obeyed and its Crawl-delay spaces requests to one host."""

from __future__ import annotations

import dataclasses
import threading
import time

from fetch_newsroom import Hit, Newsroom, Reply, article

from pipeline.config import Settings
from pipeline.fetch import run_fetch
from pipeline.outcomes import Outcome
from pipeline.sources import Politeness, Source, SourceKind


def _source(urls: list[str]) -> Source:
    return Source(id="mfa", name="Ministry", kind=SourceKind.URLS, urls=tuple(urls))


def test_robots_disallow_is_obeyed(newsroom: Newsroom, fetch_settings: Settings, tmp_path) -> None:
    newsroom.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /internal/\n", content_type="text/plain"))
    public = newsroom.page("/press/1", article("Statement on the summit", "The minister welcomed the outcome."))
    private = newsroom.page("/internal/memo", article("Memo", "Not for crawlers."))
    run = run_fetch(fetch_settings, [_source([public, private])], None, "robots", tmp_path, show_progress=False)
    outcomes = {r.url: r.outcome for r in run.report.records}
    assert outcomes == {public: "ok", private: Outcome.ROBOTS_DISALLOWED.value}
    assert newsroom.hits_for("/internal/memo") == []
    assert len(newsroom.hits_for("/robots.txt")) == 1  # cached per host


def test_robots_rules_for_our_agent_token(newsroom: Newsroom, fetch_settings: Settings, tmp_path) -> None:
    newsroom.route(
        "/robots.txt",
        Reply(body=b"User-agent: ChanceryBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n", content_type="text/plain"),
    )
    page = newsroom.page("/press/2", article("Joint statement", "Both sides agreed."))
    run = run_fetch(fetch_settings, [_source([page])], None, "token", tmp_path, show_progress=False)
    assert run.report.records[0].outcome == Outcome.ROBOTS_DISALLOWED.value


def test_crawl_delay_spaces_requests_to_one_host(newsroom: Newsroom, fetch_settings: Settings, tmp_path) -> None:
    newsroom.route("/robots.txt", Reply(body=b"User-agent: *\nCrawl-delay: 0.3\n", content_type="text/plain"))
    urls = [
        newsroom.page(f"/briefing/{i}", article(f"Briefing {i}", "The spokesperson answered questions."))
        for i in range(4)
    ]
    settings = dataclasses.replace(
        fetch_settings, fetch=dataclasses.replace(fetch_settings.fetch, per_host_concurrency=4)
    )
    run = run_fetch(settings, [_source(urls)], None, "delay", tmp_path, show_progress=False)
    assert run.report.counts_by_outcome() == {"ok": 4}
    starts = sorted(h.at for h in newsroom.hits if h.path.startswith("/briefing/"))
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.28, gaps  # 0.3 s apart, with a little clock slack


def test_robots_txt_is_spaced_like_any_request(newsroom: Newsroom, fetch_settings: Settings, tmp_path) -> None:
    # robots.txt is itself a request to the host: it takes the host's slot, and the Crawl-delay it
    # announces already holds between it and the next request.
    newsroom.route("/robots.txt", Reply(body=b"User-agent: *\nCrawl-delay: 0.3\n", content_type="text/plain"))
    page = newsroom.page("/briefing/first", article("First briefing", "The spokesperson opened the year."))
    run = run_fetch(fetch_settings, [_source([page])], None, "robots-spacing", tmp_path, show_progress=False)
    assert run.report.counts_by_outcome() == {"ok": 1}
    (robots,), (first,) = newsroom.hits_for("/robots.txt"), newsroom.hits_for("/briefing/first")
    assert first.at - robots.at >= 0.28, first.at - robots.at


def test_robots_5xx_means_disallow_all(newsroom: Newsroom, fetch_settings: Settings, tmp_path) -> None:
    newsroom.route("/robots.txt", Reply(500, b"oops"))
    page = newsroom.page("/press/3", article("Note verbale", "Delivered today."))
    settings = dataclasses.replace(fetch_settings, fetch=dataclasses.replace(fetch_settings.fetch, max_retries=0))
    run = run_fetch(settings, [_source([page])], None, "r5xx", tmp_path, show_progress=False)
    assert run.report.records[0].outcome == Outcome.ROBOTS_DISALLOWED.value
    assert newsroom.hits_for("/press/3") == []


def test_per_host_concurrency_caps_parallel_requests(newsroom: Newsroom, fetch_settings: Settings, tmp_path) -> None:
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow_page(hit: Hit) -> Reply:
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.15)
        with lock:
            active["now"] -= 1
        return Reply(body=article("Readout", "The call lasted an hour.").encode())

    urls = [newsroom.route(f"/readout/{i}", slow_page) for i in range(6)]
    source = Source(
        id="mfa", name="Ministry", kind=SourceKind.URLS, urls=tuple(urls), politeness=Politeness(concurrency=2)
    )
    settings = dataclasses.replace(
        fetch_settings, fetch=dataclasses.replace(fetch_settings.fetch, global_concurrency=6)
    )
    run = run_fetch(settings, [source], None, "cap", tmp_path, show_progress=False)
    assert run.report.counts_by_outcome() == {"ok": 6}
    assert active["max"] == 2
