"""Topics: evidence, no topic for non-diplomacy news, longest cue wins, tone and key phrases."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.enrich import Enricher
from pipeline.models import Article

MakeArticle = Callable[..., Article]


def test_sanctions_article_gets_the_topic_with_evidence(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "The European Union imposed new sanctions on Iran on Monday, including an asset freeze on "
        "twelve officials. Tehran condemned the measures."
    )
    art = enricher.enrich(make_article(body, title="EU sanctions Iranian officials"))
    topics = {t.id: t for t in art.topics}
    assert "sanctions" in topics
    sanctions = topics["sanctions"]
    assert 0 < sanctions.score < 1
    assert "sanction" in sanctions.evidence
    assert any("asset freeze" in e for e in sanctions.evidence)
    assert sanctions.label == "Sanctions"


def test_football_report_gets_no_diplomacy_topic(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "Japan beat Russia 2-1 in a friendly match in Tokyo on Tuesday. The striker scored in the second half "
        "after a free kick, and the coach praised the fans in the stadium. The team meet Brazil next."
    )
    art = enricher.enrich(make_article(body, title="Japan edge Russia in friendly"))
    assert art.topics == ()
    assert set(art.countries) >= {"JP", "RU"}


def test_trade_war_is_not_armed_conflict(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "The trade war between the United States and China escalated as both governments raised tariffs. "
        "Officials in Beijing said the tariffs on American goods would take effect next week."
    )
    ids = {t.id for t in enricher.enrich(make_article(body)).topics}
    assert "trade-energy" in ids
    assert "armed-conflict" not in ids


def test_several_topics_can_apply(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "Leaders agreed a ceasefire after peace talks in Minsk, as fighting continued near the front line. "
        "Thousands of refugees have fled the shelling, and aid agencies called for a humanitarian corridor."
    )
    ids = {t.id for t in enricher.enrich(make_article(body)).topics}
    assert {"peace-process", "armed-conflict", "refugees-humanitarian"} <= ids


def test_tone_is_sentence_averaged(enricher: Enricher, make_article: MakeArticle) -> None:
    good = enricher.enrich(make_article("The leaders praised a wonderful, friendly and successful meeting."))
    bad = enricher.enrich(make_article("The attack killed dozens. Officials condemned the horrific violence."))
    assert good.tone is not None and bad.tone is not None
    assert -1 <= bad.tone < 0 < good.tone <= 1


def test_key_phrases_are_five_to_ten(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "Negotiators resumed talks on the nuclear programme in Geneva. The nuclear programme has been the main "
        "obstacle to a deal on sanctions relief. Uranium enrichment levels and inspection access remain disputed. "
        "Diplomats said progress on uranium enrichment was slow, while energy markets watched oil prices."
    )
    phrases = enricher.enrich(make_article(body)).key_phrases
    assert 5 <= len(phrases) <= 10
    assert "nuclear programme" in phrases
    assert len(set(phrases)) == len(phrases)
