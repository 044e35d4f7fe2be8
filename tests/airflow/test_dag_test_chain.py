"""dag.test() of nightly_ingest for a fixed date, then of process_captures fed the event it emitted."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from af_harness import drive, prepare, run_reports, wired
from ingest_runs import indexed_urls

from pipeline.config import Settings
from pipeline.orchestrate.ledger import CaptureLedger
from pipeline.urls import canonicalize

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

LOGICAL = "2015-09-22T02:00:00+00:00"  # dag.test: the interval ending then, i.e. the day 2015-09-21
DAY = date(2015, 9, 21)


def test_nightly_then_process_captures_indexes_the_day_and_a_rerun_changes_nothing(
    es_settings: Settings, newsroom: object, tmp_path: Path
) -> None:
    settings = wired(es_settings, tmp_path / "home", newsroom)
    settings = dataclasses.replace(settings, elasticsearch=dataclasses.replace(
        settings.elasticsearch, runs_index=f"{settings.elasticsearch.index_prefix}-runs"))
    env = prepare(settings)
    expected = sorted(canonicalize(u) for u in newsroom.article_urls(DAY, date(2015, 9, 22)))  # type: ignore
    assert expected, "the newsroom has articles on the day"

    nightly = drive(env, "test", "nightly_ingest", LOGICAL)
    assert nightly["state"] == "success", nightly["tasks"]
    (event,) = [e for e in nightly["events"] if e["uri"].startswith("chancery://raw-captures")]
    assert event["extra"]["warcs"] and event["extra"]["window"][0].startswith("2015-09-21")
    report = nightly["returns"]["report"]
    assert report["status"] == "success" and report["totals"].get("ok", 0) >= len(expected)
    assert set(report["sources"]) == {"gazette-world-rss", "gazette-news-sitemap"}

    process = drive(env, "test", "process_captures", "", json.dumps({"asset_events": [event["extra"]]}))
    assert process["state"] == "success", process["tasks"]
    drained = process["returns"]["drain"]
    assert drained["hinted"] == len(event["extra"]["warcs"])
    assert drained["processed"] == len(event["extra"]["warcs"]) and not drained["failed"]
    assert [e["uri"] for e in process["events"]] == ["chancery://articles-indexed/"]
    assert process["events"][0]["extra"]["indexed"] == drained["indexed"]
    assert CaptureLedger(settings.ledger_db).counts() == {"done": len(event["extra"]["warcs"])}
    assert indexed_urls(settings) == expected

    stored = {r["id"] for r in run_reports(settings)}
    assert f"nightly_ingest:{nightly['run_id']}:fetch" in stored

    # A rerun of the same date: same documents, same count.
    again = drive(env, "test", "nightly_ingest", LOGICAL)
    assert again["state"] == "success"
    (event2,) = [e for e in again["events"] if e["uri"].startswith("chancery://raw-captures")]
    process2 = drive(env, "test", "process_captures", "", json.dumps({"asset_events": [event2["extra"]]}))
    assert process2["state"] == "success", process2["tasks"]
    assert indexed_urls(settings) == expected

    # backfill_archive over the captures just written (an archive is any WARC): its pages are dated
    # by their own stated date (the day), as any archive's are, so the day's window finds the same
    # articles again and the index is unchanged.
    day = datetime.fromisoformat(LOGICAL).date() - timedelta(days=1)
    conf = {"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat(),
            "archives": " ".join(event["extra"]["warcs"]), "sources": [], "batch_size": 1}
    archive = drive(env, "test", "backfill_archive", "", json.dumps(conf))
    assert archive["state"] == "success", archive["tasks"]
    summary = archive["returns"]["emit"]
    assert summary["status"] == "success" and summary["totals"].get("ok", 0) >= len(expected)
    assert len([t for t in archive["tasks"] if t.startswith("extract[")]) == len(event["extra"]["warcs"])
    # Out of time budget with captures pending: no work done, and a raw-captures event (through the
    # alias) hands the rest to another run at once instead of waiting for the hourly fallback.
    stalled = drive({**env, "CHANCERY_AIRFLOW_DRAIN_BUDGET_SECONDS": "0"}, "test", "process_captures", "", "{}")
    assert stalled["state"] == "success" and stalled["returns"]["drain"]["processed"] == 0
    handoff = [e for e in stalled["events"] if e["uri"].startswith("chancery://raw-captures")]
    assert handoff and handoff[0]["extra"]["remaining"] == len(event["extra"]["warcs"])
    process3 = drive(env, "test", "process_captures", "", "{}")
    assert process3["state"] == "success" and process3["returns"]["drain"]["indexed"] >= len(expected)
    assert indexed_urls(settings) == expected
