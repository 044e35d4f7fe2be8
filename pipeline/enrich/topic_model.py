"""Two small linear models over the enrichment's own evidence: is this story about diplomacy, and does
a topic that the rules found really apply?

The topic rules say *which* diplomacy topics a story may carry and why (cue phrases, sentences).
Whether the story is about states dealing with each other at all, and whether a candidate topic is one
the story reports on rather than a word it happens to use, is decided by two logistic regressions
trained on the project's labelled real documents (``bench/data/topic-labels``, criteria in
``docs/topic-labelling.md``) with ``scripts/train_topic_model.py``.

The models are data: ``pipeline/data/topic-model.json`` holds the version, what they were trained on,
and for each the bias, the weights by feature name, the decision threshold and how it was chosen.
Inference is a dot product in plain Python; scikit-learn is needed only to train.

Article features (``article_features``):
- ``w:<word>``: lower-cased words of the headline and body, stop words dropped, log counts, L2-normalised;
- ``cue:<topic>``: the rule evidence of each topic; ``cues``: their sum;
- ``actors``, ``actor_sentences``, ``countries``, ``igos``, ``leaders``: international actors named, the
  sentences naming two of them, countries in the facet, intergovernmental organisations, office holders;
- ``dealings``: sentences naming two international actors and holding a topic cue;
- ``context``, ``off_domain``: the taxonomy's public-affairs and off-domain vocabularies.

Topic features (``topic_features``), one row per topic the rules found: which topic it is, its evidence
and its share of the story's best, its strong and medium cues, whether the headline carries one, how many
sentences hold a cue, and its rank.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipeline.datafiles import DataFileError


class ArticleScorer(Protocol):
    """P(diplomacy) for a story, and P(applies) for each topic its rules found."""

    @property
    def version(self) -> str: ...

    @property
    def threshold(self) -> float: ...

    @property
    def topic_threshold(self) -> float: ...

    def score(self, features: Mapping[str, float]) -> float: ...

    def accept(self, features: Mapping[str, float]) -> float: ...


@dataclass(frozen=True)
class Logistic:
    bias: float
    weights: Mapping[str, float]
    threshold: float

    def score(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(self.weights.get(name, 0.0) * value for name, value in features.items())
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def as_json(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 6),
            "bias": round(self.bias, 6),
            "weights": {k: round(v, 6) for k, v in sorted(self.weights.items()) if abs(v) >= MIN_WEIGHT},
        }


@dataclass(frozen=True)
class TopicModel:
    version: str
    article: Logistic
    topic: Logistic
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return self.article.threshold

    @property
    def topic_threshold(self) -> float:
        return self.topic.threshold

    def score(self, features: Mapping[str, float]) -> float:
        return self.article.score(features)

    def accept(self, features: Mapping[str, float]) -> float:
        return self.topic.score(features)

    @classmethod
    def load(cls, path: Path) -> TopicModel:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataFileError(path, "", f"cannot read the topic model: {exc}") from exc
        try:
            return cls(
                version=str(data["version"]),
                article=_logistic(data["article"]),
                topic=_logistic(data["topic"]),
                meta=dict(data.get("meta") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataFileError(path, "", f"missing or invalid field: {exc}") from exc

    def save(self, path: Path) -> None:
        data = {"version": self.version, "meta": dict(self.meta), "article": self.article.as_json(),
                "topic": self.topic.as_json()}
        Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _logistic(data: Mapping[str, Any]) -> Logistic:
    return Logistic(
        bias=float(data["bias"]),
        weights={str(k): float(v) for k, v in data["weights"].items()},
        threshold=float(data["threshold"]),
    )


class OpenGate:
    """Every story and every topic the rules found passes; the features are kept, to train on."""

    version = "none"
    threshold = 0.0
    topic_threshold = 0.0

    def __init__(self) -> None:
        self.articles: list[dict[str, float]] = []
        self.topics: list[tuple[int, str, dict[str, float]]] = []  # (article index, topic id, features)

    def score(self, features: Mapping[str, float]) -> float:
        self.articles.append(dict(features))
        return 1.0

    def accept(self, features: Mapping[str, float]) -> float:
        topic_id = next(name[2:] for name in features if name.startswith("t:"))
        self.topics.append((len(self.articles) - 1, topic_id, dict(features)))
        return 1.0


def article_features(words: Mapping[str, int], facts: Mapping[str, float]) -> dict[str, float]:
    """The article model's input: word features L2-normalised over the story, facts on a log scale."""
    weighted = {f"w:{word}": math.log1p(count) for word, count in words.items()}
    norm = math.sqrt(sum(v * v for v in weighted.values())) or 1.0
    features = {name: value / norm for name, value in weighted.items()}
    features.update({name: math.log1p(max(0.0, value)) for name, value in facts.items()})
    return features


def topic_features(
    topic_id: str,
    evidence: float,
    best: float,
    strong: int,
    medium: int,
    in_title: bool,
    sentences: int,
    rank: int,
) -> dict[str, float]:
    """The topic model's input for one candidate topic."""
    return {
        f"t:{topic_id}": 1.0,
        "evidence": math.log1p(evidence),
        "share": evidence / best if best else 0.0,
        "strong": math.log1p(strong),
        "medium": math.log1p(medium),
        "title": 1.0 if in_title else 0.0,
        "sentences": math.log1p(sentences),
        "first": 1.0 if rank == 0 else 0.0,
        "rank": math.log1p(rank),
    }


# -- training (scripts/train_topic_model.py and bench/enrichment.py's cross-validation) ---------------

# Inverse regularisation strength. Fixed before any cross-validation, not tuned on the labelled set.
REGULARISATION_C = 1.0
# The article threshold is chosen on out-of-fold scores of the training documents: the highest F1 among
# thresholds whose precision is at least this (an analyst's filter should rarely show a domestic story).
TARGET_PRECISION = 0.9
INNER_FOLDS = 4
# The topic threshold weighs recall this many times precision (F-beta): a tag missing from a story hides it
# from an analyst's topic filter, while an extra tag shows the evidence it rests on.
TOPIC_RECALL_WEIGHT = 1.5
MIN_WEIGHT = 1e-4  # smaller weights are not written to the model file: they change no score
# Words found in fewer training stories are left out of the article model: they are mostly the names of
# their time ("Lebed", "Dutroux"); the model should learn the vocabulary of diplomacy, which lasts.
MIN_WORD_DOCUMENTS = 10


def without_rare_words(rows: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
    """The rows without word features seen in fewer than ``MIN_WORD_DOCUMENTS`` of them."""
    documents: dict[str, int] = {}
    for row in rows:
        for name in row:
            if name.startswith("w:"):
                documents[name] = documents.get(name, 0) + 1
    return [
        {k: v for k, v in row.items() if not k.startswith("w:") or documents[k] >= MIN_WORD_DOCUMENTS} for row in rows
    ]


def fit(
    rows: Sequence[Mapping[str, float]], labels: Sequence[int], target_precision: float | None, beta: float = 1.0
) -> Logistic:
    """Logistic regression; the decision threshold from inner cross-validation.

    With ``target_precision`` the threshold is the highest-F(beta) one reaching that precision; without, the
    highest-F(beta) one.
    """
    weights, bias = _fit_weights(rows, labels)
    scores = [0.0] * len(rows)
    for fold in range(INNER_FOLDS):
        train = [i for i in range(len(rows)) if i % INNER_FOLDS != fold]
        test = [i for i in range(len(rows)) if i % INNER_FOLDS == fold]
        w, b = _fit_weights([rows[i] for i in train], [labels[i] for i in train])
        inner = Logistic(b, w, 0.5)
        for i in test:
            scores[i] = inner.score(rows[i])
    return Logistic(bias, weights, choose_threshold(scores, labels, target_precision, beta))


def threshold_rule(target_precision: float | None, beta: float = 1.0) -> str:
    goal = f"with precision >= {target_precision}" if target_precision is not None else "overall"
    return f"highest F{beta:g} {goal} on {INNER_FOLDS}-fold out-of-fold scores of the training rows"


def choose_threshold(
    scores: Sequence[float], labels: Sequence[int], target_precision: float | None, beta: float = 1.0
) -> float:
    best, best_f = 0.5, -1.0
    fallback, fallback_f = 0.5, -1.0
    positives = sum(labels)
    for t in sorted(set(scores)):
        tp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= t and y)
        fp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= t and not y)
        if tp == 0:
            continue
        p, r = tp / (tp + fp), tp / positives
        f_beta = (1 + beta**2) * p * r / (beta**2 * p + r)
        f05 = 1.25 * p * r / (0.25 * p + r)
        if (target_precision is None or p >= target_precision) and f_beta > best_f:
            best, best_f = t, f_beta
        if f05 > fallback_f:  # no threshold reaches the precision asked: the most precise useful one
            fallback, fallback_f = t, f05
    return best if best_f >= 0 else fallback


def _fit_weights(rows: Sequence[Mapping[str, float]], labels: Sequence[int]) -> tuple[dict[str, float], float]:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = DictVectorizer()
    matrix = vectorizer.fit_transform(rows)
    model = LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=2000)
    model.fit(matrix, list(labels))
    names = vectorizer.get_feature_names_out()
    return {str(n): float(w) for n, w in zip(names, model.coef_[0], strict=True)}, float(model.intercept_[0])
