"""Entity resolution inside one article: metonyms, demonyms, surnames, offices on the date, disputed places."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.enrich import Enricher
from pipeline.models import Article, Entity, EntityType

MakeArticle = Callable[..., Article]


def by_name(article: Article, name: str) -> Entity:
    matches = [e for e in article.entities if e.name == name]
    assert matches, f"{name} not in {[e.name for e in article.entities]}"
    return matches[0]


def test_capital_used_as_metonym_adds_the_country(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("Moscow said on Monday that it would respond. Tokyo rejected the claim."))
    assert set(art.countries) == {"RU", "JP"}
    assert "Moscow" in by_name(art, "Russia").surface_forms


def test_capital_used_as_a_place_is_a_location_in_its_country(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("The two delegations met in Vienna on Tuesday for a third round."))
    vienna = by_name(art, "Vienna")
    assert vienna.type is EntityType.LOCATION and vienna.country == "AT"
    assert "Austria" not in {e.name for e in art.entities}  # a venue, not Austria acting
    assert art.countries == ("AT",)


def test_seat_of_government_metonym(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("The Kremlin said the talks were useful, and the White House agreed."))
    assert set(art.countries) == {"RU", "US"}


def test_demonyms_and_hyphenated_pairs(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(
        make_article("Japanese officials welcomed the Russian-Japanese declaration and the U.S.-led effort.")
    )
    assert set(art.countries) == {"JP", "RU", "US"}


def test_region_adjective_is_not_a_demonym(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("It was the first win by an Asian team over South American opposition."))
    assert "US" not in art.countries


def test_surnames_honorifics_and_possessives_merge_into_the_full_name(
    enricher: Enricher, make_article: MakeArticle
) -> None:
    body = (
        "Prime Minister Shinzo Abe arrived in Moscow on Monday. Mr. Abe's delegation included business leaders. "
        "Abe said the visit was important. Russian officials greeted Shinzo warmly."
    )
    art = enricher.enrich(make_article(body))
    abe = by_name(art, "Shinzo Abe")
    assert abe.mentions >= 3
    assert "Abe" in abe.surface_forms
    assert art.persons.count("Shinzo Abe") == 1
    assert not any(p in ("Abe", "Mr. Abe", "Shinzo") for p in art.persons)


def test_surname_merges_into_a_non_gazetteer_full_name(enricher: Enricher, make_article: MakeArticle) -> None:
    body = "Spokeswoman Maria Zakharova told reporters the note was received. Zakharova added that it was rude."
    art = enricher.enrich(make_article(body))
    assert "Maria Zakharova" in art.persons
    assert "Zakharova" not in art.persons


def test_title_and_surname_resolve_to_the_office_holder_on_the_date(
    enricher: Enricher, make_article: MakeArticle
) -> None:
    art = enricher.enrich(make_article("President Putin and Prime Minister Abe spoke by phone.", date="2015-04-22"))
    putin = by_name(art, "Vladimir Putin")
    assert putin.ids["wikidata"] == "Q7747"
    assert [o.title for o in putin.offices] == ["President of Russia"]
    abe = by_name(art, "Shinzo Abe")
    assert [o.title for o in abe.offices] == ["Prime Minister of Japan"]
    assert abe.offices[0].country == "JP"


def test_same_surname_different_holder_in_2005_and_2015(enricher: Enricher, make_article: MakeArticle) -> None:
    body = "North Korean leader Kim inspected a missile unit, state media said."
    in_2005 = enricher.enrich(make_article(body, date="2005-06-01"))
    in_2015 = enricher.enrich(make_article(body, date="2015-06-01"))
    assert "Kim Jong-il" in in_2005.persons
    assert "Kim Jong-un" in in_2015.persons


def test_same_surname_resolved_by_office_and_date(enricher: Enricher, make_article: MakeArticle) -> None:
    body = "Secretary of State Clinton will travel to Seoul next week."
    assert "Hillary Clinton" in enricher.enrich(make_article(body, date="2010-05-20")).persons
    body = "President Clinton will travel to Seoul next month, the White House said."
    assert "Bill Clinton" in enricher.enrich(make_article(body, date="2000-10-20")).persons


def test_offices_change_with_the_date(enricher: Enricher, make_article: MakeArticle) -> None:
    body = "Vladimir Putin chaired a meeting of the government."
    as_pm = by_name(enricher.enrich(make_article(body, date="2010-03-01")), "Vladimir Putin")
    assert [o.title for o in as_pm.offices] == ["Prime Minister of Russia"]
    undated = by_name(enricher.enrich(make_article(body, date=None)), "Vladimir Putin")
    assert undated.offices == ()


def test_country_word_before_a_title_narrows_the_leader(enricher: Enricher, make_article: MakeArticle) -> None:
    # Jordan's king is not in the gazetteer: the Saudi king of that date must not be picked
    art = enricher.enrich(make_article("Jordan's King Abdullah met the delegation.", date="2010-01-10"))
    assert "Abdullah bin Abdulaziz" not in art.persons


def test_disputed_islands_keep_both_names_and_assert_no_sovereignty(
    enricher: Enricher, make_article: MakeArticle
) -> None:
    body = "Talks on the Kuril Islands, which Japan calls the Northern Territories, made no progress."
    art = enricher.enrich(make_article(body))
    place = by_name(art, "Kuril Islands / Northern Territories")
    assert place.type is EntityType.LOCATION
    assert place.country is None
    assert {"Kuril Islands", "Northern Territories"} <= set(place.surface_forms)
    assert art.countries == ("JP",)  # only Japan, named in the text; no claimant is added


def test_crimea_adds_no_country_code(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("Tourism in Crimea fell sharply this summer."))
    assert art.countries == ()
    assert "Crimea" in art.locations


def test_islamic_state_is_one_group_not_a_nationality_and_a_state(
    enricher: Enricher, make_article: MakeArticle
) -> None:
    body = "Islamic State fighters retreated from the town. The Islamic State of Iraq and the Levant lost ground."
    art = enricher.enrich(make_article(body))
    group = by_name(art, "Islamic State")
    assert group.type is EntityType.GROUP
    assert group.ids["wikidata"] == "Q2429253"
    assert group.mentions == 2
    assert "IQ" not in art.countries
    assert not any(e.name in ("Islamic", "State") for e in art.entities)
    assert "Islamic State" in art.organizations


def test_historical_state_keeps_its_own_code(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("The islands were seized by Soviet troops in 1945."))
    assert art.countries == ("SU",)


def test_organisations_resolve_abbreviations_to_one_entity(enricher: Enricher, make_article: MakeArticle) -> None:
    body = "The European Union agreed new measures. EU ministers said NATO was informed."
    art = enricher.enrich(make_article(body))
    eu = by_name(art, "European Union")
    assert eu.mentions == 2 and eu.ids["wikidata"] == "Q458"
    assert "North Atlantic Treaty Organization" in art.organizations


def test_headline_artefacts_and_title_words_are_not_entities(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(
        make_article(
            "Secretary of State Rex Tillerson said the two countries would build ties.",
            title="Tillerson and Lavrov Build Ties",
            date="2017-05-01",
        )
    )
    names = {e.name for e in art.entities}
    assert "Build Ties" not in names
    assert "State" not in art.organizations
    assert "Rex Tillerson" in art.persons


def test_person_containing_a_place_name_stays_a_person(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("Jordan Henderson scored the winner for his club on Saturday."))
    assert "JO" not in art.countries


def test_newspaper_named_after_a_capital_is_not_a_country(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("He was a columnist for the Washington Post for many years."))
    assert "US" not in art.countries


def test_flat_facets_match_entities(enricher: Enricher, make_article: MakeArticle) -> None:
    art = enricher.enrich(make_article("Angela Merkel met Emmanuel Macron in Berlin. Germany and France agreed."))
    persons = {e.name for e in art.entities if e.type is EntityType.PERSON}
    assert set(art.persons) == persons
    assert set(art.countries) == {"DE", "FR"}
