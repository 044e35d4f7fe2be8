"""What a response is: media types, and which ones each kind of document may be.

- Articles must be HTML or XHTML by Content-Type; feeds and sitemaps must be XML
  (a missing Content-Type is sniffed from the first bytes, nothing else is).
- Reading the body is ``pipeline.decode``'s: Content-Encoding (``BodyDecoder``, bounded) and
  charset (``decode_page``), the same for fetch, the WARC reader and extraction alike.
"""

from __future__ import annotations

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
