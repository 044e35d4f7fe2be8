"""Golden files: project-written pages in fixtures/ and the Article fields they must give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from extract_pages import FETCHED

from pipeline.config import Settings
from pipeline.extract import extract_page
from pipeline.models import RawPage, format_datetime
from pipeline.outcomes import Outcome

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CASES = sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", CASES)
def test_golden_page(name: str) -> None:
    expected = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    html = (FIXTURES / f"{name}.html").read_text(encoding="utf-8")
    content = html.encode(expected.get("encoding", "utf-8"))
    page = RawPage(url=expected["url"], content=content, content_type=expected["content_type"], fetched_at=FETCHED)
    result = extract_page(page, Settings())
    assert result.outcome is Outcome.PROCESSED, result.reason
    article = result.article
    assert article is not None
    assert article.title == expected["title"]
    assert list(article.authors) == expected["authors"]
    assert article.published_at is not None and format_datetime(article.published_at) == expected["published_at"]
    assert article.published_precision == expected["published_precision"]
    modified = format_datetime(article.modified_at) if article.modified_at else None
    assert modified == expected["modified_at"]
    assert article.language == expected["language"]
    assert article.summary == expected["summary"]
    assert article.section == expected["section"]
    assert list(article.keywords) == expected["keywords"]
    assert article.image_url == expected["image_url"]
    assert article.canonical_url == expected["canonical_url"]
    paragraphs = article.body.split("\n\n")
    assert len(paragraphs) == expected["paragraphs"]
    assert paragraphs[0].startswith(expected["body_first"])
    assert paragraphs[-1].endswith(expected["body_last"])
    for text in expected["body_absent"]:
        assert text not in article.body
    for field, method in expected["methods"].items():
        assert article.methods[field] == method, field
