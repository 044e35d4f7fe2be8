"""The run report: one record per URL attempted, counts per source and outcome, as JSON and as a table.

Every URL leaves the report masked (``pipeline.urls.masked``): a feed's link or a redirect can carry
someone's ``user:password@`` or ``?token=``, and a report is read and shared far more widely than the
state it describes. The records in memory keep the URLs as fetched, so the run can match them.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.discover.candidates import Window
from pipeline.models import format_datetime
from pipeline.outcomes import Outcome, Tally
from pipeline.urls import mask_urls, mask_values, masked


@dataclass
class UrlRecord:
    url: str
    source: str
    outcome: str  # an Outcome value
    status: int | None
    bytes: int
    redirects: list[str]
    seconds: float
    kind: str = "article"  # article | rss | sitemap | archive
    reason: str = ""
    canonical_url: str | None = None
    change: str | None = None  # new | changed | unchanged (articles only)
    attempts: int = 1


@dataclass
class FetchReport:
    run_id: str
    window: Window | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    warc_files: list[str] = field(default_factory=list)
    records: list[UrlRecord] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # documents discovery chose not to read
    robots: list[dict[str, Any]] = field(default_factory=list)  # robots.txt attempts
    duplicates: Counter[str] = field(default_factory=Counter)  # candidates dropped as already listed this run
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: UrlRecord) -> None:
        with self._lock:
            self.records.append(record)

    def mark(self, url: str, outcome: Outcome, reason: str) -> None:
        """Change the outcome of a URL already recorded (a feed fetched fine but unparseable)."""
        with self._lock:
            for record in reversed(self.records):
                if record.url == url:
                    record.outcome, record.reason = outcome.value, reason
                    return

    def finish(self) -> None:
        self.finished_at = datetime.now(UTC)

    @property
    def seconds(self) -> float:
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()

    def counts_by_source(self) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for record in self.records:
            counts[record.source][record.outcome] += 1
        return {source: dict(sorted(c.items())) for source, c in sorted(counts.items())}

    def counts_by_outcome(self) -> dict[str, int]:
        return dict(sorted(Counter(r.outcome for r in self.records).items()))

    def changes_by_source(self) -> dict[str, dict[str, int]]:
        changes: dict[str, Counter[str]] = defaultdict(Counter)
        for record in self.records:
            if record.change:
                changes[record.source][record.change] += 1
        return {source: dict(sorted(c.items())) for source, c in sorted(changes.items())}

    def changes(self) -> dict[str, int]:
        return dict(sorted(Counter(r.change for r in self.records if r.change).items()))

    def tally(self) -> Tally:
        tally = Tally()
        for record in self.records:
            tally.add(record.outcome, record.reason)
        return tally

    def to_dict(self) -> dict[str, Any]:
        bytes_by_source: Counter[str] = Counter()
        for record in self.records:
            bytes_by_source[record.source] += record.bytes
        return {
            "run_id": self.run_id,
            "window": [format_datetime(w) for w in self.window] if self.window else None,
            "started_at": format_datetime(self.started_at),
            "finished_at": format_datetime(self.finished_at) if self.finished_at else None,
            "seconds": round(self.seconds, 3),
            "warc_files": [masked(w) for w in self.warc_files],
            # Counts at the top level, so a reader needs no knowledge of the nesting.
            "by_outcome": self.counts_by_outcome(),
            "by_source": self.counts_by_source(),
            "changes": self.changes(),
            "changes_by_source": self.changes_by_source(),
            "bytes_by_source": dict(sorted(bytes_by_source.items())),
            "duplicates_by_source": dict(sorted(self.duplicates.items())),
            "urls": [_masked_record(r) for r in self.records],
            "skipped": [mask_values(s) for s in self.skipped],
            "robots": [mask_values(r) for r in self.robots],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def table(self) -> Any:
        """A rich Table: per source, the attempts by outcome, new/changed/unchanged, bytes and fetch time."""
        from rich.table import Table

        table = Table(title=f"fetch run {self.run_id} ({self.seconds:.1f}s)")
        for column in ("source", "attempts", "outcomes", "new", "changed", "unchanged", "bytes", "seconds"):
            table.add_column(column, justify="left" if column in ("source", "outcomes") else "right")
        per_source: dict[str, list[UrlRecord]] = defaultdict(list)
        for record in self.records:
            per_source[record.source].append(record)
        for source, records in sorted(per_source.items()):
            outcomes = Counter(r.outcome for r in records)
            changes = Counter(r.change for r in records if r.change)
            table.add_row(
                source,
                str(len(records)),
                ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
                str(changes.get("new", 0)),
                str(changes.get("changed", 0)),
                str(changes.get("unchanged", 0)),
                f"{sum(r.bytes for r in records):,}",
                f"{sum(r.seconds for r in records):.1f}",
            )
        return table


def _masked_record(record: UrlRecord) -> dict[str, Any]:
    fields = asdict(record)
    fields["url"] = masked(record.url)
    fields["canonical_url"] = masked(record.canonical_url) if record.canonical_url else record.canonical_url
    fields["redirects"] = [masked(r) for r in record.redirects]
    fields["reason"] = mask_urls(record.reason)  # "redirect back to https://...", exception texts
    return fields
