"""The hardened HTTP client: one GET, its redirects, its limits and its retries → one ``FetchResult``.

Every attempt ends in exactly one Outcome. What it enforces:

- the SSRF guard (and an optional per-hop check such as robots.txt) before every hop;
- at most ``max_redirects`` hops, each recorded; a hop back to a URL already seen is a redirect_loop;
- connect and read timeouts, and one total deadline per attempt over connect, headers and body
  and every redirect hop, enforced by a watchdog that shuts the socket down when it passes;
- a size limit on the wire and after inflation, and a ratio limit against decompression bombs;
- Content-Type by kind (HTML for articles, XML for feeds and sitemaps);
- conditional GET: If-None-Match / If-Modified-Since from stored validators, 304 → not_modified;
- retries only for 408, 429, 5xx, timeouts and dropped connections, with exponential
  backoff and jitter, honouring Retry-After (up to ``backoff_max``; a longer wait gives up).

The client is urllib3's thread-safe PoolManager (the engine inside requests) used
directly: bench/fetch_throughput.py showed requests' own per-request layers costing
more CPU than the rest of a page's work. Threads are enough (the work is I/O and C
code: zlib, hashing, sqlite), so no async client is needed.
"""

from __future__ import annotations

import contextlib
import email.utils
import heapq
import itertools
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin

import urllib3

from pipeline.config import FetchSettings
from pipeline.decode import BodyDecoder, BodyTooLarge
from pipeline.fetch.content import ContentKind, acceptable_type
from pipeline.fetch.ssrf import BlockedAddress, Refusal, SsrfGuard, guarded_pool_classes
from pipeline.outcomes import Outcome
from pipeline.sources import BasicAuth
from pipeline.urls import canonicalize, origin_of

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
RETRY_STATUSES = (408, 429)
CHUNK = 64 * 1024
MAX_XML_BYTES = 50 * 1024 * 1024  # the sitemaps protocol's cap on an uncompressed sitemap

ACCEPT = {
    ContentKind.ARTICLE: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
    ContentKind.XML: "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1",
    ContentKind.ROBOTS: "text/plain,*/*;q=0.1",
    ContentKind.DATA: "application/json,text/plain;q=0.9,*/*;q=0.5",
}

HopCheck = Callable[[str], Refusal | None]


@dataclass(frozen=True)
class Validators:
    """What a server said about a document, to ask next time whether it changed."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    url: str  # as requested
    final_url: str  # after redirects
    outcome: Outcome
    status: int | None = None
    reason: str = ""  # why, for anything but ok
    http_reason: str = ""  # the status line's text, e.g. "OK"
    headers: tuple[tuple[str, str], ...] = ()
    raw_body: bytes = b""  # as received, still content-encoded: what the WARC stores
    body: bytes = b""  # inflated
    redirects: tuple[str, ...] = ()
    seconds: float = 0.0
    attempts: int = 1
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    request_headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    @property
    def content_type(self) -> str | None:
        return self.header("Content-Type")

    @property
    def validators(self) -> Validators:
        return Validators(etag=self.header("ETag"), last_modified=self.header("Last-Modified"))


def _retryable(result: FetchResult) -> bool:
    if result.outcome in (Outcome.TIMEOUT, Outcome.CONNECTION_ERROR, Outcome.HTTP_5XX):
        return True
    return result.outcome is Outcome.HTTP_4XX and result.status in RETRY_STATUSES


class Fetcher:
    """Shared by the worker pool: one thread-safe urllib3 connection pool per host, keep-alive."""

    def __init__(
        self, settings: FetchSettings, guard: SsrfGuard | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self.guard = guard or SsrfGuard(settings.allow_networks)
        self._sleep = sleep
        # urllib3 directly, not requests on top of it: requests' per-request machinery (hooks,
        # cookies, settings merge) cost 0.7 ms CPU of a 1.1 ms GET in bench/fetch_throughput.py;
        # we use none of it. No proxy or .netrc from the environment: settings are the only config.
        size = max(settings.global_concurrency, 4)
        self.pool = urllib3.PoolManager(num_pools=max(size, 32), maxsize=size, block=False, retries=False)
        self.pool.pool_classes_by_scheme = _deadline_pool_classes(guarded_pool_classes(self.guard))
        self._watchdog = _Watchdog()

    def close(self) -> None:
        self.pool.clear()
        self._watchdog.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(
        self,
        url: str,
        kind: ContentKind = ContentKind.ARTICLE,
        validators: Validators | None = None,
        hop_check: HopCheck | None = None,
        on_retry_after: Callable[[float], None] | None = None,
        credentials: Sequence[BasicAuth] = (),
    ) -> FetchResult:
        """GET with retries; the returned result is the last attempt's, with the attempt count."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            result = self.attempt(url, kind, validators, hop_check, credentials)
            if not _retryable(result) or attempt > self.settings.max_retries:
                break
            wait = self.backoff(attempt, result.retry_after)
            if wait is None:
                result = _replace(
                    result, reason=f"{result.reason}; Retry-After {result.retry_after:.0f}s exceeds backoff_max"
                )
                break
            if result.retry_after is not None and on_retry_after is not None:
                on_retry_after(wait)  # the politeness gate holds other requests to this host back too
            self._sleep(wait)
        return _replace(result, attempts=attempt, seconds=time.monotonic() - started)

    def backoff(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds before the next try: Retry-After when given, else exponential with jitter; None: give up."""
        if retry_after is not None:
            return retry_after if retry_after <= self.settings.backoff_max else None
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # "equal jitter": spreads retries, keeps a floor

    def attempt(
        self,
        url: str,
        kind: ContentKind,
        validators: Validators | None = None,
        hop_check: HopCheck | None = None,
        credentials: Sequence[BasicAuth] = (),
    ) -> FetchResult:
        """One try: follow redirects by hand so every hop is checked and recorded, all within one total deadline.

        ``total_timeout`` covers the whole attempt: connect (and TLS), waiting for and reading the
        headers, the body, and every redirect hop. The phase it ran out in is named in the reason.
        """
        started = time.monotonic()
        clock = self._watchdog.start(started + self.settings.total_timeout)
        # The connection classes below find the clock here. A hop check may fetch robots.txt on this
        # thread, an attempt of its own inside this one: hence the outer clock is put back after.
        outer, _attempt.clock = getattr(_attempt, "clock", None), clock
        try:
            result = self._hops(url, kind, validators, hop_check, credentials, clock, started)
        finally:
            _attempt.clock = outer
            expired_in = clock.finish()
        if expired_in is None:
            return result
        return _replace(
            result,
            outcome=Outcome.TIMEOUT,
            reason=f"total timeout {self.settings.total_timeout:g}s passed during {expired_in}",
            raw_body=b"",
            body=b"",
            retry_after=None,
            seconds=time.monotonic() - started,
        )

    def _hops(
        self,
        url: str,
        kind: ContentKind,
        validators: Validators | None,
        hop_check: HopCheck | None,
        credentials: Sequence[BasicAuth],
        clock: _Clock,
        started: float,
    ) -> FetchResult:
        headers = self._request_headers(kind, validators)
        current = url
        redirects: list[str] = []
        visited = {canonicalize(url)}
        while True:
            clock.enter("connect")  # a hop's checks (DNS, robots.txt) count as connecting to it
            refusal = self.guard.check(current) or (hop_check(current) if hop_check else None)
            if refusal:
                return FetchResult(
                    url,
                    current,
                    refusal.outcome,
                    reason=refusal.reason,
                    redirects=tuple(redirects),
                    request_headers=headers,
                    seconds=time.monotonic() - started,
                )
            remaining = clock.remaining()
            if remaining <= 0:  # attempt() names the phase
                return self._failed(url, current, Outcome.TIMEOUT, "total timeout", redirects, headers, started)
            try:
                response = self.pool.request(
                    "GET",
                    current,
                    headers=with_credentials(headers, credentials, current),
                    preload_content=False,
                    decode_content=False,
                    redirect=False,
                    retries=False,
                    # Neither bounds a dripping server (each is per recv); the clock's watchdog does.
                    timeout=urllib3.Timeout(
                        connect=min(self.settings.connect_timeout, remaining),
                        read=min(self.settings.read_timeout, remaining),
                    ),
                )
            except BlockedAddress as exc:
                return self._failed(url, current, Outcome.SSRF_BLOCKED, str(exc), redirects, headers, started)
            except urllib3.exceptions.NewConnectionError as exc:  # refused, unreachable, DNS: before timeouts,
                return self._failed(url, current, Outcome.CONNECTION_ERROR, _short(exc), redirects, headers, started)
            except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:  # as it subclasses ConnectTimeoutError
                return self._failed(url, current, Outcome.TIMEOUT, _short(exc), redirects, headers, started)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                return self._failed(url, current, Outcome.CONNECTION_ERROR, _short(exc), redirects, headers, started)
            clock.enter("body")
            location = response.headers.get("Location")
            if response.status in REDIRECT_STATUSES and location:
                _discard(response, clock)
                target = urljoin(current, location)
                redirects.append(target)
                key = canonicalize(target)
                if key in visited:
                    return self._failed(
                        url,
                        target,
                        Outcome.REDIRECT_LOOP,
                        f"redirect back to {target}",
                        redirects,
                        headers,
                        started,
                        response.status,
                    )
                if len(redirects) > self.settings.max_redirects:
                    return self._failed(
                        url,
                        target,
                        Outcome.TOO_MANY_REDIRECTS,
                        f"more than {self.settings.max_redirects} redirects",
                        redirects,
                        headers,
                        started,
                        response.status,
                    )
                visited.add(key)
                current = target
                continue
            try:
                return self._finish(url, current, response, kind, redirects, headers, started)
            finally:
                _discard(response, clock)

    def size_limit(self, kind: ContentKind) -> int:
        """max_bytes, except that a sitemap may be as big as the sitemaps protocol allows (50 MB), and so may
        an archive's data file (a GDELT GKG zip is 10-30 MB)."""
        large = kind in (ContentKind.XML, ContentKind.DATA)
        return max(self.settings.max_bytes, MAX_XML_BYTES) if large else self.settings.max_bytes

    def _request_headers(self, kind: ContentKind, validators: Validators | None) -> dict[str, str]:
        headers = {
            "User-Agent": self.settings.user_agent,
            "Accept": ACCEPT[kind],
            "Accept-Encoding": "gzip, deflate",  # only what BodyDecoder can inflate under its limits
        }
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        return headers

    def _failed(
        self,
        url: str,
        final: str,
        outcome: Outcome,
        reason: str,
        redirects: list[str],
        headers: Mapping[str, str],
        started: float,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> FetchResult:
        return FetchResult(
            url,
            final,
            outcome,
            status=status,
            reason=reason,
            redirects=tuple(redirects),
            request_headers=headers,
            seconds=time.monotonic() - started,
            retry_after=retry_after,
        )

    def _finish(
        self,
        url: str,
        final: str,
        response: urllib3.BaseHTTPResponse,
        kind: ContentKind,
        redirects: list[str],
        headers: Mapping[str, str],
        started: float,
    ) -> FetchResult:
        status = response.status

        def result(outcome: Outcome, reason: str = "", **extra: Any) -> FetchResult:
            return FetchResult(
                url,
                final,
                outcome,
                status=status,
                reason=reason,
                http_reason=response.reason or "",
                headers=tuple(response.headers.items()),
                redirects=tuple(redirects),
                request_headers=headers,
                seconds=time.monotonic() - started,
                **extra,
            )

        if status == 304:
            return result(Outcome.NOT_MODIFIED, "304 Not Modified")
        if not 200 <= status < 300:
            outcome = Outcome.HTTP_5XX if status >= 500 else Outcome.HTTP_4XX
            return result(
                outcome,
                f"HTTP {status} {response.reason or ''}".strip(),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        content_type = response.headers.get("Content-Type")
        if content_type and not acceptable_type(kind, content_type, b"\x1f\x8b" if "gzip" in content_type else b""):
            return result(Outcome.BAD_CONTENT_TYPE, f"Content-Type {content_type} for {kind.value}")
        declared = response.headers.get("Content-Length", "")
        limit = self.size_limit(kind)
        if declared.isdigit() and int(declared) > limit:
            return result(Outcome.TOO_LARGE, f"Content-Length {declared} over {limit}")
        try:
            decoder = BodyDecoder(
                response.headers.get("Content-Encoding"), limit, self.settings.max_decompression_ratio
            )
        except ValueError as exc:
            return result(Outcome.BAD_CONTENT_TYPE, str(exc))
        raw_parts: list[bytes] = []
        try:
            while chunk := response.read1(CHUNK, decode_content=False):  # what arrived: limits act per chunk
                raw_parts.append(chunk)
                decoder.feed(chunk)
            body = decoder.body()
        except BodyTooLarge as exc:
            return result(Outcome.TOO_LARGE, str(exc))
        except zlib.error as exc:
            return result(Outcome.DECODE_ERROR, f"bad Content-Encoding: {exc}")
        except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            return result(Outcome.TIMEOUT, f"read timeout: {_short(exc)}")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return result(Outcome.CONNECTION_ERROR, _short(exc))
        if not content_type and not acceptable_type(kind, None, body):
            return result(Outcome.BAD_CONTENT_TYPE, f"no Content-Type and the body is not {kind.value}")
        return result(Outcome.OK, raw_body=b"".join(raw_parts), body=body)


def with_credentials(headers: Mapping[str, str], credentials: Sequence[BasicAuth], url: str) -> Mapping[str, str]:
    """The headers one hop sends: plus Authorization only when the hop is on a credential's own origin.

    Chosen per hop, so a redirect to another host, port or scheme never carries it; ``headers``
    (what FetchResult.request_headers and so the WARC keep) never holds it at all.
    """
    if not credentials:
        return headers
    origin = origin_of(url)
    login = next((c for c in credentials if c.origin == origin), None)
    return {**headers, "Authorization": login.header()} if login else headers


# ---------------------------------------------------------------- the total deadline
#
# urllib3 (like requests) applies its read timeout to each recv(), not to their sum: a server
# that drips one header or body byte every few seconds never trips it, and its Timeout(total=)
# only shortens the read timeout by the connect time. So each attempt gets a clock, and one
# watchdog thread per Fetcher shuts the attempt's socket down when its deadline passes. The
# shutdown wakes a recv() blocked in any phase (TLS handshake, headers, body) with EOF, and the
# attempt then reports TIMEOUT with the phase it was in, whatever error the EOF surfaced as.

# connect: the hop's checks (SSRF, robots.txt), TCP connect, TLS handshake and sending the request.
Phase = Literal["connect", "headers", "body"]

_attempt = threading.local()  # .clock: the clock of the attempt running on this thread, for the connections


class _Clock:
    """One attempt's deadline: the phase it is in, the socket it reads, and whether time ran out."""

    def __init__(self, deadline: float, lock: threading.Condition) -> None:
        self.deadline = deadline
        self.phase: Phase = "connect"
        self.expired_in: Phase | None = None
        self.finished = False
        self._sock: socket.socket | None = None
        self._lock = lock  # the watchdog's: it reads these fields from its own thread

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def enter(self, phase: Phase, sock: socket.socket | None = None) -> None:
        """A new phase; with a socket: the one to shut down if the deadline passes from now on."""
        with self._lock:
            self.phase = phase
            if sock is not None:
                self._sock = sock
                if self.expired_in is not None:
                    _shut(sock)

    def release(self) -> bool:
        """Stop watching the socket (its connection may go back to the pool); False if time already ran out."""
        with self._lock:
            self._sock = None
            return self.expired_in is None

    def expire(self) -> None:
        """The watchdog's call, with the lock held."""
        if self.finished or self.expired_in is not None:
            return
        self.expired_in = self.phase
        if self._sock is not None:
            _shut(self._sock)

    def finish(self) -> Phase | None:
        """The attempt is over: the phase the deadline passed in, or None when it ended in time."""
        with self._lock:
            if self.expired_in is None and time.monotonic() > self.deadline:
                self.expired_in = self.phase  # passed before the watchdog thread got to it
            self.finished = True
            self._sock = None
            return self.expired_in


class _Watchdog:
    """One thread that expires clocks at their deadlines; started on the first attempt, stopped by close()."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._pending: list[tuple[float, int, _Clock]] = []  # a heap by deadline
        self._order = itertools.count()  # ties: clocks themselves are not comparable
        self._thread: threading.Thread | None = None
        self._closing = False

    def start(self, deadline: float) -> _Clock:
        clock = _Clock(deadline, self._lock)
        with self._lock:
            heapq.heappush(self._pending, (deadline, next(self._order), clock))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch-deadlines", daemon=True)
                self._thread.start()
            elif self._pending[0][2] is clock:
                self._lock.notify()  # earlier than the deadline the thread sleeps towards
        return clock

    def close(self) -> None:
        with self._lock:
            thread, self._closing = self._thread, True
            self._lock.notify()
        if thread is not None:
            thread.join()
        with self._lock:
            self._thread, self._closing, self._pending = None, False, []

    def _run(self) -> None:
        with self._lock:
            while not self._closing:
                now = time.monotonic()
                # Finished clocks are dropped when they reach the top; none holds a socket any more.
                while self._pending and (self._pending[0][2].finished or self._pending[0][0] <= now):
                    heapq.heappop(self._pending)[2].expire()
                self._lock.wait(self._pending[0][0] - now if self._pending else None)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown even under TLS: SSLSocket.shutdown() would drop the TLS object the
    # reading thread is inside; shutting the descriptor down wakes that thread with EOF.
    with contextlib.suppress(OSError):  # already closed: nobody is waiting on it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch(phase: Phase, sock: socket.socket) -> None:
    clock: _Clock | None = getattr(_attempt, "clock", None)
    if clock is not None:
        clock.enter(phase, sock)


def _deadline_pool_classes(pools: Mapping[str, type]) -> dict[str, type]:
    """The pool classes given, whose connections show the attempt's clock each socket as it is used."""

    def watched(base: type) -> type:
        def _new_conn(self: Any) -> socket.socket:
            sock: socket.socket = base._new_conn(self)  # type: ignore[attr-defined]
            _watch("connect", sock)  # connected: the TLS handshake and the request are watched from here
            return sock

        def getresponse(self: Any) -> Any:
            _watch("headers", self.sock)  # also a reused keep-alive connection, which skips _new_conn
            return base.getresponse(self)  # type: ignore[attr-defined]

        return type(f"Deadline{base.__name__}", (base,), {"_new_conn": _new_conn, "getresponse": getresponse})

    return {
        scheme: type(f"Deadline{pool.__name__}", (pool,), {"ConnectionCls": watched(pool.ConnectionCls)})  # type: ignore[attr-defined]
        for scheme, pool in pools.items()
    }


DRAIN_LIMIT = 64 * 1024  # an unread body this small is read off so the connection can be reused


def _discard(response: urllib3.BaseHTTPResponse, clock: _Clock) -> None:
    """Give the connection back to the pool: drained when cheap, closed otherwise (limit hit, big error page).

    Drained while the clock still watches the socket, so a server dripping a small error body
    cannot hold the attempt; a socket the watchdog shut down is never pooled.
    """
    if not response.closed:  # read to the end already: nothing to do but release
        remaining = response.length_remaining
        if remaining is not None and remaining <= DRAIN_LIMIT:
            try:
                response.drain_conn()
            except (urllib3.exceptions.HTTPError, OSError):
                response.close()
        else:
            response.close()
    if not clock.release():
        response.close()
    response.release_conn()


def _short(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _replace(result: FetchResult, **changes: object) -> FetchResult:
    import dataclasses

    return dataclasses.replace(result, **changes)  # type: ignore[arg-type]


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
