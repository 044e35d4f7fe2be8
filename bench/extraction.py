"""Extraction benchmark: Chancery against bare trafilatura on the same pages, in one run.

    .venv/bin/python bench/extraction.py CORPUS_DIR [--limit N] [--misses FIELD] [--briefs 50] [--dedup-bodies 20000]

CORPUS_DIR holds ``html/<id>.html``, ``json/<id>.json`` (expected ``title``, ``authors``,
``publishing_date``, ``body_text``) and ``english_ids.txt``. Printed per group (English,
non-English): body precision/recall/F1 as word 4-gram shingle overlap averaged per page,
title exact match after whitespace normalisation, published date correct to the day,
authors set-F1; the pages each extractor drops (no article, or no text), per outcome and reason
with their ids, and how many pages Chancery keeps as briefs; then pages per CPU second for both,
single process (CPU time, so other jobs on a shared machine do not distort it); then near-duplicate
grouping speed on synthetic bodies. Pages an extractor drops count as empty for every field.

``--briefs N`` also runs every page cut to a brief: its article paragraphs (those of the expected
body) after the first N words are removed from the page in memory, the rest of the template stays
(banners, subscription boxes, scripts, JSON-LD). It counts how many of these real-template briefs
each extractor keeps and what drops the others.

The "no profiles" column is Chancery with an empty publisher registry: what a publisher without
an entry in ``pipeline/data/publishers.yaml`` can expect. The registry's first entries were read
off this corpus, so on its publishers the "chancery" title score is in-sample.

Bare trafilatura is ``trafilatura.bare_extraction(html_bytes, url=url, with_metadata=True)``,
its defaults otherwise: the call a user makes to get text, title, author and date.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trafilatura  # noqa: E402
from lxml import html as lxml_html  # noqa: E402

from pipeline.config import Settings  # noqa: E402
from pipeline.extract import extract_page  # noqa: E402
from pipeline.extract.dedup import assign_story_ids  # noqa: E402
from pipeline.models import Article, RawPage  # noqa: E402

SHINGLE = 4
_TOKEN = re.compile(r"\w+")


@dataclass
class Prediction:
    title: str = ""
    authors: tuple[str, ...] = ()
    day: str | None = None  # YYYY-MM-DD
    body: str = ""
    rejected: str = ""  # "outcome:reason" of a dropped page
    brief: bool = False


@dataclass
class Scores:
    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)
    title: list[float] = field(default_factory=list)
    date: list[float] = field(default_factory=list)
    authors: list[float] = field(default_factory=list)
    people: list[float] = field(default_factory=list)
    seconds: float = 0.0
    dropped: dict[str, list[str]] = field(default_factory=dict)  # "outcome:reason" -> page ids
    briefs: int = 0


def shingles(text: str) -> set[tuple[str, ...]]:
    tokens = _TOKEN.findall(text.lower())
    if len(tokens) < SHINGLE:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}


def body_prf(predicted: str, expected: str) -> tuple[float, float, float]:
    p, e = shingles(predicted), shingles(expected)
    if not p or not e:
        return (1.0, 1.0, 1.0) if p == e else (0.0, 0.0, 0.0)
    common = len(p & e)
    precision, recall = common / len(p), common / len(e)
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return precision, recall, f1


def norm_ws(text: str) -> str:
    return " ".join(text.split())


def author_f1(predicted: tuple[str, ...], expected: list[str]) -> float:
    p = {norm_ws(a).casefold() for a in predicted if a.strip()}
    e = {norm_ws(a).casefold() for a in expected if a.strip()}
    if not p and not e:
        return 1.0
    if not p or not e:
        return 0.0
    common = len(p & e)
    return 2 * common / (len(p) + len(e))


# Wire agencies and outlet names are not people: the issue asks for people only, while the
# corpus' expected values often name the agency or outlet. "people only" scores drop those
# expected entries (for both extractors alike): agency names below, and the publisher's own name.
AGENCIES = re.compile(r"^(?:the )?(?:associated press|ap|afp|reuters|dpa|sda|sid|apa|anadolu ajansı|"
                      r"deutsche presse-agentur|bbc news|agenturen|redaktion\b.*|.*\bredaktion)$", re.I)


def people_only(expected: list[str], publisher: str, url: str) -> list[str]:
    host = re.sub(r"^www\.", "", url.split("://", 1)[-1].split("/", 1)[0].lower())
    pub = re.sub(r"\W", "", publisher.lower())
    kept = []
    for name in expected:
        squashed = re.sub(r"\W", "", name.lower())
        if AGENCIES.match(name.strip()) or squashed == pub or squashed in re.sub(r"\W", "", host) or (
            pub and pub in squashed):
            continue
        kept.append(name)
    return kept


def date_ok(predicted: str | None, expected: str | None) -> float:
    """To the day: the expected date in its own offset or in UTC (pages show local dates)."""
    if not expected:
        return 1.0 if predicted is None else 0.0
    gold = datetime.fromisoformat(expected)
    days = {gold.date().isoformat()}
    if gold.tzinfo is not None:
        days.add(gold.astimezone(UTC).date().isoformat())
    return 1.0 if predicted in days else 0.0


def run_chancery(html: bytes, url: str, settings: Settings, fetched: datetime) -> Prediction:
    result = extract_page(RawPage(url=url, content=html, fetched_at=fetched), settings)
    article = result.article
    if article is None:
        return Prediction(rejected=f"{result.outcome.value}:{result.reason}")
    day = article.published_at.date().isoformat() if article.published_at else None
    return Prediction(article.title, article.authors, day, article.body, brief=article.brief)


def generic_runner(settings: Settings, directory: Path) -> Callable[[bytes, str, Settings, datetime], Prediction]:
    """Chancery with no publisher profiles: the score a publisher not in publishers.yaml can expect."""
    empty = directory / "publishers.yaml"
    empty.write_text("publishers: []\n", encoding="utf-8")
    generic = dataclasses.replace(settings, extract=dataclasses.replace(settings.extract, publishers=empty))
    return lambda html, url, _settings, fetched: run_chancery(html, url, generic, fetched)


def run_trafilatura(html: bytes, url: str, settings: Settings, fetched: datetime) -> Prediction:
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if doc is None:
        return Prediction(rejected="none")
    authors = tuple(a.strip() for a in (doc.author or "").split(";") if a.strip())
    return Prediction(doc.title or "", authors, doc.date or None, doc.text or "",
                      rejected="" if (doc.text or "").strip() else "no text")


def score(pred: Prediction, gold: dict[str, object], into: Scores, page_id: str) -> dict[str, float]:
    p, r, f = body_prf(pred.body, str(gold.get("body_text") or ""))
    t = 1.0 if norm_ws(pred.title) == norm_ws(str(gold.get("title") or "")) else 0.0
    d = date_ok(pred.day, gold.get("publishing_date"))  # type: ignore[arg-type]
    a = author_f1(pred.authors, list(gold.get("authors") or []))  # type: ignore[call-overload]
    into.precision.append(p)
    into.recall.append(r)
    into.f1.append(f)
    into.title.append(t)
    into.date.append(d)
    into.authors.append(a)
    expected = list(gold.get("authors") or [])  # type: ignore[call-overload]
    into.people.append(author_f1(pred.authors, people_only(expected, str(gold.get("publisher") or ""),
                                                           str(gold.get("url") or ""))))
    if pred.rejected:
        into.dropped.setdefault(pred.rejected, []).append(page_id)
    into.briefs += pred.brief
    return {"f1": f, "title": t, "date": d, "authors": a}


def fmt(values: list[float]) -> str:
    return f"{mean(values):.3f}" if values else "  -  "


def print_table(name: str, runs: dict[str, Scores]) -> None:
    chancery = runs["chancery"]
    print(f"\n{name} ({len(chancery.f1)} pages)")
    print(f"  {'metric':<22}" + "".join(f"{r:>14}" for r in runs))
    rows = (("body precision", "precision"), ("body recall", "recall"), ("body F1", "f1"),
            ("title exact", "title"), ("date to the day", "date"), ("authors set-F1", "authors"),
            ("authors, people only", "people"))
    for label, attr in rows:
        print(f"  {label:<22}" + "".join(f"{fmt(getattr(scores, attr)):>14}" for scores in runs.values()))
    print(f"  {'pages dropped':<22}" + "".join(f"{sum(map(len, s.dropped.values())):>14}" for s in runs.values()))
    print(f"  {'briefs kept':<22}" + "".join(f"{s.briefs:>14}" for s in runs.values()))
    for runner, scores in runs.items():
        for reason, ids in sorted(scores.dropped.items()):
            print(f"    {runner} dropped {len(ids)} as {reason}: {', '.join(ids)}")


def _words_only(text: str) -> str:
    return " ".join(_TOKEN.findall(text.lower()))


def cut_to_brief(html: bytes, expected_body: str, words: int) -> bytes | None:
    """The page with its article paragraphs after the first ``words`` words removed; None when the
    page has fewer than three paragraphs of the expected body to cut (a brief already, or no <p>s)."""
    tree = lxml_html.fromstring(html)
    expected = _words_only(expected_body)
    paragraphs = [p for p in tree.iter("p")
                  if len(text := _words_only(p.text_content())) >= 20 and text in expected]
    if len(paragraphs) < 3:
        return None
    kept = 0
    for paragraph in paragraphs:
        if kept < words:
            kept += len(paragraph.text_content().split())
        else:
            paragraph.drop_tree()
    return bytes(lxml_html.tostring(tree, encoding="utf-8"))


def bench_briefs(corpus: Path, ids: list[str], words: int, settings: Settings) -> None:
    outcomes: dict[str, dict[str, list[str]]] = {"chancery": {}, "trafilatura": {}}
    cut = 0
    for page_id in ids:
        gold = json.loads((corpus / "json" / f"{page_id}.json").read_text(encoding="utf-8"))
        html = cut_to_brief((corpus / "html" / f"{page_id}.html").read_bytes(), str(gold.get("body_text") or ""), words)
        if html is None:
            continue
        cut += 1
        fetched = datetime.now(UTC)
        for name, runner in (("chancery", run_chancery), ("trafilatura", run_trafilatura)):
            pred = runner(html, gold["url"], settings, fetched)
            key = pred.rejected or ("kept as brief" if pred.brief else "kept")
            outcomes[name].setdefault(key, []).append(page_id)
    print(f"\nbriefs: {cut} pages cut to about {words} words of article text, in their own templates")
    for name, by_key in outcomes.items():
        kept = sum(len(v) for k, v in by_key.items() if k.startswith("kept"))
        print(f"  {name}: kept {kept} of {cut} ({', '.join(f'{k} {len(v)}' for k, v in sorted(by_key.items()))})")
        for key, pages in sorted(by_key.items()):
            if not key.startswith("kept"):
                print(f"    {name} dropped {len(pages)} as {key}: {', '.join(pages)}")


def synthetic_bodies(count: int, seed: int = 7) -> list[Article]:
    """Stories of ~300 words, each in up to 5 versions: copies with words swapped and sentences dropped."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(20000)]
    articles: list[Article] = []
    base = datetime(2026, 1, 1, tzinfo=UTC)
    story = 0
    while len(articles) < count:
        words = rng.choices(vocabulary, k=300)
        for version in range(min(rng.randint(1, 5), count - len(articles))):
            edited = list(words)
            if version:
                for _ in range(6):  # a rewrite: a few words changed, a tail sentence dropped
                    edited[rng.randrange(len(edited))] = rng.choice(vocabulary)
                edited = edited[: len(edited) - rng.randint(0, 20)]
            url = f"https://example{version}.test/story/{story}"
            articles.append(Article.new(url=url, published_at=base + timedelta(minutes=len(articles)),
                                        title=f"story {story}").with_text(" ".join(edited)))
        story += 1
    return articles


def bench_dedup(count: int, threshold: float) -> None:
    articles = synthetic_bodies(count)
    start, cpu_start = time.perf_counter(), time.process_time()
    grouped = assign_story_ids(articles, threshold)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    truth: dict[str, set[str]] = {}
    for a in articles:
        truth.setdefault(a.title, set()).add(a.id)
    found: dict[str, set[str]] = {}
    for a in grouped:
        found.setdefault(a.title, set()).add(a.story_id or "")
    split = sum(1 for ids in found.values() if len(ids) > 1)
    story_titles: dict[str, set[str]] = {}
    for a in grouped:
        story_titles.setdefault(a.story_id or "", set()).add(a.title)
    merged = sum(1 for titles in story_titles.values() if len(titles) > 1)
    print(f"\nnear-duplicates: {count} synthetic bodies, threshold {threshold}: {seconds:.2f} s wall, {cpu:.2f} s CPU "
          f"({count / cpu:,.0f} bodies per CPU second); {len(truth)} true stories -> {len(story_titles)} story ids; "
          f"stories split {split}, wrongly merged groups {merged}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages")
    parser.add_argument("--only", default="", help="substring of page ids to run")
    parser.add_argument("--misses", default="", help="print pages that miss: body, title, date or authors")
    parser.add_argument("--briefs", type=int, default=0, help="also run every page cut to about N words")
    parser.add_argument("--dedup-bodies", type=int, default=20000)
    args = parser.parse_args(argv)

    settings = Settings()
    english = set((args.corpus / "english_ids.txt").read_text().split())
    ids = sorted(p.stem for p in (args.corpus / "html").glob("*.html") if args.only in p.stem)
    if args.limit:
        ids = ids[: args.limit]
    runners: dict[str, Callable[[bytes, str, Settings, datetime], Prediction]] = {
        "chancery": run_chancery, "no profiles": generic_runner(settings, Path(tempfile.mkdtemp())),
        "trafilatura": run_trafilatura,
    }
    groups = {g: {r: Scores() for r in runners} for g in ("English", "non-English")}
    warm = (args.corpus / "html" / f"{ids[0]}.html").read_bytes()
    for runner in runners.values():  # model loading and first-call costs are not page costs
        runner(warm, "https://example.com/", settings, datetime.now(UTC))

    for page_id in ids:
        html = (args.corpus / "html" / f"{page_id}.html").read_bytes()
        gold = json.loads((args.corpus / "json" / f"{page_id}.json").read_text(encoding="utf-8"))
        crawl = gold.get("crawl_date")
        fetched = datetime.fromisoformat(crawl).replace(tzinfo=UTC) if crawl else datetime.now(UTC)
        group = groups["English" if page_id in english else "non-English"]
        for name, runner in runners.items():
            # CPU time of this process: the machine is shared, and wall time would count other jobs.
            start = time.process_time()
            pred = runner(html, gold["url"], settings, fetched)
            group[name].seconds += time.process_time() - start
            result = score(pred, gold, group[name], page_id)
            if name == "chancery" and args.misses and result.get(args.misses, 1.0) < 0.9:
                expected = {"title": gold.get("title"), "date": gold.get("publishing_date"),
                            "authors": gold.get("authors"), "f1": ""}.get(args.misses, "")
                got = {"title": pred.title, "date": pred.day, "authors": pred.authors,
                       "f1": pred.rejected}.get(args.misses, "")
                print(f"MISS {args.misses} {page_id}: {result[args.misses]:.2f} got={got!r} want={expected!r}")

    for name, runs in groups.items():
        print_table(name, runs)
    dropped = {n: sum(len(pages) for g in groups for pages in groups[g][n].dropped.values()) for n in runners}
    print(f"\npages dropped of {len(ids)}: " + ", ".join(f"{n} {count}" for n, count in dropped.items()))
    total = {n: sum(groups[g][n].seconds for g in groups) for n in runners}  # "no profiles" is not timed
    pages = len(ids)
    c, t = pages / total["chancery"], pages / total["trafilatura"]
    print(f"\nspeed, single process, per CPU second: chancery {c:.1f} pages/s, trafilatura {t:.1f} pages/s, "
          f"ratio {c / t:.2f}x")
    if args.briefs:
        bench_briefs(args.corpus, ids, args.briefs, settings)
    if args.dedup_bodies:
        bench_dedup(args.dedup_bodies, settings.extract.near_duplicate_threshold)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
