"""What every enrichment component shares: the text parts of an article and the component shape.

An article is read as parts: the headline, then the body in chunks of at most
``max_chars`` (split at paragraph, then sentence, then word boundaries), so a
100,000-word text never becomes one huge Doc. A component sees each part's Doc
once (``observe``), keeps only small aggregates in its own per-article state, and
writes its Article fields at the end (``finish``). Components run in the explicit
order of ``Enricher.components``; a later one may read what an earlier one wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from spacy.tokens import Doc

from pipeline.models import Article


@dataclass(frozen=True)
class Part:
    text: str
    is_title: bool = False
    index: int = 0


@dataclass
class Context:
    """Per-article facts every component may read, and the fields components produce."""

    article: Article
    day: date | None
    full: bool  # English pipeline (NER, topics, tone, key phrases); else gazetteer only
    language: str | None
    fields: dict[str, Any] = field(default_factory=dict)  # Article fields written by components
    shared: dict[str, Any] = field(default_factory=dict)  # facts for later components


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])([\"'”’)\]]*)\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n+")
# A full stop after these is not the end of a sentence ("Mr. Putin", "the U.S. envoy").
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "gen", "sen", "rep", "gov", "lt", "col", "capt", "sgt", "prof", "jr", "sr"}
    | {"inc", "co", "corp", "ltd", "no", "vs", "etc", "u.s", "u.n", "u.k", "e.u", "a.m", "p.m"}
)


def longest_first(matches: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Matcher results without overlaps: longer first, then earlier (spaCy's filter_spans on plain tuples)."""
    kept: list[tuple[int, int, int]] = []
    taken: set[int] = set()
    for match in sorted(matches, key=lambda m: (m[1] - m[2], m[1])):
        _, start, end = match
        if not any(i in taken for i in range(start, end)):
            kept.append(match)
            taken.update(range(start, end))
    kept.sort(key=lambda m: m[1])
    return kept


def doc_text(doc: Doc) -> str:
    """The Doc's text, kept once: ``Doc.text`` rebuilds the string from its tokens on every call."""
    text = doc.user_data.get("chancery_text")
    if text is None:
        text = doc.user_data["chancery_text"] = doc.text
    return text


def sentences(doc: Doc) -> tuple[list[tuple[int, int, str]], list[int]]:
    """Sentences as (start char, end char, text), and their start chars, once per Doc for all components.

    A regular expression over the text, not a pipeline component: it costs no Token objects, and
    news copy rarely needs more than full stops, question marks, line breaks and a list of abbreviations.
    """
    cached = doc.user_data.get("chancery_sentences")
    if cached is None:
        found = list(split_sentences(doc_text(doc)))
        cached = doc.user_data["chancery_sentences"] = (found, [start for start, _, _ in found])
    return cached


def split_sentences(text: str) -> Iterator[tuple[int, int, str]]:
    start = 0
    for m in _SENTENCE_BREAK.finditer(text):
        end = m.start() + len(m.group(1) or "")  # closing quotes stay with their sentence
        head = text[start:end]
        last = head.rsplit(None, 1)[-1].rstrip(".").lower() if head.strip() else ""
        if "\n" not in m.group() and last in _ABBREVIATIONS:
            continue  # "Mr. Putin": not a break
        if head.strip():
            yield start, end, head
        start = m.end()
    if text[start:].strip():
        yield start, len(text), text[start:]


class Component(Protocol):
    """One job. ``multilingual`` components also run on non-English text (tokenizer-only Docs)."""

    name: str
    multilingual: bool

    def start(self, ctx: Context) -> Any: ...

    def observe(self, state: Any, doc: Doc, part: Part, ctx: Context) -> None: ...

    def finish(self, state: Any, ctx: Context) -> None: ...


_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def split_parts(title: str, body: str, max_chars: int) -> Iterator[Part]:
    """The headline as its own part, then the body in chunks of at most ``max_chars``."""
    index = 0
    if title.strip():
        yield Part(title.strip(), is_title=True, index=index)
        index += 1
    buffer: list[str] = []
    size = 0
    for piece in _pieces(body, max_chars):
        if buffer and size + len(piece) + 2 > max_chars:
            yield Part("\n\n".join(buffer), index=index)
            index += 1
            buffer, size = [], 0
        buffer.append(piece)
        size += len(piece) + 2
    if buffer:
        yield Part("\n\n".join(buffer), index=index)


def _pieces(body: str, max_chars: int) -> Iterator[str]:
    """Paragraphs, each cut at sentence and then word boundaries when longer than ``max_chars``."""
    for paragraph in _PARAGRAPH.split(body):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= max_chars:
            yield paragraph
            continue
        current = ""
        for sentence in _SENTENCE_END.split(paragraph):
            while len(sentence) > max_chars:  # a run-on "sentence": cut at the last space
                cut = sentence.rfind(" ", 0, max_chars)
                cut = cut if cut > 0 else max_chars
                if current:
                    yield current
                    current = ""
                yield sentence[:cut]
                sentence = sentence[cut:].lstrip()
            if current and len(current) + len(sentence) + 1 > max_chars:
                yield current
                current = ""
            current = f"{current} {sentence}" if current else sentence
        if current:
            yield current
