"""A page served as UTF-8 but written in Windows-1252: fetched, captured, replayed and extracted, it reads right."""

from __future__ import annotations

from pathlib import Path

from fetch_newsroom import Newsroom, Reply

from pipeline.config import Settings
from pipeline.decode import decode_page
from pipeline.extract import extract_page
from pipeline.fetch import run_fetch
from pipeline.fetch.client import Fetcher
from pipeline.models import RawPage
from pipeline.outcomes import Outcome
from pipeline.sources import Source, SourceKind
from pipeline.warc import iter_responses

# Written for this test. Curly quotes are 0x93/0x94 and the apostrophe 0x92 in Windows-1252.
TEXT = (
    "The envoys met at the caf\u00e9 by the harbour on Tuesday. The chair called the draft \u201ca fair basis "
    "for a settlement\u201d and said the minister\u2019s proposal on fishing rights deserved a full hearing. "
    "Both delegations agreed to meet again in March, when technical teams will have mapped the disputed "
    "waters, and officials said a joint patrol commission could be set up before the summer season."
)
PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Envoys meet at the harbour</title>'
    '<meta property="og:type" content="article"></head><body><article><h1>Envoys meet at the harbour</h1>'
    f"<p>{TEXT}</p><p>{TEXT}</p></article></body></html>"
).encode("cp1252")


def test_mislabelled_windows_1252_reads_right_in_fetch_and_in_extraction(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    assert b"caf\xe9" in PAGE and b"\x93a fair basis" in PAGE and b"minister\x92s" in PAGE
    url = newsroom.route("/world/harbour-talks", Reply(body=PAGE, content_type="text/html; charset=utf-8"))
    with Fetcher(fetch_settings.fetch) as fetcher:
        fetched = fetcher.fetch(url)
    decoded = decode_page(fetched.body, fetched.content_type)
    assert "caf\u00e9 by the harbour" in decoded.text and "\u201ca fair basis" in decoded.text
    assert decoded.method == "detected"

    source = Source(id="harbour", name="Harbour desk", kind=SourceKind.URLS, urls=(url,))
    run = run_fetch(fetch_settings, [source], None, "charset", tmp_path, show_progress=False)
    (replayed,) = [p for p in iter_responses(run.warc_paths[0]) if isinstance(p, RawPage)]
    assert replayed.content == PAGE  # the capture keeps the bytes; extraction decodes them the same way
    result = extract_page(replayed, fetch_settings)
    assert result.outcome is Outcome.PROCESSED and result.article is not None
    assert "\u201ca fair basis for a settlement\u201d" in result.article.body
    assert "minister\u2019s proposal" in result.article.body and "\ufffd" not in result.article.body
    assert result.article.methods["encoding"] == f"detected:{decoded.encoding}"
