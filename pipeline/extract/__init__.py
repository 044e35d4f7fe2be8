"""Extract: one captured page (``RawPage``) becomes the text fields of an ``Article``.

``extract_page`` decodes the bytes once, parses them once into an lxml tree and
reads every field from that tree through small functions with ordered fallbacks
(structured data first, then trafilatura or the page, then a baseline). The method
that produced each field is recorded in ``article.methods``. A page that is not an
article comes back as a named outcome with a reason; nothing raises mid-batch.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from lxml import etree
from lxml.html import HtmlElement

from pipeline.config import Settings
from pipeline.decode import DecodedPage, DecodeFailed, decode_page
from pipeline.extract.authors import extract_authors, outlet_names
from pipeline.extract.body import Body, extract_body
from pipeline.extract.dates import modified_date, published_date
from pipeline.extract.fields import (
    extract_image,
    extract_keywords,
    extract_section,
    extract_summary,
    extract_title,
)
from pipeline.extract.flags import classify
from pipeline.extract.html import parse
from pipeline.extract.language import choose_language
from pipeline.extract.metadata import PageMeta, read_page_meta
from pipeline.extract.publishers import Publisher, load_publishers
from pipeline.extract.text import count_words
from pipeline.logs import get_logger, log_event
from pipeline.models import Article, RawPage, SourceRef, domain_of
from pipeline.outcomes import Outcome, StageResult
from pipeline.urls import Canonical, page_canonical

__all__ = ["extract_page"]

log = get_logger("extract")

# Share of replacement characters (U+FFFD) or NULs above which the bytes are not text at all.
MAX_UNDECODABLE_SHARE = 0.1
# Errors that a malformed page can provoke inside lxml, trafilatura or htmldate; each becomes PARSE_ERROR.
_PAGE_ERRORS = (ValueError, TypeError, LookupError, AttributeError, RecursionError, etree.LxmlError)


def extract_page(page: RawPage, settings: Settings) -> StageResult:
    """One page to an Article (Outcome.PROCESSED) or a named rejection with its reason.

    A malformed publisher registry raises ``DataFileError`` here: it is a setup error, not a
    bad page, so it must not be counted as one PARSE_ERROR per page.
    """
    publisher = load_publishers(settings.extract.publishers).for_url(page.url)
    try:
        result = _extract(page, settings, publisher)
    except _PAGE_ERRORS as exc:
        result = StageResult(Outcome.PARSE_ERROR, reason=f"{type(exc).__name__}: {exc}"[:200], url=page.url)
    if result.article is None:
        log_event(log, "page rejected", logging.DEBUG, url=page.url, outcome=result.outcome.value,
                  reason=result.reason)
    return result


def _reject(outcome: Outcome, reason: str, page: RawPage) -> StageResult:
    return StageResult(outcome=outcome, reason=reason, url=page.url)


def _extract(page: RawPage, settings: Settings, publisher: Publisher) -> StageResult:
    if not page.content.strip():
        return _reject(Outcome.EMPTY, "no content", page)
    content_type = page.content_type or next(
        (v for k, v in page.headers.items() if k.lower() == "content-type"), None)
    try:
        decoded = decode_page(page.content, content_type)
    except DecodeFailed as exc:
        return _reject(Outcome.DECODE_ERROR, str(exc), page)
    text = decoded.text
    bad = text.count("\ufffd") + text.count("\x00")
    if bad > MAX_UNDECODABLE_SHARE * len(text):
        return _reject(Outcome.DECODE_ERROR, f"not text in {decoded.encoding}", page)
    tree = parse(text)
    if tree is None:
        return _reject(Outcome.PARSE_ERROR, "no HTML tree", page)

    meta = read_page_meta(tree, page.url)
    brief_below_words = settings.extract.brief_below_words
    outlets = outlet_names(meta)
    title, title_method = extract_title(meta, outlets, publisher.title_order)
    body = extract_body(tree, meta, page.url, headlines=(title,))
    words = count_words(body.text)
    verdict = classify(tree, meta, text, body.text, words, brief_below_words)
    if words == 0 and verdict.reason in ("", "too_short"):
        return _reject(Outcome.EMPTY, "no main text", page)
    if verdict.reason:
        return _reject(Outcome.NOT_ARTICLE, verdict.reason, page)
    article = _article(page, tree, meta, body, (title, title_method), decoded, brief_signal=verdict.signal)
    return StageResult(outcome=Outcome.PROCESSED, article=article, url=page.url)


def _canonical(page: RawPage, text: str) -> Canonical:
    """The article's canonical URL, so its id: the one fetch recorded in the capture, else the page's own.

    Fetch keyed the seen-store by the capture's canonical URL; the index must use the same key, so
    a page read from a capture is never resolved a second time (a page whose markup now says
    otherwise, or a resolver changed since, would give an id fetch never saw). A plain HTML file,
    or a WARC fetch did not write, has no capture record: its markup decides (``page_canonical``).
    """
    if page.capture is not None:
        return Canonical(page.capture.canonical_url, "capture")
    return page_canonical(text, page.url)


def _article(page: RawPage, tree: HtmlElement, meta: PageMeta, body: Body, title_found: tuple[str, str],
             decoded: DecodedPage, brief_signal: str) -> Article:
    """The Article for a page that passed the checks: every remaining field, each with its method.

    ``brief_signal`` is set for a brief only: what marked the short page as an article.
    """
    title, title_method = title_found
    reference = page.fetched_at or datetime.now(UTC)
    authors, authors_method = extract_authors(meta, tree, body.byline)
    modified = modified_date(meta, reference)
    published = published_date(meta, tree, reference)
    language, language_method = choose_language(body.text, meta.html_lang)
    summary, summary_method = extract_summary(meta, body.text)
    section, section_method = extract_section(meta)
    keywords, keywords_method = extract_keywords(meta)
    image, image_method = extract_image(meta)
    canonical = _canonical(page, decoded.text)

    methods = {
        "body": body.method, "title": title_method, "authors": authors_method,
        "published_at": published.method if published else "", "modified_at": modified.method if modified else "",
        "language": language_method, "summary": summary_method, "section": section_method,
        "keywords": keywords_method, "image_url": image_method, "canonical_url": canonical.method,
        "encoding": f"{decoded.method}:{decoded.encoding}", "brief": brief_signal,
    }
    return Article.new(
        url=page.url,
        canonical_url=canonical.url,
        source=page.source or SourceRef(domain=domain_of(page.url)),
        fetched_at=page.fetched_at,
        provenance=page.provenance,
    ).with_text(
        body.text,
        title=title,
        authors=authors,
        published_at=published.value if published else None,
        published_precision=published.precision if published else None,
        modified_at=modified.value if modified else None,
        language=language,
        summary=summary,
        section=section,
        keywords=keywords,
        image_url=image,
        brief=bool(brief_signal),
        methods={k: v for k, v in methods.items() if v},
    )
