"""Everything a page states about itself, read once from the parsed tree.

JSON-LD (including ``@graph`` arrays and ``@id`` references), OpenGraph and other
``<meta>`` tags, ``<link rel=canonical>``, ``<title>``, ``<h1>``, ``<time>`` elements,
microdata ``itemprop`` and hNews class names. The field modules (authors, dates,
body ...) choose among these candidates; this module only collects them.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

from lxml import html as lxml_html

JsonObj = dict[str, Any]

# schema.org types whose object describes the article itself, best first.
NEWS_TYPES = frozenset({
    "NewsArticle", "ReportageNewsArticle", "AnalysisNewsArticle", "OpinionNewsArticle",
    "BackgroundNewsArticle", "ReviewNewsArticle", "AskPublicNewsArticle", "LiveBlogPosting",
})
ARTICLE_TYPES = NEWS_TYPES | frozenset({
    "Article", "BlogPosting", "Report", "SatiricalArticle", "ScholarlyArticle", "TechArticle",
    "SocialMediaPosting", "DiscussionForumPosting",
})
# Types that describe a page but not necessarily an article: used only when no article object exists.
PAGE_TYPES = frozenset({"WebPage", "ItemPage"})
# Types that mark listing pages (section fronts, search results).
LISTING_TYPES = frozenset({"CollectionPage", "SearchResultsPage"})  # ItemList also marks "related" boxes

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_WS = re.compile(r"\s+")


def split_url(url: str) -> SplitResult | None:
    """The parts of a URL a page states, or None when it cannot be parsed at all.

    urllib raises ValueError on a bracketed host that is no IP address ("http://[::1", "https://[x]/");
    one such link in a page's metadata must not cost the page its article (found by tests/fuzz).
    """
    try:
        return urlsplit(url)
    except ValueError:
        return None


def join_url(base: str, value: str) -> str | None:
    """``value`` made absolute against ``base``, or None when either cannot be parsed (see split_url)."""
    try:
        return urljoin(base, value)
    except ValueError:
        return None


def clean_text(value: str | None) -> str:
    """Whitespace collapsed; entities left escaped by the page (double-escaped meta values) resolved."""
    text = value or ""
    if "&" in text and ";" in text:
        text = html.unescape(text)
    return _WS.sub(" ", text).strip()


@dataclass(frozen=True)
class JsonLd:
    """The page's JSON-LD: the best article object, every object seen and its types."""

    article: JsonObj | None = None
    objects: tuple[JsonObj, ...] = ()
    by_id: Mapping[str, JsonObj] = field(default_factory=dict)
    types: frozenset[str] = frozenset()
    blocks: int = 0
    malformed: int = 0

    def resolve(self, value: Any) -> Any:
        """Follow a {"@id": ...} reference to the object it names (as @graph pages do)."""
        ref = value.get("@id") if isinstance(value, dict) and set(value) <= {"@id", "@type"} else None
        if isinstance(ref, str) and ref in self.by_id:  # an @id may be anything in hostile JSON (tests/fuzz)
            return self.by_id[ref]
        return value


@dataclass(frozen=True)
class PageMeta:
    url: str
    jsonld: JsonLd
    meta: Mapping[str, tuple[str, ...]]  # lower-cased name/property/itemprop -> content values
    title_tag: str
    h1: tuple[str, ...]
    html_lang: str | None
    time_datetimes: tuple[str, ...]  # datetime attributes of <time>, document order
    itemprops: Mapping[str, tuple[str, ...]]  # itemprop -> text/content/datetime of non-meta elements
    hnews_published: tuple[str, ...] = ()  # hNews/hAtom class="published": title or datetime attributes
    hnews_updated: tuple[str, ...] = ()

    def first(self, *names: str) -> str | None:
        for name in names:
            for value in self.meta.get(name, ()):
                if value.strip():
                    return value.strip()
        return None

    def all(self, *names: str) -> list[str]:
        return [v.strip() for name in names for v in self.meta.get(name, ()) if v.strip()]


def jsonld_types(obj: JsonObj) -> set[str]:
    """An object's @type names (a string or a list; schema.org URLs cut to the name); other values ignored."""
    raw = obj.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {v.rsplit("/", 1)[-1] for v in values if isinstance(v, str)}


def _loads(text: str) -> Any:
    """JSON, then a lenient retry (control characters, trailing commas, HTML comments)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    repaired = _TRAILING_COMMA.sub(r"\1", _CONTROL_CHARS.sub(" ", text))
    repaired = repaired.strip().removeprefix("<!--").removesuffix("-->").strip().rstrip(";")
    try:
        return json.loads(repaired, strict=False)
    except ValueError:
        return None


def _walk(node: Any, depth: int = 0) -> Iterator[JsonObj]:
    """Every dict in a JSON-LD document: lists, @graph, and objects nested in properties."""
    if depth > 6:
        return
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, depth + 1)
    elif isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key in ("@graph", "mainEntity", "hasPart", "itemListElement", "subjectOf") or (
                isinstance(value, dict) and key != "@context"
            ):
                yield from _walk(value, depth + 1)


def _article_rank(obj: JsonObj, page_url: str) -> tuple[int, int, int]:
    types = jsonld_types(obj)
    kind = 3 if types & NEWS_TYPES else 2 if types & ARTICLE_TYPES else 1
    own = 0
    for key in ("url", "mainEntityOfPage", "@id"):
        value = obj.get(key)
        if isinstance(value, dict):
            value = value.get("@id") or value.get("url")
        if isinstance(value, str) and value and _same_path(value, page_url):
            own = 1
    fields = sum(1 for key in ("headline", "datePublished", "author", "articleBody") if obj.get(key))
    return (own, kind, fields)


def _same_path(a: str, b: str) -> bool:
    pa, pb = split_url(a), split_url(b)
    if pa is None or pb is None:
        return False
    return pa.path.rstrip("/") == pb.path.rstrip("/") and bool(pa.path.strip("/"))


def read_jsonld(tree: lxml_html.HtmlElement, page_url: str) -> JsonLd:
    objects: list[JsonObj] = []
    blocks = malformed = 0
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        blocks += 1
        data = _loads(script.text or "")
        if data is None:
            malformed += 1
            continue
        objects.extend(_walk(data))
    by_id = {o["@id"]: o for o in objects if isinstance(o.get("@id"), str) and len(o) > 2}
    types = frozenset(t for o in objects for t in jsonld_types(o))
    candidates = [o for o in objects if jsonld_types(o) & ARTICLE_TYPES]
    if not candidates:
        candidates = [o for o in objects
                      if jsonld_types(o) & PAGE_TYPES and (o.get("headline") or o.get("datePublished"))]
    article = max(candidates, key=lambda o: _article_rank(o, page_url)) if candidates else None
    return JsonLd(article, tuple(objects), by_id, types, blocks, malformed)


def _read_meta(tree: lxml_html.HtmlElement) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for el in tree.iter("meta"):
        content = el.get("content")
        if content is None:
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = el.get(attr)
            if key:
                found.setdefault(key.strip().lower(), []).append(content)
    return {k: tuple(v) for k, v in found.items()}


# Microdata properties the field extractors read; others are skipped (text_content is costly on big pages).
ITEMPROPS = frozenset({"author", "creator", "datePublished", "dateModified", "dateCreated", "headline",
                       "articleSection"})


# Properties that belong to one item: only the first item's values count (later ones are teasers).
SCOPED_ITEMPROPS = frozenset({"author", "creator"})


def _scope(el: lxml_html.HtmlElement) -> lxml_html.HtmlElement | None:
    """The nearest enclosing element with an item scope (the item a microdata property belongs to)."""
    parent = el.getparent()
    while parent is not None and parent.get("itemscope") is None:
        parent = parent.getparent()
    return parent


def _itemprops(tree: lxml_html.HtmlElement) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    first_scope: dict[str, lxml_html.HtmlElement | None] = {}
    for el in tree.xpath("//*[@itemprop][not(self::meta)][not(self::link)]"):
        keys = [k for k in (el.get("itemprop") or "").split() if k in ITEMPROPS]
        if not keys:
            continue
        value = el.get("datetime") or el.get("content")
        if value is None:
            names = el.xpath(".//*[@itemprop='name']")
            target = names[0] if names else el
            value = target.get("content") or clean_text(target.text_content())
        for key in keys:
            if key in SCOPED_ITEMPROPS:
                scope = _scope(el)
                if first_scope.setdefault(key, scope) is not scope:
                    continue
            found.setdefault(key, []).append(value)
    return {k: tuple(v) for k, v in found.items()}


def _hnews(tree: lxml_html.HtmlElement, name: str) -> tuple[str, ...]:
    """Machine-readable values of hNews/hAtom date elements, e.g. <abbr class="published" title="...">."""
    xpath = f"//*[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]"
    values = (el.get("datetime") or el.get("title") or clean_text(el.text_content()) for el in tree.xpath(xpath))
    return tuple(v for v in values if v)[:3]


def read_page_meta(tree: lxml_html.HtmlElement, page_url: str) -> PageMeta:
    title_el = tree.find(".//title")
    root_lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    return PageMeta(
        url=page_url,
        jsonld=read_jsonld(tree, page_url),
        meta=_read_meta(tree),
        title_tag=clean_text(title_el.text_content()) if title_el is not None else "",
        h1=tuple(t for t in (clean_text(h.text_content()) for h in tree.iter("h1")) if t),
        html_lang=root_lang.strip() if root_lang else None,
        time_datetimes=tuple(t.get("datetime", "") for t in tree.iter("time") if t.get("datetime")),
        itemprops=_itemprops(tree),
        hnews_published=_hnews(tree, "published"),
        hnews_updated=_hnews(tree, "updated"),
    )


def jsonld_text(value: Any) -> str | None:
    """A plain string from a JSON-LD value that may be a string, list, or {"name"/"@value"} object."""
    if isinstance(value, str):
        return clean_text(value) or None
    if isinstance(value, list):
        for item in value:
            text = jsonld_text(item)
            if text:
                return text
    if isinstance(value, dict):
        for key in ("@value", "name", "url", "@id"):
            if isinstance(value.get(key), str):
                return clean_text(value[key]) or None
    return None
