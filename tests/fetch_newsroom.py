"""A loopback newsroom for fetch and discovery tests: routes → replies, every request logged with its time.

Runs http.server in a thread on port 0 (HTTP/1.1, keep-alive). A reply is
static bytes or a generator (for streaming huge or slow bodies) with any status
and headers; a route may also be a function of the request, for stateful
behaviour (503 then 200, 304 when the ETag matches).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    delay: float = 0.0  # before the status line


@dataclass(frozen=True)
class Hit:
    path: str
    at: float
    headers: dict[str, str]


Route = Reply | Callable[["Hit"], Reply]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-request (timeouts, limits) is what several tests do on purpose


class Newsroom:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        newsroom = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                hit = Hit(self.path, time.monotonic(), {k.lower(): v for k, v in self.headers.items()})
                with newsroom._lock:
                    newsroom.hits.append(hit)
                route = newsroom.routes.get(self.path) or newsroom.routes.get(self.path.split("?", 1)[0])
                reply = (route(hit) if callable(route) else route) if route else Reply(404, b"not here")
                try:
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                    self.close_connection = True  # the client gave up on purpose (size limits, timeouts)

            def _send(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if isinstance(reply.body, bytes):
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in reply.body:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # tests read self.hits, not stderr

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, reply: Route) -> str:
        self.routes[path] = reply
        return self.url(path)

    def page(self, path: str, html: str | bytes, content_type: str = "text/html; charset=utf-8", **headers: str) -> str:
        body = html.encode("utf-8") if isinstance(html, str) else html
        return self.route(path, Reply(body=body, content_type=content_type, headers=dict(headers)))

    def hits_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def __enter__(self) -> Newsroom:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def article(title: str, body: str, canonical: str | None = None, lang: str = "en", charset: str = "utf-8") -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="{charset}"><title>{title}</title>{link}</head>'
        f"<body><article><h1>{title}</h1><p>{body}</p></article></body></html>"
    )


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """items: (title, link, RFC 822 date)."""
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link><pubDate>{d}</pubDate></item>" for t, link, d in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Desk</title>'
        f"<link>http://example.org/</link><description>d</description>{entries}</channel></rss>"
    ).encode()


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    block = b"<p>" + b"x" * (size - 3)
    while sent < total:
        yield block
        sent += len(block)
