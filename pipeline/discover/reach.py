"""Which of a source's kinds reach a window: the live feed or sitemap for recent days, its archives for the past.

A feed lists its last 20-50 items and a Google News sitemap its last two days, so a live kind
is taken to reach ``reach_days`` back from now (the source's own, else
``fetch.live_reach_days``). That is a declared number, not a probe: reading the feed to find
its oldest entry would cost a request per source per planned run and still says nothing about
tomorrow. A window that starts before that reach also uses the source's ``archives:`` entries
whose archive covers it (Wayback from 1996, GDELT 2.0 from 2015-02-18, CC-NEWS from 2016-08,
a publisher's archive sitemap or WARC files always), and the live kind only if the window
reaches into its days or no archive covers the window; a window within the reach uses the live
kind alone, so a nightly run never asks an archive. A source of an archive kind is used
whenever its archive covers the window.

``backfill_parts`` groups what is chosen by kind, in the order a backfill fetches them: live
kinds first, then the publisher's own archives, then Wayback, GDELT and CC-NEWS, so that what
an earlier part indexed is in the seen-store and is not fetched again from a later one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.discover.candidates import Window, as_utc
from pipeline.sources import Source, SourceKind

# Since when each archive kind holds anything (None: whatever the archive holds).
ARCHIVE_SINCE: dict[SourceKind, datetime | None] = {
    SourceKind.WAYBACK: datetime(1996, 1, 1, tzinfo=UTC),
    SourceKind.GDELT: datetime(2015, 2, 18, 23, 0, tzinfo=UTC),
    SourceKind.CCNEWS: datetime(2016, 8, 1, tzinfo=UTC),
    SourceKind.SITEMAP: None,
    SourceKind.WARC: None,
}
_ORDER = ("rss", "sitemap", "urls", "warc", "sitemap-archive", "wayback", "gdelt", "ccnews")


@dataclass(frozen=True)
class BackfillPart:
    """The sources (or archive entries, with their source's id) one kind contributes; fetched as one capture."""

    kind: str  # Source.kind_label
    sources: tuple[Source, ...]


def live_reach_start(source: Source, now: datetime, default_days: int) -> datetime:
    return as_utc(now) - timedelta(days=source.reach_days or default_days)


def reaches(source: Source, window: Window | None, now: datetime, default_days: int) -> list[Source]:
    """The source itself and/or its archive entries that reach the window (no window: the live kind)."""
    if window is None:
        return [] if source.reads_archive and source.kind is not SourceKind.WARC else [source]
    start, end = as_utc(window[0]), as_utc(window[1])
    if source.reads_archive:  # an archive kind (or warc files) standing alone
        return [source] if _covers(source, end) else []
    reach = live_reach_start(source, now, default_days)
    archives = [e for e in source.archives if e.enabled and _covers(e, end)] if start < reach else []
    # With no archive for the window, the live kind is read all the same: its reach is only
    # declared, and a feed or sitemap that lists older entries then still finds them.
    return ([source] if end > reach or not archives else []) + archives


def _covers(source: Source, end: datetime) -> bool:
    since = ARCHIVE_SINCE.get(source.kind)
    return since is None or end > since


def backfill_parts(
    sources: Sequence[Source], window: Window | None, now: datetime, default_days: int
) -> list[BackfillPart]:
    """What each kind contributes to the window, in fetch order; empty kinds are left out."""
    by_kind: dict[str, list[Source]] = {}
    for source in sources:
        for chosen in reaches(source, window, now, default_days):
            by_kind.setdefault(chosen.kind_label, []).append(chosen)
    ordered = sorted(by_kind, key=lambda k: _ORDER.index(k) if k in _ORDER else len(_ORDER))
    return [BackfillPart(kind, tuple(by_kind[kind])) for kind in ordered]
