"""The offline batch end to end on project-written pages: real extraction and enrichment, no engine."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.models import article_id
from pipeline.outcomes import Outcome, Tally
from pipeline.process import process, read_inputs, read_jsonl

ARTICLES = Path(__file__).resolve().parents[1] / "fixtures" / "articles"


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Tally]:
    from pipeline.config import load_settings

    settings = load_settings(environ={}, overrides={"home": str(tmp_path_factory.mktemp("home"))})
    tally = Tally()
    articles = {a.canonical_url: a for a in process(read_inputs([ARTICLES]), settings, tally)}
    return articles, tally  # type: ignore[return-value]


def test_good_pages_become_articles_and_bad_ones_are_counted(processed: tuple[dict, Tally]) -> None:
    articles, tally = processed
    assert len(articles) == 3
    assert tally.counts[Outcome.PROCESSED.value] == 3
    rejected = sum(n for k, n in tally.counts.items() if k != Outcome.PROCESSED.value)
    assert rejected == 2  # the garbled page and the empty page, each with a reason
    assert all(tally.reasons.get(k) for k in tally.counts if k != Outcome.PROCESSED.value)


def test_outcomes_are_counted_per_source(processed: tuple[dict, Tally]) -> None:
    _, tally = processed
    by_source = tally.source_counts()
    assert by_source["meridian"] == {Outcome.PROCESSED.value: 2}  # the sidecar's source id
    assert by_source["harbour-news.example"] == {Outcome.PROCESSED.value: 1}  # no id: the domain
    rejected = by_source["meridian-herald.example"]
    assert sum(rejected.values()) == 2 and Outcome.PROCESSED.value not in rejected


def test_the_model_article_is_cleaned_and_enriched(processed: tuple[dict, Tally]) -> None:
    articles, _ = processed
    canonical = "https://meridian-herald.example/2015/09/29/abe-putin-peace-treaty.html"
    article = articles[canonical]
    assert article.id == article_id(canonical)  # tracking parameters gone, canonical link honoured
    assert article.title == "Abe and Putin agree to restart peace treaty talks at UN"
    assert set(article.authors) == {"Helen Marsh", "Kenji Sato"}
    assert article.published_at.isoformat() == "2015-09-29T12:15:00+00:00"
    assert "Northern Territories" in article.body
    assert "Sign up for our daily briefing" not in article.body
    assert "Related stories" not in article.body
    assert {"JP", "RU"} <= set(article.countries)
    assert "Vladimir Putin" in article.persons and "Shinzo Abe" in article.persons
    assert "territorial-dispute" in {t.id for t in article.topics}
    assert article.language == "en"


def test_a_football_report_gets_no_diplomacy_topic(processed: tuple[dict, Tally]) -> None:
    articles, _ = processed
    sport = articles["https://harbour-news.example/sport/2015/10/03/cup-final.html"]
    assert sport.topics == ()


def test_cli_process_writes_json_lines_and_survives_a_truncated_warc(tmp_path: Path, settings: Settings) -> None:
    pages = tmp_path / "pages"
    shutil.copytree(ARTICLES, pages)
    truncated = pages / "broken.warc.gz"
    record = b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 999\r\n\r\nHTTP/1.1 200"
    truncated.write_bytes(gzip.compress(record)[:40])
    out = tmp_path / "out.jsonl"
    code = main(["--home", str(settings.home), "process", str(pages), "-o", str(out)])
    assert code == 0
    written = list(read_jsonl(out))
    assert len(written) == 3
    assert all(a.body and a.word_count > 50 for a in written)


def test_a_page_without_url_is_a_bad_record_not_a_crash(tmp_path: Path) -> None:
    page = tmp_path / "lonely.html"
    page.write_text("<html><body><p>text</p></body></html>")
    (result,) = list(read_inputs([page]))
    assert getattr(result, "outcome", None) == Outcome.BAD_RECORD
    assert "--url" in result.reason
