"""Counting words in any script: Chinese, Japanese and Thai write without spaces."""

from __future__ import annotations

import re

# Scripts written without spaces between words: Han, kana, Thai, Lao, Khmer, Myanmar.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]")
# In those scripts a word averages about two characters (Chinese and Japanese news prose).
CHARS_PER_WORD = 2


def fold(text: str) -> str:
    """Words only, case-folded: for comparing a paragraph with a headline whatever its punctuation."""
    return re.sub(r"\W+", " ", text).strip().casefold()


def count_words(text: str) -> int:
    """Whitespace words, with runs of unspaced script counted as characters / CHARS_PER_WORD."""
    unspaced = len(_UNSPACED.findall(text))
    if not unspaced:
        return len(text.split())
    spaced = len(_UNSPACED.sub(" ", text).split())
    return spaced + unspaced // CHARS_PER_WORD
