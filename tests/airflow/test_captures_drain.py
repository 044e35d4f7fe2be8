"""`chancery captures drain`: the DAG's drain step from the command line, with the ingest exit codes.

The captures are real: the DAG's own fetch step (``fetch_batch``) writes one day of the loopback
newsroom and records it pending, exactly as a nightly fetch task leaves it.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from af_harness import wired
from ingest_runs import cli_env, indexed_urls

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.fetch.seen import SeenStore, seen_store_path
from pipeline.index.client import connect
from pipeline.index.mapping import IndexNames
from pipeline.ingest import connect_ready
from pipeline.orchestrate.ledger import CaptureLedger, CaptureStatus
from pipeline.orchestrate.steps import fetch_batch
from pipeline.urls import canonicalize

pytestmark = pytest.mark.engine

DAY = date(2015, 9, 21)
WINDOW = (datetime(2015, 9, 21, tzinfo=UTC), datetime(2015, 9, 22, tzinfo=UTC))


@pytest.fixture
def drain_settings(
    es_settings: Settings, newsroom: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    es = es_settings.elasticsearch
    settings = wired(dataclasses.replace(es_settings, elasticsearch=dataclasses.replace(
        es, runs_index=f"{es.index_prefix}-runs")), tmp_path / "home", newsroom)
    for name, value in cli_env(settings).items():
        monkeypatch.setenv(name, value)
    return settings


def _day_captures(settings: Settings) -> list[str]:
    result = fetch_batch(settings, [], WINDOW, "nightly-2015-09-22", "nightly_ingest", batch=0, label="2015-09-21")
    assert len(result["warcs"]) == 2  # one per source, recorded pending
    return list(result["warcs"])


def test_drain_indexes_the_pending_captures_and_confirms_their_pages(
    drain_settings: Settings, newsroom: object, tmp_path: Path
) -> None:
    captures = _day_captures(drain_settings)
    ledger = CaptureLedger(drain_settings.ledger_db)
    assert ledger.counts() == {"pending": 2}

    assert main(["captures", "drain", "--limit", "1"]) == 0
    assert ledger.counts() == {"done": 1, "pending": 1}  # the other waits for the next drain
    report_path = tmp_path / "drain.json"
    assert main(["captures", "drain", "--report", str(report_path)]) == 0
    expected = sorted(canonicalize(u) for u in newsroom.article_urls(DAY, date(2015, 9, 22)))  # type: ignore[attr-defined]
    assert expected and indexed_urls(drain_settings) == expected
    assert ledger.counts() == {"done": 2}
    report = json.loads(report_path.read_text())
    assert report["kind"] == "drain" and report["status"] == "ok"
    assert [c["verdict"] for c in report["captures"]] == ["done"] and report["captures"][0]["path"] in captures
    with SeenStore(seen_store_path(drain_settings.home)) as seen:  # indexed, so seen from now on
        assert all(seen.lookup(u) is not None for u in expected)

    assert main(["captures", "drain"]) == 0  # nothing pending: nothing to do
    assert ledger.counts() == {"done": 2}


def test_a_capture_with_dead_lettered_articles_is_reported_and_the_exit_code_says_so(
    drain_settings: Settings, tmp_path: Path
) -> None:
    # A real refusal by the engine: documents with more than one nested object (entities, topics)
    # exceed this index's limit and are rejected with a 400, which is dead-lettered, not retried.
    es = connect_ready(drain_settings)
    names = IndexNames(drain_settings.elasticsearch.index_prefix)
    (concrete,) = es.indices.get_alias(name=names.write_alias).body
    es.indices.put_settings(index=concrete, settings={"index.mapping.nested_objects.limit": 1})
    _day_captures(drain_settings)

    report_path = tmp_path / "drain.json"
    assert main(["captures", "drain", "--report", str(report_path)]) == 4
    report = json.loads(report_path.read_text())
    assert [c["verdict"] for c in report["captures"]] == ["done", "done"]
    (capture,) = [c for c in report["captures"] if c["dead_lettered"]]  # the sitemap's (the feed lists none that day)
    assert report["status"] == "dead_lettered"
    assert capture["dead_lettered"] > 0 and report["failed"] == capture["dead_lettered"]
    assert capture["outcomes"].get("processed") == capture["indexed"] + capture["dead_lettered"]  # each ended once
    ledger = CaptureLedger(drain_settings.ledger_db)
    (done,) = ledger.get_many([capture["path"]])
    assert done.status is CaptureStatus.DONE and done.counts["failed"] == capture["dead_lettered"]
    client = connect(drain_settings)
    client.indices.refresh(index=names.deadletter)
    letters = client.search(index=names.deadletter, size=100)["hits"]["hits"]
    assert len(letters) == capture["dead_lettered"]
    assert {h["_source"]["error_type"] for h in letters} == {"document_parsing_exception"}


def test_a_fetch_from_the_command_line_is_drained_like_a_dag_fetch(drain_settings: Settings, tmp_path: Path) -> None:
    fetch = ["fetch", "--sources", str(drain_settings.sources), "--since", "2015-09-21", "--until", "2015-09-22"]
    assert main([*fetch, "--no-progress"]) == 0
    ledger = CaptureLedger(drain_settings.ledger_db)
    assert ledger.counts() == {"pending": 1}  # its pages are not seen until indexed
    assert indexed_urls(drain_settings) == []

    report = tmp_path / "drain.json"
    assert main(["captures", "drain", "--report", str(report)]) == 0
    assert ledger.counts() == {"done": 1}
    indexed = json.loads(report.read_text())["indexed"]
    assert indexed > 0 and len(indexed_urls(drain_settings)) == indexed
