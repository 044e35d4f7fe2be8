"""Pure index design: names, the analysis decision, mappings and the composable template.

Nothing here talks to Elasticsearch, so every decision is unit-tested without a cluster.
``setup.py`` asks the engine what it offers and feeds the answers into these functions.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipeline import PIPELINE_VERSION

# Bump when the article mapping or analysis changes: `chancery index setup` then creates
# `{prefix}-v{N}` and `chancery reindex` fills it and moves the aliases.
MAPPING_VERSION = 3  # 2: `brief`, `diplomacy`, `enrichment_versions`; 3: `provenance.archive_url`, `.archived_at`,
# `source.scope`

# The probe from the engine issue: core hunspell with en_US must reduce these words to stems.
HUNSPELL_PROBE_TEXT = "Sanctions imposed on Russian talks"
HUNSPELL_PROBE_EXPECTED = ("sanction", "impose", "on", "russian", "talk")
HUNSPELL_LOCALE = "en_US"

# Search-time synonyms for the full engine: names diplomats, wires and governments use for the
# same thing. Search-time only, so the list can grow without a reindex. Lower case: the rules
# are analysed by the filters that precede the synonym filter (possessive stemmer, lowercase).
DIPLOMACY_SYNONYMS = (
    "northern territories, kuril islands, southern kurils",
    "un, united nations",
    "unsc, un security council, united nations security council",
    "unga, un general assembly, united nations general assembly",
    "dprk, north korea, democratic people's republic of korea",
    "rok, south korea, republic of korea",
    "prc, people's republic of china",
    "eu, european union",
    "nato, north atlantic treaty organization, north atlantic alliance",
    "asean, association of southeast asian nations",
    "iaea, international atomic energy agency",
    "imf, international monetary fund",
    "wto, world trade organization",
    "uk, united kingdom, britain",
    "usa, united states",
    "g7, group of seven",
    "g20, group of twenty",
    "au, african union",
    "icj, international court of justice",
    "icc, international criminal court",
)

TEXT_ANALYZER = "chancery_text"  # index time
SEARCH_ANALYZER = "chancery_search"  # query time (adds synonyms where the engine has them)


class Analysis(StrEnum):
    ENGLISH = "english"  # analysis-common: stemmer + stop words + synonym_graph at search time
    HUNSPELL = "hunspell"  # core hunspell filter with the en_US dictionary in the node's config
    STANDARD = "standard"  # neither: the standard analyzer, no stemming


@dataclass(frozen=True)
class AnalysisDecision:
    choice: Analysis
    reason: str


def decide_analysis(modules: Collection[str], hunspell_tokens: Sequence[str] | None) -> AnalysisDecision:
    """Pick the best analysis the engine supports from its module list and the hunspell probe.

    ``hunspell_tokens`` is what ``_analyze`` returned for ``HUNSPELL_PROBE_TEXT`` with the
    hunspell filter, or None when the probe failed (no dictionary installed).
    """
    if "analysis-common" in modules:
        return AnalysisDecision(
            Analysis.ENGLISH, "analysis-common module present: english stemmer, stop words, synonyms"
        )
    if hunspell_tokens is not None and tuple(hunspell_tokens) == HUNSPELL_PROBE_EXPECTED:
        return AnalysisDecision(Analysis.HUNSPELL, f"no analysis-common; hunspell {HUNSPELL_LOCALE} probe stems words")
    if hunspell_tokens is None:
        reason = f"no analysis-common and no hunspell {HUNSPELL_LOCALE} dictionary: no stemming"
    else:
        reason = f"hunspell probe gave {' '.join(hunspell_tokens)!r}, not the expected stems: no stemming"
    return AnalysisDecision(Analysis.STANDARD, reason)


def hunspell_probe_request() -> dict[str, Any]:
    return {
        "tokenizer": "standard",
        "filter": ["lowercase", {"type": "hunspell", "locale": HUNSPELL_LOCALE, "dedup": True}],
        "text": HUNSPELL_PROBE_TEXT,
    }


def analysis_settings(choice: Analysis) -> dict[str, Any]:
    """The `analysis` block for the chosen strategy, defining TEXT_ANALYZER and SEARCH_ANALYZER."""
    if choice is Analysis.ENGLISH:
        index_chain = ["english_possessive", "lowercase", "english_stop", "english_stemmer"]
        search_chain = [
            "english_possessive",
            "lowercase",
            "diplomacy_synonyms",
            "english_stop",
            "english_stemmer",
        ]
        return {
            "filter": {
                "english_possessive": {"type": "stemmer", "language": "possessive_english"},
                "english_stop": {"type": "stop", "stopwords": "_english_"},
                "english_stemmer": {"type": "stemmer", "language": "english"},
                # synonym_graph is search-time only: multi-word synonyms need the graph at query time.
                "diplomacy_synonyms": {
                    "type": "synonym_graph",
                    "synonyms": list(DIPLOMACY_SYNONYMS),
                    "lenient": True,
                },
            },
            "analyzer": {
                TEXT_ANALYZER: {"type": "custom", "tokenizer": "standard", "filter": index_chain},
                SEARCH_ANALYZER: {"type": "custom", "tokenizer": "standard", "filter": search_chain},
            },
        }
    if choice is Analysis.HUNSPELL:
        # `stop` and `lowercase` are core filters, so they exist on the bare distribution too.
        chain = ["lowercase", "stop", "english_hunspell"]
        return {
            "filter": {"english_hunspell": {"type": "hunspell", "locale": HUNSPELL_LOCALE, "dedup": True}},
            "analyzer": {
                TEXT_ANALYZER: {"type": "custom", "tokenizer": "standard", "filter": chain},
                SEARCH_ANALYZER: {"type": "custom", "tokenizer": "standard", "filter": chain},
            },
        }
    return {
        "analyzer": {
            TEXT_ANALYZER: {"type": "standard"},
            SEARCH_ANALYZER: {"type": "standard"},
        }
    }


# ---------------------------------------------------------------------------------------------
# Names


@dataclass(frozen=True)
class IndexNames:
    """Every index, alias and template name derived from the one configured prefix."""

    prefix: str

    @property
    def read_alias(self) -> str:
        return self.prefix

    @property
    def write_alias(self) -> str:
        return f"{self.prefix}-write"

    @property
    def template(self) -> str:
        return f"{self.prefix}-template"

    @property
    def pattern(self) -> str:
        return f"{self.prefix}-v*"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}-deadletter"

    def concrete(self, version: int) -> str:
        return f"{self.prefix}-v{version}"

    def version_of(self, index: str) -> int | None:
        """The N of `{prefix}-vN`, or None for an index that is not one of ours."""
        match = re.fullmatch(re.escape(self.prefix) + r"-v(\d+)", index)
        return int(match.group(1)) if match else None


# ---------------------------------------------------------------------------------------------
# Article mapping

_URL = {"type": "keyword", "ignore_above": 2048}
_NAME = {"type": "keyword", "ignore_above": 256}


def _text(**extra: Any) -> dict[str, Any]:
    return {"type": "text", "analyzer": TEXT_ANALYZER, "search_analyzer": SEARCH_ANALYZER, **extra}


def _keyword_with_text() -> dict[str, Any]:
    """A keyword for filters and Kibana aggregations, plus `.text` so free text finds it."""
    return {**_NAME, "fields": {"text": _text()}}


def article_properties() -> dict[str, Any]:
    """One entry per field of `Article.to_dict()`; a unit test keeps the two in step."""
    return {
        "id": {"type": "keyword"},
        "url": _URL,
        "canonical_url": _URL,
        "source": {"properties": {
            "domain": {"type": "keyword"}, "id": {"type": "keyword"}, "scope": {"type": "keyword"},
        }},
        "fetched_at": {"type": "date"},
        "title": _text(fields={"exact": {"type": "keyword", "ignore_above": 512}}),
        "authors": _keyword_with_text(),
        "published_at": {"type": "date"},
        "published_precision": {"type": "keyword"},
        "modified_at": {"type": "date"},
        "language": {"type": "keyword"},
        # Offsets in the postings make highlighting long bodies cheap (no re-analysis).
        "body": _text(index_options="offsets"),
        "summary": _text(),
        "section": _NAME,
        "keywords": _keyword_with_text(),
        "image_url": {"type": "keyword", "index": False, "doc_values": False},
        "word_count": {"type": "integer"},
        # A facet: briefs (earnings lines, rate decisions) can be filtered in or out of a search.
        "brief": {"type": "boolean"},
        "content_hash": {"type": "keyword"},
        # field -> extraction method: kept for provenance, never searched.
        "methods": {"type": "object", "enabled": False},
        "entities": {
            "type": "nested",
            "properties": {
                "name": _keyword_with_text(),
                "type": {"type": "keyword"},
                # Any id scheme may appear (wikidata, geonames ...): mapped as keyword by a dynamic template.
                "ids": {"type": "object", "dynamic": True, "properties": {"wikidata": {"type": "keyword"}}},
                "country": {"type": "keyword"},
                "mentions": {"type": "integer"},
                "surface_forms": _keyword_with_text(),
                "offices": {
                    "type": "object",
                    "properties": {
                        "title": _keyword_with_text(),
                        "country": {"type": "keyword"},
                        # Gazetteer dates can be partial or odd; a bad one must not reject the article.
                        "start": {"type": "date", "ignore_malformed": True},
                        "end": {"type": "date", "ignore_malformed": True},
                    },
                },
            },
        },
        "persons": _keyword_with_text(),
        "organizations": _keyword_with_text(),
        "countries": {"type": "keyword"},
        "locations": _keyword_with_text(),
        # include_in_parent: `topics.id` also works as a flat field for filters and Kibana.
        "topics": {
            "type": "nested",
            "include_in_parent": True,
            "properties": {
                "id": {"type": "keyword"},
                "label": {"type": "keyword"},
                "score": {"type": "float"},
                "evidence": _text(),
            },
        },
        "key_phrases": _keyword_with_text(),
        "tone": {"type": "float"},
        "diplomacy": {"type": "float"},
        "enrichment_scope": {"type": "keyword"},
        "enrichment_versions": {
            "properties": {
                "ner": {"type": "keyword"},
                "taxonomy": {"type": "keyword"},
                "topic_model": {"type": "keyword"},
            }
        },
        "story_id": {"type": "keyword"},
        "provenance": {
            "properties": {
                "fetch_url": _URL,
                "warc_file": {"type": "keyword"},
                "warc_offset": {"type": "long"},
                "run_id": {"type": "keyword"},
                "archive_url": _URL,
                "archived_at": {"type": "date"},
            }
        },
        "pipeline_version": {"type": "keyword"},
    }


def article_mappings(decision: AnalysisDecision) -> dict[str, Any]:
    body: dict[str, Any] = {
        # strict: a field the mapping does not know is a bug upstream; it is dead-lettered, not guessed.
        "dynamic": "strict",
        "dynamic_templates": [
            {"entity_ids": {"path_match": "entities.ids.*", "mapping": {"type": "keyword"}}},
        ],
        "properties": article_properties(),
    }
    body["_meta"] = {
        "mapping_version": MAPPING_VERSION,
        "analysis": decision.choice.value,
        "fingerprint": fingerprint(body, analysis_settings(decision.choice)),
        "pipeline_version": PIPELINE_VERSION,
    }
    return body


def index_settings(decision: AnalysisDecision) -> dict[str, Any]:
    return {
        "number_of_shards": 1,  # a news archive of this size fits one shard; PIT scans stay simple
        "auto_expand_replicas": "0-1",  # green on one node, a replica as soon as there are two
        "analysis": analysis_settings(decision.choice),
    }


def fingerprint(mappings: dict[str, Any], analysis: dict[str, Any]) -> str:
    """A short hash of what decides how documents are indexed; a change means a reindex."""
    canonical = json.dumps({"mappings": mappings, "analysis": analysis}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def template_body(names: IndexNames, decision: AnalysisDecision) -> dict[str, Any]:
    """Keyword arguments for `indices.put_index_template`: every `{prefix}-vN` gets this."""
    return {
        "name": names.template,
        "index_patterns": [names.pattern],
        # Patterns of different prefixes never overlap, so one fixed priority is enough.
        "priority": 200,
        "template": {"settings": index_settings(decision), "mappings": article_mappings(decision)},
        "meta": {"managed_by": "chancery", "mapping_version": MAPPING_VERSION},
    }


# ---------------------------------------------------------------------------------------------
# Side indices: dead letters and run reports

DEADLETTER_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "article_id": {"type": "keyword"},
        "url": _URL,
        "index": {"type": "keyword"},
        "status": {"type": "integer"},
        "error_type": {"type": "keyword"},
        "reason": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}}},
        "failed_at": {"type": "date"},
        # The rejected document as sent: kept whole for replay, never indexed (it may be malformed).
        "document": {"type": "object", "enabled": False},
    },
}

_COUNT_OBJECTS = ("counts", "totals", "outcomes")  # {outcome or stage: number} in a run report

RUNS_MAPPINGS: dict[str, Any] = {
    # false, not strict: reports are written by the DAG side and may carry extra keys; those are
    # kept in _source, unindexed, and never make a report fail.
    "dynamic": False,
    "dynamic_templates": [
        {
            f"{name}_as_long": {
                "path_match": f"{name}.*",
                "match_mapping_type": "long",
                "mapping": {"type": "long"},
            }
        }
        for name in _COUNT_OBJECTS
    ],
    "properties": {
        "run_id": {"type": "keyword"},
        "dag_id": {"type": "keyword"},
        "task_id": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "run_type": {"type": "keyword"},
        "state": {"type": "keyword"},
        "status": {"type": "keyword"},
        "logical_date": {"type": "date"},
        "started_at": {"type": "date"},
        "finished_at": {"type": "date"},
        "recorded_at": {"type": "date"},
        "duration_seconds": {"type": "float"},
        "window": {"properties": {"start": {"type": "date"}, "end": {"type": "date"}}},
        **{name: {"type": "object", "dynamic": True} for name in _COUNT_OBJECTS},
        "indexed": {"type": "long"},
        "failed": {"type": "long"},
        "batches_failed": {"type": "long"},
        "reasons": {"type": "object", "enabled": False},
        "message": {"type": "text"},
        "kibana_url": {"type": "keyword", "index": False},
        "pipeline_version": {"type": "keyword"},
    },
}

SIDE_INDEX_SETTINGS: dict[str, Any] = {"number_of_shards": 1, "auto_expand_replicas": "0-1"}
# A report with an odd date or number still stores; the odd value stays in _source.
RUNS_INDEX_SETTINGS: dict[str, Any] = {**SIDE_INDEX_SETTINGS, "mapping.ignore_malformed": True}
