"""No work done twice: one decode and one parse per page, one spaCy Doc per text part shared by every
enrichment component, the Enricher and the gate built once per process."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sample_pages import page

import pipeline.extract as extract_module
from pipeline.config import Settings, load_settings
from pipeline.enrich.base import split_parts
from pipeline.gate import Scopes, gate_for
from pipeline.outcomes import Tally
from pipeline.process import enricher_for, process
from pipeline.sources import Scope


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, overrides={"home": str(tmp_path / "home")})


def test_each_page_is_decoded_and_parsed_once_and_each_part_is_one_doc(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"decode": 0, "parse": 0, "docs": 0, "make_doc": 0}
    real_decode, real_parse = extract_module.decode_page, extract_module.parse

    def decode(*args: Any) -> Any:
        calls["decode"] += 1
        return real_decode(*args)

    def parse(*args: Any) -> Any:
        calls["parse"] += 1
        return real_parse(*args)

    monkeypatch.setattr(extract_module, "decode_page", decode)
    monkeypatch.setattr(extract_module, "parse", parse)
    enricher = enricher_for(settings)
    real_pipe, real_make_doc = enricher.nlp.pipe, enricher.nlp.make_doc

    def pipe(texts: Iterable[str], **kwargs: Any) -> Iterator[Any]:
        def counted() -> Iterator[str]:
            for text in texts:
                calls["docs"] += 1
                yield text

        return real_pipe(counted(), **kwargs)  # type: ignore[no-any-return]

    def make_doc(text: str) -> Any:
        calls["make_doc"] += 1
        return real_make_doc(text)

    monkeypatch.setattr(enricher.nlp, "pipe", pipe)
    monkeypatch.setattr(enricher.nlp, "make_doc", make_doc)
    pages = [page(n, diplomacy=n % 2 == 0, source="desk") for n in range(10)]
    articles = list(process(pages, settings, Tally(), scopes=Scopes({"desk": Scope.DIPLOMACY})))
    assert calls["decode"] == calls["parse"] == 10  # gated pages too: the gate reads the extracted text
    parts = sum(len(list(split_parts(a.title, a.body, settings.enrich.max_chunk_chars))) for a in articles)
    assert len(articles) == 5 and calls["docs"] == parts == calls["make_doc"]  # pipe makes each Doc once
    assert enricher_for(settings) is enricher and gate_for(settings) is gate_for(load_settings(environ={}))
