"""Pure tests of the index design: the analysis decision, names, and mapping coverage."""

from __future__ import annotations

from typing import Any

from index_corpus import full_article

from pipeline.index.mapping import (
    HUNSPELL_PROBE_EXPECTED,
    SEARCH_ANALYZER,
    TEXT_ANALYZER,
    Analysis,
    AnalysisDecision,
    IndexNames,
    analysis_settings,
    article_mappings,
    decide_analysis,
    template_body,
)

BARE_MODULES = {"apm", "transport-netty4", "x-pack-core", "x-pack-security"}


def test_analysis_common_wins_even_with_hunspell() -> None:
    decision = decide_analysis(BARE_MODULES | {"analysis-common"}, list(HUNSPELL_PROBE_EXPECTED))
    assert decision.choice is Analysis.ENGLISH


def test_bare_distribution_with_dictionary_uses_hunspell() -> None:
    assert decide_analysis(BARE_MODULES, list(HUNSPELL_PROBE_EXPECTED)).choice is Analysis.HUNSPELL


def test_no_dictionary_falls_back_to_standard() -> None:
    decision = decide_analysis(BARE_MODULES, None)
    assert decision.choice is Analysis.STANDARD
    assert "no hunspell" in decision.reason


def test_a_probe_that_does_not_stem_falls_back_to_standard() -> None:
    unstemmed = ["sanctions", "imposed", "on", "russian", "talks"]
    decision = decide_analysis(BARE_MODULES, unstemmed)
    assert decision.choice is Analysis.STANDARD
    assert "sanctions imposed" in decision.reason


def test_every_choice_defines_both_analyzers() -> None:
    for choice in Analysis:
        analyzers = analysis_settings(choice)["analyzer"]
        assert {TEXT_ANALYZER, SEARCH_ANALYZER} <= set(analyzers)


def test_synonyms_only_at_search_time_and_only_with_analysis_common() -> None:
    english = analysis_settings(Analysis.ENGLISH)
    assert "diplomacy_synonyms" in english["analyzer"][SEARCH_ANALYZER]["filter"]
    assert "diplomacy_synonyms" not in english["analyzer"][TEXT_ANALYZER]["filter"]
    assert english["filter"]["diplomacy_synonyms"]["type"] == "synonym_graph"
    assert any(
        "kuril islands" in rule and "northern territories" in rule
        for rule in english["filter"]["diplomacy_synonyms"]["synonyms"]
    )
    hunspell = analysis_settings(Analysis.HUNSPELL)
    assert "synonym" not in str(hunspell)  # the bare distribution has no synonym filter


def _uncovered(value: Any, properties: dict[str, Any], path: str) -> list[str]:
    """Keys of a to_dict() value that the mapping does not declare, recursively."""
    missing: list[str] = []
    if isinstance(value, list):
        for item in value:
            missing += _uncovered(item, properties, path)
        return missing
    if not isinstance(value, dict):
        return missing
    for key, item in value.items():
        spec = properties.get(key)
        if spec is None:
            missing.append(f"{path}{key}")
        elif spec.get("enabled") is False or spec.get("dynamic") is True:
            continue  # stored as is (methods) or mapped by a dynamic template (entities.ids)
        elif "properties" in spec:
            missing += _uncovered(item, spec["properties"], f"{path}{key}.")
    return missing


def test_every_article_field_is_mapped() -> None:
    document = full_article().to_dict()
    mappings = article_mappings(AnalysisDecision(Analysis.HUNSPELL, "test"))
    assert mappings["dynamic"] == "strict"
    assert _uncovered(document, mappings["properties"], "") == []
    assert set(document) == set(mappings["properties"])  # nothing mapped that the record lacks


def test_key_field_types() -> None:
    properties = article_mappings(AnalysisDecision(Analysis.STANDARD, "test"))["properties"]
    assert properties["published_at"]["type"] == "date"
    assert properties["title"]["fields"]["exact"]["type"] == "keyword"
    assert properties["topics"]["type"] == "nested"
    assert properties["topics"]["properties"]["id"]["type"] == "keyword"
    assert properties["entities"]["type"] == "nested"
    assert properties["countries"]["type"] == "keyword"
    assert properties["methods"]["enabled"] is False


def test_fingerprint_changes_with_analysis_only() -> None:
    def fp(choice: Analysis) -> str:
        return str(article_mappings(AnalysisDecision(choice, "x"))["_meta"]["fingerprint"])

    assert fp(Analysis.HUNSPELL) == fp(Analysis.HUNSPELL)
    assert fp(Analysis.HUNSPELL) != fp(Analysis.STANDARD)


def test_names_and_template() -> None:
    names = IndexNames("articles")
    assert (names.read_alias, names.write_alias, names.deadletter) == (
        "articles",
        "articles-write",
        "articles-deadletter",
    )
    assert names.concrete(3) == "articles-v3"
    assert names.version_of("articles-v12") == 12
    assert names.version_of("articles-deadletter") is None
    assert names.version_of("other-articles-v1") is None
    body = template_body(names, AnalysisDecision(Analysis.HUNSPELL, "x"))
    assert body["index_patterns"] == ["articles-v*"]
    assert "aliases" not in body["template"]  # aliases are moved explicitly, never by the template
