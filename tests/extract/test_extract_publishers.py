"""Publisher profiles: a publisher's choice between the headlines its page states, kept as data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from extract_pages import jsonld_script, page, raw

from pipeline.config import Settings
from pipeline.datafiles import DataFileError
from pipeline.extract import extract_page
from pipeline.extract.publishers import load_publishers

SHARE_TITLE = "Ministers agree to restart river treaty talks"
PAGE_HEADLINE = "Talks on river treaty to resume after two-year pause"
URL = "https://world.dailyledger.test/2026/03/03/river-talks"


def two_headline_page() -> str:
    """A page whose share title (og) and page headline (JSON-LD, <h1>) are worded differently."""
    head = (f'<meta property="og:title" content="{SHARE_TITLE} | The Daily Ledger">'
            + jsonld_script({"@context": "https://schema.org", "@type": "NewsArticle", "headline": PAGE_HEADLINE}))
    return page(title=PAGE_HEADLINE, head=head)


def settings_with(tmp_path: Path, registry: str) -> Settings:
    path = tmp_path / "publishers.yaml"
    path.write_text(registry, encoding="utf-8")
    base = Settings()
    return dataclasses.replace(base, extract=dataclasses.replace(base.extract, publishers=path))


def test_without_a_profile_the_jsonld_headline_is_the_title(tmp_path: Path) -> None:
    article = extract_page(raw(two_headline_page(), url=URL), settings_with(tmp_path, "publishers: []\n")).article
    assert article is not None
    assert (article.title, article.methods["title"]) == (PAGE_HEADLINE, "jsonld")


def test_a_profile_makes_the_share_title_the_title_on_every_subdomain(tmp_path: Path) -> None:
    registry = "publishers:\n  - {domain: dailyledger.test, name: The Daily Ledger, title: [og, jsonld]}\n"
    article = extract_page(raw(two_headline_page(), url=URL), settings_with(tmp_path, registry)).article
    assert article is not None
    assert (article.title, article.methods["title"]) == (SHARE_TITLE, "og")  # site name stripped


def test_a_profile_falls_back_when_its_first_source_is_missing(tmp_path: Path) -> None:
    registry = "publishers:\n  - {domain: dailyledger.test, name: The Daily Ledger, title: [meta-title, h1]}\n"
    article = extract_page(raw(two_headline_page(), url=URL), settings_with(tmp_path, registry)).article
    assert article is not None
    assert (article.title, article.methods["title"]) == (PAGE_HEADLINE, "h1")


def test_shipped_registry_loads_and_matches_by_registrable_domain() -> None:
    publishers = load_publishers(Settings().extract.publishers)
    assert len(publishers.by_domain) >= 10
    profile = publishers.for_url("https://fr.euronews.com/2026/01/01/story")
    assert profile.domain == "euronews.com" and profile.title_order[0] == "og"
    assert publishers.for_url("https://unknown-outlet.test/a").domain == ""


@pytest.mark.parametrize(("entry", "problem"), [
    ("{domain: Example.COM, name: X, title: [og]}", "lower-case host"),
    ("{domain: example.com, title: [og]}", "missing 'name'"),
    ("{domain: example.com, name: X, title: [headline]}", "'title' must be"),
    ("{domain: example.com, name: X, title: []}", "'title' must be"),
])
def test_malformed_profile_fails_naming_file_and_entry(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "publishers.yaml"
    path.write_text(f"publishers:\n  - {{domain: ok.test, name: OK, title: [og]}}\n  - {entry}\n", encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        load_publishers(path)
    assert caught.value.path == str(path)
    assert caught.value.entry.startswith("publishers[1]")
    assert problem in caught.value.problem


def test_a_broken_registry_fails_the_run_not_each_page(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "publishers:\n  - {domain: dailyledger.test, name: X, title: [byline]}\n")
    with pytest.raises(DataFileError, match="publishers\\[0\\]"):
        extract_page(raw(two_headline_page(), url=URL), settings)


def test_a_domain_listed_twice_fails(tmp_path: Path) -> None:
    path = tmp_path / "publishers.yaml"
    path.write_text("publishers:\n  - {domain: ok.test, name: A, title: [og]}\n"
                    "  - {domain: ok.test, name: B, title: [h1]}\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="listed twice"):
        load_publishers(path)
