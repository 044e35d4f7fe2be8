"""Fixtures for the Airflow suites: settings wired to the loopback newsroom and the test cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def newsroom() -> Iterator[object]:
    from pipeline.demo.newsroom import serve

    with serve(host="127.0.0.1", port=0) as running:
        yield running
