"""The Article record: stable ids, JSON round trip, and the shipped JSON Schema."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from pipeline.models import (
    Article,
    Entity,
    EntityType,
    Office,
    Provenance,
    SourceRef,
    Topic,
    article_id,
    content_hash,
)

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "pipeline/schema/article.schema.json").read_text())


def full_article() -> Article:
    tokyo = timezone(timedelta(hours=9))
    return Article.new(
        url="https://news.example.org/2015/09/29/abe-putin.html?utm_source=x",
        canonical_url="https://news.example.org/2015/09/29/abe-putin.html",
        source=SourceRef(domain="news.example.org", id="example"),
        fetched_at=datetime(2015, 9, 29, 12, 0, tzinfo=UTC),
        title="Abe and Putin meet in New York",
        authors=("Aiko Tanaka",),
        published_at=datetime(2015, 9, 29, 21, 30, tzinfo=tokyo),
        published_precision="second",
        language="en",
        summary="The leaders discussed a peace treaty.",
        keywords=("Japan", "Russia"),
        methods={"title": "json-ld"},
        entities=(
            Entity(
                name="Vladimir Putin",
                type=EntityType.PERSON,
                ids={"wikidata": "Q7747"},
                country="RU",
                mentions=3,
                surface_forms=("Putin", "President Putin"),
                offices=(Office(title="President of Russia", country="RU", start="2012-05-07"),),
            ),
        ),
        persons=("Vladimir Putin",),
        countries=("JP", "RU"),
        topics=(
            Topic(id="territorial-dispute", label="Territorial dispute", score=0.9, evidence=("Northern Territories",)),
        ),
        tone=-0.1,
        story_id="abc",
        provenance=Provenance(warc_file="run.warc.gz", warc_offset=1234, run_id="r1"),
    ).with_text("Prime Minister Shinzo Abe met President Vladimir Putin.\n\nThey spoke of a treaty.")


def test_id_is_a_stable_hash_of_the_canonical_url() -> None:
    article = full_article()
    assert article.id == article_id("https://news.example.org/2015/09/29/abe-putin.html")
    assert article.id != article_id(article.url)
    again = Article.new(url="https://news.example.org/other", canonical_url=article.canonical_url)
    assert again.id == article.id


def test_with_text_keeps_word_count_and_hash_true() -> None:
    article = full_article()
    assert article.word_count == len(article.body.split()) == 13
    flat = "Prime Minister Shinzo Abe met President Vladimir Putin. They spoke of a treaty."
    assert article.content_hash == content_hash(flat)
    assert article.with_text("other words").content_hash != article.content_hash


def test_json_round_trip_is_lossless() -> None:
    article = full_article()
    data = json.loads(json.dumps(article.to_dict()))
    assert data["published_at"] == "2015-09-29T12:30:00Z"  # 21:30 in Tokyo is 12:30 UTC
    assert Article.from_dict(data) == dataclasses.replace(article)


def test_to_dict_matches_the_shipped_schema() -> None:
    jsonschema.validate(full_article().to_dict(), SCHEMA)
    jsonschema.validate(Article.new(url="https://e.org/a").to_dict(), SCHEMA)


def test_schema_and_record_name_the_same_fields() -> None:
    assert set(SCHEMA["properties"]) == {f.name for f in dataclasses.fields(Article)}


def test_schema_rejects_a_bad_country_code() -> None:
    data = full_article().to_dict()
    data["countries"] = ["Japan"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


def test_from_dict_refuses_unknown_fields() -> None:
    data = full_article().to_dict()
    data["colour"] = "red"
    with pytest.raises(ValueError, match="colour"):
        Article.from_dict(data)


def test_records_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        full_article().title = "changed"  # type: ignore[misc]
