"""Main text: JSON-LD ``articleBody`` when it passes its checks, else trafilatura, else a baseline.

``articleBody`` passes when it holds no markup, is not cut off ("...") and is more complete
than what trafilatura finds on the page, counted once: a CMS that writes the text twice into
``articleBody`` does not win by repeating itself.

trafilatura gets the already parsed tree (it works on its own copy), with metadata
extraction switched off because Chancery reads metadata itself; so the page is parsed
once and trafilatura's own metadata pass (the slow part of a bare run) is skipped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import trafilatura
from lxml import etree
from lxml import html as lxml_html

from pipeline.extract.metadata import PageMeta, clean_text
from pipeline.extract.text import count_words, fold

# articleBody wins when it holds at least this share of the words found on the page (trafilatura, else the baseline).
# Above 1 it must add text the page extraction missed (a collapsed "read more" part, a lazy-loaded
# half); a same-length articleBody usually lacks the paragraph breaks and subheads the page has.
# Measured on the English dev pages, body F1: share 0.6 -> 0.962, 0.9 -> 0.963, 1.1 -> 0.965.
MIN_STRUCTURED_SHARE = 1.1
# Text that still holds markup is a template dump, not a body.
MARKUP = re.compile(r"<\s*/?\s*(?:p|div|span|br|a|img|figure|script)\b", re.I)
TRUNCATED = re.compile(r"(?:\.\.\.|…|\[\.\.\.\])\s*$")
# The baseline reads paragraphs from the first container that holds at least this many words.
BASELINE_CONTAINERS = ("//article", "//*[@itemprop='articleBody']", "//main", "//body")
BASELINE_MIN_WORDS = 40
_PARA_WS = re.compile(r"[ \t\r\f\v]+")


# Short paragraphs that are page furniture, not article text: sign-ups, follow-us lines, comment
# prompts, video-player fallbacks, photo credits. Matched only on paragraphs of at most
# JUNK_MAX_WORDS words, so a sentence in the story that happens to start this way survives.
JUNK_MAX_WORDS = 30
JUNK = re.compile(
    r"^(?:sign up (?:for|to)\b|subscribe (?:to|for)\b|follow (?:us|\S+ on)\b|"
    r"join (?:our|the) (?:commenting|conversation)|"
    r"comments?$|\d+ comments?$|read more\b|related\b|more from\b|popular$|most (?:read|popular)$|recommended$|"
    r"you may also like|to view this video please enable javascript|up next$|watch:? |advertisement$|"
    r"got a story\?|for more stories like this|(?:photo|picture|image|video|credit)s?(?: by)?: \S|"
    r"you must confirm your public display name|please logout and then login again|share (?:this|on)\b|"
    r"click here\b|listen to this article|this is a breaking news? story|\(?(?:picture|photo): [^)]*\)?$)",
    re.I,
)
# A caption credit at the end of a paragraph, e.g. "... parliament (Picture: PA)".
CAPTION_CREDIT = re.compile(r"\((?:picture|photo|image|credit)s?: [^)]{1,60}\)\s*$", re.I)


# A sentence this long never recurs word for word in one article; when it does, the text was doubled.
REPEAT_MIN_WORDS = 8
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def drop_repeats(text: str) -> str:
    """The text with each long sentence kept once, at its first place."""
    seen: set[str] = set()
    paragraphs = []
    for paragraph in text.split("\n\n"):
        kept = []
        for sentence in _SENTENCE_END.split(paragraph):
            if len(sentence.split()) >= REPEAT_MIN_WORDS:
                key = fold(sentence)
                if key in seen:
                    continue
                seen.add(key)
            kept.append(sentence)
        if kept:
            paragraphs.append(" ".join(kept))
    return "\n\n".join(paragraphs)


# A byline printed as the first lines of the text ("By Jane Doe", "By Jane Doe and John Roe | Reuters").
BYLINE = re.compile(r"^(?:by|von|por|par)\s+\S.{0,80}$", re.I)
BYLINE_MAX_WORDS = 12
# Only the first few paragraphs can be a byline or a repeated headline.
HEAD_PARAGRAPHS = 3


def leading_byline(text: str) -> str:
    """The byline line at the top of a body, or ""."""
    for paragraph in text.split("\n\n")[:HEAD_PARAGRAPHS]:
        if len(paragraph.split()) <= BYLINE_MAX_WORDS and BYLINE.match(paragraph):
            return paragraph
    return ""


# On a short page trafilatura falls back to the article container's whole text, so the headline
# arrives glued to the first sentence ("Rates unchanged The central bank kept ..."). A prefix this
# long and followed by a capital is the headline, not a lede that opens with the same words.
GLUED_HEADLINE_MIN_WORDS = 4


def unglue_headline(paragraph: str, headlines: tuple[str, ...]) -> str:
    """The first paragraph without a headline that an extractor joined to it."""
    for headline in headlines:
        if len(headline.split()) >= GLUED_HEADLINE_MIN_WORDS and paragraph.startswith(headline + " "):
            rest = paragraph[len(headline) + 1:]
            if rest[:1].isupper() or rest[:1] in "\"“«„‘'":
                return rest
    return paragraph


def clean_paragraphs(text: str, headlines: tuple[str, ...]) -> str:
    """Drop a repeated headline and byline at the top, furniture lines and credited captions."""
    paragraphs = text.split("\n\n")
    paragraphs[0] = unglue_headline(paragraphs[0], tuple(h for h in headlines if h))
    folded_heads = {fold(h) for h in headlines if h}
    head = paragraphs[:HEAD_PARAGRAPHS]
    paragraphs = [p for p in head if not (fold(p) in folded_heads or (
        len(p.split()) <= BYLINE_MAX_WORDS and BYLINE.match(p)))] + paragraphs[HEAD_PARAGRAPHS:]
    kept = []
    for paragraph in paragraphs:
        short = len(paragraph.split()) <= JUNK_MAX_WORDS
        if short and (JUNK.search(paragraph) or CAPTION_CREDIT.search(paragraph)):
            continue
        kept.append(paragraph)
    return "\n\n".join(kept)


@dataclass(frozen=True)
class Body:
    text: str
    method: str  # jsonld | trafilatura | baseline | ""
    byline: str = ""  # a "By ..." line removed from the top of the text


def normalise(text: str) -> str:
    """Paragraphs separated by one blank line, spaces collapsed inside each paragraph."""
    paragraphs = (_PARA_WS.sub(" ", p).strip() for p in text.replace("\r\n", "\n").split("\n"))
    return "\n\n".join(p for p in paragraphs if p)


# trafilatura's fallbacks (readability, jusText) grow faster than linearly with the tree: on a page
# with more elements than this they took seconds, so huge pages get the main extractor only.
# On the dev corpus the largest page has ~4,100 elements, and the fallbacks add ~2 points of F1.
FAST_ABOVE_ELEMENTS = 10000
# trafilatura's table handling and its jusText fallback grow faster than the square of the nesting:
# an 11 KB page of 600 tables nested in each other took 3.7 s, and one that reaches lxml's depth
# limit (2,048) 5 s (found by tests/fuzz). Real pages are shallow (the deepest dev-corpus page nests
# 34 elements), so a tree deeper than this is hostile or broken and gets the main extractor only,
# without tables: the same pages now take 0.05 s.
DEEP_ABOVE_LEVELS = 256


# Embedded social posts quote someone else's post inside the article; they are not its text.
SOCIAL_EMBEDS = [
    "//blockquote[contains(@class, 'twitter-tweet') or contains(@class, 'instagram-media')"
    " or contains(@class, 'tiktok-embed') or contains(@class, 'bluesky-embed') or contains(@class, 'threads-post')]",
]


def tree_shape(tree: lxml_html.HtmlElement) -> tuple[int, int]:
    """How many elements the tree has and how deep it nests, in one pass."""
    elements = depth = deepest = 0
    for event, _ in etree.iterwalk(tree, events=("start", "end")):
        if event == "start":
            elements += 1
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return elements, deepest


def run_trafilatura(tree: lxml_html.HtmlElement, url: str) -> str:
    elements, depth = tree_shape(tree)
    deep = depth > DEEP_ABOVE_LEVELS
    document = trafilatura.bare_extraction(
        tree, url=url, with_metadata=False, include_comments=False, include_tables=not deep,
        fast=deep or elements > FAST_ABOVE_ELEMENTS, prune_xpath=SOCIAL_EMBEDS,
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
    return normalise(html.unescape(value))


def baseline(tree: lxml_html.HtmlElement) -> str:
    """Paragraph text from the most article-like container: the last resort, never raises."""
    for xpath in BASELINE_CONTAINERS:
        for container in tree.xpath(xpath)[:1]:
            paragraphs = [clean_text(p.text_content()) for p in container.iter("p")]
            text = "\n\n".join(p for p in paragraphs if p)
            if count_words(text) >= BASELINE_MIN_WORDS:
                return text
    return ""


def extract_body(tree: lxml_html.HtmlElement, meta: PageMeta, url: str, headlines: tuple[str, ...] = ()) -> Body:
    heads = headlines + meta.h1
    raw = run_trafilatura(tree, url)
    byline = leading_byline(raw)
    page = Body(clean_paragraphs(raw, heads), "trafilatura", byline)
    if not page.text:
        fallback = clean_paragraphs(baseline(tree), heads)
        page = Body(fallback, "baseline" if fallback else "", byline)
    structured = clean_paragraphs(drop_repeats(structured_body(meta)), heads)
    if structured and count_words(structured) >= MIN_STRUCTURED_SHARE * count_words(page.text):
        return Body(structured, "jsonld", byline)
    return page
