"""`chancery ingest --sources` never loses a page: a kill -9 mid-fetch, an engine gone mid-index.

The demo newsroom is served on loopback by this test process (its request log says what the
`chancery` process asked for and how it was answered); the engine is the shared one, reached
directly or through a proxy this test cuts. After any crash, the same command run again
converges to the index a clean run gives: every article once, nothing lost.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from ingest_runs import CuttingProxy, chancery, cli_env, indexed_urls

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.demo.newsroom import Newsroom, serve, write_sources_file
from pipeline.fetch.seen import SeenStore, seen_store_path
from pipeline.index.client import connect
from pipeline.index.runs import recent_runs
from pipeline.orchestrate.ledger import CaptureLedger, CaptureStatus, process_running
from pipeline.urls import canonicalize

pytestmark = [pytest.mark.engine, pytest.mark.slow]

FEED = "/feeds/world.xml"


@pytest.fixture
def run_settings(es_settings: Settings) -> Settings:
    """The test's engine settings, with its run reports in an index of its own prefix (removed at teardown)."""
    es = es_settings.elasticsearch
    return dataclasses.replace(es_settings, elasticsearch=dataclasses.replace(es, runs_index=f"{es.index_prefix}-runs"))


def _expected(newsroom: Newsroom) -> list[str]:
    return sorted(canonicalize(u) for u in newsroom.article_urls())


def _article_hits(newsroom: Newsroom) -> int:
    paths = {a.path for a in newsroom.articles}
    return sum(1 for r in newsroom.requests.records() if r.path in paths and r.status == 200)


def _feed_answers(newsroom: Newsroom) -> list[tuple[int, bool]]:
    """(status, sent validators?) of every request for the RSS feed, in order."""
    return [(r.status, any(k.lower() == "if-none-match" for k in r.headers))
            for r in newsroom.requests.records() if r.path == FEED]


def test_kill_9_mid_fetch_then_the_same_command_indexes_every_article_once(
    run_settings: Settings, tmp_path: Path
) -> None:
    with serve() as newsroom:
        sources = write_sources_file(newsroom.base_url, tmp_path / "sources.yaml")
        command = chancery("ingest", "--sources", str(sources), "--report", str(tmp_path / "report.json"))
        # Slow enough that the kill lands with most of the newsroom still to fetch.
        env = {**os.environ, **cli_env(run_settings, CHANCERY_FETCH_PER_HOST_DELAY="0.2")}
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while _article_hits(newsroom) < 12:
            assert first.poll() is None, "the run ended before the kill"
            assert time.monotonic() < deadline, "the run never got to 12 pages"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        served = _article_hits(newsroom)
        assert served < len(newsroom.articles) - 10, "the kill came too late to prove anything"

        ledger = CaptureLedger(run_settings.ledger_db)
        (crashed,) = ledger.list()
        assert crashed.status is CaptureStatus.WRITING and crashed.claimed_pid == first.pid
        assert not process_running(first.pid)
        assert not (tmp_path / "report.json").exists()  # kill -9: nothing could be written
        newsroom.requests.clear()

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr[-3000:]
        # The killed run's feed validators were never stored: the feed is read in full again.
        assert _feed_answers(newsroom) == [(200, False)]

    urls = indexed_urls(run_settings)
    assert urls == _expected(newsroom)  # every article, each once
    assert len(urls) == len(set(urls)) == len(newsroom.articles)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "ok" and report["pending_captures"] == []
    verdicts = {c["path"]: c["verdict"] for c in report["captures"]}
    assert verdicts[crashed.path] == "done" and list(verdicts.values()) == ["done", "done"]
    assert ledger.counts() == {"done": 2}
    # What the killed run captured was indexed from its WARC, not fetched a second time.
    recaptured = report["fetch"]["changes"].get("new", 0)
    assert recaptured < len(newsroom.articles)


def test_engine_gone_mid_index_leaves_the_capture_pending_and_a_rerun_finishes_it(
    run_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve() as newsroom, CuttingProxy(str(run_settings.elasticsearch.url), cut_at=b"/_bulk") as proxy:
        sources = write_sources_file(newsroom.base_url, tmp_path / "sources.yaml")
        for name, value in cli_env(run_settings, ELASTICSEARCH_URL=proxy.url).items():
            monkeypatch.setenv(name, value)
        down = tmp_path / "down.json"
        assert main(["ingest", "--sources", str(sources), "--report", str(down)]) == 5  # work left pending
        assert proxy.cut.is_set()

        report = json.loads(down.read_text())
        ledger = CaptureLedger(run_settings.ledger_db)
        (capture,) = ledger.list()
        assert report["status"] == "pending" and "unreachable" in report["error"]
        assert report["pending_captures"] == [capture.path] and report["indexed"] == 0
        assert capture.status is CaptureStatus.PENDING and capture.attempts == 0  # an outage uses no attempt
        with SeenStore(seen_store_path(run_settings.home)) as seen:  # nothing of it counts as seen yet
            assert seen.validators(newsroom.feed_url) is None
            assert not any(seen.lookup(u) for u in _expected(newsroom))
        fallback = run_settings.deadletter_dir / f"{run_settings.elasticsearch.runs_index}.jsonl"
        stored = [json.loads(line) for line in fallback.read_text().splitlines()]
        assert [r["id"] for r in stored] == [f"ingest:{report['run_id']}"]  # the engine was away: kept on file
        assert stored[0]["pending_captures"] == [capture.path]

        # The engine is back. The feed now answers 304 to the validators of the capture that
        # was just finished, and hides nothing: its articles came from the pending capture.
        newsroom.requests.clear()
        monkeypatch.setenv("ELASTICSEARCH_URL", str(run_settings.elasticsearch.url))
        up = tmp_path / "up.json"
        assert main(["ingest", "--sources", str(sources), "--report", str(up)]) == 0
        assert _feed_answers(newsroom) == [(304, True)]
        assert _article_hits(newsroom) == 0

    urls = indexed_urls(run_settings)
    assert urls == _expected(newsroom) and len(urls) == len(set(urls))
    again = json.loads(up.read_text())
    assert again["status"] == "ok"
    assert {c["path"]: c["verdict"] for c in again["captures"]}[capture.path] == "done"
    assert again["indexed"] == len(newsroom.articles)
    assert ledger.counts() == {"done": 2}

    es = connect(run_settings)
    es.indices.refresh(index=run_settings.elasticsearch.runs_index)
    runs = {r["id"]: r for r in recent_runs(es, run_settings)}
    assert runs[f"ingest:{again['run_id']}"]["status"] == "ok"


def test_sigterm_mid_fetch_writes_the_report_and_leaves_the_capture_pending(
    run_settings: Settings, tmp_path: Path
) -> None:
    with serve() as newsroom:
        sources = write_sources_file(newsroom.base_url, tmp_path / "sources.yaml")
        report_path = tmp_path / "report.json"
        command = chancery("ingest", "--sources", str(sources), "--report", str(report_path))
        env = {**os.environ, **cli_env(run_settings, CHANCERY_FETCH_PER_HOST_DELAY="0.2")}
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while _article_hits(newsroom) < 8:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=60)
        assert first.returncode == 130, stderr[-2000:]

        report = json.loads(report_path.read_text())
        ledger = CaptureLedger(run_settings.ledger_db)
        (capture,) = ledger.list()
        assert report["status"] == "pending" and "interrupted" in report["error"]
        assert report["ledger"] == {"pending": 1}
        assert capture.status is CaptureStatus.PENDING  # not held by a process that is gone
        es = connect(run_settings)  # the engine was up: the failed run's report is in the run-report index too
        es.indices.refresh(index=run_settings.elasticsearch.runs_index)
        stored = {r["id"]: r for r in recent_runs(es, run_settings)}[f"ingest:{report['run_id']}"]
        assert stored["status"] == "pending" and stored["ledger"] == {"pending": 1}

        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr[-3000:]
    urls = indexed_urls(run_settings)
    assert urls == _expected(newsroom) and len(urls) == len(set(urls))
