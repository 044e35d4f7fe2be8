"""Entity mechanisms from reading real misses: datelines, places in their countries, public bodies named with
their country, UN organs only in UN context, nationalities, historical states, capitals in all-caps lines.

Every sentence here is written for these tests.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.enrich import Enricher
from pipeline.models import Article, Entity, EntityType

MakeArticle = Callable[..., Article]


def named(art: Article, name: str) -> Entity:
    found = [e for e in art.entities if e.name == name]
    assert found, f"{name!r} not among {[e.name for e in art.entities]}"
    return found[0]


@pytest.mark.parametrize(
    ("body", "country"),
    [
        ("NEW YORK, March 3 - Shares of the retailer rose sharply after it raised its forecast.", "US"),
        ("CHICAGO, March 3 - Grain futures opened higher on export hopes.", "US"),
        ("SANTA CLARA, Calif., March 3 - The chipmaker said it would cut prices on its processors.", "US"),
        ("LONDON 1996-08-30\nThe pound firmed against the mark in quiet trading.", "GB"),
        ("TOKYO (Reuters) - The central bank kept its policy unchanged, its governor said.", "JP"),
        ("Kyiv, Ukraine (AP) — Air raid sirens sounded across the capital overnight.", "UA"),
    ],
)
def test_a_dateline_gives_the_story_its_country(
    enricher: Enricher, make_article: MakeArticle, body: str, country: str
) -> None:
    art = enricher.enrich(make_article(body))
    assert country in art.countries


def test_a_story_without_a_dateline_gets_no_country_from_its_first_words(
    enricher: Enricher, make_article: MakeArticle
) -> None:
    art = enricher.enrich(make_article("Showers continued throughout the week, improving prospects for farmers."))
    assert art.countries == ()


def test_georgia_in_an_atlanta_story_is_the_us_state(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "ATLANTA, May 4 - Georgia lawmakers passed a budget on Tuesday after a long night of debate. "
        "The governor of Georgia is expected to sign it next week."
    )
    art = enricher.enrich(make_article(body))
    assert "GE" not in art.countries
    assert "US" in art.countries
    georgia = named(art, "Georgia")
    assert georgia.type is EntityType.LOCATION and georgia.country == "US"


def test_georgia_in_a_tbilisi_story_is_the_country(enricher: Enricher, make_article: MakeArticle) -> None:
    body = "TBILISI, May 4 - Georgia and Russia traded accusations over the border on Tuesday."
    art = enricher.enrich(make_article(body))
    assert "GE" in art.countries and "US" not in art.countries
    assert named(art, "Georgia").type is EntityType.COUNTRY


def test_a_city_counts_for_its_country(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("Protesters gathered in Marseille and Lyon for a third weekend."))
    assert named(art, "Lyon").country == "FR"
    assert "FR" in art.countries


def test_four_foreign_ministries_stay_four_organisations(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "Iran's Foreign Ministry said the talks would go on. China's Foreign Ministry welcomed the news, "
        "the Japanese Foreign Ministry said it was studying the text, and the Russian Foreign Ministry "
        "said nothing."
    )
    art = enricher.enrich(make_article(body))
    ministries = {e.name: e.country for e in art.entities if "Foreign Ministry" in e.name}
    assert ministries == {
        "Foreign Ministry (Iran)": "IR",
        "Foreign Ministry (China)": "CN",
        "Foreign Ministry (Japan)": "JP",
        "Foreign Ministry (Russia)": "RU",
    }


def test_an_unqualified_ministry_takes_the_dateline_country(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("TOKYO, Oct 1 - The Foreign Ministry said the envoy would leave on Friday."))
    assert "Foreign Ministry (Japan)" in art.organizations


def test_the_national_security_council_is_not_the_un_security_council(
    enricher: Enricher, make_article: MakeArticle
) -> None:
    body = "The National Security Council met at the White House on Monday to review the options."
    art = enricher.enrich(make_article(body))
    assert "United Nations Security Council" not in art.organizations


def test_a_state_general_assembly_is_not_the_un_general_assembly(
    enricher: Enricher, make_article: MakeArticle
) -> None:
    body = "The state's General Assembly approved the school funding bill by a wide margin on Thursday."
    art = enricher.enrich(make_article(body))
    assert "United Nations General Assembly" not in art.organizations


def test_the_general_assembly_in_a_un_story_is_the_un_organ(enricher: Enricher, make_article: MakeArticle) -> None:
    body = "The United Nations opened its annual session. Leaders will address the General Assembly on Monday."
    art = enricher.enrich(make_article(body))
    assert "United Nations General Assembly" in art.organizations


def test_a_country_name_inside_an_organisation_name_stays(enricher: Enricher, make_article: MakeArticle) -> None:
    body = "The Japan International Cooperation Agency will fund the new water plant, officials said."
    art = enricher.enrich(make_article(body))
    assert "International Cooperation Agency" not in art.organizations
    assert any(name.startswith("Japan International Cooperation Agency") for name in art.organizations)


def test_pope_francis_is_one_person(enricher: Enricher, make_article: MakeArticle) -> None:
    body = "Pope Francis arrived in Washington on Tuesday. Francis told the crowd that migrants deserve dignity."
    art = enricher.enrich(make_article(body))
    assert art.persons == ("Pope Francis",)


def test_a_word_in_a_capitals_headline_is_not_an_abbreviation(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("Negotiators met again on Friday.", title="WHAT IS AT STAKE IN THE TALKS"))
    assert "Islamic State" not in art.organizations


def test_countries_in_a_capitals_headline_are_read(enricher: Enricher, make_article: MakeArticle) -> None:
    body = "Both sides said more meetings would follow."
    art = enricher.enrich(make_article(body, title="JAPAN, RUSSIA AGREE TO TALK"))
    assert {"JP", "RU"} <= set(art.countries)


def test_a_nationality_feeds_the_facet_but_is_not_the_country(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("Uzbek officials said the border would reopen next week."))
    uzbek = named(art, "Uzbek")
    assert uzbek.type is EntityType.NATIONALITY and uzbek.country == "UZ"
    assert art.countries == ("UZ",)
    assert not [e for e in art.entities if e.type is EntityType.COUNTRY]


def test_a_part_of_a_historical_state_counts_for_that_state_while_it_existed(
    enricher: Enricher, make_article: MakeArticle
) -> None:
    body = "Moscow said the grain purchases would continue through the year."
    assert enricher.enrich(make_article(body, date="1987-03-17")).countries == ("SU",)
    assert enricher.enrich(make_article(body, date="2015-03-17")).countries == ("RU",)


def test_a_leader_after_a_lower_case_title_is_found_without_the_ner(
    enricher: Enricher, make_article: MakeArticle
) -> None:
    art = enricher.enrich(make_article("North Korean leader Kim inspected a missile unit.", date="2015-06-01"))
    assert "Kim Jong-un" in art.persons


def test_a_passing_mention_is_an_entity_but_not_in_the_facet(enricher: Enricher, make_article: MakeArticle) -> None:
    body = (
        "TOKYO, Oct 1 - Japan and Russia agreed on Thursday to hold another round of talks on a peace treaty. "
        "Japanese officials said the talks would cover fishing rights near the islands. Russia said it was "
        "ready to discuss joint economic projects. The talks will continue in Moscow next month. Negotiators "
        "have met four times this year, and both governments said progress had been slow but real. "
        "Analysts in Tokyo said the two sides were still far apart. A similar dispute once divided Norway "
        "and its neighbours for decades before a deal was struck."
    )
    art = enricher.enrich(make_article(body))
    assert {"JP", "RU"} <= set(art.countries)
    assert "NO" not in art.countries
    assert named(art, "Norway").country == "NO"
