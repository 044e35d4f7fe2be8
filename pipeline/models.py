"""The one record that flows through every stage, and the small types it holds.

Each stage owns its fields and returns a new copy with ``dataclasses.replace``:
- fetch: url, canonical_url, source, fetched_at, provenance;
- extract: title, authors, published_at, modified_at, language, body, summary,
  section, keywords, image_url, word_count, brief, content_hash, story_id, methods;
- enrich: entities, persons, organizations, countries, locations, topics,
  key_phrases, tone, diplomacy, enrichment_scope, enrichment_versions.

Records are frozen and hold tuples, so a stage cannot change another's data by
accident. ``to_dict``/``from_dict`` give the JSON form (the shape of
``schema/article.schema.json``, checked by a test) that is written to JSON lines
and indexed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pipeline import PIPELINE_VERSION


class EntityType(str, Enum):
    PERSON = "person"
    ORGANIZATION = "organization"
    COUNTRY = "country"
    LOCATION = "location"
    GROUP = "group"
    EVENT = "event"
    NATIONALITY = "nationality"  # "Uzbek", "Soviet": feeds the country facet, but is not the country itself


@dataclass(frozen=True)
class SourceRef:
    """Who published the article: its domain always, the sources-file id where known."""

    domain: str
    id: str | None = None
    scope: str | None = None  # the source's scope recorded at fetch time (pipeline.sources.Scope's value)


@dataclass(frozen=True)
class Provenance:
    """Where the raw bytes came from, so any article can be re-processed without a refetch."""

    fetch_url: str | None = None
    warc_file: str | None = None
    warc_offset: int | None = None
    run_id: str | None = None
    # Read from an archive (Wayback, CC-NEWS, a WARC source): where, and when the archive captured it.
    # The article's url and id stay the original URL's; fetched_at is the capture time too.
    archive_url: str | None = None
    archived_at: datetime | None = None


@dataclass(frozen=True)
class Office:
    """An office an entity held on the article's date, e.g. President of Russia."""

    title: str
    country: str | None = None
    start: str | None = None  # ISO date
    end: str | None = None  # ISO date, None while in office


@dataclass(frozen=True)
class Entity:
    name: str  # canonical
    type: EntityType
    ids: Mapping[str, str] = field(default_factory=dict)  # e.g. {"wikidata": "Q7747"}
    country: str | None = None  # ISO 3166-1 alpha-2
    mentions: int = 0
    surface_forms: tuple[str, ...] = ()
    offices: tuple[Office, ...] = ()


@dataclass(frozen=True)
class Topic:
    id: str
    label: str
    score: float
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class CapturedRecord:
    """What fetch decided about one page it wrote into a capture; extract takes the article's identity from it.

    Fetch resolves a page's canonical URL once (rel=canonical / og:url on the same site, tracking parameters
    dropped: ``pipeline.urls``) and keys the seen-store by it; the article's id in the index must be that
    same key, so extraction never resolves it again from the page. Carried in the WARC record's headers
    (``WARC-Chancery-Canonical-URL``, ``WARC-Chancery-Content-Hash``), so any host reading the capture
    gets the same answer.
    """

    offset: int  # of the response record in the capture
    canonical_url: str
    content_hash: str = ""  # fetch's hash of the page (pipeline.fetch.seen.page_hash); "" in older captures

    @property
    def article_id(self) -> str:
        return article_id(self.canonical_url)


@dataclass(frozen=True)
class CaptureRef:
    """The fetch → process contract: one closed capture, where it is, and what fetch wrote into it.

    ``uri`` is the capture's name everywhere (capture ledger, seen-store, provenance): an object-store or
    ``file://`` URL under ``CHANCERY_CAPTURES_URL``, or the WARC's resolved local path when none is set.
    """

    uri: str
    records: tuple[CapturedRecord, ...] = ()

    @property
    def offsets(self) -> tuple[int, ...]:
        return tuple(r.offset for r in self.records)


@dataclass(frozen=True)
class RawPage:
    """One captured HTTP response, as fetch writes it and extract reads it (from WARC or a file)."""

    url: str  # the final URL after redirects
    content: bytes
    content_type: str | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    fetched_at: datetime | None = None
    source: SourceRef | None = None
    provenance: Provenance = field(default_factory=Provenance)
    capture: CapturedRecord | None = None  # what fetch recorded for it; None for a plain file or a foreign WARC


@dataclass(frozen=True)
class Article:
    id: str
    url: str
    canonical_url: str
    source: SourceRef
    fetched_at: datetime | None = None
    title: str = ""
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    published_precision: str | None = None  # "second" or "day"
    modified_at: datetime | None = None
    language: str | None = None
    body: str = ""
    summary: str = ""
    section: str | None = None
    keywords: tuple[str, ...] = ()
    image_url: str | None = None
    word_count: int = 0
    brief: bool = False  # an article shorter than extract.brief_below_words: kept, and marked for facets
    content_hash: str = ""
    methods: Mapping[str, str] = field(default_factory=dict)  # field -> extraction method
    entities: tuple[Entity, ...] = ()
    persons: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    topics: tuple[Topic, ...] = ()
    key_phrases: tuple[str, ...] = ()
    tone: float | None = None
    diplomacy: float | None = None  # P(the story is about diplomacy), from the article model
    enrichment_scope: str | None = None  # e.g. "full" or "gazetteer-only (de)"
    # what produced the enrichment: {"ner": model, "taxonomy": version, "topic_model": version}
    enrichment_versions: Mapping[str, str] = field(default_factory=dict)
    story_id: str | None = None
    provenance: Provenance = field(default_factory=Provenance)
    pipeline_version: str = PIPELINE_VERSION

    @classmethod
    def new(cls, url: str, canonical_url: str | None = None, **fields: Any) -> Article:
        """An article with its id derived from the canonical URL, as every stage expects."""
        canonical = canonical_url or url
        source = fields.pop("source", None) or SourceRef(domain=domain_of(canonical))
        return cls(id=article_id(canonical), url=url, canonical_url=canonical, source=source, **fields)

    def with_text(self, body: str, **fields: Any) -> Article:
        """A copy with a new body, keeping word_count and content_hash true to it."""
        return dataclasses.replace(
            self, body=body, word_count=len(body.split()), content_hash=content_hash(body), **fields
        )

    def to_dict(self) -> dict[str, Any]:
        return _to_json(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Article:
        return _article_from_dict(data)


def article_id(canonical_url: str) -> str:
    """Stable id: the same canonical URL always gives the same document id."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:32]


def content_hash(body: str) -> str:
    normalised = " ".join(body.split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def domain_of(url: str) -> str:
    """The host without ``www.``; "" when the URL has none or cannot be parsed at all.

    urllib raises ValueError on a bracketed host that is no IP address ("http://[::1"): such a URL in
    a WARC record or a feed must become a named outcome downstream, not an exception here (tests/fuzz).
    """
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def format_datetime(value: datetime) -> str:
    """UTC, ISO 8601 with a Z: the one text form of a date in records and the index."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def _entity_from_dict(data: Mapping[str, Any]) -> Entity:
    return Entity(
        name=data["name"],
        type=EntityType(data["type"]),
        ids=dict(data.get("ids") or {}),
        country=data.get("country"),
        mentions=int(data.get("mentions") or 0),
        surface_forms=tuple(data.get("surface_forms") or ()),
        offices=tuple(Office(**o) for o in data.get("offices") or ()),
    )


def _topic_from_dict(data: Mapping[str, Any]) -> Topic:
    return Topic(
        id=data["id"],
        label=data["label"],
        score=float(data["score"]),
        evidence=tuple(data.get("evidence") or ()),
    )


_TUPLE_FIELDS = ("authors", "keywords", "persons", "organizations", "countries", "locations", "key_phrases")
_DATE_FIELDS = ("fetched_at", "published_at", "modified_at")


def _article_from_dict(data: Mapping[str, Any]) -> Article:
    known = {f.name for f in dataclasses.fields(Article)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown Article fields: {sorted(unknown)}")
    values: dict[str, Any] = dict(data)
    for name in _TUPLE_FIELDS:
        values[name] = tuple(values.get(name) or ())
    for name in _DATE_FIELDS:
        values[name] = parse_datetime(values.get(name))
    values["source"] = SourceRef(**values["source"])
    provenance = dict(values.get("provenance") or {})
    provenance["archived_at"] = parse_datetime(provenance.get("archived_at"))
    values["provenance"] = Provenance(**provenance)
    values["entities"] = tuple(_entity_from_dict(e) for e in values.get("entities") or ())
    values["topics"] = tuple(_topic_from_dict(t) for t in values.get("topics") or ())
    values["methods"] = dict(values.get("methods") or {})
    values["enrichment_versions"] = dict(values.get("enrichment_versions") or {})
    return Article(**values)
