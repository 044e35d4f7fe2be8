"""A loopback HTTP proxy between the client and the real engine that can refuse bulk requests.

Every request is forwarded to the engine unchanged, except `_bulk` requests that a test's
`rule` decides to answer itself: a whole-request refusal (429, 5xx, 401 with the bodies
Elasticsearch sends), or per-item `es_rejected_execution_exception` inside a real bulk response,
where the accepted items are forwarded to the engine and the rejected ones never reach it.
The proxy counts what the engine confirmed, per document id, so a test can show that nothing
that succeeded was sent twice.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import urllib3

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass(frozen=True)
class BulkItem:
    op: str
    index: str
    id: str
    lines: tuple[bytes, ...]


@dataclass(frozen=True)
class BulkRequest:
    number: int  # 1, 2, ... per target kind (see `kind`)
    kind: str  # "articles" (the write alias, or any article index), "deadletter", "other"
    items: tuple[BulkItem, ...]


@dataclass(frozen=True)
class Refuse:
    """Answer the whole request with this status and body."""

    status: int
    body: Any  # a dict (sent as JSON) or text


@dataclass(frozen=True)
class RejectItems:
    """Reject these item positions with 429 es_rejected_execution_exception; forward the rest."""

    positions: frozenset[int]


Rule = Callable[[BulkRequest], Refuse | RejectItems | None]


def es_error(status: int, error_type: str, reason: str) -> dict[str, Any]:
    """The error body Elasticsearch answers a refused request with."""
    error = {"type": error_type, "reason": reason}
    return {"error": {"root_cause": [error], **error}, "status": status}


TOO_MANY_REQUESTS = Refuse(
    429,
    es_error(
        429,
        "es_rejected_execution_exception",
        "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
        "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=0]",
    ),
)
UNAUTHORISED = Refuse(
    401,
    es_error(401, "security_exception", "unable to authenticate user [chancery] for REST request [/_bulk]"),
)
ITEM_REJECTION = {
    "type": "es_rejected_execution_exception",
    "reason": "rejected execution of primary operation on EsThreadPoolExecutor[name = node/write, "
    "queue capacity = 10000]",
}


@dataclass
class Traffic:
    requests: list[BulkRequest] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)  # article id -> times it reached the proxy
    succeeded: Counter[str] = field(default_factory=Counter)  # article id -> 2xx results from the engine
    refused_requests: int = 0
    rejected_items: int = 0


class BulkProxy:
    def __init__(self, upstream: str, deadletter_index: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.deadletter_index = deadletter_index
        self.rule: Rule | None = None
        self.traffic = Traffic()
        self._lock = threading.Lock()
        self._numbers: Counter[str] = Counter()
        self._pool = urllib3.PoolManager(maxsize=8)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = proxy._answer(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> BulkProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._pool.clear()

    # -----------------------------------------------------------------------------------------

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        wanted = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        response = self._pool.request(
            method, self.upstream + path, body=body or None, headers=wanted, redirect=False, retries=False
        )
        kept = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
        return response.status, kept, response.data

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if method not in ("POST", "PUT") or not path.split("?")[0].endswith("/_bulk"):
            return self._forward(method, path, headers, body)
        items = _parse_bulk(body)
        kind = self._kind(items)
        with self._lock:
            self._numbers[kind] += 1
            request = BulkRequest(self._numbers[kind], kind, items)
            self.traffic.requests.append(request)
            if kind == "articles":
                self.traffic.sent.update(item.id for item in items)
            decision = self.rule(request) if self.rule is not None else None
        if isinstance(decision, Refuse):
            with self._lock:
                self.traffic.refused_requests += 1
            return _json_or_text(decision.status, decision.body)
        rejected = decision.positions if isinstance(decision, RejectItems) else frozenset()
        forwarded = [item for position, item in enumerate(items) if position not in rejected]
        answers: list[dict[str, Any]] = []
        took = 0
        if forwarded:
            status, reply_headers, payload = self._forward(
                method, path, headers, b"".join(line for item in forwarded for line in item.lines)
            )
            if status != 200 or not rejected and kind != "articles":
                return status, reply_headers, payload
            reply = json.loads(payload)
            answers, took = reply["items"], int(reply.get("took", 0))
        merged: list[dict[str, Any]] = []
        engine_answers = iter(answers)
        for position, item in enumerate(items):
            if position in rejected:
                merged.append({item.op: {"_index": item.index, "_id": item.id, "status": 429, "error": ITEM_REJECTION}})
            else:
                merged.append(next(engine_answers))
        with self._lock:
            self.traffic.rejected_items += len(rejected)
            if kind == "articles":
                for entry in merged:
                    result = next(iter(entry.values()))
                    if 200 <= result["status"] < 300:
                        self.traffic.succeeded[result["_id"]] += 1
        errors = any(next(iter(entry.values()))["status"] >= 300 for entry in merged)
        return _json_or_text(200, {"errors": errors, "took": took, "items": merged})

    def _kind(self, items: tuple[BulkItem, ...]) -> str:
        targets = {item.index for item in items}
        if targets == {self.deadletter_index}:
            return "deadletter"
        prefix = self.deadletter_index.removesuffix("-deadletter")
        return "articles" if targets and all(t.startswith(prefix) for t in targets) else "other"


def _parse_bulk(body: bytes) -> tuple[BulkItem, ...]:
    lines = [line + b"\n" for line in body.split(b"\n") if line.strip()]
    items: list[BulkItem] = []
    position = 0
    while position < len(lines):
        header = json.loads(lines[position])
        op, meta = next(iter(header.items()))
        width = 1 if op == "delete" else 2
        items.append(
            BulkItem(
                op, str(meta.get("_index", "")), str(meta.get("_id", "")), tuple(lines[position : position + width])
            )
        )
        position += width
    return tuple(items)


def _json_or_text(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    if isinstance(body, (dict, list)):
        headers = {"Content-Type": "application/json", "X-Elastic-Product": "Elasticsearch"}
        return status, headers, json.dumps(body).encode()
    return status, {"Content-Type": "text/html"}, str(body).encode()
