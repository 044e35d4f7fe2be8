"""Topics: evidence, international actors, cue resolution, the article model's gate, tone and key phrases.

``rules_enricher`` has the topic rules without the trained models (``OpenGate``), to test one rule at a
time; ``enricher`` is what ships. Every text here is written for these tests.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.enrich import Enricher
from pipeline.models import Article

MakeArticle = Callable[..., Article]


def topic_ids(art: Article) -> set[str]:
    return {t.id for t in art.topics}


def test_sanctions_article_gets_the_topic_with_evidence(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "The European Union imposed new sanctions on Iran on Monday, including an asset freeze on "
        "twelve officials. Tehran condemned the measures, and its foreign ministry summoned the EU envoy."
    )
    art = enricher.enrich(make_article(body, title="EU sanctions Iranian officials"))
    topics = {t.id: t for t in art.topics}
    assert "sanctions" in topics
    sanctions = topics["sanctions"]
    assert 0 < sanctions.score < 1
    assert "sanction" in sanctions.evidence
    assert any("asset freeze" in e for e in sanctions.evidence)
    assert sanctions.label == "Sanctions"
    assert art.diplomacy is not None and art.diplomacy >= enricher.scorer.threshold


def test_football_report_gets_no_diplomacy_topic(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "Japan beat Russia 2-1 in a friendly match in Tokyo on Tuesday. The striker scored in the second half "
        "after a free kick, and the coach praised the fans in the stadium. The team meet Brazil next."
    )
    art = enricher.enrich(make_article(body, title="Japan edge Russia in friendly"))
    assert art.topics == ()
    assert set(art.countries) >= {"JP", "RU"}


def test_a_domestic_border_visit_gets_no_diplomacy_topic(
    enricher: Enricher, rules_enricher: Enricher, make_article: MakeArticle
) -> None:
    body = (
        "The senator visited the southern border on Tuesday and met with sheriffs and ranchers, then returned "
        "to Washington for a vote on a continuing resolution. She said her claim about crossings was accurate "
        "and that her counterpart in the House would visit next month."
    )
    for tagger in (rules_enricher, enricher):  # one state: no two international actors, whatever the cues
        assert tagger.enrich(make_article(body, title="Senator visits the border")).topics == ()


def test_trade_talks_between_two_states_get_trade_and_meeting(
    enricher: Enricher, rules_enricher: Enricher, make_article: MakeArticle
) -> None:
    body = (
        "Japan and Australia opened trade talks in Canberra on Monday, aiming to cut tariffs on beef and cars. "
        "The Japanese trade minister met his Australian counterpart, and both governments said a free trade "
        "agreement could be signed next year."
    )
    art = make_article(body, title="Japan and Australia open trade talks")
    # "trade talks" is a trade cue and, inside it, still "talks" for the meeting
    assert {"trade-energy", "diplomatic-meeting"} <= topic_ids(rules_enricher.enrich(art))
    assert "trade-energy" in topic_ids(enricher.enrich(art))


def test_trade_war_is_not_armed_conflict(rules_enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "The trade war between the United States and China escalated as both governments raised tariffs. "
        "Officials in Beijing said the tariffs on American goods would take effect next week."
    )
    ids = topic_ids(rules_enricher.enrich(make_article(body)))
    assert "trade-energy" in ids
    assert "armed-conflict" not in ids


def test_one_strong_cue_passes_and_one_repeated_medium_cue_does_not(
    rules_enricher: Enricher, make_article: MakeArticle
) -> None:
    strong = "Japan said on Friday that it would participate in sanctions on Russia, officials in Tokyo said."
    assert "sanctions" in topic_ids(rules_enricher.enrich(make_article(strong)))
    repeated = "Japan and Russia talked about the border. The border, the border, always the border, they said."
    assert "territorial-dispute" not in topic_ids(rules_enricher.enrich(make_article(repeated)))


def test_according_to_is_not_an_accord(rules_enricher: Enricher, make_article: MakeArticle) -> None:
    body = "According to Japan and Russia, according to officials, the ferry service resumed on Monday."
    art = rules_enricher.enrich(make_article(body))
    assert not any("accord" in " ".join(t.evidence) for t in art.topics)


def test_every_passing_topic_is_kept(rules_enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "Russia and Ukraine agreed a ceasefire after peace talks in Minsk, as fighting continued near the front "
        "line and airstrikes hit two towns. Thousands of refugees have fled the shelling, and the United Nations "
        "refugee agency called for a humanitarian corridor. The European Union extended sanctions on Russia and "
        "offered Ukraine a trade agreement. NATO said allies would hold joint exercises in Poland."
    )
    ids = topic_ids(rules_enricher.enrich(make_article(body)))
    assert {"peace-process", "armed-conflict", "refugees-humanitarian", "sanctions"} <= ids
    assert len(ids) > 3  # no fixed cap


def test_the_article_model_gates_topics(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "Japan and China reported record sales of electric cars in March, and shares of carmakers in Tokyo "
        "rose. Analysts said demand for batteries from Chinese suppliers would keep growing this year."
    )
    art = enricher.enrich(make_article(body, title="Electric car sales hit record"))
    assert art.diplomacy is not None and art.diplomacy < enricher.scorer.threshold
    assert art.topics == ()


def test_the_versions_that_enriched_an_article_are_recorded(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("Japan and Russia held talks."))
    assert art.enrichment_versions == {
        "ner": enricher.model_version,
        "taxonomy": enricher.taxonomy.version,
        "topic_model": enricher.scorer.version,
    }
    assert art.enrichment_versions["taxonomy"] == "2.0.0"
    assert art.enrichment_versions["ner"].startswith("en_chancery_news_ner-")


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
