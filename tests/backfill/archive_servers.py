"""Loopback servers that speak the archives' protocols, written from their public documentation.

- ``Wayback``: the CDX server (``/cdx/search/cdx``) with its field order (urlkey, timestamp,
  original, mimetype, statuscode, digest, length), ``fl=``, ``filter=[!]field:regex``,
  ``collapse=field[:N]`` on adjacent rows, ``from``/``to`` (1-14 digits, inclusive),
  ``matchType=prefix``, ``limit`` with ``showResumeKey``/``resumeKey`` (an empty row, then the
  key), ``page``/``showNumPages``, gzip when asked; and raw captures at
  ``/web/<timestamp>id_/<original>`` with the original headers as ``X-Archive-Orig-*``,
  ``Memento-Datetime``, and a 302 to the nearest timestamp when the one asked has no capture.
- ``Files``: static files with HEAD and byte ranges (206, Content-Range), as data.gdeltproject.org
  and data.commoncrawl.org serve them.
- ``Publisher``: article pages, a live feed and sitemaps.

Every server binds its own loopback address (127.0.0.2, 127.0.0.3, ...) so host filters see
different hosts. Requests are logged for the tests' assertions.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote_plus, unquote_plus, urlsplit

CDX_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class Loopback:
    """A threaded HTTP server on ``host``; subclasses answer in ``answer``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                self._reply("GET")

            def do_HEAD(self) -> None:  # noqa: N802
                self._reply("HEAD")

            def _reply(self, method: str) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append((method, self.path, headers))
                status, out_headers, body = server.answer(method, self.path, headers)
                self.send_response(status)
                for key, value in out_headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in out_headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if method == "GET":
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server((host, 0), Handler)
        self.host = host
        self.port = self._server.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Loopback:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def paths(self, prefix: str = "") -> list[str]:
        return [p for m, p, _ in self.requests if m == "GET" and p.startswith(prefix)]


def not_found() -> tuple[int, dict[str, str], bytes]:
    return 404, {"Content-Type": "text/html"}, b"<html><body>Not Found</body></html>"


# ---------------------------------------------------------------- publisher pages


def article_html(title: str, published: str, paragraphs: list[str], canonical: str | None = None) -> bytes:
    """A news article page as publishers write them: JSON-LD NewsArticle, meta dates, an <article>."""
    ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": title,
          "datePublished": published, "author": {"@type": "Person", "name": "Mariko Tanaka"}}
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>{link}"
            f'<meta property="article:published_time" content="{published}">'
            f'<script type="application/ld+json">{json.dumps(ld)}</script></head>'
            f"<body><header><nav><a href=\"/\">Home</a></nav></header><article><h1>{title}</h1>"
            f'<p class="byline">By Mariko Tanaka</p>{body}</article><footer>Press office</footer></body></html>'
            ).encode()


def diplomacy_text(topic: str, place: str) -> list[str]:
    """Five paragraphs of plain diplomacy-news prose about ``topic`` (written for these tests)."""
    return [
        f"Foreign ministers met in {place} on Tuesday to discuss {topic}, the first such meeting in more than a "
        "year, officials said after talks that ran late into the evening.",
        f"The ministers agreed to set up a working group on {topic} and to meet again before the end of the year, "
        "according to a joint statement released by both delegations after the session.",
        "Diplomats described the atmosphere as constructive but said that deep differences remained over the "
        "sequencing of any agreement and over how commitments would be verified by each side.",
        f"A senior official told reporters in {place} that the two governments would exchange written proposals "
        "within weeks, and that their leaders could meet on the sidelines of the United Nations General Assembly.",
        "Opposition lawmakers criticised the talks as premature, while business groups welcomed any step that "
        "might reduce tension and reopen trade and investment between the two countries in the coming months.",
    ]


@dataclass
class Page:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class Publisher(Loopback):
    """A site: pages by path; anything else is a 404."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.pages: dict[str, Page] = {}

    def url(self, path: str) -> str:
        return self.base_url + path

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        page = self.pages.get(path)
        if page is None:
            return not_found()
        return page.status, {"Content-Type": page.content_type, **page.headers}, page.body


def rss(items: list[tuple[str, str, datetime]]) -> bytes:
    """An RSS 2.0 feed of (title, link, published) items."""
    entries = "".join(
        f"<item><title>{t}</title><link>{u}</link><pubDate>{format_datetime(d)}</pubDate></item>" for t, u, d in items
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Press</title><link>http://x/</link>'
            f"{entries}</channel></rss>").encode()


def urlset(entries: list[tuple[str, str]]) -> bytes:
    """A urlset of (loc, lastmod)."""
    urls = "".join(f"<url><loc>{u}</loc><lastmod>{m}</lastmod></url>" for u, m in entries)
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{urls}</urlset>").encode()


def sitemap_index(children: list[tuple[str, str | None]]) -> bytes:
    items = "".join(f"<sitemap><loc>{u.replace('&', '&amp;')}</loc>" + (f"<lastmod>{m}</lastmod>" if m else "")
                    + "</sitemap>" for u, m in children)
    return (f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{items}</sitemapindex>").encode()


# ---------------------------------------------------------------- the Wayback Machine


@dataclass(frozen=True)
class Capture:
    timestamp: str  # 14 digits
    original: str
    body: bytes
    mimetype: str = "text/html"
    statuscode: str = "200"
    headers: tuple[tuple[str, str], ...] = (("Server", "Apache"),)

    @property
    def urlkey(self) -> str:
        return surt(self.original)

    @property
    def digest(self) -> str:
        import base64

        return base64.b32encode(hashlib.sha1(self.body).digest()).decode()

    def row(self) -> dict[str, str]:
        return {"urlkey": self.urlkey, "timestamp": self.timestamp, "original": self.original,
                "mimetype": self.mimetype, "statuscode": self.statuscode, "digest": self.digest,
                "length": str(len(self.body))}


def surt(url: str) -> str:
    """The CDX's sort key: host reversed with commas, then ')' and the path (scheme and www. dropped)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    path = parts.path or "/"
    return ",".join(reversed(host.split("."))) + port + ")" + path.lower() + (f"?{parts.query}" if parts.query else "")


class Wayback(Loopback):
    """The CDX API and raw captures. ``broken`` answers chosen CDX queries with damage, by URL prefix."""

    def __init__(self, host: str = "127.0.0.1", page_rows: int | None = None) -> None:
        super().__init__(host)
        self.captures: list[Capture] = []
        self.index_only: list[Capture] = []  # in the CDX index, not in storage: the raw server redirects
        self.max_rows = page_rows  # the server's own limit per answer (a real server caps at 150,000)
        self.broken: dict[str, str] = {}  # url param prefix → "html" | "missing-field" | "truncated"
        self.throttle_once: set[str] = set()  # paths answered 429 (Retry-After: 1) the first time

    def add(self, capture: Capture) -> Capture:
        self.captures.append(capture)
        return capture

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if path in self.throttle_once:
            self.throttle_once.discard(path)
            return 429, {"Retry-After": "1", "Content-Type": "text/html"}, b"<html>Too Many Requests</html>"
        if path.startswith("/cdx/search/cdx?"):
            return self._cdx(path, headers)
        match = re.match(r"^/web/(\d{1,14})id_/(.+)$", path)
        if match:
            return self._raw(match.group(1), match.group(2))
        return not_found()

    # -- CDX --------------------------------------------------------------------------------------

    def _cdx(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        query = parse_qsl(urlsplit(path).query, keep_blank_values=True)
        params: dict[str, list[str]] = {}
        for key, value in query:
            params.setdefault(key, []).append(value)
        one = {k: v[-1] for k, v in params.items()}
        url = one.get("url", "")
        for prefix, damage in self.broken.items():
            if url.startswith(prefix):
                return self._damaged(damage, url)
        rows = sorted((c.row() for c in self.captures + self.index_only), key=lambda r: (r["urlkey"], r["timestamp"]))
        rows = [r for r in rows if _matches_url(r, url, one.get("matchType", "exact"))]
        low = one.get("from", "").ljust(14, "0") if one.get("from") else None
        high = one.get("to", "").ljust(14, "9") if one.get("to") else None
        rows = [r for r in rows if (low is None or r["timestamp"] >= low) and (high is None or r["timestamp"] <= high)]
        for spec in params.get("filter", []):
            rows = _filtered(rows, spec)
        for spec in params.get("collapse", []):
            rows = _collapsed(rows, spec)
        if "showNumPages" in one:
            return 200, {"Content-Type": "text/plain"}, b"1\n"
        if "resumeKey" in one:
            after = unquote_plus(one["resumeKey"]).rstrip("!").split(" ")
            rows = [r for r in rows if (r["urlkey"], r["timestamp"]) > (after[0], after[1])]
        limit = int(one["limit"]) if one.get("limit") else None
        if self.max_rows is not None:
            limit = min(limit or self.max_rows, self.max_rows)
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        fields = one["fl"].split(",") if one.get("fl") else list(CDX_FIELDS)
        if one.get("output") != "json":
            text = "".join(" ".join(r[f] for f in fields) + "\n" for r in rows)
            return 200, {"Content-Type": "text/plain"}, text.encode()
        data: list[list[str]] = [fields, *([r[f] for f in fields] for r in rows)] if rows else []
        if more and one.get("showResumeKey") == "true":
            last = rows[-1]
            data += [[], [quote_plus(f"{last['urlkey']} {last['timestamp']}!")]]
        body = json.dumps(data).encode()
        out = {"Content-Type": "application/json"}
        if "gzip" in headers.get("accept-encoding", "") and one.get("gzip") != "false":
            body = gzip.compress(body)  # the CDX server gzips every answer unless gzip=false
            out["Content-Encoding"] = "gzip"
        return 200, out, body

    def _damaged(self, damage: str, url: str) -> tuple[int, dict[str, str], bytes]:
        if damage == "html":  # what a proxy or an overloaded archive puts in front of the API
            return 200, {"Content-Type": "text/html"}, b"<!DOCTYPE html><html><body><h1>Service Unavailable</h1>" \
                                                       b"<p>The Wayback Machine is over capacity.</p></body></html>"
        if damage == "truncated":
            return 200, {"Content-Type": "application/json"}, b'[["timestamp","original","mimetype","statuscode",'
        rows = [list(FIELDS_ASKED), ["20160914101500", "text/html", "200", "ABC"]]  # "original" is missing
        return 200, {"Content-Type": "application/json"}, json.dumps(rows).encode()

    # -- raw captures -----------------------------------------------------------------------------

    def _raw(self, stamp: str, original: str) -> tuple[int, dict[str, str], bytes]:
        same = [c for c in self.captures if surt(c.original) == surt(original)]
        if not same:
            return 404, {"Content-Type": "text/html",
                         "X-Archive-Wayback-Runtime-Error": "ResourceNotInArchiveException"}, b"not in archive"
        wanted = stamp.ljust(14, "0")
        nearest = min(same, key=lambda c: abs(int(c.timestamp) - int(wanted)))
        if nearest.timestamp != wanted:
            location = f"{self.base_url}/web/{nearest.timestamp}id_/{nearest.original}"
            return 302, {"Location": location, "Content-Type": "text/plain"}, b""
        when = datetime.strptime(nearest.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        out = {"Content-Type": f"{nearest.mimetype}; charset=utf-8",
               "Memento-Datetime": format_datetime(when, usegmt=True),
               "Link": f'<{nearest.original}>; rel="original"',
               "X-Archive-Src": "spotlight-20160914-crawl/SPOT-20160914.warc.gz",
               "X-Archive-Orig-Date": format_datetime(when, usegmt=True),
               "X-Archive-Orig-Content-Length": str(len(nearest.body)),
               "X-Archive-Orig-Connection": "close"}
        for key, value in nearest.headers:
            out[f"X-Archive-Orig-{key}"] = value
        return 200, out, nearest.body


FIELDS_ASKED = ("timestamp", "original", "mimetype", "statuscode", "digest")


def _matches_url(row: dict[str, str], url: str, match_type: str) -> bool:
    key = surt(url if "://" in url else "http://" + url)
    if url.endswith("*"):
        match_type, key = "prefix", key.rstrip("*")
    return row["urlkey"].startswith(key) if match_type == "prefix" else row["urlkey"] == key


def _filtered(rows: list[dict[str, str]], spec: str) -> list[dict[str, str]]:
    negate = spec.startswith("!")
    name, _, pattern = spec.lstrip("!").partition(":")
    regex = re.compile(pattern)
    return [r for r in rows if bool(regex.fullmatch(r.get(name, ""))) != negate]


def _collapsed(rows: list[dict[str, str]], spec: str) -> list[dict[str, str]]:
    name, _, width = spec.partition(":")
    size = int(width) if width else None
    out: list[dict[str, str]] = []
    for row in rows:
        key = row[name][:size] if size else row[name]
        if out and (out[-1][name][:size] if size else out[-1][name]) == key:
            continue  # adjacent duplicates only, as the CDX server collapses
        out.append(row)
    return out


# ---------------------------------------------------------------- static files with ranges


class Files(Loopback):
    """Static files with HEAD and byte ranges; ``cut`` serves a file shorter than the length it states."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.files: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.cut: dict[str, int] = {}  # path → bytes actually served (the rest never arrives)

    def put(self, path: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        self.files[path] = body
        self.content_types[path] = content_type
        return self.base_url + path

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        body = self.files.get(urlsplit(path).path)
        if body is None:
            return not_found()
        kind = self.content_types[urlsplit(path).path]
        served = body[: self.cut.get(urlsplit(path).path, len(body))]
        spec = re.match(r"bytes=(\d+)-(\d*)$", headers.get("range", ""))
        base = {"Content-Type": kind, "Accept-Ranges": "bytes", "Last-Modified": "Mon, 19 Sep 2016 00:00:00 GMT"}
        if method == "HEAD":
            return 200, {**base, "Content-Length": str(len(body))}, b""
        if spec is None:
            return 200, {**base, "Content-Length": str(len(body))}, served
        first = int(spec.group(1))
        last = min(int(spec.group(2)) if spec.group(2) else len(body) - 1, len(body) - 1)
        if first >= len(body):
            return 416, {**base, "Content-Range": f"bytes */{len(body)}"}, b""
        part = served[first : last + 1]
        return 206, {**base, "Content-Range": f"bytes {first}-{first + len(part) - 1}/{len(body)}"}, part


# ---------------------------------------------------------------- GDELT 2.0 files


def export_row(event_id: int, url: str, added: str, actor1: tuple[str, str] = ("JPNGOV", "JPN"),
               actor2: tuple[str, str] = ("RUSGOV", "RUS"), event_code: str = "042") -> list[str]:
    """One GDELT 2.0 export row: 61 tab-separated columns, DATEADDED (59) and SOURCEURL (60) last."""
    row = [""] * 61
    row[0], row[1], row[2], row[3], row[4] = str(event_id), added[:8], added[:6], added[:4], "2016.7014"
    row[5], row[6], row[7] = actor1[0], "JAPAN", actor1[1]
    row[12] = actor1[0][3:6]
    row[15], row[16], row[17] = actor2[0], "RUSSIA", actor2[1]
    row[22] = actor2[0][3:6]
    row[25], row[26], row[27], row[28], row[29] = "1", event_code, event_code[:3], event_code[:2], "1"
    row[30], row[31], row[32], row[33], row[34] = "1.9", "4", "1", "4", "-1.52"
    row[51], row[52], row[53] = "1", "Tokyo, Tokyo, Japan", "JA"
    row[59], row[60] = added, url
    return row


def mentions_row(event_id: int, url: str, when: str, source_name: str, mention_type: str = "1") -> list[str]:
    """One mentions row: 16 columns, MentionIdentifier (5) the URL."""
    return [str(event_id), when, when, mention_type, source_name, url, "1", "-1", "-1", "120", "1", "50",
            "2400", "-1.3", "", ""]


def gkg_row(record: str, url: str, when: str, source_name: str) -> list[str]:
    """One GKG 2.1 row: 27 columns, V2DOCUMENTIDENTIFIER (4) the URL."""
    row = [""] * 27
    row[0], row[1], row[2], row[3], row[4] = record, when, "1", source_name, url
    return row


def gdelt_zip(name: str, rows: list[list[str]]) -> bytes:
    """A GDELT file: one tab-separated member, zipped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, "".join("\t".join(r) + "\n" for r in rows))
    return buffer.getvalue()


class Gdelt(Files):
    """data.gdeltproject.org/gdeltv2/: the 15-minute files and masterfilelist.txt (size md5 url)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.listed: list[tuple[str, str, str]] = []  # (slot, table, url), in time order
        self.extra_lines: list[tuple[str, str]] = []  # (slot, raw line) to place among the others

    @property
    def archive(self) -> str:
        return self.base_url + "/gdeltv2/"

    def add_file(self, slot: str, table: str, rows: list[list[str]], damage: str = "") -> str:
        suffix = {"export": "export.CSV", "mentions": "mentions.CSV", "gkg": "gkg.csv"}[table]
        body = gdelt_zip(f"{slot}.{suffix}", rows)
        listed_body = body
        if damage == "truncated":
            body = body[: len(body) // 2]
            listed_body = body  # the list agrees on the (cut) length; the zip itself is broken
        url = self.put(f"/gdeltv2/{slot}.{suffix}.zip", body, "application/zip")
        size, md5 = len(listed_body), hashlib.md5(listed_body).hexdigest()
        if damage == "md5":
            md5 = "0" * 32
        self.listed.append((slot, f"{size} {md5} {url}", url))
        return url

    def padding(self, first: str, slots: int) -> None:
        """Many earlier 15-minute slots (empty files), so the list is long enough to need its binary search."""
        start = datetime.strptime(first, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        from datetime import timedelta

        for i in range(slots):
            slot = (start + timedelta(minutes=15 * i)).strftime("%Y%m%d%H%M%S")
            for suffix in ("export.CSV", "mentions.CSV", "gkg.csv"):
                self.listed.append((slot, f"1234 {'a' * 32} {self.base_url}/gdeltv2/{slot}.{suffix}.zip", ""))

    def publish_list(self) -> None:
        lines = sorted(self.listed + [(s, line, "") for s, line in self.extra_lines], key=lambda x: x[0])
        self.put("/gdeltv2/masterfilelist.txt", "".join(line + "\n" for _, line, _ in lines).encode(), "text/plain")


# ---------------------------------------------------------------- CC-NEWS


class CcNews(Files):
    """data.commoncrawl.org: crawl-data/CC-NEWS/YYYY/MM/warc.paths.gz and the WARC files it lists."""

    def add_month(self, year: int, month: int, files: dict[str, bytes]) -> None:
        """``files``: name (CC-NEWS-YYYYMMDDHHMMSS-NNNNN.warc.gz) → WARC bytes."""
        paths = []
        for name, body in files.items():
            path = f"/crawl-data/CC-NEWS/{year}/{month:02d}/{name}"
            self.put(path, body, "application/octet-stream")
            paths.append(path.lstrip("/"))
        listing = gzip.compress("".join(p + "\n" for p in sorted(paths)).encode())
        self.put(f"/crawl-data/CC-NEWS/{year}/{month:02d}/warc.paths.gz", listing, "application/octet-stream")


def warc_file(tmp: Any, name: str, records: list[tuple[str, datetime, bytes]]) -> bytes:
    """A CC-NEWS style WARC.gz of (url, WARC-Date, html) responses, written by the project's WarcSink."""
    from pipeline.fetch.warc import CapturedResponse, WarcSink

    path = tmp / name
    with WarcSink(path) as sink:
        for url, when, html in records:
            sink.write(CapturedResponse(url=url, status=200, reason="OK",
                                        headers=[("Content-Type", "text/html; charset=utf-8")], raw_body=html,
                                        fetched_at=when, source_id="", run_id="CC-NEWS", fetch_url=url,
                                        canonical_url=url, request_headers={"User-Agent": "CCBot/2.0"}))
    data: bytes = path.read_bytes()
    return data


def each(*servers: Loopback) -> Callable[[], Iterator[None]]:
    """All servers started together, for a ``with``."""
    from contextlib import ExitStack, contextmanager

    @contextmanager
    def run() -> Iterator[None]:
        with ExitStack() as stack:
            for server in servers:
                stack.enter_context(server)
            yield

    return run
