"""The scale test's newsroom: N articles over D days, a Crawl-delay, and a record of when each request ran.

The articles are the demo newsroom's diplomacy articles, published again under new slugs, one
every few hours over the days (each copy opens with a line of its own, so no two bodies are the
same). The server is the demo's (pipeline/demo/newsroom.py) with its robots.txt asking for a
Crawl-delay, and every request's start and end times kept, so a test can ask what the fleet of
fetchers did to it: the most requests at once, and the shortest spacing between two starts.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import ThreadingHTTPServer

from pipeline.demo import newsroom as demo
from pipeline.demo.catalog import DemoArticle, load_articles


def spread_articles(count: int, first_day: date, days: int) -> list[DemoArticle]:
    """``count`` distinct articles, published evenly over ``days`` days from ``first_day`` (UTC)."""
    originals = [a for a in load_articles() if a.diplomacy and a.outlet.key == "gazette"]
    step = timedelta(days=days) / count
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) + step / 2
    spread = []
    for n in range(count):
        original = originals[n % len(originals)]
        published = start + step * n
        opening = f"Dispatch {n + 1} of {count}, filed on {published:%A %d %B %Y at %H:%M} UTC."
        spread.append(dataclasses.replace(
            original, slug=f"{original.slug}-{n + 1:03d}", published=published, modified=published,
            title=f"{original.title} (dispatch {n + 1})", body=(opening, *original.body), story=None,
        ))
    return spread


@dataclass(frozen=True)
class Served:
    path: str
    client: str
    started: float  # time.monotonic() when the request line was read
    finished: float  # when the response was written


class Observed:
    """Every request's interval, and the concurrency seen so far; safe to read while serving."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: list[Served] = []
        self._in_flight = 0
        self.peak = 0

    def begin(self) -> float:
        with self._lock:
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
            return time.monotonic()

    def end(self, path: str, client: str, started: float) -> None:
        with self._lock:
            self._in_flight -= 1
            self._served.append(Served(path, client, started, time.monotonic()))

    def served(self) -> list[Served]:
        with self._lock:
            return sorted(self._served, key=lambda s: s.started)

    def gaps(self) -> list[float]:
        """Seconds between consecutive request starts."""
        starts = [s.started for s in self.served()]
        return [b - a for a, b in zip(starts, starts[1:], strict=False)]

    def clients(self) -> set[str]:
        return {s.client for s in self.served()}


class _ObservedHandler(demo._Handler):
    observed: Observed

    def _answer(self, send_body: bool) -> None:
        started = self.observed.begin()
        try:
            super()._answer(send_body)
        finally:
            self.observed.end(self.path, self.client_address[0], started)


class ScaleNewsroom(demo.Newsroom):
    def __init__(self, httpd: ThreadingHTTPServer, articles: Sequence[DemoArticle], observed: Observed,
                 crawl_delay: float) -> None:
        super().__init__(httpd, articles)
        self.observed = observed
        self.crawl_delay = crawl_delay
        robots = f"User-agent: *\nCrawl-delay: {crawl_delay}\nAllow: /\n\nSitemap: {self.base_url}/sitemap.xml\n"
        self.site["/robots.txt"] = demo.Resource(robots.encode(), demo.TEXT, demo.SITE_EPOCH)


def open_scale_newsroom(host: str, articles: Sequence[DemoArticle], crawl_delay: float) -> ScaleNewsroom:
    """Bound on ``host`` (any free port) and serving from a daemon thread until ``.stop()``."""
    observed = Observed()
    handler = type("ScaleNewsroomHandler", (_ObservedHandler,), {"observed": observed})
    httpd = ThreadingHTTPServer((host, 0), handler)
    httpd.daemon_threads = True
    newsroom = ScaleNewsroom(httpd, articles, observed, crawl_delay)
    handler.newsroom = newsroom
    newsroom.start()
    return newsroom
