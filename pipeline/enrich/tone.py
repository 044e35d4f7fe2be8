"""Tone: the mean VADER compound score over the article's sentences (headline included).

VADER (Hutto and Gilbert 2014, MIT licence) ships its lexicon inside the package, so
nothing is downloaded. The score is in [-1, 1]; None when there is no English text.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacy.tokens import Doc
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from pipeline.enrich.base import Context, Part, sentences

MAX_SENTENCE_CHARS = 1000  # longer "sentences" (tables, lists) are cut: VADER cost grows with length


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
        for _, _, sent in sentences(doc):
            text = sent.strip()
            if not any(ch.isalpha() for ch in text):
                continue
            state.total += self.analyzer.polarity_scores(text[:MAX_SENTENCE_CHARS])["compound"]
            state.count += 1

    def finish(self, state: ToneState, ctx: Context) -> None:
        ctx.fields["tone"] = round(state.total / state.count, 4) if ctx.full and state.count else None
