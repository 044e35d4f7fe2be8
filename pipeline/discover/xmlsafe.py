"""Untrusted XML, parsed safely: no entity declarations (no billion laughs), no external entities.

Feeds and sitemaps come from the open web. defusedxml refuses any document that
declares entities, so an XML bomb is rejected before anything expands, and a
gzipped sitemap is inflated with a hard cap so a small file cannot become a huge one.
"""

from __future__ import annotations

import zlib
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

# The sitemaps protocol caps an uncompressed sitemap at 50 MB; feeds are far smaller.
MAX_XML_BYTES = 50 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class XmlRejected(ValueError):
    """An XML document that is malformed, dangerous or too large; the message says which."""


def parse_xml(body: bytes) -> Element:
    """The root element of a safe, well-formed document, else XmlRejected."""
    try:
        root: Element = fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlRejected(f"unsafe XML refused ({type(exc).__name__}): entity declarations are not allowed") from exc
    except ParseError as exc:
        raise XmlRejected(f"malformed XML: {exc}") from exc
    except LookupError as exc:  # an XML declaration naming an encoding Python lacks (found by tests/fuzz)
        raise XmlRejected(f"unreadable XML: {exc}") from exc
    return root


def check_safe(body: bytes) -> None:
    """Raise XmlRejected if the document declares entities or external references.

    Used before handing bytes to feedparser. Merely malformed feeds pass: feedparser's
    loose parser reads them (undefined &nbsp; and the like are common in real feeds)
    and never expands entity declarations. A feed in an encoding Python does not know is
    refused: it could not be checked for entities at all.
    """
    try:
        parse_xml(body)
    except XmlRejected as exc:
        if not isinstance(exc.__cause__, ParseError):
            raise


# Inflated this much at a time. One call for the whole limit made zlib grow its output buffer by
# copying, so refusing a 50 KB gzip bomb cost twice the 50 MB cap (found by tests/fuzz).
INFLATE_CHUNK = 1024 * 1024


def maybe_gunzip(body: bytes, limit: int = MAX_XML_BYTES) -> bytes:
    """Inflate a gzipped sitemap (sitemap.xml.gz), refusing output past ``limit``."""
    if not body.startswith(_GZIP_MAGIC):
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    pending = body
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, INFLATE_CHUNK)
            out += chunk
            if len(out) > limit:
                raise XmlRejected(f"gzipped XML inflates past {limit} bytes")
            pending = inflater.unconsumed_tail
            if not pending and len(chunk) < INFLATE_CHUNK:  # input used up: a cut-off member ends here
                break
    except zlib.error as exc:
        raise XmlRejected(f"corrupt gzip: {exc}") from exc
    return bytes(out)
