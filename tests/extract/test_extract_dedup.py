"""Near-duplicate story ids: MinHash + LSH bands; rewrites share a story, other stories do not.

Story ids are assigned as articles stream: chunk by chunk, against a bounded window of signatures.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from extract_pages import STORY_A, STORY_B, page, paragraphs_html, raw

from pipeline.config import Settings
from pipeline.extract import extract_page
from pipeline.extract.dedup import (
    NUM_PERM,
    STORY_CHUNK,
    StoryIndex,
    assign_story_ids,
    band_layout,
    stream_story_ids,
)
from pipeline.models import Article

SETTINGS = Settings()
THRESHOLD = SETTINGS.extract.near_duplicate_threshold
T0 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def _rewrite(paragraphs: list[str]) -> list[str]:
    """What a second outlet does to wire copy: new dateline, a few words changed, the last paragraph cut."""
    text = [p.replace("on Tuesday", "on Tuesday evening").replace("officials said", "officials told reporters")
             .replace("modest but overdue", "modest yet overdue").replace("eleven hours", "11 hours")
            for p in paragraphs[:-1]]
    text[0] = "NEW YORK (Wire) - " + text[0]
    return text + ["Additional reporting by the business desk."]


def _extracted(url: str, paragraphs: list[str], published: datetime) -> Article:
    result = extract_page(raw(page(body_html=paragraphs_html(paragraphs)), url=url), SETTINGS)
    assert result.article is not None
    from dataclasses import replace

    return replace(result.article, published_at=published)


def test_rewritten_wire_story_shares_the_story_id_and_different_story_does_not() -> None:
    original = _extracted("https://www.dailyledger.test/world/river-talks", STORY_A, T0)
    rewrite = _extracted("https://www.otherpaper.test/news/water-treaty", _rewrite(STORY_A), T0 + timedelta(hours=2))
    # Same outlet, same page template, different story.
    other = _extracted("https://www.dailyledger.test/world/fishing-envoy", STORY_B, T0 - timedelta(hours=1))
    grouped = assign_story_ids([rewrite, other, original], THRESHOLD)
    assert [a.id for a in grouped] == [rewrite.id, other.id, original.id]  # same order, nothing dropped
    by_url = {a.url: a for a in grouped}
    # The earliest article of the group is the representative.
    assert by_url[rewrite.url].story_id == original.id
    assert by_url[original.url].story_id == original.id
    assert by_url[other.url].story_id == other.id


def test_earliest_by_published_then_fetched_then_order() -> None:
    body = " ".join(STORY_A)
    undated = Article.new(url="https://a.test/1").with_text(body)
    later = Article.new(url="https://b.test/2", published_at=T0 + timedelta(days=1)).with_text(body)
    earlier = Article.new(url="https://c.test/3", published_at=T0).with_text(body)
    grouped = assign_story_ids([undated, later, earlier], THRESHOLD)
    assert {a.story_id for a in grouped} == {earlier.id}
    tie_a = Article.new(url="https://d.test/4").with_text(body)
    tie_b = Article.new(url="https://e.test/5").with_text(body)
    assert {a.story_id for a in assign_story_ids([tie_a, tie_b], THRESHOLD)} == {tie_a.id}


def test_empty_bodies_each_stand_alone() -> None:
    empty = [Article.new(url=f"https://x.test/{i}") for i in range(3)]
    assert [a.story_id for a in assign_story_ids(empty, THRESHOLD)] == [a.id for a in empty]
    assert assign_story_ids([], THRESHOLD) == []


def test_lsh_layout_follows_the_threshold() -> None:
    strict_bands, strict_rows = band_layout(0.9)
    loose_bands, loose_rows = band_layout(0.5)
    assert strict_rows > loose_rows  # more rows per band: only very similar signatures collide
    assert strict_bands * strict_rows <= NUM_PERM and loose_bands * loose_rows <= NUM_PERM


def _synthetic(story: int, words: int = 120, edited: bool = False, **fields: object) -> Article:
    """A distinct synthetic story; ``edited``: the same story with its tail cut and a word added."""
    text = [f"s{story}w{i}" for i in range(words)]
    if edited:
        text = text[:-5] + ["edited"]
    host = "rewrite.test" if edited else "original.test"
    return Article.new(url=f"https://{host}/story/{story}", **fields).with_text(" ".join(text))


def test_many_stories_group_without_pairwise_scan() -> None:
    # 300 distinct synthetic stories, each published twice with a small edit: 300 groups of two.
    articles = [a for story in range(300) for a in (_synthetic(story), _synthetic(story, edited=True))]
    grouped = assign_story_ids(articles, THRESHOLD)
    assert all(grouped[2 * s].story_id == grouped[2 * s + 1].story_id == articles[2 * s].id for s in range(300))
    assert len({a.story_id for a in grouped}) == 300


def test_a_rewrite_in_a_later_chunk_joins_the_remembered_original() -> None:
    index = StoryIndex(THRESHOLD, window=1000)
    originals = [_synthetic(s, published_at=T0) for s in range(10)]
    assert [a.story_id for a in index.assign(originals)] == [a.id for a in originals]
    fillers = [_synthetic(100 + s) for s in range(50)]
    index.assign(fillers)
    rewrites = [_synthetic(s, edited=True, published_at=T0 + timedelta(hours=1)) for s in range(10)]
    assert [a.story_id for a in index.assign(rewrites)] == [a.id for a in originals]
    assert index.remembered == 70  # signatures of every article, no text


def test_an_original_after_its_rewrite_takes_the_id_already_handed_out() -> None:
    # Inside one chunk the earliest article wins whatever the order ...
    rewrite = _synthetic(1, edited=True, published_at=T0 + timedelta(hours=2))
    original = _synthetic(1, published_at=T0)
    assert {a.story_id for a in StoryIndex(THRESHOLD, 1000).assign([rewrite, original])} == {original.id}
    # ... but once the rewrite has been written out under its own id, that id stands: the original
    # that arrives in a later chunk joins it, so the story keeps one id.
    index = StoryIndex(THRESHOLD, 1000)
    assert index.assign([rewrite])[0].story_id == rewrite.id
    assert index.assign([original])[0].story_id == rewrite.id


def test_an_article_bridging_two_remembered_stories_takes_the_earlier_one() -> None:
    index = StoryIndex(THRESHOLD, 1000)
    words = [f"bridge{i}" for i in range(200)]
    first_half = Article.new(url="https://a.test/1", published_at=T0 + timedelta(hours=3)).with_text(
        " ".join(words[:150]))
    second_half = Article.new(url="https://b.test/2", published_at=T0).with_text(" ".join(words[50:]))
    assert index.assign([first_half])[0].story_id == first_half.id
    assert index.assign([second_half])[0].story_id == second_half.id  # Jaccard about 0.5: two stories
    whole = Article.new(url="https://c.test/3").with_text(" ".join(words[20:180]))
    assert index.assign([whole])[0].story_id == second_half.id  # published first


def test_the_window_forgets_the_oldest_chunks() -> None:
    window = STORY_CHUNK
    index = StoryIndex(THRESHOLD, window)
    original = _synthetic(0)
    index.assign([original])
    for first in range(1, 3 * STORY_CHUNK, STORY_CHUNK):
        index.assign([_synthetic(s) for s in range(first, first + STORY_CHUNK)])
        assert window <= index.remembered <= window + STORY_CHUNK  # bounded, in whole chunks
    # The original's signature is gone: its rewrite now starts a story of its own.
    rewrite = _synthetic(0, edited=True)
    assert index.assign([rewrite])[0].story_id == rewrite.id
    # A recent one is still remembered.
    recent = 3 * STORY_CHUNK - 1
    assert index.assign([_synthetic(recent, edited=True)])[0].story_id == _synthetic(recent).id


def test_story_ids_stream_holding_one_chunk_at_a_time() -> None:
    pulled = 0

    def articles() -> Iterator[Article]:
        nonlocal pulled
        for story in range(3 * STORY_CHUNK):
            pulled += 1
            yield _synthetic(story % 200, edited=story >= 200)

    stream = stream_story_ids(articles(), THRESHOLD, window=1000)
    first = next(stream)
    assert pulled == STORY_CHUNK  # the first article is out before the second chunk is read
    rest = list(stream)
    assert pulled == 3 * STORY_CHUNK and len(rest) == 3 * STORY_CHUNK - 1
    ids = [first.story_id] + [a.story_id for a in rest]
    assert ids[200:] == ids[: 3 * STORY_CHUNK - 200]  # every rewrite found its original across chunks


def test_the_same_stream_gives_the_same_story_ids() -> None:
    articles = [_synthetic(s % 90, edited=s >= 90, published_at=T0 + timedelta(minutes=s)) for s in range(600)]
    assert [a.story_id for a in assign_story_ids(articles, THRESHOLD)] == [
        a.story_id for a in assign_story_ids(articles, THRESHOLD)]


def test_shingles_never_span_two_texts_and_short_texts_get_one() -> None:
    from pipeline.extract.dedup import batch_shingles, shingle_hashes

    flat, offsets = batch_shingles(["", "alpha", "alpha beta", "alpha beta gamma delta", "gamma delta epsilon"])
    assert list(offsets[1:] - offsets[:-1]) == [0, 1, 1, 2, 1]
    # Each text's shingles are what it gives alone: the batch does not leak across texts.
    for i, text in enumerate(["alpha beta gamma delta", "gamma delta epsilon"], start=3):
        assert list(flat[offsets[i]:offsets[i + 1]]) == list(shingle_hashes(text))


def test_unspaced_scripts_are_shingled_by_character() -> None:
    import numpy as np

    from pipeline.extract.dedup import shingle_hashes

    def jaccard(a: np.ndarray, b: np.ndarray) -> float:
        return len(np.intersect1d(a, b)) / len(np.union1d(a, b))

    first = np.unique(shingle_hashes("東京で外相会談が開かれ、各国の代表が出席した。"))
    rewrite = np.unique(shingle_hashes("東京で外相会談が開かれ、各国の代表が参加した。"))
    other = np.unique(shingle_hashes("大阪で貿易交渉が始まり、漁業権が議題となった。"))
    assert len(first) > 10  # one shingle per character trigram, not one per sentence
    assert jaccard(first, rewrite) > 0.6 > jaccard(first, other)
