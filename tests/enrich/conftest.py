"""One Enricher (and so one spaCy model) per test session: loading it costs seconds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from pipeline.config import Settings
from pipeline.enrich import Enricher
from pipeline.enrich.topic_model import OpenGate
from pipeline.models import Article

MakeArticle = Callable[..., Article]


@pytest.fixture(scope="session")
def enricher() -> Enricher:
    return Enricher(Settings())


@pytest.fixture(scope="session")
def rules_enricher(enricher: Enricher) -> Enricher:
    """The topic rules without the article and topic models: for tests of one rule mechanism."""
    return Enricher(Settings(), nlp=enricher.nlp, scorer=OpenGate())


@pytest.fixture
def make_article() -> MakeArticle:
    counter = iter(range(1_000_000))

    def make(body: str, title: str = "", date: str | None = "2015-06-01", language: str | None = "en") -> Article:
        published = datetime.fromisoformat(date).replace(tzinfo=UTC) if date else None
        return Article.new(
            f"https://test.invalid/{next(counter)}", title=title, body=body, published_at=published, language=language
        )

    return make
