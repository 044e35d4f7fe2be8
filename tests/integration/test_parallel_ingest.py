"""Parallel ingest against the real engine: fetched over loopback, processed by worker processes, indexed.

- The relevance gate keeps a gated source's off-topic articles out of the index; their record offsets
  are kept, and after the source's scope is widened to ``all``, `chancery captures mark-pending
  --out-of-scope` and a drain index exactly them (real `chancery` processes, their exit codes).
- A worker killed with SIGKILL mid-capture loses nothing: the capture is done, every article is
  indexed once, and the seen-store confirms exactly the pages of the capture.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
from fetch_newsroom import Newsroom, rss
from ingest_runs import chancery, cli_env, indexed_urls
from sample_pages import html

from pipeline.config import Settings
from pipeline.fetch.seen import SeenStore, seen_store_path
from pipeline.gate import OutOfScopeStore
from pipeline.ingest import ingest_sources
from pipeline.orchestrate.ledger import CaptureLedger
from pipeline.orchestrate.steps import CaptureVerdict
from pipeline.sources import load_sources
from pipeline.urls import canonicalize

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def _newsroom(room: Newsroom, diplomacy: int, sport: int) -> tuple[list[str], list[str]]:
    """Serve the sample pages and an RSS feed of them; (diplomacy URLs, sport URLs)."""
    urls: dict[bool, list[str]] = {True: [], False: []}
    items = []
    for n in range(diplomacy + sport):
        topical = n < diplomacy
        url = room.page(f"/{'world' if topical else 'sport'}/story-{n}", html(n, topical))
        urls[topical].append(url)
        items.append((f"Story {n}", url, f"Mon, 02 Mar 2026 {8 + n % 12:02d}:00:00 GMT"))
    room.page("/feed.xml", rss(items), content_type="application/rss+xml")
    return urls[True], urls[False]


def _sources(path: Path, room: Newsroom, scope: str) -> Path:
    path.write_text(f"sources:\n  - {{id: desk, name: Desk, kind: rss, url: \"{room.url('/feed.xml')}\", "
                    f"scope: {scope}}}\n", encoding="utf-8")
    return path


def test_the_gate_keeps_sport_out_and_a_wider_scope_replays_it(es_settings: Settings, tmp_path: Path) -> None:
    with Newsroom() as room:
        diplomacy, sport = _newsroom(room, diplomacy=6, sport=4)
        sources = _sources(tmp_path / "sources.yaml", room, "diplomacy")
        env = {**os.environ, **cli_env(es_settings, CHANCERY_SOURCES=str(sources))}

        first = subprocess.run(chancery("ingest", "--sources", str(sources), "--workers", "2"), env=env,
                               capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stderr[-3000:]
        assert indexed_urls(es_settings) == sorted(canonicalize(u) for u in diplomacy)
        held = list(OutOfScopeStore(es_settings.out_of_scope_db).held())
        assert sorted(h.url for h in held) == sorted(sport) and all(h.source == "desk" for h in held)
        assert all(h.score < es_settings.process.gate_threshold for h in held)
        (capture,) = CaptureLedger(es_settings.ledger_db).list()
        assert capture.counts["out_of_scope"] == 4 and capture.counts["indexed"] == 6

        _sources(sources, room, "all")  # the scope is widened
        marked = subprocess.run(chancery("captures", "mark-pending", "--out-of-scope", "--source", "desk"), env=env,
                                capture_output=True, text=True, timeout=120)
        assert marked.returncode == 0 and "1 capture(s) holding 4 out-of-scope page(s) marked pending" in marked.stdout
        hits_before = len(room.hits)
        drained = subprocess.run(chancery("captures", "drain", "--workers", "2"), env=env,
                                 capture_output=True, text=True, timeout=600)
        assert drained.returncode == 0, drained.stderr[-3000:]
        assert len(room.hits) == hits_before  # replayed from the capture, not fetched again
        assert indexed_urls(es_settings) == sorted(canonicalize(u) for u in diplomacy + sport)
        assert list(OutOfScopeStore(es_settings.out_of_scope_db).held()) == []
        (capture,) = CaptureLedger(es_settings.ledger_db).list()
        assert capture.status.value == "done" and capture.counts["indexed"] == 10
        assert "out_of_scope" not in capture.counts

        again = subprocess.run(chancery("captures", "mark-pending", "--out-of-scope"), env=env,
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and again.stdout.startswith("0 capture(s)")  # nothing held: nothing re-queued


def test_a_worker_killed_mid_capture_loses_nothing_and_the_seen_store_confirms_every_page(
    es_settings: Settings, tmp_path: Path
) -> None:
    fetch = dataclasses.replace(es_settings.fetch, allow_networks=("127.0.0.0/8",), per_host_delay=0.0,
                                per_host_concurrency=4)
    settings = dataclasses.replace(es_settings, fetch=fetch)
    killed: list[int] = []

    def kill_a_worker() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            workers = [c for c in psutil.Process().children() if any("spawn_main" in p for p in c.cmdline())]
            if len(workers) == 2 and all(time.time() - w.create_time() > 1.0 for w in workers):
                os.kill(workers[0].pid, 9)
                killed.append(workers[0].pid)
            time.sleep(0.05)

    with Newsroom() as room:
        diplomacy, _ = _newsroom(room, diplomacy=60, sport=0)
        sources = load_sources(_sources(tmp_path / "sources.yaml", room, "all"))
        settings = dataclasses.replace(settings, sources=tmp_path / "sources.yaml")
        killer = threading.Thread(target=kill_a_worker, daemon=True)
        killer.start()
        report = ingest_sources(settings, sources, None, "kill-a-worker", workers=2)
        killer.join(5)
    assert killed, "no worker was killed"
    assert report.status.value == "ok" and report.indexed == 60 and "worker_died" not in report.tally.counts
    assert indexed_urls(settings) == sorted(canonicalize(u) for u in diplomacy)
    (result,) = [c for c in report.captures if c["verdict"] == CaptureVerdict.DONE.value]
    assert result["seen_confirmed"] == 60 and result["seen_unread"] == 0
    with SeenStore(seen_store_path(settings.home)) as seen:
        assert all(seen.lookup(canonicalize(u)) is not None for u in diplomacy)
