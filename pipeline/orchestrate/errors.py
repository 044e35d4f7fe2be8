"""Typed, picklable errors a DAG task raises so its RetryPolicy can decide: fail fast, or wait and retry.

The DAGs name these by dotted path in ``ExceptionRetryPolicy`` rules, so the classes
must stay importable under these names.
"""

from __future__ import annotations

from typing import Any


class FetchBatchError(RuntimeError):
    """Some sources of a batch failed in a way worth retrying; carries which and why."""

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures = dict(failures or {})

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.failures))


class RateLimited(FetchBatchError):
    """A source answered 429 (or asked to back off): retry later, after a longer wait."""


class SourceGone(FetchBatchError):
    """A source's entry point answered 404/410 on every try: retrying will not help, fail fast."""


class EngineDown(RuntimeError):
    """Elasticsearch could not be reached: the capture stays pending and the task retries."""
