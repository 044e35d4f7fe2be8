"""Bulk indexing where every document ends indexed, dead-lettered with its reason, or pending.

`article_action` is the pure builder: the `_id` is the article id (a hash of the canonical
URL), so a re-run overwrites instead of duplicating. `stream_bulk` is the streaming core, in
the style of `elasticsearch.helpers.streaming_bulk` but built for back-pressure: it chunks by
count and bytes, reads the per-item results and re-sends only the items the engine refused for
now (429, `es_rejected_execution_exception`, 502/503/504, a write block), with capped
exponential backoff and full jitter; the chunk size halves under pressure and grows back after
successes. While the engine accepts nothing for `retry_budget_seconds`, the remaining items are
yielded as pending: never sent again in this run, never dead-lettered, never lost.
(`helpers.streaming_bulk` re-sends whole chunks on a request-level 429, so items that already
succeeded would be written twice, and raises on any other whole-request error.)

`index_documents` turns each result into an outcome: `Outcome.INDEXED`, `Outcome.INDEX_ERROR`
(logged with id and URL and written with its reason to the dead-letter index, else to the state
store's fallback: JSON lines under `settings.deadletter_dir`, or the shared store's table) or
`Outcome.INDEX_PENDING`. When the engine goes away mid-batch, the unconfirmed documents go to
that fallback and `EngineUnavailable` is raised.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from elastic_transport import SerializationError, TransportError
from elasticsearch import ApiError, Elasticsearch, helpers

from pipeline.config import Settings
from pipeline.index.client import HOW_TO_START, EngineUnavailable, is_unreachable
from pipeline.index.mapping import DEADLETTER_MAPPINGS, IndexNames
from pipeline.logs import get_logger, log_event
from pipeline.models import Article, format_datetime
from pipeline.outcomes import Outcome, Tally

log = get_logger("index.bulk")

# Refusals that mean "not now": the engine is overloaded (429: a full write queue, a circuit
# breaker), a proxy or node is restarting (502/503/504), or the index is blocked for writes
# (`index.blocks.write`, read_only_allow_delete at the flood-stage watermark), which an operator
# lifts. A 500, a 400 mapping error or a 403 security refusal would fail the same way again.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_ERROR_TYPES = frozenset({"es_rejected_execution_exception", "cluster_block_exception"})
DEADLETTER_FLUSH = 200  # dead letters written per request; failures are rare, keep memory flat
LOGGED_FAILURES = 20  # per batch, failures past this are logged at debug (an engine outage is one story)
PROGRESS_EVERY_SECONDS = 10.0


def is_back_pressure(status: int | None, error_type: str) -> bool:
    """True for a refusal worth waiting out (the item or request is re-sent later)."""
    return status in RETRY_STATUSES or error_type in RETRY_ERROR_TYPES


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
    """What one bulk run did. Every document is counted once: indexed, failed or pending.

    `indexed == created + updated`; `failed` documents are dead-lettered (index or file);
    `pending` ones were neither indexed nor dead-lettered because the engine kept refusing past
    the retry budget: the caller must leave their input pending and run it again.
    """

    index: str
    indexed: int = 0
    created: int = 0
    updated: int = 0
    kept_existing: int = 0  # create-only runs (reindex): the target already had a newer copy
    failed: int = 0
    pending: int = 0
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
        return self.failed == 0 and self.pending == 0 and not self.engine_unreachable

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
    write_alias = ensure_write_alias(es, settings)
    return index_documents(es, (article_action(a, write_alias) for a in articles), settings, tally)


def ensure_write_alias(es: Elasticsearch, settings: Settings) -> str:
    """The write alias, after setting the index up if the alias does not exist yet."""
    from pipeline.index.setup import setup_index  # setup builds on this module

    write_alias = IndexNames(settings.elasticsearch.index_prefix).write_alias
    try:
        if not es.indices.exists_alias(name=write_alias):
            setup_index(es, settings)
    except (ApiError, TransportError) as exc:
        if isinstance(exc, TransportError) and not is_unreachable(exc):
            raise
        # Not reported here: the bulk below meets the same outage or refusal and dead-letters,
        # retries or raises (require_alias keeps a missing alias from auto-creating an index).
        log_event(log, "setup_skipped", logging.WARNING, reason=str(exc))
    return write_alias


# ---------------------------------------------------------------------------------------------
# The streaming core


class Delivery(str, Enum):
    INDEXED = "indexed"
    FAILED = "failed"  # for good: the caller dead-letters it (or, for create-only runs, a 409 is "kept")
    PENDING = "pending"  # still refused when the retry budget ran out; not sent again in this run


@dataclass(frozen=True)
class BulkResult:
    """What became of one action."""

    action: Mapping[str, Any]
    delivery: Delivery
    status: int | None = None
    error_type: str = ""
    reason: str = ""
    result: str = ""  # the engine's word on a success: "created", "updated"


class EngineGone(Exception):
    """The transport gave up reaching the engine; `unconfirmed` are the actions read but not confirmed."""

    def __init__(self, unconfirmed: list[Mapping[str, Any]], cause: TransportError) -> None:
        super().__init__(str(cause))
        self.unconfirmed = unconfirmed
        self.cause = cause


@dataclass(frozen=True)
class _Item:
    action: Mapping[str, Any]
    lines: tuple[bytes, ...]  # the action line and the document line, serialised once for every attempt
    size: int


@dataclass(frozen=True)
class _Round:
    refused: list[_Item]
    progress: bool  # some item got its final answer (success or failure)
    refusal: str = ""  # status, type and reason of the last refusal, for the logs and the pending reason


class _Pressure:
    """Chunk size and waiting under back-pressure: halve on refusal, grow back on success.

    The budget counts the time since the engine last gave any item a final answer; it restarts
    whenever a round makes progress, so a slow but moving engine is ridden out whatever it takes.
    """

    def __init__(self, settings: Settings) -> None:
        es_settings = settings.elasticsearch
        self.ceiling = max(1, es_settings.bulk_chunk_docs)
        self.floor = max(1, min(es_settings.bulk_min_chunk_docs, self.ceiling))
        self.chunk_docs = self.ceiling
        self.initial_backoff = es_settings.bulk_initial_backoff
        self.max_backoff = es_settings.bulk_max_backoff
        self.budget = es_settings.retry_budget_seconds
        self.stalled_since: float | None = None
        self.refusals = 0  # consecutive refused rounds without progress: the backoff exponent

    def accepted(self) -> None:
        self.chunk_docs = min(self.ceiling, self.chunk_docs * 2)
        self.stalled_since = None
        self.refusals = 0

    def refused(self, progress: bool) -> float | None:
        """Seconds to wait before the next attempt, or None when the budget is spent."""
        now = time.monotonic()
        self.chunk_docs = max(self.floor, self.chunk_docs // 2)
        if progress or self.stalled_since is None:
            self.stalled_since = now
            self.refusals = 0
        left = self.budget - (now - self.stalled_since)
        if left <= 0:
            return None
        ceiling = min(self.max_backoff, self.initial_backoff * 2**self.refusals)
        self.refusals += 1
        return min(left, random.uniform(0, ceiling))  # full jitter: parallel writers spread out


def stream_bulk(
    es: Elasticsearch, actions: Iterable[Mapping[str, Any]], settings: Settings, require_alias: bool = True
) -> Iterator[BulkResult]:
    """One `BulkResult` per action, in no guaranteed order; retries only what the engine refused.

    Raises `EngineGone` when the engine cannot be reached at all (the transport has already
    retried the connection); every other failure of a request or an item is a result.
    """
    # The transport would re-send a 429/502/503/504 at once; here they wait, item by item.
    client = es.options(retry_on_status=())
    serializer = es.transport.serializers.get_serializer("application/json")
    max_bytes = settings.elasticsearch.bulk_chunk_bytes
    pressure = _Pressure(settings)
    source = iter(actions)
    queue: deque[_Item] = deque()  # read, not yet answered; refused items go back to its front
    exhausted = False
    while True:
        while not exhausted and len(queue) < pressure.chunk_docs:
            action = next(source, None)
            if action is None:
                exhausted = True
                break
            try:
                queue.append(_serialise(action, serializer))
            except SerializationError as exc:  # this document cannot be JSON: bad input, not a bad batch
                yield BulkResult(action, Delivery.FAILED, None, "serialization_error", str(exc))
        if not queue:
            return
        piece = _take(queue, pressure.chunk_docs, max_bytes)
        try:
            answer = yield from _send(client, piece, require_alias)
        except TransportError as exc:  # _send lets through only "unreachable"
            raise EngineGone([i.action for i in piece] + [i.action for i in queue], exc) from exc
        if not answer.refused:
            pressure.accepted()
            continue
        queue.extendleft(reversed(answer.refused))
        wait = pressure.refused(answer.progress)
        if wait is None:
            reason = f"engine still refusing after the {pressure.budget:g} s retry budget: {answer.refusal}"
            log_event(log, "retry_budget_spent", logging.ERROR, pending=len(queue), reason=reason)
            for item in queue:
                yield BulkResult(item.action, Delivery.PENDING, reason=reason)
            # The rest of the input is read but not sent, so every document is counted.
            for action in source:
                yield BulkResult(action, Delivery.PENDING, reason=reason)
            return
        log_event(
            log,
            "bulk_backpressure",
            logging.WARNING if pressure.refusals == 1 else logging.INFO,
            refused=len(answer.refused),
            sent=len(piece),
            chunk_docs=pressure.chunk_docs,
            wait=round(wait, 2),
            refusal=answer.refusal,
        )
        time.sleep(wait)


def _serialise(action: Mapping[str, Any], serializer: Any) -> _Item:
    header, body = helpers.expand_action(action)  # type: ignore[arg-type]  # the helpers' own action format
    lines = (serializer.dumps(header),) if body is None else (serializer.dumps(header), serializer.dumps(body))
    return _Item(action, lines, sum(len(line) + 1 for line in lines))


def _take(queue: deque[_Item], max_docs: int, max_bytes: int) -> list[_Item]:
    piece: list[_Item] = []
    size = 0
    while queue and len(piece) < max_docs and (not piece or size + queue[0].size <= max_bytes):
        item = queue.popleft()
        piece.append(item)
        size += item.size
    return piece


def _send(client: Elasticsearch, piece: list[_Item], require_alias: bool) -> Generator[BulkResult, None, _Round]:
    """One bulk request: yields the final results, returns what was refused for now."""
    try:
        operations: Any = [line for item in piece for line in item.lines]  # pre-serialised NDJSON lines
        response = client.bulk(operations=operations, require_alias=require_alias)
    except ApiError as exc:  # the whole request: 429, 5xx, 401, 403 ...
        status, error_type, reason = describe_api_error(exc)
        if is_back_pressure(status, error_type):
            return _Round(piece, progress=False, refusal=f"{status} {error_type}: {reason}")
        for item in piece:
            yield BulkResult(item.action, Delivery.FAILED, status, error_type, reason)
        return _Round([], progress=True)
    except TransportError as exc:
        if is_unreachable(exc):
            raise
        # A response the client cannot read (a proxy's garbage, a TLS mix-up mid-stream): the
        # documents' fate is unknown, so they are dead-lettered for replay.
        for item in piece:
            yield BulkResult(item.action, Delivery.FAILED, None, type(exc).__name__, str(exc))
        return _Round([], progress=True)
    refused: list[_Item] = []
    refusal = ""
    for item, entry in zip(piece, response["items"], strict=True):
        info = next(iter(entry.values()))
        status = int(info.get("status", 500))
        if 200 <= status < 300:
            yield BulkResult(item.action, Delivery.INDEXED, status, result=str(info.get("result", "")))
            continue
        error_type, reason = describe_error(info)
        if is_back_pressure(status, error_type):
            refused.append(item)
            refusal = f"{status} {error_type}: {reason}"
        else:
            yield BulkResult(item.action, Delivery.FAILED, status, error_type, reason)
    return _Round(refused, progress=len(refused) < len(piece), refusal=refusal)


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


def describe_api_error(exc: ApiError) -> tuple[int, str, str]:
    """(status, error type, reason) of a refused request; a body that is not ES JSON is kept as text."""
    body = exc.body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error_type, reason = describe_error(body)
        return exc.status_code, error_type, reason
    text = str(body.get("error", body) if isinstance(body, Mapping) else body or exc.message)
    return exc.status_code, f"http_{exc.status_code}", text[:500]


# ---------------------------------------------------------------------------------------------
# Outcomes


def index_documents(
    es: Elasticsearch,
    actions: Iterable[Mapping[str, Any]],
    settings: Settings,
    tally: Tally,
    keep_existing: bool = False,
    require_alias: bool = True,
    on_result: Callable[[BulkResult], None] | None = None,
) -> IndexReport:
    """Stream actions through bulk; one outcome per action, failures dead-lettered.

    With ``keep_existing`` (create-only actions, as reindex sends them) a version conflict
    means the target already holds a newer copy: counted as kept, not as a failure.
    ``require_alias`` (the default) makes a write to a missing alias fail instead of letting
    Elasticsearch auto-create a concrete index of that name with guessed mappings.
    ``on_result`` sees every result after it is counted (dead-letter replay uses it).
    """
    names = IndexNames(settings.elasticsearch.index_prefix)
    first = _peek_index(actions)
    report = IndexReport(index=first.index)
    letters = DeadLetterWriter(es, settings, names, report)
    started = time.perf_counter()
    next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS
    try:
        for result in stream_bulk(es, first.actions, settings, require_alias):
            _account(result, report, tally, letters, keep_existing)
            if on_result is not None:
                on_result(result)
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS
                log_event(
                    log,
                    "bulk_progress",
                    index=report.index,
                    indexed=report.indexed,
                    failed=report.failed,
                    pending=report.pending,
                    docs_per_second=round(report.indexed / (time.perf_counter() - started), 1),
                )
    except EngineGone as gone:
        # The transport already retried: the engine is gone. What was read but not confirmed is
        # dead-lettered to a file; the rest of the input is left unread, and the caller is told,
        # so nothing is marked done. A rerun of the same input is idempotent.
        report.engine_unreachable = True
        letters.to_file_only = True
        reason = f"engine unreachable: {gone.cause}"
        log_event(log, "engine_unreachable", logging.ERROR, reason=reason, index=report.index)
        for action in gone.unconfirmed:
            _fail(action, None, "engine_unreachable", reason, report, tally, letters)
        letters.flush()
        raise EngineUnavailable(
            f"Elasticsearch became unreachable while indexing into {report.index}: {report.indexed} indexed, "
            f"{report.deadlettered_to_file} unconfirmed written to {report.deadletter_file}; {HOW_TO_START}"
        ) from gone.cause
    finally:
        letters.flush()
        report.seconds = time.perf_counter() - started
    log_event(
        log,
        "bulk_done",
        logging.WARNING if report.failed or report.pending else logging.INFO,
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


def _account(
    result: BulkResult, report: IndexReport, tally: Tally, letters: DeadLetterWriter, keep_existing: bool
) -> None:
    if result.delivery is Delivery.INDEXED:
        report.indexed += 1
        if result.result == "created":
            report.created += 1
        else:
            report.updated += 1
        tally.add(Outcome.INDEXED)
    elif result.delivery is Delivery.PENDING:
        report.pending += 1
        tally.add(Outcome.INDEX_PENDING, result.reason)
    elif keep_existing and result.status == 409:
        report.kept_existing += 1
    else:
        _fail(result.action, result.status, result.error_type, result.reason, report, tally, letters)


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


# ---------------------------------------------------------------------------------------------
# Dead letters


class DeadLetterWriter:
    """Buffers dead letters and writes them to `{prefix}-deadletter`, else to the state store's fallback.

    A letter leaves the buffer only once it is stored: what the index refuses, item by item or
    as a whole request, goes to the fallback (the JSONL file, or the shared store's table); if
    that cannot be written either, the error is raised with the letters still buffered.
    """

    def __init__(self, es: Elasticsearch, settings: Settings, names: IndexNames, report: IndexReport) -> None:
        from pipeline.state import open_state

        self.es = es
        self.index = names.deadletter
        self.fallback = open_state(settings).deadletters()
        self.report = report
        self.buffer: list[DeadLetter] = []
        self.to_file_only = False
        self.index_checked = False

    def add(self, letter: DeadLetter) -> None:
        self.buffer.append(letter)
        if len(self.buffer) >= DEADLETTER_FLUSH:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        self.buffer = self.buffer if self.to_file_only else self._to_index(self.buffer)
        if self.buffer:
            self._to_file(self.buffer)
            self.buffer = []

    def _to_index(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        """Write to the dead-letter index; returns the letters that could not be written there."""
        operations: list[dict[str, Any]] = []
        for letter in letters:
            # The article id as _id: the same article failing again replaces its old letter.
            operations.append({"index": {"_index": self.index, "_id": letter.article_id}})
            operations.append(letter.as_document())
        try:
            if not self.index_checked:
                # Created with its strict mapping if missing: a bulk write would auto-create it
                # with guessed mappings, which then refuse the next letter's document.
                from pipeline.index.setup import ensure_side_index  # setup builds on this module

                ensure_side_index(self.es, self.index, DEADLETTER_MAPPINGS)
                self.index_checked = True
            response = self.es.bulk(operations=operations, refresh="wait_for")
        except (ApiError, TransportError) as exc:
            log_event(log, "deadletter_index_refused", logging.ERROR, reason=str(exc), file=self.fallback.where)
            self.to_file_only = isinstance(exc, TransportError) and is_unreachable(exc)
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
        self.fallback.append([letter.as_document() for letter in letters])
        self.report.deadlettered_to_file += len(letters)
        self.report.deadletter_file = self.fallback.where
