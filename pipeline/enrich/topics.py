"""Topics: the versioned diplomacy taxonomy (``pipeline/data/taxonomy.yaml``) applied by phrase rules.

Explainable by construction: every assigned topic carries the cue phrases that fired
and up to two sentences that contain them. How scores are formed is written at the top
of the taxonomy file; the numbers live there, not here.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

from pipeline.datafiles import DataFileError, read_yaml
from pipeline.enrich.base import Context, Part, longest_first, sentences
from pipeline.enrich.gazetteer import Gazetteer
from pipeline.models import Topic

REQUIRED_TOPICS = (
    "diplomatic-meeting", "bilateral-relations", "peace-process", "territorial-dispute", "sanctions",
    "trade-energy", "armed-conflict", "terrorism", "refugees-humanitarian", "multilateral-institutions",
    "arms-control", "human-rights", "elections-leadership", "alliances-defense", "cyber-espionage",
    "development-aid", "diplomatic-crisis",
)  # fmt: skip
DISPUTED = "@disputed"  # in a topic's `entities`: any disputed place from places.yaml
_CAMEO = {f"{i:02d}" for i in range(1, 21)}


@dataclass(frozen=True)
class TopicDef:
    id: str
    label: str
    definition: str
    include: str
    exclude: str
    cameo: tuple[str, ...]
    strong: tuple[str, ...]
    medium: tuple[str, ...]
    entities: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scoring:
    strong: float
    medium: float
    repeat: float
    max_repeat: float
    title_factor: float
    threshold: float
    relative: float
    scale: float
    min_context: float
    max_evidence_phrases: int
    max_evidence_sentences: int
    max_entity_evidence: float
    max_topics: int


@dataclass(frozen=True)
class Taxonomy:
    version: str
    topics: tuple[TopicDef, ...]
    scoring: Scoring
    context: tuple[str, ...]
    off_domain: tuple[str, ...]
    blockers: tuple[str, ...]

    @classmethod
    def load(cls, path: Path, gazetteer: Gazetteer | None = None) -> Taxonomy:
        data = read_yaml(path)
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise DataFileError(path, "version", "expected a version string")
        raw = data.get("scoring")
        if not isinstance(raw, dict):
            raise DataFileError(path, "scoring", "expected a mapping")
        try:
            weights = raw["weights"]
            scoring = Scoring(
                strong=float(weights["strong"]),
                medium=float(weights["medium"]),
                repeat=float(raw["repeat"]),
                max_repeat=float(raw["max_repeat"]),
                title_factor=float(raw["title_factor"]),
                threshold=float(raw["threshold"]),
                relative=float(raw["relative"]),
                scale=float(raw["scale"]),
                min_context=float(raw["min_context"]),
                max_evidence_phrases=int(raw["max_evidence_phrases"]),
                max_evidence_sentences=int(raw["max_evidence_sentences"]),
                max_entity_evidence=float(raw["max_entity_evidence"]),
                max_topics=int(raw["max_topics"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFileError(path, "scoring", f"missing or invalid value: {exc}") from exc
        known = {o.name for o in gazetteer.organizations} | {p.name for p in gazetteer.leaders} if gazetteer else None
        topics = []
        seen: set[str] = set()
        items = data.get("topics")
        if not isinstance(items, list) or not items:
            raise DataFileError(path, "topics", "expected a non-empty list")
        for index, item in enumerate(items):
            entry = f"topics[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise DataFileError(path, entry, "expected a mapping with an 'id'")
            entry = f"topics[{index}] ({item['id']})"
            topic = _topic(path, entry, item, known)
            if topic.id in seen:
                raise DataFileError(path, entry, "duplicate topic id")
            seen.add(topic.id)
            topics.append(topic)
        missing = [t for t in REQUIRED_TOPICS if t not in seen]
        if missing:
            raise DataFileError(path, "topics", f"missing required topic ids {missing}")
        return cls(
            version=version,
            topics=tuple(topics),
            scoring=scoring,
            context=tuple(_phrases(path, "context.phrases", (data.get("context") or {}).get("phrases"))),
            off_domain=tuple(_phrases(path, "off_domain.phrases", (data.get("off_domain") or {}).get("phrases"))),
            blockers=tuple(_phrases(path, "blockers", data.get("blockers"), allow_empty=True)),
        )


def _phrases(path: Path, entry: str, value: Any, allow_empty: bool = False) -> list[str]:
    if value is None and allow_empty:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise DataFileError(path, entry, "expected a list of non-empty strings")
    if not value and not allow_empty:
        raise DataFileError(path, entry, "expected at least one phrase")
    return [v.strip() for v in value]


def _topic(path: Path, entry: str, item: Mapping[str, Any], known: set[str] | None) -> TopicDef:
    allowed = {"id", "label", "definition", "include", "exclude", "cameo", "strong", "medium", "entities", "requires"}
    unknown = set(item) - allowed
    if unknown:
        raise DataFileError(path, entry, f"unknown field(s) {sorted(unknown)}")
    for key in ("label", "definition", "include", "exclude"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise DataFileError(path, entry, f"missing '{key}'")
    cameo = item.get("cameo")
    if not isinstance(cameo, list) or any(str(c) not in _CAMEO for c in cameo):
        raise DataFileError(path, entry, f"cameo must list top-level CAMEO codes '01'..'20', got {cameo!r}")
    entities = _phrases(path, f"{entry}.entities", item.get("entities"), allow_empty=True)
    if known is not None:
        for name in entities:
            if name != DISPUTED and name not in known:
                raise DataFileError(path, f"{entry}.entities", f"{name!r} is not a gazetteer entity")
    return TopicDef(
        id=item["id"],
        label=item["label"],
        definition=item["definition"],
        include=item["include"],
        exclude=item["exclude"],
        cameo=tuple(str(c) for c in cameo),
        strong=tuple(_phrases(path, f"{entry}.strong", item.get("strong"))),
        medium=tuple(_phrases(path, f"{entry}.medium", item.get("medium"))),
        entities=tuple(entities),
        requires=tuple(_phrases(path, f"{entry}.requires", item.get("requires"), allow_empty=True)),
    )


def inflections(phrase: str) -> set[str]:
    """The phrase with its last word also in plural, -ed and -ing forms (lower case)."""
    words = phrase.lower().split()
    last = words[-1]
    forms = {last}
    if last.isalpha() and len(last) > 2:
        forms |= {last + "s", last + "es", last + "ed", last + "ing", last + "d"}
        if last.endswith("e"):
            forms |= {last[:-1] + "ing"}
        if last.endswith("y"):
            forms |= {last[:-1] + "ies", last[:-1] + "ied"}
    return {" ".join([*words[:-1], f]) for f in forms}


# cue kinds in the matcher
_STRONG, _MEDIUM, _REQUIRE, _CONTEXT, _OFF, _BLOCK = "strong", "medium", "require", "context", "off", "block"
_PRIORITY = {_STRONG: 0, _MEDIUM: 1, _REQUIRE: 2, _CONTEXT: 3, _OFF: 4, _BLOCK: 5}


@dataclass
class TopicState:
    cues: dict[str, Counter[str]] = field(default_factory=dict)  # topic -> cue -> occurrences
    kinds: dict[tuple[str, str], str] = field(default_factory=dict)  # (topic, cue) -> strong | medium
    in_title: set[tuple[str, str]] = field(default_factory=set)
    required: set[str] = field(default_factory=set)  # topics whose `requires` was met
    sentences: dict[str, list[str]] = field(default_factory=dict)
    context: set[str] = field(default_factory=set)
    off_domain: set[str] = field(default_factory=set)


class TopicComponent:
    name = "topics"
    multilingual = False

    def __init__(self, nlp: Language, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.s = taxonomy.scoring
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.meaning: dict[int, list[tuple[str, str, str]]] = {}  # match id -> [(kind, topic, cue)]
        entries: dict[str, list[tuple[str, str, str]]] = {}

        canonical: dict[tuple[str, str], str] = {}  # (topic, form) -> the cue it counts as

        def add(phrases: Iterable[str], kind: str, topic: str) -> None:
            # shorter cues first, so "discussed" counts as the cue "discuss", not as a second cue
            for cue in sorted(phrases, key=len):
                forms = inflections(cue) if kind != _BLOCK else {cue.lower()}
                known = [canonical[(topic, f)] for f in sorted(forms) if (topic, f) in canonical]
                name = known[0] if known and kind in (_STRONG, _MEDIUM) else cue
                for form in forms:
                    if kind in (_STRONG, _MEDIUM):
                        canonical.setdefault((topic, form), name)
                    entries.setdefault(form, []).append((kind, topic, name))

        for t in taxonomy.topics:
            add(t.strong, _STRONG, t.id)
            add(t.medium, _MEDIUM, t.id)
            add(t.requires, _REQUIRE, t.id)
        add(taxonomy.context, _CONTEXT, "")
        add(taxonomy.off_domain, _OFF, "")
        add(taxonomy.blockers, _BLOCK, "")
        for form, all_meanings in entries.items():
            # one meaning per topic and form: "discuss" and "discussed" are one cue; strong beats medium
            best: dict[tuple[str, str], tuple[str, str, str]] = {}
            for kind, topic, cue in sorted(all_meanings, key=lambda m: _PRIORITY[m[0]]):
                slot = (topic, "cue" if kind in (_STRONG, _MEDIUM) else kind)
                best.setdefault(slot, (kind, topic, cue))
            meanings = list(best.values())
            key = f"TOPIC:{form}"
            self.meaning[nlp.vocab.strings.add(key)] = meanings
            self.matcher.add(key, [nlp.make_doc(form)])
        self.labels = {t.id: t.label for t in taxonomy.topics}
        self.by_entity: dict[str, list[str]] = {}
        for t in taxonomy.topics:
            for name in t.entities:
                self.by_entity.setdefault(name, []).append(t.id)

    def start(self, ctx: Context) -> TopicState:
        return TopicState()

    def observe(self, state: TopicState, doc: Doc, part: Part, ctx: Context) -> None:
        if not ctx.full:
            return
        matches = self.matcher(doc)
        cue_matches = []
        for match_id, start, end in matches:
            meanings = self.meaning[match_id]
            cue = False
            for kind, topic, phrase in meanings:
                if kind == _CONTEXT:
                    state.context.add(phrase)
                elif kind == _OFF:
                    state.off_domain.add(phrase)
                elif kind == _REQUIRE:
                    state.required.add(topic)
                else:
                    cue = True
            if cue:
                cue_matches.append((match_id, start, end))
        # the longest cue wins ("trade war" over "war"); blockers only take their words out of play
        for match_id, start, end in longest_first(cue_matches):
            for kind, topic, cue_name in self.meaning[match_id]:
                if kind not in (_STRONG, _MEDIUM):
                    continue
                counter = state.cues.setdefault(topic, Counter())
                counter[cue_name] += 1
                if state.kinds.get((topic, cue_name)) != _STRONG:
                    state.kinds[(topic, cue_name)] = kind
                if part.is_title:
                    state.in_title.add((topic, cue_name))
                found = state.sentences.setdefault(topic, [])
                if len(found) < 4 * self.s.max_evidence_sentences:
                    sentence = _sentence_of(doc[start:end])
                    if sentence and sentence not in found:
                        found.append(sentence)

    def finish(self, state: TopicState, ctx: Context) -> None:
        if not ctx.full:
            ctx.fields["topics"] = ()
            return
        s = self.s
        names: frozenset[str] = ctx.shared.get("entity_names", frozenset())
        disputed: tuple[str, ...] = ctx.shared.get("disputed_places", ())
        # entity cues (medium weight each)
        entity_cues: dict[str, list[str]] = {}
        for name in names:
            for topic_id in self.by_entity.get(name, ()):
                entity_cues.setdefault(topic_id, []).append(name)
        for place in disputed:
            for topic_id in self.by_entity.get(DISPUTED, ()):
                entity_cues.setdefault(topic_id, []).append(place)
        strong = {cue for (_topic, cue), kind in state.kinds.items() if kind == _STRONG}
        context = (
            len(state.context)
            + ctx.shared.get("gazetteer_actors", 0)
            + 0.5 * max(0, ctx.shared.get("country_count", 0) - 1)
            + 0.5 * len(strong)
        )
        off = len(state.off_domain)
        if context < s.min_context or off >= context:
            ctx.fields["topics"] = ()
            ctx.shared["topic_debug"] = {"context": context, "off_domain": off}
            return
        scored: list[tuple[float, str, list[str]]] = []
        for topic in self.taxonomy.topics:
            cues = state.cues.get(topic.id, Counter())
            if topic.requires and topic.id not in state.required:
                continue
            evidence = 0.0
            repeats = 0.0
            for cue, count in cues.items():
                weight = s.strong if state.kinds[(topic.id, cue)] == _STRONG else s.medium
                if (topic.id, cue) in state.in_title:
                    weight *= s.title_factor
                evidence += weight
                repeats += s.repeat * (count - 1)
            ents = entity_cues.get(topic.id, [])
            evidence += min(s.medium * len(ents), s.max_entity_evidence) + min(repeats, s.max_repeat)
            if evidence >= s.threshold:
                ranked = sorted(cues, key=lambda c: (state.kinds[(topic.id, c)] != _STRONG, -cues[c], c))
                scored.append((evidence, topic.id, [*ranked, *ents]))
        if not scored:
            ctx.fields["topics"] = ()
            return
        best = max(e for e, _, _ in scored)
        topics = []
        for evidence, topic_id, phrases in sorted(scored, key=lambda x: (-x[0], x[1]))[: s.max_topics]:
            if evidence < s.relative * best:
                continue
            sentences = state.sentences.get(topic_id, [])[: s.max_evidence_sentences]
            topics.append(
                Topic(
                    id=topic_id,
                    label=self.labels[topic_id],
                    score=round(1.0 - math.exp(-evidence / s.scale), 3),
                    evidence=tuple(phrases[: s.max_evidence_phrases]) + tuple(sentences),
                )
            )
        ctx.fields["topics"] = tuple(topics)


def _sentence_of(span: Span) -> str:
    """The sentence around a cue, trimmed for the record."""
    sents, starts = sentences(span.doc)
    at = bisect.bisect_right(starts, span.start_char) - 1
    if sents and at >= 0:
        sentence = sents[at][2].strip()
    else:  # no sentence boundaries on this Doc
        sentence = span.doc[max(0, span.start - 15) : span.end + 15].text.strip()
    sentence = " ".join(sentence.split())
    return sentence if len(sentence) <= 300 else sentence[:297].rstrip() + "..."
