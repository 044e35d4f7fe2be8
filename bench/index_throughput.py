"""Index throughput: Chancery's bulk path against a bare `helpers.streaming_bulk` loop.

    ELASTICSEARCH_URL=... .venv/bin/python bench/index_throughput.py --n 20000 --rounds 3

Both paths index the same N synthetic Articles (generated in memory before timing) into fresh
indices with the same mapping and analysis, with the same chunk sizes. Chancery's path is
`index_articles` (outcomes, tally, dead-letter bookkeeping, retries); the baseline only drains
the helper. The engine is shared and noisy, so each round is cut into paired slices indexed
alternately by the two paths (order flipping every slice), and times are summed per path. Not a
timed test: it prints docs/s, client CPU per 1k docs and the ratio (goal >= 0.9).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
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


@dataclasses.dataclass
class Totals:
    """Wall and client CPU seconds summed over the slices a path indexed in one round."""

    docs: int = 0
    wall: float = 0.0
    cpu: float = 0.0

    def add(self, docs: int, run: Callable[[], None]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        self.docs += docs

    @property
    def docs_per_second(self) -> float:
        return self.docs / self.wall

    @property
    def cpu_ms_per_1k(self) -> float:  # this process's CPU per 1,000 docs: the client-side cost alone
        return 1_000_000 * self.cpu / self.docs


def slices(items: list[Article], count: int) -> list[list[Article]]:
    size = -(-len(items) // count)
    return [items[i : i + size] for i in range(0, len(items), size)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="articles per round (default 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each into fresh indices (default 3)")
    parser.add_argument("--slices", type=int, default=10, help="paired slices per round (default 10)")
    parser.add_argument(
        "--alias-baseline", action="store_true", help="also run the bare loop through a write alias, as Chancery writes"
    )
    args = parser.parse_args()

    settings = load_settings()
    try:
        es = connect(settings)
    except EngineUnavailable as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 3
    articles = synthetic_articles(args.n)
    decision = detect_analysis(es)
    run_tag = uuid.uuid4().hex[:6]
    created: list[Settings] = []
    names = ["bare", "chancery"] + (["bare-via-alias"] if args.alias_baseline else [])
    ratios: list[float] = []
    pooled = {name: Totals() for name in names}

    def prepare(round_no: int) -> dict[str, Callable[[list[Article]], None]]:
        """Fresh indices with identical settings and mapping, and one indexing function per path."""
        ours = with_prefix(settings, f"bench-{run_tag}-{round_no}-chancery")
        bare = with_prefix(settings, f"bench-{run_tag}-{round_no}-bare")
        aliased = with_prefix(settings, f"bench-{run_tag}-{round_no}-aliased")
        created.extend([ours, bare, aliased])
        setup_index(es, ours)  # not timed: once per deployment, not per batch
        plain = f"{bare.elasticsearch.index_prefix}-plain"
        create_plain_index(es, plain, decision)

        def chancery(docs: list[Article]) -> None:
            report = index_articles(es, docs, ours, Tally())
            assert report.failed == 0 and report.indexed == len(docs), report

        def baseline(docs: list[Article]) -> None:
            assert bare_streaming_bulk(es, docs, plain, bare) == 0

        paths = {"bare": baseline, "chancery": chancery}
        if args.alias_baseline:  # the bare loop through a write alias: splits alias cost from client cost
            setup_index(es, aliased)
            write_alias = f"{aliased.elasticsearch.index_prefix}-write"

            def via_alias(docs: list[Article]) -> None:
                assert bare_streaming_bulk(es, docs, write_alias, aliased) == 0

            paths["bare-via-alias"] = via_alias
        return paths

    try:
        warm = prepare(0)  # the JVM, the connection pool and the analysis chain
        for run in warm.values():
            run(articles[:500])
        orders = list(itertools.permutations(names))
        for round_no in range(1, args.rounds + 1):
            paths = prepare(round_no)
            totals = {name: Totals() for name in names}
            # Slices in rotating order: load from other users of the engine hits every path alike.
            for i, part in enumerate(slices(articles, args.slices)):
                for name in orders[(i + round_no) % len(orders)]:
                    totals[name].add(len(part), lambda run=paths[name], part=part: run(part))
            ratio = totals["chancery"].docs_per_second / totals["bare"].docs_per_second
            ratios.append(ratio)
            for name, t in totals.items():
                pooled[name].docs += t.docs
                pooled[name].wall += t.wall
                pooled[name].cpu += t.cpu
            line = ", ".join(
                f"{n} {t.docs_per_second:5.0f} docs/s ({t.cpu_ms_per_1k:3.0f} ms CPU/1k)" for n, t in totals.items()
            )
            print(f"round {round_no}: {line}, ratio {ratio:.3f}", flush=True)
    finally:
        for s in created:
            remove_index_family(es, s)
        es.close()

    es_settings = settings.elasticsearch
    print(
        f"\nN={args.n} x {args.rounds} rounds in {args.slices} paired slices, analysis={decision.choice.value}, "
        f"chunk={es_settings.bulk_chunk_docs} docs / {es_settings.bulk_chunk_bytes} bytes"
    )
    for name, t in pooled.items():
        print(f"{name:15} {t.docs_per_second:8.0f} docs/s  {t.cpu_ms_per_1k:5.0f} ms client CPU per 1k docs")
    print(f"ratio chancery/bare {statistics.median(ratios):8.3f}  median of rounds (goal >= 0.9)")
    print(f"ratio chancery/bare {pooled['chancery'].docs_per_second / pooled['bare'].docs_per_second:8.3f}  pooled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
