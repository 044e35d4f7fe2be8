"""Run steps without Airflow: day windows, batch plans, archive batches, reports, the Kibana link."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import yaml

from pipeline.config import Settings
from pipeline.orchestrate.reports import dag_run_record, kibana_discover_url
from pipeline.orchestrate.steps import (
    archive_batches,
    assemble_report,
    capture_dir,
    day_window,
    plan_batches,
    raw_captures_extra,
)


def test_day_window_tiles_days() -> None:
    lo, hi = day_window(datetime(2015, 9, 21, 2, tzinfo=UTC), datetime(2015, 9, 22, 2, tzinfo=UTC))
    assert (lo, hi) == (datetime(2015, 9, 21, tzinfo=UTC), datetime(2015, 9, 22, tzinfo=UTC))
    nxt = day_window(datetime(2015, 9, 22, 2, tzinfo=UTC), datetime(2015, 9, 23, 2, tzinfo=UTC))
    assert nxt[0] == hi  # consecutive runs: no gap, no overlap
    assert day_window(datetime(2015, 9, 21, 0, tzinfo=UTC), datetime(2015, 9, 21, 0, tzinfo=UTC))[1] == hi


def _sources(tmp_path: Path, hosts: int, per_host: int) -> Path:
    entries = [
        {"id": f"s{h}-{i}", "name": f"S {h} {i}", "kind": "rss", "url": f"https://h{h}.example/feed{i}.xml"}
        for h in range(hosts) for i in range(per_host)
    ]
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": entries}))
    return path


def test_plan_batches_caps_the_fan_out_and_keeps_a_host_together(settings: Settings, tmp_path: Path) -> None:
    s = dataclasses.replace(settings, sources=_sources(tmp_path, hosts=300, per_host=2))
    batches = plan_batches(s, max_batches=64)
    assert len(batches) <= 64
    assert sorted(sid for b in batches for sid in b) == sorted(f"s{h}-{i}" for h in range(300) for i in range(2))
    for batch in batches:
        hosts = {sid.split("-")[0] for sid in batch}
        assert all(f"{h}-0" in batch and f"{h}-1" in batch for h in hosts)
    assert plan_batches(s, only=["s7-1"]) == [["s7-1"]]


def test_archive_batches_expand_globs_and_lists(tmp_path: Path) -> None:
    for i in range(7):
        (tmp_path / f"cc-news-{i}.warc.gz").write_bytes(b"")
    batches = archive_batches(f"{tmp_path}/cc-news-*.warc.gz, {tmp_path}/cc-news-0.warc.gz", 3, 64)
    assert [len(b) for b in batches] == [3, 3, 1]  # the repeated file counted once
    assert len(archive_batches(f"{tmp_path}/*.warc.gz", 1, 2)) == 2  # never more than max_batches


def test_report_counts_per_source_and_status() -> None:
    window = (datetime(2015, 9, 21, tzinfo=UTC), datetime(2015, 9, 22, tzinfo=UTC))
    results = [
        {"sources": {"a": {"ok": 2, "http_4xx": 1}}, "warcs": ["/w/a.warc.gz"], "failures": {}},
        {"sources": {"b": {"source_error": 1}}, "warcs": [], "failures": {"b": "ConnectionError: refused"}},
        None,  # a batch that failed for good
    ]
    report = assemble_report(results, "run-1", "nightly_ingest", window, planned_batches=3)
    assert report["id"] == "nightly_ingest:run-1:fetch"
    assert report["sources"] == {"a": {"http_4xx": 1, "ok": 2}, "b": {"source_error": 1}}
    assert report["totals"] == {"http_4xx": 1, "ok": 2, "source_error": 1}
    assert report["status"] == "partial" and report["batches_failed"] == 1
    assert report["window"] == {"start": "2015-09-21T00:00:00+00:00", "end": "2015-09-22T00:00:00+00:00"}
    assert raw_captures_extra(results, "run-1", "nightly_ingest", window)["warcs"] == ["/w/a.warc.gz"]


def test_capture_dir_is_run_scoped(settings: Settings) -> None:
    path = capture_dir(settings, "nightly_ingest", "2015-09-21", "backfill__2015-09-22T02:00:00+00:00", 3)
    assert path == settings.captures_dir / "nightly_ingest/2015-09-21/backfill__2015-09-22T02_00_00_00_00/batch-003"


def test_dag_run_record_and_kibana_link() -> None:
    start, end = datetime(2026, 1, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, 2, 5, tzinfo=UTC)
    record = dag_run_record("nightly_ingest", "scheduled__x", "success", start, end, "scheduled",
                            kibana_url="http://kibana:5601/")
    assert record["id"] == "nightly_ingest:scheduled__x:dag_run" and record["duration_seconds"] == 300
    assert record["kibana_url"] == kibana_discover_url("http://kibana:5601", "scheduled__x")
    assert "provenance.run_id:\"scheduled__x\"" in record["kibana_url"]
    assert "{RUN_ID}" in kibana_discover_url("http://k", "{RUN_ID}")
