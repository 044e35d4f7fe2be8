"""Tone: the mean VADER compound score over the article's sentences (headline included).

VADER (Hutto and Gilbert 2014, MIT licence) ships its lexicon inside the package, so
nothing is downloaded. The score is in [-1, 1]; None when there is no English text.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from spacy.tokens import Doc
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from pipeline.enrich.base import Context, Part, sentences

MAX_SENTENCE_CHARS = 1000  # longer "sentences" (tables, lists) are cut: VADER cost grows with length
_PUNCTUATION = string.punctuation + "“”‘’"


@dataclass
class ToneState:
    total: float = 0.0
    count: int = 0


class ToneComponent:
    name = "tone"
    multilingual = False

    def __init__(self) -> None:
        self.analyzer = SentimentIntensityAnalyzer()

    def start(self, ctx: Context) -> ToneState:
        return ToneState()

    def observe(self, state: ToneState, doc: Doc, part: Part, ctx: Context) -> None:
        if not ctx.full:
            return
        for _, _, sent in sentences(doc)[0]:
            text = sent.strip()[:MAX_SENTENCE_CHARS]
            if not any(ch.isalpha() for ch in text):
                continue
            state.count += 1
            if self._has_lexicon_word(text):  # else VADER's compound is 0: skip the call, count the sentence
                state.total += self.analyzer.polarity_scores(text)["compound"]

    def _has_lexicon_word(self, text: str) -> bool:
        lexicon = self.analyzer.lexicon
        return any(raw in lexicon or raw.strip(_PUNCTUATION) in lexicon for raw in text.lower().split())

    def finish(self, state: ToneState, ctx: Context) -> None:
        ctx.fields["tone"] = round(state.total / state.count, 4) if ctx.full and state.count else None
