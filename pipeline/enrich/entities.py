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

import bisect
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

from pipeline.enrich.base import Context, Part, doc_text, longest_first, sentences
from pipeline.enrich.gazetteer import Country, Gazetteer, Leader, Organization, Place, fold, name_variants
from pipeline.enrich.places import Dateline, PlaceCandidate, PlaceContext, PlaceIndex, choose, parse_dateline
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
    "MISC": None,  # CoNLL's miscellany (nationalities, events, works): an entity only when it names an event
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
# Words that name a kind of public body rather than one body: "Foreign Ministry", "National Security Council",
# "General Assembly", "Supreme Court". A name made only of these says which body it is only together with its
# country ("China's Foreign Ministry"), or, for an organ in the gazetteer, its parent ("the UN ... the General
# Assembly"); without that, every country's Foreign Ministry would be one organisation.
INSTITUTION_WORDS = frozenset(
    {"foreign", "defence", "defense", "interior", "home", "finance", "economy", "economic", "trade", "justice"}
    | {"health", "education", "agriculture", "energy", "industry", "labour", "labor", "transport", "culture"}
    | {"environment", "information", "communications", "security", "intelligence", "affairs", "public"}
    | {"ministry", "ministries", "office", "department", "agency", "service", "services", "bureau", "directorate"}
    | {"national", "general", "federal", "state", "supreme", "constitutional", "central", "high", "joint"}
    | {"assembly", "council", "parliament", "senate", "congress", "house", "chamber", "legislature", "cabinet"}
    | {"government", "presidency", "court", "tribunal", "bank", "treasury", "army", "navy", "air", "force"}
    | {"forces", "police", "guard", "embassy", "consulate", "mission", "commission", "committee", "staff"}
    | {"human", "rights", "armed", "military", "revolutionary", "representatives", "deputies", "people's"}
    | {"of", "the", "and", "for", "on"}
)
# A country named this often is one the story is about, wherever it is named. Measured on 1,500 Reuters-21578
# training stories against editor-assigned places: single passing mentions outside the lead were right 16 % of
# the time, twice-named countries about 70 %.
FACET_MIN_MENTIONS = 2
# The lead: the opening of a story's body, where wire style names what the story is about (about two sentences).
LEAD_CHARS = 250
# Measured on all-caps lines (headlines, datelines, tables): a line whose letters are at least this share upper case.
CAPS_LINE_SHARE = 0.9
_DETERMINERS = frozenset({"the", "The", "THE", "a", "an"})
# One-word bodies that are organisations on their own ("Parliament", "Congress"); "Office" or "Court" alone is not.
_STANDALONE_BODIES = frozenset({"parliament", "senate", "congress", "cabinet", "government", "army", "navy", "police"})
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
    in_lead: bool = False  # named in the headline, the dateline or the first sentences
    surfaces: Counter[str] = field(default_factory=Counter)

    def add(self, surface: str, is_title: bool, in_lead: bool = False) -> None:
        self.count += 1
        self.surfaces[surface] += 1
        if not is_title:
            self.in_body = True
        self.in_lead = self.in_lead or is_title or in_lead


@dataclass
class PersonAgg(Agg):
    titles: Counter[str] = field(default_factory=Counter)  # title phrases seen before the name
    countries: Counter[str] = field(default_factory=Counter)  # "Japanese Prime Minister Abe" -> JP
    # Seen once at least other than as one bare capitalised word opening a sentence: the NER reads such words
    # ("Fishing", "Queues", "Solemn") as names, while a real one-word name also turns up within sentences.
    anchored: bool = False


@dataclass
class EntityState:
    gaz: dict[tuple[str, str], Agg] = field(default_factory=dict)
    persons: dict[str, PersonAgg] = field(default_factory=dict)
    others: dict[tuple[EntityType, str], Agg] = field(default_factory=dict)
    # "Foreign Ministry (China)": the country a generic public body belongs to, by its name
    body_country: dict[str, str] = field(default_factory=dict)
    # generic public bodies seen without a country ("the Foreign Ministry said"), by name
    unqualified_bodies: set[str] = field(default_factory=set)
    # places whose country the gazetteer already knows: a capital after "in" ("talks in Vienna")
    place_country: dict[str, str] = field(default_factory=dict)
    # International actors (country codes, intergovernmental organisations) met in this part, by character
    # offset; and, over the story, how many sentences name two different ones: states dealing with each other.
    part_actors: list[tuple[int, str]] = field(default_factory=list)
    actors: set[str] = field(default_factory=set)
    actor_sentences: int = 0
    dateline: Dateline | None = None
    dateline_part: int = -1  # the index of the first body part: only it can open with a dateline


class EntityComponent:
    """spaCy NER + gazetteer entities, resolved per article."""

    name = "entities"
    multilingual = True  # the gazetteer part runs on any language

    def __init__(self, nlp: Language, gazetteer: Gazetteer, places: PlaceIndex) -> None:
        self.gaz = gazetteer
        self.place_index = places
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
        # All-caps lines (wire headlines, datelines: "JAPAN, RUSSIA AGREE", "WASHINGTON") are matched without
        # case, except for forms that spell a common word once lower-cased ("IS", "US", "WHO"): in capitals
        # they are as likely the word.
        self.caps_matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.stop_words = frozenset(nlp.Defaults.stop_words)
        self.labels: dict[int, Ref] = {}
        for phrase, ref in self.refs.items():
            match_id = nlp.vocab.strings.add(f"GAZ:{phrase}")
            self.labels[match_id] = ref
            pattern = nlp.make_doc(phrase)
            self.matcher.add(f"GAZ:{phrase}", [pattern])
            if not self._word_like(phrase):
                self.caps_matcher.add(f"GAZ:{phrase}", [pattern])
        # An organ's generic name ("General Assembly", "Security Council") is that organ only in a story that also
        # names its parent ("UN", "United Nations") or a sibling; a state legislature is also a "General Assembly".
        self.generic_names: dict[str, frozenset[str]] = {}
        for o in gazetteer.organizations:
            if o.parent:
                generic = frozenset(n for n in o.names if all(w.lower() in INSTITUTION_WORDS for w in n.split()))
                if generic:
                    self.generic_names[o.name] = generic
        # What a dateline's place may be named as, besides the city index: countries and their capitals.
        self.region_names = frozenset(r.name for r in gazetteer.regions)
        self.dateline_names: dict[str, str] = {
            name: c.code for c in gazetteer.countries if not c.historical for name in (*c.names, *c.capitals)
        }
        # Before a historical state ended, its parts were not states: "Moscow" in 1987 is the Soviet Union.
        self.part_of: dict[str, tuple[str, date]] = {
            part: (c.code, c.until) for c in gazetteer.countries if c.until is not None for part in c.parts
        }
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
        self.titles_by_lower = {t.lower(): t for t in reversed(self.titles)}
        self.honorifics = gazetteer.honorifics
        # A leader's surname after an office title ("leader Kim", "President Xi") is that person even where the
        # NER misses it: the model learned names from 1996 copy, the gazetteer knows who holds office now.
        self.surname_matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        for surname in sorted(self.surname_index):
            if surname[:1].isupper() and surname.lower() not in self.stop_words:
                self.surname_matcher.add("SURNAME", [nlp.make_doc(surname)])

    def _word_like(self, phrase: str) -> bool:
        """ "IS", "US", "WHO": an all-caps form that is a common English word in lower case."""
        return phrase.isupper() and phrase.replace(".", "").lower() in self.stop_words

    def _add(self, phrases: Iterable[str], ref: Ref) -> None:
        for phrase in phrases:
            for form in name_variants(phrase) if ref.kind == "leader" else {phrase}:
                self.refs.setdefault(form, ref)

    # -- per part ---------------------------------------------------------------------------------

    def start(self, ctx: Context) -> EntityState:
        return EntityState()

    def observe(self, state: EntityState, doc: Doc, part: Part, ctx: Context) -> None:
        matches = list(self.matcher(doc))
        caps = _caps_lines(doc_text(doc))
        if caps:
            for match_id, start, end in self.caps_matcher(doc):
                first, last = doc[start].idx, doc[end - 1].idx + len(doc[end - 1])
                if any(a <= first and last <= b for a, b in caps):
                    matches.append((match_id, start, end))
        gaz_spans = [Span(doc, s, e, label=m) for m, s, e in longest_first(matches)]
        if caps:  # "IS" in a line of capitals is the word, not the Islamic State
            gaz_spans = [g for g in gaz_spans if not (self._word_like(g.text) and _inside(g, caps))]
        if not part.is_title and state.dateline_part < 0:
            state.dateline_part = part.index
            state.dateline = parse_dateline(doc_text(doc), self.place_index, self.dateline_names)
            if state.dateline is not None:  # the dateline's place is read there, not again as a mention
                end = state.dateline.end
                gaz_spans = [g for g in gaz_spans if g.start_char >= end]
        dropped: set[tuple[int, int]] = set()
        if ctx.full:
            opening = state.dateline.end if state.dateline is not None and part.index == state.dateline_part else 0
            for ent in doc.ents:
                if ent.start_char >= opening:
                    self._observe_ent(state, doc, ent, gaz_spans, dropped, part, ctx.day)
            self._titled_surnames(state, doc, gaz_spans, part)
        for span in gaz_spans:
            if (span.start, span.end) in dropped:
                continue
            ref = self.labels[span.label]
            if ref.kind == "region":
                if ref.form == "name":
                    self._other(state, EntityType.LOCATION, ref.key, span.text, part, span.start_char)
            elif ref.form == "capital" and _after_locative(span):
                state.place_country[_clean(span.text)] = ref.key
                self._other(state, EntityType.LOCATION, _clean(span.text), span.text, part, span.start_char)
            elif ref.kind == "country" and ref.form == "demonym":
                self._gaz(state, Ref("nationality", ref.key, ref.form), span.text, part, span.start_char)
            elif part.is_title and self._word_like(span.text):
                # a headline's "IS" or "US" in capitals counts only if the body names the same entity
                unconfirmed = Ref("headline-only", f"{ref.kind}\t{ref.key}", ref.form)
                self._gaz(state, unconfirmed, span.text, part, span.start_char)
            else:
                self._gaz(state, ref, span.text, part, span.start_char)
        text = doc_text(doc)
        if "-" in text:  # "U.S.-led", "Sino-Japanese": one token for the tokenizer, names inside
            covered = [(s.start_char, s.end_char) for s in gaz_spans]
            for m in _HYPHENATED.finditer(text):
                if any(a <= m.start() < b for a, b in covered):
                    continue
                for piece in m.group().split("-"):
                    found = self.single.get(piece)
                    if found is not None and found.kind in ("country", "org"):
                        self._gaz(state, found, piece, part, m.start())
        self._count_interactions(state, doc)

    def _count_interactions(self, state: EntityState, doc: Doc) -> None:
        """Sentences of this part that name two different international actors ("Japan and Russia agreed").

        The sentence indices are left on the Doc (``chancery_interacting_sentences``) for the topic cues.
        """
        if not state.part_actors:
            return
        sents, starts = sentences(doc)
        by_sentence: dict[int, set[str]] = {}
        for at, actor in state.part_actors:
            by_sentence.setdefault(bisect.bisect_right(starts, at) - 1 if sents else 0, set()).add(actor)
            state.actors.add(actor)
        interacting = {i for i, found in by_sentence.items() if len(found) >= 2}
        doc.user_data["chancery_interacting_sentences"] = interacting
        state.actor_sentences += len(interacting)
        state.part_actors.clear()

    def _actor(self, ref: Ref) -> str | None:
        """The international actor a gazetteer mention names: a state's code, or an intergovernmental body."""
        if ref.kind in ("country", "nationality"):
            return ref.key
        if ref.kind == "leader":
            return self.leaders[ref.key].country
        if ref.kind == "org":
            org = self.orgs[ref.key]
            if org.international_actor:
                return org.name
            if org.kind == "state":
                return org.country
        return None

    def _other(self, state: EntityState, kind: EntityType, name: str, surface: str, part: Part, at: int) -> None:
        agg = state.others.get((kind, name))
        if agg is None:
            agg = state.others[(kind, name)] = Agg()
        agg.add(surface, part.is_title, _in_lead(state, part, at))

    def _gaz(self, state: EntityState, ref: Ref, surface: str, part: Part, at: int) -> None:
        actor = self._actor(ref)
        if actor is not None:
            state.part_actors.append((at, actor))
        key = (ref.kind, ref.key)
        agg = state.gaz.get(key)
        if agg is None:
            agg = state.gaz[key] = Agg()
        agg.add(surface, part.is_title, _in_lead(state, part, at))

    def _observe_ent(
        self,
        state: EntityState,
        doc: Doc,
        ent: Span,
        gaz_spans: list[Span],
        dropped: set[tuple[int, int]],
        part: Part,
        day: date | None,
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
            generic_organ = any(
                r.kind == "org" and g.text in self.generic_names.get(r.key, ())
                for r, g in zip(refs, overlapping, strict=True)
            )
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
            elif ent.label_ == "ORG" and inside and generic_organ and all(r.kind in ("org", "country") for r in refs):
                # "National Security Council", "the Georgia General Assembly": a longer name that merely
                # contains a UN organ's generic name is another body
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
        if ent.label_ == "MISC" and core[-1].lower_ in EVENT_WORDS:
            kind = EntityType.EVENT  # "the World Cup", "the Dayton Accords"
        if kind is None or self._in_title_phrase(doc, core) or self._before_title(doc, core):
            return
        text = _clean(core.text)
        if not text or not _CAPITALISED.match(text):
            return
        if kind is EntityType.ORGANIZATION and self._public_body(state, doc, core, part, day):
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
        self._other(state, kind, text, ent.text, part, ent.start_char)

    def _titled_surnames(self, state: EntityState, doc: Doc, gaz_spans: list[Span], part: Part) -> None:
        """Leaders' surnames right after an office title that the NER did not read as a person."""
        taken = {i for span in (*doc.ents, *gaz_spans) for i in range(span.start, span.end)}
        for _, start, end in self.surname_matcher(doc):
            if any(i in taken for i in range(start, end)):
                continue
            title, _country = self._title_before(doc, start, [])
            if title is not None:
                self._person(state, doc, doc[start:end], part)

    def _public_body(self, state: EntityState, doc: Doc, span: Span, part: Part, day: date | None) -> bool:
        """A generic public body ("Foreign Ministry") named after its country: "Foreign Ministry (China)".

        The country comes from inside the span ("Russian Foreign Ministry", "Japan Defence Agency" is not
        generic), or right before it ("China's Foreign Ministry", "the Chinese foreign ministry"). Without
        one the body stays unqualified here; ``finish`` may qualify it by the story's dateline.
        """
        tokens = list(span)
        country = None
        width = 0
        for w in (3, 2, 1):  # a country word at the head of the span
            if len(tokens) > w:
                ref = self.refs.get(doc[span.start : span.start + w].text)
                if ref is not None and ref.kind == "country" and ref.form in ("name", "demonym"):
                    country, width = ref.key, w
                    break
        body = tokens[width:]
        if not body or not all(t.lower_ in INSTITUTION_WORDS for t in body) or body[-1].lower_ in _NAME_GLUE:
            return False
        if len(body) == 1 and body[0].lower_ not in _STANDALONE_BODIES:
            return False
        if country is None:
            country = self._country_before(doc, span.start)
        name = _clean(" ".join(_join_tokens(body)))
        name = " ".join(w if w.isupper() else w[:1].upper() + w[1:] for w in name.split())  # "foreign ministry"
        if country is not None:
            country = self._as_of(country, day)
            qualified = f"{name} ({self.countries[country].name})"
            state.body_country[qualified] = country
            state.part_actors.append((span.start_char, country))
            self._other(state, EntityType.ORGANIZATION, qualified, span.text, part, span.start_char)
        else:
            state.unqualified_bodies.add(name)
            self._other(state, EntityType.ORGANIZATION, name, span.text, part, span.start_char)
        return True

    def _as_of(self, code: str, day: date | None) -> str:
        """The state a code stood for on ``day``: before 1991-12-26, Russia was part of the Soviet Union."""
        whole = self.part_of.get(code)
        if whole is not None and day is not None and day < whole[1]:
            return whole[0]
        return code

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
            self._other(state, EntityType.LOCATION, _clean(span.text), span.text, part, span.start_char)
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
        agg.add(span.text, part.is_title, _in_lead(state, part, span.start_char))
        title, country = self._title_before(doc, span.start, lead)
        agg.anchored = agg.anchored or bool(lead or title) or len(tokens) > 1 or not _opens_sentence(doc, span.start)
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
            if start - width < 0:
                continue
            # "Prime Minister Abe", and lower case as many styles write it: "North Korean leader Kim"
            written = doc[start - width : start].text
            found = written if written in self.gaz.titles else self.titles_by_lower.get(written.lower())
            if found is not None:
                return found, self._country_before(doc, start - width)
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
        if state.dateline is not None:
            ctx.shared["dateline_country"] = state.dateline.country
        self._confirm_headline_only(state)
        for (kind, key), agg in state.gaz.items():
            if kind in ("country", "nationality"):
                c = self.countries[self._as_of(key, day)]
                ids = {"iso3166": c.code} | ({"wikidata": c.wikidata} if c.wikidata else {})
                if kind == "country":
                    entity(EntityType.COUNTRY, c.name, ids=ids, country=c.code).merge(agg)
                else:
                    name = c.demonyms[0] if c.demonyms else c.name
                    entity(EntityType.NATIONALITY, name, ids={"iso3166": c.code}, country=c.code).merge(agg)
            elif kind == "org" and not self._in_context(key, state):
                continue  # "General Assembly" in a story that names no UN body: not the UN's
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
            canonical = self._canonical_other(text)
            if canonical is None:
                continue
            name = canonical
            if name in person_forms and kind is not EntityType.EVENT:
                person_forms[name].merge(agg)
                continue
            country = state.body_country.get(text)
            if text in state.place_country:
                country = self._as_of(state.place_country[text], day)
            if country is None and text in state.unqualified_bodies and ctx.shared.get("dateline_country"):
                # "the Foreign Ministry said" under a TOKYO dateline is Japan's
                country = self._as_of(ctx.shared["dateline_country"], day)
                name = f"{name} ({self.countries[country].name})"
            entity(kind, name, country=country).merge(agg)

        self._place_countries(state, out, day)
        entities = sorted(out.values(), key=lambda e: (-e.mentions, e.first))
        records = tuple(e.record() for e in entities)
        ctx.fields["entities"] = records
        ctx.fields["persons"] = tuple(e.name for e in records if e.type is EntityType.PERSON)
        ctx.fields["organizations"] = tuple(
            e.name for e in records if e.type in (EntityType.ORGANIZATION, EntityType.GROUP)
        )
        ctx.fields["countries"] = self._country_facet(entities)
        ctx.fields["locations"] = tuple(e.name for e in records if e.type is EntityType.LOCATION)
        ctx.shared["entity_names"] = frozenset(e.name for e in records)
        ctx.shared["disputed_places"] = tuple(disputed)
        ctx.shared["gazetteer_actors"] = sum(
            1 for (kind, _), _agg in state.gaz.items() if kind in ("org", "leader", "place")
        )
        ctx.shared["country_count"] = len(ctx.fields["countries"])
        ctx.shared["actors"] = frozenset(state.actors)
        ctx.shared["office_holders"] = sum(1 for e in records if e.offices)
        ctx.shared["actor_sentences"] = state.actor_sentences

    def _place_countries(self, state: EntityState, out: dict[tuple[EntityType, str], _Out], day: date | None) -> None:
        """The country of each place the story names: its dateline, its cities and regions, "Georgia" the state.

        Places are read against the story's other places: "Georgia" is the US state only where the story
        is in that state ("Atlanta", "Ga."), and an ambiguous city name is resolved in the region or
        country the story is about, or by a clearly dominant population, else left without a country.
        """
        mentions: Counter[str] = Counter()
        for e in out.values():
            if e.country and e.kind in (EntityType.COUNTRY, EntityType.NATIONALITY):
                mentions[e.country] += e.mentions
        regions: set[str] = set()
        line = state.dateline
        if line is not None:
            mentions[line.country] += 1
            if line.region:
                regions.add(line.region)
            name = line.city or next((r.name for r in self.place_index.regions if r.code == line.region), None)
            if name:
                place = out.setdefault((EntityType.LOCATION, name), _Out(kind=EntityType.LOCATION, name=name))
                place.country = place.country or self._as_of(line.country, day)
                place.mentions += 1
                place.in_lead = True
                place.surfaces[name] += 1
        unresolved = [
            e
            for e in out.values()
            if e.kind is EntityType.LOCATION and not e.country and e.name not in self.region_names
        ]
        for _ in range(2):  # places resolved in the first pass are context for the second
            context = PlaceContext(countries=dict(mentions), regions=frozenset(regions))
            for e in unresolved:
                if e.country:
                    continue
                found = choose(self.place_index.lookup(e.name), context)
                if found is not None:
                    e.country = self._as_of(found.country, day)
                    if found.region:
                        regions.add(found.region)
        context = PlaceContext(countries=dict(mentions), regions=frozenset(regions))
        for key, e in list(out.items()):
            if e.kind is not EntityType.COUNTRY:
                continue
            region = self._region_reading(e, context)
            if region is not None:  # "Georgia" in an Atlanta story: the state
                del out[key]
                place = out.setdefault(
                    (EntityType.LOCATION, region.name), _Out(kind=EntityType.LOCATION, name=region.name)
                )
                place.country = region.country
                place.mentions += e.mentions
                place.in_lead = place.in_lead or e.in_lead
                place.surfaces.update(e.surfaces)

    def _region_reading(self, country: _Out, context: PlaceContext) -> PlaceCandidate | None:
        """The sub-national region a country's name means in this story, when every mention is that bare name."""
        readings = {self.place_index.region_in_context(surface, context) for surface in country.surfaces}
        if len(readings) == 1:
            return readings.pop()
        return None

    def _country_facet(self, entities: list[_Out]) -> tuple[str, ...]:
        """ISO codes of the countries the story is about, most mentioned first.

        A country counts through its own name, its nationality, its places (the dateline's city, "talks in
        Vienna") and the office holders it names. It is in the facet when it is the story's main country,
        is named at least ``FACET_MIN_MENTIONS`` times, or is named in the headline or the lead; a single
        passing mention deep in the story is in ``entities`` but not in the facet.
        """
        weight: Counter[str] = Counter()
        lead: set[str] = set()
        for e in entities:
            counts = e.kind in (EntityType.COUNTRY, EntityType.NATIONALITY, EntityType.LOCATION) or (
                e.kind is EntityType.PERSON and e.offices
            )
            if e.country and counts:
                weight[e.country] += e.mentions
                if e.in_lead:
                    lead.add(e.country)
        ranked = weight.most_common()
        return tuple(
            code for i, (code, n) in enumerate(ranked) if i == 0 or n >= FACET_MIN_MENTIONS or code in lead
        )

    def _confirm_headline_only(self, state: EntityState) -> None:
        """A headline's word-like abbreviation ("IS", "US") counts when the body names the same entity."""
        for key in [k for k in state.gaz if k[0] == "headline-only"]:
            agg = state.gaz.pop(key)
            kind, name = key[1].split("\t", 1)
            target = state.gaz.get((kind, name))
            if target is not None and target.in_body:
                target.count += agg.count
                target.surfaces.update(agg.surfaces)

    def _in_context(self, org: str, state: EntityState) -> bool:
        """An organ named only by its generic name needs its parent or a sibling named specifically."""
        generic = self.generic_names.get(org)
        if generic is None or not self._only_generic(org, state.gaz[("org", org)]):
            return True
        parent = self.orgs[org].parent
        for (kind, other), agg in state.gaz.items():
            related = kind == "org" and other != org and parent in (other, self.orgs[other].parent)
            if related and not self._only_generic(other, agg):
                return True
        return False

    def _only_generic(self, org: str, agg: Agg) -> bool:
        generic = {form.lower() for form in self.generic_names.get(org, ())}
        return bool(generic) and all(form.lower() in generic for form in agg.surfaces)

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
        if len(words) >= 4 and _abbreviated(words[0]) and self.refs.get(words[0], Ref("", "", "")).kind == "country":
            # "US National Security Agency" -> "National Security Agency": an abbreviated country in front is
            # a label, while a country's name is part of the name ("Japan International Cooperation Agency")
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
                if agg.in_body and agg.anchored:
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
    in_lead: bool = False
    surfaces: Counter[str] = field(default_factory=Counter)
    first: int = 0

    _order = 0

    def __post_init__(self) -> None:
        _Out._order += 1
        self.first = _Out._order

    def merge(self, agg: Agg) -> None:
        self.mentions += agg.count
        self.in_lead = self.in_lead or agg.in_lead
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


def _opens_sentence(doc: Doc, i: int) -> bool:
    """Token ``i`` starts the text or a sentence (after a full stop, a line break, an opening quote)."""
    while i > 0 and doc[i - 1].text in ("\"", "“", "'", "‘", "(", "-", "—"):
        i -= 1
    return i == 0 or doc[i - 1].text in (".", "!", "?", ":") or "\n" in doc[i - 1].text_with_ws


def _in_lead(state: EntityState, part: Part, at: int) -> bool:
    """Within the story's first ``LEAD_CHARS`` characters: its headline, dateline and first sentences."""
    return part.is_title or (part.index == state.dateline_part and at < LEAD_CHARS)


def _abbreviated(word: str) -> bool:
    """ "US", "U.S.", "UK": letters in capitals, with or without full stops."""
    letters = word.replace(".", "")
    return letters.isalpha() and letters.isupper()


def _caps_lines(text: str) -> list[tuple[int, int]]:
    """Character ranges of lines written in capitals: wire headlines, datelines, tables."""
    out = []
    start = 0
    for line in text.split("\n"):
        letters = [ch for ch in line if ch.isalpha()]
        if len(letters) >= 3 and sum(ch.isupper() for ch in letters) >= CAPS_LINE_SHARE * len(letters):
            out.append((start, start + len(line)))
        start += len(line) + 1
    return out


def _inside(span: Span, ranges: list[tuple[int, int]]) -> bool:
    return any(a <= span.start_char and span.end_char <= b for a, b in ranges)
