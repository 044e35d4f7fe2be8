"""`chancery demo` and the newsroom's foreground entry point; the end-to-end run needs the real engine."""

from __future__ import annotations

import dataclasses
import http.client
import io
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from rich.console import Console

from pipeline.cli.demo_cmd import (
    LOOPBACK,
    demo_settings,
    example_searches,
    ingest_newsroom,
    unchanged_count,
)
from pipeline.config import Settings
from pipeline.demo.newsroom import serve

REPO = Path(__file__).resolve().parents[2]


def test_demo_settings_open_loopback_once_and_keep_the_rest(settings: Settings) -> None:
    tuned = demo_settings(settings)
    assert LOOPBACK in tuned.fetch.allow_networks
    assert demo_settings(tuned).fetch.allow_networks.count(LOOPBACK) == 1
    assert tuned.fetch.per_host_delay <= settings.fetch.per_host_delay
    assert dataclasses.replace(tuned, fetch=settings.fetch) == settings


def test_example_searches_are_valid_queries() -> None:
    from pipeline.index.search import build_query

    examples = example_searches()
    assert any('"Northern Territories"' in e.query.text for e in examples)
    assert any(e.query.topic == "territorial-dispute" for e in examples)
    for example in examples:
        assert example.command.startswith("chancery search")
        assert build_query(example.query)  # the pure request builder accepts it


def test_module_entry_serves_in_the_foreground(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.demo.newsroom", "--port", "0", "--sources", str(sources)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        base_url = first.rsplit(" at ", 1)[1].strip()
        parts = urlsplit(base_url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        try:
            conn.request("GET", "/robots.txt")
            assert conn.getresponse().status == 200
        finally:
            conn.close()
        for _ in range(3):
            process.stdout.readline()  # feed, sitemap, sources: the file is written before serving
        assert yaml.safe_load(sources.read_text())["sources"][0]["url"].startswith(base_url)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.engine
@pytest.mark.slow
def test_demo_ingests_the_newsroom_and_finds_the_model_story(es_settings: Settings) -> None:
    from pipeline.index.client import connect
    from pipeline.index.search import SearchQuery, search

    settings = demo_settings(es_settings)
    console = Console(file=io.StringIO(), width=120)
    with serve() as newsroom:
        report = ingest_newsroom(console, newsroom, settings)
        assert report.indexed == len(newsroom.articles), report.to_dict()
        es = connect(settings)
        phrase = "Northern Territories"
        found = search(es, settings, SearchQuery(text=f'"{phrase}"', countries=("JP",), size=50))
        expected = {
            newsroom.url_for(a)
            for a in newsroom.articles
            if phrase in f"{a.title} {a.summary} {a.text}" and "JP" in a.countries
        }
        assert {hit.url for hit in found.hits} == expected, (found.total, [h.url for h in found.hits])
        for hit in found.hits:
            assert hit.title == newsroom.article(hit.url).title
        again = ingest_newsroom(console, newsroom, settings)
        # Refetched, found identical, so not captured again: every article either reindexed or unchanged.
        assert again.indexed + unchanged_count(again) == len(newsroom.articles)
        total = search(es, settings, SearchQuery(size=0))
        assert total.total == len(newsroom.articles)  # a rerun updates the same documents
