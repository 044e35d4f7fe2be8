"""Scale-out: one and then two drain workers over the same 2,000 captures, beside the bare-process limit.

    .venv/bin/python bench/scale.py [CORPUS] [--captures 2000] [--pages-per-capture 1]
                                    [--state-url postgresql://…] [--workdir DIR] [--json out.json]

CORPUS is the shared corpora folder (``../shared/corpora``), read by path. The captures are the
English pages of ``publisher-pages/html`` repeated with distinct URLs (bench/throughput.py's
``publisher_pages`` and ``write_warc``), ``--pages-per-capture`` pages in each WARC, every capture
recorded pending in a capture ledger. A *worker* is what a process worker of the scale-out is: a
process running the DAG's own drain (``drain_captures``: claim a capture from the shared ledger,
extract, enrich, index into Elasticsearch, mark it done; one in-process extractor each). One worker
drains all the captures, then two workers drain a fresh copy of them at once, sharing the ledger
(SQLite under a home on one machine; the PostgreSQL database of ``--state-url`` when given, as
several hosts would).

The limit is measured the same way: bare trafilatura + spaCy sm NER (bench/throughput.py's
``bare_run``) over the same pages in one process and in two, each taking every second record.
Rates are steady-state (the last 90 % of each process's articles, from when its first 10 % were
done, models loaded), summed over the processes and divided by the longest one's time; end-to-end
rates are printed beside them. On a 2-core machine two of anything can at best double one, and
the drains also share the cores with the Elasticsearch node that indexes their articles: the
workers' ratio is read against the bare ratio, not against 2.

Needs a running engine (`chancery engine start`, or ELASTICSEARCH_URL); each run indexes into an
index family of its own, deleted at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import throughput  # noqa: E402  bench/throughput.py: the corpus, the WARC writer, the bare baseline

SOURCE = "bench-scale"  # a source id in no sources file: every page is in scope


def capture_pages(corpus: Path, count: int) -> list[tuple[str, bytes]]:
    """``count`` distinct (URL, HTML) pairs: the English publisher pages, repeated with ``?copy=N``."""
    pages = throughput.publisher_pages(corpus)
    out = []
    for i in range(count):
        url, body = pages[i % len(pages)]
        copy = i // len(pages)
        out.append((f"{url}{'&' if '?' in url else '?'}copy={copy}" if copy else url, body))
    return out


def write_captures(folder: Path, pages: list[tuple[str, bytes]], per_capture: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for n, start in enumerate(range(0, len(pages), per_capture)):
        path = folder / f"capture-{n:05d}.warc.gz"
        chunk = pages[start:start + per_capture]
        throughput.write_warc(path, chunk, len(chunk), SOURCE)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------
# One drain worker, in a process of its own


def drain_run(home: Path, prefix: str, state_url: str, worker: str) -> dict[str, Any]:
    from pipeline.config import load_settings
    from pipeline.orchestrate.steps import CaptureResult, drain_captures

    overrides = {"home": str(home), "elasticsearch.index_prefix": prefix, "state_url": state_url or None}
    settings = load_settings(overrides=overrides)
    times: list[float] = []  # when each article's capture was done

    def done(result: CaptureResult) -> None:
        times.extend([time.perf_counter()] * result.indexed)

    drained = drain_captures(settings, worker, budget_seconds=float("inf"), on_result=done, workers=None)
    summary = drained.to_dict()
    return {"captures": summary["processed"], "articles": summary["indexed"], "outcomes": summary["outcomes"],
            "left_pending": len(summary["left_pending"]), **throughput.steady(times)}


def drains(home: Path, prefix: str, state_url: str, count: int) -> dict[str, Any]:
    """``count`` drain workers at once over one ledger: combined like bench/throughput.py's bare shards."""
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--drain", str(home), prefix, state_url, f"bench-{i}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONHASHSEED": "0"})
             for i in range(count)]
    results = [throughput._finish(p, started) for p in procs]
    return {"articles": sum(r["articles"] for r in results), "captures": sum(r["captures"] for r in results),
            "per_worker_captures": [r["captures"] for r in results],
            "left_pending": sum(r["left_pending"] for r in results),
            "seconds": max(r["seconds"] for r in results),
            "steady_items": sum(r["steady_items"] for r in results),
            "steady_seconds": max(r["steady_seconds"] for r in results),
            "peak_rss": max(r["peak_rss"] for r in results)}


# ---------------------------------------------------------------------------------------------


def _settings(state_url: str | None) -> Any:
    """This machine's settings with the engine's URL and password filled in (started when it is not running)."""
    from pipeline.config import load_settings
    from pipeline.engine import local

    settings = load_settings(overrides={"state_url": state_url})
    es = settings.elasticsearch
    if not es.url:
        if not local.status(settings).running:
            local.start(settings)
        url, username, password = local.connection(settings)
        es = dataclasses.replace(es, url=url, username=username, password=password)
    return dataclasses.replace(settings, elasticsearch=es)


def _rate(row: dict[str, Any]) -> float:
    return float(row["steady_items"]) / max(1e-9, float(row["steady_seconds"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, nargs="?", default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--captures", type=int, default=2000, help="captures in the ledger (default 2000)")
    parser.add_argument("--pages-per-capture", type=int, default=1, help="pages in each capture's WARC (default 1)")
    parser.add_argument("--state-url", default="", help="a PostgreSQL state store (default: SQLite under a home)")
    parser.add_argument("--workdir", type=Path, help="keep captures and homes here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write every number here too")
    parser.add_argument("--drain", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drain:
        result = drain_run(Path(args.drain[0]), args.drain[1], args.drain[2], args.drain[3])
        result["own_peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(result))
        return 0

    from pipeline.index.client import connect
    from pipeline.index.setup import remove_index_family
    from pipeline.state import open_state

    settings = _settings(args.state_url or None)
    es_env = {"ELASTICSEARCH_URL": str(settings.elasticsearch.url),
              "ELASTICSEARCH_USERNAME": settings.elasticsearch.username or "",
              "ELASTICSEARCH_PASSWORD": settings.elasticsearch.password or ""}
    os.environ.update(es_env)  # the drain processes reach the same engine
    pages = capture_pages(args.corpus, args.captures * args.pages_per_capture)
    load = os.getloadavg()
    print(f"{args.captures} captures of {args.pages_per_capture} page(s) ({len(pages)} real publisher pages with "
          f"distinct URLs); cores {os.cpu_count()}; state {'PostgreSQL' if args.state_url else 'SQLite'}; "
          f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    numbers: dict[str, Any] = {"captures": args.captures, "pages_per_capture": args.pages_per_capture,
                               "cores": os.cpu_count(), "load_before": load}
    token = uuid.uuid4().hex[:6]
    prefixes = []
    with tempfile.TemporaryDirectory(prefix="chancery-bench-scale-") as temp:
        work = args.workdir or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        every = work / "all-pages.warc.gz"  # the bare runs read the same pages from one WARC
        throughput.write_warc(every, pages, len(pages), SOURCE)
        first = write_captures(work / "captures-1", pages, args.pages_per_capture)
        rows: dict[str, dict[str, Any]] = {}
        rows["bare, 1 process"] = throughput.bare_parallel(every, 1)
        rows["bare, 2 processes (the limit)"] = throughput.bare_parallel(every, 2)
        for count in (1, 2):
            folder = work / f"captures-{count}"
            if not folder.exists():  # a copy of its own: the ledger names captures by path
                shutil.copytree(first[0].parent, folder)
            home = work / f"home-{count}"
            prefix = f"bench-scale-{token}-{count}-articles"
            prefixes.append(prefix)
            run_settings = dataclasses.replace(settings, home=home, elasticsearch=dataclasses.replace(
                settings.elasticsearch, index_prefix=prefix))
            recorded = open_state(run_settings).ledger().record(sorted(folder.glob("*.warc.gz")),
                                                                run_id=f"bench-scale-{count}", dag_id="bench",
                                                                sources=[SOURCE])
            assert recorded == args.captures, f"{recorded} captures recorded"
            label = f"chancery drain, {count} worker{'s' if count > 1 else ''}"
            rows[label] = drains(home, prefix, args.state_url, count)
        es = connect(settings)
        try:
            for prefix in prefixes:
                remove_index_family(es, dataclasses.replace(settings, elasticsearch=dataclasses.replace(
                    settings.elasticsearch, index_prefix=prefix)))
        finally:
            es.close()

    print(f"\n{'':34} {'steady':>14} {'end to end':>12}  peak RSS")
    for label, row in rows.items():
        split = f"  captures per worker {row['per_worker_captures']}" if "per_worker_captures" in row else ""
        print(f"  {label:32} {_rate(row):7.1f} art/s {row['articles'] / row['seconds']:8.1f} art/s  "
              f"{row['peak_rss'] / 2**20:,.0f} MB{split}", flush=True)
    bare = _rate(rows["bare, 2 processes (the limit)"]) / _rate(rows["bare, 1 process"])
    ours = _rate(rows["chancery drain, 2 workers"]) / _rate(rows["chancery drain, 1 worker"])
    print(f"\n  two workers / one: {ours:.2f}x, beside the bare limit's two processes / one: {bare:.2f}x "
          f"({ours / bare:.0%} of what this machine allows)")
    numbers.update(rows=rows, ratio_workers=ours, ratio_bare=bare, load_after=os.getloadavg())
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
