"""Index size per article: what real Articles take on disk in an index built as production builds it.

    .venv/bin/chancery process PAGES... -o articles.jsonl     # real pages through extract and enrich
    .venv/bin/python bench/index_size.py articles.jsonl [--json out.json]

The Article JSON lines go into a fresh index family (``size-<id>-articles``, the production template:
mapping, analysis, nested entities) on the configured engine (ELASTICSEARCH_URL, else the local
engine), once all of them and once the English ones only (English articles get the full enrichment;
other languages get less). Each index is refreshed and force-merged to one segment, which is what a
finished publication-year index looks like, and its primary store size is read. Printed per article:
store bytes, ``_source`` JSON bytes, body words, nested entities. Everything it creates is deleted.
Not a timed test; docs/scaling.md sizes the cluster from these numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import Settings, load_settings  # noqa: E402
from pipeline.index.bulk import article_document, index_articles  # noqa: E402
from pipeline.index.client import connect  # noqa: E402
from pipeline.index.mapping import IndexNames  # noqa: E402
from pipeline.index.setup import remove_index_family, setup_index  # noqa: E402
from pipeline.models import Article  # noqa: E402
from pipeline.outcomes import Tally  # noqa: E402


def read_articles(paths: list[Path]) -> list[Article]:
    articles: list[Article] = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            articles.extend(Article.from_dict(json.loads(line)) for line in lines if line.strip())
    return articles


def measure(settings: Settings, label: str, articles: list[Article]) -> dict[str, Any]:
    prefix = f"size-{uuid.uuid4().hex[:8]}-articles"
    es_settings = dataclasses.replace(settings.elasticsearch, index_prefix=prefix)
    scoped = dataclasses.replace(settings, elasticsearch=es_settings)
    es = connect(scoped)
    try:
        index = setup_index(es, scoped).current_index
        report = index_articles(es, articles, scoped, Tally())
        if report.failed or report.pending:
            raise SystemExit(f"{label}: {report.failed} failed, {report.pending} pending: fix the input first")
        es.indices.refresh(index=index)
        es.indices.forcemerge(index=index, max_num_segments=1, wait_for_completion=True)
        es.indices.refresh(index=index)
        articles_indexed = es.count(index=IndexNames(prefix).read_alias).body["count"]
        primaries = es.indices.stats(index=index, metric="store,docs,segments").body["indices"][index]["primaries"]
        store = primaries["store"]["size_in_bytes"]
        sources = [len(json.dumps(article_document(a), ensure_ascii=False).encode("utf-8")) for a in articles]
        return {
            "label": label,
            "articles": articles_indexed,
            "lucene_docs": primaries["docs"]["count"],  # an article plus one per nested entity
            "segments": primaries["segments"]["count"],
            "store_bytes": store,
            "store_bytes_per_article": round(store / articles_indexed),
            "source_bytes_per_article": round(statistics.mean(sources)),
            "body_words_mean": round(statistics.mean(a.word_count for a in articles)),
            "entities_per_article": round(statistics.mean(len(a.entities) for a in articles), 1),
        }
    finally:
        remove_index_family(es, scoped)
        es.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("jsonl", nargs="+", type=Path, help="Article JSON lines (`chancery process -o`)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    settings = load_settings()
    articles = read_articles(args.jsonl)
    english = [a for a in articles if a.language == "en"]
    results = [measure(settings, "all", articles)]
    if english and len(english) < len(articles):
        results.append(measure(settings, "en", english))
    for row in results:
        print(
            f"{row['label']:>4}: {row['articles']} articles, {row['segments']} segment(s), "
            f"{row['store_bytes_per_article']:,} store bytes/article (primary, force-merged), "
            f"{row['source_bytes_per_article']:,} _source JSON bytes, {row['body_words_mean']} body words, "
            f"{row['entities_per_article']} entities; {row['lucene_docs']} Lucene docs"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
