"""Near-duplicate story ids: MinHash + LSH bands; rewrites share a story, other stories do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from extract_pages import STORY_A, STORY_B, page, paragraphs_html, raw

from pipeline.config import Settings
from pipeline.extract import extract_page
from pipeline.extract.dedup import NUM_PERM, assign_story_ids, band_layout, near_duplicate_groups
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


def test_many_stories_group_without_pairwise_scan() -> None:
    # 300 distinct synthetic stories, each published twice with a small edit: 300 groups of two.
    texts = []
    for story in range(300):
        words = [f"s{story}w{i}" for i in range(120)]
        texts.append(" ".join(words))
        texts.append(" ".join(words[:-5] + ["edited"]))
    roots = near_duplicate_groups(texts, THRESHOLD)
    assert all(roots[2 * s] == roots[2 * s + 1] for s in range(300))
    assert len(set(roots)) == 300


def test_shingles_never_span_two_texts_and_short_texts_get_one() -> None:
    from pipeline.extract.dedup import batch_shingles, shingle_hashes

    flat, offsets = batch_shingles(["", "alpha", "alpha beta", "alpha beta gamma delta", "gamma delta epsilon"])
    assert list(offsets[1:] - offsets[:-1]) == [0, 1, 1, 2, 1]
    # Each text's shingles are what it gives alone: the batch does not leak across texts.
    for i, text in enumerate(["alpha beta gamma delta", "gamma delta epsilon"], start=3):
        assert list(flat[offsets[i]:offsets[i + 1]]) == list(shingle_hashes(text))


def test_unspaced_scripts_are_shingled_by_character() -> None:
    import numpy as np

    from pipeline.extract.dedup import jaccard, shingle_hashes

    first = np.unique(shingle_hashes("東京で外相会談が開かれ、各国の代表が出席した。"))
    rewrite = np.unique(shingle_hashes("東京で外相会談が開かれ、各国の代表が参加した。"))
    other = np.unique(shingle_hashes("大阪で貿易交渉が始まり、漁業権が議題となった。"))
    assert len(first) > 10  # one shingle per character trigram, not one per sentence
    assert jaccard(first, rewrite) > 0.6 > jaccard(first, other)
