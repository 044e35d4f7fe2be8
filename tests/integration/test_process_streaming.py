"""`process` streams: the first finished article comes out before most inputs are read, and
story ids still join rewrites across chunks. Real extraction, story grouping and enrichment.
A setup error is not a bad page: it stops the batch instead of being counted once per page."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.datafiles import DataFileError
from pipeline.extract import dedup
from pipeline.models import RawPage
from pipeline.outcomes import Outcome, Tally
from pipeline.process import extract_all, process

CHUNK = 8  # story-grouping chunk for this test: small, so a few dozen pages make several chunks
PAGES = 40
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
VOCABULARY = """minister envoy treaty border talks summit delegation embassy sanctions trade council vote parliament
river islands ceasefire agreement dispute visit capital officials statement meeting proposal draft fishing grain
pipeline port customs visa rail power water quota patrol commission review panel spring autumn morning evening week
month year north south east west coast valley harbour bridge"""
WORDS = VOCABULARY.split()


def _story(n: int) -> list[str]:
    """Six paragraphs that are this story's alone: sentences drawn with the story's own seed."""
    rng = random.Random(n)
    return [" ".join(f"The {rng.choice(WORDS)} {rng.choice(WORDS)} said the {rng.choice(WORDS)} would "
                     f"{rng.choice(WORDS)} the {rng.choice(WORDS)} {rng.choice(WORDS)}." for _ in range(5))
            for _ in range(6)]


def _page(n: int, rewrite: bool) -> RawPage:
    paragraphs = _story(n)
    host = "www.otherwire.test" if rewrite else "www.harbourpost.test"
    if rewrite:  # a second outlet: a dateline, two words changed, the last paragraph cut
        paragraphs = [p.replace(" said ", " told reporters ", 1) for p in paragraphs[:-1]]
        paragraphs[0] = "GENEVA (Wire) - " + paragraphs[0]
    html = (f"<html lang='en'><head><title>Talks on day {n}</title>"
            f"<meta property='article:published_time' content='{(T0 + timedelta(hours=n)).isoformat()}'></head>"
            f"<body><article><h1>Talks on day {n}</h1>{''.join(f'<p>{p}</p>' for p in paragraphs)}"
            f"</article></body></html>")
    return RawPage(url=f"https://{host}/world/story-{n}", content=html.encode(), fetched_at=T0 + timedelta(days=1))


def test_process_yields_before_it_has_read_the_batch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(dedup, "STORY_CHUNK", CHUNK)
    settings = load_settings(environ={}, overrides={"home": str(tmp_path / "home"), "enrich.batch_articles": 4})
    pulled = 0

    def pages() -> Iterator[RawPage]:
        nonlocal pulled
        # Stories 0-29, then rewrites of stories 0-9: every rewrite is chunks after its original.
        for n in [*range(30), *range(10)]:
            pulled += 1
            yield _page(n, rewrite=pulled > 30)

    tally = Tally()
    stream = process(pages(), settings, tally)
    first = next(stream)
    assert pulled == CHUNK  # one chunk read, grouped and enriched, then the first article is out
    rest = list(stream)
    assert pulled == PAGES and tally.counts[Outcome.PROCESSED.value] == PAGES
    articles = [first, *rest]
    assert all(a.enrichment_versions and a.enrichment_scope for a in articles)  # enriched, not just extracted
    originals = {a.url.rsplit("-", 1)[1]: a for a in articles if "harbourpost" in a.url}
    for rewrite in (a for a in articles if "otherwire" in a.url):
        assert rewrite.story_id == originals[rewrite.url.rsplit("-", 1)[1]].id
    assert len({a.story_id for a in articles}) == 30


def test_a_broken_publisher_registry_stops_the_batch(tmp_path: Path) -> None:
    registry = tmp_path / "publishers.yaml"
    registry.write_text("publishers:\n  - {domain: 7, title: [nowhere]}\n", encoding="utf-8")
    overrides = {"home": str(tmp_path / "home"), "extract.publishers": str(registry)}
    settings = load_settings(environ={}, overrides=overrides)
    tally = Tally()
    with pytest.raises(DataFileError):
        list(extract_all((_page(n, rewrite=False) for n in range(3)), settings, tally))
    assert not tally.counts  # not three PARSE_ERRORs
