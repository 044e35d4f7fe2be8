"""Index throughput: Chancery's bulk path against a bare `helpers.streaming_bulk` loop.

    ELASTICSEARCH_URL=... .venv/bin/python bench/index_throughput.py --n 20000 --rounds 3

Both paths index the same N synthetic Articles (generated in memory before timing) into fresh
indices with the same mapping and analysis, with the same chunk sizes. Chancery's path is
`index_articles` (outcomes, tally, dead-letter bookkeeping, retries); the baseline only drains
the helper. Rounds alternate which path goes first, and the median of each is compared, because
the engine is shared and noisy. Not a timed test: it prints docs/s and the ratio (goal >= 0.9).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import Settings, load_settings  # noqa: E402
from pipeline.index.baseline import bare_streaming_bulk, create_plain_index  # noqa: E402
from pipeline.index.bulk import index_articles  # noqa: E402
from pipeline.index.client import EngineUnavailable, connect  # noqa: E402
from pipeline.index.setup import detect_analysis, remove_index_family, setup_index  # noqa: E402
from pipeline.models import Article, Entity, EntityType, SourceRef, Topic  # noqa: E402
from pipeline.outcomes import Tally  # noqa: E402

WORDS = [
    "minister",
    "talks",
    "summit",
    "sanctions",
    "treaty",
    "ceasefire",
    "delegation",
    "embassy",
    "envoy",
    "border",
    "trade",
    "security",
    "council",
    "resolution",
    "negotiations",
    "agreement",
    "alliance",
    "cooperation",
    "dispute",
    "islands",
    "maritime",
    "nuclear",
    "ambassador",
    "foreign",
    "ministry",
    "statement",
    "visit",
    "bilateral",
    "regional",
    "leaders",
    "meeting",
    "humanitarian",
    "aid",
]
PEOPLE = ("Sergey Lavrov", "Yoko Kamikawa", "Antony Blinken", "Wang Yi", "Penny Wong", "S. Jaishankar")
ORGS = ("United Nations", "European Union", "NATO", "ASEAN", "African Union", "IAEA")
COUNTRIES = ("JP", "RU", "US", "CN", "AU", "IN", "DE", "FR", "BR", "ZA")
TOPICS = ("sanctions", "territorial-dispute", "summit", "un-diplomacy", "trade", "nuclear")


def synthetic_articles(n: int, seed: int = 7) -> list[Article]:
    """N varied articles of realistic size (about 400 words, entities, topics)."""
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    articles = []
    for i in range(n):
        body = "\n\n".join(" ".join(rng.choices(WORDS, k=80)).capitalize() + "." for _ in range(5))
        people = tuple(rng.sample(PEOPLE, 2))
        orgs = tuple(rng.sample(ORGS, 1))
        article = Article.new(
            f"https://bench.example/{i}",
            source=SourceRef(domain=f"outlet{i % 20}.example"),
            title=" ".join(rng.choices(WORDS, k=9)).capitalize(),
            summary=" ".join(rng.choices(WORDS, k=30)) + ".",
            published_at=start + timedelta(minutes=37 * i),
            language="en",
            persons=people,
            organizations=orgs,
            countries=tuple(rng.sample(COUNTRIES, 2)),
            entities=tuple(Entity(p, EntityType.PERSON, mentions=2, surface_forms=(p,)) for p in people)
            + tuple(Entity(o, EntityType.ORGANIZATION, mentions=1) for o in orgs),
            topics=(Topic(rng.choice(TOPICS), "Topic", round(rng.random(), 3), ("evidence",)),),
        ).with_text(body)
        articles.append(article)
    return articles


def with_prefix(settings: Settings, prefix: str) -> Settings:
    return dataclasses.replace(settings, elasticsearch=dataclasses.replace(settings.elasticsearch, index_prefix=prefix))


@dataclasses.dataclass(frozen=True)
class Measurement:
    docs_per_second: float
    client_cpu_ms_per_1k: float  # this process's CPU per 1,000 docs: the client-side cost alone


def measure(docs: int, run: Callable[[], None]) -> Measurement:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Measurement(docs / wall, 1_000_000 * cpu / docs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="articles per run (default 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each path (default 3)")
    args = parser.parse_args()

    settings = load_settings()
    try:
        es = connect(settings)
    except EngineUnavailable as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 3
    articles = synthetic_articles(args.n)
    warmup = synthetic_articles(500, seed=1)
    decision = detect_analysis(es)
    run_tag = uuid.uuid4().hex[:6]
    created: list[Settings] = []
    results: dict[str, list[Measurement]] = {"bare": [], "chancery": []}

    def run_chancery(round_no: int, docs: list[Article]) -> Measurement:
        s = with_prefix(settings, f"bench-{run_tag}-{round_no}-chancery")
        created.append(s)
        setup_index(es, s)  # not timed: once per deployment, not per batch

        def go() -> None:
            report = index_articles(es, docs, s, Tally())
            assert report.failed == 0 and report.indexed == len(docs), report

        return measure(len(docs), go)

    def run_bare(round_no: int, docs: list[Article]) -> Measurement:
        s = with_prefix(settings, f"bench-{run_tag}-{round_no}-bare")
        created.append(s)
        index = f"{s.elasticsearch.index_prefix}-plain"
        create_plain_index(es, index, decision)

        def go() -> None:
            assert bare_streaming_bulk(es, docs, index, s) == 0

        return measure(len(docs), go)

    paths = {"bare": run_bare, "chancery": run_chancery}
    try:
        for run in paths.values():  # warm the JVM, the connection pool and the analysis chain
            run(0, warmup)
        for round_no in range(1, args.rounds + 1):
            order = ("bare", "chancery") if round_no % 2 else ("chancery", "bare")
            for name in order:
                m = paths[name](round_no, articles)
                results[name].append(m)
                print(
                    f"round {round_no} {name:9} {m.docs_per_second:8.0f} docs/s "
                    f"{m.client_cpu_ms_per_1k:7.0f} ms client CPU per 1k docs",
                    flush=True,
                )
    finally:
        for s in created:
            remove_index_family(es, s)
        es.close()

    bare = statistics.median(m.docs_per_second for m in results["bare"])
    ours = statistics.median(m.docs_per_second for m in results["chancery"])
    bare_cpu = statistics.median(m.client_cpu_ms_per_1k for m in results["bare"])
    our_cpu = statistics.median(m.client_cpu_ms_per_1k for m in results["chancery"])
    es_settings = settings.elasticsearch
    print(
        f"\nN={args.n} rounds={args.rounds} analysis={decision.choice.value} "
        f"chunk={es_settings.bulk_chunk_docs} docs / {es_settings.bulk_chunk_bytes} bytes"
    )
    print(f"bare streaming_bulk     {bare:8.0f} docs/s  {bare_cpu:6.0f} ms client CPU/1k docs (medians)")
    print(f"chancery index_articles {ours:8.0f} docs/s  {our_cpu:6.0f} ms client CPU/1k docs (medians)")
    print(f"ratio chancery/bare     {ours / bare:8.3f}  (goal >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
