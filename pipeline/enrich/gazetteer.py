"""The gazetteer: project data files (YAML) validated into typed, frozen records.

Files under ``pipeline/data/gazetteer/``:
- ``countries.yaml``: countries and territories (ISO 3166-1 alpha-2), names, demonyms,
  capitals and seats of government used as metonyms; historical states with their ISO 3166-3 codes;
- ``organizations.yaml``: international organisations, organs and agencies;
- ``groups.yaml``: armed and political movements;
- ``places.yaml``: disputed or multi-name places (neutral names, no sovereignty asserted);
- ``regions.yaml``: world regions and their adjectives (no country code);
- ``leaders.yaml``: heads of state and government, foreign ministers, with dated offices,
  the title words that point at an office, and the honorifics stripped from names.

A malformed file fails loudly: ``DataFileError`` names the file and the entry.
The files hold no logic; everything here only reads and checks them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipeline.datafiles import DataFileError, read_yaml
from pipeline.models import Office

_CODE = re.compile(r"^[A-Z]{2}$")
_QID = re.compile(r"^Q[1-9][0-9]*$")


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    names: tuple[str, ...]
    demonyms: tuple[str, ...]
    capitals: tuple[str, ...]
    wikidata: str | None = None
    historical: bool = False
    successors: tuple[str, ...] = ()
    until: date | None = None  # a historical state: the day it ceased to exist
    parts: tuple[str, ...] = ()  # a historical state: the codes of what were its parts, not states, before `until`


ORG_KINDS = ("intergovernmental", "ngo", "state", "company", "media")
ORG_KINDS_WITH_COUNTRY = ("state", "company", "media")


@dataclass(frozen=True)
class Organization:
    name: str
    names: tuple[str, ...]
    abbreviations: tuple[str, ...]
    wikidata: str | None = None
    parent: str | None = None
    is_group: bool = False  # an armed or political movement (entity type "group")
    kind: str = "intergovernmental"  # one of ORG_KINDS
    country: str | None = None  # for a state body, company or medium: the state it belongs to or is based in

    @property
    def international_actor(self) -> bool:
        """States acting together: the UN, NATO, the EU, OPEC ... (not an NGO, a company, a medium, a movement)."""
        return self.kind == "intergovernmental" and not self.is_group


@dataclass(frozen=True)
class Place:
    name: str
    names: tuple[str, ...]
    claimants: tuple[str, ...] = ()
    administered_by: str | None = None
    wikidata: str | None = None
    disputed: bool = True  # False: only the name is contested ("Persian Gulf" / "Arabian Gulf")


@dataclass(frozen=True)
class Region:
    name: str
    names: tuple[str, ...]
    adjectives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Term:
    """One office held for a period: [start, end), end None while in office."""

    role: str
    title: str
    start: date
    end: date | None = None

    def holds_on(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)

    def as_office(self, country: str | None) -> Office:
        return Office(
            title=self.title,
            country=country,
            start=self.start.isoformat(),
            end=self.end.isoformat() if self.end else None,
        )


@dataclass(frozen=True)
class Leader:
    name: str
    country: str | None
    names: tuple[str, ...]  # the canonical name and its full-form aliases
    surnames: tuple[str, ...]  # second-reference forms: "Putin", "Kim", "bin Salman"
    terms: tuple[Term, ...]
    wikidata: str | None = None

    def terms_on(self, day: date) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.holds_on(day))

    def offices_on(self, day: date | None) -> tuple[Office, ...]:
        if day is None:
            return ()
        return tuple(t.as_office(self.country) for t in self.terms_on(day))


@dataclass(frozen=True)
class Gazetteer:
    countries: tuple[Country, ...]
    organizations: tuple[Organization, ...]  # includes groups (is_group=True)
    places: tuple[Place, ...]
    regions: tuple[Region, ...]
    leaders: tuple[Leader, ...]
    titles: Mapping[str, tuple[str, ...]]  # title words -> roles
    honorifics: frozenset[str]
    roles: Mapping[str, str]

    @classmethod
    def load(cls, directory: Path) -> Gazetteer:
        countries = tuple(_load_countries(directory / "countries.yaml"))
        codes = {c.code for c in countries}
        orgs = list(_load_orgs(directory / "organizations.yaml", "organizations", is_group=False))
        orgs += _load_orgs(directory / "groups.yaml", "groups", is_group=True)
        _unique(directory / "organizations.yaml", (o.name for o in orgs), "organization")
        _unique(directory / "organizations.yaml", [o.wikidata for o in orgs if o.wikidata], "Wikidata ID")
        places = tuple(_load_places(directory / "places.yaml"))
        regions = tuple(_load_regions(directory / "regions.yaml"))
        leaders_path = directory / "leaders.yaml"
        data = read_yaml(leaders_path)
        roles = _mapping(leaders_path, data, "roles")
        titles = {
            str(k): tuple(_strings(leaders_path, f"titles.{k}", v, allow_empty=True))
            for k, v in _mapping(leaders_path, data, "titles").items()
        }
        for key, wanted in titles.items():
            for role in wanted:
                if role not in roles:
                    raise DataFileError(leaders_path, f"titles.{key}", f"unknown role {role!r}")
        honorifics = frozenset(_strings(leaders_path, "honorifics", data.get("honorifics")))
        leaders = tuple(_load_leaders(leaders_path, data, set(roles), codes))
        _unique(leaders_path, [p.wikidata for p in leaders if p.wikidata], "Wikidata ID")
        return cls(
            countries=countries,
            organizations=tuple(orgs),
            places=places,
            regions=regions,
            leaders=leaders,
            titles=titles,
            honorifics=honorifics,
            roles={str(k): str(v) for k, v in roles.items()},
        )


def fold(text: str) -> str:
    """ASCII-folded form: "Erdoğan" -> "Erdogan", so copy without diacritics still matches."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ı", "i"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_variants(name: str) -> set[str]:
    """The forms a name is written in: as given, ASCII-folded, Korean-style hyphen or space."""
    forms = {name, fold(name)}
    for form in list(forms):
        if re.search(r"[A-Za-z]-[a-z]", form) and " " in form:  # "Kim Jong-un" -> "Kim Jong Un"
            forms.add(re.sub(r"-([a-z])", lambda m: " " + m.group(1).upper(), form))
    return forms


# -- reading and checking --------------------------------------------------------------------------


def _mapping(path: Path, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict) or not value:
        raise DataFileError(path, key, "expected a non-empty mapping")
    return value


def _entries(path: Path, data: Mapping[str, Any], key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    items = data.get(key)
    if not isinstance(items, list) or not items:
        raise DataFileError(path, key, "expected a non-empty list")
    for index, item in enumerate(items):
        label = f"{key}[{index}]"
        if not isinstance(item, dict):
            raise DataFileError(path, label, "expected a mapping")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DataFileError(path, label, "missing 'name'")
        yield f"{label} ({name})", item


def _strings(path: Path, entry: str, value: Any, allow_empty: bool = True) -> list[str]:
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise DataFileError(path, entry, "expected a list of non-empty strings")
    if not value and not allow_empty:
        raise DataFileError(path, entry, "expected at least one name")
    return [v.strip() for v in value]


def _known(path: Path, entry: str, item: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(item) - allowed
    if unknown:
        raise DataFileError(path, entry, f"unknown field(s) {sorted(unknown)}")


def _wikidata(path: Path, entry: str, item: Mapping[str, Any]) -> str | None:
    value = item.get("wikidata")
    if value is None:
        return None
    if not isinstance(value, str) or not _QID.match(value):
        raise DataFileError(path, entry, f"wikidata must look like Q123, got {value!r}")
    return value


def _code(path: Path, entry: str, value: Any, field: str) -> str:
    if not isinstance(value, str) or not _CODE.match(value):
        raise DataFileError(path, entry, f"{field} must be an ISO 3166-1 alpha-2 code, got {value!r}")
    return value


def _date(path: Path, entry: str, value: Any, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise DataFileError(path, entry, f"{field} must be an ISO date, got {value!r}") from exc


def _unique(path: Path, names: Iterator[str] | Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataFileError(path, name, f"duplicate {what}")
        seen.add(name)


def _load_countries(path: Path) -> Iterator[Country]:
    data = read_yaml(path)
    seen: set[str] = set()
    fields = {"code", "name", "names", "demonyms", "capitals", "wikidata", "historical", "successors", "until", "parts"}
    for entry, item in _entries(path, data, "countries"):
        _known(path, entry, item, fields)
        code = _code(path, entry, item.get("code"), "code")
        if code in seen:
            raise DataFileError(path, entry, f"duplicate code {code}")
        seen.add(code)
        historical = bool(item.get("historical", False))
        if (item.get("until") is not None or item.get("parts")) and not historical:
            raise DataFileError(path, entry, "'until' and 'parts' are for historical states only")
        if item.get("parts") and item.get("until") is None:
            raise DataFileError(path, entry, "a historical state with 'parts' needs the day it ended ('until')")
        yield Country(
            code=code,
            name=item["name"],
            names=tuple(_strings(path, entry, item.get("names"), allow_empty=False)),
            demonyms=tuple(_strings(path, entry, item.get("demonyms"))),
            capitals=tuple(_strings(path, entry, item.get("capitals"))),
            wikidata=_wikidata(path, entry, item),
            historical=historical,
            successors=tuple(_code(path, entry, c, "successors") for c in item.get("successors") or ()),
            until=_date(path, entry, item["until"], "until") if item.get("until") is not None else None,
            parts=tuple(_code(path, entry, c, "parts") for c in item.get("parts") or ()),
        )


def _load_orgs(path: Path, key: str, is_group: bool) -> list[Organization]:
    data = read_yaml(path)
    out = []
    for entry, item in _entries(path, data, key):
        _known(path, entry, item, {"name", "names", "abbreviations", "wikidata", "parent", "kind", "country"})
        kind = item.get("kind", "intergovernmental")
        if kind not in ORG_KINDS:
            raise DataFileError(path, entry, f"kind must be one of {list(ORG_KINDS)}, got {kind!r}")
        country = item.get("country")
        if (country is not None) != (kind in ORG_KINDS_WITH_COUNTRY):
            kinds = list(ORG_KINDS_WITH_COUNTRY)
            raise DataFileError(path, entry, f"a country is given for kinds {kinds}, and only for them")
        names = _strings(path, entry, item.get("names"))
        abbreviations = _strings(path, entry, item.get("abbreviations"))
        if not names and not abbreviations:
            raise DataFileError(path, entry, "needs at least one of names, abbreviations")
        out.append(
            Organization(
                name=item["name"],
                names=tuple(names),
                abbreviations=tuple(abbreviations),
                wikidata=_wikidata(path, entry, item),
                parent=item.get("parent"),
                is_group=is_group,
                kind=kind,
                country=_code(path, entry, country, "country") if country is not None else None,
            )
        )
    return out


def _load_places(path: Path) -> Iterator[Place]:
    data = read_yaml(path)
    for entry, item in _entries(path, data, "places"):
        _known(path, entry, item, {"name", "names", "claimants", "administered_by", "wikidata", "disputed"})
        administered = item.get("administered_by")
        disputed = item.get("disputed", True)
        if not isinstance(disputed, bool):
            raise DataFileError(path, entry, f"disputed must be true or false, got {disputed!r}")
        yield Place(
            name=item["name"],
            names=tuple(_strings(path, entry, item.get("names"), allow_empty=False)),
            claimants=tuple(_code(path, entry, c, "claimants") for c in item.get("claimants") or ()),
            administered_by=_code(path, entry, administered, "administered_by") if administered else None,
            wikidata=_wikidata(path, entry, item),
            disputed=disputed,
        )


def _load_regions(path: Path) -> Iterator[Region]:
    data = read_yaml(path)
    for entry, item in _entries(path, data, "regions"):
        _known(path, entry, item, {"name", "names", "adjectives"})
        yield Region(
            name=item["name"],
            names=tuple(_strings(path, entry, item.get("names"), allow_empty=False)),
            adjectives=tuple(_strings(path, entry, item.get("adjectives"))),
        )


def _load_leaders(path: Path, data: Mapping[str, Any], roles: set[str], codes: set[str]) -> Iterator[Leader]:
    seen: set[str] = set()
    for entry, item in _entries(path, data, "leaders"):
        _known(path, entry, item, {"name", "wikidata", "country", "aliases", "surnames", "offices"})
        name = item["name"]
        if name in seen:
            raise DataFileError(path, entry, "duplicate leader")
        seen.add(name)
        country = item.get("country")
        if country is not None:
            _code(path, entry, country, "country")
        offices = item.get("offices")
        if not isinstance(offices, list) or not offices:
            raise DataFileError(path, entry, "expected a non-empty list of offices")
        terms = []
        for i, office in enumerate(offices):
            where = f"{entry} offices[{i}]"
            if not isinstance(office, dict):
                raise DataFileError(path, where, "expected a mapping")
            _known(path, where, office, {"role", "title", "start", "end"})
            role = office.get("role")
            if role not in roles:
                raise DataFileError(path, where, f"unknown role {role!r}")
            title = office.get("title")
            if not isinstance(title, str) or not title:
                raise DataFileError(path, where, "missing 'title'")
            start = _date(path, where, office.get("start"), "start")
            end = _date(path, where, office["end"], "end") if office.get("end") is not None else None
            if end is not None and end < start:
                raise DataFileError(path, where, f"end {end} is before start {start}")
            terms.append(Term(role=role, title=title, start=start, end=end))
        surnames = item.get("surnames")
        if surnames is None:
            surnames = [name.split()[-1]]
        yield Leader(
            name=name,
            country=country,
            names=tuple([name, *_strings(path, entry, item.get("aliases"))]),
            surnames=tuple(_strings(path, entry, surnames)),
            terms=tuple(terms),
            wikidata=_wikidata(path, entry, item),
        )
