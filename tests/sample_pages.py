"""Sample pages written for these tests: diplomacy stories and off-topic ones (sport, markets), as HTML.

Each story is built from its own seed, so every page has a distinct body (no two are near-duplicates
unless a test asks for a rewrite). ``crash_on_marker`` is the test-only page hook: it aborts the
worker process that reads a page carrying ``CRASH_MARKER``, as a segfault in a C extension would.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta

from pipeline.models import RawPage, SourceRef

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CRASH_MARKER = b"<!-- chancery-test: abort this worker -->"

_CAPITALS = ["Tokyo", "Moscow", "Berlin", "Paris", "Beijing", "New Delhi", "Ottawa", "Rome", "Brasilia"]
_COUNTRIES = ["Japan", "Russia", "Germany", "France", "China", "India", "Canada", "Italy", "Brazil"]
_DIPLOMACY = [
    "The foreign minister of {a} met his counterpart from {b} in {cap} on {day} for talks on the border treaty.",
    "Officials said the two governments agreed to resume negotiations and to open a new embassy in {cap}.",
    "The delegation from {b} raised the question of sanctions, and both sides called for a ceasefire in the region.",
    "A joint statement after the summit said {a} and {b} would sign a trade agreement before the end of {month}.",
    "The ambassador told reporters that the United Nations Security Council would discuss the dispute next week.",
    "Diplomats from {a} described the bilateral meeting as frank, and the envoy will travel to {cap} in {month}.",
]
_SPORT = [
    "The striker scored twice in the second half as the home side won the league match {n} goals to one on {day}.",
    "The coach praised his midfielders after the team climbed to third place in the championship table.",
    "Fans filled the stadium for the derby, and the goalkeeper saved a penalty in the final minute of the game.",
    "The club confirmed that the defender will miss the cup final with a knee injury picked up in training.",
    "Ticket sales for the season rose by a tenth, the manager said, and the transfer window opens in {month}.",
    "The captain said the players would rest before the tournament and return to training on {day}.",
]
_MONTHS = ["April", "May", "June", "July", "September", "October"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def story(n: int, diplomacy: bool, paragraphs: int = 5) -> tuple[str, list[str]]:
    """A headline and paragraphs that are this story's own."""
    rng = random.Random(n * 2 + int(diplomacy))
    i = rng.randrange(len(_COUNTRIES))
    j = (i + 1 + rng.randrange(len(_COUNTRIES) - 1)) % len(_COUNTRIES)
    fill = {"a": _COUNTRIES[i], "b": _COUNTRIES[j], "cap": _CAPITALS[j], "month": rng.choice(_MONTHS),
            "day": rng.choice(_DAYS), "n": rng.randint(2, 5)}
    lines = _DIPLOMACY if diplomacy else _SPORT
    body = []
    for p in range(paragraphs):
        sentences = rng.sample(lines, 3)
        body.append(" ".join(s.format(**fill) for s in sentences) + f" (Item {n}, paragraph {p}: {rng.random():.6f}.)")
    title = (f"{fill['a']} and {fill['b']} hold talks on border treaty" if diplomacy
             else f"Striker scores twice as United win league match number {n}")
    return title, body


def html(n: int, diplomacy: bool, marker: bytes = b"") -> bytes:
    title, body = story(n, diplomacy)
    published = (T0 + timedelta(hours=n)).isoformat()
    return (f"<html lang='en'><head><title>{title}</title>"
            f"<meta property='article:published_time' content='{published}'></head>"
            f"<body><article><h1>{title}</h1>{''.join(f'<p>{p}</p>' for p in body)}</article></body></html>"
            ).encode() + marker


def page(n: int, diplomacy: bool = True, source: str | None = None, marker: bytes = b"") -> RawPage:
    host = "www.harbourpost.test" if diplomacy else "www.sportsdesk.test"
    url = f"https://{host}/{'world' if diplomacy else 'sport'}/story-{n}"
    return RawPage(url=url, content=html(n, diplomacy, marker), fetched_at=T0 + timedelta(days=1),
                   source=SourceRef(domain=host.removeprefix("www."), id=source))


def crash_on_marker(raw: RawPage) -> None:
    """The test-only page hook: a worker that reads a marked page dies at once (SIGABRT), as in a C crash."""
    if CRASH_MARKER in raw.content:
        os.abort()
