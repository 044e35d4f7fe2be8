"""Bulk indexing under back-pressure and refusals, on the real engine behind a loopback proxy.

Every document must end indexed, dead-lettered with its reason, or pending; the counts are
exact. The proxy counts what the engine confirmed per document, so "nothing that succeeded is
sent twice" is checked on the wire, not taken from the client's word.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bulk_proxy import TOO_MANY_REQUESTS, UNAUTHORISED, BulkProxy, BulkRequest, Refuse, RejectItems, es_error
from index_corpus import CORPUS

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.index.bulk import article_action, document_action, index_articles, index_documents
from pipeline.index.client import connect
from pipeline.index.deadletters import list_deadletters, retry_deadletters
from pipeline.index.mapping import IndexNames
from pipeline.index.setup import setup_index
from pipeline.models import Article
from pipeline.outcomes import Outcome, Tally
from pipeline.state.sqlite import deadletter_file

pytestmark = pytest.mark.engine

CHUNK = 20


def articles(n: int, tag: str = "") -> list[Article]:
    base = CORPUS[0]
    return [
        dataclasses.replace(
            base,
            id=f"{base.id[:22]}{tag[:2]:0>2}{i:08d}",
            url=f"{base.url}?copy={tag}{i}",
            canonical_url=f"{base.url}?copy={tag}{i}",
            title=f"{base.title} ({i})",
        )
        for i in range(n)
    ]


def pressure_settings(settings: Settings, url: str | None = None, budget: float = 10.0) -> Settings:
    """Small chunks and short waits, so retries happen in fractions of a second."""
    es = dataclasses.replace(
        settings.elasticsearch,
        url=url or settings.elasticsearch.url,
        bulk_chunk_docs=CHUNK,
        bulk_min_chunk_docs=5,
        bulk_initial_backoff=0.05,
        bulk_max_backoff=0.4,
        retry_budget_seconds=budget,
    )
    return dataclasses.replace(settings, elasticsearch=es)


@pytest.fixture
def proxy(es: Any, index_settings: Settings) -> Iterator[BulkProxy]:
    setup_index(es, index_settings)
    with BulkProxy(
        str(index_settings.elasticsearch.url), IndexNames(index_settings.elasticsearch.index_prefix).deadletter
    ) as p:
        yield p


@pytest.fixture
def via_proxy(proxy: BulkProxy, index_settings: Settings) -> Iterator[tuple[Any, Settings]]:
    settings = pressure_settings(index_settings, proxy.url)
    client = connect(settings)
    try:
        yield client, settings
    finally:
        client.close()


def count(es: Any, settings: Settings, index: str | None = None) -> int:
    target = index or IndexNames(settings.elasticsearch.index_prefix).read_alias
    if not es.indices.exists(index=target):
        return 0
    es.indices.refresh(index=target)
    return int(es.count(index=target)["count"])


def deadletter_count(es: Any, settings: Settings) -> int:
    return count(es, settings, IndexNames(settings.elasticsearch.index_prefix).deadletter)


def file_letters(settings: Settings) -> list[dict[str, Any]]:
    path = deadletter_file(settings)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def assert_each_indexed_once(proxy: BulkProxy, docs: list[Article]) -> None:
    assert proxy.traffic.succeeded == {a.id: 1 for a in docs}


def test_a_share_of_whole_request_429s_is_retried_and_the_chunk_size_adapts(
    es: Any, index_settings: Settings, proxy: BulkProxy, via_proxy: tuple[Any, Settings]
) -> None:
    client, settings = via_proxy
    docs = articles(120)
    proxy.rule = lambda r: TOO_MANY_REQUESTS if r.kind == "articles" and r.number % 2 == 1 else None
    tally = Tally()
    report = index_articles(client, docs, settings, tally)
    assert (report.indexed, report.failed, report.pending) == (120, 0, 0)
    assert tally.counts[Outcome.INDEXED.value] == 120
    assert_each_indexed_once(proxy, docs)
    sizes = [len(r.items) for r in proxy.traffic.requests if r.kind == "articles"]
    # Refused at 20, retried at 10, grown back to 20 once accepted: halve on refusal, double on success.
    assert sizes[:4] == [20, 10, 20, 10]
    assert proxy.traffic.refused_requests == (len(sizes) + 1) // 2  # every odd-numbered request
    assert count(es, index_settings) == 120
    assert deadletter_count(es, index_settings) == 0 and not deadletter_file(settings).exists()


def test_per_item_rejections_resend_only_the_rejected_items(
    es: Any, index_settings: Settings, proxy: BulkProxy, via_proxy: tuple[Any, Settings]
) -> None:
    client, settings = via_proxy
    docs = articles(100)
    seen: set[str] = set()

    def reject_every_third_on_first_sight(request: BulkRequest) -> RejectItems | None:
        if request.kind != "articles":
            return None
        positions = frozenset(p for p, item in enumerate(request.items) if p % 3 == 0 and item.id not in seen)
        seen.update(item.id for item in request.items)
        return RejectItems(positions)

    proxy.rule = reject_every_third_on_first_sight
    report = index_articles(client, docs, settings, Tally())
    assert (report.indexed, report.failed, report.pending) == (100, 0, 0)
    assert_each_indexed_once(proxy, docs)
    rejected = proxy.traffic.rejected_items
    assert rejected > 0
    # Each document was sent once, plus once more per rejection: accepted ones were never resent.
    assert sum(proxy.traffic.sent.values()) == 100 + rejected
    assert max(proxy.traffic.sent.values()) == 2
    assert count(es, index_settings) == 100


def test_429_to_every_request_for_a_while_is_ridden_out(
    es: Any, index_settings: Settings, proxy: BulkProxy, via_proxy: tuple[Any, Settings]
) -> None:
    client, settings = via_proxy
    docs = articles(60)
    until = time.monotonic() + 1.5
    proxy.rule = lambda r: TOO_MANY_REQUESTS if r.kind == "articles" and time.monotonic() < until else None
    report = index_articles(client, docs, settings, Tally())
    assert (report.indexed, report.failed, report.pending) == (60, 0, 0)
    assert proxy.traffic.refused_requests >= 3
    assert_each_indexed_once(proxy, docs)


@pytest.mark.parametrize(
    "refusal",
    [
        Refuse(503, es_error(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];")),
        Refuse(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),  # a proxy's page, not ES JSON
        Refuse(504, "<html><body><h1>504 Gateway Time-out</h1></body></html>"),
    ],
    ids=["503", "502-html", "504-html"],
)
def test_a_node_or_proxy_restarting_is_retried(
    es: Any, index_settings: Settings, proxy: BulkProxy, via_proxy: tuple[Any, Settings], refusal: Refuse
) -> None:
    client, settings = via_proxy
    docs = articles(50)
    proxy.rule = lambda r: refusal if r.kind == "articles" and r.number <= 3 else None
    report = index_articles(client, docs, settings, Tally())
    assert (report.indexed, report.failed, report.pending) == (50, 0, 0)
    assert proxy.traffic.refused_requests == 3
    assert_each_indexed_once(proxy, docs)


def test_refused_past_the_budget_the_rest_is_pending_not_lost(
    es: Any, index_settings: Settings, proxy: BulkProxy
) -> None:
    settings = pressure_settings(index_settings, proxy.url, budget=1.0)
    client = connect(settings)
    docs = articles(100)
    proxy.rule = lambda r: TOO_MANY_REQUESTS if r.kind == "articles" and r.number > 2 else None
    tally = Tally()
    started = time.monotonic()
    try:
        report = index_articles(client, docs, settings, tally)
    finally:
        client.close()
    assert (report.indexed, report.failed, report.pending) == (40, 0, 60)
    assert not report.ok
    assert tally.counts[Outcome.INDEX_PENDING.value] == 60
    assert "retry budget" in tally.reasons[Outcome.INDEX_PENDING.value]
    assert "es_rejected_execution_exception" in tally.reasons[Outcome.INDEX_PENDING.value]
    assert 1.0 <= time.monotonic() - started < 10
    assert proxy.traffic.succeeded == {a.id: 1 for a in docs[:40]}
    # Pending is neither indexed nor dead-lettered.
    assert count(es, index_settings) == 40
    assert deadletter_count(es, index_settings) == 0 and not deadletter_file(settings).exists()
    assert report.as_dict()["pending"] == 60


def test_a_500_is_dead_lettered_per_document_with_status_and_reason(
    es: Any, index_settings: Settings, proxy: BulkProxy, via_proxy: tuple[Any, Settings]
) -> None:
    client, settings = via_proxy
    docs = articles(30)
    broken = Refuse(500, es_error(500, "illegal_state_exception", "synthetic node failure"))
    proxy.rule = lambda r: broken if r.kind == "articles" else None
    tally = Tally()
    report = index_articles(client, docs, settings, tally)
    assert (report.indexed, report.failed, report.pending, report.deadlettered_to_index) == (0, 30, 0, 30)
    assert report.failure_reasons == {"illegal_state_exception": 30}
    assert proxy.traffic.refused_requests == 2  # never retried: a 500 fails the same way again
    letter = es.get(index=IndexNames(index_settings.elasticsearch.index_prefix).deadletter, id=docs[7].id)["_source"]
    assert (letter["status"], letter["error_type"], letter["reason"]) == (
        500,
        "illegal_state_exception",
        "synthetic node failure",
    )
    assert letter["document"]["title"] == docs[7].title


def test_a_401_everywhere_goes_to_the_file_and_is_replayed_once_accepted(
    es: Any, index_settings: Settings, proxy: BulkProxy, via_proxy: tuple[Any, Settings]
) -> None:
    client, settings = via_proxy
    docs = articles(45)
    proxy.rule = lambda r: UNAUTHORISED  # the articles and the dead-letter index alike
    report = index_articles(client, docs, settings, Tally())
    assert (report.indexed, report.failed, report.pending) == (0, 45, 0)
    assert (report.deadlettered_to_index, report.deadlettered_to_file) == (0, 45)
    letters = file_letters(settings)
    assert sorted(letter["article_id"] for letter in letters) == sorted(a.id for a in docs)
    assert {(letter["status"], letter["error_type"]) for letter in letters} == {(401, "security_exception")}

    listing = list_deadletters(client, settings)
    assert (listing.in_index, listing.in_file) == (0, 45)
    assert listing.by_reason == {"security_exception": {"index": 0, "file": 45}}

    proxy.rule = None  # the engine accepts again
    replay = retry_deadletters(client, settings)
    assert replay.ok
    assert replay.by_reason["security_exception"].replayed == 45
    assert (replay.removed_from_file, replay.removed_from_index) == (45, 0)
    assert count(es, index_settings) == 45
    assert file_letters(settings) == []
    assert_each_indexed_once(proxy, docs)


def test_a_write_block_lifted_while_retrying_ends_with_everything_indexed(
    es: Any, index_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    state = setup_index(es, index_settings)
    settings = pressure_settings(index_settings, budget=30.0)
    docs = articles(80)
    es.indices.put_settings(index=state.write_index, settings={"index.blocks.write": True})
    lifter = threading.Timer(
        1.5, lambda: es.indices.put_settings(index=state.write_index, settings={"index.blocks.write": None})
    )
    lifter.start()
    try:
        with caplog.at_level(logging.INFO, logger="chancery.index.bulk"):
            report = index_articles(es, docs, settings, Tally())
    finally:
        lifter.join()
        es.indices.put_settings(index=state.write_index, settings={"index.blocks.write": None})
    assert (report.indexed, report.failed, report.pending) == (80, 0, 0)
    assert count(es, index_settings) == 80
    refusals = [r for r in caplog.records if r.getMessage() == "bulk_backpressure"]
    assert refusals and "cluster_block_exception" in refusals[0].fields["refusal"]  # type: ignore[attr-defined]
    assert deadletter_count(es, index_settings) == 0


def test_a_write_block_never_lifted_leaves_the_documents_pending(es: Any, index_settings: Settings) -> None:
    state = setup_index(es, index_settings)
    settings = pressure_settings(index_settings, budget=0.5)
    es.indices.put_settings(index=state.write_index, settings={"index.blocks.write": True})
    try:
        report = index_articles(es, articles(30), settings, Tally())
    finally:
        es.indices.put_settings(index=state.write_index, settings={"index.blocks.write": None})
    assert (report.indexed, report.failed, report.pending) == (0, 0, 30)


def test_letters_the_dead_letter_index_refuses_go_to_the_file_and_replay_settles_both(
    es: Any,
    index_settings: Settings,
    proxy: BulkProxy,
    via_proxy: tuple[Any, Settings],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, settings = via_proxy
    names = IndexNames(index_settings.elasticsearch.index_prefix)
    # Malformed for real: the engine refuses every one of them (400, a date it cannot parse).
    bad = [dict(a.to_dict(), published_at="next tuesday") for a in articles(12, "b")]
    good = articles(8, "g")

    def refuse_odd_letters(request: BulkRequest) -> RejectItems | None:
        if request.kind != "deadletter":
            return None
        return RejectItems(frozenset(p for p in range(len(request.items)) if p % 2 == 1))

    proxy.rule = refuse_odd_letters
    actions = [document_action(d, names.write_alias) for d in bad] + [
        article_action(a, names.write_alias) for a in good
    ]
    report = index_documents(client, actions, settings, Tally())
    assert (report.indexed, report.failed, report.pending) == (8, 12, 0)
    assert (report.deadlettered_to_index, report.deadlettered_to_file) == (6, 6)
    assert deadletter_count(es, index_settings) == 6 and len(file_letters(settings)) == 6

    # Both stores are visible to the operator.
    for name, value in _cli_env(settings).items():
        monkeypatch.setenv(name, value)
    assert main(["--log-level", "WARNING", "index", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["deadletters"], status["deadletters_in_file"]) == (6, 6)
    assert main(["--log-level", "WARNING", "deadletters", "list", "--json", "--latest", "3"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["by_reason"] == {"document_parsing_exception": {"index": 6, "file": 6}}
    assert len(listing["latest"]) == 3 and all(letter["replayable"] for letter in listing["latest"])

    # A letter whose document was never built, and one older than the copy now indexed.
    newer = dataclasses.replace(good[0], title="The newer copy")
    index_articles(es, [newer], index_settings, Tally())
    older = dict(good[0].to_dict(), fetched_at="2020-01-01T00:00:00Z", title="An older copy")
    letter = {"index": names.write_alias, "url": None, "status": None}
    never_built = {"article_id": "never-built", "error_type": "parse_error", "reason": "truncated WARC record"}
    queue_full = {"article_id": good[0].id, "error_type": "es_rejected_execution_exception", "reason": "queue full"}
    with deadletter_file(settings).open("a", encoding="utf-8") as out:
        out.write(json.dumps({**letter, **never_built, "failed_at": "2025-01-01T00:00:00Z", "document": None}) + "\n")
        out.write(json.dumps({**letter, **queue_full, "failed_at": "2025-01-02T00:00:00Z", "document": older}) + "\n")

    proxy.rule = None
    assert main(["--log-level", "WARNING", "deadletters", "retry", "--json"]) == 1  # the malformed ones still fail
    replay = json.loads(capsys.readouterr().out)
    assert replay["by_reason"]["document_parsing_exception"]["still_failing"] == 12
    assert replay["by_reason"]["parse_error"]["not_replayable"] == 1
    assert "before the document was built" in replay["by_reason"]["parse_error"]["why_not_replayable"]
    assert replay["by_reason"]["es_rejected_execution_exception"]["superseded"] == 1
    assert replay["now_failing"] == {"document_parsing_exception": 12}
    assert es.get(index=names.read_alias, id=good[0].id)["_source"]["title"] == "The newer copy"
    # The failing twelve now have one fresh letter each, in the index; the file keeps only the unreplayable one.
    assert deadletter_count(es, index_settings) == 12
    assert [letter["article_id"] for letter in file_letters(settings)] == ["never-built"]


def _cli_env(settings: Settings) -> dict[str, str]:
    es = settings.elasticsearch
    return {
        "CHANCERY_ELASTICSEARCH_INDEX_PREFIX": es.index_prefix,
        "CHANCERY_ELASTICSEARCH_RUNS_INDEX": es.runs_index,
        "CHANCERY_HOME": str(settings.home),
        "ELASTICSEARCH_URL": str(es.url),
        "ELASTICSEARCH_USERNAME": es.username or "",
        "ELASTICSEARCH_PASSWORD": es.password or "",
    }


def test_a_document_that_is_not_json_is_bad_input_and_a_bug_still_raises(es: Any, index_settings: Settings) -> None:
    setup_index(es, index_settings)
    names = IndexNames(index_settings.elasticsearch.index_prefix)
    odd = dict(CORPUS[1].to_dict(), keywords=object())
    report = index_documents(
        es,
        [article_action(CORPUS[0], names.write_alias), document_action(odd, names.write_alias)],
        index_settings,
        Tally(),
    )
    assert (report.indexed, report.failed) == (1, 1)
    assert report.failure_reasons == {"serialization_error": 1}
    assert deadletter_file(index_settings).exists()  # the index cannot take it either; the file can (as text)
    with pytest.raises(AttributeError):
        index_documents(es, [article_action(CORPUS[0], names.write_alias), 42], index_settings, Tally())  # type: ignore[list-item]


def test_the_dead_letter_file_rewrite_keeps_lines_appended_meanwhile(tmp_path: Path, index_settings: Settings) -> None:
    """The rewrite drops only lines it read; a writer appending during a replay loses nothing."""
    from pipeline.state.sqlite import FileDeadLetters

    path = deadletter_file(index_settings)
    store = FileDeadLetters(path)
    store.append([{"article_id": "a", "failed_at": "1"}, {"article_id": "b", "failed_at": "2"}])
    snapshot = store.snapshot()
    doomed = {line.key for line in store.letters(snapshot) if line.letter and line.letter["article_id"] == "a"}
    store.append([{"article_id": "a", "failed_at": "1"}])  # identical to a doomed line, but later
    assert store.remove(snapshot, doomed) == (1, "")
    assert [json.loads(line)["article_id"] for line in path.read_text().splitlines()] == ["b", "a"]
