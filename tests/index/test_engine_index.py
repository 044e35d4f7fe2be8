"""Integration tests against the real engine: setup, idempotent bulk, dead letters, search, reindex."""

from __future__ import annotations

import dataclasses
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from index_corpus import CORPUS

from pipeline.config import Settings
from pipeline.index.baseline import create_plain_index
from pipeline.index.bulk import article_action, document_action, index_articles, index_documents
from pipeline.index.client import EngineUnavailable, connect
from pipeline.index.mapping import MAPPING_VERSION, Analysis, AnalysisDecision, IndexNames
from pipeline.index.runs import recent_runs, store_run_report
from pipeline.index.search import SearchQuery, search
from pipeline.index.setup import detect_analysis, index_status, reindex, setup_index
from pipeline.outcomes import Outcome, Tally

pytestmark = pytest.mark.engine
NEXT_VERSION = MAPPING_VERSION + 1  # what a reindex creates


def _count(es: Any, settings: Settings) -> int:
    names = IndexNames(settings.elasticsearch.index_prefix)
    es.indices.refresh(index=names.read_alias)
    return int(es.count(index=names.read_alias)["count"])


def _ingest(es: Any, settings: Settings, articles: Any = CORPUS) -> Any:
    report = index_articles(es, articles, settings, Tally())
    es.indices.refresh(index=IndexNames(settings.elasticsearch.index_prefix).read_alias)
    return report


def test_setup_is_idempotent(es: Any, index_settings: Settings) -> None:
    first = setup_index(es, index_settings)
    second = setup_index(es, index_settings)
    names = IndexNames(index_settings.elasticsearch.index_prefix)
    assert first.created and not second.created
    assert first.current_index == second.current_index == names.concrete(MAPPING_VERSION)
    assert not second.reindex_needed
    assert es.indices.get_alias(name=names.read_alias).body.keys() == {names.concrete(MAPPING_VERSION)}
    assert es.indices.get_alias(name=names.write_alias).body.keys() == {names.concrete(MAPPING_VERSION)}
    assert es.indices.exists_index_template(name=names.template)
    assert es.indices.exists(index=names.deadletter)
    current = names.concrete(MAPPING_VERSION)
    mapping = es.indices.get_mapping(index=current).body[current]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["_meta"]["analysis"] == first.analysis


def test_reingesting_the_same_articles_keeps_the_count(es: Any, index_settings: Settings) -> None:
    setup_index(es, index_settings)
    first = _ingest(es, index_settings)
    assert (first.indexed, first.created, first.failed) == (len(CORPUS), len(CORPUS), 0)
    assert _count(es, index_settings) == len(CORPUS)
    tally = Tally()
    second = index_articles(es, CORPUS, index_settings, tally)
    assert (second.created, second.updated, second.failed) == (0, len(CORPUS), 0)
    assert tally.counts[Outcome.INDEXED.value] == len(CORPUS)
    assert _count(es, index_settings) == len(CORPUS)


def test_an_updated_article_replaces_the_old_one(es: Any, index_settings: Settings) -> None:
    setup_index(es, index_settings)
    _ingest(es, index_settings)
    updated = dataclasses.replace(CORPUS[0], title="Tokyo and Moscow postpone talks").with_text("Talks postponed.")
    _ingest(es, index_settings, [updated])
    assert _count(es, index_settings) == len(CORPUS)
    stored = es.get(index=IndexNames(index_settings.elasticsearch.index_prefix).read_alias, id=updated.id)["_source"]
    assert (stored["title"], stored["body"]) == ("Tokyo and Moscow postpone talks", "Talks postponed.")
    assert search(es, index_settings, SearchQuery(text="spring")).total == 0  # only in the old body


def test_search_by_phrase_facet_and_date(es: Any, index_settings: Settings) -> None:
    setup_index(es, index_settings)
    _ingest(es, index_settings)
    kuril = CORPUS[0].id

    phrase = search(es, index_settings, SearchQuery(text='"Kuril Islands"'))
    assert [h.id for h in phrase.hits] == [kuril]
    assert "<mark>" in phrase.hits[0].snippet
    assert phrase.hits[0].title == CORPUS[0].title  # plain; the marked-up title is separate
    assert "<mark>Kuril Islands</mark>" in phrase.hits[0].title_highlighted  # phrases highlight whole
    assert phrase.hits[0].source == "wire.example"

    japan = search(es, index_settings, SearchQuery(countries=("jp",)))
    assert {h.id for h in japan.hits} == {CORPUS[0].id, CORPUS[3].id}
    assert {b.key: b.count for b in japan.facets["countries"]}["JP"] == 2

    dated = search(es, index_settings, SearchQuery(date_from=date(2024, 1, 1), date_to=date(2024, 2, 20)))
    assert {h.id for h in dated.hits} == {CORPUS[1].id, CORPUS[2].id}  # the last day counts whole

    excluded = search(es, index_settings, SearchQuery(text="talks -Russian"))
    assert {h.id for h in excluded.hits} == {CORPUS[3].id}
    either = search(es, index_settings, SearchQuery(text="ceasefire OR shipping"))
    assert {h.id for h in either.hits} == {CORPUS[1].id, CORPUS[2].id}
    person = search(es, index_settings, SearchQuery(person="Lavrov"))
    assert [h.id for h in person.hits] == [kuril]
    # Synonyms: neither text says "southern Kurils" or "UN"; the query expands to the group.
    kurils = search(es, index_settings, SearchQuery(text='"southern Kurils" talks'))
    assert [h.id for h in kurils.hits] == [kuril]
    un = search(es, index_settings, SearchQuery(text="UN ceasefire"))
    assert [h.id for h in un.hits] == [CORPUS[2].id]
    assembly = search(es, index_settings, SearchQuery(text='"General Assembly"')).total
    not_un = search(es, index_settings, SearchQuery(text='"General Assembly" -UN')).total
    assert (assembly, not_un) == (1, 0)  # the article says "United Nations": excluded via the group
    topic = search(es, index_settings, SearchQuery(topic="sanctions", source="brussels.example"))
    assert [h.id for h in topic.hits] == [CORPUS[1].id]

    everything = search(es, index_settings, SearchQuery())
    assert everything.total == len(CORPUS)
    assert {b.key for b in everything.facets["topics"]} == {
        "territorial-dispute",
        "sanctions",
        "un-diplomacy",
        "summit",
    }
    assert {b.key for b in everything.facets["organizations"]} >= {"European Union", "United Nations"}
    assert sum(b.count for b in everything.histogram) == len(CORPUS)


def test_stemming_finds_inflected_forms_where_the_engine_can_stem(es: Any, index_settings: Settings) -> None:
    state = setup_index(es, index_settings)
    _ingest(es, index_settings)
    if state.analysis == "standard":
        pytest.skip(f"this engine cannot stem: {state.analysis_reason}")
    hits = search(es, index_settings, SearchQuery(text="sanction")).hits
    assert CORPUS[1].id in {h.id for h in hits}  # the body says "sanctions"


def test_a_malformed_document_is_dead_lettered_and_the_rest_indexed(es: Any, index_settings: Settings) -> None:
    setup_index(es, index_settings)
    names = IndexNames(index_settings.elasticsearch.index_prefix)
    bad_date = dict(CORPUS[1].to_dict(), id="bad-date", published_at="next tuesday")
    unknown_field = dict(CORPUS[2].to_dict(), id="bad-field", mood="cheerful")
    actions = [
        article_action(CORPUS[0], names.write_alias),
        document_action(bad_date, names.write_alias),
        article_action(CORPUS[3], names.write_alias),
        document_action(unknown_field, names.write_alias),
    ]
    tally = Tally()
    report = index_documents(es, actions, index_settings, tally)
    assert (report.indexed, report.failed, report.deadlettered_to_index) == (2, 2, 2)
    assert tally.counts[Outcome.INDEX_ERROR.value] == 2 and tally.counts[Outcome.INDEXED.value] == 2
    assert _count(es, index_settings) == 2
    letter = es.get(index=names.deadletter, id="bad-date")["_source"]
    assert letter["status"] == 400
    assert "published_at" in letter["reason"]
    assert letter["document"]["published_at"] == "next tuesday"  # kept whole for replay
    strict = es.get(index=names.deadletter, id="bad-field")["_source"]
    assert "mood" in strict["reason"]


def test_reindex_swaps_aliases_while_searches_keep_answering(es: Any, index_settings: Settings) -> None:
    setup_index(es, index_settings)
    many = [
        dataclasses.replace(a, id=f"{a.id[:24]}{i:08d}", url=f"{a.url}?copy={i}", canonical_url=f"{a.url}?copy={i}")
        for i in range(150)
        for a in CORPUS
    ]
    _ingest(es, index_settings, many)
    names = IndexNames(index_settings.elasticsearch.index_prefix)
    totals: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    reader = connect(index_settings)

    def keep_searching() -> None:
        while not stop.is_set():
            try:
                totals.append(search(reader, index_settings, SearchQuery(text="talks")).total)
            except Exception as exc:  # any failure at all is what this test is looking for
                errors.append(exc)

    thread = threading.Thread(target=keep_searching)
    thread.start()
    try:
        report = reindex(es, index_settings, force=True)
    finally:
        stop.set()
        thread.join(timeout=30)
        reader.close()
    assert report.swapped and report.failed == 0
    current, target = names.concrete(MAPPING_VERSION), names.concrete(NEXT_VERSION)
    assert (report.source, report.target, report.copied) == (current, target, len(many))
    assert es.indices.get_alias(name=names.read_alias).body.keys() == {names.concrete(NEXT_VERSION)}
    assert es.indices.get_alias(name=names.write_alias).body.keys() == {names.concrete(NEXT_VERSION)}
    assert errors == []
    expected = search(es, index_settings, SearchQuery(text="talks")).total
    assert expected == 2 * 150
    assert len(totals) > 0 and set(totals) == {expected}  # never a partial index, never an error
    assert index_status(es, index_settings)["indices"][names.concrete(NEXT_VERSION)]["docs"] == len(many)
    # Writes after the swap land in v2; setup now sees v2 as current.
    assert setup_index(es, index_settings).current_index == names.concrete(NEXT_VERSION)


def test_engine_down_names_how_to_start_it(index_settings: Settings) -> None:
    closed = dataclasses.replace(
        index_settings,
        elasticsearch=dataclasses.replace(index_settings.elasticsearch, url="http://127.0.0.1:9"),
    )
    with pytest.raises(EngineUnavailable) as caught:
        connect(closed)
    assert "chancery engine start" in str(caught.value)
    assert "ELASTICSEARCH_URL" in str(caught.value)


def test_a_node_list_goes_on_through_the_nodes_that_answer(es: Any, index_settings: Settings) -> None:
    # The first node of the list refuses connections (nothing listens there); the client sets it aside.
    listed = dataclasses.replace(index_settings, elasticsearch=dataclasses.replace(
        index_settings.elasticsearch, url=f"http://127.0.0.1:9, {index_settings.elasticsearch.url}"))
    setup_index(es, index_settings)
    client = connect(listed)
    try:
        assert len(client.transport.node_pool.all()) == 2
        tally = Tally()
        index_articles(client, CORPUS[:3], listed, tally)
        for _ in range(4):  # round robin: each request tries a node, the dead one among them
            assert _count(client, listed) == 3
        assert tally.counts.get(Outcome.INDEX_ERROR.value, 0) == 0
    finally:
        client.close()


def test_engine_gone_mid_bulk_dead_letters_to_a_file_and_raises(es: Any, index_settings: Settings) -> None:
    closed = dataclasses.replace(
        index_settings,
        elasticsearch=dataclasses.replace(index_settings.elasticsearch, url="http://127.0.0.1:9"),
    )
    gone = connect(closed, check=False)
    tally = Tally()
    with pytest.raises(EngineUnavailable) as caught:
        index_articles(gone, CORPUS, closed, tally)
    gone.close()
    assert "chancery engine start" in str(caught.value)
    assert tally.counts[Outcome.INDEX_ERROR.value] == len(CORPUS)  # the whole chunk was in flight
    files = list(closed.deadletter_dir.glob("*.jsonl"))
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert len(files) == 1 and len(lines) == len(CORPUS) and "engine unreachable" in lines[0]


def test_run_reports_are_stored_and_rerun_reports_replace(es: Any, index_settings: Settings) -> None:
    report = {
        "kind": "fetch",
        "dag_id": "nightly",
        "run_id": "r1",
        "status": "success",
        "totals": {"ok": 3},
        "window": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"},
        "extra": {"any": "thing"},
    }
    first = store_run_report(es, index_settings, report)
    second = store_run_report(es, index_settings, dict(report, status="failed"))
    assert first.where == second.where == "index" and first.id == second.id == "nightly:r1:fetch"
    runs = recent_runs(es, index_settings)
    assert [(r["id"], r["status"], r["extra"]) for r in runs] == [("nightly:r1:fetch", "failed", {"any": "thing"})]


def test_indexing_before_setup_sets_the_index_up(es: Any, index_settings: Settings) -> None:
    report = _ingest(es, index_settings)
    names = IndexNames(index_settings.elasticsearch.index_prefix)
    assert report.indexed == len(CORPUS)
    assert es.indices.get_alias(name=names.write_alias).body.keys() == {names.concrete(MAPPING_VERSION)}
    # The write alias resolves to v1: no concrete index named like the alias was auto-created.
    assert set(es.indices.get(index=names.write_alias).body) == {names.concrete(MAPPING_VERSION)}


def test_an_analysis_change_creates_the_next_version_and_reindex_moves_to_it(es: Any, index_settings: Settings) -> None:
    detected = detect_analysis(es)
    if detected.choice is Analysis.STANDARD:
        pytest.skip("this engine offers only standard analysis: no older analysis to upgrade from")
    names = IndexNames(index_settings.elasticsearch.index_prefix)
    # An index built before the dictionary was installed: standard analysis, same mapping version.
    create_plain_index(es, names.concrete(MAPPING_VERSION), AnalysisDecision(Analysis.STANDARD, "older engine"))
    es.indices.update_aliases(
        actions=[
            {"add": {"index": names.concrete(MAPPING_VERSION), "alias": names.read_alias}},
            {"add": {"index": names.concrete(MAPPING_VERSION), "alias": names.write_alias, "is_write_index": True}},
        ]
    )
    _ingest(es, index_settings)
    assert search(es, index_settings, SearchQuery(text="sanction")).total == 0  # no stemming yet

    state = setup_index(es, index_settings)
    assert state.reindex_needed and state.created
    assert (state.read_index, state.current_index) == (names.concrete(MAPPING_VERSION), names.concrete(NEXT_VERSION))
    assert setup_index(es, index_settings).current_index == names.concrete(NEXT_VERSION)  # idempotent

    report = reindex(es, index_settings)
    assert report.swapped and report.copied == len(CORPUS)
    assert not setup_index(es, index_settings).reindex_needed
    assert search(es, index_settings, SearchQuery(text="sanction")).total >= 1  # stems now


def test_a_run_report_that_contradicts_the_mapping_goes_to_a_file(es: Any, index_settings: Settings) -> None:
    stored = store_run_report(es, index_settings, {"id": "odd", "kind": "fetch", "window": "yesterday"})
    assert stored.where.endswith(".jsonl")
    assert '"window": "yesterday"' in Path(stored.where).read_text(encoding="utf-8")
    odd_date = store_run_report(
        es, index_settings, {"id": "d", "kind": "dag_run", "started_at": "soon", "message": None}
    )
    assert odd_date.where == "index"  # ignore_malformed: the odd value stays in _source
