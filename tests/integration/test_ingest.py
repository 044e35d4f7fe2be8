"""`chancery ingest` against the real engine: idempotent, updates replace, engine-down is a clear failure."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.ingest import connect_ready, ingest_paths

ARTICLES = Path(__file__).resolve().parents[1] / "fixtures" / "articles"
pytestmark = pytest.mark.engine


def _count(settings: Settings) -> int:
    es = connect_ready(settings)
    es.indices.refresh(index=settings.elasticsearch.index_prefix)
    return int(es.count(index=settings.elasticsearch.index_prefix)["count"])


def test_ingesting_the_same_input_twice_leaves_the_count_unchanged(es_settings: Settings) -> None:
    first = ingest_paths(es_settings, [ARTICLES], run_id="first")
    assert first.indexed == 3
    assert _count(es_settings) == 3
    second = ingest_paths(es_settings, [ARTICLES], run_id="second")
    assert second.indexed == 3
    assert _count(es_settings) == 3


def test_an_updated_article_replaces_the_old_one(es_settings: Settings, tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in ("kerry-lavrov-syria.html", "kerry-lavrov-syria.json"):
        shutil.copy(ARTICLES / name, pages / name)
    ingest_paths(es_settings, [pages], run_id="v1")
    page = pages / "kerry-lavrov-syria.html"
    page.write_text(page.read_text().replace("without agreement", "with a surprise framework agreement"))
    ingest_paths(es_settings, [pages], run_id="v2")
    es = connect_ready(es_settings)
    es.indices.refresh(index=es_settings.elasticsearch.index_prefix)
    hits = es.search(index=es_settings.elasticsearch.index_prefix, query={"match_all": {}})["hits"]["hits"]
    assert len(hits) == 1
    assert "surprise framework agreement" in hits[0]["_source"]["body"]


def test_engine_down_fails_clearly_and_marks_nothing(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    down = dataclasses.replace(
        settings, elasticsearch=dataclasses.replace(settings.elasticsearch, url="http://127.0.0.1:9", password="x")
    )
    code = main(["--home", str(down.home), "--es-url", "http://127.0.0.1:9", "ingest", str(ARTICLES)])
    assert code != 0
    assert "chancery engine start" in capsys.readouterr().err
    assert not (down.home / "captures").exists()
