"""Files read by HTTP range requests (fsspec's HTTP filesystem): a GDELT file list, a CC-NEWS WARC.

These are too big to fetch whole (the GDELT list is over 100 MB, a CC-NEWS file about 1 GB), so
they are opened once and read in ``RANGE_BLOCK`` ranges, which also means a seek (the GDELT
list's binary search) costs one small request. The fetcher's rules still hold where they can:
the SSRF guard checks the URL before anything is sent and redirects are not followed (a
redirect could lead past the guard; archive hosts answer directly), the User-Agent is the
fetcher's, connect and read timeouts are its, and opening retries on 408, 429 and 5xx with the
fetcher's own backoff and Retry-After (``Fetcher.backoff``). The caller holds the host's
politeness slot while the file is open. A server that states no length cannot be read by
range: that is a BAD_RECORD. Errors while reading come out of ``read`` as OSError, which the
WARC reader counts as a BAD_RECORD for the rest of the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from pipeline.config import FetchSettings
from pipeline.discover.candidates import RangedReadFailed
from pipeline.fetch.client import parse_retry_after
from pipeline.fetch.ssrf import SsrfGuard
from pipeline.outcomes import Outcome

RANGE_BLOCK = 4 * 1024 * 1024  # bytes per range request: a few requests per CC-NEWS minute, little memory
_RETRY = (408, 429)


class _Ranged:
    """The open file as a plain binary stream whose transport errors are OSError."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.size: int | None = handle.size

    def _guard(self, call: Callable[[], Any]) -> Any:
        import aiohttp

        try:
            return call()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:  # fsspec: a short or refused range
            raise OSError(f"range read failed: {type(exc).__name__}: {exc}"[:300]) from exc

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._guard(lambda: self._handle.read(size))
        return data

    def readline(self) -> bytes:
        data: bytes = self._guard(self._handle.readline)  # fsspec's readline takes no size
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        position: int = self._guard(lambda: self._handle.seek(offset, whence))
        return position

    def tell(self) -> int:
        return int(self._handle.tell())

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._handle.close()


@contextmanager
def ranged_file(
    url: str,
    settings: FetchSettings,
    guard: SsrfGuard,
    backoff: Callable[[int, float | None], float | None],
    sleep: Callable[[float], None],
    on_retry_after: Callable[[float], None] = lambda seconds: None,
) -> Iterator[IO[bytes]]:
    """The file at ``url`` open for range reads; RangedReadFailed (with its outcome) when it cannot be."""
    refusal = guard.check(url)
    if refusal is not None:
        raise RangedReadFailed(refusal.outcome, refusal.reason)
    attempt = 0
    while True:
        attempt += 1
        try:
            handle = _open(url, settings)
            break
        except (TimeoutError, OSError) as exc:  # fsspec turns every failed HEAD/GET into FileNotFoundError
            status, retry_after, reason = _why(exc)
            outcome = (Outcome.HTTP_5XX if status and status >= 500 else
                       Outcome.HTTP_4XX if status else Outcome.CONNECTION_ERROR)
            again = status is None or status >= 500 or status in _RETRY
            wait = backoff(attempt, retry_after) if again and attempt <= settings.max_retries else None
            if wait is None:
                raise RangedReadFailed(outcome, f"{reason} (after {attempt} attempt(s))") from exc
            if retry_after is not None:
                on_retry_after(wait)
            sleep(wait)
    try:
        if not isinstance(handle.size, int):
            raise RangedReadFailed(Outcome.BAD_RECORD, "the server states no length: the file cannot be read by range")
        stream: Any = _Ranged(handle)
        yield stream
    finally:
        handle.close()


def _open(url: str, settings: FetchSettings) -> Any:
    import aiohttp
    import fsspec

    timeout = aiohttp.ClientTimeout(sock_connect=settings.connect_timeout, sock_read=settings.read_timeout)
    return fsspec.open(
        url, "rb", block_size=RANGE_BLOCK, headers={"User-Agent": settings.user_agent}, allow_redirects=False,
        client_kwargs={"timeout": timeout, "trust_env": False},
    ).open()


def _why(exc: BaseException) -> tuple[int | None, float | None, str]:
    """(HTTP status, Retry-After seconds, reason) of a failed open, from the error fsspec chained."""
    import aiohttp

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ClientResponseError):
            retry_after = parse_retry_after(cause.headers.get("Retry-After") if cause.headers else None)
            return cause.status, retry_after, f"HTTP {cause.status} {cause.message}".strip()
        if isinstance(cause, (aiohttp.ClientConnectionError, asyncio.TimeoutError, TimeoutError)):
            return None, None, f"{type(cause).__name__}: {cause}"[:300]
        cause = cause.__cause__ or cause.__context__
    return None, None, f"{type(exc).__name__}: {exc}"[:300]
