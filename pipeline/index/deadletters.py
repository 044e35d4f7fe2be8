"""Dead letters: list them from both stores, and replay them through the bulk path.

A dead letter lives in the dead-letter index `{prefix}-deadletter` (`_id` = article id, so the
same article failing again replaces its letter) or, when that index refused it or the engine
was gone, in the state store's fallback (`pipeline.state`): on one machine the JSON lines file
`{deadletter_dir}/{prefix}-deadletter.jsonl`, with a shared store (`CHANCERY_STATE_URL`) its
`deadletters` table, which every host lists and replays. Listings call that fallback "file". One
article may have letters in both; the newest (`failed_at`) is the one replayed.

Replay sends the stored documents to the write alias with `index_documents`, so they meet the
same retries, outcomes and dead letters as any ingest. Afterwards a letter is removed where its
article was indexed, superseded by a newer indexed copy, or failed again (its new letter
replaces it); letters still pending or without a document are kept. Index letters are deleted
only if unchanged since they were read (`if_seq_no`); fallback letters only as read (a file is
rewritten under its lock into a new file renamed over the old one, keeping every line appended
since it was read).
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from pipeline.config import Settings
from pipeline.index.bulk import (
    BulkResult,
    Delivery,
    IndexReport,
    document_action,
    ensure_write_alias,
    index_documents,
)
from pipeline.index.mapping import IndexNames
from pipeline.logs import get_logger, log_event
from pipeline.models import parse_datetime
from pipeline.outcomes import Tally
from pipeline.state import DeadLetterStore, open_state
from pipeline.state.base import LetterSnapshot, StoredLetter

log = get_logger("index.deadletters")

PAGE = 500  # letters per search page or mget
REASON_CHARS = 300  # of a reason, in listings


# ---------------------------------------------------------------------------------------------
# Reading both stores


@dataclass(frozen=True)
class _Fallback:
    """The fallback store and what it held when read: letters stored later are never touched."""

    store: DeadLetterStore
    snapshot: LetterSnapshot

    def letters(self) -> Iterator[StoredLetter]:
        return self.store.letters(self.snapshot)

    def remove(self, keys: set[str]) -> tuple[int, str]:
        return self.store.remove(self.snapshot, keys)


def _read_fallback(settings: Settings) -> _Fallback:
    store = open_state(settings).deadletters()
    return _Fallback(store, store.snapshot())


def _index_exists(es: Elasticsearch, index: str) -> bool:
    return bool(es.indices.exists(index=index))


def _index_hits(es: Elasticsearch, index: str, source: Any) -> Iterator[dict[str, Any]]:
    """Every letter of the dead-letter index, paged by article id (it is small and rarely written)."""
    if not _index_exists(es, index):
        return
    after: list[Any] | None = None
    while True:
        page = es.search(
            index=index,
            size=PAGE,
            sort=[{"article_id": "asc"}],
            search_after=after,
            source=source,
            seq_no_primary_term=True,
            track_total_hits=False,
        ).body["hits"]["hits"]
        if not page:
            return
        yield from page
        after = page[-1]["sort"]


def summarise(letter: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A letter as listings show it: everything but the document, and whether it can be replayed."""
    reason = str(letter.get("reason", ""))
    return {
        "article_id": letter.get("article_id"),
        "url": letter.get("url"),
        "status": letter.get("status"),
        "error_type": letter.get("error_type"),
        "reason": reason if len(reason) <= REASON_CHARS else reason[:REASON_CHARS] + "…",
        "failed_at": letter.get("failed_at"),
        "where": where,
        "replayable": _unreplayable_because(letter) is None,
    }


def _unreplayable_because(letter: Mapping[str, Any]) -> str | None:
    document = letter.get("document")
    if not isinstance(document, Mapping):
        return "no document stored: it failed before the document was built"
    if not document.get("id"):
        return "the stored document has no id"
    return None


@dataclass
class DeadLetterListing:
    index: str
    file: str
    in_index: int | None = None  # None: the index could not be read (see index_error)
    in_file: int = 0
    unreadable_lines: int = 0  # file lines that are not letters; kept, never replayed
    by_reason: dict[str, dict[str, int]] = field(default_factory=dict)  # error type -> {"index": n, "file": n}
    latest: list[dict[str, Any]] = field(default_factory=list)
    index_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_file_letters(settings: Settings) -> int:
    """Letters in the fallback (`index status` shows them beside the index's count)."""
    return open_state(settings).deadletters().count()


def list_deadletters(es: Elasticsearch | None, settings: Settings, latest: int = 10) -> DeadLetterListing:
    """Counts by error type in both stores and the newest `latest` letters. Without a client
    (engine unreachable), the file alone."""
    names = IndexNames(settings.elasticsearch.index_prefix)
    fallback = _read_fallback(settings)
    listing = DeadLetterListing(index=names.deadletter, file=fallback.store.where)
    newest: list[tuple[str, int, dict[str, Any]]] = []  # (failed_at, arrival, summary): a bounded min-heap
    arrival = itertools.count()

    def consider(letter: Mapping[str, Any], where: str) -> None:
        entry = (str(letter.get("failed_at", "")), next(arrival), summarise(letter, where))
        if len(newest) < latest:
            heapq.heappush(newest, entry)
        elif latest > 0:
            heapq.heappushpop(newest, entry)

    if es is not None:
        try:
            listing.in_index = _list_index(es, names.deadletter, listing, latest, consider)
        except (ApiError, TransportError) as exc:
            listing.index_error = str(exc)
    for line in fallback.letters():
        if line.letter is None:
            listing.unreadable_lines += 1
            continue
        listing.in_file += 1
        counts = listing.by_reason.setdefault(str(line.letter.get("error_type")), {"index": 0, "file": 0})
        counts["file"] += 1
        consider(line.letter, "file")
    listing.latest = [entry[2] for entry in sorted(newest, key=lambda e: e[0], reverse=True)]
    return listing


def _list_index(
    es: Elasticsearch,
    index: str,
    listing: DeadLetterListing,
    latest: int,
    consider: Callable[[Mapping[str, Any], str], None],
) -> int:
    if not _index_exists(es, index):
        return 0
    response = es.search(
        index=index,
        size=latest,
        sort=[{"failed_at": "desc"}],
        aggs={"reasons": {"terms": {"field": "error_type", "size": 1000}}},
        track_total_hits=True,
    ).body
    for bucket in response["aggregations"]["reasons"]["buckets"]:
        listing.by_reason.setdefault(str(bucket["key"]), {"index": 0, "file": 0})["index"] = int(bucket["doc_count"])
    for hit in response["hits"]["hits"]:
        consider(hit["_source"], "index")
    return int(response["hits"]["total"]["value"])


# ---------------------------------------------------------------------------------------------
# Replay


@dataclass
class ReasonReplay:
    """What replay did with the letters of one error type."""

    replayed: int = 0  # indexed now; letter removed
    superseded: int = 0  # a newer copy of the article is already indexed; letter removed
    still_failing: int = 0  # failed again: its new letter replaces the old one
    pending: int = 0  # the engine still refuses; letter kept
    not_replayable: int = 0  # no document to send; letter kept
    why_not_replayable: str = ""


@dataclass
class ReplayReport:
    by_reason: dict[str, ReasonReplay] = field(default_factory=dict)
    now_failing: dict[str, int] = field(default_factory=dict)  # error types of the documents that failed again
    removed_from_index: int = 0
    removed_from_file: int = 0
    file_left_alone: str = ""  # why the file was not rewritten (another retry rewrote it meanwhile)
    index: IndexReport | None = None

    @property
    def ok(self) -> bool:
        """Every replayable letter was resolved (letters without a document are reported, not failed)."""
        return all(r.still_failing == 0 and r.pending == 0 for r in self.by_reason.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "by_reason": {k: asdict(v) for k, v in sorted(self.by_reason.items())},
            "now_failing": self.now_failing,
            "removed_from_index": self.removed_from_index,
            "removed_from_file": self.removed_from_file,
            "file_left_alone": self.file_left_alone,
            "index": self.index.as_dict() if self.index else None,
        }


@dataclass(frozen=True)
class _Copy:
    """One stored letter of an article: enough to pick the newest and to remove it safely later."""

    article_id: str
    failed_at: str
    error_type: str
    where: str  # "index" or "file"
    digest: str = ""  # fallback: the letter's key there (a file line's hash, a table row's id)
    seq_no: int | None = None  # index: the version read, so a newer letter is never deleted
    primary_term: int | None = None


def retry_deadletters(es: Elasticsearch, settings: Settings, tally: Tally | None = None) -> ReplayReport:
    """Replay every replayable dead letter into the write alias; remove the resolved ones."""
    names = IndexNames(settings.elasticsearch.index_prefix)
    write_alias = ensure_write_alias(es, settings)
    snapshot = _read_fallback(settings)
    copies = _inventory(es, names.deadletter, snapshot)
    newest = {article_id: max(found, key=_recency) for article_id, found in copies.items()}
    report = ReplayReport()
    settled: dict[str, Delivery] = {}  # article id -> what became of it (INDEXED also for superseded)

    def reason_of(article_id: str) -> ReasonReplay:
        return report.by_reason.setdefault(newest[article_id].error_type, ReasonReplay())

    def on_result(result: BulkResult) -> None:
        article_id = str(result.action["_id"])
        settled[article_id] = result.delivery
        counts = reason_of(article_id)
        if result.delivery is Delivery.INDEXED:
            counts.replayed += 1
        elif result.delivery is Delivery.PENDING:
            counts.pending += 1
        else:
            counts.still_failing += 1
            report.now_failing[result.error_type] = report.now_failing.get(result.error_type, 0) + 1

    def actions() -> Iterator[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        for letter in _newest_letters(es, names.deadletter, snapshot, newest):
            article_id = str(letter["article_id"])
            why = _unreplayable_because(letter)
            if why is not None:
                counts = reason_of(article_id)
                counts.not_replayable += 1
                counts.why_not_replayable = why
                continue
            batch.append(letter)
            if len(batch) >= PAGE:
                yield from _unless_superseded(es, write_alias, batch, settled, reason_of)
                batch = []
        yield from _unless_superseded(es, write_alias, batch, settled, reason_of)

    log_event(log, "deadletter_replay_started", letters=len(newest), copies=sum(len(c) for c in copies.values()))
    report.index = index_documents(es, actions(), settings, tally or Tally(), on_result=on_result)
    # Old letters go where their article is settled: indexed, superseded, or failed again (a new
    # letter now stands for it). Pending and unreplayable ones stay.
    doomed = [
        copy
        for article_id, found in copies.items()
        if settled.get(article_id) in (Delivery.INDEXED, Delivery.FAILED)
        for copy in found
    ]
    report.removed_from_index = _delete_index_copies(es, names.deadletter, [c for c in doomed if c.where == "index"])
    removed, left_alone = snapshot.remove({c.digest for c in doomed if c.where == "file"})
    report.removed_from_file, report.file_left_alone = removed, left_alone
    log_event(
        log,
        "deadletter_replay_done",
        logging.INFO if report.ok else logging.WARNING,
        removed_from_index=report.removed_from_index,
        removed_from_file=report.removed_from_file,
        still_failing=sum(r.still_failing for r in report.by_reason.values()),
        pending=sum(r.pending for r in report.by_reason.values()),
    )
    return report


def _recency(copy: _Copy) -> tuple[str, bool]:
    return copy.failed_at, copy.where == "index"  # ISO 8601 UTC text sorts by time; a tie goes to the index


def _inventory(es: Elasticsearch, index: str, snapshot: _Fallback) -> dict[str, list[_Copy]]:
    """Every stored copy of every letter, without the documents (they may be many and large)."""
    copies: dict[str, list[_Copy]] = {}
    for hit in _index_hits(es, index, source=["article_id", "failed_at", "error_type"]):
        letter = hit["_source"]
        copies.setdefault(str(hit["_id"]), []).append(
            _Copy(
                str(hit["_id"]),
                str(letter.get("failed_at", "")),
                str(letter.get("error_type", "")),
                "index",
                seq_no=hit["_seq_no"],
                primary_term=hit["_primary_term"],
            )
        )
    for line in snapshot.letters():
        if line.letter is None:
            continue
        letter = line.letter
        article_id = str(letter["article_id"])
        copies.setdefault(article_id, []).append(
            _Copy(article_id, str(letter.get("failed_at", "")), str(letter.get("error_type", "")), "file", line.key)
        )
    return copies


def _newest_letters(
    es: Elasticsearch, index: str, snapshot: _Fallback, newest: Mapping[str, _Copy]
) -> Iterator[dict[str, Any]]:
    """The full newest letter of each article: from the index in mget pages, then from the file."""
    from_index = [c.article_id for c in newest.values() if c.where == "index"]
    for start in range(0, len(from_index), PAGE):
        docs = es.mget(index=index, ids=from_index[start : start + PAGE]).body["docs"]
        yield from (dict(doc["_source"]) for doc in docs if doc.get("found"))
    wanted = {c.digest for c in newest.values() if c.where == "file"}
    for line in snapshot.letters():
        if line.letter is not None and line.key in wanted:
            wanted.discard(line.key)  # an identical line twice is one letter
            yield line.letter


def _unless_superseded(
    es: Elasticsearch,
    write_alias: str,
    letters: list[dict[str, Any]],
    settled: dict[str, Delivery],
    reason_of: Callable[[str], ReasonReplay],
) -> Iterator[dict[str, Any]]:
    """Actions for the letters whose article has no newer copy indexed since it failed.

    A letter from Monday must not overwrite the copy Tuesday's ingest indexed: an indexed copy
    fetched later than the letter's document wins, and the letter is settled as superseded.
    """
    if not letters:
        return
    ids = [str(letter["article_id"]) for letter in letters]
    try:
        docs = es.mget(index=write_alias, ids=ids, source_includes=["fetched_at"]).body["docs"]
    except (ApiError, TransportError) as exc:
        # Cannot tell whether a newer copy exists: send nothing rather than risk replacing it.
        log_event(log, "deadletter_check_failed", logging.WARNING, letters=len(letters), reason=str(exc))
        for letter in letters:
            reason_of(str(letter["article_id"])).pending += 1
        return
    indexed_at = {str(doc["_id"]): parse_datetime(doc["_source"].get("fetched_at")) for doc in docs if doc.get("found")}
    for letter in letters:
        document = letter["document"]
        current = indexed_at.get(str(letter["article_id"]))
        mine = parse_datetime(document.get("fetched_at"))
        if current is not None and mine is not None and current > mine:
            settled[str(letter["article_id"])] = Delivery.INDEXED
            reason_of(str(letter["article_id"])).superseded += 1
            continue
        action = document_action(document, write_alias)
        action["_id"] = str(letter["article_id"])  # the letter's id is the one results are matched by
        yield action


def _delete_index_copies(es: Elasticsearch, index: str, copies: Iterable[_Copy]) -> int:
    """Delete letters that are still the version read; a letter rewritten since (409) stays."""
    removed = 0
    batch = list(copies)
    for start in range(0, len(batch), PAGE):
        operations = [
            {"delete": {"_index": index, "_id": c.article_id, "if_seq_no": c.seq_no, "if_primary_term": c.primary_term}}
            for c in batch[start : start + PAGE]
        ]
        try:
            response = es.bulk(operations=operations, refresh="wait_for")
        except (ApiError, TransportError) as exc:  # kept: the next retry settles them again
            log_event(log, "deadletter_delete_failed", logging.WARNING, letters=len(operations), reason=str(exc))
            continue
        for item in response["items"]:
            result = item["delete"]
            if result.get("status") in (200, 404):
                removed += int(result.get("status") == 200)
            elif result.get("status") != 409:
                reason = str(result.get("error"))
                log_event(log, "deadletter_delete_refused", logging.WARNING, id=result.get("_id"), reason=reason)
    return removed
