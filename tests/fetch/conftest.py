"""Fetch tests: a loopback newsroom per test, and settings that let the fetcher reach it quickly."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fetch_newsroom import Newsroom

from pipeline.config import Settings


@pytest.fixture
def newsroom() -> Iterator[Newsroom]:
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
