"""Bytes to text to one lxml tree: decode once, parse once, never raise.

Charset order: a byte-order mark, then the HTTP ``Content-Type`` header, then a
``<meta charset>`` in the first bytes, then strict UTF-8, then detection with
charset-normalizer on a sample. Whatever wins, invalid bytes are replaced.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer
from lxml import html as lxml_html
from lxml.etree import ParserError, XMLSyntaxError

# The HTML spec asks browsers to look for a meta charset in the first 1024 bytes;
# real pages put it later behind long <head> comments, so we look a little further.
META_SNIFF_BYTES = 8192
# Detection is slow on megabyte pages; a sample of this size is enough to tell encodings apart.
DETECT_SAMPLE_BYTES = 64 * 1024

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels that browsers treat as a superset encoding (WHATWG encoding spec).
_ALIASES = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252", "ascii": "cp1252",
            "us-ascii": "cp1252", "x-sjis": "shift_jis", "gb2312": "gb18030", "gbk": "gb18030"}


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    method: str  # bom | header | meta | utf-8 | detected | fallback


def _codec(label: str | None) -> str | None:
    """A Python codec name for an encoding label, or None when Python does not know it."""
    if not label:
        return None
    name = _ALIASES.get(label.strip().lower(), label.strip().lower())
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def header_charset(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return _codec(match.group(1)) if match else None


def meta_charset(content: bytes) -> str | None:
    match = _META_CHARSET.search(content[:META_SNIFF_BYTES])
    return _codec(match.group(1).decode("ascii", "replace")) if match else None


def decode(content: bytes, content_type: str | None = None) -> Decoded:
    """Decode page bytes; invalid bytes become U+FFFD instead of an error."""
    for bom, bom_codec in _BOMS:
        if content.startswith(bom):
            return Decoded(content[len(bom):].decode(bom_codec, errors="replace"), bom_codec, "bom")
    declared: tuple[tuple[str, str | None], ...] = (
        ("header", header_charset(content_type)), ("meta", meta_charset(content)))
    for method, name in declared:
        if name:
            # A page that declares a UTF-16 family charset in ASCII bytes is lying about itself.
            if name.startswith("utf-16") or name.startswith("utf-32"):
                continue
            if name != "utf-8" and not content.isascii():
                # Pages often keep an old declaration (latin-1, gb2312) after moving to UTF-8. Non-ASCII text
                # in another encoding is almost never valid UTF-8 by accident, so valid UTF-8 wins.
                try:
                    return Decoded(content.decode("utf-8"), "utf-8", f"{method}-overruled")
                except UnicodeDecodeError:
                    pass
            return Decoded(content.decode(name, errors="replace"), name, method)
    try:
        return Decoded(content.decode("utf-8"), "utf-8", "utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(content[:DETECT_SAMPLE_BYTES]).best()
    detected = _codec(best.encoding) if best is not None else None
    if detected:
        return Decoded(content.decode(detected, errors="replace"), detected, "detected")
    return Decoded(content.decode("utf-8", errors="replace"), "utf-8", "fallback")


def parse(text: str) -> lxml_html.HtmlElement | None:
    """One lxml tree for the whole page, or None when there is nothing to parse."""
    text = _XML_DECL.sub("", text, count=1)  # lxml refuses str input with an encoding declaration
    if not text.strip():
        return None
    parser = lxml_html.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=True)
    try:
        tree = lxml_html.document_fromstring(text, parser=parser)
    except (ParserError, XMLSyntaxError, ValueError):
        return None
    return tree
