"""`chancery ingest --sources FILE --since D --until D`: a one-day backfill from the command line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.demo.newsroom import serve, write_sources_file
from pipeline.index.client import connect
from pipeline.index.setup import make_searchable
from pipeline.urls import canonicalize

pytestmark = pytest.mark.engine


def test_a_one_day_window_indexes_exactly_that_days_articles(
    es_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    es = es_settings.elasticsearch
    for name, value in {
        "CHANCERY_HOME": str(es_settings.home),
        "CHANCERY_ELASTICSEARCH_INDEX_PREFIX": es.index_prefix,
        "ELASTICSEARCH_URL": str(es.url),
        "ELASTICSEARCH_USERNAME": es.username or "",
        "ELASTICSEARCH_PASSWORD": es.password or "",
        "CHANCERY_ALLOW_NETWORKS": "127.0.0.0/8",
        "CHANCERY_FETCH_PER_HOST_DELAY": "0.01",
    }.items():
        monkeypatch.setenv(name, value)
    with serve() as newsroom:
        sources = write_sources_file(newsroom.base_url, tmp_path / "sources.yaml")
        expected = {canonicalize(u) for u in newsroom.article_urls(date(2015, 9, 28), date(2015, 9, 29))}
        report = tmp_path / "report.json"
        code = main(["ingest", "--sources", str(sources), "--since", "2015-09-28", "--until", "2015-09-29",
                     "--report", str(report)])
    assert code == 0
    assert expected, "the newsroom has articles on 2015-09-28"
    client = connect(es_settings)
    make_searchable(client, es_settings)
    hits = client.search(index=es.index_prefix, size=100, source=["canonical_url"])["hits"]["hits"]
    assert {h["_source"]["canonical_url"] for h in hits} == expected
    assert report.is_file() and '"indexed"' in report.read_text()
