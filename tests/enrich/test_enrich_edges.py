"""Edge inputs and the Enricher contract: empty text, a 100,000-word text, non-English, batch == single."""

from __future__ import annotations

import dataclasses
import tracemalloc
from collections.abc import Callable

from pipeline.enrich import SCOPE_FULL, Enricher
from pipeline.enrich.base import split_parts
from pipeline.models import Article, EntityType

MakeArticle = Callable[..., Article]


PARAGRAPH = (
    "Foreign Minister Sergey Lavrov met his Japanese counterpart in Tokyo on Monday. "
    "They discussed the disputed islands, energy deals and sanctions. "
    "The European Union said it was watching the talks closely."
)


def test_empty_text(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("", title=""))
    assert art.entities == () and art.topics == () and art.key_phrases == ()
    assert art.tone is None
    assert art.enrichment_scope == SCOPE_FULL


def test_only_fields_of_enrichment_change(enricher: Enricher, make_article: MakeArticle) -> None:
    before = make_article(PARAGRAPH, title="Lavrov in Tokyo")
    after = enricher.enrich(before)
    owned = {"entities", "persons", "organizations", "countries", "locations", "topics", "key_phrases", "tone",
             "diplomacy", "enrichment_scope", "enrichment_versions"}  # fmt: skip
    for f in dataclasses.fields(before):
        if f.name not in owned:
            assert getattr(before, f.name) == getattr(after, f.name), f.name


def test_enrich_many_keeps_order_and_equals_enrich(enricher: Enricher, make_article: MakeArticle) -> None:
    articles = [
        make_article(PARAGRAPH),
        make_article("Die NATO und die EU trafen sich in Brüssel mit Vertretern aus Japan.", language="de"),
        make_article(""),
        make_article("Vladimir Putin spoke to Xi Jinping about gas supplies and trade."),
    ]
    many = list(enricher.enrich_many(articles))
    assert [a.id for a in many] == [a.id for a in articles]
    assert many == [enricher.enrich(a) for a in articles]


def test_non_english_gets_language_independent_gazetteer_matches_only(
    enricher: Enricher, make_article: MakeArticle
) -> None:
    body = "Die NATO und die EU berieten am Montag mit Japan und Russland. Wladimir Putin und Angela Merkel sprachen."
    art = enricher.enrich(make_article(body, title="Gipfel in Berlin", language="de"))
    assert art.enrichment_scope == "gazetteer-only (de)"
    assert {"North Atlantic Treaty Organization", "European Union"} <= set(art.organizations)
    assert "JP" in art.countries
    assert "Angela Merkel" in art.persons  # a full name is the same in German
    assert art.topics == () and art.key_phrases == () and art.tone is None
    assert all(e.type is not EntityType.EVENT for e in art.entities)


def test_parts_never_exceed_the_chunk_size() -> None:
    body = ("word " * 5000) + "\n\n" + ("A sentence. " * 3000) + "\n\n" + "x" * 25_000
    parts = list(split_parts("Title", body, max_chars=1000))
    assert parts[0].is_title and parts[0].text == "Title"
    assert all(len(p.text) <= 1000 for p in parts)
    assert "".join("".join(p.text.split()) for p in parts[1:]) == "".join(body.split())  # nothing lost


def _peak_bytes(enricher: Enricher, article: Article) -> tuple[int, Article]:
    tracemalloc.start()
    try:
        result = enricher.enrich(article)
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_100k_word_text_finishes_with_bounded_memory(enricher: Enricher, make_article: MakeArticle) -> None:
    words = len(PARAGRAPH.split())
    short = "\n\n".join([PARAGRAPH] * (10_000 // words + 1))
    body = "\n\n".join([PARAGRAPH] * (100_000 // words + 1))
    assert len(body.split()) >= 100_000
    small_peak, _ = _peak_bytes(enricher, make_article(short, title="A long text"))
    peak, art = _peak_bytes(enricher, make_article(body, title="A very long text"))
    # Docs of 10,000-character parts come and go and only aggregates are kept, so ten times the
    # text costs about the same peak (model activations for one nlp.pipe batch dominate it)
    assert peak < 1.5 * small_peak, f"peak {peak / 1e6:.1f} MB for 100k words, {small_peak / 1e6:.1f} MB for 10k"
    assert peak < 256 * 1024 * 1024
    lavrov = next(e for e in art.entities if e.name == "Sergey Lavrov")
    assert lavrov.mentions >= 3000
    assert len(lavrov.surface_forms) < 10
    assert 5 <= len(art.key_phrases) <= 10
    assert art.topics
