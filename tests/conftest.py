"""Shared fixtures: settings in a temporary home, and one real Elasticsearch per session.

Where ELASTICSEARCH_URL is set, that cluster is used. Otherwise the embedded engine
is started once (reused if it already runs) from the repository's state directory,
so the downloaded distribution is shared between sessions. Each session writes to
its own index prefix, so parallel sessions on one engine never see each other.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load_settings(environ={k: v for k, v in os.environ.items()}, overrides={"home": str(REPO / ".chancery")})


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    """Settings whose state (captures, seen-store, dead letters) lives in a fresh temporary home."""
    return dataclasses.replace(base_settings, home=tmp_path / "home")


@pytest.fixture(scope="session")
def engine_settings(base_settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a running engine, with a per-session index prefix."""
    from pipeline.engine import local

    es = base_settings.elasticsearch
    started = False
    if not es.url:
        before = local.status(base_settings)
        if not before.running:
            local.start(base_settings)
            started = True
        url, username, password = local.connection(base_settings)
        es = dataclasses.replace(es, url=url, username=username, password=password)
    prefix = f"test-{uuid.uuid4().hex[:8]}-articles"
    yield dataclasses.replace(base_settings, elasticsearch=dataclasses.replace(es, index_prefix=prefix))
    if started and os.environ.get("CHANCERY_KEEP_ENGINE") != "1":
        local.stop(base_settings)


@pytest.fixture
def es_settings(engine_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Engine settings with a unique index prefix per test and a temporary home; its indices go at teardown."""
    from pipeline.index.client import connect
    from pipeline.index.setup import remove_index_family

    prefix = f"t{uuid.uuid4().hex[:8]}-articles"
    settings = dataclasses.replace(
        engine_settings,
        home=tmp_path / "home",
        elasticsearch=dataclasses.replace(engine_settings.elasticsearch, index_prefix=prefix),
    )
    yield settings
    client = connect(settings, check=False)
    try:
        remove_index_family(client, settings)
    finally:
        client.close()


@pytest.fixture
def newsroom() -> Iterator[object]:
    """A loopback newsroom of hostile and well-behaved pages (tests/fetch_newsroom.py), one per test."""
    from fetch_newsroom import Newsroom

    with Newsroom() as room:
        yield room


@pytest.fixture
def fetch_settings(settings: Settings) -> Settings:
    """Loopback opened past the SSRF guard; small timeouts, limits and backoff so tests stay fast."""
    fetch = dataclasses.replace(
        settings.fetch,
        allow_networks=("127.0.0.0/8",),
        connect_timeout=1.0,
        read_timeout=0.5,
        total_timeout=5.0,
        max_bytes=1024 * 1024,
        max_retries=2,
        backoff_base=0.05,
        backoff_max=2.0,
        per_host_delay=0.0,
        per_host_concurrency=2,
        global_concurrency=4,
    )
    return dataclasses.replace(settings, fetch=fetch)
