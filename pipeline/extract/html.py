"""Text to one lxml tree: parse once, never raise.

The bytes are decoded before this by ``pipeline.decode.decode_page``, the decoder
fetch uses too, so a page reads the same in both stages.
"""

from __future__ import annotations

import re

from lxml import html as lxml_html
from lxml.etree import ParserError, XMLSyntaxError

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)


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
