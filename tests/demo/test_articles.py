"""The article data itself: enough articles, long enough, dated in the window, consistent expectations."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import yaml

from pipeline.config import PACKAGE_DIR
from pipeline.demo.catalog import DemoArticle, DemoDataError, load_article, load_articles

FIRST_DAY, LAST_DAY = date(2015, 9, 20), date(2015, 10, 10)


@pytest.fixture(scope="module")
def articles() -> tuple[DemoArticle, ...]:
    return load_articles()


def test_at_least_thirty_articles_with_unique_slugs(articles: tuple[DemoArticle, ...]) -> None:
    assert len(articles) >= 30
    assert len({a.slug for a in articles}) == len(articles)


def test_every_article_is_wire_length(articles: tuple[DemoArticle, ...]) -> None:
    lengths = {a.slug: a.word_count for a in articles}
    assert all(250 <= n <= 600 for n in lengths.values()), {s: n for s, n in lengths.items() if not 250 <= n <= 600}


def test_dates_are_in_the_window_with_two_or_three_a_day(articles: tuple[DemoArticle, ...]) -> None:
    for article in articles:
        assert FIRST_DAY <= article.day <= LAST_DAY, article.slug
        assert article.published.utcoffset() is not None
        # The URL's local date and the UTC date agree, so a day window never depends on the reader's zone.
        assert article.published.date() == article.day, article.slug
        assert article.modified >= article.published, article.slug
    per_day = Counter(a.day for a in articles)
    assert set(per_day) == {date.fromordinal(d) for d in range(FIRST_DAY.toordinal(), LAST_DAY.toordinal() + 1)}
    assert all(2 <= n <= 3 for n in per_day.values()), per_day


def test_bylines_name_people(articles: tuple[DemoArticle, ...]) -> None:
    for article in articles:
        assert 1 <= len(article.authors) <= 2, article.slug
        assert all(re.fullmatch(r"[A-Z][a-z]+(?: [A-Z][a-z'-]+)+", name) for name in article.authors), article.authors


def folded(text: str) -> str:
    """No accents, hyphens or case: wire copy writes Erdogan and Kim Jong Un, not Erdoğan, Kim Jong-un."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return plain.replace("-", " ").lower()


def test_expected_persons_are_named_in_the_text(articles: tuple[DemoArticle, ...]) -> None:
    # `persons` holds the canonical names (the gazetteer's, where it has the person); the text
    # names each of them at least by surname.
    for article in articles:
        text = folded(f"{article.title} {article.summary} {article.text}")
        for person in article.persons:
            surname = folded(person).split()[-1]
            assert surname in text, f"{article.slug}: {person}"


def test_diplomacy_and_other_news_are_told_apart(articles: tuple[DemoArticle, ...]) -> None:
    other = [a for a in articles if not a.diplomacy]
    assert 2 <= len(other) <= 3
    for article in other:
        assert article.section != "World" and not article.topics and not article.countries, article.slug
    for article in articles:
        if article.diplomacy:
            assert article.section == "World" and article.countries and article.topics, article.slug
    assert {"JP", "RU"} <= set().union(*(set(a.countries) for a in articles))


def shingles(text: str, size: int = 3) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def test_the_rewritten_wire_story_is_a_near_duplicate_from_another_outlet(
    articles: tuple[DemoArticle, ...],
) -> None:
    stories = Counter(a.story for a in articles if a.story)
    assert stories, "one story is told twice"
    for story in stories:
        versions = [a for a in articles if a.story == story]
        assert len(versions) == 2 and versions[0].outlet != versions[1].outlet
        first, second = (shingles(v.text) for v in versions)
        similarity = len(first & second) / len(first | second)
        assert 0.85 <= similarity < 1.0, similarity  # reworded, yet clearly above the 0.8 dedup threshold
        assert versions[0].text != versions[1].text and versions[0].title != versions[1].title
    unrelated = shingles(articles[0].text), shingles(articles[-1].text)
    assert len(unrelated[0] & unrelated[1]) / len(unrelated[0] | unrelated[1]) < 0.1


def test_a_bad_file_is_named_in_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "slug: Not A Slug\ntitle: x\nauthors: [A B]\npublished: '2015-09-20T10:00:00'\n"
        "section: World\nkeywords: [x]\nsummary: x\nbody: [x]\n"
    )
    with pytest.raises(DemoDataError, match="bad.yaml: published needs a timezone offset"):
        load_article(bad)


def test_expected_topics_are_taxonomy_ids(articles: tuple[DemoArticle, ...]) -> None:
    taxonomy = yaml.safe_load((PACKAGE_DIR / "data" / "taxonomy.yaml").read_text(encoding="utf-8"))
    known = {topic["id"] for topic in taxonomy["topics"]}
    for article in articles:
        assert set(article.topics) <= known, f"{article.slug}: {set(article.topics) - known}"
