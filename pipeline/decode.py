"""Page bytes to text: the one decoder of bodies, shared by fetch, the WARC reader and extraction.

Content-Encoding: ``BodyDecoder`` inflates gzip / deflate bodies chunk by chunk, here rather than
in urllib3, with a bounded output size and a ratio check, so a small gzip bomb is refused before it
fills memory; fetch reads responses with it and the WARC reader (``pipeline.warc``) stored payloads.

Charset: fetch decodes a page to find its canonical link and content hash; extraction
decodes the same bytes again from the WARC. Both call ``decode_page``, so a page
reads the same in both stages. The order, first that fits wins:

1. a byte-order mark;
2. the declared charset, from the HTTP ``Content-Type`` header, then ``<meta charset>`` /
   ``http-equiv``, when the bytes decode cleanly with it (a non-UTF-8 declaration on bytes
   that are valid non-ASCII UTF-8 loses to UTF-8: pages keep stale latin-1 or gb2312 labels);
3. strict UTF-8 (undeclared, or the declaration did not fit);
4. UTF-8 with the few bad bytes replaced, when the page is plainly UTF-8 text with a stray
   byte (its valid multi-byte sequences outnumber the invalid ones);
5. detection with charset-normalizer on a sample, its ties broken by the language it saw
   (``_detect``); this is where a page labelled UTF-8 but written in Windows-1252 ends up.

``DecodedPage.method`` says which step won; extraction records it in
``article.methods["encoding"]``. Nothing fits: ``DecodeFailed``, which fetch and
extraction both count as ``decode_error``.
"""

from __future__ import annotations

import codecs
import re
import zlib
from dataclasses import dataclass

from charset_normalizer import from_bytes

# The HTML spec has browsers look for <meta charset> in the first 1024 bytes; real pages put it
# later, behind long <head> comments and inline scripts, so we look further.
META_SNIFF_BYTES = 8192
# Detection is slow on megabyte pages; this much text is enough to tell encodings apart.
DETECT_SAMPLE_BYTES = 64 * 1024

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels that browsers decode as a superset encoding (WHATWG Encoding Standard), keyed by
# Python's canonical codec name: a page "in latin-1" uses 0x80-0x9F as Windows-1252 does.
_SUPERSETS = {"iso8859-1": "cp1252", "ascii": "cp1252", "gb2312": "gb18030", "gbk": "gb18030"}
_LABEL_SPELLINGS = {"x-sjis": "shift_jis"}
_NON_ASCII = bytes(range(128, 256))


class DecodeFailed(Exception):
    """No declared or detected charset decodes the page."""


@dataclass(frozen=True)
class DecodedPage:
    text: str
    encoding: str  # Python codec name
    method: str  # bom | header | meta | header-overruled | meta-overruled | utf-8 | utf-8-repaired | detected


def decode_page(body: bytes, content_type: str | None) -> DecodedPage:
    """The page's text; ``DecodeFailed`` when no charset fits (see the module docstring for the order)."""
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return DecodedPage(body[len(bom) :].decode(bom_codec, errors="replace"), bom_codec, "bom")
    for method, label in (("header", charset_from_header(content_type)), ("meta", charset_from_meta(body))):
        declared = codec_name(label)
        # A UTF-16/32 label on bytes without a BOM is a lie (the label itself was readable as ASCII);
        # decoding ASCII as UTF-16 "succeeds" and yields CJK noise.
        if declared is None or declared.startswith(("utf-16", "utf-32")):
            continue
        if declared != "utf-8" and not body.isascii() and _is_utf8(body):
            return DecodedPage(body.decode("utf-8"), "utf-8", f"{method}-overruled")
        try:
            return DecodedPage(body.decode(declared), declared, method)
        except UnicodeDecodeError:
            continue  # a wrong declaration: the next source, rather than mangled text
    if _is_utf8(body):
        return DecodedPage(body.decode("utf-8"), "utf-8", "utf-8")
    repaired = _mostly_utf8(body)
    if repaired is not None:
        return DecodedPage(repaired, "utf-8", "utf-8-repaired")
    detected = _detect(body[:DETECT_SAMPLE_BYTES])
    if detected is None:
        raise DecodeFailed("no declared or detected charset decodes the body")
    # The sample decided the codec; bytes past it that the codec lacks are replaced, not fatal.
    return DecodedPage(body.decode(detected, errors="replace"), detected, "detected")


def charset_from_header(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1) if match else None


def charset_from_meta(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:META_SNIFF_BYTES])
    return match.group(1).decode("ascii", "replace") if match else None


def codec_name(label: str | None) -> str | None:
    """Python's codec for an encoding label (WHATWG supersets applied), or None when Python lacks it."""
    if not label:
        return None
    spelled = label.strip().lower()
    try:
        name = codecs.lookup(_LABEL_SPELLINGS.get(spelled, spelled)).name
    except LookupError:
        return None
    return _SUPERSETS.get(name, name)


# The Windows code page each language's legacy pages are in, by charset-normalizer's language names;
# only for breaking the detector's ties. Languages not named here get no preference.
_LEGACY_CODE_PAGES = {
    **dict.fromkeys(("Croatian", "Czech", "Hungarian", "Polish", "Romanian", "Slovak", "Slovene"), "cp1250"),
    **dict.fromkeys(("Bulgarian", "Kazakh", "Russian", "Serbian", "Ukrainian"), "cp1251"),
    **dict.fromkeys(
        ("Danish", "Dutch", "English", "Finnish", "French", "German", "Indonesian", "Italian", "Norwegian",
         "Portuguese", "Spanish", "Swedish"),
        "cp1252",
    ),
    "Greek": "cp1253",
    "Turkish": "cp1254",
    "Hebrew": "cp1255",
    **dict.fromkeys(("Arabic", "Farsi"), "cp1256"),
    **dict.fromkeys(("Estonian", "Lithuanian"), "cp1257"),
    "Vietnamese": "cp1258",
}


def _detect(sample: bytes) -> str | None:
    """charset-normalizer's choice, with its ties broken by what the text reads as.

    On a short text with few accents the detector finds cp1250, cp1252 and cp1257 equally clean
    and then picks one by name: French "à" came out as cp1250 "ŕ". Among the readings it finds
    equally clean, the winner has the fewest symbols stuck to a letter (a Polish "ł" read as
    cp1252 is "spotka³"), then is in the legacy code page of the language it reads as (a
    Hungarian reading in cp1250, a French one in cp1252), then ranks first with the detector.
    """
    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        return None
    ranked: list[tuple[int, bool, int, str]] = []
    for rank, match in enumerate(matches):
        if match.chaos > best.chaos:
            continue
        own_page = _LEGACY_CODE_PAGES.get(match.language or "")
        glued = _glued_symbols(sample.decode(match.encoding, errors="replace"))
        # A match also names the encodings that decode the sample to the very same text.
        for codec in map(codec_name, (match.encoding, *match.could_be_from_charset)):
            if codec is not None:
                ranked.append((glued, codec != own_page, rank, codec))
    return min(ranked)[3] if ranked else codec_name(best.encoding)


# A Latin-1 or Latin Extended character, or a combining accent, right after a letter. (Not CJK or
# general punctuation: "、" after a kanji, or a curly quote, is how text is written.)
_AFTER_LETTER = re.compile(r"(?<=[^\W\d_])[\u0080-\u036f]")


def _glued_symbols(text: str) -> int:
    """Symbols stuck to a letter: "³", "¹", "¿" where a Polish text had ł, ą, ż; cp1258's combining marks."""
    return sum(1 for match in _AFTER_LETTER.finditer(text) if not match.group().isalpha())


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mostly_utf8(body: bytes) -> str | None:
    """The text with bad bytes replaced, when valid multi-byte UTF-8 outnumbers the invalid sequences.

    A Windows-1252 or Latin-1 page almost never forms a valid multi-byte UTF-8 sequence by
    accident (a lead byte must be followed by the right number of 0x80-0xBF bytes), so any
    real UTF-8 text is evidence; a page with none goes on to detection.
    """
    text = body.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    ascii_bytes = len(body.translate(None, _NON_ASCII))
    valid_multibyte = len(text) - ascii_bytes - invalid  # characters that came from 2-4 byte sequences
    return text if valid_multibyte > invalid else None


class BodyTooLarge(Exception):
    """The body passed a limit while streaming; the message says which."""


class BodyDecoder:
    """Inflates gzip / deflate / identity bodies chunk by chunk, enforcing size and ratio limits."""

    def __init__(self, encoding: str | None, max_bytes: int, max_ratio: int) -> None:
        self.encoding = (encoding or "identity").strip().lower()
        self.max_bytes = max_bytes
        self.max_ratio = max_ratio
        self.raw_bytes = 0
        self.consumed = 0  # compressed bytes actually inflated so far: the ratio's denominator
        self.out: list[bytes] = []
        self.out_bytes = 0
        self._inflater = self._make_inflater()

    def _make_inflater(self) -> zlib._Decompress | None:
        if self.encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.encoding == "deflate":
            return zlib.decompressobj()  # zlib-wrapped; raw deflate is retried in feed()
        if self.encoding in ("identity", ""):
            return None
        raise ValueError(f"unsupported Content-Encoding {self.encoding!r}")

    def feed(self, chunk: bytes) -> None:
        self.raw_bytes += len(chunk)
        if self.raw_bytes > self.max_bytes:
            raise BodyTooLarge(f"body over {self.max_bytes} bytes")
        if self._inflater is None:
            self._keep(chunk)
            return
        data = chunk
        while data:
            try:
                piece = self._inflater.decompress(data, 64 * 1024)
            except zlib.error:
                if self.encoding == "deflate" and self.out_bytes == 0:
                    self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # servers that send raw deflate
                    piece = self._inflater.decompress(data, 64 * 1024)
                else:
                    raise
            self.consumed += len(data) - len(self._inflater.unconsumed_tail)
            self._keep(piece)
            data = self._inflater.unconsumed_tail

    def _keep(self, piece: bytes) -> None:
        self.out_bytes += len(piece)
        if self.out_bytes > self.max_bytes:
            if self._inflater is not None and self.out_bytes > self.max_ratio * max(self.consumed, 1):
                raise BodyTooLarge(
                    f"decompression bomb: {self.consumed} bytes inflate past {self.max_bytes} "
                    f"(ratio over {self.max_ratio})"
                )
            raise BodyTooLarge(f"decoded body over {self.max_bytes} bytes")
        if (
            self._inflater is not None
            and self.out_bytes > 1024 * 1024
            and self.out_bytes > self.max_ratio * self.consumed
        ):
            raise BodyTooLarge(f"decompression bomb: inflation ratio over {self.max_ratio}")
        if piece:
            self.out.append(piece)

    def body(self) -> bytes:
        if self._inflater is not None:
            self._keep(self._inflater.flush())
        return b"".join(self.out)
