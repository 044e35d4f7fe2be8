"""Authors: people only, from the first source that names at least one person.

Sources, in order: JSON-LD ``author`` (objects, strings, ``@id`` references), author
``<meta>`` tags, microdata ``itemprop=author``, then byline elements (hNews ``vcard``,
``rel=author``, ``byline`` classes). Each raw string is split ("X and Y", "X, Y") and
cleaned: no "By", no roles, no e-mail addresses, no wire agency or outlet names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from lxml import html as lxml_html

from pipeline.extract.metadata import PageMeta, clean_text, jsonld_types

AUTHOR_META = ("author", "article:author", "og:article:author", "parsely-author", "sailthru.author",
               "dc.creator", "dcterms.creator", "citation_author", "byl", "cxenseparse:author")
# Byline containers in the order they are trusted: hNews vcard, rel=author, then class names.
BYLINE_XPATHS = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' author ')]"
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' fn ')]",
    "//a[contains(concat(' ', normalize-space(@rel), ' '), ' author ')]",
    "//*[contains(@class, 'byline__name') or contains(@class, 'author-name') or contains(@class, 'author__name')"
    " or contains(@class, 'authorName') or contains(@class, 'byline-name')]",
    "//*[contains(@class, 'byline') and not(contains(@class, 'byline__'))]"
    "[not(ancestor::*[contains(@class, 'byline')])]",
)
# More byline elements than this means a list of teasers, not this article's byline.
MAX_BYLINE_ELEMENTS = 6
# A person's name rarely has more words than this; longer strings are sentences or roles.
MAX_NAME_WORDS = 5
MAX_NAME_CHARS = 60

# Not people: wire agencies, generic desks, roles (compared case-folded, whole name or trailing words).
NOT_PEOPLE = frozenset({
    "reuters", "ap", "associated press", "the associated press", "afp", "agence france-presse", "dpa",
    "pti", "ani", "ians", "bloomberg", "xinhua", "tass", "efe", "ansa", "kyodo", "yonhap", "uni", "bbc",
    "agencies", "agency", "news agencies", "wire services", "staff", "staff writer", "staff reporter",
    "editorial", "editorial board", "editorial staff", "the editorial board", "newsroom", "news desk",
    "web desk", "online desk", "desk", "team", "admin", "administrator", "editor", "editors", "redaktion",
    "anonymous", "guest", "contributor", "correspondent", "our correspondent", "press association", "pa",
    "cnn", "nbc news", "abc news", "cbs news", "fox news", "the guardian", "guardian staff", "aap",
    "unknown", "null", "none", "news", "online", "web", "digital", "wires", "wire", "apa", "sda", "ats",
    "epd", "kna", "rtr", "red", "dpa-afx", "sid", "kathpress",
})
ROLE_WORDS = frozenset({
    "editor", "correspondent", "reporter", "writer", "columnist", "contributor", "journalist", "staff",
    "desk", "chief", "senior", "analyst", "producer", "photographer", "bureau", "political", "diplomatic",
    "foreign", "affairs", "deputy", "managing", "international", "economics", "business", "news",
    "redakteur", "redakteurin", "korrespondent", "korrespondentin", "autor", "autorin", "reporterin",
})
_BY = re.compile(r"^\s*(?:written\s+by|reported\s+by|posted\s+by|by|von|por|par|di|door|av|af|de|przez|"
                 r"texto|text|autor|autorin|author|authors|reporting\s+by)\s*[:\-]?\s+", re.I)
_SPLIT = re.compile(r"\s*(?:,|;|\||/|\s&\s|\band\b|\bund\b|\by\b|\bet\b|\be\b|\bog\b|\ben\b|\bi\b|\bsowie\b)\s*",
                    re.I)
_EMAIL = re.compile(r"\S+@\S+")
_URLISH = re.compile(r"https?://|www\.|\.com\b|\.[a-z]{2,3}/", re.I)
_DIGIT = re.compile(r"\d")
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_UPDATED = re.compile(r"\b(?:updated|published|posted|aktualisiert|veröffentlicht)\b.*$", re.I)


def _jsonld_names(value: Any, meta: PageMeta) -> list[str]:
    value = meta.jsonld.resolve(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [n for item in value for n in _jsonld_names(item, meta)]
    if isinstance(value, dict):
        kinds = jsonld_types(value)
        if kinds & {"Organization", "NewsMediaOrganization", "Corporation", "WebSite", "Brand"}:
            return []
        name = value.get("name")
        if isinstance(name, list):
            name = " ".join(str(n) for n in name)
        if isinstance(name, str):
            return [name]
        given, family = value.get("givenName"), value.get("familyName")
        if isinstance(given, str) and isinstance(family, str):
            return [f"{given} {family}"]
    return []


def outlet_names(meta: PageMeta) -> set[str]:
    """The outlet's own names (site name, publisher, domain label), which are never authors."""
    names = {n.casefold() for n in meta.all("og:site_name", "application-name", "twitter:site") if n}
    publisher = meta.jsonld.resolve((meta.jsonld.article or {}).get("publisher"))
    if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
        names.add(publisher["name"].casefold())
    host = meta.url.split("://", 1)[-1].split("/", 1)[0].lower().removeprefix("www.")
    if host:
        names.add(host.split(".")[0])
        names.add(host)
    return {n.strip().lstrip("@") for n in names}


def clean_author(raw: str, outlets: set[str]) -> list[str]:
    """Names of people in one raw author string; an empty list when it names none."""
    text = clean_text(_EMAIL.sub(" ", raw))
    text = _PAREN.sub(" ", text)
    text = _UPDATED.sub("", text)
    names: list[str] = []
    for part in _SPLIT.split(_BY.sub("", text)):
        name = _BY.sub("", clean_text(part)).strip(" .:-–—·•")
        if _is_person(name, outlets):
            names.append(name)
    return names


def _is_person(name: str, outlets: set[str]) -> bool:
    if not name or len(name) > MAX_NAME_CHARS or _DIGIT.search(name) or _URLISH.search(name):
        return False
    folded = name.casefold()
    if folded in NOT_PEOPLE or folded in outlets or folded.startswith("@"):
        return False
    words = folded.split()
    if len(words) > MAX_NAME_WORDS:
        return False
    if all(w.strip(".") in ROLE_WORDS for w in words):
        return False
    # A person's name has a capitalised word (rules out "staff", "the team" in running text).
    return any(w[:1].isupper() for w in name.split())


def _dedupe(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.casefold(), name)
    return tuple(seen.values())


def _byline_strings(tree: lxml_html.HtmlElement) -> list[str]:
    for xpath in BYLINE_XPATHS:
        elements = tree.xpath(xpath)
        if 0 < len(elements) <= MAX_BYLINE_ELEMENTS:
            texts = [clean_text(el.text_content()) for el in elements]
            texts = [t for t in texts if t]
            if texts:
                return texts
    return []


def extract_authors(meta: PageMeta, tree: lxml_html.HtmlElement | None,
                    body_byline: str = "") -> tuple[tuple[str, ...], str]:
    """The authors and the method that found them ("" when no source names a person)."""
    outlets = outlet_names(meta)
    article = meta.jsonld.article or {}
    sources: list[tuple[str, list[str]]] = [
        ("jsonld", _jsonld_names(article.get("author"), meta) + _jsonld_names(article.get("creator"), meta)),
        ("meta", [v for v in meta.all(*AUTHOR_META) if not _URLISH.search(v)]),
        ("microdata", list(meta.itemprops.get("author", ())) + list(meta.itemprops.get("creator", ()))),
    ]
    for method, raws in sources:
        names = _dedupe(n for raw in raws for n in clean_author(raw, outlets))
        if names:
            return names, method
    if tree is not None:
        names = _dedupe(n for raw in _byline_strings(tree) for n in clean_author(raw, outlets))
        if names:
            return names, "byline"
    names = _dedupe(clean_author(body_byline, outlets)) if body_byline else ()
    return (names, "body_byline") if names else ((), "")
