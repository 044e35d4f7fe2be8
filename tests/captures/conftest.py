"""The captures store's tests: a real S3 server (moto's, tests/s3_service.py) for the ``s3://`` ones, and
for the two-home test a real PostgreSQL as the shared state (tests/postgres_service.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from postgres_service import PostgresService
from s3_service import s3_captures_url, s3_service

__all__ = ["postgres_url", "s3_captures_url", "s3_service"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    service = PostgresService()
    try:
        yield service.start()
    finally:
        service.stop()
