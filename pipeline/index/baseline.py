"""The bare `helpers.streaming_bulk` loop Chancery's bulk path is measured against (bench/).

Same documents, same `_id`s, same chunking, no outcomes, no dead letters: the floor.
Lives here because only `pipeline/index` imports `elasticsearch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from elasticsearch import Elasticsearch, helpers

from pipeline.config import Settings
from pipeline.index.mapping import AnalysisDecision, article_mappings, index_settings
from pipeline.models import Article


def create_plain_index(es: Elasticsearch, index: str, decision: AnalysisDecision) -> None:
    """An index with the articles mapping and analysis, outside the template and aliases."""
    es.indices.create(
        index=index,
        settings=index_settings(decision),
        mappings=article_mappings(decision),
        wait_for_active_shards="1",
    )


def bare_streaming_bulk(es: Elasticsearch, articles: Sequence[Article], index: str, settings: Settings) -> int:
    """Index with nothing but the helper; returns the number of failed documents."""
    failed = 0
    actions: Any = ({"_index": index, "_id": a.id, "_source": a.to_dict()} for a in articles)
    for ok, _info in helpers.streaming_bulk(
        es,
        actions,
        chunk_size=settings.elasticsearch.bulk_chunk_docs,
        max_chunk_bytes=settings.elasticsearch.bulk_chunk_bytes,
        raise_on_error=False,
    ):
        failed += not ok
    return failed
