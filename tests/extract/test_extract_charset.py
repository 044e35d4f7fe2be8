"""One decoder for fetch and extraction: a page mislabelled UTF-8 but written in Windows-1252 reads right in both."""

from __future__ import annotations

from pathlib import Path

from extract_pages import STORY_A, page, raw

import pipeline.extract as extract
import pipeline.fetch.content as fetch_content
import pipeline.fetch.robots as robots
import pipeline.fetch.run as fetch_run
from pipeline.config import Settings
from pipeline.decode import DecodeFailed, decode_page
from pipeline.extract import extract_page
from pipeline.outcomes import Outcome

SETTINGS = Settings()

# Written for this test: an accent and the curly quotes Windows-1252 puts at 0x91-0x94.
CP1252_PARAGRAPH = (
    "Delegates met at the caf\u00e9 on the lake shore, where the chair called the draft "
    "\u201ca fair basis\u201d and said the envoy\u2019s proposal \u2018deserved a hearing\u2019 before March."
)


def _cp1252_page(charset_in_meta: str = "utf-8") -> bytes:
    html = page(paragraphs=[CP1252_PARAGRAPH, *STORY_A]).replace(
        '<meta charset="utf-8">', f'<meta charset="{charset_in_meta}">'
    )
    content = html.encode("cp1252")
    assert b"caf\xe9" in content and b"\x93a fair basis\x94" in content and b"envoy\x92s" in content
    return content


def test_utf8_label_on_windows_1252_bytes_extracts_the_right_text() -> None:
    result = extract_page(raw(_cp1252_page(), content_type="text/html; charset=utf-8"), SETTINGS)
    assert result.outcome is Outcome.PROCESSED and result.article is not None
    body = result.article.body
    assert "caf\u00e9 on the lake shore" in body
    assert "\u201ca fair basis\u201d" in body and "envoy\u2019s proposal \u2018deserved a hearing\u2019" in body
    assert "\ufffd" not in body
    assert result.article.methods["encoding"].startswith("detected:")


def _paragraphs(text: str, encoding: str) -> bytes:
    return f"<html><body><p>{text}</p><p>{text}</p></body></html>".encode(encoding)


def test_detection_ties_go_to_the_code_page_of_the_language() -> None:
    # Few accents score the same in cp1250, cp1252 and cp1257; read as cp1250, French "à" would be "ŕ".
    french = (
        "Le ministre a d\u00e9clar\u00e9 \u00e0 la presse que les n\u00e9gociations reprendraient \u00e0 "
        "Gen\u00e8ve, o\u00f9 elles s\u2019\u00e9taient arr\u00eat\u00e9es apr\u00e8s la tr\u00eave."
    )
    decoded = decode_page(_paragraphs(french, "cp1252"), "text/html; charset=utf-8")
    assert decoded.method == "detected" and decoded.encoding == "cp1252" and french in decoded.text
    # ...while Hungarian "ő" / "ű" and Polish "ł" stay what their cp1250 bytes were.
    hungarian = (
        "A k\u00fcl\u00fcgyminiszter tal\u00e1lkozott a nagyk\u00f6vettel; a t\u00e1rgyal\u00e1sok a "
        "gazdas\u00e1gi egy\u00fcttm\u0171k\u00f6d\u00e9sr\u0151l sz\u00f3ltak."
    )
    polish = (
        "Minister spotka\u0142 si\u0119 z ambasadorem; rozmowy dotyczy\u0142y "
        "wsp\u00f3\u0142pracy i bezpiecze\u0144stwa."
    )
    for text in (hungarian, polish):
        decoded = decode_page(_paragraphs(text, "cp1250"), "text/html; charset=utf-8")
        assert decoded.encoding == "cp1250" and text in decoded.text, text
    # Other scripts keep the detector's own choice: CJK punctuation after a kanji is not a stray symbol.
    japanese = "外務大臣は大使と会談し、地域の安全保障について意見を交換した。"
    hebrew = "שר החוץ נפגש עם השגריר לשיחות על הסדר שלום באזור."
    for text, encoding in ((japanese, "shift_jis"), (hebrew, "cp1255")):
        assert text in decode_page(_paragraphs(text, encoding), "text/html; charset=utf-8").text, encoding


def test_fetch_decodes_the_same_page_the_same_way() -> None:
    content = _cp1252_page()
    decoded = fetch_run.decode_page(content, "text/html; charset=utf-8")  # as the fetcher calls it
    assert "caf\u00e9" in decoded.text and "\u201ca fair basis\u201d" in decoded.text
    assert decoded.method == "detected"
    extracted = extract_page(raw(content, content_type="text/html; charset=utf-8"), SETTINGS)
    assert extracted.article is not None
    assert extracted.article.methods["encoding"] == f"{decoded.method}:{decoded.encoding}"


def test_there_is_one_decoder() -> None:
    # The very same function object in every module that turns page bytes into text.
    for module in (fetch_run, robots, extract):
        assert vars(module)["decode_page"] is decode_page, module.__name__
    assert fetch_run.DecodeFailed is DecodeFailed
    assert "decode_page" not in vars(fetch_content)  # no second way in
    import pipeline.extract.html as extract_html

    assert not hasattr(extract_html, "decode")
    # And only the decoder module detects charsets at all.
    package = Path(decode_page.__code__.co_filename).parent
    sources = package.rglob("*.py")
    detecting = {p.relative_to(package).as_posix() for p in sources if "charset_normalizer" in p.read_text()}
    assert detecting == {"decode.py"}


def test_declared_charset_wins_when_the_bytes_fit_it() -> None:
    content = _cp1252_page(charset_in_meta="windows-1252")
    by_header = decode_page(content, "text/html; charset=windows-1252")
    assert by_header.method == "header" and by_header.encoding == "cp1252"
    by_meta = decode_page(content, "text/html")
    assert by_meta.method == "meta" and "\u201ca fair basis\u201d" in by_meta.text
    # The header is wrong (UTF-8) and the meta right: the meta wins, no detection needed.
    assert decode_page(content, "text/html; charset=utf-8").method == "meta"


def test_stale_latin1_label_on_utf8_bytes_is_overruled() -> None:
    content = page(paragraphs=[CP1252_PARAGRAPH, *STORY_A]).encode("utf-8")
    decoded = decode_page(content, "text/html; charset=iso-8859-1")
    assert decoded.method == "header-overruled" and "\u201ca fair basis\u201d" in decoded.text


def test_byte_order_mark_is_stripped() -> None:
    decoded = decode_page("<p>caf\u00e9</p>".encode("utf-8-sig"), "text/html; charset=iso-8859-1")
    assert decoded.text == "<p>caf\u00e9</p>" and decoded.method == "bom"
    utf16 = decode_page("\ufeff<p>caf\u00e9</p>".encode("utf-16-le"), None)
    assert utf16.text == "<p>caf\u00e9</p>" and utf16.encoding == "utf-16-le"


def test_utf16_label_on_ascii_bytes_is_ignored() -> None:
    decoded = decode_page(b"<html><body><p>plain text here</p></body></html>", "text/html; charset=utf-16")
    assert decoded.text.startswith("<html>") and decoded.method == "utf-8"


def test_bytes_no_charset_reads_are_a_decode_error() -> None:
    noise = bytes(range(256)) * 200
    try:
        decode_page(noise, "text/html")
    except DecodeFailed:
        pass
    else:
        raise AssertionError("binary noise decoded")
    result = extract_page(raw(noise, content_type="text/html"), SETTINGS)
    assert result.outcome is Outcome.DECODE_ERROR and result.reason
