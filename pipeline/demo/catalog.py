"""The newsroom's articles: one YAML file per article under ``articles/``, loaded into typed records.

The files are data only. Besides what the page shows (title, bylines, dates, body),
each one records what an analyst should find in it (``persons``, ``countries``,
``topics``), so tests can compare the pipeline's output with the author's intent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

ARTICLES_DIR = Path(__file__).resolve().parent / "articles"

# A slug is what a newsroom CMS would make of a headline: lowercase words and hyphens.
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")

_REQUIRED = ("slug", "title", "authors", "published", "section", "keywords", "summary", "body")
_OPTIONAL = ("outlet", "modified", "caption", "persons", "countries", "topics", "story", "diplomacy")


@dataclass(frozen=True)
class Outlet:
    """A fictional publisher whose pages the newsroom serves."""

    key: str
    name: str
    description: str


# The registry is data: one entry per fictional outlet.
OUTLETS: Mapping[str, Outlet] = {
    "gazette": Outlet(
        key="gazette",
        name="The Chancery Gazette",
        description="Diplomacy, foreign policy and world news from The Chancery Gazette.",
    ),
    "meridian": Outlet(
        key="meridian",
        name="The Meridian Herald",
        description="News and analysis from The Meridian Herald.",
    ),
}
DEFAULT_OUTLET = "gazette"


@dataclass(frozen=True)
class DemoArticle:
    slug: str
    outlet: Outlet
    title: str
    authors: tuple[str, ...]
    published: datetime  # always timezone-aware, in the desk's local offset
    modified: datetime
    section: str
    keywords: tuple[str, ...]
    summary: str
    body: tuple[str, ...]  # paragraphs
    caption: str
    persons: tuple[str, ...]  # canonical names an entity extractor should find
    countries: tuple[str, ...]  # ISO 3166-1 alpha-2 codes the article is about
    topics: tuple[str, ...]  # topic ids an analyst would file it under
    story: str | None  # shared by near-duplicate versions of one story
    diplomacy: bool  # False for the sport and weather pages that must get no diplomacy topic

    @property
    def published_utc(self) -> datetime:
        return self.published.astimezone(UTC)

    @property
    def day(self) -> date:
        """The UTC publication date: what a date window (a backfill day) selects on."""
        return self.published_utc.date()

    @property
    def path(self) -> str:
        local = self.published.date()
        return f"/{local:%Y/%m/%d}/{self.slug}.html"

    @property
    def text(self) -> str:
        return "\n\n".join(self.body)

    @property
    def word_count(self) -> int:
        return len(self.text.split())


class DemoDataError(ValueError):
    """An article file that cannot be used, named with the file and the field."""


def load_articles(directory: Path = ARTICLES_DIR) -> tuple[DemoArticle, ...]:
    """Every article file in the directory, oldest first; slugs must be unique."""
    articles = [load_article(path) for path in sorted(directory.glob("*.yaml"))]
    seen: dict[str, Path] = {}
    for article, path in zip(articles, sorted(directory.glob("*.yaml")), strict=True):
        if article.slug in seen:
            raise DemoDataError(f"{path}: slug {article.slug!r} already used by {seen[article.slug]}")
        seen[article.slug] = path
    return tuple(sorted(articles, key=lambda a: (a.published_utc, a.slug)))


def load_article(path: Path) -> DemoArticle:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise DemoDataError(f"{path}: expected a mapping of article fields")
    return article_from_mapping(data, str(path))


def article_from_mapping(data: Mapping[str, Any], where: str) -> DemoArticle:
    missing = [name for name in _REQUIRED if not data.get(name)]
    if missing:
        raise DemoDataError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise DemoDataError(f"{where}: unknown fields {', '.join(unknown)}")
    published = _aware_datetime(data["published"], where, "published")
    modified = _aware_datetime(data["modified"], where, "modified") if data.get("modified") else published
    outlet_key = str(data.get("outlet") or DEFAULT_OUTLET)
    if outlet_key not in OUTLETS:
        raise DemoDataError(f"{where}: outlet {outlet_key!r} is not one of {', '.join(OUTLETS)}")
    slug = str(data["slug"])
    if not _SLUG.match(slug):
        raise DemoDataError(f"{where}: slug {slug!r} must be lowercase words joined by hyphens")
    countries = _strings(data.get("countries"), where, "countries")
    bad = [c for c in countries if not _COUNTRY.match(c)]
    if bad:
        raise DemoDataError(f"{where}: countries must be ISO 3166-1 alpha-2 codes, got {bad}")
    return DemoArticle(
        slug=slug,
        outlet=OUTLETS[outlet_key],
        title=str(data["title"]).strip(),
        authors=_strings(data["authors"], where, "authors"),
        published=published,
        modified=modified,
        section=str(data["section"]),
        keywords=_strings(data["keywords"], where, "keywords"),
        summary=" ".join(str(data["summary"]).split()),
        body=tuple(" ".join(p.split()) for p in _strings(data["body"], where, "body")),
        caption=" ".join(str(data.get("caption") or "").split()),
        persons=_strings(data.get("persons"), where, "persons"),
        countries=countries,
        topics=_strings(data.get("topics"), where, "topics"),
        story=str(data["story"]) if data.get("story") else None,
        diplomacy=bool(data.get("diplomacy", True)),
    )


def _aware_datetime(value: Any, where: str, name: str) -> datetime:
    # YAML turns an ISO timestamp into a datetime itself; a quoted one stays a string.
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise DemoDataError(f"{where}: {name} is not an ISO 8601 datetime: {value!r}") from exc
    if parsed.tzinfo is None:
        raise DemoDataError(f"{where}: {name} needs a timezone offset, got {value!r}")
    return parsed


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DemoDataError(f"{where}: {name} must be a list of strings")
    return tuple(v.strip() for v in value)
