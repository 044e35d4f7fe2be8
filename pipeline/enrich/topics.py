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
from pipeline.enrich.topic_model import ArticleScorer, article_features, topic_features
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
    scale: float
    min_actor_sentences: int
    max_evidence_phrases: int
    max_evidence_sentences: int
    max_entity_evidence: float


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
                scale=float(raw["scale"]),
                min_actor_sentences=int(raw["min_actor_sentences"]),
                max_evidence_phrases=int(raw["max_evidence_phrases"]),
                max_evidence_sentences=int(raw["max_evidence_sentences"]),
                max_entity_evidence=float(raw["max_entity_evidence"]),
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
    """The phrase and the plural of its last word (lower case). Verb forms are listed as cues of their own:
    "-ing" and "-ed" made blindly turn "accord" into "according" and "claim" into "claimed" of a fact-check."""
    words = phrase.lower().split()
    last = words[-1]
    forms = {last}
    if last.isalpha() and len(last) > 2:
        forms.add(last + ("es" if last.endswith(("s", "sh", "ch", "x", "z")) else "s"))
        if last.endswith("y") and last[-2] not in "aeiou":
            forms.add(last[:-1] + "ies")
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
    words: Counter[str] = field(default_factory=Counter)  # for the article model
    # (part, sentence) pairs where a cue stands in a sentence naming two international actors: states
    # dealing with each other in so many words ("Japan and Russia signed a treaty")
    dealings: set[tuple[int, int]] = field(default_factory=set)


class TopicComponent:
    """Which diplomacy topics a story carries, with their evidence; whether it is about diplomacy at all.

    1. Cue phrases per topic (strong, medium; plural forms), each topic's overlapping cues resolved to the
       longest, so "trade talks" is a trade cue and still a "talks" cue of diplomatic-meeting. A blocker
       takes out the cues that share a word with it without holding all of it ("trade war" leaves no "war"
       and no "war between" for armed-conflict).
    2. A topic's evidence: its distinct cues' weights (headline cues count ``title_factor`` times), a little
       for repeats (at most ``max_repeat``: one repeated word never passes), and its gazetteer entities.
       It passes at ``threshold``: one strong cue, or two distinct medium ones.
    3. Any topic needs international actors dealing with each other: at least ``min_actor_sentences``
       sentences that name two of them (two states, or a state and an intergovernmental organisation).
    4. The story must be about diplomacy: the article model's P(diplomacy) reaches its threshold.
    Every passing topic is kept, with its score and evidence; there is no cap.
    """

    name = "topics"
    multilingual = False

    def __init__(self, nlp: Language, taxonomy: Taxonomy, scorer: ArticleScorer) -> None:
        self.taxonomy = taxonomy
        self.scorer = scorer
        self.s = taxonomy.scoring
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.meaning: dict[int, list[tuple[str, str, str]]] = {}  # match id -> [(kind, topic, cue)]
        entries: dict[str, list[tuple[str, str, str]]] = {}
        canonical: dict[tuple[str, str], str] = {}  # (topic, form) -> the cue it counts as

        def add(phrases: Iterable[str], kind: str, topic: str) -> None:
            # shorter cues first, so "sanctions" counts as the cue "sanction", not as a second cue
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
            # one meaning per topic and form; strong beats medium
            best: dict[tuple[str, str], tuple[str, str, str]] = {}
            for kind, topic, cue in sorted(all_meanings, key=lambda m: _PRIORITY[m[0]]):
                slot = (topic, "cue" if kind in (_STRONG, _MEDIUM) else kind)
                best.setdefault(slot, (kind, topic, cue))
            key = f"TOPIC:{form}"
            self.meaning[nlp.vocab.strings.add(key)] = list(best.values())
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
        for token in doc:
            if token.is_alpha and not token.is_stop and len(token) > 2:
                state.words[token.lower_] += 1
        blocks: list[tuple[int, int]] = []
        by_topic: dict[str, list[tuple[int, int, int, str, str]]] = {}  # topic -> (match id, start, end, kind, cue)
        for match_id, start, end in self.matcher(doc):
            for kind, topic, phrase in self.meaning[match_id]:
                if kind == _CONTEXT:
                    state.context.add(phrase)
                elif kind == _OFF:
                    state.off_domain.add(phrase)
                elif kind == _REQUIRE:
                    state.required.add(topic)
                elif kind == _BLOCK:
                    blocks.append((start, end))
                else:
                    by_topic.setdefault(topic, []).append((match_id, start, end, kind, phrase))
        for topic, found in by_topic.items():
            # a blocker takes out every cue that shares a word with it without holding all of it
            free = [m for m in found if not any(_blocks(block, m[1], m[2]) for block in blocks)]
            kept = {(m[1], m[2]) for m in free}
            longest = {(s, e) for _, s, e in longest_first([(0, s, e) for s, e in kept])}
            for _match_id, start, end, kind, cue in free:
                if (start, end) not in longest:
                    continue
                self._count(state, topic, cue, kind, part, doc[start:end])
        interacting: set[int] = doc.user_data.get("chancery_interacting_sentences", set())
        if interacting and by_topic:
            _, starts = sentences(doc)
            for found in by_topic.values():
                for _match_id, start, _end, _kind, _cue in found:
                    at = bisect.bisect_right(starts, doc[start].idx) - 1
                    if at in interacting:
                        state.dealings.add((part.index, at))

    def _count(self, state: TopicState, topic: str, cue: str, kind: str, part: Part, span: Span) -> None:
        counter = state.cues.setdefault(topic, Counter())
        counter[cue] += 1
        if state.kinds.get((topic, cue)) != _STRONG:
            state.kinds[(topic, cue)] = kind
        if part.is_title:
            state.in_title.add((topic, cue))
        found = state.sentences.setdefault(topic, [])
        if len(found) < 4 * self.s.max_evidence_sentences:
            sentence = _sentence_of(span)
            if sentence and sentence not in found:
                found.append(sentence)

    def finish(self, state: TopicState, ctx: Context) -> None:
        if not ctx.full:
            ctx.fields["topics"] = ()
            return
        s = self.s
        scored = self._evidence(state, ctx)
        actors: frozenset[str] = ctx.shared.get("actors", frozenset())
        facts = {
            **{f"cue:{topic_id}": evidence for evidence, topic_id, _ in scored},
            "cues": sum(evidence for evidence, _, _ in scored),
            "actors": len(actors),
            "actor_sentences": ctx.shared.get("actor_sentences", 0),
            "dealings": len(state.dealings),
            "countries": ctx.shared.get("country_count", 0),
            "igos": sum(1 for a in actors if len(a) > 2),
            "leaders": ctx.shared.get("office_holders", 0),
            "context": len(state.context),
            "off_domain": len(state.off_domain),
        }
        probability = self.scorer.score(article_features(state.words, facts))
        ctx.shared["diplomacy_probability"] = probability
        interacting = len(actors) >= 2 and ctx.shared.get("actor_sentences", 0) >= s.min_actor_sentences
        if probability < self.scorer.threshold or not interacting:
            ctx.fields["topics"] = ()
            return
        topics: list[tuple[bool, float, Topic]] = []  # (accepted, P(applies), topic)
        passing = [c for c in sorted(scored, key=lambda x: (-x[0], x[1])) if c[0] >= s.threshold]
        best = passing[0][0] if passing else 0.0
        for rank, (evidence, topic_id, phrases) in enumerate(passing):
            kinds = [kind for (topic, _cue), kind in state.kinds.items() if topic == topic_id]
            candidate = topic_features(
                topic_id,
                evidence,
                best,
                strong=kinds.count(_STRONG),
                medium=kinds.count(_MEDIUM),
                in_title=any(topic == topic_id for topic, _ in state.in_title),
                sentences=len(state.sentences.get(topic_id, [])),
                rank=rank,
            )
            accepted = self.scorer.accept(candidate)
            sentences = state.sentences.get(topic_id, [])[: s.max_evidence_sentences]
            topic = Topic(
                id=topic_id,
                label=self.labels[topic_id],
                score=round(probability * (1.0 - math.exp(-evidence / s.scale)), 3),
                evidence=tuple(phrases[: s.max_evidence_phrases]) + tuple(sentences),
            )
            topics.append((accepted >= self.scorer.topic_threshold, accepted, topic))
        kept = [topic for ok, _, topic in topics if ok]
        if not kept and topics:
            # a story about diplomacy keeps its likeliest topic even when none is certain
            kept = [max(topics, key=lambda t: t[1])[2]]
        ctx.fields["topics"] = tuple(kept)

    def _evidence(self, state: TopicState, ctx: Context) -> list[tuple[float, str, list[str]]]:
        """(evidence, topic id, the cue phrases and entities behind it) for every topic with any evidence."""
        s = self.s
        names: frozenset[str] = ctx.shared.get("entity_names", frozenset())
        disputed: tuple[str, ...] = ctx.shared.get("disputed_places", ())
        entity_cues: dict[str, list[str]] = {}
        for name in names:
            for topic_id in self.by_entity.get(name, ()):
                entity_cues.setdefault(topic_id, []).append(name)
        for place in disputed:
            for topic_id in self.by_entity.get(DISPUTED, ()):
                entity_cues.setdefault(topic_id, []).append(place)
        out: list[tuple[float, str, list[str]]] = []
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
            ents = sorted(entity_cues.get(topic.id, []))
            evidence += min(s.medium * len(ents), s.max_entity_evidence) + min(repeats, s.max_repeat)
            if evidence > 0:
                ranked = sorted(cues, key=lambda c: (state.kinds[(topic.id, c)] != _STRONG, -cues[c], c))
                out.append((evidence, topic.id, [*ranked, *ents]))
        return out


def _blocks(block: tuple[int, int], start: int, end: int) -> bool:
    """The blocker shares a token with the cue [start, end) and the cue does not hold all of the blocker."""
    a, b = block
    return start < b and a < end and not (start <= a and b <= end)


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
