"""What bench/chaos.py runs its scenarios against, built on the standard library and urllib3 only.

Nothing here imports ``pipeline``: the harness looks at Chancery from outside, as an operator
would, through its commands, its site's request log and the engine's own answers.

- ``Site``: a loopback newsroom of generated diplomacy articles (written for this bench), with
  an RSS feed per section and a news sitemap; ETag / Last-Modified and 304s like a real server;
  every request logged. ``discovery_delay`` holds feeds and sitemaps back (a kill lands during
  discovery); ``drip_headers`` makes every article page drip its response headers forever.
- ``EngineProxy``: HTTP between the ``chancery`` processes and the real engine. It counts every
  article write per document id as the engine confirmed it, per labelled run (``epoch``), and
  whether the confirmation reached the client; a ``policy`` may answer a bulk request with a 429
  itself, or forward it and then stop answering (the engine stopped mid-bulk: the documents
  are written, the client never hears so, and nothing listens any more until ``restore``).
- ``Engine``: the few REST calls the harness reads the outcome with (documents with their
  ``_version``, dead letters, index settings).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import urllib3

# ---------------------------------------------------------------- the site

COUNTRIES = (
    ("Norway", "Oslo"), ("Japan", "Tokyo"), ("Brazil", "Brasilia"), ("Kenya", "Nairobi"), ("Canada", "Ottawa"),
    ("Indonesia", "Jakarta"), ("Chile", "Santiago"), ("Poland", "Warsaw"), ("Vietnam", "Hanoi"), ("Ghana", "Accra"),
    ("Mexico", "Mexico City"), ("Turkey", "Ankara"), ("Egypt", "Cairo"), ("Finland", "Helsinki"),
    ("Malaysia", "Kuala Lumpur"), ("Peru", "Lima"), ("Morocco", "Rabat"), ("Portugal", "Lisbon"),
)
ISSUES = (
    ("fishing rights", "the shared fishing grounds", "quotas for the coming season"),
    ("a maritime boundary", "the disputed stretch of sea", "a joint survey of the seabed"),
    ("grain exports", "the grain corridor", "inspections at the ports"),
    ("a prisoner exchange", "the detained nationals", "consular visits"),
    ("visa rules", "the visa regime", "a pilot scheme for students"),
    ("a border crossing", "the mountain crossing", "customs posts on both sides"),
    ("river water sharing", "the river treaty", "a commission to measure the flow"),
    ("an energy pipeline", "the pipeline route", "the transit fees"),
)
VERBS = ("agree to resume talks on", "sign an accord on", "open negotiations over", "settle a dispute over",
         "set up a commission on", "announce a framework for")
ENVOYS = ("Ingrid Halvorsen", "Kenji Morita", "Lucia Ferraz", "Daniel Mwangi", "Claire Beaumont", "Rina Sutanto",
          "Tomas Vidal", "Marta Kowalczyk", "Linh Tran", "Kwame Owusu", "Elena Ruiz", "Selin Aydin")
SECTIONS = ("world", "europe", "asia", "africa")
FIRST_DAY = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SiteArticle:
    number: int
    section: str
    path: str
    title: str
    published: datetime
    html: bytes


def _article(number: int, base: str) -> SiteArticle:
    """One article, different from every other in its headline, actors and text."""
    rng = random.Random(number)
    (a, a_capital), (b, b_capital) = rng.sample(COUNTRIES, 2)
    issue, place, detail = ISSUES[number % len(ISSUES)]
    verb = VERBS[(number // len(ISSUES)) % len(VERBS)]
    envoy, other = rng.sample(ENVOYS, 2)
    section = SECTIONS[number % len(SECTIONS)]
    published = FIRST_DAY + timedelta(hours=7 * number)
    title = f"{a} and {b} {verb} {issue} (round {number + 1})"
    slug = f"{a}-{b}-{issue}-{number}".lower().replace(" ", "-")
    path = f"/{section}/{published:%Y/%m/%d}/{slug}.html"
    paragraphs = [
        f"{a_capital.upper()} - The foreign ministers of {a} and {b} met in {a_capital} on "
        f"{published:%A} and agreed on a timetable for talks on {place}, officials from both "
        f"delegations said after a meeting that ran late into the evening.",
        f"{envoy}, who led the delegation from {a}, told reporters that the two governments would "
        f"exchange draft texts on {detail} within weeks, and that a first round of technical talks "
        f"would be held in {b_capital} before the end of the month.",
        f"The dispute over {issue} has strained relations between the two countries for years. "
        f"Diplomats from {b} have pressed for an agreement that both parliaments could ratify, "
        f"while officials in {a_capital} have asked for guarantees on {detail}.",
        f"{other}, the envoy of {b}, said the meeting had been frank and constructive. \"We did not "
        f"settle everything today, but we agreed on how to settle it,\" the envoy said, adding that "
        f"the ambassadors would report to their ministries on the progress made.",
        "Under the plan, a joint working group will meet every two weeks, and the ministers will "
        "review its progress at a second meeting. Observers from the regional organisation to which "
        "both countries belong have been invited to attend as guarantors of the process.",
        f"Analysts said the talks were the most serious attempt in a decade to resolve the question "
        f"of {place}. Round {number + 1} of the consultations is expected to begin once both "
        f"cabinets have approved the negotiating mandates of their delegations.",
    ]
    url = base + path
    jsonld = json.dumps({
        "@context": "https://schema.org", "@type": "NewsArticle", "headline": title, "url": url,
        "datePublished": published.isoformat().replace("+00:00", "Z"), "author": [{"@type": "Person", "name": envoy}],
        "articleSection": section.title(),
    })
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    html = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} | The Chaos '
        f'Courier</title><link rel="canonical" href="{url}"><meta property="og:type" content="article">'
        f'<meta property="og:title" content="{escape(title, quote=True)}"><meta property="og:url" content="{url}">'
        f'<meta property="article:published_time" content="{published.isoformat()}">'
        f'<script type="application/ld+json">{jsonld}</script></head><body><header><nav><a href="/">Home</a> '
        f'<a href="/{section}/">{section.title()}</a></nav></header><main><article><h1>{escape(title)}</h1>'
        f'<p class="byline">By {escape(envoy)}</p><time datetime="{published.isoformat()}">'
        f'{published:%d %B %Y}</time>\n{body}\n</article></main><footer><p>The Chaos Courier, written for '
        f"Chancery's reliability bench.</p></footer></body></html>\n"
    )
    return SiteArticle(number, section, path, title, published, html.encode("utf-8"))


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed mid-request (kill -9 is the point) is no error of the server's


@dataclass(frozen=True)
class Hit:
    path: str
    status: int
    at: float


class Site:
    """A loopback newsroom: ``count`` articles over SECTIONS, a feed per section, one news sitemap.

    ``first`` numbers the articles, so two sites (a second host) never share one. Serve it with
    ``with Site(...) as site``.
    """

    def __init__(self, count: int, first: int = 0, discovery_delay: float = 0.0, drip_headers: bool = False) -> None:
        self.discovery_delay = discovery_delay
        self.drip_headers = drip_headers
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                site._answer(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.articles = [_article(n, self.base_url) for n in range(first, first + count)]
        self._pages = {a.path: a.html for a in self.articles}
        self._documents = self._discovery_documents()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    # -- what it serves

    def article_urls(self, section: str | None = None) -> list[str]:
        return [self.base_url + a.path for a in self.articles if section in (None, a.section)]

    def feed_url(self, section: str) -> str:
        return f"{self.base_url}/feeds/{section}.xml"

    @property
    def sitemap_url(self) -> str:
        return f"{self.base_url}/sitemaps/news.xml"

    def sources(
        self, feeds: Sequence[str] = SECTIONS, sitemap: bool = True, prefix: str = "courier"
    ) -> list[dict[str, str]]:
        """Sources-file entries: a feed per section named, and the news sitemap (every article)."""
        entries = [{"id": f"{prefix}-{s}", "name": f"The Chaos Courier: {s.title()}", "kind": "rss",
                    "url": self.feed_url(s), "language": "en", "scope": "all"} for s in feeds]
        if sitemap:
            entries.append({"id": f"{prefix}-sitemap", "name": "The Chaos Courier (news sitemap)", "kind": "sitemap",
                            "url": self.sitemap_url, "language": "en", "scope": "all"})
        return entries

    # -- what it was asked

    def article_hits(self) -> int:
        """Article pages answered 200 (or begun, when dripping)."""
        with self._lock:
            return sum(1 for h in self.hits if h.path in self._pages and h.status == 200)

    def discovery_hits(self) -> int:
        with self._lock:
            return sum(1 for h in self.hits if h.path in self._documents)

    # -- serving

    def __enter__(self) -> Site:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _discovery_documents(self) -> dict[str, bytes]:
        documents = {f"/feeds/{s}.xml": _rss(self.base_url, s, [a for a in self.articles if a.section == s])
                     for s in SECTIONS}
        documents["/sitemaps/news.xml"] = _news_sitemap(self.base_url, self.articles)
        documents["/robots.txt"] = b"User-agent: *\nAllow: /\n"
        return documents

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        body = self._pages.get(path) or self._documents.get(path)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"' if body is not None else ""
        status = 404 if body is None else 304 if handler.headers.get("If-None-Match") == etag else 200
        with self._lock:
            self.hits.append(Hit(path, status, time.monotonic()))
        if path in self._documents and path != "/robots.txt" and self.discovery_delay:
            self._stopping.wait(self.discovery_delay)
        if path in self._pages and self.drip_headers:
            self._drip(handler)
            return
        handler.send_response(status)
        if body is not None:
            handler.send_header("ETag", etag)
            handler.send_header("Last-Modified", format_datetime(FIRST_DAY, usegmt=True))
            kind = {".html": "text/html", ".txt": "text/plain"}.get(path[path.rfind("."):], "application/xml")
            handler.send_header("Content-Type", f"{kind}; charset=utf-8")
        payload = b"" if status == 304 else body or b"not here\n"
        if status != 304:
            handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _drip(self, handler: BaseHTTPRequestHandler) -> None:
        """A status line, then header bytes one at a time, never the empty line that ends them."""
        with contextlib.suppress(OSError):
            handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
            handler.wfile.flush()
            for byte in b"X-Slow: " + b"z" * 10_000:
                if self._stopping.wait(0.2):
                    break
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
        handler.close_connection = True


def _rfc822(value: datetime) -> str:
    return format_datetime(value, usegmt=True)


def _rss(base: str, section: str, articles: Iterable[SiteArticle]) -> bytes:
    items = "".join(
        f"<item><title>{xml_escape(a.title)}</title><link>{base}{a.path}</link><guid>{base}{a.path}</guid>"
        f"<pubDate>{_rfc822(a.published)}</pubDate></item>" for a in articles)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>The Chaos Courier: '
            f"{section.title()}</title><link>{base}/{section}/</link><description>Diplomacy news</description>"
            f"{items}</channel></rss>").encode()


def _news_sitemap(base: str, articles: Iterable[SiteArticle]) -> bytes:
    entries = "".join(
        f"<url><loc>{base}{a.path}</loc><news:news><news:publication><news:name>The Chaos Courier</news:name>"
        f"<news:language>en</news:language></news:publication><news:publication_date>"
        f"{a.published.isoformat()}</news:publication_date><news:title>{xml_escape(a.title)}</news:title>"
        f"</news:news></url>" for a in articles)
    return ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{entries}</urlset>').encode()


# ---------------------------------------------------------------- the proxy to the engine

FORWARD, REFUSE, CUT = "forward", "refuse", "cut"
Policy = Callable[[int], str]  # the n-th article bulk request (1, 2, ...) → FORWARD, REFUSE or CUT

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "host"}
_TOO_MANY_REQUESTS = {
    "error": {"root_cause": [{"type": "es_rejected_execution_exception", "reason": "rejected execution of "
                              "coordinating operation [chaos proxy]"}],
              "type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation "
              "[chaos proxy]"},
    "status": 429,
}


@dataclass
class Writes:
    """Article writes the engine confirmed, per document id, in one labelled run."""

    confirmed: Counter[str] = field(default_factory=Counter)  # the engine said 2xx
    delivered: Counter[str] = field(default_factory=Counter)  # ... and the client got that answer
    bulk_requests: int = 0
    refused_requests: int = 0  # answered 429 by the proxy: never reached the engine
    item_refusals: Counter[str] = field(default_factory=Counter)  # the engine's per-item errors, by type


class EngineProxy:
    """Forwards HTTP to the engine; counts article writes; refuses or cuts bulk requests by ``policy``."""

    def __init__(self, upstream: str, prefix: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.prefix = prefix
        self.policy: Policy | None = None
        self.epoch = "run"
        self.runs: dict[str, Writes] = {}
        self._bulks = 0
        self._lock = threading.Lock()
        self._pool = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(connect=10, read=300))
        self._server: _QuietServer | None = None
        self.port = 0
        self._serve()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def writes(self, epoch: str | None = None) -> Writes:
        with self._lock:
            return self.runs.setdefault(epoch or self.epoch, Writes())

    def __enter__(self) -> EngineProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self._pool.clear()

    def cut(self) -> None:
        """Nothing listens any more: a new connection is refused, an open one closed."""
        server, self._server = self._server, None
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()
            server.socket.close()

    def restore(self) -> None:
        """The engine is back, on the same address."""
        if self._server is None:
            self._serve()

    def _serve(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
                pass

        server = _QuietServer(("127.0.0.1", self.port), Handler)
        self.port = int(server.server_address[1])
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.server is not self._server:  # a connection opened before a cut: it goes unanswered
            handler.close_connection = True
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = handler.path
        bulk = path.split("?")[0].endswith("/_bulk")
        items = _bulk_items(body, handler.headers.get("Content-Encoding")) if bulk else []
        article_bulk = bool(items) and all(self._is_article_index(index) for index, _ in items)
        decision = FORWARD
        writes = self.writes()
        if article_bulk:
            with self._lock:
                self._bulks += 1
                writes.bulk_requests += 1
                decision = self.policy(self._bulks) if self.policy is not None else FORWARD
        if decision == REFUSE:
            with self._lock:
                writes.refused_requests += 1
            self._reply(handler, 429, {"Content-Type": "application/json", "X-Elastic-Product": "Elasticsearch"},
                        json.dumps(_TOO_MANY_REQUESTS).encode())
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            response = self._pool.request(handler.command, self.upstream + path, body=body or None, headers=headers,
                                          redirect=False)
        except urllib3.exceptions.HTTPError:
            handler.close_connection = True  # the engine itself is away: so is the answer
            return
        confirmed = _confirmed_ids(response.data) if article_bulk and response.status == 200 else ([], Counter())
        with self._lock:
            writes.confirmed.update(confirmed[0])
            writes.item_refusals.update(confirmed[1])
            if decision != CUT:
                writes.delivered.update(confirmed[0])
        if decision == CUT:  # written, and the answer never leaves: the engine "stopped" mid-bulk
            self.cut()
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        self._reply(handler, response.status, kept, response.data)

    def _is_article_index(self, index: str) -> bool:
        return index in (f"{self.prefix}-write", self.prefix) or index.startswith(f"{self.prefix}-v")

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes) -> None:
        with contextlib.suppress(OSError):
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)


def _bulk_items(body: bytes, encoding: str | None) -> list[tuple[str, str]]:
    """(index, id) of every action in a bulk body."""
    if encoding == "gzip":
        body = gzip.decompress(body)
    lines = [line for line in body.split(b"\n") if line.strip()]
    items: list[tuple[str, str]] = []
    position = 0
    while position < len(lines):
        op, meta = next(iter(json.loads(lines[position]).items()))
        items.append((str(meta.get("_index", "")), str(meta.get("_id", ""))))
        position += 1 if op == "delete" else 2
    return items


def _confirmed_ids(payload: bytes) -> tuple[list[str], Counter[str]]:
    """The ids the engine wrote, and its per-item refusals by error type."""
    written: list[str] = []
    refusals: Counter[str] = Counter()
    for entry in json.loads(payload).get("items", []):
        result = next(iter(entry.values()))
        if 200 <= int(result.get("status", 500)) < 300:
            written.append(str(result["_id"]))
        else:
            refusals[str((result.get("error") or {}).get("type", result.get("status")))] += 1
    return written, refusals


# ---------------------------------------------------------------- reading the engine

MAX_DOCUMENTS = 10_000  # one search page (the engine's default max_result_window); scenarios hold far fewer


class Engine:
    """The REST calls the harness needs, with the engine's own credentials."""

    def __init__(self, url: str, username: str | None, password: str | None) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Content-Type": "application/json"}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10, read=60))

    def call(self, method: str, path: str, body: Any = None, ok: Sequence[int] = (200,)) -> Any:
        response = self._pool.request(method, self.url + path, headers=self._headers,
                                      body=None if body is None else json.dumps(body).encode())
        if response.status not in ok:
            raise RuntimeError(f"{method} {path}: {response.status} {response.data[:300]!r}")
        return json.loads(response.data) if response.data else {}

    def exists(self, index: str) -> bool:
        return bool(self._pool.request("HEAD", f"{self.url}/{index}", headers=self._headers).status == 200)

    def documents(self, index: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Every document of ``index`` (an alias too): the fields asked, with ``_id`` and ``_version``."""
        if not self.exists(index):
            return []
        self.call("POST", f"/{index}/_refresh")
        query = {"size": MAX_DOCUMENTS, "version": True, "_source": list(fields), "track_total_hits": True}
        found = self.call("POST", f"/{index}/_search", query)["hits"]
        if found["total"]["value"] > MAX_DOCUMENTS:
            raise RuntimeError(f"{index} holds {found['total']['value']} documents; the harness reads {MAX_DOCUMENTS}")
        return [{"_id": h["_id"], "_version": h.get("_version", 1), **h.get("_source", {})} for h in found["hits"]]

    def write_index(self, alias: str) -> str:
        return next(iter(self.call("GET", f"/_alias/{alias}")))

    def block_writes(self, index: str, blocked: bool) -> None:
        self.call("PUT", f"/{index}/_settings", {"index.blocks.write": True if blocked else None})


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
