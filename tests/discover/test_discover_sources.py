"""The sources file: the shipped one loads; mistakes are reported with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import DEFAULT_SOURCES
from pipeline.sources import SourceKind, SourcesError, load_sources, select_sources


def test_the_shipped_sources_file_is_valid_and_covers_the_ministries() -> None:
    sources = load_sources(DEFAULT_SOURCES)
    ids = {s.id for s in sources}
    for expected in (
        "un-news-en",
        "un-press",
        "us-state-press",
        "uk-fcdo",
        "jp-mofa-en",
        "ru-mid-en",
        "fr-diplomatie",
        "de-auswaertiges-amt-en",
        "cn-mfa-en",
        "in-mea",
    ):
        assert expected in ids
    assert all(s.language for s in sources)
    assert {s.kind for s in sources} >= {SourceKind.RSS, SourceKind.SITEMAP, SourceKind.WARC}
    assert "cc-news-local" not in {s.id for s in select_sources(sources, None)}  # disabled until asked for


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("sources:\n  - id: a\n    name: A\n    kind: rss2\n    url: https://x.org/f\n", 4, "'kind' must be one of"),
        ("sources:\n  - id: a\n    name: A\n    kind: rss\n", 2, "needs 'url'"),
        ("sources:\n  - id: a\n    name: A\n    kind: rss\n    url: ftp://x.org/f\n", 5, "not an http(s) URL"),
        ("sources:\n  - id: a\n    name: A\n    kind: urls\n    urls: []\n", 5, "needs 'urls: [...]'"),
        ("sources:\n  - id: a\n    name: A\n    kind: warc\n", 2, "needs 'path'"),
        ("sources:\n  - id: Bad Id\n    name: A\n    kind: rss\n    url: https://x.org/f\n", 2, "'id' must be"),
        ("sources:\n  - id: a\n    kind: rss\n    url: https://x.org/f\n", 2, "'name' is required"),
        (
            "sources:\n  - id: a\n    name: A\n    kind: rss\n    url: https://x.org/f\n    language: English\n",
            6,
            "'language' must be",
        ),
        (
            "sources:\n  - id: a\n    name: A\n    kind: rss\n    url: https://x.org/f\n    politeness: {delay: -1}\n",
            6,
            "politeness.delay",
        ),
        (
            "sources:\n  - id: a\n    name: A\n    kind: rss\n    url: https://x.org/f\n"
            "  - id: a\n    name: B\n    kind: rss\n    url: https://x.org/g\n",
            6,
            "duplicate id",
        ),
        ("sources:\n  - id: a\n    name: [unclosed\n", 4, "not valid YAML"),
        ("feeds: []\n", 1, "no 'sources' key"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SourcesError) as error:
        load_sources(path)
    assert str(error.value).startswith(f"{path}:{line}:"), str(error.value)
    assert message in str(error.value)


def test_extra_keys_are_kept_and_overrides_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "sources:\n  - id: un-news\n    name: UN News\n    kind: rss\n"
        "    url: https://news.un.org/feed/subscribe/en/news/all/rss.xml\n    language: en\n"
        "    politeness: {delay: 2.5, concurrency: 1}\n    owner: desk-7\n",
    )
    (source,) = load_sources(path)
    assert source.url == "https://news.un.org/feed/subscribe/en/news/all/rss.xml"
    assert source.politeness.delay == 2.5 and source.politeness.concurrency == 1
    assert source.extra == {"owner": "desk-7"}


def test_unknown_source_id_is_an_error() -> None:
    with pytest.raises(SourcesError, match="unknown source id"):
        select_sources(load_sources(DEFAULT_SOURCES), ["no-such-desk"])
