"""Index lifecycle: the analysis probe, idempotent setup, client-side reindex with alias swaps.

Layout for prefix `articles`: a composable template `articles-template` for `articles-v*`,
concrete indices `articles-v1`, `articles-v2` …, the read alias `articles` and the write alias
`articles-write` (both on one concrete index except while a reindex runs), plus
`articles-deadletter`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError

from pipeline.config import Settings
from pipeline.index.bulk import IndexReport, document_action, index_documents
from pipeline.index.deadletters import count_file_letters
from pipeline.index.mapping import (
    DEADLETTER_MAPPINGS,
    MAPPING_VERSION,
    SIDE_INDEX_SETTINGS,
    AnalysisDecision,
    IndexNames,
    article_mappings,
    decide_analysis,
    hunspell_probe_request,
    template_body,
)
from pipeline.logs import get_logger, log_event
from pipeline.outcomes import Tally
from pipeline.state import open_state

log = get_logger("index.setup")

SCAN_BATCH = 1000  # documents per PIT page during reindex
PIT_KEEP_ALIVE = "5m"


class IndexLayoutError(RuntimeError):
    """The aliases are in a state setup did not create and will not guess how to repair."""


@dataclass(frozen=True)
class IndexState:
    """Where the aliases point after setup, and whether a reindex is due."""

    prefix: str
    analysis: str
    analysis_reason: str
    read_index: str | None  # behind the read alias
    write_index: str | None  # behind the write alias
    current_index: str  # the index with today's mapping (== read_index unless a reindex is due)
    created: bool  # current_index was created by this call
    reindex_needed: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReindexReport:
    source: str | None
    target: str | None
    copied: int
    kept_newer: int
    failed: int
    swapped: bool
    seconds: float
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# What the engine offers


def engine_modules(es: Elasticsearch) -> set[str]:
    """Module and plugin names present on every node (a filter must work wherever a shard lands)."""
    nodes = es.nodes.info(metric="plugins").body.get("nodes", {})
    per_node = [
        {m["name"] for m in node.get("modules", [])} | {p["name"] for p in node.get("plugins", [])}
        for node in nodes.values()
    ]
    return set.intersection(*per_node) if per_node else set()


def hunspell_probe(es: Elasticsearch) -> list[str] | None:
    """Tokens of the probe sentence through core hunspell en_US, or None without a dictionary."""
    try:
        response = es.indices.analyze(**hunspell_probe_request())
    except BadRequestError as exc:  # "failed to load hunspell dictionary for locale: en_US"
        log_event(log, "hunspell_probe_failed", reason=str(exc.message))
        return None
    return [token["token"] for token in response.body.get("tokens", [])]


def detect_analysis(es: Elasticsearch) -> AnalysisDecision:
    decision = decide_analysis(engine_modules(es), hunspell_probe(es))
    log_event(log, "analysis_chosen", analysis=decision.choice.value, reason=decision.reason)
    return decision


# ---------------------------------------------------------------------------------------------
# Setup


def setup_index(es: Elasticsearch, settings: Settings) -> IndexState:
    """Create or confirm the template, the current index, both aliases and the dead-letter index.

    Idempotent: a second call changes nothing. When the index behind the aliases was built
    with another mapping or analysis, the next version is created empty and `reindex_needed`
    is set; the aliases stay where they are until `reindex` has filled it.
    """
    names = IndexNames(settings.elasticsearch.index_prefix)
    decision = detect_analysis(es)
    es.indices.put_index_template(**template_body(names, decision))
    ensure_side_index(es, names.deadletter, DEADLETTER_MAPPINGS)
    wanted = article_mappings(decision)["_meta"]["fingerprint"]
    versions = existing_versions(es, names)
    read_index = _single_alias_target(es, names.read_alias)
    write_index = _single_alias_target(es, names.write_alias)

    def state(read: str | None, write: str | None, current: str, created: bool, due: bool, why: str) -> IndexState:
        return IndexState(
            prefix=names.prefix,
            analysis=decision.choice.value,
            analysis_reason=decision.reason,
            read_index=read,
            write_index=write,
            current_index=current,
            created=created,
            reindex_needed=due,
            reason=why,
        )

    if read_index is None:  # first run (or aliases deleted by hand): point both at the current index
        current, created = _matching_or_new(es, names, versions, wanted, after=0)
        actions = [_add(current, names.read_alias), _add(current, names.write_alias, write=True)]
        if write_index is not None and write_index != current:
            actions.insert(0, {"remove": {"index": write_index, "alias": names.write_alias}})
        es.indices.update_aliases(actions=actions)
        result = state(current, current, current, created, False, "aliases created")
    elif write_index is not None and write_index != read_index:
        why = "a reindex was interrupted: writes go to the new index, reads to the old"
        result = state(read_index, write_index, write_index, False, True, why)
    elif versions.get(read_index) == wanted:
        if write_index is None:
            es.indices.update_aliases(actions=[_add(read_index, names.write_alias, write=True)])
        result = state(read_index, read_index, read_index, False, False, "up to date")
    else:
        after = names.version_of(read_index) or 0
        current, created = _matching_or_new(es, names, versions, wanted, after=after)
        why = f"{read_index} has another mapping or analysis than {current}"
        result = state(read_index, write_index or read_index, current, created, True, why)
    log_event(log, "index_setup", **{k: v for k, v in result.as_dict().items() if k != "analysis_reason"})
    return result


def _add(index: str, alias: str, write: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"index": index, "alias": alias}
    if write:
        body["is_write_index"] = True
    return {"add": body}


def _matching_or_new(
    es: Elasticsearch, names: IndexNames, versions: dict[str, str | None], wanted: str, after: int
) -> tuple[str, bool]:
    """An existing index newer than `after` with the wanted fingerprint, else a new next version."""
    numbered = sorted((names.version_of(index) or 0, index) for index in versions)
    for number, index in reversed(numbered):
        if number > after and versions[index] == wanted:
            return index, False
    highest = numbered[-1][0] if numbered else 0
    return create_version(es, names, max(MAPPING_VERSION, highest + 1, after + 1)), True


def create_version(es: Elasticsearch, names: IndexNames, version: int) -> str:
    """`{prefix}-v{version}`, created empty; settings and mappings come from the template."""
    index = names.concrete(version)
    try:
        es.indices.create(index=index, wait_for_active_shards="1")
    except BadRequestError as exc:
        if exc.error != "resource_already_exists_exception":
            raise
        # Another process (a parallel task) created it a moment ago: the same index, from the same template.
        log_event(log, "index_already_created", index=index)
        return index
    log_event(log, "index_created", index=index)
    return index


def existing_versions(es: Elasticsearch, names: IndexNames) -> dict[str, str | None]:
    """Concrete `{prefix}-vN` indices and the mapping fingerprint each was built with."""
    response = es.indices.get_mapping(index=names.pattern, allow_no_indices=True, expand_wildcards="open")
    return {
        index: body.get("mappings", {}).get("_meta", {}).get("fingerprint")
        for index, body in response.body.items()
        if names.version_of(index) is not None
    }


def _single_alias_target(es: Elasticsearch, alias: str) -> str | None:
    try:
        response = es.indices.get_alias(name=alias)
    except NotFoundError:
        return None
    indices = [str(index) for index in response.body]
    if len(indices) == 1:
        return indices[0]
    # A read alias over several indices would double-count every article; only a write
    # alias can legitimately sit on several, and then one of them is the write index.
    for index, body in response.body.items():
        if body.get("aliases", {}).get(alias, {}).get("is_write_index"):
            return str(index)
    raise IndexLayoutError(f"alias {alias} points at several indices {sorted(indices)}: fix it with the aliases API")


def ensure_side_index(
    es: Elasticsearch, index: str, mappings: dict[str, Any], index_settings: dict[str, Any] | None = None
) -> bool:
    """Create a small explicit-mapping index (dead letters, run reports) unless it exists."""
    if es.indices.exists(index=index):
        return False
    try:
        es.indices.create(
            index=index,
            settings=index_settings or SIDE_INDEX_SETTINGS,
            mappings=mappings,
            wait_for_active_shards="1",
        )
    except BadRequestError as exc:
        if exc.error != "resource_already_exists_exception":  # lost a race with another writer
            raise
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Reindex


def reindex(es: Elasticsearch, settings: Settings, force: bool = False) -> ReindexReport:
    """Copy the live index into the index with the current mapping and move both aliases.

    Steps, each atomic: (1) the write alias moves to the target, so the source is frozen and
    new articles are never lost; (2) a point-in-time scan copies the source with `create`, so
    an article re-ingested meanwhile keeps its newer copy; (3) after a refresh, one
    `update_aliases` call moves the read alias (and confirms the write alias). Searches read
    the full source until that instant and the full target after it.
    ``force`` rebuilds into a new version even when the mapping has not changed.
    """
    started = time.perf_counter()
    names = IndexNames(settings.elasticsearch.index_prefix)
    state = setup_index(es, settings)
    source = state.read_index
    if source is None or (not state.reindex_needed and not force):
        return ReindexReport(source, source, 0, 0, 0, False, time.perf_counter() - started, "already current")
    target = state.current_index
    if target == source:  # forced rebuild with an unchanged mapping
        highest = max((names.version_of(i) or 0) for i in existing_versions(es, names))
        target = create_version(es, names, highest + 1)
    log_event(log, "reindex_started", source=source, target=target)

    es.indices.update_aliases(
        actions=[
            {"remove": {"index": source, "alias": names.write_alias, "must_exist": False}},
            _add(target, names.write_alias, write=True),
        ]
    )
    copy = _copy(es, settings, source, target)
    es.indices.refresh(index=target)
    swapped = copy.failed == 0
    if swapped:
        es.indices.update_aliases(
            actions=[
                {"remove": {"index": source, "alias": names.read_alias}},
                _add(target, names.read_alias),
                _add(target, names.write_alias, write=True),
            ]
        )
        message = f"aliases {names.read_alias} and {names.write_alias} now on {target}; {source} kept for rollback"
    else:
        message = (
            f"{copy.failed} documents could not be copied (see {names.deadletter}); reads stay on {source}, "
            f"writes go to {target}; fix and run reindex again"
        )
    report = ReindexReport(
        source,
        target,
        copy.indexed,
        copy.kept_existing,
        copy.failed,
        swapped,
        time.perf_counter() - started,
        message,
    )
    log_event(log, "reindex_done", logging.INFO if swapped else logging.ERROR, **report.as_dict())
    return report


def _copy(es: Elasticsearch, settings: Settings, source: str, target: str) -> IndexReport:
    actions = (document_action(doc, target, op_type="create") for doc in scan_documents(es, source))
    return index_documents(es, actions, settings, Tally(), keep_existing=True, require_alias=False)


def scan_documents(es: Elasticsearch, index: str, batch: int = SCAN_BATCH) -> Iterator[dict[str, Any]]:
    """Every document's `_source` under one point in time, paged with search_after.

    The point in time is closed in `finally`, also when the consumer stops early.
    """
    pit_id = es.open_point_in_time(index=index, keep_alive=PIT_KEEP_ALIVE).body["id"]
    try:
        search_after: list[Any] | None = None
        while True:
            page = es.search(
                pit={"id": pit_id, "keep_alive": PIT_KEEP_ALIVE},
                size=batch,
                sort=[{"_shard_doc": "asc"}],
                search_after=search_after,
                track_total_hits=False,
            ).body
            pit_id = page.get("pit_id", pit_id)
            hits = page["hits"]["hits"]
            if not hits:
                return
            for hit in hits:
                yield hit["_source"]
            search_after = hits[-1]["sort"]
    finally:
        try:
            es.close_point_in_time(id=pit_id)
        except ApiError as exc:  # an expired PIT is already gone; nothing to clean up
            log_event(log, "pit_close_failed", logging.DEBUG, reason=str(exc))


# ---------------------------------------------------------------------------------------------
# Status and cleanup


def index_status(es: Elasticsearch, settings: Settings) -> dict[str, Any]:
    """Aliases, concrete indices with their counts and mapping versions, dead letters in both stores."""
    names = IndexNames(settings.elasticsearch.index_prefix)
    versions = existing_versions(es, names)
    indices: dict[str, Any] = {}
    for index in sorted(versions, key=lambda i: names.version_of(i) or 0):
        meta = es.indices.get_mapping(index=index).body[index]["mappings"].get("_meta", {})
        indices[index] = {
            "docs": es.count(index=index).body["count"],
            "mapping_version": meta.get("mapping_version"),
            "analysis": meta.get("analysis"),
            "fingerprint": meta.get("fingerprint"),
        }
    deadletters = es.count(index=names.deadletter).body["count"] if es.indices.exists(index=names.deadletter) else 0
    return {
        "read_alias": {names.read_alias: _single_alias_target(es, names.read_alias)},
        "write_alias": {names.write_alias: _single_alias_target(es, names.write_alias)},
        "indices": indices,
        "deadletters": deadletters,
        # The fallback the dead-letter index could not take; `chancery deadletters retry` drains both.
        "deadletters_in_file": count_file_letters(settings),
        "deadletter_file": open_state(settings).deadletters().where,
        "mapping_version": MAPPING_VERSION,
    }


def make_searchable(es: Elasticsearch, settings: Settings) -> None:
    """Refresh the read alias now, so what was just indexed is searchable at once (demo, tests).

    Bulk indexing leaves refreshes to the index's interval, which is best for throughput.
    """
    es.indices.refresh(index=IndexNames(settings.elasticsearch.index_prefix).read_alias)


def remove_index_family(es: Elasticsearch, settings: Settings, extra: tuple[str, ...] = ()) -> list[str]:
    """Delete every index and the template of this prefix (tests, benchmarks). Names, not wildcards:
    wildcard deletes are refused by default (`action.destructive_requires_name`)."""
    names = IndexNames(settings.elasticsearch.index_prefix)
    found = es.indices.get(index=f"{names.prefix}-*", allow_no_indices=True, expand_wildcards="all").body
    doomed = sorted(set(found) | {i for i in extra if es.indices.exists(index=i)})
    for index in doomed:
        es.indices.delete(index=index, ignore_unavailable=True)
    with contextlib.suppress(NotFoundError):
        es.indices.delete_index_template(name=names.template)
    return doomed
