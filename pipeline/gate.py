"""The relevance gate: a cheap "is this about international relations at all?" before NER.

A backfill from CC-NEWS, GDELT or the Wayback Machine reads mostly articles about sport,
markets and celebrities. For a source whose ``scope`` is ``diplomacy`` (the default of archive
kinds and of the broad outlets in ``pipeline/data/sources.yaml``), every extracted article is
scored here first, and one below ``process.gate_threshold`` ends as ``Outcome.OUT_OF_SCOPE``
with its score: it is not enriched, not indexed, and its capture and record offset are kept
(``OutOfScopeStore``) so a later widening of the scope replays it from the capture
(``chancery captures mark-pending --out-of-scope``). A source with ``scope: all`` (a ministry's
or an international organisation's own feed) is never gated.

The score is one pass of one Aho-Corasick automaton (``pyahocorasick``) over the headline and
body, built once per process from the gazetteer (countries with their capitals and seats of
government, intergovernmental organisations, leaders' full names) and the taxonomy's cue
phrases (``pipeline/data/taxonomy.yaml``): what the full enrichment looks for, without a
tokenizer, a model or a sentence. It costs about a millisecond an article. Distinct things
count, not repetitions, so a long article does not pass on length alone:

    score = countries + organisations + leaders (each at most ``ACTOR_CAP``)
          + strong cues x 2 + medium cues + public-affairs words x 0.5 (cues at most ``CUE_CAP``)
          - off-domain words x 0.5 (sport, markets, culture; at most ``OFF_DOMAIN_CAP``)

A match in the headline counts twice. The threshold is chosen on the team's labelled real set
(``bench/data/topic-labels``) as the highest that gates out at most 2 % of its diplomacy
articles; ``bench/throughput.py`` prints that recall and the share of other articles gated out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import ahocorasick

from pipeline.config import Settings
from pipeline.models import RawPage
from pipeline.sources import Scope
from pipeline.state.base import Database

if TYPE_CHECKING:  # the enrichment package imports spaCy: only a process that builds the gate needs it
    from pipeline.enrich.gazetteer import Gazetteer
    from pipeline.enrich.topics import Taxonomy

__all__ = ["GateScore", "HeldPage", "OutOfScopeStore", "RelevanceGate", "Scope", "Scopes", "gate_for"]


# Distinct countries, organisations or leaders counted at most this many each: the tenth country of a
# round-up of world markets is no more evidence than the fourth.
ACTOR_CAP = 4
# Cue points counted at most this many: enough for any diplomacy story to pass on cues and actors together.
CUE_CAP = 8.0
STRONG_WEIGHT = 2.0  # a taxonomy `strong` cue ("summit", "ceasefire", "sanctions") means diplomacy nearly alone
MEDIUM_WEIGHT = 1.0  # a `medium` cue ("talks", "visit") only together with others
CONTEXT_WEIGHT = 0.5  # public-affairs words ("minister", "embassy", "government")
OFF_DOMAIN_WEIGHT = 0.5  # sport, markets, culture words ("striker", "quarterly", "album")
OFF_DOMAIN_CAP = 3.0
TITLE_FACTOR = 2.0  # the headline says what the story is about

_COUNTRY, _ORG, _LEADER, _STRONG, _MEDIUM, _CONTEXT, _OFF = range(7)
_KIND_NAMES = ("countries", "organizations", "leaders", "strong", "medium", "context", "off_domain")


@dataclass(frozen=True)
class GateScore:
    """The gate's verdict on one article: its score and what it found, for the reason and the benchmark."""

    score: float
    found: Mapping[str, int]  # distinct matches per kind (countries, organizations, leaders, strong, ...)

    def reason(self, threshold: float) -> str:
        counts = " ".join(f"{k}={v}" for k, v in self.found.items() if v)
        return f"gate score {self.score:.2f} below {threshold:g} ({counts or 'nothing found'})"


class RelevanceGate:
    """One automaton over every pattern; ``score(title, body)`` is one pass over the text.

    Gazetteer names are matched as written (case-sensitive: "US" the country, not "us"); cue phrases
    in lower case, capitalised and in title case, since headlines capitalise every word. A match must
    start and end at a word boundary.
    """

    def __init__(self, gazetteer: Gazetteer, taxonomy: Taxonomy) -> None:
        from pipeline.enrich.gazetteer import fold
        from pipeline.enrich.topics import inflections

        self.automaton = ahocorasick.Automaton()
        entries: dict[str, set[tuple[int, str]]] = {}

        def add(pattern: str, kind: int, key: str) -> None:
            if pattern.strip():
                entries.setdefault(pattern, set()).add((kind, key))

        for country in gazetteer.countries:
            for name in (*country.names, *country.capitals):
                for variant in {name, fold(name)}:
                    add(variant, _COUNTRY, country.code)
        for org in gazetteer.organizations:
            if org.international_actor:
                for name in (*org.names, *org.abbreviations):
                    add(name, _ORG, org.name)
        for leader in gazetteer.leaders:
            for name in leader.names:
                for variant in {name, fold(name)}:
                    add(variant, _LEADER, leader.name)
        cues: list[tuple[Iterable[str], int]] = [
            *((t.strong, _STRONG) for t in taxonomy.topics),
            *((t.medium, _MEDIUM) for t in taxonomy.topics),
            (taxonomy.context, _CONTEXT),
            (taxonomy.off_domain, _OFF),
        ]
        for phrases, kind in cues:
            for phrase in phrases:
                for form in inflections(phrase):
                    for cased in {form, form[:1].upper() + form[1:], form.title()}:
                        add(cased, kind, form)
        for pattern, meanings in entries.items():
            self.automaton.add_word(pattern, (len(pattern), tuple(sorted(meanings))))
        self.automaton.make_automaton()
        self.patterns = len(entries)

    def score(self, title: str, body: str) -> GateScore:
        found: list[dict[str, float]] = [{} for _ in _KIND_NAMES]
        for text, weight in ((title, TITLE_FACTOR), (body, 1.0)):
            for end, (length, meanings) in self.automaton.iter(text):
                if not _at_boundary(text, end - length + 1, end):
                    continue
                for kind, key in meanings:
                    seen = found[kind]
                    seen[key] = max(seen.get(key, 0.0), weight)
        strong = set(found[_STRONG])
        medium = {k: v for k, v in found[_MEDIUM].items() if k not in strong}
        actors = sum(min(ACTOR_CAP, sum(found[kind].values())) for kind in (_COUNTRY, _ORG, _LEADER))
        cues = min(CUE_CAP, STRONG_WEIGHT * sum(found[_STRONG].values()) + MEDIUM_WEIGHT * sum(medium.values())
                   + CONTEXT_WEIGHT * sum(found[_CONTEXT].values()))
        off = min(OFF_DOMAIN_CAP, OFF_DOMAIN_WEIGHT * sum(found[_OFF].values()))
        counts = {name: len(found[kind]) for kind, name in enumerate(_KIND_NAMES)}
        counts["medium"] = len(medium)
        return GateScore(round(actors + cues - off, 3), counts)


def _at_boundary(text: str, start: int, end: int) -> bool:
    """The match text[start:end + 1] is whole words: no letter or digit on either side."""
    before = text[start - 1] if start > 0 else " "
    after = text[end + 1] if end + 1 < len(text) else " "
    return not (before.isalnum() or after.isalnum())


_GATES: dict[object, RelevanceGate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(settings: Settings) -> RelevanceGate:
    """One automaton per enrichment data configuration and process: built in about a second."""
    key = (settings.enrich.gazetteer_dir, settings.enrich.taxonomy)
    with _GATES_LOCK:
        if key not in _GATES:
            from pipeline.enrich.gazetteer import Gazetteer
            from pipeline.enrich.topics import Taxonomy

            gazetteer = Gazetteer.load(settings.enrich.gazetteer_dir)
            _GATES[key] = RelevanceGate(gazetteer, Taxonomy.load(settings.enrich.taxonomy, gazetteer))
        return _GATES[key]


@dataclass(frozen=True)
class Scopes:
    """The scope of each page: its source's in the sources file (by id), else the one its capture
    recorded at fetch time, else ``default``. The file comes first, so widening a source's scope
    there is what a replay of its captures follows."""

    by_source: Mapping[str, Scope] = field(default_factory=dict)
    default: Scope = Scope.ALL

    def of(self, page: RawPage) -> Scope:
        source = page.source
        if source is None:
            return self.default
        if source.id and source.id in self.by_source:
            return self.by_source[source.id]
        if source.scope in _SCOPE_VALUES:  # a foreign WARC's stray header value is ignored, not trusted
            return Scope(source.scope)
        return self.default


_SCOPE_VALUES = frozenset(s.value for s in Scope)


_SCOPES_READ: dict[tuple[str, int, int, Scope], Scopes] = {}
_SCOPES_KEPT = 8  # versions of sources files remembered per process


def source_scopes(settings: Settings, default: Scope) -> Scopes:
    """The scope of each source in the sources file, by id, and ``default`` for pages of none.

    Read once per version of the file (its path, modification time and size): a drain asks for every
    capture it processes, and parsing the default sources file takes about 0.1 s, as long as
    processing a page. An edited file is read again at the next capture.
    """
    from pipeline.sources import load_sources

    path = Path(settings.sources)
    try:
        stat = path.stat()
    except OSError:
        return Scopes({s.id: s.scope for s in load_sources(path)}, default)  # it names the file and the error
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, default)
    if key not in _SCOPES_READ:
        if len(_SCOPES_READ) >= _SCOPES_KEPT:
            _SCOPES_READ.clear()
        _SCOPES_READ[key] = Scopes({s.id: s.scope for s in load_sources(path)}, default)
    return _SCOPES_READ[key]


# ---------------------------------------------------------------------------------------------
# What the gate kept out, by capture and record offset, for a replay once the scope is wider


@dataclass(frozen=True)
class HeldPage:
    capture: str
    warc_offset: int
    url: str
    source: str
    score: float


_SCHEMA = """
CREATE TABLE IF NOT EXISTS out_of_scope (
    capture     TEXT NOT NULL,
    warc_offset BIGINT NOT NULL,
    url         TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    score       DOUBLE PRECISION NOT NULL,
    held_at     TEXT NOT NULL,
    PRIMARY KEY (capture, warc_offset)
);
CREATE INDEX IF NOT EXISTS out_of_scope_source ON out_of_scope (source)
"""


class OutOfScopeStore:
    """The pages the gate kept out of each processed capture, in the state store (``open_state(settings)``).

    ``database`` may be a path: the SQLite file there (``settings.out_of_scope_db`` is the home's).
    A capture's rows are replaced whole each time it is processed (``replace``), so re-processing
    it after a wider scope leaves only what is still out of scope.
    """

    def __init__(self, database: Database | Path) -> None:
        if isinstance(database, Path):
            from pipeline.state.sqlite import SqliteDatabase

            database = SqliteDatabase(database)
        self.db = database
        database.ensure_schema(_SCHEMA)

    def replace(self, capture: str, pages: Iterable[HeldPage]) -> int:
        now = datetime.now(UTC).isoformat()
        rows = [(p.capture, p.warc_offset, p.url, p.source, p.score, now) for p in pages]
        with self.db.transaction() as db:
            db.execute("DELETE FROM out_of_scope WHERE capture = ?", (capture,))
            db.executemany(
                "INSERT INTO out_of_scope (capture, warc_offset, url, source, score, held_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (capture, warc_offset) DO UPDATE SET url = excluded.url, source = excluded.source,"
                " score = excluded.score, held_at = excluded.held_at",
                rows,
            )
        return len(rows)

    def held(self, capture: str | None = None, sources: Iterable[str] = ()) -> Iterator[HeldPage]:
        wanted = list(sources)
        sql = "SELECT capture, warc_offset, url, source, score FROM out_of_scope"
        clauses, args = [], []
        if capture is not None:
            clauses.append("capture = ?")
            args.append(capture)
        if wanted:
            clauses.append(f"source IN ({', '.join('?' for _ in wanted)})")
            args.extend(wanted)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        for row in self.db.read(sql + " ORDER BY capture, warc_offset", args):
            yield HeldPage(row["capture"], row["warc_offset"], row["url"], row["source"], row["score"])

    def captures(self, sources: Iterable[str] = ()) -> dict[str, int]:
        """Captures holding out-of-scope pages (of these sources, when named) and how many each."""
        counts: dict[str, int] = {}
        for page in self.held(sources=sources):
            counts[page.capture] = counts.get(page.capture, 0) + 1
        return counts
