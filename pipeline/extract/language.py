"""Language: detected offline from the body with py3langid (its model ships in the wheel).

On long text the detector wins over ``<html lang>`` (templates are often copied between
language editions without changing it); on short text the page's declaration is trusted.
"""

from __future__ import annotations

import re

# From this many words on, character n-gram detection is reliable enough to overrule <html lang>.
LONG_TEXT_WORDS = 40
# Detection on the first few thousand characters is as good as on the whole body and much faster.
SAMPLE_CHARS = 3000
_LANG_TAG = re.compile(r"^([a-zA-Z]{2,3})(?:[-_].*)?$")


def declared(html_lang: str | None) -> str | None:
    """The primary subtag of a BCP 47 tag ("en-GB" -> "en"), or None."""
    match = _LANG_TAG.match((html_lang or "").strip())
    return match.group(1).lower() if match else None


def detect(text: str) -> str | None:
    if not text.strip():
        return None
    import py3langid  # model loads on first use, not at import of the pipeline

    code, _score = py3langid.classify(text[:SAMPLE_CHARS])
    return str(code)


def choose_language(body: str, html_lang: str | None) -> tuple[str | None, str]:
    """The language code and the method that decided it ("detector" or "html_lang")."""
    stated = declared(html_lang)
    if len(body.split()) >= LONG_TEXT_WORDS or stated is None:
        found = detect(body)
        if found:
            return found, "detector"
    return (stated, "html_lang") if stated else (None, "")
