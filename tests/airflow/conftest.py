"""Fixtures for the Airflow suites: settings wired to the loopback newsroom and the test cluster."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import Settings


@pytest.fixture(scope="module")
def newsroom() -> Iterator[object]:
    from pipeline.demo.newsroom import serve

    with serve(host="127.0.0.1", port=0) as running:
        yield running


def wired(settings: Settings, home: Path, newsroom: object, **airflow: object) -> Settings:
    """Settings with a fresh home, the newsroom as the only sources, loopback fetching allowed."""
    from pipeline.demo.newsroom import write_sources_file

    home.mkdir(parents=True, exist_ok=True)
    sources = home / "sources.yaml"
    write_sources_file(newsroom.base_url, sources)  # type: ignore[attr-defined]
    return dataclasses.replace(
        settings,
        home=home,
        sources=sources,
        fetch=dataclasses.replace(settings.fetch, allow_networks=("127.0.0.0/8",), per_host_delay=0.05),
        airflow=dataclasses.replace(settings.airflow, **airflow),  # type: ignore[arg-type]
    )
