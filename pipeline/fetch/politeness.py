"""Per-host politeness: a minimum spacing between request starts and a cap on concurrent requests.

The global cap is the size of the worker pool. The spacing for a host is the
largest of: the setting, the source's override and robots.txt's Crawl-delay.
A Retry-After from the host pushes its next slot back for every worker.

On one machine (the SQLite state) all of it lives in this process's memory. With a shared
state store (``CHANCERY_STATE_URL``) the gate asks the store's host leases instead, so the
concurrency and the spacing hold across every worker on every host (pipeline/state/postgres.py);
the in-process cap still applies, so this process's threads never wait on the store for each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.state import HostLeases


@dataclass
class _HostState:
    delay: float
    concurrency: int
    next_start: float = 0.0
    semaphore: threading.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.semaphore = threading.Semaphore(self.concurrency)


class HostGate:
    def __init__(
        self,
        delay: float,
        concurrency: int,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        leases: HostLeases | None = None,
    ) -> None:
        self.default_delay = delay
        self.default_concurrency = max(1, concurrency)
        self.enabled = enabled
        self.leases = leases  # None: this process alone decides
        self._hosts: dict[str, _HostState] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def _state(self, host: str) -> _HostState:
        with self._lock:
            state = self._hosts.get(host)
            if state is None:
                state = self._hosts[host] = _HostState(self.default_delay, self.default_concurrency)
            return state

    def configure(self, host: str, delay: float | None = None, concurrency: int | None = None) -> None:
        """Tighten a host's limits (never loosen: the strictest source or robots.txt wins)."""
        with self._lock:
            state = self._hosts.get(host)
            if state is None:
                state = self._hosts[host] = _HostState(
                    max(self.default_delay, delay or 0.0),
                    min(self.default_concurrency, concurrency or self.default_concurrency),
                )
                return
            if delay is not None and delay > state.delay:
                # The last start (robots.txt, which announced this delay) is spaced by the new delay too.
                state.next_start += delay - state.delay
                state.delay = delay
            if concurrency is not None and concurrency < state.concurrency:
                # Only reachable before the first request; later a smaller cap would need a new semaphore.
                state.concurrency = concurrency
                state.semaphore = threading.Semaphore(concurrency)

    def defer(self, host: str, seconds: float) -> None:
        """The host asked us to wait (Retry-After): no request to it starts before then."""
        state = self._state(host)
        with self._lock:
            state.next_start = max(state.next_start, self._clock() + seconds)
        if self.leases is not None:
            self.leases.defer(host, seconds)

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        state = self._state(host)
        with state.semaphore:
            if self.leases is not None:
                lease = self.leases.acquire(host, state.delay, state.concurrency)
                try:
                    yield
                finally:
                    self.leases.release(host, lease)
                return
            with self._lock:
                now = self._clock()
                start = max(now, state.next_start)
                state.next_start = start + state.delay
            if start > now:
                self._sleep(start - now)
            yield
