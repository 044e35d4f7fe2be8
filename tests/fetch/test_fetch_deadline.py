"""One total deadline per attempt, over connect, headers, body and redirects, against servers that drip bytes.

The servers here are raw sockets, because http.server cannot send half a header: each
one reads the request and then answers with a script of (pause, bytes) steps. A byte
every 2 s never trips the 2.5 s read timeout (it applies per recv), so only the total
deadline (3 s) can end these fetches.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import FetchSettings, Settings
from pipeline.fetch.client import Fetcher, FetchResult
from pipeline.outcomes import Outcome

Script = list[tuple[float, bytes]]  # (seconds to wait first, bytes to send)

PAGE = b"<!DOCTYPE html><html><head><title>Talks</title></head><body><p>Ministers met.</p></body></html>"
TOTAL = 3.0


def _drip(prefix: bytes, rest: bytes, every: float) -> Script:
    return [(0.0, prefix), *((every, rest[i : i + 1]) for i in range(len(rest)))]


def _ok(body: bytes) -> Script:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
    return [(0.0, head.encode() + body)]


class DripServer:
    """Loopback HTTP(S) by hand: path → script; a keep-alive connection serves request after request."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.scripts: dict[str, Script] = {}
        self._tls = tls
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, path: str) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}{path}"

    def __enter__(self) -> DripServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            buffer = b""
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buffer += data
                request, buffer = buffer.split(b"\r\n\r\n", 1)
                path = request.split(b" ", 2)[1].decode()
                script = self.scripts.get(path) or [(0.0, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")]
                for pause, data in script:
                    if self._stop.wait(pause):
                        return
                    conn.sendall(data)
        except (OSError, ssl.SSLError):
            pass  # the client hung up: that is what the deadline does
        finally:
            conn.close()


@pytest.fixture
def deadline_settings(fetch_settings: Settings) -> FetchSettings:
    return dataclasses.replace(
        fetch_settings.fetch, total_timeout=TOTAL, read_timeout=2.5, connect_timeout=2.5, max_retries=0
    )


@pytest.fixture
def server() -> Iterator[DripServer]:
    with DripServer() as running:
        yield running


def _timed(fetcher: Fetcher, url: str) -> tuple[float, FetchResult]:
    started = time.monotonic()
    result = fetcher.fetch(url)
    return time.monotonic() - started, result


def test_dripped_headers_time_out_in_the_headers_phase(server: DripServer, deadline_settings: FetchSettings) -> None:
    server.scripts["/headers"] = _drip(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 40 + b"\r\n\r\n", 2.0)
    with Fetcher(deadline_settings) as fetcher:
        started = time.monotonic()
        result = fetcher.fetch(server.url("/headers"))
        elapsed = time.monotonic() - started
    assert result.outcome is Outcome.TIMEOUT
    assert "total timeout 3s" in result.reason and "headers" in result.reason
    assert TOTAL - 0.1 <= elapsed < TOTAL + 1.0


def test_dripped_body_times_out_in_the_body_phase(server: DripServer, deadline_settings: FetchSettings) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 60\r\n\r\n"
    server.scripts["/body"] = _drip(head + b"<p>", b"x" * 57, 2.0)
    with Fetcher(deadline_settings) as fetcher:
        started = time.monotonic()
        result = fetcher.fetch(server.url("/body"))
        elapsed = time.monotonic() - started
    assert result.outcome is Outcome.TIMEOUT and "body" in result.reason
    assert result.status == 200 and result.body == b""
    assert TOTAL - 0.1 <= elapsed < TOTAL + 1.0


def test_a_body_read_until_close_is_not_taken_as_complete(server: DripServer, deadline_settings: FetchSettings) -> None:
    # No Content-Length: the shutdown's EOF would look like the end of the body; it must still be a timeout.
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"
    server.scripts["/until-close"] = _drip(head + b"<html><p>", b"y" * 30, 2.0)
    with Fetcher(deadline_settings) as fetcher:
        result = fetcher.fetch(server.url("/until-close"))
    assert result.outcome is Outcome.TIMEOUT and "body" in result.reason


@pytest.mark.slow
def test_the_deadline_covers_every_redirect_hop(server: DripServer, deadline_settings: FetchSettings) -> None:
    server.scripts["/moved"] = [(0.0, b"HTTP/1.1 302 Found\r\nLocation: /headers\r\nContent-Length: 0\r\n\r\n")]
    server.scripts["/headers"] = _drip(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"b" * 40 + b"\r\n\r\n", 2.0)
    # Two hops of 2 s each: either alone is inside the deadline, together they are not.
    server.scripts["/slow-moved"] = [(2.0, b"HTTP/1.1 302 Found\r\nLocation: /slow-page\r\nContent-Length: 0\r\n\r\n")]
    server.scripts["/slow-page"] = [(2.0, _ok(PAGE)[0][1])]
    with Fetcher(deadline_settings) as fetcher:
        elapsed, result = _timed(fetcher, server.url("/moved"))
        assert result.outcome is Outcome.TIMEOUT and "headers" in result.reason
        assert result.redirects == (server.url("/headers"),)
        assert elapsed < TOTAL + 1.0
        elapsed, result = _timed(fetcher, server.url("/slow-moved"))
        assert result.outcome is Outcome.TIMEOUT and "headers" in result.reason
        assert TOTAL - 0.1 <= elapsed < TOTAL + 1.0
        assert fetcher.fetch(server.url("/slow-page")).outcome is Outcome.OK  # one slow hop alone is fine


def test_normal_and_slow_but_timely_pages_still_fetch(server: DripServer, deadline_settings: FetchSettings) -> None:
    server.scripts["/page"] = _ok(PAGE)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(PAGE)}\r\n\r\n".encode()
    server.scripts["/unhurried"] = [(0.0, head), (0.8, PAGE[:40]), (0.8, PAGE[40:])]  # 1.6 s in all
    server.scripts["/headers"] = _drip(b"HTTP/1.1 200 OK\r\n", b"X-Slow: c\r\n\r\n", 2.0)
    with Fetcher(deadline_settings) as fetcher:
        first = fetcher.fetch(server.url("/page"))
        assert first.outcome is Outcome.OK and first.body == PAGE
        assert fetcher.fetch(server.url("/headers")).outcome is Outcome.TIMEOUT
        again = fetcher.fetch(server.url("/page"))  # a timed-out connection never goes back to the pool
        assert again.outcome is Outcome.OK and again.body == PAGE
        unhurried = fetcher.fetch(server.url("/unhurried"))
        assert unhurried.outcome is Outcome.OK and unhurried.body == PAGE
    assert not [t for t in threading.enumerate() if t.name == "fetch-deadlines"]  # close() stops the watchdog


def test_parallel_attempts_each_keep_their_own_deadline(server: DripServer, deadline_settings: FetchSettings) -> None:
    server.scripts["/page"] = _ok(PAGE)
    server.scripts["/headers"] = _drip(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"d" * 40 + b"\r\n\r\n", 2.0)
    results: dict[str, Outcome] = {}

    def fetch(name: str, path: str, fetcher: Fetcher) -> None:
        results[name] = fetcher.fetch(server.url(path)).outcome

    with Fetcher(deadline_settings) as fetcher:
        threads = [threading.Thread(target=fetch, args=(f"slow{i}", "/headers", fetcher)) for i in range(3)]
        threads += [threading.Thread(target=fetch, args=(f"fast{i}", "/page", fetcher)) for i in range(6)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    assert {results[f"slow{i}"] for i in range(3)} == {Outcome.TIMEOUT}
    assert {results[f"fast{i}"] for i in range(6)} == {Outcome.OK}
    assert elapsed < TOTAL + 1.0


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.mark.slow
def test_dripped_headers_over_tls_time_out_too(tmp_path: Path, deadline_settings: FetchSettings) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with DripServer(tls=context) as server, Fetcher(deadline_settings) as fetcher:
        fetcher.pool.connection_pool_kw["ca_certs"] = str(cert)  # trust this test's own certificate
        server.scripts["/page"] = _ok(PAGE)
        server.scripts["/headers"] = _drip(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"e" * 40 + b"\r\n\r\n", 2.0)
        assert fetcher.fetch(server.url("/page")).outcome is Outcome.OK
        elapsed, result = _timed(fetcher, server.url("/headers"))
    assert result.outcome is Outcome.TIMEOUT and "headers" in result.reason
    assert elapsed < TOTAL + 1.0
