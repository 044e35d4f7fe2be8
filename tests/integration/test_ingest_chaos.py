"""Crashes the recovery tests did not cover yet, with real processes and real signals.

- kill -9 of `chancery ingest --sources` during discovery and mid-indexing (mid-fetch is in
  test_ingest_recovery.py), then the same command again: every article indexed, once;
- two `chancery captures drain` processes at once over the same pending captures: each
  capture processed by exactly one of them, each article written exactly once.

"Written once" is the engine's own word: a document's ``_version`` counts the writes of its
``_id``. The demo newsroom's pages are the articles (rendered by pipeline.demo, served on
loopback, or written into WARCs here); the engine is the shared one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fetch_newsroom import Newsroom, Reply
from ingest_runs import chancery, cli_env, indexed_urls

from pipeline.config import Settings
from pipeline.demo.catalog import load_articles
from pipeline.demo.newsroom import build_site, serve, write_sources_file
from pipeline.demo.render import article_url
from pipeline.fetch.warc import CapturedResponse, WarcSink
from pipeline.index.client import connect
from pipeline.orchestrate.ledger import CaptureLedger, CaptureStatus, process_running
from pipeline.urls import canonicalize

pytestmark = [pytest.mark.engine, pytest.mark.slow]

FEED, SITEMAP = "/feeds/world.xml", "/sitemaps/news.xml"


@pytest.fixture
def run_settings(es_settings: Settings) -> Settings:
    """The test's engine settings, with its run reports in an index of its own prefix (removed at teardown)."""
    es = es_settings.elasticsearch
    return dataclasses.replace(es_settings, elasticsearch=dataclasses.replace(es, runs_index=f"{es.index_prefix}-runs"))


def _versions(settings: Settings) -> dict[str, int]:
    """canonical URL → the document's _version, for every document of the read alias (one per URL is asserted)."""
    es = connect(settings)
    alias = settings.elasticsearch.index_prefix
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=1000, version=True, source=["canonical_url"])["hits"]["hits"]
    versions = {h["_source"]["canonical_url"]: int(h["_version"]) for h in hits}
    assert len(versions) == len(hits), "two documents for one canonical URL"
    return versions


def _env(settings: Settings, sources: Path, **extra: str) -> dict[str, str]:
    """The `chancery` environment; CHANCERY_SOURCES too, as processing takes each page's scope from it."""
    return {**os.environ, **cli_env(settings, CHANCERY_SOURCES=str(sources), **extra)}


@pytest.fixture
def slow_discovery() -> Iterator[Newsroom]:
    """The demo newsroom's site, its feed and news sitemap answering only after 3 s."""
    with Newsroom() as room:
        for path, resource in build_site(room.base, load_articles()).items():
            delay = 3.0 if path in (FEED, SITEMAP) else 0.0
            room.route(path, Reply(body=resource.body, content_type=resource.content_type, delay=delay))
        yield room


def test_kill_9_during_discovery_then_the_same_command_indexes_every_article_once(
    run_settings: Settings, tmp_path: Path, slow_discovery: Newsroom
) -> None:
    room = slow_discovery
    articles = load_articles()
    sources = write_sources_file(room.base, tmp_path / "sources.yaml")
    command = chancery("ingest", "--sources", str(sources), "--report", str(tmp_path / "report.json"))
    env = _env(run_settings, sources)
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (room.hits_for(FEED) and room.hits_for(SITEMAP)):  # both asked for, neither answered yet
        assert first.poll() is None and time.monotonic() < deadline, "the run never asked for its feeds"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    article_paths = {a.path for a in articles}
    assert not [h for h in room.hits if h.path in article_paths], "the kill came after discovery"

    ledger = CaptureLedger(run_settings.ledger_db)
    (crashed,) = ledger.list()
    assert crashed.status is CaptureStatus.WRITING and crashed.claimed_pid == first.pid
    assert not process_running(first.pid)

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr[-3000:]
    versions = _versions(run_settings)
    assert sorted(versions) == sorted(canonicalize(article_url(room.base, a)) for a in articles)
    assert set(versions.values()) == {1}  # nothing was written before the kill: each article once
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "ok" and report["pending_captures"] == []
    verdicts = {c["path"]: c["verdict"] for c in report["captures"]}
    assert verdicts[crashed.path] == "done" and ledger.counts() == {"done": 2}


def test_kill_9_mid_indexing_then_the_same_command_indexes_every_article_once(
    run_settings: Settings, tmp_path: Path
) -> None:
    es = connect(run_settings)
    alias = run_settings.elasticsearch.index_prefix

    def indexed_now() -> set[str]:
        if not es.indices.exists_alias(name=alias):
            return set()
        es.indices.refresh(index=alias)
        return {h["_id"] for h in es.search(index=alias, size=1000, source=False)["hits"]["hits"]}

    with serve() as newsroom:
        sources = write_sources_file(newsroom.base_url, tmp_path / "sources.yaml")
        command = chancery("ingest", "--sources", str(sources), "--report", str(tmp_path / "report.json"))
        env = _env(run_settings, sources, CHANCERY_ELASTICSEARCH_BULK_CHUNK_DOCS="5",
                   CHANCERY_ELASTICSEARCH_BULK_MIN_CHUNK_DOCS="5")
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while len(before := indexed_now()) < 5:
            assert first.poll() is None and time.monotonic() < deadline, "the run never indexed 5 articles"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        total = len(newsroom.articles)
        assert len(indexed_now()) < total, "the kill came after every article was indexed"

        ledger = CaptureLedger(run_settings.ledger_db)
        (crashed,) = ledger.list()
        assert crashed.status is CaptureStatus.CLAIMED and crashed.claimed_pid == first.pid  # fetched, indexing
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        assert second.returncode == 0, second.stderr[-3000:]
        expected = sorted(canonicalize(u) for u in newsroom.article_urls())

    versions = _versions(run_settings)
    assert sorted(versions) == expected
    # The capture was not done: the rerun processed it whole, so what the killed run wrote is written once more.
    ids = {h["_id"]: int(h["_version"]) for h in es.search(index=alias, size=1000, version=True,
                                                            source=False)["hits"]["hits"]}
    assert {ids[i] for i in before} == {2}
    assert set(ids.values()) <= {1, 2}
    assert ledger.counts() == {"done": 2}


def _capture(path: Path, base: str, articles: list[Any], source_id: str) -> Path:
    """A WARC holding the demo articles as the newsroom at ``base`` serves them."""
    site = build_site(base, articles)
    with WarcSink(path) as sink:
        for article in articles:
            url = article_url(base, article)
            sink.write(CapturedResponse(
                url=url, status=200, reason="OK", headers=[("Content-Type", site[article.path].content_type)],
                raw_body=site[article.path].body, fetched_at=datetime.now(UTC), source_id=source_id,
                run_id="two-drains", fetch_url=url, canonical_url=url, request_headers={"User-Agent": "test"}))
    return path


def test_two_drains_at_once_process_each_capture_once_and_write_each_article_once(
    run_settings: Settings, tmp_path: Path
) -> None:
    articles = list(load_articles())
    # Four captures, each the newsroom as served from its own address: 4 x 43 distinct articles.
    bases = [f"http://127.0.0.{i}:8080" for i in range(2, 6)]
    sources = write_sources_file(bases[0], tmp_path / "sources.yaml")  # its ids, so the drains know the scope
    captures = [_capture(tmp_path / f"capture-{i}.warc.gz", base, articles, "gazette-news-sitemap")
                for i, base in enumerate(bases)]
    ledger = CaptureLedger(run_settings.ledger_db)
    ledger.record(captures, run_id="two-drains", sources=["gazette-news-sitemap"])
    assert ledger.counts() == {"pending": 4}

    env = _env(run_settings, sources)
    reports = [tmp_path / "drain-a.json", tmp_path / "drain-b.json"]
    drains = [subprocess.Popen(chancery("captures", "drain", "--report", str(r)), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for r in reports]
    for drain in drains:
        _, stderr = drain.communicate(timeout=600)
        assert drain.returncode == 0, stderr[-3000:]

    done = [[c["path"] for c in json.loads(r.read_text())["captures"] if c["verdict"] == "done"] for r in reports]
    assert sorted(done[0] + done[1]) == sorted(str(c) for c in captures)  # each capture by one drain only
    assert done[0] and done[1], f"one drain did everything ({done}): the two never ran at once"
    assert ledger.counts() == {"done": 4}
    versions = _versions(run_settings)
    assert sorted(versions) == sorted(canonicalize(article_url(b, a)) for b in bases for a in articles)
    assert set(versions.values()) == {1}  # each article written exactly once
    assert len(indexed_urls(run_settings)) == 4 * len(articles)
