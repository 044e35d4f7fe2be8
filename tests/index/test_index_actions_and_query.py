"""Pure tests: the bulk action builder, error descriptions, and the search request builder."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import date

from index_corpus import CORPUS

from pipeline.index.bulk import article_action, describe_error, document_action
from pipeline.index.client import EngineUnavailable
from pipeline.index.search import (
    SearchQuery,
    build_query,
    expand_synonyms,
    histogram_interval,
    to_simple_query_syntax,
)


def test_action_id_is_the_article_id_and_source_is_its_json() -> None:
    article = CORPUS[0]
    action = article_action(article, "articles-write")
    assert action == {
        "_op_type": "index",
        "_index": "articles-write",
        "_id": article.id,
        "_source": article.to_dict(),
    }
    assert article_action(dataclasses.replace(article, title="changed"), "x")["_id"] == article.id


def test_document_action_for_raw_documents() -> None:
    action = document_action({"id": "abc", "published_at": "not a date"}, "idx", op_type="create")
    assert (action["_id"], action["_op_type"], action["_source"]["published_at"]) == (
        "abc",
        "create",
        "not a date",
    )


def test_describe_error_keeps_the_root_cause() -> None:
    info = {
        "status": 400,
        "error": {
            "type": "document_parsing_exception",
            "reason": "failed to parse field [published_at]",
            "caused_by": {
                "type": "illegal_argument_exception",
                "reason": "failed to parse date field [soon]",
            },
        },
    }
    error_type, reason = describe_error(info)
    assert error_type == "document_parsing_exception"
    assert "published_at" in reason and "soon" in reason


def test_engine_unavailable_survives_pickling() -> None:
    error = EngineUnavailable("not reachable: run `chancery engine start`", "http://127.0.0.1:1")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.url) == (str(error), error.url)


def test_or_and_words_become_operators_outside_quotes() -> None:
    assert (
        to_simple_query_syntax('sanctions OR embargo -oil "war OR peace"') == 'sanctions | embargo -oil "war OR peace"'
    )
    assert to_simple_query_syntax("talks AND summit") == "talks + summit"


def test_query_uses_simple_query_string_over_weighted_fields_with_and() -> None:
    request = build_query(SearchQuery(text='"Kuril talks" -sanctions'))
    sqs = request["query"]["bool"]["must"][0]["simple_query_string"]
    assert sqs["query"] == '"Kuril talks" -sanctions'
    assert {"title^3", "summary^2", "body", "persons.text", "organizations.text"} <= set(sqs["fields"])
    assert sqs["default_operator"] == "and"  # so `-x` excludes instead of widening
    assert set(request["highlight"]["fields"]) >= {"title", "body"}
    assert set(request["aggs"]) == {"countries", "persons", "organizations", "topics", "sources", "brief", "published"}


def test_filters_are_filters() -> None:
    q = SearchQuery(
        countries=("jp", "ru"),
        topic="sanctions",
        source="www.Wire.example",
        date_from=date(2024, 1, 1),
        date_to=date(2024, 1, 31),
        person="Lavrov",
    )
    request = build_query(q)
    assert request["query"]["bool"]["must"] == [{"match_all": {}}]
    filters = request["query"]["bool"]["filter"]
    assert {"term": {"countries": "JP"}} in filters
    assert {"term": {"countries": "RU"}} in filters  # both must appear: Japan AND Russia
    assert {"term": {"topics.id": "sanctions"}} in filters
    assert {"range": {"published_at": {"gte": "2024-01-01", "lte": "2024-01-31||/d"}}} in filters
    assert "wire.example" in str(filters)
    assert "Lavrov" in str(filters)
    assert request["sort"] == [{"published_at": {"order": "desc", "missing": "_last"}}]  # no text: newest first


def test_histogram_interval_follows_the_window() -> None:
    assert histogram_interval(SearchQuery()) == "month"
    assert histogram_interval(SearchQuery(date_from=date(2024, 1, 1), date_to=date(2024, 1, 20))) == "day"
    assert histogram_interval(SearchQuery(date_from=date(2024, 1, 1), date_to=date(2024, 9, 1))) == "week"


def test_diplomacy_names_expand_to_their_synonym_group() -> None:
    assert expand_synonyms("DPRK talks") == '(dprk | "north korea" | "democratic people\'s republic of korea") talks'
    assert expand_synonyms('"Northern Territories" -fishing').startswith('("northern territories" | "kuril islands"')
    assert expand_synonyms("talks -UN") == 'talks -(un | "united nations")'
    assert expand_synonyms("unity summit") == "unity summit"  # whole words only
    assert expand_synonyms('"UN reform"') == '"UN reform"'  # a longer phrase stays exact
    sqs = build_query(SearchQuery(text="EU OR NATO"))["query"]["bool"]["must"][0]["simple_query_string"]
    assert (
        sqs["query"]
        == '(eu | "european union") | (nato | "north atlantic treaty organization" | "north atlantic alliance")'
    )
