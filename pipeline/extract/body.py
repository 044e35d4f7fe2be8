"""Main text: JSON-LD ``articleBody`` when it passes its checks, else trafilatura, else a baseline.

trafilatura gets the already parsed tree (it works on its own copy), with metadata
extraction switched off because Chancery reads metadata itself; so the page is parsed
once and trafilatura's own metadata pass (the slow part of a bare run) is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import trafilatura
from lxml import html as lxml_html

from pipeline.extract.metadata import PageMeta, clean_text

# articleBody shorter than this share of trafilatura's text is a teaser or a truncated copy.
MIN_STRUCTURED_SHARE = 0.6
# Text that still holds markup is a template dump, not a body.
MARKUP = re.compile(r"<\s*/?\s*(?:p|div|span|br|a|img|figure|script)\b", re.I)
TRUNCATED = re.compile(r"(?:\.\.\.|…|\[\.\.\.\])\s*$")
# The baseline reads paragraphs from the first container that holds at least this many words.
BASELINE_CONTAINERS = ("//article", "//*[@itemprop='articleBody']", "//main", "//body")
BASELINE_MIN_WORDS = 40
_PARA_WS = re.compile(r"[ \t\r\f\v]+")


@dataclass(frozen=True)
class Body:
    text: str
    method: str  # jsonld | trafilatura | baseline | ""


def normalise(text: str) -> str:
    """Paragraphs separated by one blank line, spaces collapsed inside each paragraph."""
    paragraphs = (_PARA_WS.sub(" ", p).strip() for p in text.replace("\r\n", "\n").split("\n"))
    return "\n\n".join(p for p in paragraphs if p)


def run_trafilatura(tree: lxml_html.HtmlElement, url: str) -> str:
    document = trafilatura.bare_extraction(
        tree, url=url, with_metadata=False, include_comments=False, include_tables=True,
    )
    text = getattr(document, "text", None) if document is not None else None
    return normalise(text or "")


def structured_body(meta: PageMeta) -> str:
    article = meta.jsonld.article or {}
    value = article.get("articleBody")
    if isinstance(value, list):
        value = "\n".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str) or MARKUP.search(value) or TRUNCATED.search(value):
        return ""
    return normalise(value)


def baseline(tree: lxml_html.HtmlElement) -> str:
    """Paragraph text from the most article-like container: the last resort, never raises."""
    for xpath in BASELINE_CONTAINERS:
        for container in tree.xpath(xpath)[:1]:
            paragraphs = [clean_text(p.text_content()) for p in container.iter("p")]
            text = "\n\n".join(p for p in paragraphs if p)
            if len(text.split()) >= BASELINE_MIN_WORDS:
                return text
    return ""


def extract_body(tree: lxml_html.HtmlElement, meta: PageMeta, url: str, min_words: int) -> Body:
    extracted = run_trafilatura(tree, url)
    structured = structured_body(meta)
    if structured and len(structured.split()) >= max(min_words, MIN_STRUCTURED_SHARE * len(extracted.split())):
        return Body(structured, "jsonld")
    if extracted:
        return Body(extracted, "trafilatura")
    fallback = baseline(tree)
    return Body(fallback, "baseline" if fallback else "")
