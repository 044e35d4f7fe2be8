"""The indexer role on the real engine: ingest, run reports and dead letters work; anything else is 403."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from es_security import role_and_user
from index_corpus import CORPUS

from pipeline.config import Settings
from pipeline.index.bulk import (
    article_document,
    document_action,
    index_articles,
    index_documents,
)
from pipeline.index.client import connect
from pipeline.index.deadletters import retry_deadletters
from pipeline.index.mapping import IndexNames
from pipeline.index.roles import indexer_role
from pipeline.index.runs import store_run_report
from pipeline.index.setup import index_status, setup_index
from pipeline.outcomes import Tally
from pipeline.state.sqlite import append_letters, deadletter_file

pytestmark = [pytest.mark.engine, pytest.mark.slow]  # about 11 s: the node reloads its file realm every 5 s


def _node_config_dir(base_settings: Settings) -> Path | None:
    """The embedded node's config folder (its file realm), when this session runs that node."""
    if base_settings.elasticsearch.url:
        return None
    from pipeline.engine import local

    config = local.locate(base_settings, None).dist / "config"
    if not os.access(config / "roles.yml", os.W_OK):
        pytest.skip(f"{config} is not writable by this user: cannot add a file-realm user to the embedded node")
    return config


def test_the_indexer_role_writes_its_indices_and_is_refused_elsewhere(
    es: Any, index_settings: Settings, base_settings: Settings
) -> None:
    from elasticsearch import AuthorizationException

    names = IndexNames(index_settings.elasticsearch.index_prefix)
    setup_index(es, index_settings)  # an administrator's job: see roles.py
    other = f"{names.prefix}-other"  # exists, and is not ours to write
    es.indices.create(index=other, settings={"number_of_replicas": 0}, wait_for_active_shards="1")
    # A letter in each store, replayable, so the replay below needs read, write and delete.
    letter = {"url": None, "index": names.write_alias, "status": 429, "error_type": "es_rejected_execution_exception"}
    from_index, from_file = CORPUS[2], CORPUS[3]
    es.index(
        index=names.deadletter,
        id=from_index.id,
        refresh="wait_for",
        document={
            **letter,
            "article_id": from_index.id,
            "reason": "queue full",
            "failed_at": "2025-01-01T00:00:00Z",
            "document": article_document(from_index),
        },
    )
    append_letters(
        deadletter_file(index_settings),
        [
            {
                **letter,
                "article_id": from_file.id,
                "reason": "queue full",
                "failed_at": "2025-01-01T00:00:00Z",
                "document": article_document(from_file),
            }
        ],
    )
    role = f"{names.prefix}-indexer".replace("-", "_")
    body = indexer_role(names.prefix, index_settings.elasticsearch.runs_index)
    url = str(index_settings.elasticsearch.url)

    with role_and_user(es, url, role, body, _node_config_dir(base_settings)) as user:
        as_user = dataclasses.replace(
            index_settings,
            elasticsearch=dataclasses.replace(
                index_settings.elasticsearch, username=user.username, password=user.password, api_key=None
            ),
        )
        client = connect(as_user)
        try:
            tally = Tally()
            ingest = index_articles(client, CORPUS[:2], as_user, tally)
            assert (ingest.indexed, ingest.failed, ingest.pending) == (2, 0, 0), user.how

            stored = store_run_report(client, as_user, {"id": "least-privilege", "kind": "ingest", "indexed": 2})
            assert stored.where == "index"

            bad = dict(CORPUS[0].to_dict(), id="bad-date", published_at="next tuesday")
            refused = index_documents(client, [document_action(bad, names.write_alias)], as_user, Tally())
            assert (refused.failed, refused.deadlettered_to_index) == (1, 1)  # the letter went in

            replay = retry_deadletters(client, as_user)
            assert replay.by_reason["es_rejected_execution_exception"].replayed == 2
            assert replay.by_reason["document_parsing_exception"].still_failing == 1
            assert (replay.removed_from_index, replay.removed_from_file) == (1, 1)

            status = index_status(client, as_user)
            assert sum(i["docs"] for i in status["indices"].values()) == 4
            assert (status["deadletters"], status["deadletters_in_file"]) == (1, 0)

            # Anywhere else: 403, as a request and as a bulk item (dead-lettered, never retried).
            with pytest.raises(AuthorizationException) as caught:
                client.index(index=other, document={"title": "not here"})
            assert caught.value.status_code == 403
            elsewhere = index_documents(
                client, [document_action(CORPUS[0].to_dict(), other)], as_user, Tally(), require_alias=False
            )
            assert (elsewhere.failed, elsewhere.pending, elsewhere.failure_reasons) == (1, 0, {"security_exception": 1})
            with pytest.raises(AuthorizationException):
                client.indices.delete(index=names.deadletter)
            with pytest.raises(AuthorizationException):  # setup stays an administrator's job
                setup_index(client, as_user)
        finally:
            client.close()
    assert es.count(index=other)["count"] == 0
