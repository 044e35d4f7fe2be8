"""Readers for the real, labelled third-party corpora the benchmarks measure on.

The corpora live outside the repository (``../shared/corpora``) and are read by path only;
nothing here is copied into the project. Each reader yields small typed records.

- CoNLL-2003 (``conll2003-{train,dev}.docs.jsonl.gz``): 1996 Reuters stories with PER/ORG/LOC/MISC spans.
- Reuters-21578 (``reuters21578-train.jsonl.gz``): 1987 stories with editor-assigned ``places``.
- Publisher pages (``publisher-pages/json/<id>.json``): real web articles with their expected body.
- Topic labels (``bench/data/topic-labels/*.tsv``): the project's own labels for documents of the
  two corpora above, written before any prediction (criteria in ``docs/topic-labelling.md``).
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "corpora"
WIRE_DEV = SHARED / "wire-dev"
PUBLISHER_PAGES = SHARED / "publisher-pages"
LABELS = ROOT / "bench" / "data" / "topic-labels"
REUTERS_PLACES = ROOT / "bench" / "data" / "reuters-places.tsv"

CONLL_DAY = datetime(1996, 8, 25, 12, tzinfo=UTC)  # the CoNLL stories are from August 1996


@dataclass(frozen=True)
class Span:
    label: str  # PER | ORG | LOC | MISC
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ConllDoc:
    id: str
    text: str  # sentences joined by newlines, tokens by spaces
    spans: tuple[Span, ...]

    @property
    def title(self) -> str:
        return self.text.split("\n", 1)[0]

    @property
    def body(self) -> str:
        parts = self.text.split("\n", 1)
        return parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class ReutersDoc:
    id: str
    title: str
    dateline: str
    text: str
    published: datetime
    places: tuple[str, ...]  # ISO 3166-1 alpha-2 (or ISO 3166-3 for historical states)

    @property
    def body(self) -> str:
        """The story as a wire delivers it: the dateline opens the first paragraph."""
        return f"{self.dateline.strip()} {self.text.strip()}".strip()


@dataclass(frozen=True)
class LabelledDoc:
    id: str
    title: str
    body: str
    published: datetime | None
    cls: str  # diplomacy | borderline | domestic | other
    topics: frozenset[str]


def read_conll(split: str, directory: Path = WIRE_DEV) -> Iterator[ConllDoc]:
    with gzip.open(directory / f"conll2003-{split}.docs.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            spans = tuple(Span(e["label"], e["start"], e["end"], e["text"]) for e in record["entities"])
            yield ConllDoc(id=f"conll-{split}:{record['doc']}", text=record["text"], spans=spans)


def reuters_place_codes(path: Path = REUTERS_PLACES) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, code = line.split("\t")
            out[label] = code
    return out


def read_reuters(directory: Path = WIRE_DEV) -> Iterator[ReutersDoc]:
    codes = reuters_place_codes()
    with gzip.open(directory / "reuters21578-train.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            # the day is what matters; a few records carry malformed times ("605:12:19")
            published = datetime.strptime(record["date"].strip().split()[0], "%d-%b-%Y").replace(hour=12, tzinfo=UTC)
            yield ReutersDoc(
                id=f"reuters:{record['newid']}",
                title=record["title"],
                dateline=record.get("dateline") or "",
                text=record["text"],
                published=published,
                places=tuple(codes[p] for p in record["places"]),
            )


def read_page(page_id: str, directory: Path = PUBLISHER_PAGES) -> tuple[str, str, datetime | None]:
    data = json.loads((directory / "json" / f"{page_id}.json").read_text(encoding="utf-8"))
    published = None
    if data.get("publishing_date"):
        published = datetime.fromisoformat(str(data["publishing_date"]).replace("Z", "+00:00"))
    return data.get("title") or "", data.get("body_text") or "", published


def read_labelled(wire_dev: Path = WIRE_DEV, pages: Path = PUBLISHER_PAGES, labels: Path = LABELS) -> list[LabelledDoc]:
    """Every labelled document with its text, read from the corpora by id."""
    rows = []
    for path in sorted(labels.glob("*.tsv")):
        with path.open(encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle, delimiter="\t"))
    conll = {d.id: d for d in read_conll("train", wire_dev)}
    out = []
    for row in rows:
        topics = frozenset(t for t in row["topics"].split(",") if t and t != "-")
        if row["id"].startswith("conll-train:"):
            doc = conll[row["id"]]
            out.append(LabelledDoc(row["id"], doc.title, doc.body, CONLL_DAY, row["class"], topics))
        elif row["id"].startswith("page:"):
            title, body, published = read_page(row["id"].removeprefix("page:"), pages)
            out.append(LabelledDoc(row["id"], title, body, published, row["class"], topics))
        else:
            raise ValueError(f"unknown label id {row['id']!r}")
    return out
