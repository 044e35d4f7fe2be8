"""Train Chancery's news NER (pipeline/data/ner/) from CoNLL-2003 English train.

    .venv/bin/python scripts/ner/train.py ../shared/corpora/wire-dev/conll2003-train.docs.jsonl.gz

Reproducible: the split, the shuffling and the weights' initialisation all follow
``--seed`` (0), and the config is ``scripts/ner/config.cfg``. Every tenth training document
(doc id % 10 == 0) is held back to choose the best checkpoint, so CoNLL dev stays unseen
for the benchmark (``bench/enrichment.py``). The corpus itself is never copied into the
repository: only the trained weights are, with the model card ``pipeline/data/ner/README.md``.

Labels: CoNLL PER, ORG, LOC, MISC become PERSON, ORG, LOC, MISC (spaCy's names where they exist,
so the enrichment code reads one label set).

Mention replacement (on by default): each training story is also seen once more with every entity
replaced by another name of the same type, drawn from CoNLL's own names and from the project's
gazetteers (leaders 2000-2026, international organisations, countries and capitals, GeoNames cities).
The model then learns what names look like in context ("Prime Minister X said") rather than the 1996
names themselves, so "Abdullah bin Zayed" or "Kim Jong-un" read as people in today's copy.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import spacy
from spacy.cli.train import train
from spacy.tokens import DocBin

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("config.cfg")
MODEL_CARD = Path(__file__).with_name("MODEL_CARD.md")
MODEL_NAME = "chancery_news_ner"
MODEL_VERSION = "1.0.0"  # bump on every retraining that changes the weights
OUTPUT = ROOT / "pipeline" / "data" / "ner"
LABELS = {"PER": "PERSON", "ORG": "ORG", "LOC": "LOC", "MISC": "MISC"}
HOLD_OUT_EVERY = 10


def read_docs(path: Path) -> list[dict[str, object]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def name_pools(records: list[dict[str, object]]) -> dict[str, list[str]]:
    """Names by label, for mention replacement: CoNLL's own, plus the gazetteers' modern ones."""
    sys.path.insert(0, str(ROOT))
    from pipeline.config import Settings
    from pipeline.enrich.gazetteer import Gazetteer
    from pipeline.enrich.places import PlaceIndex

    pools: dict[str, set[str]] = {label: set() for label in LABELS.values()}
    for record in records:
        for ent in record["entities"]:  # type: ignore[attr-defined]
            pools[LABELS[ent["label"]]].add(ent["text"])
    gazetteer = Gazetteer.load(Settings().enrich.gazetteer_dir)
    for leader in gazetteer.leaders:
        pools["PERSON"].update(leader.names)
        pools["PERSON"].update(leader.surnames)
    for org in gazetteer.organizations:
        pools["ORG"].update(org.names)
        pools["ORG"].update(org.abbreviations)
    for country in gazetteer.countries:
        pools["LOC"].update(country.names)
        pools["LOC"].update(c for c in country.capitals if c[:1].isupper() and not c.startswith("the "))
        pools["MISC"].update(country.demonyms)
    cities = {(p.name, p.country): p.population for ps in PlaceIndex.load().by_name.values() for p in ps}
    largest = sorted(cities, key=lambda key: (-cities[key], key))[:3000]
    pools["LOC"].update(name for name, _ in largest)
    return {label: sorted(names) for label, names in pools.items()}


def replace_mentions(record: dict[str, object], pools: dict[str, list[str]], rng: random.Random) -> dict[str, object]:
    """The same story with every entity replaced by a random name of its type (one-word spans by one-word names)."""
    text = str(record["text"])
    out, entities, at = [], [], 0
    for ent in sorted(record["entities"], key=lambda e: e["start"]):  # type: ignore[attr-defined]
        pool = pools[LABELS[ent["label"]]]
        one_word = " " not in ent["text"]
        name = rng.choice(pool)
        for _ in range(20):  # a one-word span takes a one-word name, so the sentence keeps its shape
            if (" " not in name) == one_word:
                break
            name = rng.choice(pool)
        if ent["text"].isupper():  # an all-caps headline stays all caps
            name = name.upper()
        out.append(text[at : ent["start"]])
        start = sum(len(piece) for piece in out)
        out.append(name)
        entities.append({"label": ent["label"], "start": start, "end": start + len(name), "text": name})
        at = ent["end"]
    out.append(text[at:])
    return {"doc": record["doc"], "text": "".join(out), "entities": entities}


def to_docbin(nlp: spacy.language.Language, records: list[dict[str, object]]) -> tuple[DocBin, int]:
    """Docs tokenised as the pipeline will tokenise them at run time, entities aligned to those tokens."""
    out = DocBin(store_user_data=False)
    misaligned = 0
    for record in records:
        text = str(record["text"])
        doc = nlp.make_doc(text)
        spans = []
        for ent in record["entities"]:  # type: ignore[attr-defined]
            span = doc.char_span(ent["start"], ent["end"], label=LABELS[ent["label"]], alignment_mode="contract")
            if span is None:
                misaligned += 1
                continue
            spans.append(span)
        doc.ents = spacy.util.filter_spans(spans)
        out.add(doc)
    return out, misaligned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train_docs", type=Path, help="conll2003-train.docs.jsonl.gz")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--no-replacement", action="store_true", help="train on the stories as they are only")
    args = parser.parse_args(argv)

    records = read_docs(args.train_docs)
    train_records = [r for r in records if int(r["doc"]) % HOLD_OUT_EVERY != 0]  # type: ignore[call-overload]
    check_records = [r for r in records if int(r["doc"]) % HOLD_OUT_EVERY == 0]  # type: ignore[call-overload]
    if not args.no_replacement:
        rng = random.Random(args.seed)
        pools = name_pools(train_records)
        train_records = train_records + [replace_mentions(r, pools, rng) for r in train_records]
    nlp = spacy.blank("en")
    with tempfile.TemporaryDirectory(prefix="chancery-ner-") as tmp:
        work = Path(tmp)
        for name, subset in (("train", train_records), ("check", check_records)):
            docbin, misaligned = to_docbin(nlp, subset)
            docbin.to_disk(work / f"{name}.spacy")
            print(f"{name}: {len(subset)} documents, {misaligned} entities not on token boundaries", file=sys.stderr)
        overrides = {
            "paths.train": str(work / "train.spacy"),
            "paths.dev": str(work / "check.spacy"),
            "system.seed": args.seed,
        }
        if args.max_steps:
            overrides["training.max_steps"] = args.max_steps
        train(CONFIG, work / "out", overrides=overrides)
        best = work / "out" / "model-best"
        if args.output.exists():
            shutil.rmtree(args.output)
        shutil.copytree(best, args.output)
    meta_path = args.output / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.update(
        name=MODEL_NAME,
        version=MODEL_VERSION,
        description="News NER (PERSON, ORG, LOC, MISC) for Chancery, trained on CoNLL-2003 English train.",
        license="Weights: Apache-2.0 with the project; training data under the CoNLL-2003 / Reuters RCV1 terms",
        sources=[{"name": "CoNLL-2003 English (eng.train)", "url": "https://www.clips.uantwerpen.be/conll2003/ner/"}],
    )
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    shutil.copy(MODEL_CARD, args.output / "README.md")
    print(f"model written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
