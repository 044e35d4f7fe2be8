"""Train the article model (P(diplomacy)) on every labelled document and write pipeline/data/topic-model.json.

    .venv/bin/python scripts/train_topic_model.py [--wire-dev ../shared/corpora/wire-dev]
                                                  [--pages ../shared/corpora/publisher-pages]

The labels (``bench/data/topic-labels``) name documents of the third-party corpora, which are read by
path and never copied. Deterministic: the same labels, corpora, taxonomy and NER model give the same
weights. ``bench/enrichment.py`` reports this model's quality by cross-validation (a model per fold,
each document scored by one that never saw it), not on the documents it was trained on.
Re-run it after changing the taxonomy, the NER model or the labels, and bump TOPIC_MODEL_VERSION.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import corpora  # noqa: E402
import topic_training  # noqa: E402

from pipeline.config import load_settings  # noqa: E402
from pipeline.enrich import Enricher  # noqa: E402
from pipeline.enrich.topic_model import OpenGate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wire-dev", type=Path, default=corpora.WIRE_DEV)
    parser.add_argument("--pages", type=Path, default=corpora.PUBLISHER_PAGES)
    parser.add_argument("--output", type=Path, default=None, help="default: the configured enrich.topic_model")
    args = parser.parse_args(argv)
    settings = load_settings(environ={})
    docs = corpora.read_labelled(args.wire_dev, args.pages)
    base = Enricher(settings, scorer=OpenGate())
    rows = topic_training.features(settings, base, docs)
    model = topic_training.train(rows, docs, range(len(docs)), topic_training.training_meta(base, docs))
    output = args.output or settings.enrich.topic_model
    model.save(output)
    print(
        f"topic model {model.version}: {model.meta['documents']} documents ({model.meta['diplomacy']} diplomacy), "
        f"article threshold {model.threshold:.3f}; {model.meta['topic_rows']} candidate topics, "
        f"threshold {model.topic_threshold:.3f} -> {output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
