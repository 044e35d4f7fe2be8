"""Pages that are not articles, each named with a reason, so they are counted and not indexed.

Every check is cheap and runs in a fixed order: bot challenge, consent wall, paywall
stub, live-blog index, section front, then the checks on short pages (soft 404, no article
signal). Content-based checks only fire when the extracted body is short, because real
articles also carry cookie banners, subscription boxes and challenge scripts in their templates.

Length alone never rejects a page. A short page that something marks as an article (article
JSON-LD, og:type article, one <article> element, a headline with a publication date) and that
holds a sentence is a brief: it is kept, and the Article says so (``brief``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import html as lxml_html

from pipeline.extract.dates import parse_date, stated_published, url_date
from pipeline.extract.metadata import (
    ARTICLE_TYPES,
    LISTING_TYPES,
    NEWS_TYPES,
    PageMeta,
    join_url,
    jsonld_text,
    split_url,
)
from pipeline.extract.text import count_words, fold

# A challenge or consent interstitial never carries more text than this; articles always do.
INTERSTITIAL_MAX_WORDS = 150
# A paywall stub shows a teaser of a paragraph or two.
PAYWALL_STUB_MAX_WORDS = 200
# A teaser is cut when the page's own data (JSON-LD articleBody, wordCount) holds this many times its
# words. On complete pages the two agree with the visible text within a few percent (dev corpus:
# wordCount 1042 vs articleBody 1042, 497 vs 498, 812 vs 780), so twice the words means the rest is held back.
STATED_LENGTH_RATIO = 2
# A brief still says something: one paragraph of this many words ("Net profit 12 mln vs 9 mln" has six);
# a headline alone, a button or "Watch the video" does not.
SENTENCE_MIN_WORDS = 5
# A live blog whose page holds less own text than this is an index of updates, not a story.
LIVE_INDEX_MAX_WORDS = 150
# A listing page links this many headlines; an article's "related" box has fewer.
SECTION_MIN_TEASERS = 12
# A teaser link reads like a headline (this many words) or sits in a heading.
TEASER_MIN_WORDS = 4

BOT_TITLES = re.compile(
    r"^(?:just a moment|attention required|access denied|are you a robot|robot check|security check|"
    r"please verify you are a human|pardon our interruption|one more step|checking your browser|"
    r"verifying you are human|ddos-guard|captcha)", re.I)
# Only what challenge pages carry: Cloudflare and Imperva also inject their challenge-platform and
# _Incapsula_Resource scripts into ordinary article pages, so those paths would flag short articles.
BOT_MARKERS = ("cf-browser-verification", "cf_chl_opt", "challenge-form", "incapsula incident id",
               "px-captcha", "captcha-delivery.com", "geo.captcha-delivery",
               "enable javascript and cookies to continue", "verify you are human")
CONSENT_HOSTS = ("consent.", "guce.", "privacy.", "myprivacy.")
CONSENT_MARKERS = ("we value your privacy", "before you continue", "cookie consent", "consent to the use",
                   "accept all cookies", "manage your privacy", "your privacy choices", "we and our partners",
                   "zustimmung", "einwilligung", "consentement", "consentimiento", "cookies zustimmen",
                   "reject all", "accept all")
# A consent dialog speaks to the reader about "our partners" and "your privacy"; a news brief does not,
# while it may well say "reject all" or "Zustimmung". Only these count in the text of a marked article.
CONSENT_DIALOG = ("we value your privacy", "we and our partners", "your privacy choices", "manage your privacy",
                  "cookie consent", "accept all cookies")
# Wording that says the rest of the text is held back. Labels and offers ("for subscribers", "premium
# article", "Jetzt abonnieren", "réservé aux abonnés") are not on this list: publishers print them on
# articles they serve whole, and on newsletter boxes (dev corpus: on 9 of 258 complete pages).
WALL_WORDING = ("subscribe to continue", "subscribe to read", "to continue reading", "continue reading with",
                "continue reading your article", "sign in to continue", "log in to continue", "unlock this article",
                "to read the full article", "the rest of this article", "um weiterzulesen", "weiterlesen mit",
                "pour lire la suite", "la suite est réservée", "para seguir leyendo", "para continuar leyendo",
                "per continuare a leggere")
# Where a reader sees text: not scripts (paywall templates ship their wording inline) and not the site's
# header, navigation and footer ("Already a subscriber? Sign in" sits on every page of a metered site).
READER_TEXT = ("//text()[not(ancestor::script or ancestor::style or ancestor::noscript or ancestor::template"
               " or ancestor::header or ancestor::nav or ancestor::footer)]")
# Soft 404s: a "not found" page served with status 200, often at the article's own URL. The 404 forms
# are read in the title and <h1> only: a brief may well count "404 errors".
NOT_FOUND = re.compile(
    r"\b(?:page|article|story|content|seite|artikel|página|pagina)\b.{0,40}?"
    r"(?:not (?:be )?found|can(?:no|'|’)t be found|no longer (?:available|exists)|does not exist|"
    r"nicht gefunden|introuvable|no encontrada|non trovata|niet gevonden)", re.I)
NOT_FOUND_TITLE = re.compile(
    r"^(?:error\s*)?404\s*(?:$|[-–—|:·]|not found|error|fehler|erreur)|^not found\b", re.I)
LIVE_URL = re.compile(r"/(?:live|liveblog|live-blog|live-updates|live-news)(?:/|-|$)", re.I)
HEADING_LINKS = "//h2//a[@href] | //h3//a[@href] | //h4//a[@href]"


@dataclass(frozen=True)
class Verdict:
    reason: str  # "" when the page is an article
    signal: str = ""  # for a short article: what marks it as one (see article_signal)


def _text_has(text: str, markers: tuple[str, ...]) -> bool:
    return any(m in text for m in markers)


def reader_text(tree: lxml_html.HtmlElement) -> str:
    """The page's visible text outside the site's header, navigation and footer, lower-cased."""
    return " ".join(tree.xpath(READER_TEXT)).lower()


def not_free(meta: PageMeta) -> bool:
    """JSON-LD says the article, or a part of it, is not free. Not evidence of a cut on its own:
    publishers set it on metered articles that they serve whole."""
    article = meta.jsonld.article or {}
    flag = article.get("isAccessibleForFree")
    part = article.get("hasPart")
    parts = part if isinstance(part, list) else [part]
    flags = [flag] + [p.get("isAccessibleForFree") for p in parts if isinstance(p, dict)]
    return any(str(f).strip().lower() == "false" for f in flags if f is not None)


def stated_words(meta: PageMeta) -> int:
    """How long the page's own data says the article is: JSON-LD articleBody or wordCount."""
    article = meta.jsonld.article or {}
    body = article.get("articleBody")
    body_words = count_words(body) if isinstance(body, str) else 0
    word_count = str(article.get("wordCount") or "").strip()
    return max(body_words, int(word_count) if word_count.isdigit() else 0)


def paywall_cut(tree: lxml_html.HtmlElement, meta: PageMeta, body_words: int) -> bool:
    """A teaser plus a wall: the wall's wording where a reader sees it, or JSON-LD saying the
    article is not free and much longer than the visible body.

    A description is no measure here: it summarises, so it is about as long as a teaser.
    """
    if _text_has(reader_text(tree), WALL_WORDING):
        return True
    return not_free(meta) and stated_words(meta) >= STATED_LENGTH_RATIO * max(body_words, 1)


def consent_wall(meta: PageMeta, page_text: str, body: str, short_unmarked: bool) -> bool:
    """A consent host; a body that is the consent dialog; or consent wording on a short page that
    nothing marks as an article."""
    parts = split_url(meta.url)
    host = ((parts.hostname if parts else None) or "").lower()
    if host.startswith(CONSENT_HOSTS) or _text_has(body.lower(), CONSENT_DIALOG):
        return True
    return short_unmarked and _text_has(page_text.lower(), CONSENT_MARKERS)


# An article URL's last segment is a slug of several words ("talks-on-river-treaty-resume");
# section fronts end in one word ("/world", "/politik/").
ARTICLE_SLUG_MIN_WORDS = 4
_SLUG_WORD = re.compile(r"[a-z\u00c0-\u024f]{2,}", re.I)


def article_url(url: str) -> bool:
    """A URL shaped like one article's: a date in the path or a long word slug at the end."""
    parts = split_url(url)
    if parts is None:
        return False
    path = parts.path
    if url_date(url) is not None:
        return True
    last = path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return len(_SLUG_WORD.findall(last)) >= ARTICLE_SLUG_MIN_WORDS


def _og_article(meta: PageMeta) -> bool:
    return "article" in (meta.first("og:type") or "").lower()


def looks_like_one_article(meta: PageMeta) -> bool:
    """For section fronts: the page says it is one article (JSON-LD article type, og:type article,
    a publication time) or has an article's URL. A front links many article URLs but has none itself."""
    if meta.jsonld.types & ARTICLE_TYPES or article_url(meta.url) or _og_article(meta):
        return True
    return bool(meta.first("article:published_time"))


def headlines(meta: PageMeta) -> tuple[str, ...]:
    """Every headline the page states for itself."""
    article = meta.jsonld.article or {}
    stated = (jsonld_text(article.get("headline")), meta.first("og:title"), meta.first("twitter:title"),
              *meta.itemprops.get("headline", ()), *meta.h1)
    return tuple(h for h in stated if h)


def article_signal(meta: PageMeta, tree: lxml_html.HtmlElement) -> str:
    """What marks a page as one article whatever its length, or "" when nothing does.

    The URL does not count here: a soft 404 is served at the article's URL. A wire or archive
    record says what it is through a headline and a date, like any news item; the RawPage does
    not carry its source's kind.
    """
    if meta.jsonld.types & ARTICLE_TYPES:
        return "jsonld"
    if _og_article(meta):
        return "og:type"
    if len(tree.xpath("//article[not(ancestor::article)]")) == 1:  # several are a list of teasers
        return "article-element"
    # Any stated date counts, an archive's 1987 as well: the date's sanity is the date field's business.
    if headlines(meta) and any(parse_date(value) for _method, value in stated_published(meta)):
        return "headline+date"
    return ""


def has_sentence(body: str, meta: PageMeta) -> bool:
    """Some paragraph other than a repeated headline says something."""
    heads = {fold(h) for h in headlines(meta)}
    return any(count_words(p) >= SENTENCE_MIN_WORDS and fold(p) not in heads for p in body.split("\n\n"))


def soft_404(meta: PageMeta, body: str) -> bool:
    titles = (meta.title_tag, *meta.h1)
    first_paragraph = body.split("\n\n", 1)[0]
    return any(NOT_FOUND_TITLE.search(t) for t in titles) or any(
        NOT_FOUND.search(text) for text in (*titles, first_paragraph))


def teaser_count(tree: lxml_html.HtmlElement, page_url: str) -> int:
    """Distinct links to other articles: in headings, or headline-long links to article-shaped URLs."""
    targets = {a.get("href", "") for a in tree.xpath(HEADING_LINKS)}
    for a in tree.iter("a"):
        href = a.get("href")
        if not href or href in targets or len(a.text_content().split()) < TEASER_MIN_WORDS:
            continue
        absolute = join_url(page_url, href)
        if absolute and article_url(absolute):
            targets.add(href)
    return len(targets)


def is_live_blog(meta: PageMeta) -> bool:
    parts = split_url(meta.url)
    return bool(meta.jsonld.types & {"LiveBlogPosting"}) or bool(parts and LIVE_URL.search(parts.path))


def classify(tree: lxml_html.HtmlElement, meta: PageMeta, page_text: str, body: str, body_words: int,
             brief_below_words: int) -> Verdict:
    """Why a page is not an article (``reason``), or for an article below ``brief_below_words``
    what marks it as one (``signal``)."""
    signal = article_signal(meta, tree) if body_words < brief_below_words else ""
    if body_words < INTERSTITIAL_MAX_WORDS:
        if BOT_TITLES.search(meta.title_tag) or _text_has(page_text.lower(), BOT_MARKERS):
            return Verdict("bot_challenge")
        if consent_wall(meta, page_text, body, short_unmarked=body_words < brief_below_words and not signal):
            return Verdict("consent_wall")
    if body_words < PAYWALL_STUB_MAX_WORDS and paywall_cut(tree, meta, body_words):
        return Verdict("paywall")
    if is_live_blog(meta) and body_words < LIVE_INDEX_MAX_WORDS:
        return Verdict("live_blog_index")
    if not (meta.jsonld.types & NEWS_TYPES) and (
        meta.jsonld.types & LISTING_TYPES or not looks_like_one_article(meta)
    ) and teaser_count(tree, meta.url) >= SECTION_MIN_TEASERS:
        return Verdict("section_front")
    if body_words < brief_below_words:
        if soft_404(meta, body):
            return Verdict("not_found")
        if not (signal and has_sentence(body, meta)):
            return Verdict("too_short")
        return Verdict("", signal)
    return Verdict("")
