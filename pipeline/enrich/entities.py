"""Entities: spaCy NER plus a gazetteer layer, resolved within the document.

Per part (``observe``):
1. The gazetteer PhraseMatcher (case-sensitive, longest match wins) finds countries,
   demonyms, capitals and seats of government, organisations, movements, disputed places
   and leaders' full names. "Islamic State" is one group, never "Islamic" + "State".
2. NER spans (English only) that overlap a gazetteer match yield to it, except a
   PERSON that strictly contains a place name ("Jordan Henderson", "Sofia Coppola"),
   and an ORG that strictly contains a country word ("Russian Foreign Ministry"), which
   keeps both. Titles in front of a person ("Japanese Prime Minister Abe") are noted.
3. Only small aggregates are kept per name (counts, surface forms, titles), so memory
   does not grow with the length of the text.

Per article (``finish``):
- Honorifics and possessives are stripped ("Mr. Putin's" -> "Putin").
- A surname or first-name fragment merges into the full name used elsewhere in the
  article; otherwise into the gazetteer leader with that surname who held an office
  matching the title (if any) on the article's date.
- Headline artefacts (NER spans seen only in the headline and not in the gazetteer),
  unresolved nationality words and events tagged as organisations ("Paris Climate
  Conference") are not organisations: the last become type ``event``.
- Each entity carries the offices its holder held on ``published_at``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

from pipeline.enrich.base import Context, Part, doc_text, longest_first
from pipeline.enrich.gazetteer import Country, Gazetteer, Leader, Organization, Place, fold, name_variants
from pipeline.models import Entity, EntityType

# NER labels read, and what an unresolved span of each becomes.
_NER_TYPES = {
    "PERSON": EntityType.PERSON,
    "ORG": EntityType.ORGANIZATION,
    "GPE": EntityType.LOCATION,
    "LOC": EntityType.LOCATION,
    "FAC": EntityType.LOCATION,
    "EVENT": EntityType.EVENT,
    "NORP": None,  # nationality not in the gazetteer (e.g. "Sunni"): not an entity
}
# The last word of an ORG span that names an event, not an organisation.
EVENT_WORDS = frozenset(
    {"summit", "summits", "conference", "talks", "games", "olympics", "olympic", "cup", "championship"}
    | {"championships", "forum", "festival", "war", "election", "elections", "meeting", "session", "expo"}
    | {"marathon", "tournament", "accord", "accords", "agreement", "treaty", "protocol", "declaration"}
    | {"initiative", "plan", "deal", "convention"}
)
# A capital after one of these is a place ("talks in Vienna"), not a metonym for its government ("Vienna said").
LOCATIVE = frozenset(
    {"in", "at", "to", "from", "near", "into", "inside", "outside", "across", "around", "of", "on", "via"}
    | {"toward", "towards", "between", "through"}
)
# The last word of a PERSON span that makes it a place ("Kim Il Sung Square").
PLACE_WORDS = frozenset(
    {"square", "street", "avenue", "road", "bridge", "airport", "station", "stadium", "palace", "hall"}
    | {"reef", "island", "islands", "bay", "river", "lake", "mountain", "park", "port", "university", "square"}
)
# The last word of an ORG span that makes it a venue or site, not an organisation ("Melbourne Cricket Ground").
VENUE_WORDS = frozenset(
    {"square", "street", "avenue", "road", "bridge", "airport", "station", "stadium", "ground", "arena"}
    | {"reef", "island", "islands", "bay", "river", "lake", "mountain", "plaza", "terminal", "oilfield"}
)
# A noun right after an ORG span (one lowercase word may come between) that makes the span a site:
# "the Abqaiq plant", "the Nord Stream gas pipelines".
SITE_NOUNS = frozenset(
    {"plant", "plants", "pipeline", "pipelines", "refinery", "oilfield", "reactor", "reactors", "dam", "mine"}
    | {"airbase", "airfield", "crossing", "checkpoint", "border", "enclave", "region", "district", "neighbourhood"}
    | {"complex", "facility", "facilities", "site", "reactor"}
)
# A group noun right after a one-word ORG span makes it a people's name used as an adjective ("the Uyghur
# minority", "the Rohingya community"): not an organisation.
GROUP_NOUNS = frozenset({"minority", "minorities", "community", "communities", "population", "populations"})
# "the town of Badme", "the island of Pellestrina": a place noun and "of" before an ORG span make it a place.
PLACE_NOUNS = frozenset(
    {"town", "towns", "city", "village", "villages", "island", "islands", "region", "province", "district"}
    | {"port", "suburb", "suburbs", "enclave", "oasis", "valley", "county", "municipality", "peninsula"}
)
# A role noun right before an ORG span makes it a person's name ("opposition leader María Corina Machado").
PERSON_ROLES = frozenset(
    {"leader", "candidate", "spokesman", "spokeswoman", "spokesperson", "activist", "dissident", "lawyer"}
    | {"journalist", "envoy", "diplomat", "negotiator", "minister", "president", "premier", "chancellor"}
    | {"ambassador", "official", "commander", "general", "adviser", "advisor", "chief", "director", "coach"}
    | {"striker", "midfielder", "defender", "goalkeeper", "champion", "runner", "swimmer", "player", "rival"}
    | {"referee", "umpire", "manager", "captain"}
)
# Titles that stay part of a one-name holder's canonical name ("Pope Francis").
REGNAL = frozenset({"Pope"})
_DETERMINERS = frozenset({"the", "The", "THE", "a", "an"})
_TITLE_HEADS = frozenset({"minister", "secretary", "speaker", "spokesman", "spokeswoman", "chief", "envoy"})
_NAME_GLUE = frozenset({"of", "the", "and", "for", "de", "del", "du", "la", "le", "von", "van", "bin", "al"})
_POSSESSIVE = frozenset({"'s", "’s", "'", "’", "s'"})
_EDGE_PUNCT = " \t\n.,;:!?\"'“”‘’()[]-–—"
_HYPHENATED = re.compile(r"[\w.]+(?:-[\w.]+)+")
_CAPITALISED = re.compile(r"^[A-Z0-9ÀÁÂÄÅÇÉÈÊËÍÎÓÔÖØÚÜÑŠŽĐ]")


@dataclass(frozen=True)
class Ref:
    """What a gazetteer phrase points at."""

    kind: str  # country | org | place | leader
    key: str  # country code, organisation / place / leader canonical name
    form: str  # name | demonym | capital | abbreviation


@dataclass
class Agg:
    count: int = 0
    in_body: bool = False
    surfaces: Counter[str] = field(default_factory=Counter)

    def add(self, surface: str, is_title: bool) -> None:
        self.count += 1
        self.surfaces[surface] += 1
        if not is_title:
            self.in_body = True


@dataclass
class PersonAgg(Agg):
    titles: Counter[str] = field(default_factory=Counter)  # title phrases seen before the name
    countries: Counter[str] = field(default_factory=Counter)  # "Japanese Prime Minister Abe" -> JP


@dataclass
class EntityState:
    gaz: dict[tuple[str, str], Agg] = field(default_factory=dict)
    persons: dict[str, PersonAgg] = field(default_factory=dict)
    others: dict[tuple[EntityType, str], Agg] = field(default_factory=dict)


class EntityComponent:
    """spaCy NER + gazetteer entities, resolved per article."""

    name = "entities"
    multilingual = True  # the gazetteer part runs on any language

    def __init__(self, nlp: Language, gazetteer: Gazetteer) -> None:
        self.gaz = gazetteer
        self.countries: dict[str, Country] = {c.code: c for c in gazetteer.countries}
        self.orgs: dict[str, Organization] = {o.name: o for o in gazetteer.organizations}
        self.places: dict[str, Place] = {p.name: p for p in gazetteer.places}
        self.leaders: dict[str, Leader] = {p.name: p for p in gazetteer.leaders}
        self.refs: dict[str, Ref] = {}  # phrase -> ref, first entry wins
        for c in gazetteer.countries:
            self._add(c.names, Ref("country", c.code, "name"))
            self._add(c.demonyms, Ref("country", c.code, "demonym"))
            self._add(c.capitals, Ref("country", c.code, "capital"))
        for o in gazetteer.organizations:
            self._add(o.names, Ref("org", o.name, "name"))
            self._add(o.abbreviations, Ref("org", o.name, "abbreviation"))
        for p in gazetteer.places:
            self._add(p.names, Ref("place", p.name, "name"))
        for r in gazetteer.regions:
            self._add(r.names, Ref("region", r.name, "name"))
            self._add(r.adjectives, Ref("region", r.name, "adjective"))
        for leader in gazetteer.leaders:
            self._add(leader.names, Ref("leader", leader.name, "name"))
        self.matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.labels: dict[int, Ref] = {}
        for phrase, ref in self.refs.items():
            match_id = nlp.vocab.strings.add(f"GAZ:{phrase}")
            self.labels[match_id] = ref
            self.matcher.add(f"GAZ:{phrase}", [nlp.make_doc(phrase)])
        # one-word names, for tokens like "U.S.-led" or "Sino-Japanese" that the tokenizer keeps whole
        self.single = {p: r for p, r in self.refs.items() if " " not in p and "-" not in p}
        self.surname_index: dict[str, list[Leader]] = {}
        for leader in gazetteer.leaders:
            for surname in leader.surnames:
                for form in name_variants(surname):
                    self.surname_index.setdefault(form, []).append(leader)
        self.full_names: dict[str, Leader] = {}
        for leader in gazetteer.leaders:
            for full in leader.names:
                for form in name_variants(full):
                    self.full_names.setdefault(form, leader)
        self.titles = sorted(gazetteer.titles, key=len, reverse=True)
        self.honorifics = gazetteer.honorifics

    def _add(self, phrases: Iterable[str], ref: Ref) -> None:
        for phrase in phrases:
            for form in name_variants(phrase) if ref.kind == "leader" else {phrase}:
                self.refs.setdefault(form, ref)

    # -- per part ---------------------------------------------------------------------------------

    def start(self, ctx: Context) -> EntityState:
        return EntityState()

    def observe(self, state: EntityState, doc: Doc, part: Part, ctx: Context) -> None:
        gaz_spans = [Span(doc, s, e, label=m) for m, s, e in longest_first(self.matcher(doc))]
        dropped: set[tuple[int, int]] = set()
        if ctx.full:
            for ent in doc.ents:
                self._observe_ent(state, doc, ent, gaz_spans, dropped, part)
        for span in gaz_spans:
            if (span.start, span.end) in dropped:
                continue
            ref = self.labels[span.label]
            if ref.kind == "region":
                if ref.form == "name":
                    self._other(state, EntityType.LOCATION, ref.key, span.text, part)
            elif ref.form == "capital" and _after_locative(span):
                self._other(state, EntityType.LOCATION, _clean(span.text), span.text, part)
            else:
                self._gaz(state, ref, span.text, part)
        text = doc_text(doc)
        if "-" in text:  # "U.S.-led", "Sino-Japanese": one token for the tokenizer, names inside
            covered = [(s.start_char, s.end_char) for s in gaz_spans]
            for m in _HYPHENATED.finditer(text):
                if any(a <= m.start() < b for a, b in covered):
                    continue
                for piece in m.group().split("-"):
                    found = self.single.get(piece)
                    if found is not None and found.kind in ("country", "org"):
                        self._gaz(state, found, piece, part)

    def _other(self, state: EntityState, kind: EntityType, name: str, surface: str, part: Part) -> None:
        agg = state.others.get((kind, name))
        if agg is None:
            agg = state.others[(kind, name)] = Agg()
        agg.add(surface, part.is_title)

    def _gaz(self, state: EntityState, ref: Ref, surface: str, part: Part) -> None:
        key = (ref.kind, ref.key)
        agg = state.gaz.get(key)
        if agg is None:
            agg = state.gaz[key] = Agg()
        agg.add(surface, part.is_title)

    def _observe_ent(
        self, state: EntityState, doc: Doc, ent: Span, gaz_spans: list[Span], dropped: set[tuple[int, int]], part: Part
    ) -> None:
        if ent.label_ not in _NER_TYPES:
            return
        core = _core(ent)
        if core is None:
            return
        overlapping = [g for g in gaz_spans if g.start < ent.end and g.end > ent.start] if gaz_spans else []
        if overlapping:
            refs = [self.labels[g.label] for g in overlapping]
            inside = all(core.start <= g.start and g.end <= core.end and len(g) < len(core) for g in overlapping)
            placeish = all(r.kind in ("country", "place") for r in refs)
            rest = [t for t in core if not any(g.start <= t.i < g.end for g in overlapping)]
            namelike = any(t.is_title for t in rest) and all(
                (t.is_alpha and t.is_title) or t.lower_ in _NAME_GLUE for t in rest
            )
            capitals = all(r.kind == "place" or r.form == "capital" for r in refs)
            if all(r.kind == "region" for r in refs):
                # "Asian Development Bank", "European Space Agency": the NER name wins over a region word
                dropped.update((g.start, g.end) for g in overlapping)
            elif (
                inside
                and namelike
                and ((ent.label_ == "PERSON" and placeish) or (ent.label_ in ("ORG", "FAC", "EVENT") and capitals))
            ):
                # "Jordan Henderson" is a person, the "Washington Post" a newspaper
                dropped.update((g.start, g.end) for g in overlapping)
            elif (
                ent.label_ in ("ORG", "FAC", "EVENT")
                and inside
                and all(r.kind == "country" and r.form in ("name", "demonym") for r in refs)
            ):
                pass  # "Russian Foreign Ministry": keep the organisation and the country
            else:
                return  # the gazetteer's reading wins
        if ent.label_ == "PERSON":
            if not _after_determiner(core):  # "the Rafah crossing", "the Yongbyon complex": not people
                self._person(state, doc, core, part)
            return
        kind = _NER_TYPES[ent.label_]
        if kind is None or self._in_title_phrase(doc, core) or self._before_title(doc, core):
            return
        text = _clean(core.text)
        if not text or not _CAPITALISED.match(text):
            return
        if kind is EntityType.ORGANIZATION:
            if text.split()[-1].lower() in EVENT_WORDS:
                kind = EntityType.EVENT
            elif _person_shaped(doc, core):
                self._person(state, doc, core, part)
                return
            elif _role_then_name(core):
                self._person(state, doc, core[1:], part)  # "Referee Martin Keogh"
                return
            elif len(core) == 1 and core.end < len(doc) and doc[core.end].lower_ in GROUP_NOUNS:
                return  # "the Uyghur minority": a people, not an organisation
            elif _site_shaped(doc, core):
                kind = EntityType.LOCATION
        self._other(state, kind, text, ent.text, part)

    def _before_title(self, doc: Doc, span: Span) -> bool:
        """A one-word "organisation" right before a title is part of it: "House Speaker", "Defence Minister"."""
        if len(span) != 1 or span.end >= len(doc):
            return False
        after = doc[span.end].text
        return after in self.honorifics or after in self.gaz.titles or after.lower() in _TITLE_HEADS

    def _in_title_phrase(self, doc: Doc, span: Span) -> bool:
        """ "State" in "Secretary of State" is part of an office title, not an organisation."""
        for width in (1, 2, 3):
            if span.start - width >= 0 and doc[span.start - width : span.end].text in self.gaz.titles:
                return True
        return False

    def _person(self, state: EntityState, doc: Doc, span: Span, part: Part) -> None:
        tokens = list(span)
        if tokens[-1].lower_ in PLACE_WORDS:  # "Kim Il Sung Square", "Mischief Reef": a place named after someone
            self._other(state, EntityType.LOCATION, _clean(span.text), span.text, part)
            return
        lead: list[str] = []
        while tokens and (tokens[0].text in self.honorifics or tokens[0].text.rstrip(".") in self.honorifics):
            lead.append(tokens.pop(0).text)
        if not tokens:
            return
        if lead and lead[-1] in REGNAL and len(tokens) <= 2:  # "Pope Francis" is the name, not "Francis"
            tokens = [*[t for t in span if t.text == lead[-1]][-1:], *tokens]
        name = _clean(" ".join(_join_tokens(tokens)))
        if not name or not _CAPITALISED.match(name) or len(name) < 2:
            return
        agg = state.persons.get(name)
        if agg is None:
            agg = state.persons[name] = PersonAgg()
        agg.add(span.text, part.is_title)
        title, country = self._title_before(doc, span.start, lead)
        if title:
            agg.titles[title] += 1
        if country:
            agg.countries[country] += 1

    def _title_before(self, doc: Doc, start: int, lead: list[str]) -> tuple[str | None, str | None]:
        """The office title just before a name (or at the head of the NER span), and a country word before it."""
        inner = " ".join(lead)
        for title in self.titles:
            if inner.endswith(title):
                return title, self._country_before(doc, start)
        for width in (4, 3, 2, 1):
            if start - width >= 0 and doc[start - width : start].text in self.gaz.titles:
                return doc[start - width : start].text, self._country_before(doc, start - width)
        return None, None

    def _country_before(self, doc: Doc, at: int) -> str | None:
        """A country word right before position ``at``: "Japanese Prime Minister", "Jordan's King"."""
        at -= 1
        if at >= 1 and doc[at].text in _POSSESSIVE:
            at -= 1
        for width in (1, 2, 3):  # "Japanese", "South Korean", "United Arab Emirates"
            if at - width + 1 < 0:
                break
            ref = self.refs.get(doc[at - width + 1 : at + 1].text)
            if ref is not None and ref.kind == "country":
                return ref.key
        return None

    # -- per article ------------------------------------------------------------------------------

    def finish(self, state: EntityState, ctx: Context) -> None:
        day = ctx.day
        out: dict[tuple[EntityType, str], _Out] = {}

        def entity(kind: EntityType, name: str, **kw: Any) -> _Out:
            key = (kind, name)
            if key not in out:
                out[key] = _Out(kind=kind, name=name, **kw)
            return out[key]

        disputed: list[str] = []
        for (kind, key), agg in state.gaz.items():
            if kind == "country":
                c = self.countries[key]
                ids = {"iso3166": c.code} | ({"wikidata": c.wikidata} if c.wikidata else {})
                entity(EntityType.COUNTRY, c.name, ids=ids, country=c.code).merge(agg)
            elif kind == "org":
                o = self.orgs[key]
                etype = EntityType.GROUP if o.is_group else EntityType.ORGANIZATION
                ids = {"wikidata": o.wikidata} if o.wikidata else {}
                entity(etype, o.name, ids=ids).merge(agg)
            elif kind == "place":
                p = self.places[key]
                ids = {"wikidata": p.wikidata} if p.wikidata else {}
                entity(EntityType.LOCATION, p.name, ids=ids).merge(agg)
                if p.disputed:
                    disputed.append(p.name)
            elif kind == "leader":
                self._leader_entity(entity, self.leaders[key], day).merge(agg)

        self._promote_named_persons(state)
        self._resolve_persons(state, day, entity)
        # a name NER typed as an organisation or place that is a person of this article ("Trump refused")
        person_forms: dict[str, _Out] = {}
        for e in list(out.values()):
            if e.kind is EntityType.PERSON:
                words = e.name.split()
                surnames = self.leaders[e.name].surnames if e.name in self.leaders else ()
                for form in (e.name, *e.surfaces, words[-1], words[0], *surnames):
                    person_forms.setdefault(form, e)

        for (kind, text), agg in state.others.items():
            if not agg.in_body:
                continue  # headline artefact ("Build Ties"): seen only in the headline, not in the gazetteer
            name = self._canonical_other(text)
            if name is None:
                continue
            if name in person_forms and kind is not EntityType.EVENT:
                person_forms[name].merge(agg)
                continue
            entity(kind, name).merge(agg)

        entities = sorted(out.values(), key=lambda e: (-e.mentions, e.first))
        records = tuple(e.record() for e in entities)
        ctx.fields["entities"] = records
        ctx.fields["persons"] = tuple(e.name for e in records if e.type is EntityType.PERSON)
        ctx.fields["organizations"] = tuple(
            e.name for e in records if e.type in (EntityType.ORGANIZATION, EntityType.GROUP)
        )
        ctx.fields["countries"] = tuple(e.country for e in records if e.type is EntityType.COUNTRY and e.country)
        ctx.fields["locations"] = tuple(e.name for e in records if e.type is EntityType.LOCATION)
        ctx.shared["entity_names"] = frozenset(e.name for e in records)
        ctx.shared["disputed_places"] = tuple(disputed)
        ctx.shared["gazetteer_actors"] = sum(
            1 for (kind, _), _agg in state.gaz.items() if kind in ("org", "leader", "place")
        )
        ctx.shared["country_count"] = len(ctx.fields["countries"])

    def _promote_named_persons(self, state: EntityState) -> None:
        """An ORG whose last word is a one-word person of this article is that person's full name:
        "Léon Marchand" (ORG) with "Marchand" (PERSON) elsewhere is a person, and "Marchand" merges into it."""
        for kind, text in list(state.others):
            if kind is not EntityType.ORGANIZATION:
                continue
            words = text.split()
            if not 2 <= len(words) <= 3 or not all(w.isalpha() and w.istitle() for w in words):
                continue
            if words[-1] not in state.persons or text in self.refs:
                continue
            agg = state.others.pop((kind, text))
            person = state.persons.get(text)
            if person is None:
                person = state.persons[text] = PersonAgg()
            person.count += agg.count
            person.in_body = person.in_body or agg.in_body
            person.surfaces.update(agg.surfaces)

    def _canonical_other(self, text: str) -> str | None:
        words = text.split()
        if words and words[0] in _DETERMINERS:
            words = words[1:]
        if len(words) >= 4 and self.refs.get(words[0], Ref("", "", "")).kind == "country":
            # "US National Security Agency" -> "National Security Agency"; a short remainder keeps its
            # country ("Russian Foreign Ministry"), or it would name no one in particular
            words = words[1:]
        text = " ".join(words)
        if not text or not _CAPITALISED.match(text):
            return None
        return text

    def _leader_entity(self, entity: Any, leader: Leader, day: date | None) -> _Out:
        ids = {"wikidata": leader.wikidata} if leader.wikidata else {}
        out: _Out = entity(
            EntityType.PERSON, leader.name, ids=ids, country=leader.country, offices=leader.offices_on(day)
        )
        return out

    def _resolve_persons(self, state: EntityState, day: date | None, entity: Any) -> None:
        names = list(state.persons)
        leaders_in_doc = {k for (kind, k) in state.gaz if kind == "leader"}
        # full names: several words, and not a known multi-word surname ("bin Salman", "von der Leyen")
        full: dict[str, str] = {}  # NER full name -> canonical
        for name in names:
            if len(name.split()) >= 2 and name not in self.surname_index:
                leader = self.full_names.get(name) or self.full_names.get(fold(name))
                full[name] = leader.name if leader else name
                if leader:
                    leaders_in_doc.add(leader.name)
        for name in names:
            agg = state.persons[name]
            if name in full:
                canonical = full[name]
                if canonical in self.leaders:
                    self._leader_entity(entity, self.leaders[canonical], day).merge(agg)
                elif agg.in_body:
                    entity(EntityType.PERSON, canonical).merge(agg)
                continue
            target = self._merge_target(name, agg, full, leaders_in_doc, state, day)
            if target is None:
                if agg.in_body:
                    entity(EntityType.PERSON, name).merge(agg)
            elif target in self.leaders:
                self._leader_entity(entity, self.leaders[target], day).merge(agg)
            else:
                entity(EntityType.PERSON, target).merge(agg)

    def _merge_target(
        self,
        name: str,
        agg: PersonAgg,
        full: dict[str, str],
        leaders_in_doc: set[str],
        state: EntityState,
        day: date | None,
    ) -> str | None:
        """Where a surname or fragment belongs: a full name in the article, else a gazetteer leader."""
        folded = fold(name)
        # 1. a full name in this article whose surname (or first name: a fragment) this is
        in_doc: Counter[str] = Counter()
        for full_name, canonical in full.items():
            words = full_name.split()
            if (
                name in (words[-1], words[0])
                or folded in (fold(words[-1]), fold(words[0]))
                or (full_name.endswith(" " + name))
            ):
                in_doc[canonical] += state.persons[full_name].count
        for leader_name in leaders_in_doc:
            leader = self.leaders[leader_name]
            if (
                name in leader.surnames
                or folded in {fold(s) for s in leader.surnames}
                or (name == leader.name.split()[0])
            ):
                in_doc[leader_name] += 1 + state.gaz.get(("leader", leader_name), Agg()).count
        if in_doc:
            candidates = [c for c, _ in in_doc.most_common()]
            if len(candidates) > 1:
                narrowed = self._filter_leaders([self.leaders[c] for c in candidates if c in self.leaders], agg, day)
                if len(narrowed) == 1:
                    return narrowed[0].name
            return candidates[0]
        # 2. a gazetteer leader with this surname who held a matching office on the date
        leaders = self.surname_index.get(name) or self.surname_index.get(folded) or []
        if not leaders:
            return None
        narrowed = self._filter_leaders(leaders, agg, day)
        if len(narrowed) == 1:
            return narrowed[0].name
        return None

    def _filter_leaders(self, leaders: list[Leader], agg: PersonAgg, day: date | None) -> list[Leader]:
        roles: set[str] = set()
        for title in agg.titles:
            roles.update(self.gaz.titles.get(title, ()))
        unique = list(dict.fromkeys(leaders))
        if agg.countries:  # "Jordan's King Abdullah": only a Jordanian leader will do
            unique = [p for p in unique if p.country in agg.countries]
        if day is not None:
            on_day = [p for p in unique if p.terms_on(day)]
            if roles:
                on_day = [p for p in on_day if any(t.role in roles for t in p.terms_on(day))]
            return on_day
        if roles:
            unique = [p for p in unique if any(t.role in roles for t in p.terms)]
        return unique


@dataclass
class _Out:
    kind: EntityType
    name: str
    ids: dict[str, str] = field(default_factory=dict)
    country: str | None = None
    offices: tuple[Any, ...] = ()
    mentions: int = 0
    surfaces: Counter[str] = field(default_factory=Counter)
    first: int = 0

    _order = 0

    def __post_init__(self) -> None:
        _Out._order += 1
        self.first = _Out._order

    def merge(self, agg: Agg) -> None:
        self.mentions += agg.count
        self.surfaces.update(agg.surfaces)

    def record(self) -> Entity:
        return Entity(
            name=self.name,
            type=self.kind,
            ids=dict(self.ids),
            country=self.country,
            mentions=self.mentions,
            surface_forms=tuple(s for s, _ in self.surfaces.most_common()),
            offices=self.offices,
        )


def _core(span: Span) -> Span | None:
    """The span without leading determiners and trailing possessives or punctuation."""
    start, end = span.start, span.end
    doc = span.doc
    while start < end and doc[start].text in _DETERMINERS:
        start += 1
    while end > start and (
        doc[end - 1].text in _POSSESSIVE or doc[end - 1].is_punct or any(ch.isdigit() for ch in doc[end - 1].text)
    ):
        end -= 1  # "Putin's", "Liverpool 4-1"
    if start >= end:
        return None
    return doc[start:end]


def _person_shaped(doc: Doc, span: Span) -> bool:
    """An ORG span of two to four capitalised words right after a person's role noun is a name."""
    if not 2 <= len(span) <= 4 or span.start == 0:
        return False
    if not all(t.is_alpha and t.is_title for t in span):
        return False
    return doc[span.start - 1].lower_ in PERSON_ROLES


def _role_then_name(span: Span) -> bool:
    """An ORG span that is a capitalised role noun and then a two- or three-word name: "Referee Martin Keogh"."""
    if not 3 <= len(span) <= 4 or span[0].lower_ not in PERSON_ROLES:
        return False
    return all(t.is_alpha and t.is_title for t in span)


def _site_shaped(doc: Doc, span: Span) -> bool:
    """An ORG span that names a venue, a site or a town: "Centre Court", "the Abqaiq plant", "the town of Badme"."""
    if span[-1].lower_ in VENUE_WORDS:
        return True
    after = [t for t in doc[span.end : span.end + 2]]
    if after and after[0].lower_ in SITE_NOUNS:
        return True
    if len(after) == 2 and after[0].is_lower and after[0].is_alpha and after[1].lower_ in SITE_NOUNS:
        return True
    i = span.start - 1
    return i >= 1 and doc[i].lower_ == "of" and doc[i - 1].lower_ in PLACE_NOUNS


def _after_determiner(span: Span) -> bool:
    """True when "the" (possibly with a year between) comes just before the span."""
    i = span.start - 1
    while i >= 0 and span.doc[i].like_num:
        i -= 1
    return i >= 0 and span.doc[i].lower_ == "the"


def _after_locative(span: Span) -> bool:
    """True when a preposition of place comes just before the span (determiners skipped)."""
    i = span.start - 1
    while i >= 0 and span.doc[i].lower_ in ("the", "a"):
        i -= 1
    return i >= 0 and span.doc[i].lower_ in LOCATIVE


def _join_tokens(tokens: list[Any]) -> list[str]:
    """Token texts, re-attached where the original had no space ("Jong-un")."""
    out: list[str] = []
    glue = False
    for token in tokens:
        if glue and out:
            out[-1] += token.text
        else:
            out.append(token.text)
        glue = not token.whitespace_
    return out


def _clean(text: str) -> str:
    text = " ".join(text.split())
    for suffix in ("'s", "’s"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    return text.strip(_EDGE_PUNCT)
