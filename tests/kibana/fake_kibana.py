"""A loopback stand-in for Kibana's Saved Objects API that records every request it receives.

It answers with the shapes Kibana documents and sends: an import's ``success``, ``successCount``,
``successResults`` (with ``overwrite: true`` for an id it already holds) and per-object ``errors``;
errors as ``{"statusCode", "error", "message"}``; ``/api/status`` with ``status.overall.level``;
an export as NDJSON of what it holds. Behaviour is switched per test through ``mode``.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def multipart(self) -> dict[str, tuple[str | None, str | None, bytes]]:
        """Form field name → (filename, content type, content)."""
        raw = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode() + self.body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        parts: dict[str, tuple[str | None, str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            parts[str(name)] = (part.get_filename(), part.get_content_type(), payload or b"")
        return parts


@dataclass
class FakeKibana:
    mode: str = "ok"  # ok | object_errors | 401 | 403 | 409 | 503 | starting | garbage
    starting_polls: int = 2  # in "starting": /api/status answers 503 this many times first
    held: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    failing_ids: tuple[str, ...] = ()
    export_extra: dict[str, Any] = field(default_factory=dict)  # merged into every exported object
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def imports(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/api/saved_objects/_import")]

    def __enter__(self) -> FakeKibana:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                parts = urlsplit(self.path)
                request = Received(self.command, parts.path, parse_qs(parts.query),
                                   {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with fake._lock:
                    fake.received.append(request)
                    status, body, kind = fake.answer(request)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # -- Kibana's answers ------------------------------------------------------------------------

    def answer(self, request: Received) -> tuple[int, Any, str]:
        refusals = {
            "401": (401, "Unauthorized",
                    "[security_exception]: unable to authenticate user [elastic] for REST request"),
            "403": (403, "Forbidden", "Unable to bulk_create index-pattern,search,dashboard"),
            "409": (409, "Conflict", "Another import is in progress for this space"),
            "503": (503, "Service Unavailable", "Kibana server is not ready yet"),
        }
        if self.mode in refusals:
            code, error, message = refusals[self.mode]
            return code, {"statusCode": code, "error": error, "message": message}, "application/json"
        if request.path.endswith("/api/status"):
            if self.mode == "starting" and self.starting_polls > 0:
                self.starting_polls -= 1
                return 503, {"statusCode": 503, "error": "Service Unavailable",
                             "message": "Kibana server is not ready yet"}, "application/json"
            return 200, {"name": "kibana", "version": {"number": "9.2.8"},
                         "status": {"overall": {"level": "available", "summary": "All services are available"}}}, \
                "application/json"
        if request.path.endswith("/api/saved_objects/_import"):
            if self.mode == "garbage":
                return 200, b"<html>proxy error</html>", "text/html"
            return 200, self._import(request), "application/json"
        if request.path.endswith("/api/saved_objects/_export"):
            return self._export(request)
        return 404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"}, "application/json"

    def _import(self, request: Received) -> dict[str, Any]:
        _, _, content = request.multipart()["file"]
        objects = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        results, errors = [], []
        for obj in objects:
            key = (obj["type"], obj["id"])
            meta = {"title": obj["attributes"].get("title"), "icon": "app"}
            if self.mode == "object_errors" and obj["id"] in self.failing_ids:
                error: dict[str, Any]
                if obj["type"] == "dashboard":
                    error = {"type": "missing_references",
                             "references": [{"type": "index-pattern", "id": "chancery-articles"}]}
                else:
                    error = {"type": "unknown", "message": "Document has an unsupported typeMigrationVersion",
                             "statusCode": 400}
                errors.append({"id": obj["id"], "type": obj["type"], "title": meta["title"], "meta": meta,
                               "error": error})
                continue
            result: dict[str, Any] = {"id": obj["id"], "type": obj["type"], "meta": meta}
            if key in self.held and request.query.get("overwrite") == ["true"]:
                result["overwrite"] = True
            self.held[key] = obj
            results.append(result)
        body: dict[str, Any] = {"success": not errors, "successCount": len(results), "successResults": results}
        if errors:
            body["errors"] = errors
        return body

    def _export(self, request: Received) -> tuple[int, Any, str]:
        wanted = json.loads(request.body)["objects"]
        missing = [w for w in wanted if (w["type"], w["id"]) not in self.held]
        if missing:
            return 400, {"statusCode": 400, "error": "Bad Request", "message": "Error fetching objects to export",
                         "attributes": {"objects": [{**m, "error": {"statusCode": 404, "error": "Not Found"}}
                                                    for m in missing]}}, "application/json"
        lines = [json.dumps({**self.held[(w["type"], w["id"])], "updated_at": "2026-03-01T08:00:00.000Z",
                             "version": "WzQyLDFd", "namespaces": ["default"], **self.export_extra})
                 for w in wanted]
        return 200, ("\n".join(lines) + "\n").encode(), "application/ndjson"
