"""Every item ends in exactly one named outcome; counts are kept by outcome.

Fetch outcomes name what happened on the wire; processing outcomes name why an
item did or did not become an indexed article. No bare None, no ValueError as
control flow: a stage that rejects an item says which of these it was.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.models import Article


class Outcome(str, Enum):
    # fetching
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    UNCHANGED = "unchanged"  # seen before with the same content: not refetched
    ROBOTS_DISALLOWED = "robots_disallowed"
    TOO_LARGE = "too_large"
    BAD_CONTENT_TYPE = "bad_content_type"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    SSRF_BLOCKED = "ssrf_blocked"
    DECODE_ERROR = "decode_error"
    # an archive capture whose page states a date outside the run's window (archives are queried past the
    # window's end, since captures lag publication): not captured, so the right window still finds it
    OUTSIDE_WINDOW = "outside_window"
    # processing
    INDEXED = "indexed"
    PROCESSED = "processed"
    NOT_ARTICLE = "not_article"  # section front, paywall stub, consent wall ...
    EMPTY = "empty"
    PARSE_ERROR = "parse_error"
    BAD_RECORD = "bad_record"  # unreadable input: truncated WARC, bad sidecar ...
    INDEX_ERROR = "index_error"  # dead-lettered with its reason
    INDEX_PENDING = "index_pending"  # the engine kept refusing past the retry budget: neither indexed nor dead-lettered
    # the relevance gate: an article of a `scope: diplomacy` source that is not about international relations;
    # not enriched or indexed, its capture and offset kept for a replay with a wider scope (pipeline/gate.py)
    OUT_OF_SCOPE = "out_of_scope"
    WORKER_DIED = "worker_died"  # the worker process died on this page twice (OOM, a crash in a C extension)


@dataclass(frozen=True)
class StageResult:
    """What a stage did with one item: the article it produced (if any), its outcome and why."""

    outcome: Outcome
    article: Article | None = None
    reason: str = ""
    url: str = ""

    @property
    def ok(self) -> bool:
        return self.article is not None


@dataclass
class Tally:
    """Counts by outcome, with one example reason kept per outcome for the summary."""

    counts: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, str] = field(default_factory=dict)
    # Per source, because a source whose extraction suddenly fails must stand out.
    by_source: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, outcome: Outcome | str, reason: str = "", source: str | None = None) -> None:
        key = outcome.value if isinstance(outcome, Outcome) else outcome
        self.counts[key] += 1
        if reason and key not in self.reasons:
            self.reasons[key] = reason
        if source:
            self.by_source.setdefault(source, Counter())[key] += 1

    def merge(self, other: Tally) -> None:
        self.counts.update(other.counts)
        for key, reason in other.reasons.items():
            self.reasons.setdefault(key, reason)
        for source, counts in other.by_source.items():
            self.by_source.setdefault(source, Counter()).update(counts)

    def source_counts(self) -> dict[str, dict[str, int]]:
        return {source: dict(sorted(c.items())) for source, c in sorted(self.by_source.items())}

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))
