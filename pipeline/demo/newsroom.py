"""The demo newsroom served over loopback HTTP with the standard library.

    with serve() as newsroom:             # 127.0.0.1, any free port
        newsroom.base_url                 # http://127.0.0.1:PORT
        newsroom.article_urls(start, end) # articles published in [start, end), UTC dates
        write_sources_file(newsroom.base_url, tmp / "sources.yaml")

``start_in_thread`` / ``Newsroom.stop`` do the same without a ``with`` block (the
Airflow standalone test keeps it up for minutes), and
``python -m pipeline.demo.newsroom --port 8765`` runs it in the foreground.

Every page is rendered once at start-up for the server's own base URL, so the
canonical URLs, feed links and sitemap entries all point back at this server.
Responses carry an ETag and Last-Modified; a matching If-None-Match (or an
If-Modified-Since not older than the page) gets 304 Not Modified.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime as http_date
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from pipeline.demo import render
from pipeline.demo.catalog import DemoArticle, load_articles

HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

# The fronts are fixed, like a small site's navigation.
SECTION_FRONTS = (
    ("Home", "/", None),
    ("World", "/world/", "World"),
    ("Sport", "/sport/", "Sport"),
    ("Metro", "/metro/", "Metro"),
)
# When the site itself last changed: the Last-Modified of robots.txt and the fronts' fallback.
SITE_EPOCH = datetime(2015, 9, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Resource:
    body: bytes
    content_type: str
    last_modified: datetime

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    headers: Mapping[str, str]


@dataclass
class RequestLog:
    """What the server was asked for, in order; safe to read while the server's threads write."""

    _records: list[RequestRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def paths(self) -> list[str]:
        return [r.path for r in self.records()]

    def count(self, path: str) -> int:
        return self.paths().count(path)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths())

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __contains__(self, path: object) -> bool:
        return path in self.paths()


def build_site(base_url: str, articles: Sequence[DemoArticle]) -> dict[str, Resource]:
    """Every path the newsroom answers, rendered for this base URL."""
    site: dict[str, Resource] = {}
    for article in articles:
        page = render.article_page(base_url, article, render.related_articles(article, articles))
        site[article.path] = Resource(page.encode("utf-8"), HTML, article.modified)
    for title, path, section in SECTION_FRONTS:
        listed = [a for a in articles if section is None or a.section == section]
        page = render.section_page(base_url, title, path, listed)
        site[path] = Resource(page.encode("utf-8"), HTML, _latest(listed))
    world = [a for a in articles if a.section == render.WORLD_SECTION]
    site["/feeds/world.xml"] = Resource(render.rss_feed(base_url, articles).encode("utf-8"), RSS, _latest(world))
    site["/sitemap.xml"] = Resource(render.sitemap_index(base_url, articles).encode("utf-8"), XML, _latest(articles))
    site["/sitemaps/news.xml"] = Resource(
        render.news_sitemap(base_url, articles).encode("utf-8"), XML, _latest(articles)
    )
    for month in render.month_keys(articles):
        in_month = [a for a in articles if f"{a.day:%Y-%m}" == month]
        text = render.month_sitemap(base_url, articles, month)
        site[f"/sitemaps/{month}.xml"] = Resource(text.encode("utf-8"), XML, _latest(in_month))
    site["/robots.txt"] = Resource(render.robots_txt(base_url).encode("utf-8"), TEXT, SITE_EPOCH)
    return site


def _latest(articles: Sequence[DemoArticle]) -> datetime:
    return max((a.modified for a in articles), default=SITE_EPOCH)


class _Handler(BaseHTTPRequestHandler):
    server_version = "ChanceryNewsroom/1.0"
    protocol_version = "HTTP/1.1"  # keep-alive, as a real web server offers
    newsroom: Newsroom  # set on the per-server subclass

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        path = urlsplit(self.path).path
        resource = self.newsroom.site.get(path)
        if resource is None:
            status = HTTPStatus.NOT_FOUND
        elif _not_modified(resource, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")):
            status = HTTPStatus.NOT_MODIFIED
        else:
            status = HTTPStatus.OK
        # Logged before answering: a client that got its response always finds its request in the log.
        self.newsroom.requests.add(RequestRecord(self.command, self.path, int(status), dict(self.headers.items())))
        if resource is None:
            self._send(status, b"Not found\n", TEXT, {}, send_body)
        elif status == HTTPStatus.NOT_MODIFIED:
            self._send(status, b"", None, _validators(resource), send_body=False)
        else:
            self._send(status, resource.body, resource.content_type, _validators(resource), send_body)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str | None,
        headers: Mapping[str, str],
        send_body: bool,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != HTTPStatus.NOT_MODIFIED:  # a 304 has no body, and no length to announce
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass  # the request log is kept in Newsroom.requests; stderr stays quiet for tests and the CLI


def _validators(resource: Resource) -> dict[str, str]:
    return {
        "ETag": resource.etag,
        "Last-Modified": http_date(resource.last_modified.astimezone(UTC), usegmt=True),
        "Cache-Control": "max-age=60",
    }


def _not_modified(resource: Resource, if_none_match: str | None, if_modified_since: str | None) -> bool:
    # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110, 13.2.2).
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or resource.etag in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return resource.last_modified.replace(microsecond=0) <= since
    return False


class Newsroom:
    """A running newsroom: its URL, its articles, and a log of what it was asked for."""

    def __init__(self, httpd: ThreadingHTTPServer, articles: Sequence[DemoArticle]) -> None:
        host, port = httpd.server_address[:2]
        self.base_url = f"http://{host if isinstance(host, str) else host.decode()}:{port}"
        self.articles: tuple[DemoArticle, ...] = tuple(articles)
        self.requests = RequestLog()
        self.site = build_site(self.base_url, self.articles)
        self._httpd = httpd
        self._thread: threading.Thread | None = None

    @property
    def feed_url(self) -> str:
        return self.base_url + "/feeds/world.xml"

    @property
    def sitemap_url(self) -> str:
        return self.base_url + "/sitemap.xml"

    @property
    def news_sitemap_url(self) -> str:
        return self.base_url + "/sitemaps/news.xml"

    def url_for(self, article: DemoArticle) -> str:
        return render.article_url(self.base_url, article)

    def articles_between(self, start: date | None = None, end: date | None = None) -> list[DemoArticle]:
        """Articles whose UTC publication date falls in [start, end); an open end is unbounded."""
        return [a for a in self.articles if (start is None or a.day >= start) and (end is None or a.day < end)]

    def article_urls(self, start: date | None = None, end: date | None = None) -> list[str]:
        return [self.url_for(a) for a in self.articles_between(start, end)]

    def article(self, url_or_slug: str) -> DemoArticle:
        """The article behind a URL or slug; KeyError names what was asked for."""
        slug = url_or_slug.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")
        for article in self.articles:
            if article.slug == slug:
                return article
        raise KeyError(url_or_slug)

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> Newsroom:
        self._thread = threading.Thread(target=self.serve_forever, name="demo-newsroom", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; safe to call twice."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Newsroom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def open_newsroom(host: str = "127.0.0.1", port: int = 0, articles: Sequence[DemoArticle] | None = None) -> Newsroom:
    """Bind the port and render the site, without serving yet."""
    handler: type[_Handler] = type("NewsroomHandler", (_Handler,), {})  # one class per server
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True  # a stuck client connection never blocks stop()
    newsroom = Newsroom(httpd, load_articles() if articles is None else articles)
    handler.newsroom = newsroom
    return newsroom


def start_in_thread(host: str = "127.0.0.1", port: int = 0) -> Newsroom:
    """A newsroom serving from a daemon thread until ``.stop()``."""
    return open_newsroom(host, port).start()


@contextmanager
def serve(host: str = "127.0.0.1", port: int = 0) -> Iterator[Newsroom]:
    newsroom = start_in_thread(host, port)
    try:
        yield newsroom
    finally:
        newsroom.stop()


def sources_entries(base_url: str) -> list[dict[str, str]]:
    """The newsroom as sources in the project's fixed shape: its World feed and its news sitemap."""
    base = base_url.rstrip("/")
    return [
        {
            "id": "gazette-world-rss",
            "name": "The Chancery Gazette: World (RSS)",
            "kind": "rss",
            "url": f"{base}/feeds/world.xml",
            "language": "en",
        },
        {
            "id": "gazette-news-sitemap",
            "name": "The Chancery Gazette (news sitemap)",
            "kind": "sitemap",
            "url": f"{base}/sitemaps/news.xml",
            "language": "en",
        },
    ]


def write_sources_file(base_url: str, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# The Chancery demo newsroom on loopback, written by pipeline.demo.newsroom.\n"
    text = yaml.safe_dump({"sources": sources_entries(base_url)}, sort_keys=False, allow_unicode=True)
    path.write_text(header + text, encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo.newsroom", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--sources", type=Path, help="also write a sources file for this newsroom here")
    args = parser.parse_args(argv)
    newsroom = open_newsroom(args.host, args.port)
    print(f"Demo newsroom: {len(newsroom.articles)} articles at {newsroom.base_url}", flush=True)
    print(f"  feed    {newsroom.feed_url}\n  sitemap {newsroom.sitemap_url}", flush=True)
    if args.sources:
        print(f"  sources {write_sources_file(newsroom.base_url, args.sources)}", flush=True)
    try:
        newsroom.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        newsroom.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
