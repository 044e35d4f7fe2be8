"""The offline batch: raw pages (HTML files, directories, WARC captures) → Articles.

    read_inputs ─> extract_page ─> stream_story_ids ─> Enricher ─> Articles

Every stage is a generator, so articles stream through and the batch is never held
in memory. No engine is needed here; ``pipeline.ingest`` adds indexing on top. Every input
that does not become an article is counted in the Tally with a named outcome
and a reason, logged with its URL or path, and the batch goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.config import FetchSettings, Settings
from pipeline.logs import get_logger, log_event
from pipeline.models import Article, RawPage, SourceRef, domain_of, parse_datetime
from pipeline.outcomes import Outcome, StageResult, Tally

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
        from pipeline.fetch.warc import iter_responses

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


def extract_all(inputs: Iterable[Input], settings: Settings, tally: Tally) -> Iterator[Article]:
    from pipeline.extract import extract_page

    for item in inputs:
        result = item if isinstance(item, StageResult) else _safe_extract(extract_page, item, settings)
        if result.article is None:
            source = _source_key(item)
            tally.add(result.outcome, result.reason, source)
            log_event(log, "skipped", outcome=result.outcome.value, reason=result.reason, url=result.url, source=source)
            continue
        yield result.article


def _source_key(item: Input) -> str:
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


def process(inputs: Iterable[Input], settings: Settings, tally: Tally) -> Iterator[Article]:
    """Extract, group near-duplicates into stories, enrich. Yields finished Articles as they stream.

    Nothing holds the batch: story grouping keeps signatures of a bounded window, not articles
    (pipeline/extract/dedup.py), so memory is flat in the number of inputs.
    """
    from pipeline.extract.dedup import stream_story_ids

    enricher = enricher_for(settings)
    with _progress("extract", "enrich") as (extracted, enriched):
        articles = _counted(extract_all(inputs, settings, tally), extracted)
        grouped = stream_story_ids(articles, settings.extract.near_duplicate_threshold, settings.extract.story_window)
        for article in enricher.enrich_many(grouped):
            tally.add(Outcome.PROCESSED, source=article.source.id or article.source.domain)
            enriched()
            yield article


def _counted(articles: Iterable[Article], advance: Callable[[], None]) -> Iterator[Article]:
    for article in articles:
        advance()
        yield article


_ENRICHERS: dict[object, Any] = {}


def enricher_for(settings: Settings) -> Any:
    """One Enricher per enrichment configuration and process: loading spaCy and the gazetteers takes seconds."""
    from pipeline.enrich import Enricher

    key = settings.enrich
    if key not in _ENRICHERS:
        _ENRICHERS[key] = Enricher(settings)
    return _ENRICHERS[key]


def process_warcs(paths: Sequence[Path], settings: Settings, tally: Tally) -> Iterator[Article]:
    return process(read_inputs(paths, max_payload=settings.fetch.max_bytes), settings, tally)


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
