"""Discovery: sources → ``Candidate``s in a date window.

Each source kind has a small module: ``feeds`` (RSS/Atom/RDF), ``sitemaps``
(urlsets, news sitemaps, indexes), ``archives`` (WARC files, CC-NEWS style) and
URL lists (here). Discovery does no HTTP itself: the caller passes ``fetch_xml``,
a function from URL to body bytes (or None when the fetch failed or answered
304, which the caller has already recorded). So discovery runs the same against
the polite fetcher, a test server or files on disk.

Discovery yields ``Candidate`` for every URL worth fetching, ``StageResult``
(PARSE_ERROR) for a document it could not read, and ``Skipped`` for documents
it chose not to read (caps, window).
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.discover.candidates import Candidate, FetchXml, Skipped, Window, in_window
from pipeline.outcomes import StageResult
from pipeline.sources import Source, SourceKind

__all__ = ["Candidate", "Skipped", "Window", "in_window", "discover", "FetchXml"]


def discover(
    source: Source,
    window: Window | None,
    fetch_xml: FetchXml,
    max_depth: int = 3,
    max_count: int = 200,
    max_bytes: int = 10 * 1024 * 1024,
) -> Iterator[Candidate | StageResult | Skipped]:
    """Every candidate of one source, in the order the source lists them."""
    if source.kind is SourceKind.RSS:
        from pipeline.discover.feeds import discover_feed

        for url in source.urls:
            yield from discover_feed(url, source.id, window, fetch_xml)
    elif source.kind is SourceKind.SITEMAP:
        from pipeline.discover.sitemaps import walk_sitemaps

        for url in source.urls:
            yield from walk_sitemaps(url, source.id, window, fetch_xml, max_depth, max_count)
    elif source.kind is SourceKind.WARC:
        from pipeline.discover.archives import iter_archive

        yield from iter_archive(source, window, max_bytes)
    else:
        for url in source.urls:
            yield Candidate(url=url, source_id=source.id, via="list")
