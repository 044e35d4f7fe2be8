"""Training and cross-validating the article model (``pipeline/enrich/topic_model.py``) on the labelled set.

Shared by ``scripts/train_topic_model.py`` (fits on every labelled document and writes
``pipeline/data/topic-model.json``) and ``bench/enrichment.py`` (reports cross-validated numbers: each
document is scored by a model that never saw it). Labels: ``diplomacy`` is 1, ``domestic`` and ``other``
are 0; ``borderline`` documents are left out of training and of the binary measure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import corpora

from pipeline import PIPELINE_VERSION
from pipeline.config import Settings
from pipeline.enrich import Enricher
from pipeline.enrich.topic_model import (
    TARGET_PRECISION,
    TOPIC_RECALL_WEIGHT,
    ArticleScorer,
    OpenGate,
    TopicModel,
    fit,
    threshold_rule,
    without_rare_words,
)
from pipeline.models import Article

TOPIC_MODEL_VERSION = "1.0.0"  # bump when the features or the training set change
FOLDS = 5


def article_of(doc: corpora.LabelledDoc) -> Article:
    return Article.new(
        f"https://bench.invalid/{doc.id}", title=doc.title, body=doc.body, published_at=doc.published, language="en"
    )


def label_of(doc: corpora.LabelledDoc) -> int | None:
    return {"diplomacy": 1, "domestic": 0, "other": 0}.get(doc.cls)


def fold_of(docs: Sequence[corpora.LabelledDoc]) -> list[int]:
    """Contiguous blocks per source, so neighbouring stories (often on the same event) share a fold."""
    out = [0] * len(docs)
    for prefix in ("conll-train:", "page:"):
        members = [i for i, d in enumerate(docs) if d.id.startswith(prefix)]
        for rank, i in enumerate(members):
            out[i] = rank * FOLDS // max(1, len(members))
    return out


def enricher_with(settings: Settings, base: Enricher, scorer: ArticleScorer) -> Enricher:
    """An Enricher sharing ``base``'s spaCy pipeline, with another article scorer."""
    return Enricher(settings, nlp=base.nlp, scorer=scorer)


@dataclass
class Rows:
    """What the rules found on each document, to train on: article rows, and candidate-topic rows."""

    articles: list[dict[str, float]]
    topics: list[tuple[int, str, dict[str, float]]]  # (document index, topic id, features)


def features(settings: Settings, base: Enricher, docs: Sequence[corpora.LabelledDoc]) -> Rows:
    gate = OpenGate()
    list(enricher_with(settings, base, gate).enrich_many(article_of(d) for d in docs))
    return Rows(gate.articles, gate.topics)


def train(rows: Rows, docs: Sequence[corpora.LabelledDoc], indices: Sequence[int], meta: dict[str, Any]) -> TopicModel:
    """Both models from the documents at ``indices``: the article model on diplomacy vs domestic and other,
    the topic model on the candidate topics of diplomacy and borderline documents (does the label list it?)."""
    chosen = set(indices)
    article_rows = [(rows.articles[i], label_of(docs[i])) for i in indices if label_of(docs[i]) is not None]
    topic_rows = [
        (features, int(topic_id in docs[i].topics))
        for i, topic_id, features in rows.topics
        if i in chosen and docs[i].cls in ("diplomacy", "borderline")
    ]
    article = fit(
        without_rare_words([r for r, _ in article_rows]), [int(y or 0) for _, y in article_rows], TARGET_PRECISION
    )
    topic = fit([r for r, _ in topic_rows], [y for _, y in topic_rows], None, TOPIC_RECALL_WEIGHT)
    meta = {
        **meta,
        "article_threshold_rule": threshold_rule(TARGET_PRECISION),
        "topic_threshold_rule": threshold_rule(None, TOPIC_RECALL_WEIGHT),
        "topic_rows": len(topic_rows),
    }
    return TopicModel(TOPIC_MODEL_VERSION, article, topic, meta)


def cross_validated_topics(
    settings: Settings, base: Enricher, docs: Sequence[corpora.LabelledDoc]
) -> tuple[list[frozenset[str]], list[float]]:
    """Each document's topics and P(diplomacy) from models trained on the other folds."""
    rows = features(settings, base, docs)
    folds = fold_of(docs)
    topics: list[frozenset[str]] = [frozenset()] * len(docs)
    scores = [0.0] * len(docs)
    for k in range(FOLDS):
        train_idx = [i for i, f in enumerate(folds) if f != k]
        test_idx = [i for i, f in enumerate(folds) if f == k]
        model = train(rows, docs, train_idx, {})
        enricher = enricher_with(settings, base, model)
        for i, article in zip(test_idx, enricher.enrich_many(article_of(docs[i]) for i in test_idx), strict=True):
            topics[i] = frozenset(t.id for t in article.topics)
            scores[i] = article.diplomacy or 0.0
    return topics, scores


def labels_digest(docs: Sequence[corpora.LabelledDoc]) -> str:
    text = "\n".join(f"{d.id}\t{d.cls}" for d in docs)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def training_meta(base: Enricher, docs: Sequence[corpora.LabelledDoc]) -> dict[str, Any]:
    used = [d for d in docs if label_of(d) is not None]
    return {
        "trained_on": "bench/data/topic-labels (criteria: docs/topic-labelling.md)",
        "labels_digest": labels_digest(docs),
        "documents": len(used),
        "diplomacy": sum(1 for d in used if label_of(d) == 1),
        "taxonomy": base.taxonomy.version,
        "ner": base.model_version,
        "pipeline": PIPELINE_VERSION,
    }
