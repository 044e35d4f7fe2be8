"""fetch_batch against the loopback newsroom: one failing source does not stop the others."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from af_harness import wired

from pipeline.config import Settings
from pipeline.orchestrate.errors import FetchBatchError
from pipeline.orchestrate.ledger import CaptureLedger, CaptureStatus
from pipeline.orchestrate.steps import fetch_batch
from pipeline.sources import Source, SourceKind, load_sources

WINDOW = (datetime(2015, 9, 21, tzinfo=UTC), datetime(2015, 9, 22, tzinfo=UTC))


def test_a_broken_source_is_reported_and_the_batch_goes_on(settings: Settings, newsroom: object,
                                                           tmp_path: Path) -> None:
    s = wired(settings, tmp_path / "home", newsroom)
    good = load_sources(s.sources)
    broken = Source(id="broken", name="a malformed entry", kind=SourceKind.URLS, urls=(None,))  # type: ignore[arg-type]
    args = (s, [], WINDOW, "run-1", "nightly_ingest")
    with pytest.raises(FetchBatchError) as err:
        fetch_batch(*args, batch=0, label="2015-09-21", sources=[broken, *good])
    assert set(err.value.failures) == {"broken"}
    assert pickle.loads(pickle.dumps(err.value)).failures == err.value.failures
    ledger = CaptureLedger(s.ledger_db)
    # The good sources' WARCs were kept and recorded; so was what the broken one wrote before it
    # failed: whatever a fetch wrote is processed, never left to a process that is gone.
    assert {c.status for c in ledger.list()} == {CaptureStatus.PENDING} and len(ledger.list()) == len(good) + 1

    # The last try returns the partial result instead of raising.
    result = fetch_batch(*args, batch=0, label="2015-09-21", sources=[broken, *good], raise_on_error=False)
    assert result["sources"]["broken"] == {"source_error": 1}
    articles = len(newsroom.article_urls(date(2015, 9, 21), date(2015, 9, 22)))  # type: ignore[attr-defined]
    assert sum(result["sources"][g.id].get("ok", 0) for g in good) >= articles
    assert len(result["warcs"]) == len(good) and all(Path(w).is_file() for w in result["warcs"])
