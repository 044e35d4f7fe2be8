"""Pages that are not articles, each named with a reason, so they are counted and not indexed.

Every check is cheap and runs in a fixed order: bot challenge, consent wall, paywall
stub, live-blog index, section front, then the size checks. Content-based checks only
fire when the extracted body is short, because real articles also carry cookie banners,
subscription boxes and challenge scripts in their templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from lxml import html as lxml_html

from pipeline.extract.dates import url_date
from pipeline.extract.metadata import ARTICLE_TYPES, LISTING_TYPES, NEWS_TYPES, PageMeta

# A challenge or consent interstitial never carries more text than this; articles always do.
INTERSTITIAL_MAX_WORDS = 150
# A paywall stub shows a teaser of a paragraph or two.
PAYWALL_STUB_MAX_WORDS = 200
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
BOT_MARKERS = ("cf-browser-verification", "cf_chl_opt", "challenge-form", "_incapsula_resource",
               "px-captcha", "captcha-delivery.com", "geo.captcha-delivery", "/cdn-cgi/challenge-platform/h/",
               "enable javascript and cookies to continue", "verify you are human")
CONSENT_HOSTS = ("consent.", "guce.", "privacy.", "myprivacy.")
CONSENT_MARKERS = ("we value your privacy", "before you continue", "cookie consent", "consent to the use",
                   "accept all cookies", "manage your privacy", "your privacy choices", "we and our partners",
                   "zustimmung", "einwilligung", "consentement", "consentimiento", "cookies zustimmen",
                   "reject all", "accept all")
PAYWALL_MARKERS = ("subscribe to continue", "subscribe to read", "to continue reading", "continue reading with",
                   "subscribers only", "for subscribers", "already a subscriber", "sign in to continue",
                   "log in to continue", "become a subscriber", "this article is exclusive", "premium article",
                   "exclusive to subscribers", "unlock this article", "start your subscription",
                   "jetzt abonnieren", "abo abschließen", "réservé aux abonnés", "solo para suscriptores")
LIVE_URL = re.compile(r"/(?:live|liveblog|live-blog|live-updates|live-news)(?:/|-|$)", re.I)
HEADING_LINKS = "//h2//a[@href] | //h3//a[@href] | //h4//a[@href]"


@dataclass(frozen=True)
class Verdict:
    reason: str  # "" when the page is an article


def _text_has(text: str, markers: tuple[str, ...]) -> bool:
    return any(m in text for m in markers)


def _paywalled(meta: PageMeta) -> bool:
    article = meta.jsonld.article or {}
    flag = article.get("isAccessibleForFree")
    part = article.get("hasPart")
    parts = part if isinstance(part, list) else [part]
    flags = [flag] + [p.get("isAccessibleForFree") for p in parts if isinstance(p, dict)]
    return any(str(f).strip().lower() == "false" for f in flags if f is not None)


# An article URL's last segment is a slug of several words ("talks-on-river-treaty-resume");
# section fronts end in one word ("/world", "/politik/").
ARTICLE_SLUG_MIN_WORDS = 4
_SLUG_WORD = re.compile(r"[a-z\u00c0-\u024f]{2,}", re.I)


def article_url(url: str) -> bool:
    """A URL shaped like one article's: a date in the path or a long word slug at the end."""
    path = urlsplit(url).path
    if url_date(url) is not None:
        return True
    last = path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return len(_SLUG_WORD.findall(last)) >= ARTICLE_SLUG_MIN_WORDS


def has_article_signal(meta: PageMeta) -> bool:
    """The page says it is one article (JSON-LD article type, og:type article, a publication time, its URL)."""
    if meta.jsonld.types & ARTICLE_TYPES or article_url(meta.url):
        return True
    og_type = (meta.first("og:type") or "").lower()
    return "article" in og_type or bool(meta.first("article:published_time"))


def teaser_count(tree: lxml_html.HtmlElement, page_url: str) -> int:
    """Distinct links to other articles: in headings, or headline-long links to article-shaped URLs."""
    targets = {a.get("href", "") for a in tree.xpath(HEADING_LINKS)}
    for a in tree.iter("a"):
        href = a.get("href")
        if href and href not in targets and len(a.text_content().split()) >= TEASER_MIN_WORDS and article_url(
            urljoin(page_url, href)
        ):
            targets.add(href)
    return len(targets)


def is_live_blog(meta: PageMeta) -> bool:
    return bool(meta.jsonld.types & {"LiveBlogPosting"}) or bool(LIVE_URL.search(urlsplit(meta.url).path))


def classify(tree: lxml_html.HtmlElement, meta: PageMeta, page_text: str, body_words: int,
             min_words: int) -> str:
    """The reason a page is not an article, or "" when it is one."""
    if body_words < INTERSTITIAL_MAX_WORDS:
        lowered = page_text.lower()
        title = meta.title_tag
        if BOT_TITLES.search(title) or _text_has(lowered, BOT_MARKERS):
            return "bot_challenge"
        host = (urlsplit(meta.url).hostname or "").lower()
        if host.startswith(CONSENT_HOSTS) or _text_has(lowered, CONSENT_MARKERS) and body_words < min_words:
            return "consent_wall"
    if body_words < PAYWALL_STUB_MAX_WORDS and (
        _paywalled(meta) or _text_has(page_text.lower(), PAYWALL_MARKERS)
    ):
        return "paywall"
    if is_live_blog(meta) and body_words < LIVE_INDEX_MAX_WORDS:
        return "live_blog_index"
    if not (meta.jsonld.types & NEWS_TYPES) and (
        meta.jsonld.types & LISTING_TYPES or not has_article_signal(meta)
    ) and teaser_count(tree, meta.url) >= SECTION_MIN_TEASERS:
        return "section_front"
    if body_words < min_words:
        return "too_short"
    return ""
