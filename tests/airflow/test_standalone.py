"""Airflow for real: `airflow standalone` + Redis, against the loopback newsroom and the test cluster.

One installation for the module (it takes a minute or two to come up on 2 cores); the
tests run in order and each adds known dates, so the index must hold exactly the
articles of every date ingested so far:
- a backfill of 3 dates through `airflow backfill create`: 3 successful runs, and the
  asset chain wakes process_captures with no manual step;
- a backfill of 5 dates at once (the burst that starts fewer process_captures runs than
  raw-captures events): the ledger still drains every capture;
- a message on Redis pub/sub → AssetWatcher → event_ingest → indexed and searchable;
- a webhook: the REST API's asset-event route, with a token, does the same;
- the plugin's listener recorded the DAG runs in the pipeline-runs index.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from af_harness import (
    Redis,
    Standalone,
    airflow_cli,
    free_port,
    prepare,
    run_reports,
    wait_for,
    wired,
)
from ingest_runs import indexed_urls

from pipeline.config import Settings
from pipeline.orchestrate.ledger import CaptureLedger
from pipeline.urls import canonicalize

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

RUN_WAIT_S = 420  # bounded waits: generous for 2 shared cores
EVENT_WAIT_S = 300


@dataclasses.dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    airflow: Standalone
    redis: Redis
    newsroom: Any
    days: set[date] = dataclasses.field(default_factory=set)
    extra_urls: set[str] = dataclasses.field(default_factory=set)

    def expected(self) -> list[str]:
        urls = {u for d in self.days for u in self.newsroom.article_urls(d, d + timedelta(days=1))}
        return sorted({canonicalize(u) for u in urls | self.extra_urls})

    def finished_runs(self, dag_id: str, run_type: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.airflow.dag_runs(dag_id) if r["state"] in ("success", "failed")
                and (run_type is None or r["run_type"] == run_type)]

    def drained(self) -> bool:
        counts = CaptureLedger(self.settings.ledger_db).counts()
        return bool(counts) and set(counts) == {"done"}

    def wait_indexed(self) -> list[str]:
        expected = self.expected()
        wait_for("every capture processed", self.drained, RUN_WAIT_S, every=5)
        return wait_for("exactly the expected articles indexed",
                        lambda: (got := indexed_urls(self.settings)) == expected and got, EVENT_WAIT_S, every=5)


@pytest.fixture(scope="module")
def stack(engine_settings: Settings, newsroom: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("af-standalone")
    redis = Redis(home / "redis").start()
    prefix = f"sa{int(time.time()) % 100000}-articles"
    settings = wired(engine_settings, home / "home", newsroom, api_port=free_port(), redis_url=redis.url)
    settings = dataclasses.replace(settings, elasticsearch=dataclasses.replace(
        settings.elasticsearch, index_prefix=prefix, runs_index=f"{prefix}-runs"))
    airflow = None
    try:
        env = prepare(settings)
        airflow = Standalone(settings, env).start()
        wait_for("the DAGs parsed", lambda: len(airflow.api("GET", "/dags")["dags"]) >= 4, 240, every=3)
        yield Stack(settings, env, airflow, redis, newsroom)
    finally:
        if airflow is not None:
            airflow.stop()
        redis.stop()


def _backfill(stack: Stack, first: date, days: int) -> list[dict[str, Any]]:
    before = {r["dag_run_id"] for r in stack.airflow.dag_runs("nightly_ingest")}
    # --to-date is the day after the last: logical dates D 02:00 with D in [from, to), each covering day D.
    airflow_cli(stack.env, "backfill", "create", "--dag-id", "nightly_ingest",
                "--from-date", first.isoformat(), "--to-date", (first + timedelta(days=days)).isoformat())
    stack.days.update(first + timedelta(days=i) for i in range(days))

    def finished() -> list[dict[str, Any]] | None:
        runs = [r for r in stack.finished_runs("nightly_ingest", "backfill") if r["dag_run_id"] not in before]
        return runs if len(runs) >= days else None

    runs = wait_for(f"{days} backfill runs", finished, RUN_WAIT_S, every=5)
    # Airflow allows one running backfill per DAG; it is complete a scheduler loop after its runs.
    wait_for("the backfill completed", lambda: all(
        b.get("completed_at") for b in stack.airflow.api("GET", "/backfills", params={"dag_id": "nightly_ingest"})
        ["backfills"]), RUN_WAIT_S, every=3)
    return runs  # type: ignore[no-any-return]


def test_backfill_of_three_dates_through_the_cli_chains_to_process_captures(stack: Stack) -> None:
    runs = _backfill(stack, date(2015, 9, 24), 3)
    assert sorted(r["logical_date"][:10] for r in runs) == ["2015-09-24", "2015-09-25", "2015-09-26"]
    assert all(r["state"] == "success" for r in runs), runs
    assert stack.wait_indexed() == stack.expected()
    # No manual step: the raw-captures events started process_captures.
    woken = wait_for("an asset-triggered process_captures run",
                     lambda: stack.finished_runs("process_captures", "asset_triggered"), RUN_WAIT_S, every=5)
    assert all(r["state"] == "success" for r in woken), woken


def test_burst_backfill_of_five_dates_leaves_no_capture_behind(stack: Stack) -> None:
    processed_before = len(stack.finished_runs("process_captures"))
    runs = _backfill(stack, date(2015, 9, 27), 5)
    assert all(r["state"] == "success" for r in runs), runs
    assert stack.wait_indexed() == stack.expected()
    ledger = CaptureLedger(stack.settings.ledger_db)
    assert ledger.counts() == {"done": len(ledger.list())}
    woken = len(stack.finished_runs("process_captures")) - processed_before
    print(f"burst: 5 backfill runs → {woken} process_captures runs; ledger drained {len(ledger.list())} captures")


def _event_runs(stack: Stack) -> set[str]:
    return {r["dag_run_id"] for r in stack.airflow.dag_runs("event_ingest")}


def test_redis_message_ingests_the_named_article(stack: Stack) -> None:
    channel = stack.settings.airflow.events_channel
    wait_for("the AssetWatcher subscribed to Redis", lambda: stack.redis.subscribers(channel) > 0, 240, every=3)
    url = stack.newsroom.article_urls(date(2015, 10, 5), date(2015, 10, 6))[0]
    before = _event_runs(stack)
    assert stack.redis.publish(channel, json.dumps({"urls": [url]})) >= 1
    stack.extra_urls.add(url)
    run = wait_for("an event_ingest run", lambda: [r for r in stack.finished_runs("event_ingest")
                                                    if r["dag_run_id"] not in before], EVENT_WAIT_S, every=3)
    assert run[0]["state"] == "success"
    assert canonicalize(url) in stack.wait_indexed()


def test_webhook_through_the_rest_asset_event_route(stack: Stack) -> None:
    (asset,) = [a for a in stack.airflow.api("GET", "/assets", params={"uri_pattern": "incoming"})["assets"]]
    url = stack.newsroom.article_urls(date(2015, 10, 6), date(2015, 10, 7))[0]
    before = _event_runs(stack)
    stack.airflow.api("POST", "/assets/events", json={"asset_id": asset["id"], "extra": {"urls": [url]}})
    stack.extra_urls.add(url)
    wait_for("an event_ingest run", lambda: [r for r in stack.finished_runs("event_ingest")
                                             if r["dag_run_id"] not in before], EVENT_WAIT_S, every=3)
    assert canonicalize(url) in stack.wait_indexed()


def test_listener_recorded_dag_runs(stack: Stack) -> None:
    def recorded() -> list[dict[str, Any]]:
        return [r for r in run_reports(stack.settings) if r.get("kind") == "dag_run"]

    records = wait_for("dag_run records", lambda: len(recorded()) >= 8 and recorded(), 60, every=3)
    nightly = [r for r in records if r["dag_id"] == "nightly_ingest" and r["run_type"] == "backfill"]
    assert len(nightly) >= 8 and all(r["status"] == "success" and r["duration_seconds"] > 0 for r in nightly)
    fetch_reports = [r for r in run_reports(stack.settings) if r.get("kind") == "fetch"]
    assert any(r["totals"].get("ok", 0) > 0 for r in fetch_reports)

