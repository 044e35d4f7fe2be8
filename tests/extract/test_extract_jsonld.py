"""JSON-LD: present, absent, malformed, inside @graph, authors as objects or strings."""

from __future__ import annotations

from datetime import UTC, datetime

from extract_pages import STORY_A, jsonld_script, page, raw

from pipeline.config import Settings
from pipeline.extract import extract_page
from pipeline.outcomes import Outcome

SETTINGS = Settings()


def test_jsonld_news_article_fills_fields_and_records_methods() -> None:
    data = {
        "@context": "https://schema.org", "@type": "NewsArticle",
        "headline": "River treaty talks resume", "datePublished": "2026-03-03T09:15:00+01:00",
        "dateModified": "2026-03-03T11:00:00Z",
        "author": [{"@type": "Person", "name": "Amara Okafor"}, {"@type": "Person", "name": "Jonas Lindqvist"}],
        "publisher": {"@type": "Organization", "name": "The Daily Ledger"},
        "articleSection": "World", "keywords": "water, diplomacy, treaties",
        "description": "Ministers agree to restart negotiations.",
        "image": {"@type": "ImageObject", "url": "https://www.dailyledger.test/img/river.jpg"},
    }
    result = extract_page(raw(page(head=jsonld_script(data))), SETTINGS)
    article = result.article
    assert result.outcome is Outcome.PROCESSED and article is not None
    assert article.title == "River treaty talks resume"
    assert article.authors == ("Amara Okafor", "Jonas Lindqvist")
    assert article.published_at == datetime(2026, 3, 3, 8, 15, tzinfo=UTC)
    assert article.published_precision == "second"
    assert article.modified_at == datetime(2026, 3, 3, 11, 0, tzinfo=UTC)
    assert article.section == "World"
    assert article.keywords == ("water", "diplomacy", "treaties")
    assert article.summary == "Ministers agree to restart negotiations."
    assert article.image_url == "https://www.dailyledger.test/img/river.jpg"
    assert article.methods["title"] == "jsonld"
    assert article.methods["authors"] == "jsonld"
    assert article.methods["published_at"] == "jsonld"
    assert article.language == "en"
    # The body is the article's paragraphs, not the navigation, related links or footer.
    assert article.body.startswith(STORY_A[0][:40])
    assert "All rights reserved" not in article.body and "Another story" not in article.body
    assert article.word_count == len(article.body.split()) and article.content_hash


def test_graph_array_and_id_references_are_resolved() -> None:
    data = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "@id": "https://www.dailyledger.test/#site", "name": "The Daily Ledger"},
            {"@type": "Person", "@id": "https://www.dailyledger.test/#/person/1", "name": "Priya Raman"},
            {"@type": "NewsArticle", "@id": "https://www.dailyledger.test/world/2026/03/03/river-talks#article",
             "headline": "Graph headline", "datePublished": "2026-03-02T22:30:00-05:00",
             "author": {"@id": "https://www.dailyledger.test/#/person/1"}},
        ],
    }
    article = extract_page(raw(page(head=jsonld_script(data))), SETTINGS).article
    assert article is not None
    assert article.title == "Graph headline"
    assert article.authors == ("Priya Raman",)
    assert article.published_at == datetime(2026, 3, 3, 3, 30, tzinfo=UTC)


def test_authors_as_strings_and_organisations_are_not_people() -> None:
    data = {"@type": "NewsArticle", "headline": "h", "datePublished": "2026-03-03",
            "author": ["Lena Hoffmann", {"@type": "Organization", "name": "Ledger Wire"}, "Staff"]}
    article = extract_page(raw(page(head=jsonld_script(data))), SETTINGS).article
    assert article is not None
    assert article.authors == ("Lena Hoffmann",)
    assert article.published_precision == "day"


def test_malformed_jsonld_is_skipped_and_meta_tags_take_over() -> None:
    head = (
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "broken", </script>'
        '<meta property="og:title" content="Meta headline wins">'
        '<meta name="author" content="By Tomás Ferreira">'
        '<meta property="article:published_time" content="2026-03-01T10:00:00+00:00">'
    )
    result = extract_page(raw(page(head=head)), SETTINGS)
    article = result.article
    assert result.outcome is Outcome.PROCESSED and article is not None
    assert article.title == "Meta headline wins"
    assert article.authors == ("Tomás Ferreira",)
    assert article.methods["authors"] == "meta" and article.methods["published_at"] == "meta"


def test_lenient_repair_of_trailing_commas() -> None:
    head = ('<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Repaired",'
            ' "datePublished": "2026-02-27T08:00:00Z",}</script>')
    article = extract_page(raw(page(head=head)), SETTINGS).article
    assert article is not None and article.title == "Repaired"


def test_no_jsonld_falls_back_to_the_page() -> None:
    article = extract_page(raw(page(title="Only the page says this")), SETTINGS).article
    assert article is not None
    assert article.title == "Only the page says this"
    assert article.methods["title"] == "h1"
    assert article.methods["body"] == "trafilatura"


def test_article_body_is_preferred_when_it_is_more_complete_than_the_page() -> None:
    # The page shows the first half (the rest loads on "read more"); articleBody holds it all.
    data = {"@type": "NewsArticle", "headline": "h", "articleBody": "\n".join(STORY_A)}
    article = extract_page(raw(page(head=jsonld_script(data), paragraphs=STORY_A[:4])), SETTINGS).article
    assert article is not None and article.methods["body"] == "jsonld"
    assert article.body.split("\n\n") == STORY_A


def test_page_text_keeps_its_paragraphs_when_article_body_adds_nothing() -> None:
    data = {"@type": "NewsArticle", "headline": "h", "articleBody": " ".join(STORY_A)}
    article = extract_page(raw(page(head=jsonld_script(data))), SETTINGS).article
    assert article is not None and article.methods["body"] == "trafilatura"
    assert article.body.split("\n\n") == STORY_A


def test_article_body_that_repeats_the_text_does_not_win_by_its_length() -> None:
    # Some CMSs write the whole text into articleBody twice, in one run: twice the words, nothing new.
    data = {"@type": "NewsArticle", "headline": "h", "articleBody": " ".join(STORY_A + STORY_A)}
    article = extract_page(raw(page(head=jsonld_script(data))), SETTINGS).article
    assert article is not None and article.methods["body"] == "trafilatura"
    assert article.body.split("\n\n") == STORY_A


def test_truncated_article_body_is_not_used() -> None:
    data = {"@type": "NewsArticle", "headline": "h", "articleBody": STORY_A[0][:120] + "..."}
    article = extract_page(raw(page(head=jsonld_script(data))), SETTINGS).article
    assert article is not None and article.methods["body"] == "trafilatura"
    assert len(article.body.split("\n\n")) == len(STORY_A)
