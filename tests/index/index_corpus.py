"""A small diplomacy corpus written for the index tests (not copied from any outlet)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from pipeline.models import Article, Entity, EntityType, Office, Provenance, SourceRef, Topic


def make_article(
    slug: str,
    title: str,
    body: str,
    published: str,
    countries: tuple[str, ...] = (),
    persons: tuple[str, ...] = (),
    organizations: tuple[str, ...] = (),
    topics: tuple[str, ...] = (),
    domain: str = "wire.example",
) -> Article:
    entities = tuple(Entity(name=p, type=EntityType.PERSON, mentions=1, surface_forms=(p,)) for p in persons) + tuple(
        Entity(name=o, type=EntityType.ORGANIZATION, mentions=1) for o in organizations
    )
    return Article.new(
        f"https://{domain}/news/{slug}",
        source=SourceRef(domain=domain, id=domain.split(".")[0]),
        title=title,
        summary=body.split(". ")[0] + ".",
        published_at=datetime.fromisoformat(published).replace(tzinfo=UTC),
        fetched_at=datetime(2025, 1, 10, tzinfo=UTC),
        language="en",
        countries=countries,
        persons=persons,
        organizations=organizations,
        entities=entities,
        topics=tuple(Topic(id=t, label=t.title(), score=0.8, evidence=(t,)) for t in topics),
        provenance=Provenance(fetch_url=f"https://{domain}/news/{slug}", run_id="test"),
    ).with_text(body)


CORPUS = (
    make_article(
        "kuril-talks",
        "Tokyo and Moscow resume talks on the Kuril Islands",
        "Japanese and Russian diplomats met in Moscow to resume talks on the Kuril Islands, which Japan "
        "calls the Northern Territories. The foreign ministers agreed to meet again in spring.",
        "2024-03-04T09:00:00",
        countries=("JP", "RU"),
        persons=("Yoko Kamikawa", "Sergey Lavrov"),
        topics=("territorial-dispute",),
    ),
    make_article(
        "eu-sanctions",
        "EU adopts new sanctions package",
        "The European Union adopted a new package of sanctions targeting shipping and banks. "
        "Member states said the measures would be reviewed in six months.",
        "2024-02-20T14:30:00",
        countries=("BE", "RU"),
        organizations=("European Union",),
        topics=("sanctions",),
        domain="brussels.example",
    ),
    make_article(
        "un-assembly",
        "General Assembly votes on ceasefire resolution",
        "The United Nations General Assembly voted on a resolution calling for a humanitarian ceasefire. "
        "Delegates from more than one hundred states spoke during the session.",
        "2024-01-15T18:00:00",
        countries=("US",),
        organizations=("United Nations",),
        topics=("un-diplomacy",),
    ),
    make_article(
        "asean-summit",
        "ASEAN leaders gather for annual summit",
        "Leaders of Southeast Asian nations gathered for the annual summit to discuss maritime security "
        "and trade. Japan sent an observer delegation to the talks.",
        "2023-11-02T06:00:00",
        countries=("ID", "JP"),
        organizations=("ASEAN",),
        topics=("summit",),
        domain="asia.example",
    ),
)


def full_article() -> Article:
    """An article with every field set, nested records included, for mapping coverage checks."""
    person = Entity(
        name="Sergey Lavrov",
        type=EntityType.PERSON,
        ids={"wikidata": "Q16202"},
        country="RU",
        mentions=3,
        surface_forms=("Lavrov", "Sergei Lavrov"),
        offices=(Office(title="Minister of Foreign Affairs", country="RU", start="2004-03-09", end=None),),
    )
    return dataclasses.replace(
        CORPUS[0],
        authors=("A. Writer",),
        published_precision="second",
        modified_at=datetime(2024, 3, 5, tzinfo=UTC),
        section="world",
        keywords=("diplomacy",),
        image_url="https://wire.example/img.jpg",
        methods={"title": "jsonld", "body": "trafilatura"},
        entities=(person,),
        locations=("Moscow",),
        key_phrases=("peace treaty",),
        tone=-0.2,
        enrichment_scope="full",
        story_id="story-1",
        provenance=Provenance(fetch_url="https://wire.example/a", warc_file="x.warc.gz", warc_offset=10, run_id="r1"),
    )
