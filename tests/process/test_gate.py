"""The relevance gate on written text, and the per-source scope in the sources file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_pages import page

from pipeline.config import Settings, load_settings
from pipeline.gate import Scopes, gate_for
from pipeline.models import RawPage, SourceRef
from pipeline.outcomes import Outcome
from pipeline.process import work_batch
from pipeline.sources import Scope, SourceKind, SourcesError, default_scope, load_sources

SETTINGS = Settings()
THRESHOLD = SETTINGS.process.gate_threshold

DIPLOMACY = ("The foreign ministers of Japan and Russia held talks in Moscow on Tuesday on the Kuril Islands "
             "dispute. The two governments agreed to continue negotiations on a peace treaty, officials said, "
             "and the United Nations welcomed the meeting.")
SPORT = ("The striker scored twice as the home side won the league match. The coach praised the midfielders, "
         "and fans filled the stadium for the derby. The goalkeeper saved a penalty in the final minute.")


def test_diplomacy_passes_and_sport_is_kept_out_with_what_it_found() -> None:
    gate = gate_for(SETTINGS)
    talks = gate.score("Japan and Russia hold talks on islands", DIPLOMACY)
    match = gate.score("United win the derby", SPORT)
    assert talks.score >= THRESHOLD > match.score
    assert talks.found["countries"] == 2 and talks.found["organizations"] == 1  # Japan, Russia (Moscow); the UN
    assert match.found["countries"] == 0 and match.found["off_domain"] >= 4
    reason = match.reason(THRESHOLD)
    assert reason.startswith(f"gate score {match.score:.2f} below {THRESHOLD:g}") and "off_domain=" in reason


def test_matches_are_whole_words_and_names_keep_their_case() -> None:
    gate = gate_for(SETTINGS)
    # "us" is a pronoun, not the United States; "Iran" inside "Miranda" and "UN" inside "FUNDS" are not matches
    text = "Let us meet Miranda, said the FUNDS manager. Summitry aside, the talkshow went on."
    found = gate.score("", text).found
    assert found["countries"] == 0 and found["organizations"] == 0 and found["strong"] == 0
    found = gate.score("", "The US and the UN.").found
    assert found["countries"] == 1 and found["organizations"] == 1


def test_a_headline_counts_twice_and_repetition_counts_once() -> None:
    gate = gate_for(SETTINGS)
    in_body = gate.score("", "Sanctions.").score
    assert gate.score("Sanctions", "Nothing else here.").score == 2 * in_body
    assert gate.score("", "Sanctions. " * 20).score == in_body


def test_the_automaton_is_built_once_per_process() -> None:
    assert gate_for(SETTINGS) is gate_for(load_settings(environ={}))


def test_work_batch_gates_scoped_english_pages_only() -> None:
    french = RawPage(url="https://www.lejournal.test/sport/match",
                     content=("<html lang='fr'><head><title>Le match</title></head><body><article><h1>Le match</h1>"
                              + "<p>L'attaquant a marqué deux buts et l'équipe a gagné le match de championnat. "
                                "Les supporters ont rempli le stade pour le derby de la saison.</p>" * 6
                              + "</article></body></html>").encode())
    batch = [(page(1, diplomacy=True), True), (page(2, diplomacy=False), True), (page(3, diplomacy=False), False),
             (french, True)]
    diplomacy, sport, kept, other_language = work_batch(batch, SETTINGS)
    assert diplomacy.outcome is Outcome.PROCESSED and diplomacy.article is not None and diplomacy.score is not None
    assert diplomacy.article.enrichment_versions  # enriched
    assert sport.outcome is Outcome.OUT_OF_SCOPE and sport.article is None
    assert sport.score is not None and sport.score < THRESHOLD and sport.reason.startswith("gate score")
    assert kept.outcome is Outcome.PROCESSED and kept.score is None  # scope all: never scored
    assert other_language.outcome is Outcome.PROCESSED and other_language.score is None  # the gate reads English


def test_scopes_follow_the_source_id_and_fall_back_to_the_default() -> None:
    scopes = Scopes({"mofa": Scope.ALL, "wire": Scope.DIPLOMACY}, default=Scope.DIPLOMACY)
    assert scopes.of(page(1, source="mofa")) is Scope.ALL
    assert scopes.of(page(1, source="wire")) is Scope.DIPLOMACY
    assert scopes.of(page(1, source="unknown")) is Scope.DIPLOMACY
    assert Scopes().of(RawPage(url="https://x.test/a", content=b"", source=SourceRef("x.test"))) is Scope.ALL


def test_a_capture_keeps_the_scope_its_source_had_at_fetch_time_unless_the_sources_file_says_otherwise(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from pipeline.fetch.warc import CapturedResponse, WarcSink
    from pipeline.warc import iter_responses

    path = tmp_path / "capture.warc.gz"
    with WarcSink(path) as sink:
        for n, (source, scope) in enumerate([("newsroom", "all"), ("wire", "diplomacy"), ("odd", "bogus")]):
            sink.write(CapturedResponse(
                url=f"https://x.test/{n}", status=200, reason="OK", headers=[("Content-Type", "text/html")],
                raw_body=b"<html></html>", fetched_at=datetime(2015, 9, 28, tzinfo=UTC), source_id=source,
                run_id="r", fetch_url=f"https://x.test/{n}", canonical_url=f"https://x.test/{n}", scope=scope))
    newsroom, wire, odd = [p for p in iter_responses(path) if isinstance(p, RawPage)]
    scopes = Scopes({"wire": Scope.ALL}, default=Scope.DIPLOMACY)
    assert scopes.of(newsroom) is Scope.ALL  # in no sources file: the recorded scope
    assert scopes.of(wire) is Scope.ALL  # the sources file widened it: the file wins
    assert scopes.of(odd) is Scope.DIPLOMACY  # an unknown value: the default


def _sources(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n" + body, encoding="utf-8")
    return path


def test_scope_defaults_by_kind_and_is_set_per_source(tmp_path: Path) -> None:
    path = _sources(tmp_path, """
  - {id: mofa, name: Ministry, kind: rss, url: "https://mofa.test/rss"}
  - {id: wire, name: Wire, kind: rss, url: "https://wire.test/rss", scope: diplomacy}
  - {id: dump, name: Dump, kind: warc, path: /tmp/x.warc}
  - {id: dump-all, name: Dump, kind: warc, path: /tmp/x.warc, scope: ALL}
  - id: paper
    name: Paper
    kind: rss
    url: https://paper.test/rss
    scope: all
    archives:
      - {kind: wayback, url: "https://paper.test/"}
""")
    scopes = {s.id: s.scope for s in load_sources(path)}
    assert scopes == {"mofa": Scope.ALL, "wire": Scope.DIPLOMACY, "dump": Scope.DIPLOMACY, "dump-all": Scope.ALL,
                      "paper": Scope.ALL}
    (paper,) = [s for s in load_sources(path) if s.id == "paper"]
    assert paper.archives[0].scope is Scope.ALL  # an archive entry is its source's pages: same id, same scope
    assert {k: default_scope(k) for k in SourceKind} == {
        SourceKind.RSS: Scope.ALL, SourceKind.SITEMAP: Scope.ALL, SourceKind.URLS: Scope.ALL,
        SourceKind.WARC: Scope.DIPLOMACY, SourceKind.WAYBACK: Scope.DIPLOMACY, SourceKind.GDELT: Scope.DIPLOMACY,
        SourceKind.CCNEWS: Scope.DIPLOMACY}


def test_a_bad_scope_names_the_file_and_line(tmp_path: Path) -> None:
    path = _sources(tmp_path, '  - {id: wire, name: Wire, kind: rss, url: "https://wire.test/rss", scope: world}\n')
    with pytest.raises(SourcesError, match=r"sources\.yaml:2: source 'wire': 'scope' must be diplomacy or all"):
        load_sources(path)


def test_the_default_sources_keep_ministries_whole_and_gate_broad_outlets() -> None:
    sources = {s.id: s for s in load_sources(SETTINGS.sources)}
    for source in sources.values():
        own = {"un", "foreign-ministry", "government", "head-of-state"} & set(source.tags)
        assert source.scope is (Scope.ALL if own or source.id == "cc-news-local" else Scope.DIPLOMACY), source.id
    assert sources["bbc-world"].scope is Scope.DIPLOMACY and sources["jp-mofa-en"].scope is Scope.ALL


def test_the_sources_file_is_read_once_per_version_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A drain asks for the scopes of every capture it processes; parsing the file each time cost as much as a page.
    import os

    import pipeline.sources
    from pipeline.gate import source_scopes

    reads: list[Path] = []
    real = pipeline.sources.load_sources
    monkeypatch.setattr(pipeline.sources, "load_sources", lambda p: reads.append(Path(p)) or real(p))
    path = _sources(tmp_path, '  - {id: wire, name: Wire, kind: rss, url: "https://wire.test/rss", scope: diplomacy}\n')
    settings = load_settings(environ={}, overrides={"sources": str(path)})
    first = [source_scopes(settings, Scope.DIPLOMACY) for _ in range(5)]
    assert len(reads) == 1 and all(s.by_source == {"wire": Scope.DIPLOMACY} for s in first)
    # Widening the source's scope in the file is seen at the next call, as a replay after widening needs.
    path.write_text(path.read_text(encoding="utf-8").replace("scope: diplomacy", "scope: all"), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert source_scopes(settings, Scope.DIPLOMACY).by_source == {"wire": Scope.ALL}
    assert len(reads) == 2
