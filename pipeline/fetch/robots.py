"""robots.txt: fetched once per origin per run, obeyed, Crawl-delay handed to the politeness gate.

RFC 9309 semantics: a 4xx robots.txt means "no rules" (allow all); a 5xx or an
unreachable one means "disallow all" for now. Rules are matched for the
product token of our User-Agent (``ChanceryBot``), falling back to ``*``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from pipeline.decode import DecodeFailed, decode_page
from pipeline.fetch.client import FetchResult
from pipeline.fetch.ssrf import Refusal
from pipeline.outcomes import Outcome


@dataclass(frozen=True)
class RobotsRules:
    origin: str
    parser: RobotFileParser | None  # None: no rules apply (4xx robots.txt)
    refusal: Refusal | None = None  # set when the whole origin is off-limits (5xx, unreachable)
    crawl_delay: float | None = None


def agent_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched against: "ChanceryBot/0.1 (...)" → "ChanceryBot"."""
    return user_agent.split("/", 1)[0].split()[0] if user_agent.strip() else "*"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class RobotsCache:
    """Per-origin rules, fetched at most once each even with many workers asking at the same time."""

    def __init__(self, fetch_robots: Callable[[str], FetchResult], user_agent: str) -> None:
        self._fetch = fetch_robots
        self.token = agent_token(user_agent)
        self._rules: dict[str, RobotsRules] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.fetched: list[FetchResult] = []  # every robots.txt attempt, for the run report

    def rules(self, url: str) -> RobotsRules:
        origin = origin_of(url)
        cached = self._rules.get(origin)
        if cached is not None:
            return cached
        with self._guard:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:
            if origin not in self._rules:
                self._rules[origin] = self._load(origin)
            return self._rules[origin]

    def check(self, url: str) -> Refusal | None:
        """None when robots.txt lets us fetch the URL."""
        rules = self.rules(url)
        if rules.refusal is not None:
            return rules.refusal
        if rules.parser is not None and not rules.parser.can_fetch(self.token, url):
            return Refusal(Outcome.ROBOTS_DISALLOWED, f"robots.txt of {rules.origin} disallows it")
        return None

    def crawl_delay(self, url: str) -> float | None:
        return self.rules(url).crawl_delay

    def _load(self, origin: str) -> RobotsRules:
        result = self._fetch(f"{origin}/robots.txt")
        self.fetched.append(result)
        if result.outcome is Outcome.HTTP_4XX and result.status not in (408, 429):
            return RobotsRules(origin, None)
        if result.outcome is not Outcome.OK:
            outcome = result.outcome if result.outcome is Outcome.SSRF_BLOCKED else Outcome.ROBOTS_DISALLOWED
            return RobotsRules(
                origin, None, Refusal(outcome, f"robots.txt of {origin} unavailable ({result.reason}): disallow all")
            )
        try:
            text = decode_page(result.body, result.content_type).text
        except DecodeFailed:
            text = result.body.decode("utf-8", "replace")
        parser = RobotFileParser()
        parser.parse(text.splitlines())
        parser.modified()  # can_fetch() answers False until it believes the rules were read
        return RobotsRules(origin, parser, crawl_delay=crawl_delay(text, self.token))


def crawl_delay(text: str, token: str) -> float | None:
    """Crawl-delay for our token's group, else the ``*`` group; fractions allowed.

    (urllib.robotparser only accepts whole seconds and drops "Crawl-delay: 0.5".)
    """
    delays: dict[str, float] = {}
    agents: list[str] = []
    in_rules = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if in_rules:
                agents, in_rules = [], False
            agents.append(value.lower())
        else:
            in_rules = True
            if key == "crawl-delay":
                try:
                    seconds = float(value)
                except ValueError:
                    continue
                for agent in agents:
                    delays.setdefault(agent, seconds)
    ours = next((d for agent, d in delays.items() if agent != "*" and agent in token.lower()), None)
    return ours if ours is not None else delays.get("*")
