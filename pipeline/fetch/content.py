"""What a response is and how to read it: media types, body decoding, charsets.

- Articles must be HTML or XHTML by Content-Type; feeds and sitemaps must be XML
  (a missing Content-Type is sniffed from the first bytes, nothing else is).
- Content-Encoding is inflated here, not by urllib3, with a bounded output size
  and a ratio check, so a small gzip bomb is refused before it fills memory.
- Charset: ``pipeline.decode.decode_page`` is the one decoder, for fetch and extraction alike; a page
  nothing decodes is a decode_error.
"""

from __future__ import annotations

import zlib
from enum import Enum


class ContentKind(str, Enum):
    ARTICLE = "article"  # HTML / XHTML
    XML = "xml"  # feeds and sitemaps
    ROBOTS = "robots"  # robots.txt: any text
    DATA = "data"  # archive indexes and data files (CDX JSON, file lists, zips): any type, the reader checks it


HTML_TYPES = ("text/html", "application/xhtml+xml")
XML_TYPES = ("application/xml", "text/xml", "application/rss+xml", "application/atom+xml", "application/rdf+xml")
GZIP_TYPES = ("application/gzip", "application/x-gzip", "application/octet-stream")  # sitemap.xml.gz


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def acceptable_type(kind: ContentKind, content_type: str | None, first_bytes: bytes = b"") -> bool:
    """Whether a response of this Content-Type may be kept for this kind of document."""
    media = media_type(content_type)
    if kind in (ContentKind.ROBOTS, ContentKind.DATA):
        return True
    if not media:
        return _sniff(kind, first_bytes)
    if kind is ContentKind.ARTICLE:
        return media in HTML_TYPES
    return media in XML_TYPES or media.endswith("+xml") or (media in GZIP_TYPES and first_bytes[:2] == b"\x1f\x8b")


def _sniff(kind: ContentKind, first_bytes: bytes) -> bool:
    head = first_bytes[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if kind is ContentKind.ARTICLE:
        return head.startswith((b"<!doctype html", b"<html"))
    return (
        head.startswith((b"<?xml", b"<rss", b"<feed", b"<urlset", b"<sitemapindex", b"<rdf:rdf"))
        or head[:2] == b"\x1f\x8b"
    )


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
