"""The state store's backends for the tests in this folder: SQLite under a temporary home, and PostgreSQL.

``postgres_url`` (session): a real PostgreSQL server, started once per session by
scripts/services/postgres.sh when a test asks for it and stopped at the end, or the server
``CHANCERY_TEST_POSTGRES_URL`` names (tests/postgres_service.py). ``state_settings`` runs a test
once per backend; its PostgreSQL run gets a schema of its own (``postgres_state_url``) and is
marked ``slow``, like every test that needs PostgreSQL: ``make test-fast`` needs no server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from postgres_service import PostgresService, fresh_schema

from pipeline.config import Settings


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    service = PostgresService()
    try:
        yield service.start()
    finally:
        service.stop()


@pytest.fixture
def postgres_state_url(postgres_url: str) -> Iterator[str]:
    """A ``CHANCERY_STATE_URL`` of this test's own: an empty schema on the session's server."""
    with fresh_schema(postgres_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def state_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings in a temporary home, with the state in SQLite files there or in PostgreSQL."""
    if request.param == "sqlite":
        return dataclasses.replace(settings, state_url=None)
    return dataclasses.replace(settings, state_url=request.getfixturevalue("postgres_state_url"))


@pytest.fixture
def shared_settings(settings: Settings, postgres_state_url: str) -> Settings:
    """Settings whose state is in PostgreSQL only: what one machine does not share (host leases).

    Its tests are marked ``slow`` (they need the server).
    """
    return dataclasses.replace(settings, state_url=postgres_state_url)
