"""Key phrases: 5-10 per article, by a RAKE-style score (Rose et al. 2010), implemented here.

Candidates are runs of content words between stop words and punctuation (at most
four words). A word scores degree/frequency over the article; a phrase scores the sum
of its words, times a small bonus when it recurs. Entity names are left to the entity
fields; numbers and one-letter words are not phrases. No dependency beyond spaCy.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from spacy.attrs import ENT_TYPE, IS_ALPHA, IS_STOP, LENGTH, LOWER, ORTH
from spacy.tokens import Doc

from pipeline.enrich.base import Context, Part

MIN_PHRASES = 5
MAX_PHRASES = 10
MAX_WORDS = 4
MAX_CANDIDATES = 50_000  # bound on distinct candidates kept for a very long text


@dataclass
class KeyPhraseState:
    phrases: Counter[tuple[str, ...]] = field(default_factory=Counter)
    surfaces: dict[tuple[str, ...], str] = field(default_factory=dict)
    freq: Counter[str] = field(default_factory=Counter)
    degree: Counter[str] = field(default_factory=Counter)


class KeyPhraseComponent:
    name = "key_phrases"
    multilingual = False

    def start(self, ctx: Context) -> KeyPhraseState:
        return KeyPhraseState()

    def observe(self, state: KeyPhraseState, doc: Doc, part: Part, ctx: Context) -> None:
        if not ctx.full:
            return
        # attribute arrays, not Token objects: this loop visits every token of the text
        strings = doc.vocab.strings
        skip_ents = {strings.add(label) for label in _SKIP_ENTS}
        rows = doc.to_array([ORTH, LOWER, IS_ALPHA, IS_STOP, ENT_TYPE, LENGTH]).tolist()
        run: list[str] = []
        surface: list[str] = []
        for orth, lower, alpha, stop, ent_type, length in rows:
            if alpha and not stop and length > 1 and ent_type not in skip_ents:
                word = strings[lower]
                if word not in _EXTRA_STOP:
                    run.append(word)
                    surface.append(strings[orth])
                    if len(run) < MAX_WORDS:
                        continue
            self._flush(state, run, surface)
            run, surface = [], []
        self._flush(state, run, surface)

    def _flush(self, state: KeyPhraseState, run: list[str], surface: list[str]) -> None:
        if not run:
            return
        key = tuple(run)
        if key in state.phrases or len(state.phrases) < MAX_CANDIDATES:
            state.phrases[key] += 1
            state.surfaces.setdefault(key, " ".join(surface))
        for word in run:
            state.freq[word] += 1
            state.degree[word] += len(run)

    def finish(self, state: KeyPhraseState, ctx: Context) -> None:
        if not ctx.full or not state.phrases:
            ctx.fields["key_phrases"] = ()
            return
        word_score = {w: state.degree[w] / state.freq[w] for w in state.freq}

        def score(key: tuple[str, ...]) -> float:
            return sum(word_score[w] for w in key) * (1.0 + math.log(state.phrases[key]))

        ranked = sorted(state.phrases, key=lambda k: (-score(k), k))
        chosen: list[tuple[str, ...]] = []
        for key in ranked:
            if len(chosen) >= MAX_PHRASES:
                break
            if len(key) == 1 and state.phrases[key] < 2 and len(chosen) >= MIN_PHRASES:
                continue  # single words that occur once are weak key phrases
            joined = " ".join(key)
            if any(joined in " ".join(c) or " ".join(c) in joined for c in chosen):
                continue
            chosen.append(key)
        ctx.fields["key_phrases"] = tuple(_display(state.surfaces[k]) for k in chosen)


# Words inside named entities are not key phrases: entities are facets of their own; numbers say little.
_SKIP_ENTS = frozenset(
    {"DATE", "TIME", "CARDINAL", "ORDINAL", "MONEY", "PERCENT", "QUANTITY"}
    | {"PERSON", "NORP", "GPE", "ORG", "LOC", "FAC"}
)
# Reporting and other frequent news verbs and titles that make poor key phrases, on top of spaCy's stop words.
_EXTRA_STOP = frozenset(
    """said says say told tells added adding according announced attended reported reports report asked
    called calls stated statement noted including included include mr mrs ms dr sir president prime minister
    minister ministers spokesman spokeswoman spokesperson official officials also would could should
    year years week weeks month months day days monday tuesday wednesday thursday friday saturday sunday
    today yesterday tomorrow time times new like just going got get gets made make makes took take""".split()  # noqa: SIM905
)


def _display(surface: str) -> str:
    """Lower case, except acronyms ("LNG", "NPT")."""
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in surface.split())
