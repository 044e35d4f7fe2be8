"""Publisher profiles: what a publisher's own pages mean, kept as data (``publishers.yaml``).

Most pages need no profile: the generic order of sources in ``fields.py`` reads them. A
profile records a publisher's choice that markup alone cannot reveal, such as which of the
two headlines a page states (the share title in og:title or the page headline in JSON-LD)
the publisher treats as the article's title. Profiles are matched by registrable domain,
so ``fr.euronews.com`` uses the ``euronews.com`` profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.datafiles import DataFileError, read_yaml
from pipeline.extract.fields import DEFAULT_TITLE_ORDER, TITLE_SOURCES
from pipeline.models import domain_of
from pipeline.urls import registrable_domain


@dataclass(frozen=True)
class Publisher:
    domain: str
    name: str
    title_order: tuple[str, ...] = DEFAULT_TITLE_ORDER


GENERIC = Publisher(domain="", name="")


@dataclass(frozen=True)
class Publishers:
    by_domain: Mapping[str, Publisher]

    def for_url(self, url: str) -> Publisher:
        host = domain_of(url)
        return self.by_domain.get(host) or self.by_domain.get(registrable_domain(host)) or GENERIC


def _publisher(path: Path, label: str, item: Any) -> Publisher:
    if not isinstance(item, dict):
        raise DataFileError(path, label, "expected a mapping")
    domain, name, title = item.get("domain"), item.get("name"), item.get("title")
    if not isinstance(domain, str) or "." not in domain or domain != domain.strip().lower():
        raise DataFileError(path, label, "'domain' must be a lower-case host name such as example.com")
    if not isinstance(name, str) or not name.strip():
        raise DataFileError(path, f"{label} ({domain})", "missing 'name'")
    if not isinstance(title, list) or not title or not all(s in TITLE_SOURCES for s in title):
        raise DataFileError(path, f"{label} ({domain})",
                            f"'title' must be a non-empty list of {', '.join(TITLE_SOURCES)}")
    return Publisher(domain=domain, name=name.strip(), title_order=tuple(title))


@lru_cache(maxsize=4)
def load_publishers(path: Path) -> Publishers:
    """The profiles in ``path``; a malformed entry is a ``DataFileError`` naming it."""
    items = read_yaml(path).get("publishers")
    if not isinstance(items, list):
        raise DataFileError(path, "publishers", "expected a list")
    by_domain: dict[str, Publisher] = {}
    for index, item in enumerate(items):
        publisher = _publisher(path, f"publishers[{index}]", item)
        if publisher.domain in by_domain:
            raise DataFileError(path, f"publishers[{index}] ({publisher.domain})", "domain listed twice")
        by_domain[publisher.domain] = publisher
    return Publishers(by_domain)
