"""Briefs are a field and a facet, never a discard: search can keep or leave them out."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from index_corpus import make_article

from pipeline.config import Settings
from pipeline.index.bulk import index_articles
from pipeline.index.search import SearchQuery, search
from pipeline.index.setup import setup_index
from pipeline.outcomes import Tally

pytestmark = pytest.mark.engine


def test_briefs_are_a_facet_and_a_filter(es: Any, index_settings: Settings) -> None:
    setup_index(es, index_settings)
    full = make_article("talks", "Envoys meet on the river treaty", "Envoys met for a third day. " * 40, "2025-01-08")
    held = make_article("rates", "Central bank holds rates", "The central bank held its rate at 4.5 %.", "2025-01-09")
    brief = dataclasses.replace(held, brief=True)
    index_articles(es, [full, brief], index_settings, Tally())
    es.indices.refresh(index=f"{index_settings.elasticsearch.index_prefix}-write")

    everything = search(es, index_settings, SearchQuery())
    assert {b.key: b.count for b in everything.facets["brief"]} == {"true": 1, "false": 1}
    assert [h.id for h in search(es, index_settings, SearchQuery(brief=True)).hits] == [brief.id]
    assert [h.id for h in search(es, index_settings, SearchQuery(brief=False)).hits] == [full.id]
