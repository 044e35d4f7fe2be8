"""The `chancery index`, `reindex` and `search` commands, end to end on the real engine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from index_corpus import CORPUS

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.index.bulk import index_articles
from pipeline.index.mapping import MAPPING_VERSION, IndexNames
from pipeline.outcomes import Tally


@pytest.fixture
def cli_env(index_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI reads its settings from the environment: point it at this test's prefix."""
    monkeypatch.setenv("CHANCERY_ELASTICSEARCH_INDEX_PREFIX", index_settings.elasticsearch.index_prefix)
    monkeypatch.setenv("CHANCERY_ELASTICSEARCH_RUNS_INDEX", index_settings.elasticsearch.runs_index)
    monkeypatch.setenv("CHANCERY_HOME", str(index_settings.home))
    # The session's engine, whether ELASTICSEARCH_URL named it or the embedded node was started.
    es = index_settings.elasticsearch
    monkeypatch.setenv("ELASTICSEARCH_URL", str(es.url))
    monkeypatch.setenv("ELASTICSEARCH_USERNAME", es.username or "")
    monkeypatch.setenv("ELASTICSEARCH_PASSWORD", es.password or "")
    return index_settings


@pytest.mark.engine
def test_setup_search_status_reindex(es: Any, cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-level", "WARNING", "index", "setup", "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["read_index"] == IndexNames(cli_env.elasticsearch.index_prefix).concrete(MAPPING_VERSION)

    index_articles(es, CORPUS, cli_env, Tally())
    es.indices.refresh(index=cli_env.elasticsearch.index_prefix)
    assert main(["--log-level", "WARNING", "search", '"Kuril Islands"', "--country", "JP", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total"] == 1 and result["hits"][0]["id"] == CORPUS[0].id
    assert {"key": "JP", "count": 1} in result["facets"]["countries"]

    assert main(["--log-level", "WARNING", "search", "talks", "-n", "1"]) == 0
    printed = capsys.readouterr().out
    assert "2 articles" in printed and "facets" in printed

    assert main(["--log-level", "WARNING", "index", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert sum(i["docs"] for i in status["indices"].values()) == len(CORPUS)

    assert main(["--log-level", "WARNING", "reindex", "--force", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["swapped"] and report["copied"] == len(CORPUS)


def test_engine_down_exits_non_zero_with_how_to_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHANCERY_HOME", str(settings.home))
    assert main(["--es-url", "http://127.0.0.1:9", "search", "talks"]) == 3
    assert "chancery engine start" in capsys.readouterr().err
    assert main(["--es-url", "http://127.0.0.1:9", "index", "setup"]) == 3
