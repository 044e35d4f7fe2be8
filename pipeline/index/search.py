"""Search: a typed query, a pure request builder, and typed results with highlights and facets.

Query language: Elasticsearch's `simple_query_string`: "exact phrases", `-exclusion`,
`a | b` (we also accept `OR` and `AND` between terms, the way people type them), `prefix*`.
Terms are ANDed by default, so `talks -russia` means talks without Russia.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from pipeline.config import Settings
from pipeline.index.mapping import DIPLOMACY_SYNONYMS, IndexNames

# Title matters most, then the standfirst, then the body; entity names count like the body.
TEXT_FIELDS = (
    "title^3",
    "summary^2",
    "body",
    "persons.text",
    "organizations.text",
    "locations.text",
    "keywords.text",
    "key_phrases.text",
)
FACETS = {  # facet name -> keyword field (topics.id is flat thanks to include_in_parent)
    "countries": "countries",
    "persons": "persons",
    "organizations": "organizations",
    "topics": "topics.id",
    "sources": "source.domain",
    "brief": "brief",  # short items (rate decisions, one-paragraph news) kept as articles
}
FACET_SIZE = 10
HIGHLIGHT_PRE, HIGHLIGHT_POST = "<mark>", "</mark>"
SNIPPET_CHARS = 200
RETURNED_FIELDS = ["id", "title", "published_at", "source", "url", "canonical_url", "summary"]


class IndexMissing(Exception):
    """There is no articles index to search yet."""


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    date_from: date | None = None
    date_to: date | None = None  # inclusive: the whole day
    countries: tuple[str, ...] = ()  # ISO 3166-1 alpha-2; all must be present (Japan AND Russia)
    person: str | None = None
    org: str | None = None
    topic: str | None = None
    source: str | None = None  # domain or sources-file id
    brief: bool | None = None  # True: briefs only; False: no briefs; None: both
    size: int = 10


@dataclass(frozen=True)
class SearchHit:
    id: str
    title: str
    published_at: str | None
    source: str
    url: str
    snippet: str  # highlighted with HIGHLIGHT_PRE/POST where the query matched
    score: float | None
    title_highlighted: str = ""  # the title with HIGHLIGHT_PRE/POST around matches (else the title)


@dataclass(frozen=True)
class FacetBucket:
    key: str
    count: int


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetBucket]]
    histogram: list[FacetBucket]  # key: ISO date of the bucket start
    histogram_interval: str
    took_ms: int = 0
    query: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Pure request building

_OPERATOR_WORDS = {"OR": "|", "AND": "+"}


def to_simple_query_syntax(text: str) -> str:
    """Rewrite the words OR/AND (outside quotes) into simple_query_string's `|` and `+`."""
    parts = re.split(r'("[^"]*")', text)  # odd positions are quoted phrases, kept as typed
    for i in range(0, len(parts), 2):
        parts[i] = " ".join(_OPERATOR_WORDS.get(word, word) for word in parts[i].split(" "))
    return "".join(parts).strip()


# Each member of a group maps to the whole group: one search for any name finds all of them.
SYNONYM_GROUPS: dict[str, tuple[str, ...]] = {
    member: group
    for group in (tuple(m.strip() for m in rule.split(",")) for rule in DIPLOMACY_SYNONYMS)
    for member in group
}
_SYNONYM_PATTERN = re.compile(
    r"(?<![\w'])(" + "|".join(re.escape(m) for m in sorted(SYNONYM_GROUPS, key=len, reverse=True)) + r")(?![\w'])",
    re.IGNORECASE,
)


def _group_clause(member: str) -> str:
    names = SYNONYM_GROUPS[member.lower()]
    return "(" + " | ".join(f'"{name}"' if " " in name else name for name in names) + ")"


def expand_synonyms(text: str) -> str:
    """Rewrite a diplomacy name (outside quotes, or a whole quoted phrase) into its synonym group.

    `DPRK talks` becomes `(dprk | "north korea" | …) talks`. The bare engine has no synonym
    filter, so the expansion happens here, the same on every engine; where the engine also has
    `synonym_graph` (analysis-common) the two agree.
    """
    parts = re.split(r'("[^"]*")', text)
    for i, part in enumerate(parts):
        if i % 2:  # a quoted phrase: expanded only when it is exactly one of the names
            if part[1:-1].strip().lower() in SYNONYM_GROUPS:
                parts[i] = _group_clause(part[1:-1].strip())
        else:
            parts[i] = _SYNONYM_PATTERN.sub(lambda m: _group_clause(m.group(1)), part)
    return "".join(parts)


def histogram_interval(q: SearchQuery) -> str:
    """Day buckets for a window up to two months, weeks up to a year, else months."""
    if q.date_from and q.date_to:
        span = q.date_to - q.date_from
        if span <= timedelta(days=62):
            return "day"
        if span <= timedelta(days=366):
            return "week"
    return "month"


def build_filters(q: SearchQuery) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if q.date_from or q.date_to:
        bounds: dict[str, str] = {}
        if q.date_from:
            bounds["gte"] = q.date_from.isoformat()
        if q.date_to:
            bounds["lte"] = f"{q.date_to.isoformat()}||/d"  # rounds up: the whole last day counts
        filters.append({"range": {"published_at": bounds}})
    for country in q.countries:
        filters.append({"term": {"countries": country.strip().upper()}})
    if q.person:
        filters.append(_name_filter("persons", q.person))
    if q.org:
        filters.append(_name_filter("organizations", q.org))
    if q.topic:
        filters.append({"term": {"topics.id": q.topic.strip()}})
    if q.brief is not None:
        filters.append({"term": {"brief": q.brief}})
    if q.source:
        source = q.source.strip().lower().removeprefix("www.")
        filters.append(
            {
                "bool": {
                    "should": [{"term": {"source.domain": source}}, {"term": {"source.id": source}}],
                    "minimum_should_match": 1,
                }
            }
        )
    return filters


def _name_filter(field_name: str, name: str) -> dict[str, Any]:
    """The canonical name exactly, or the words of it as a phrase (`--person Lavrov`)."""
    return {
        "bool": {
            "should": [{"term": {field_name: name.strip()}}, {"match_phrase": {f"{field_name}.text": name}}],
            "minimum_should_match": 1,
        }
    }


def build_query(q: SearchQuery) -> dict[str, Any]:
    """The whole search request body (keyword arguments for `Elasticsearch.search`)."""
    text = expand_synonyms(to_simple_query_syntax(q.text))
    must: list[dict[str, Any]] = []
    if text:
        must.append(
            {
                "simple_query_string": {
                    "query": text,
                    "fields": list(TEXT_FIELDS),
                    "default_operator": "and",
                    "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE",
                }
            }
        )
    request: dict[str, Any] = {
        "query": {"bool": {"must": must or [{"match_all": {}}], "filter": build_filters(q)}},
        "size": q.size,
        "track_total_hits": True,
        "_source": RETURNED_FIELDS,
        # Relevance first when there is text; newest first otherwise and as the tie-break.
        "sort": (["_score"] if text else []) + [{"published_at": {"order": "desc", "missing": "_last"}}],
        "highlight": {
            "pre_tags": [HIGHLIGHT_PRE],
            "post_tags": [HIGHLIGHT_POST],
            "fields": {
                "title": {"number_of_fragments": 0},
                # no_match_size: a hit found through its title or entities still shows its opening.
                "body": {"fragment_size": 160, "number_of_fragments": 2, "no_match_size": SNIPPET_CHARS},
                "summary": {"fragment_size": 160, "number_of_fragments": 1},
            },
        },
        "aggs": {
            **{name: {"terms": {"field": fld, "size": FACET_SIZE}} for name, fld in FACETS.items()},
            "published": {
                "date_histogram": {
                    "field": "published_at",
                    "calendar_interval": histogram_interval(q),
                    "min_doc_count": 1,
                    "format": "yyyy-MM-dd",
                }
            },
        },
    }
    return request


# ---------------------------------------------------------------------------------------------
# Running it


def search(es: Elasticsearch, settings: Settings, q: SearchQuery) -> SearchResult:
    """Run the query on the read alias and shape the answer."""
    request = build_query(q)
    alias = IndexNames(settings.elasticsearch.index_prefix).read_alias
    try:
        response = es.search(index=alias, **request).body
    except NotFoundError as exc:
        raise IndexMissing(f"there is no index {alias!r} yet: run `chancery index setup` or ingest articles") from exc
    return parse_response(response, q, request)


def parse_response(response: dict[str, Any], q: SearchQuery, request: dict[str, Any]) -> SearchResult:
    aggs = response.get("aggregations", {})
    facets = {
        name: [
            FacetBucket(str(b.get("key_as_string", b["key"])), int(b["doc_count"]))  # a boolean's key is 1 / 0
            for b in aggs.get(name, {}).get("buckets", [])
        ]
        for name in FACETS
    }
    histogram = [
        FacetBucket(str(b.get("key_as_string", b["key"])), int(b["doc_count"]))
        for b in aggs.get("published", {}).get("buckets", [])
    ]
    return SearchResult(
        total=int(response["hits"]["total"]["value"]),
        hits=[_hit(h) for h in response["hits"]["hits"]],
        facets=facets,
        histogram=histogram,
        histogram_interval=histogram_interval(q),
        took_ms=int(response.get("took", 0)),
        query=request["query"],
    )


def _hit(hit: dict[str, Any]) -> SearchHit:
    source = hit.get("_source", {})
    highlight = hit.get("highlight", {})
    title = str(source.get("title") or "")
    return SearchHit(
        id=str(hit["_id"]),
        title=title,
        published_at=source.get("published_at"),
        source=(source.get("source") or {}).get("domain", ""),
        url=source.get("canonical_url") or source.get("url", ""),  # without tracking parameters
        snippet=_snippet(highlight, source),
        score=hit.get("_score"),
        title_highlighted=highlight.get("title", [title])[0],
    )


def _snippet(highlight: dict[str, list[str]], source: dict[str, Any]) -> str:
    """Matched body fragments, else the matched summary, else the body's opening or the summary."""
    matched = [name for name in ("body", "summary") if any(HIGHLIGHT_PRE in f for f in highlight.get(name, []))]
    for name in [*matched, "body"]:
        if highlight.get(name):
            return " … ".join(highlight[name])
    summary = str(source.get("summary") or "")
    return summary if len(summary) <= SNIPPET_CHARS else summary[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"


def parse_date(value: str) -> date:
    """A CLI date: YYYY-MM-DD or a full ISO timestamp (its date is used)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
