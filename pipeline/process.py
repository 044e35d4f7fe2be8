"""The offline batch: raw pages (HTML files, directories, WARC captures) → Articles.

    read_inputs ─> extract_page ─> relevance gate ─> Enricher ─> stream_story_ids ─> Articles
                   └──────────── work_batch: here, or in worker processes ─┘

Every stage is a generator, so articles stream through and the batch is never held
in memory. No engine is needed here; ``pipeline.ingest`` adds indexing on top. Every input
that does not become an article is counted in the Tally with a named outcome
and a reason, logged with its URL or path, and the batch goes on.

The per-page work (``work_batch``) is the same in this process and in a worker
(pipeline/workers.py); story ids need one place that sees every article, so they are
assigned here, from the MinHash signatures of the bodies (cheap: no model), in input order.
Enrichment does not read story ids, so doing it first changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from pipeline.config import FetchSettings, Settings
from pipeline.gate import Scopes
from pipeline.logs import get_logger, log_event
from pipeline.models import Article, RawPage, SourceRef, domain_of, parse_datetime
from pipeline.outcomes import Outcome, StageResult, Tally
from pipeline.sources import Scope
from pipeline.warc import iter_responses

log = get_logger("process")

HTML_SUFFIXES = (".html", ".htm", ".xhtml")
WARC_SUFFIXES = (".warc", ".warc.gz")

Input = RawPage | StageResult


def read_inputs(
    paths: Sequence[Path], url: str | None = None, max_payload: int = FetchSettings.max_bytes
) -> Iterator[Input]:
    """Yield a RawPage for every readable page, a rejected StageResult for every unreadable one.

    ``max_payload`` is ``settings.fetch.max_bytes``: a WARC record fetch would have refused is too_large.
    """
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and _is_input(child):
                    yield from _read_file(child, None, max_payload)
        elif path.is_file():
            yield from _read_file(path, url, max_payload)
        else:
            yield StageResult(Outcome.BAD_RECORD, reason="no such file or directory", url=str(path))


def _is_input(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(HTML_SUFFIXES) or name.endswith(WARC_SUFFIXES)


def _read_file(path: Path, url: str | None, max_payload: int) -> Iterator[Input]:
    name = path.name.lower()
    if name.endswith(WARC_SUFFIXES):
        yield from iter_responses(path, max_payload)
    elif name.endswith(HTML_SUFFIXES):
        yield _read_html(path, url)
    else:
        yield StageResult(Outcome.BAD_RECORD, reason="not an HTML or WARC file", url=str(path))


def _read_html(path: Path, url: str | None) -> Input:
    sidecar = _sidecar(path)
    page_url = url or sidecar.get("url")
    if not page_url:
        return StageResult(
            Outcome.BAD_RECORD,
            reason=f"no URL for {path.name}: pass --url or write {path.with_suffix('.json').name} with a 'url'",
            url=str(path),
        )
    return RawPage(
        url=page_url,
        content=path.read_bytes(),
        content_type=sidecar.get("content_type"),
        fetched_at=parse_datetime(sidecar.get("fetched_at")),
        source=SourceRef(domain=domain_of(page_url), id=sidecar.get("source")),
    )


def _sidecar(path: Path) -> dict[str, str]:
    """A JSON file beside the page (page.json or page.html.json) may give its url, source and fetch time."""
    for candidate in (path.with_suffix(".json"), path.with_name(path.name + ".json")):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                return {}
            return {k: str(v) for k, v in data.items() if isinstance(v, (str, int))} if isinstance(data, dict) else {}
    return {}


@dataclass(frozen=True)
class Finished:
    """What became of one input: an Article (enriched, in ``work_batch``), or a named outcome and its reason."""

    outcome: Outcome
    article: Article | None = None
    reason: str = ""
    url: str = ""
    source: str = ""  # the tally's key: sources-file id, else domain, else the input itself
    warc_file: str | None = None  # where the page is, so a capture confirms exactly what finished
    warc_offset: int | None = None
    score: float | None = None  # the relevance gate's, when the page was gated


def extract_one(item: Input, settings: Settings) -> Finished:
    """One input through extraction: its Article (outcome PROCESSED) or why it is none."""
    from pipeline.extract import extract_page

    result = item if isinstance(item, StageResult) else _safe_extract(extract_page, item, settings)
    where = item.provenance if isinstance(item, RawPage) else None
    return Finished(result.outcome, result.article, result.reason, result.url or item.url, source_key(item),
                    where.warc_file if where else None, where.warc_offset if where else None)


def extract_all(inputs: Iterable[Input], settings: Settings, tally: Tally) -> Iterator[Article]:
    """Extraction alone: the articles, every other input counted and logged with its outcome."""
    for item in inputs:
        finished = extract_one(item, settings)
        if finished.article is None:
            _count(finished, tally)
            continue
        yield finished.article


def _count(finished: Finished, tally: Tally) -> None:
    tally.add(finished.outcome, finished.reason, finished.source)
    log_event(log, "skipped", logging.ERROR if finished.outcome is Outcome.WORKER_DIED else logging.INFO,
              outcome=finished.outcome.value, reason=finished.reason, url=finished.url, source=finished.source,
              **({"score": finished.score} if finished.score is not None else {}))


def source_key(item: Input) -> str:
    """The sources-file id where known, else the publisher's domain, else the input itself (a file)."""
    if isinstance(item, RawPage) and item.source is not None:
        return item.source.id or item.source.domain
    url = item.url if isinstance(item, RawPage) else item.url
    return domain_of(url) or url


def _safe_extract(
    extract_page: Callable[[RawPage, Settings], StageResult], page: RawPage, settings: Settings
) -> StageResult:
    """A parser bug on one page must not end the batch: it becomes a PARSE_ERROR with its reason.

    A setup error is not a bad page: a malformed data file (the publisher registry) stops the run
    instead of turning every page into a PARSE_ERROR.
    """
    from pipeline.datafiles import DataFileError

    try:
        return extract_page(page, settings)
    except DataFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - quarantined with its evidence, never swallowed silently
        return StageResult(Outcome.PARSE_ERROR, reason=f"{type(exc).__name__}: {exc}", url=page.url)


def work_batch(pages: Sequence[tuple[RawPage, bool]], settings: Settings) -> list[Finished]:
    """The per-page work, in whatever process does it: extract each page, gate the scoped ones, enrich the rest.

    ``pages`` pairs each page with whether it is gated (its source's scope is ``diplomacy``). One result
    per page, in order. The gate reads English: an article in another language passes it (its enrichment
    is the language-independent gazetteer part anyway). Enrichment runs over the batch at once (nlp.pipe).
    """
    finished = [extract_one(page, settings) for page, _ in pages]
    threshold = settings.process.gate_threshold
    for i, (_, gated) in enumerate(pages):
        article = finished[i].article
        if gated and article is not None and _gate_reads(article.language):
            from pipeline.gate import gate_for

            verdict = gate_for(settings).score(article.title, article.body)
            if verdict.score < threshold:
                finished[i] = replace(finished[i], outcome=Outcome.OUT_OF_SCOPE, article=None,
                                      reason=verdict.reason(threshold), score=verdict.score)
            else:
                finished[i] = replace(finished[i], score=verdict.score)
    todo = [i for i, f in enumerate(finished) if f.article is not None]
    if todo:
        enriched = enricher_for(settings).enrich_many([finished[i].article for i in todo])
        for i, article in zip(todo, enriched, strict=True):
            finished[i] = replace(finished[i], article=article)
    return finished


def _gate_reads(language: str | None) -> bool:
    return language is None or language.lower().split("-")[0].split("_")[0] == "en"


def warm_up(settings: Settings) -> None:
    """Load what every page needs, once per process: the Enricher (spaCy, gazetteers, places) and the gate."""
    from pipeline.gate import gate_for

    enricher_for(settings)
    gate_for(settings)


def process(
    inputs: Iterable[Input],
    settings: Settings,
    tally: Tally,
    workers: int | None = None,
    scopes: Scopes | None = None,
    on_finished: Callable[[Finished], None] | None = None,
    page_hook: Callable[[RawPage], None] | None = None,
) -> Iterator[Article]:
    """Extract, gate, enrich, group near-duplicates into stories. Yields finished Articles as they stream.

    ``workers``: None does the work in this process; N > 0 in N worker processes (pipeline/workers.py),
    0 in one per core. Either way the output is the same, in input order. ``scopes`` says which pages
    the relevance gate reads (default: none). ``on_finished`` sees every input's result as it finishes
    processing (before indexing), in input order; ``page_hook`` runs in each worker on each page
    (tests crash workers with it).

    Nothing holds the batch: story grouping keeps signatures of a bounded window, not articles
    (pipeline/extract/dedup.py), and workers hold a bounded number of pages, so memory is flat in
    the number of inputs.
    """
    from pipeline.extract.dedup import stream_story_ids

    scopes = scopes or Scopes()
    with _progress("extract", "enrich") as (extracted, enriched):
        results = _results(inputs, settings, workers, scopes, page_hook)
        articles = _articles(results, tally, extracted, on_finished)
        grouped = stream_story_ids(articles, settings.extract.near_duplicate_threshold, settings.extract.story_window)
        for article in grouped:
            tally.add(Outcome.PROCESSED, source=article.source.id or article.source.domain)
            enriched()
            yield article


def _results(inputs: Iterable[Input], settings: Settings, workers: int | None, scopes: Scopes,
             page_hook: Callable[[RawPage], None] | None) -> Iterator[Finished]:
    """Every input's result, in input order: in this process (batch by batch), or from worker processes."""
    if workers is None:
        iterator = iter(inputs)
        while batch := list(islice(iterator, max(1, settings.enrich.batch_articles))):
            pages = [(item, scopes.of(item) is Scope.DIPLOMACY) for item in batch if isinstance(item, RawPage)]
            done = iter(work_batch(pages, settings))
            for item in batch:
                yield next(done) if isinstance(item, RawPage) else extract_one(item, settings)
        return
    from pipeline.workers import Job, WorkerPool, worker_count

    def jobs() -> Iterator[Job | Finished]:
        for seq, item in enumerate(inputs):
            if isinstance(item, RawPage):
                yield Job(seq, item, scopes.of(item) is Scope.DIPLOMACY)
            else:
                yield extract_one(item, settings)

    pool = WorkerPool(settings, worker_count(workers), page_hook=page_hook)
    for _, result in pool.run(jobs()):
        if result.outcome is Outcome.WORKER_DIED:
            _dead_letter(settings, result)
        yield result


def _dead_letter(settings: Settings, finished: Finished) -> None:
    """A page that killed two workers: a dead letter without a document (nothing was built), kept in the
    state store's fallback (the file, or the shared store's table)."""
    from datetime import UTC, datetime

    from pipeline.models import article_id, format_datetime
    from pipeline.state import open_state

    where = f" (capture {finished.warc_file} at offset {finished.warc_offset})" if finished.warc_file else ""
    open_state(settings).deadletters().append([{
        "article_id": article_id(finished.url), "url": finished.url, "index": "", "status": None,
        "error_type": Outcome.WORKER_DIED.value, "reason": finished.reason + where,
        "failed_at": format_datetime(datetime.now(UTC)), "document": None,
    }])


def _articles(results: Iterable[Finished], tally: Tally, advance: Callable[[], None],
              on_finished: Callable[[Finished], None] | None) -> Iterator[Article]:
    for finished in results:
        advance()
        if on_finished is not None:
            on_finished(finished)
        if finished.article is None:
            _count(finished, tally)
            continue
        yield finished.article


_ENRICHERS: dict[object, Any] = {}


def enricher_for(settings: Settings) -> Any:
    """One Enricher per enrichment configuration and process: loading spaCy and the gazetteers takes seconds."""
    from pipeline.enrich import Enricher

    key = settings.enrich
    if key not in _ENRICHERS:
        _ENRICHERS[key] = Enricher(settings)
    return _ENRICHERS[key]


def write_jsonl(articles: Iterable[Article], out: Path) -> int:
    """Write atomically: a half-written file never looks like a finished batch."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    count = 0
    with partial.open("w", encoding="utf-8") as handle:
        for article in articles:
            handle.write(json.dumps(article.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    partial.replace(out)
    return count


def read_jsonl(path: Path) -> Iterator[Article]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield Article.from_dict(json.loads(line))


@contextmanager
def _progress(*labels: str) -> Iterator[list[Callable[[], None]]]:
    """Progress bars on stderr (so stdout stays clean for JSON output), one per label; totals are unknown."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        tasks = [progress.add_task(label, total=None) for label in labels]
        yield [partial(progress.advance, task) for task in tasks]
