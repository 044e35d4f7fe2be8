"""The DAG's drain step against the real engine: a capture is done only when all its articles are.

A write-blocked index makes the engine refuse every document with a back-pressure error; past
the retry budget they are neither indexed nor dead-lettered (``IndexReport.pending``). The
capture must stay pending, the task must fail so Airflow retries it, and nothing of it may count
as seen. Once the block is lifted, the next drain finishes it.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from af_harness import wired
from ingest_runs import indexed_urls

from pipeline.config import Settings
from pipeline.fetch.seen import SeenStore, seen_store_path
from pipeline.index.mapping import IndexNames
from pipeline.ingest import connect_ready
from pipeline.orchestrate.errors import EngineDown
from pipeline.orchestrate.ledger import CaptureLedger, CaptureStatus
from pipeline.orchestrate.steps import CaptureVerdict, drain_captures, fetch_batch
from pipeline.urls import canonicalize

pytestmark = pytest.mark.engine

WINDOW = (datetime(2015, 9, 21, tzinfo=UTC), datetime(2015, 9, 22, tzinfo=UTC))


def test_refused_documents_keep_their_capture_pending_and_fail_the_task(
    es_settings: Settings, newsroom: object, tmp_path: Path
) -> None:
    es_tuned = dataclasses.replace(es_settings.elasticsearch, retry_budget_seconds=1.0, bulk_initial_backoff=0.1)
    settings = wired(dataclasses.replace(es_settings, elasticsearch=es_tuned), tmp_path / "home", newsroom)
    es = connect_ready(settings)
    (concrete,) = es.indices.get_alias(name=IndexNames(es_tuned.index_prefix).write_alias).body
    es.indices.put_settings(index=concrete, settings={"index.blocks.write": True})
    fetch_batch(settings, [], WINDOW, "nightly-2015-09-22", "nightly_ingest", batch=0, label="2015-09-21")
    expected = sorted(canonicalize(u) for u in newsroom.article_urls(WINDOW[0].date(), date(2015, 9, 22)))  # type: ignore[attr-defined]
    ledger = CaptureLedger(settings.ledger_db)

    blocked = drain_captures(settings, worker="process_captures:blocked")
    (refused,) = blocked.left_pending
    assert refused.pending == len(expected) and refused.indexed == refused.dead_lettered == 0
    with pytest.raises(EngineDown):
        blocked.raise_if_left_pending()  # the task fails; Airflow's retry drains again
    (capture,) = ledger.get_many([refused.path])
    assert capture.status is CaptureStatus.PENDING and capture.attempts == 0
    assert "neither indexed nor dead-lettered" in capture.error
    with SeenStore(seen_store_path(settings.home)) as seen:
        assert all(seen.lookup(u) is None for u in expected)

    es.indices.put_settings(index=concrete, settings={"index.blocks.write": False})
    again = drain_captures(settings, worker="process_captures:retry")
    again.raise_if_left_pending()
    assert [r.verdict for r in again.results] == [CaptureVerdict.DONE]
    assert again.to_dict()["indexed"] == len(expected)
    assert indexed_urls(settings) == expected
    assert ledger.counts() == {"done": 2}
    with SeenStore(seen_store_path(settings.home)) as seen:
        assert all(seen.lookup(u) is not None for u in expected)
