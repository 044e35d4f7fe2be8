"""Bulk indexing with one outcome per document and dead letters for every failure.

`article_action` is the pure builder: the `_id` is the article id (a hash of the canonical
URL), so a re-run overwrites instead of duplicating. `index_documents` streams actions through
`helpers.streaming_bulk` (chunked by count and bytes, 429/5xx retried with capped exponential
backoff) and turns every `(ok, info)` into an outcome. A failed document is counted as
`Outcome.INDEX_ERROR`, logged with its id and URL, and written with its reason to the
dead-letter index. When the engine goes away mid-batch, the unconfirmed documents go to JSON
lines under `settings.deadletter_dir` and `EngineUnavailable` is raised (nothing marked done).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elastic_transport import TransportError
from elasticsearch import Elasticsearch, helpers

from pipeline.config import Settings
from pipeline.index.client import HOW_TO_START, EngineUnavailable, is_unreachable
from pipeline.index.mapping import IndexNames
from pipeline.logs import get_logger, log_event
from pipeline.models import Article, format_datetime
from pipeline.outcomes import Outcome, Tally

log = get_logger("index.bulk")

# Transient statuses worth a retry: overload (429) and server-side trouble (5xx). Anything else
# (400 mapping errors, 409 conflicts) would fail the same way again.
RETRY_ON_STATUS = (429, 500, 502, 503, 504)
DEADLETTER_FLUSH = 200  # dead letters written per request; failures are rare, keep memory flat
LOGGED_FAILURES = 20  # per batch, failures past this are logged at debug (an engine outage is one story)


@dataclass(frozen=True)
class DeadLetter:
    article_id: str
    url: str | None
    index: str
    status: int | None
    error_type: str
    reason: str
    failed_at: str
    document: Mapping[str, Any] | None

    def as_document(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IndexReport:
    """What one bulk run did. `indexed == created + updated`; every failure is dead-lettered."""

    index: str
    indexed: int = 0
    created: int = 0
    updated: int = 0
    kept_existing: int = 0  # create-only runs (reindex): the target already had a newer copy
    failed: int = 0
    deadlettered_to_index: int = 0
    deadlettered_to_file: int = 0
    deadletter_file: str | None = None
    engine_unreachable: bool = False
    seconds: float = 0.0
    failure_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def docs_per_second(self) -> float:
        return (self.indexed + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.engine_unreachable

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "docs_per_second": round(self.docs_per_second, 1)}


def article_document(article: Article) -> dict[str, Any]:
    """The indexed document: exactly `Article.to_dict()`, which the mapping covers field by field."""
    return article.to_dict()


def article_action(article: Article, index: str) -> dict[str, Any]:
    """One bulk action; the document stays under `_source`, apart from the bulk metadata."""
    return document_action(article_document(article), index)


def document_action(document: Mapping[str, Any], index: str, op_type: str = "index") -> dict[str, Any]:
    """An action for a document in Article JSON form (its `id` becomes the `_id`)."""
    return {"_op_type": op_type, "_index": index, "_id": str(document["id"]), "_source": document}


def index_articles(es: Elasticsearch, articles: Iterable[Article], settings: Settings, tally: Tally) -> IndexReport:
    """Index articles into the write alias, setting the index up first if it does not exist yet."""
    write_alias = IndexNames(settings.elasticsearch.index_prefix).write_alias
    _ensure_write_alias(es, settings, write_alias)
    return index_documents(es, (article_action(a, write_alias) for a in articles), settings, tally)


def _ensure_write_alias(es: Elasticsearch, settings: Settings, write_alias: str) -> None:
    from pipeline.index.setup import setup_index  # setup builds on this module

    try:
        if not es.indices.exists_alias(name=write_alias):
            setup_index(es, settings)
    except TransportError as exc:
        if not is_unreachable(exc):
            raise
        # Not reported here: the bulk below meets the same outage, dead-letters and raises.
        log_event(log, "setup_skipped_engine_unreachable", logging.WARNING, reason=str(exc))


def index_documents(
    es: Elasticsearch,
    actions: Iterable[Mapping[str, Any]],
    settings: Settings,
    tally: Tally,
    keep_existing: bool = False,
    require_alias: bool = True,
) -> IndexReport:
    """Stream actions through bulk; one outcome per action, failures dead-lettered.

    With ``keep_existing`` (create-only actions, as reindex sends them) a version conflict
    means the target already holds a newer copy: counted as kept, not as a failure.
    ``require_alias`` (the default) makes a write to a missing alias fail instead of letting
    Elasticsearch auto-create a concrete index of that name with guessed mappings.
    """
    es_settings = settings.elasticsearch
    names = IndexNames(es_settings.index_prefix)
    first = _peek_index(actions)
    report = IndexReport(index=first.index)
    letters = DeadLetterWriter(es, settings, names, report)
    pending: dict[str, deque[Mapping[str, Any]]] = defaultdict(deque)
    stream = _tracked(first.actions, pending)
    started = time.perf_counter()
    try:
        for ok, item in helpers.streaming_bulk(
            es,
            stream,
            chunk_size=es_settings.bulk_chunk_docs,
            max_chunk_bytes=es_settings.bulk_chunk_bytes,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=es_settings.bulk_max_retries,
            initial_backoff=es_settings.bulk_initial_backoff,
            max_backoff=es_settings.bulk_max_backoff,
            retry_on_status=RETRY_ON_STATUS,
            require_alias=require_alias,
        ):
            info = next(iter(item.values()))
            action = _take(pending, info.get("_id"))
            _record(ok, info, action, report, tally, letters, keep_existing)
    except TransportError as exc:
        if not is_unreachable(exc):
            raise
        # The transport already retried: the engine is gone. What was sent but not confirmed is
        # dead-lettered to a file; the rest of the input is left unread, and the caller is told,
        # so nothing is marked done. A rerun of the same input is idempotent.
        report.engine_unreachable = True
        letters.to_file_only = True
        reason = f"engine unreachable: {exc}"
        log_event(log, "engine_unreachable", logging.ERROR, reason=reason, index=report.index)
        for queue in list(pending.values()):
            for action in queue:
                _fail(action, None, "engine_unreachable", reason, report, tally, letters)
        pending.clear()
        letters.flush()
        raise EngineUnavailable(
            f"Elasticsearch became unreachable while indexing into {report.index}: {report.indexed} indexed, "
            f"{report.deadlettered_to_file} unconfirmed written to {report.deadletter_file}; {HOW_TO_START}"
        ) from exc
    finally:
        letters.flush()
        report.seconds = time.perf_counter() - started
    log_event(
        log,
        "bulk_done",
        logging.WARNING if report.failed else logging.INFO,
        **{k: v for k, v in report.as_dict().items() if k != "failure_reasons"},
    )
    return report


@dataclass(frozen=True)
class _Peeked:
    index: str
    actions: Iterable[Mapping[str, Any]]


def _peek_index(actions: Iterable[Mapping[str, Any]]) -> _Peeked:
    """The target index name for the report, read from the first action without losing it."""
    iterator = iter(actions)
    first = next(iterator, None)
    if first is None:
        return _Peeked("", ())

    def chained() -> Iterator[Mapping[str, Any]]:
        yield first
        yield from iterator

    return _Peeked(str(first.get("_index", "")), chained())


def _tracked(actions: Iterable[Mapping[str, Any]], pending: dict[str, deque[Mapping[str, Any]]]) -> Iterator[Any]:
    """Remember each action until bulk reports on it, so a failure can be dead-lettered whole."""
    for action in actions:
        pending[str(action["_id"])].append(action)
        yield action


def _take(pending: dict[str, deque[Mapping[str, Any]]], doc_id: Any) -> Mapping[str, Any] | None:
    queue = pending.get(str(doc_id))
    if not queue:
        return None
    action = queue.popleft()
    if not queue:
        del pending[str(doc_id)]
    return action


def _record(
    ok: bool,
    info: Mapping[str, Any],
    action: Mapping[str, Any] | None,
    report: IndexReport,
    tally: Tally,
    letters: DeadLetterWriter,
    keep_existing: bool,
) -> None:
    if ok:
        report.indexed += 1
        if info.get("result") == "created":
            report.created += 1
        else:
            report.updated += 1
        tally.add(Outcome.INDEXED)
        return
    status = info.get("status")
    if keep_existing and status == 409:
        report.kept_existing += 1
        return
    error_type, reason = describe_error(info)
    if action is None:  # cannot happen with ids from our own actions; keep the evidence anyway
        action = {"_id": info.get("_id"), "_index": info.get("_index"), "_source": None}
    _fail(action, status, error_type, reason, report, tally, letters)


def _fail(
    action: Mapping[str, Any],
    status: int | None,
    error_type: str,
    reason: str,
    report: IndexReport,
    tally: Tally,
    letters: DeadLetterWriter,
) -> None:
    document = action.get("_source")
    url = document.get("url") if isinstance(document, Mapping) else None
    report.failed += 1
    report.failure_reasons[error_type] = report.failure_reasons.get(error_type, 0) + 1
    tally.add(Outcome.INDEX_ERROR, f"{error_type}: {reason}")
    level = logging.WARNING if report.failed <= LOGGED_FAILURES else logging.DEBUG
    log_event(
        log,
        "index_failed",
        level,
        id=action.get("_id"),
        url=url,
        status=status,
        error=error_type,
        reason=reason,
    )
    letters.add(
        DeadLetter(
            article_id=str(action.get("_id")),
            url=url if isinstance(url, str) else None,
            index=str(action.get("_index", report.index)),
            status=status,
            error_type=error_type,
            reason=reason,
            failed_at=format_datetime(datetime.now(UTC)),
            document=document if isinstance(document, Mapping) else None,
        )
    )


def describe_error(info: Mapping[str, Any]) -> tuple[str, str]:
    """(error type, readable reason) from a bulk item, including the root cause ES gives."""
    error = info.get("error")
    if isinstance(error, Mapping):
        error_type = str(error.get("type", "unknown"))
        reason = str(error.get("reason", ""))
        cause = error.get("caused_by")
        if isinstance(cause, Mapping) and cause.get("reason"):
            reason = f"{reason}: {cause.get('type')}: {cause.get('reason')}"
        return error_type, reason
    exception = info.get("exception")
    error_type = type(exception).__name__ if exception is not None else f"http_{info.get('status')}"
    return error_type, str(error or exception or "unknown error")


class DeadLetterWriter:
    """Buffers dead letters and writes them to `{prefix}-deadletter`, else to a JSONL file."""

    def __init__(self, es: Elasticsearch, settings: Settings, names: IndexNames, report: IndexReport) -> None:
        self.es = es
        self.index = names.deadletter
        self.file = Path(settings.deadletter_dir) / f"{names.prefix}-deadletter.jsonl"
        self.report = report
        self.buffer: list[DeadLetter] = []
        self.to_file_only = False

    def add(self, letter: DeadLetter) -> None:
        self.buffer.append(letter)
        if len(self.buffer) >= DEADLETTER_FLUSH:
            self.flush()

    def flush(self) -> None:
        letters, self.buffer = self.buffer, []
        if not letters:
            return
        leftover = letters if self.to_file_only else self._to_index(letters)
        if leftover:
            self._to_file(leftover)

    def _to_index(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        """Write to the dead-letter index; returns the letters that could not be written there."""
        operations: list[dict[str, Any]] = []
        for letter in letters:
            # The article id as _id: the same article failing again replaces its old letter.
            operations.append({"index": {"_index": self.index, "_id": letter.article_id}})
            operations.append(letter.as_document())
        try:
            response = self.es.bulk(operations=operations, refresh="wait_for")
        except TransportError as exc:
            log_event(log, "deadletter_index_unavailable", logging.ERROR, reason=str(exc), file=str(self.file))
            self.to_file_only = is_unreachable(exc)
            return letters
        leftover = []
        for letter, item in zip(letters, response["items"], strict=True):
            result = next(iter(item.values()))
            if 200 <= result.get("status", 500) < 300:
                self.report.deadlettered_to_index += 1
            else:
                log_event(
                    log,
                    "deadletter_rejected",
                    logging.ERROR,
                    id=letter.article_id,
                    reason=str(result.get("error")),
                )
                leftover.append(letter)
        return leftover

    def _to_file(self, letters: list[DeadLetter]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with self.file.open("a", encoding="utf-8") as out:
            for letter in letters:
                out.write(json.dumps(letter.as_document(), ensure_ascii=False, default=str) + "\n")
        self.report.deadlettered_to_file += len(letters)
        self.report.deadletter_file = str(self.file)
