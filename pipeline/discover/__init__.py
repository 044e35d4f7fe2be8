"""Discovery: sources → ``Candidate``s in a date window.

Each source kind has a small module: ``feeds`` (RSS/Atom/RDF), ``sitemaps``
(urlsets, news sitemaps, indexes, dated archive indexes), ``archives`` (WARC files),
``wayback`` (the Wayback Machine's CDX index and raw captures), ``gdelt`` (GDELT 2.0's
15-minute files), ``ccnews`` (Common Crawl's CC-NEWS WARCs) and URL lists (here); ``reach``
says which of a source's kinds reach a window. Discovery does no HTTP itself: the caller
passes ``fetch_xml`` (feeds, sitemaps) and ``fetch_data`` (CDX answers, file lists, zips),
functions from URL to body bytes (or None when the fetch failed or answered 304, which the
caller has already recorded), and ``open_ranged`` for files read by range requests. So
discovery runs the same against the polite fetcher, a test server or files on disk.

Discovery yields ``Candidate`` for every URL worth fetching, ``StageResult``
(PARSE_ERROR, BAD_RECORD) for a document it could not read, and ``Skipped`` for documents
it chose not to read (caps, window).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pipeline.discover.candidates import (
    Candidate,
    FetchXml,
    OpenRanged,
    RangedReadFailed,
    Skipped,
    Window,
    in_window,
)
from pipeline.outcomes import StageResult
from pipeline.sources import Source, SourceKind

__all__ = ["Candidate", "Skipped", "Window", "in_window", "discover", "discover_shared", "FetchXml", "OpenRanged",
           "RangedReadFailed", "SHARED_KINDS"]

# Kinds whose files serve every source of the kind at once: read once per run, not once per source.
SHARED_KINDS = frozenset({SourceKind.GDELT, SourceKind.CCNEWS})


def discover(
    source: Source,
    window: Window | None,
    fetch_xml: FetchXml,
    max_depth: int = 3,
    max_count: int = 200,
    max_bytes: int = 10 * 1024 * 1024,
    fetch_data: FetchXml | None = None,
    open_ranged: OpenRanged | None = None,
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
    elif source.kind is SourceKind.WAYBACK:
        from pipeline.discover.wayback import discover_wayback

        yield from discover_wayback(source, window, fetch_data or fetch_xml, max_count)
    elif source.kind in SHARED_KINDS:
        yield from discover_shared([source], window, fetch_data or fetch_xml, open_ranged, max_bytes)
    else:
        for url in source.urls:
            yield Candidate(url=url, source_id=source.id, via="list")


def discover_shared(
    sources: Sequence[Source],
    window: Window | None,
    fetch_data: FetchXml,
    open_ranged: OpenRanged | None,
    max_bytes: int = 10 * 1024 * 1024,
) -> Iterator[Candidate | StageResult | Skipped]:
    """The candidates of every gdelt and ccnews source given, each kind's files read once for all of them."""
    if open_ranged is None:
        raise TypeError("gdelt and ccnews read files by HTTP range requests: pass open_ranged")
    gdelt = [s for s in sources if s.kind is SourceKind.GDELT]
    ccnews = [s for s in sources if s.kind is SourceKind.CCNEWS]
    if gdelt:
        from pipeline.discover.gdelt import discover_gdelt

        yield from discover_gdelt(gdelt, window, fetch_data, open_ranged)
    if ccnews:
        from pipeline.discover.ccnews import discover_ccnews

        yield from discover_ccnews(ccnews, window, fetch_data, open_ranged, max_bytes)
