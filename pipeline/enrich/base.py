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


def sentences(doc: Doc) -> list[tuple[int, int, str]]:
    """(start token, end token, text) of each sentence, computed once per Doc and shared by components."""
    cached = doc.user_data.get("chancery_sentences")
    if cached is None:
        cached = [(s.start, s.end, s.text) for s in doc.sents] if doc.has_annotation("SENT_START") else []
        doc.user_data["chancery_sentences"] = cached
    return cached


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
