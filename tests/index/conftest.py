"""Index fixtures: a client per test, with everything it created removed at teardown.

Every test gets its own index prefix (from `es_settings`); the run-report index lives under
that prefix too, so teardown deletes all of it and the shared node does not fill up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.config import Settings


@pytest.fixture
def index_settings(es_settings: Settings) -> Settings:
    """Per-test prefix; the run-report index lives under it too, so teardown finds it."""
    prefix = es_settings.elasticsearch.index_prefix
    return dataclasses.replace(
        es_settings, elasticsearch=dataclasses.replace(es_settings.elasticsearch, runs_index=f"{prefix}-runs")
    )


@pytest.fixture
def es(index_settings: Settings) -> Iterator[Any]:
    from pipeline.index.client import connect
    from pipeline.index.setup import remove_index_family

    client = connect(index_settings)
    try:
        yield client
    finally:
        remove_index_family(client, index_settings)
        client.close()
