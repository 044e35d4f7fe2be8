"""The state that decides what is done, behind one boundary, on one of two backends.

What lives there (the same stores on either backend):

- capture ledger (``pipeline.orchestrate.ledger.CaptureLedger``): which captures are pending,
  claimed (by whom, until when), done or failed;
- seen-store (``pipeline.fetch.seen.SeenStore``): which pages are seen (confirmed once indexed), feed validators;
- out-of-scope store (``pipeline.gate.OutOfScopeStore``): which records of a capture the relevance gate kept out;
- dead letters (``DeadLetterStore``): what indexing gave up on while the dead-letter index could not take it;
- host leases (``HostLeases``): per-publisher-host concurrency and Crawl-delay across workers.

``CHANCERY_STATE_URL`` (``settings.state_url``) chooses the backend, in ``open_state`` only:

- unset: SQLite files under CHANCERY_HOME and the dead-letter JSON lines file (``sqlite.py``); one
  machine, the default and the demo's; politeness stays in process memory;
- ``postgresql://user@host:port/db``: one PostgreSQL database every host shares (``postgres.py``).
"""

from __future__ import annotations

import threading

from pipeline.config import Settings
from pipeline.state.base import DeadLetterStore, HostLeases, StateStore, StateUnavailable

__all__ = ["DeadLetterStore", "HostLeases", "StateStore", "StateUnavailable", "open_state"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_checked: set[str] = set()  # database URLs this process reached and made the tables in
_checked_lock = threading.Lock()


def open_state(settings: Settings) -> StateStore:
    """The state store ``settings.state_url`` names; a shared one is reached (and its tables made) first.

    Raises ``StateUnavailable`` naming the URL (without its password) when it cannot be reached,
    so a run stops at its start rather than after it fetched.
    """
    url = settings.state_url
    if not url:
        from pipeline.state.sqlite import SqliteState

        return SqliteState(settings)
    if not url.startswith(_POSTGRES_SCHEMES):
        from pipeline.state.postgres import display_url

        raise StateUnavailable(
            f"CHANCERY_STATE_URL={display_url(url)}: not a postgresql:// URL; unset it for the SQLite files"
            " under CHANCERY_HOME"
        )
    from pipeline.state.postgres import PostgresState

    state = PostgresState(settings, url)
    with _checked_lock:
        if url not in _checked:
            _make_tables(state)
            _checked.add(url)
    return state


def _make_tables(state: StateStore) -> None:
    """Every store's tables, so the first run on a new database fails here, not half-way through."""
    state.ledger()
    state.seen().close()
    state.out_of_scope()
    state.deadletters()
    leases = state.host_leases()
    if leases is not None:
        leases.close()
