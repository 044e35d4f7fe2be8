"""The smaller fields: title, summary, section, keywords and image URL.

Each is one function over the collected ``PageMeta`` that tries its sources in order
and returns the value with the method that produced it (``""`` when none did). The canonical
URL is not one of them: it is ``pipeline.urls.page_canonical``, shared with fetch.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.extract.metadata import PageMeta, clean_text, join_url, jsonld_text
from pipeline.extract.text import fold

# Separators between a headline and the site name in <title> and og:title.
TITLE_SEPARATORS = re.compile(r"\s+(?:\||-|–|—|::|·|•|»|/)\s+")
MAX_KEYWORDS = 30


def strip_site_name(title: str, outlets: set[str]) -> str:
    """"Headline | Site" -> "Headline": drops end segments that name the outlet.

    A vertical bar never belongs to a headline, so of "Headline | Section | Date" the longest
    part is kept even when the other parts do not name the outlet.
    """
    if " | " in title:
        title = max(title.split(" | "), key=len).strip()
    parts = TITLE_SEPARATORS.split(title)
    if len(parts) == 1:
        return title
    folded_outlets = {fold(o) for o in outlets}

    def is_outlet(segment: str) -> bool:
        f = fold(segment)
        return bool(f) and (f in folded_outlets or any(f in o or o in f for o in folded_outlets if len(o) > 3))

    while len(parts) > 1 and is_outlet(parts[-1]):
        parts.pop()
    while len(parts) > 1 and is_outlet(parts[0]):
        parts.pop(0)
    if len(parts) < len(TITLE_SEPARATORS.split(title)):
        # Re-join what is left with the original text so inner separators survive.
        start = title.find(parts[0])
        end = title.rfind(parts[-1]) + len(parts[-1])
        return title[start:end].strip() if start >= 0 and end > start else " ".join(parts)
    return title


# Where a page states its headline. Outlets often give the share title (og) and the page
# headline (JSON-LD, <h1>) different wordings; which one is "the" title is the publisher's
# choice, so a publisher profile may reorder these (pipeline/data/publishers.yaml).
TITLE_SOURCES = ("jsonld", "og", "meta-title", "h1", "title-tag")
# On the dev corpus the JSON-LD headline is the expected title most often, so it leads.
DEFAULT_TITLE_ORDER = ("jsonld", "og", "h1", "title-tag")


def title_candidates(meta: PageMeta) -> dict[str, str]:
    """Every headline the page states, by source, raw (site names not yet stripped)."""
    article = meta.jsonld.article or {}
    return {
        "jsonld": jsonld_text(article.get("headline")) or "",
        "og": clean_text(meta.first("og:title", "twitter:title")),
        "meta-title": clean_text(meta.first("title")),
        "h1": meta.h1[0] if len(meta.h1) == 1 else "",  # several <h1>: none of them is surely the headline
        "title-tag": meta.title_tag,
    }


def extract_title(meta: PageMeta, outlets: set[str],
                  order: tuple[str, ...] = DEFAULT_TITLE_ORDER) -> tuple[str, str]:
    """The first stated headline in ``order``, site names stripped; the source is the method.

    A value that the page also shows as its <h1> is kept whole, separators and all.
    """
    shown = {fold(h) for h in meta.h1}
    candidates = title_candidates(meta)
    for source in order:
        value = candidates.get(source, "")
        if value and fold(value) not in shown and source != "h1":
            value = strip_site_name(value, outlets)
        if value:
            return value, source
    return "", ""


def extract_summary(meta: PageMeta, body: str) -> tuple[str, str]:
    article = meta.jsonld.article or {}
    described = jsonld_text(article.get("description"))
    if described:
        return described, "jsonld"
    stated = meta.first("og:description", "description", "twitter:description")
    if stated:
        return clean_text(stated), "meta"
    lead = body.split("\n\n", 1)[0].strip()
    return (lead, "lead") if lead else ("", "")


def extract_section(meta: PageMeta) -> tuple[str | None, str]:
    article = meta.jsonld.article or {}
    section = jsonld_text(article.get("articleSection"))
    if section:
        return section, "jsonld"
    stated = meta.first("article:section", "parsely-section", "section", "sailthru.section")
    if stated:
        return clean_text(stated), "meta"
    props = meta.itemprops.get("articleSection")
    return (props[0], "microdata") if props and props[0] else (None, "")


def _split_keywords(value: Any) -> list[str]:
    if isinstance(value, list):
        return [k for v in value for k in _split_keywords(v)]
    if isinstance(value, dict):
        text = jsonld_text(value)
        return [text] if text else []
    if isinstance(value, str):
        return [clean_text(k) for k in re.split(r"[,;]", value) if clean_text(k)]
    return []


def extract_keywords(meta: PageMeta) -> tuple[tuple[str, ...], str]:
    article = meta.jsonld.article or {}
    for method, values in (
        ("jsonld", _split_keywords(article.get("keywords"))),
        ("meta", _split_keywords(meta.all("news_keywords", "keywords"))),
        ("meta", meta.all("article:tag", "parsely-tags")),
    ):
        unique = list(dict.fromkeys(v for v in values if v))[:MAX_KEYWORDS]
        if unique:
            return tuple(unique), method
    return (), ""


def extract_image(meta: PageMeta) -> tuple[str | None, str]:
    stated = meta.first("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src")
    absolute = join_url(meta.url, stated) if stated else None
    if absolute:
        return absolute, "meta"
    image = (meta.jsonld.article or {}).get("image")
    if isinstance(image, list) and image:
        image = image[0]
    url = image.get("url") if isinstance(image, dict) else image
    absolute = join_url(meta.url, url.strip()) if isinstance(url, str) and url.strip() else None
    if absolute:
        return absolute, "jsonld"
    return None, ""
