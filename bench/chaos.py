"""Chaos harness: crashes, outages, back-pressure and hostile input, and what is left afterwards.

    .venv/bin/python bench/chaos.py                  # every scenario, about 10 minutes on 2 cores
    .venv/bin/python bench/chaos.py --only kill --only 429 --articles 60

Each scenario runs real ``chancery`` processes against the real engine (the embedded one that
runs, or ELASTICSEARCH_URL) through a loopback proxy that counts every article write, and a
loopback site of generated articles (bench/chaos_kit.py). It breaks something on purpose, lets
the operator's recovery run (the same command again), then counts from the outside:

- indexed: documents in the scenario's index;
- duplicated: more than one document per canonical URL, plus, where every article should be
  written once (429s, a write block, a damaged WARC, two drains at once, a dripping server),
  every article the engine wrote more than once, counted at the proxy. After a crash, writing
  again what the unfinished capture held is the design (at-least-once processing): the rows
  say how many, as a note;
- lost: articles the site serves (or the WARC holds) that are neither indexed nor dead-lettered
  nor in a named outcome. A fetch outcome counts for its URL only when it ends the page
  (timeout, http_4xx ...; never ``unchanged`` or ``not_modified``, the shape issue 12's loss
  had); a ``bad_record`` (no URL) excuses one article only in the WARC scenarios, where the
  damaged record is gone from the input;
- dead-lettered: letters in the dead-letter index and its file fallback;
- exit codes of every command in order (-9: killed), and the wall time.

Each scenario has its own index prefix and CHANCERY_HOME, removed at the end (``--keep`` keeps
them). Not a timed test: it prints one table and exits 1 if any row lost or duplicated anything.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from chaos_kit import CUT, FORWARD, REFUSE, Engine, EngineProxy, Site, jsonl, wait_until

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.config import Settings, load_settings  # noqa: E402
from pipeline.urls import canonicalize  # noqa: E402

CHANCERY = str(Path(sys.executable).with_name("chancery"))
RUN_TIMEOUT = 600  # seconds one command may take before the harness gives up on it
# Fetch outcomes that are not a page's end: a page in one of these was seen before, so it must be indexed.
NOT_AN_END = {"ok", "unchanged", "not_modified"}
# Processing outcomes that are progress, not a named end of an article.
PROGRESS = {"ok", "indexed", "processed"}


@dataclass
class Row:
    scenario: str
    expected: str
    indexed: int = 0
    duplicated: int = 0
    lost: int = 0
    deadlettered: int = 0
    exits: list[int] = field(default_factory=list)
    seconds: float = 0.0
    named: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    error: str = ""


class World:
    """One scenario's private state: index prefix, home, proxy, sources, the commands' reports."""

    def __init__(self, bench: Bench, name: str) -> None:
        self.bench = bench
        self.prefix = f"chaos-{uuid.uuid4().hex[:6]}-{name}"
        self.home = Path(tempfile.mkdtemp(prefix=f"chancery-chaos-{name}-"))
        self.proxy = EngineProxy(bench.engine_url, self.prefix)
        self.reports: list[Path] = []
        self.exits: list[int] = []
        self.extra_env: dict[str, str] = {}

    def env(self, **extra: str) -> dict[str, str]:
        base = self.bench.settings.elasticsearch
        return {
            **os.environ,
            "CHANCERY_HOME": str(self.home),
            "CHANCERY_ELASTICSEARCH_INDEX_PREFIX": self.prefix,
            "CHANCERY_ELASTICSEARCH_RUNS_INDEX": f"{self.prefix}-runs",
            "ELASTICSEARCH_URL": self.proxy.url,
            "ELASTICSEARCH_USERNAME": base.username or "",
            "ELASTICSEARCH_PASSWORD": base.password or "",
            "CHANCERY_ALLOW_NETWORKS": "127.0.0.0/8",
            "CHANCERY_FETCH_PER_HOST_DELAY": "0.01",
            "CHANCERY_FETCH_PER_HOST_CONCURRENCY": "4",
            "CHANCERY_ELASTICSEARCH_BULK_CHUNK_DOCS": "10",
            "CHANCERY_ELASTICSEARCH_BULK_MIN_CHUNK_DOCS": "5",
            "CHANCERY_ELASTICSEARCH_BULK_INITIAL_BACKOFF": "0.2",
            "CHANCERY_ELASTICSEARCH_BULK_MAX_BACKOFF": "2",
            **self.extra_env,
            **extra,
        }

    def sources_file(self, entries: Sequence[dict[str, str]]) -> Path:
        path = self.home / "sources.yaml"
        path.write_text(yaml.safe_dump({"sources": list(entries)}, sort_keys=False), encoding="utf-8")
        self.extra_env["CHANCERY_SOURCES"] = str(path)  # processing (and a drain) take each page's scope from it
        return path

    def report_path(self) -> Path:
        path = self.home / f"report-{len(self.reports) + 1}.json"
        self.reports.append(path)
        return path

    def start(self, *args: str, report: bool = True, **env: str) -> subprocess.Popen[bytes]:
        argv = [CHANCERY, *args, *(["--report", str(self.report_path())] if report else [])]
        log = (self.home / f"command-{len(self.exits) + 1}.log").open("wb")
        return subprocess.Popen(argv, env=self.env(**env), stdout=log, stderr=subprocess.STDOUT)

    def finish(self, process: subprocess.Popen[bytes]) -> int:
        code = process.wait(timeout=RUN_TIMEOUT)
        self.exits.append(code)
        return code

    def run(self, *args: str, report: bool = True, **env: str) -> int:
        return self.finish(self.start(*args, report=report, **env))

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        self.finish(process)

    def close(self, keep: bool) -> None:
        self.proxy.cut()
        if keep:
            print(f"  kept {self.prefix} and {self.home}", file=sys.stderr)
            return
        from pipeline.index.client import connect
        from pipeline.index.setup import remove_index_family

        settings = self.bench.settings
        es = dataclasses.replace(settings.elasticsearch, index_prefix=self.prefix, runs_index=f"{self.prefix}-runs")
        client = connect(dataclasses.replace(settings, elasticsearch=es), check=False)
        try:
            remove_index_family(client, dataclasses.replace(settings, elasticsearch=es))
        finally:
            client.close()
        shutil.rmtree(self.home, ignore_errors=True)


class Bench:
    def __init__(self, settings: Settings, articles: int, keep: bool) -> None:
        from pipeline.engine import local

        self.settings = settings
        self.articles = articles
        self.keep = keep
        url, username, password = (
            (str(settings.elasticsearch.url), settings.elasticsearch.username, settings.elasticsearch.password)
            if settings.elasticsearch.url else local.connection(settings)
        )
        self.engine_url = url
        self.settings = dataclasses.replace(
            settings, elasticsearch=dataclasses.replace(settings.elasticsearch, url=url, username=username,
                                                        password=password))
        self.engine = Engine(url, username, password)

    # ------------------------------------------------------------ measuring

    def measure(self, world: World, row: Row, expected: Sequence[str], once: bool,
                bad_records_excuse: bool = False) -> None:
        docs = self.engine.documents(world.prefix, ["canonical_url"])
        urls = Counter(d.get("canonical_url", "") for d in docs)
        row.indexed = len(docs)
        writes = Counter(i for w in world.proxy.runs.values() for i, n in w.confirmed.items() for _ in range(n))
        again = {i for i, n in writes.items() if n > 1}
        row.duplicated = sum(n - 1 for n in urls.values() if n > 1) + (len(again) if once else 0)
        if again and not once:  # by design after a crash: what an unfinished capture held is written again
            in_one_run = {i for w in world.proxy.runs.values() for i, n in w.confirmed.items() if n > 1}
            if again - in_one_run:
                row.notes.append(f"{len(again - in_one_run)} written before the crash and again by the rerun")
            if in_one_run:
                row.notes.append(f"{len(in_one_run)} written twice by the rerun: from the killed run's WARC, and "
                                 "fetched again (not yet staged in the seen-store when the kill came)")
        letters = self.letters(world)
        row.deadlettered = len(letters)
        lettered = {canonicalize(str(letter.get("url") or "")) for letter in letters}

        ended: set[str] = set()
        for path in world.reports:
            if not path.is_file():
                continue
            report = json.loads(path.read_text(encoding="utf-8"))
            row.named.update({k: v for k, v in report.get("outcomes", {}).items() if k not in PROGRESS})
            for record in (report.get("fetch") or {}).get("urls", []):
                if record.get("outcome") not in NOT_AN_END and record.get("kind", "article") == "article":
                    ended.add(canonicalize(record["url"]))
                    row.named[f"fetch {record['outcome']}"] += 1
        missing = {canonicalize(u) for u in expected} - set(urls) - lettered - ended
        excused = row.named.get("bad_record", 0) if bad_records_excuse else 0
        row.lost = max(0, len(missing) - excused)
        unexpected = set(urls) - {canonicalize(u) for u in expected}
        if unexpected:
            row.notes.append(f"{len(unexpected)} indexed that the site does not serve")

    def letters(self, world: World) -> list[dict[str, Any]]:
        """The scenario's dead letters: in the dead-letter index, and in its file fallback."""
        letters = self.engine.documents(f"{world.prefix}-deadletter", ["url", "error_type"])
        return letters + jsonl(world.home / "deadletter" / f"{world.prefix}-deadletter.jsonl")

    # ------------------------------------------------------------ running a scenario

    @contextlib.contextmanager
    def world(self, row: Row, name: str) -> Iterator[World]:
        world = World(self, name)
        began = time.monotonic()
        try:
            yield world
        except Exception as exc:  # the harness's own failure too: the row says so (exit 1), the next one runs
            traceback.print_exc()
            row.error = f"{type(exc).__name__}: {exc}"
        finally:
            row.seconds = time.monotonic() - began
            row.exits = world.exits
            world.close(self.keep)


# ---------------------------------------------------------------- scenarios


def kill_9(bench: Bench, point: str) -> Row:
    """kill -9 of `chancery ingest --sources` at one point, then the same command again."""
    n = bench.articles
    row = Row(f"kill -9 {point}", f"{n} indexed once, rerun exits 0")
    with bench.world(row, f"kill-{point.split()[-1]}") as world, \
            Site(n, discovery_delay=2.0 if point == "during discovery" else 0.0) as site:
        sources = world.sources_file(site.sources())
        ingest = ("ingest", "--sources", str(sources))
        world.proxy.epoch = "killed"
        env = {"CHANCERY_FETCH_PER_HOST_DELAY": "0.05"} if point == "mid-fetch" else {}
        first = world.start(*ingest, **env)
        if point == "during discovery":
            wait_until(lambda: site.discovery_hits() >= 2, 60, "the feeds to be asked for")
            time.sleep(0.5)
        elif point == "mid-fetch":
            wait_until(lambda: site.article_hits() >= n // 3, 120, f"{n // 3} pages fetched")
        else:
            wait_until(lambda: sum(world.proxy.writes("killed").delivered.values()) >= 20, 300, "20 articles indexed")
        fetched, written = site.article_hits(), sum(world.proxy.writes("killed").confirmed.values())
        world.kill(first)
        row.notes.append(f"killed after {fetched} pages fetched, {written} articles written")
        if point == "during discovery" and fetched:
            raise AssertionError(f"the kill came after {fetched} article fetches: not during discovery")
        if point == "mid-indexing" and written >= n:
            raise AssertionError("the kill came after every article was written")
        world.proxy.epoch = "rerun"
        world.run(*ingest)
        bench.measure(world, row, site.article_urls(), once=False)
    return row


def engine_stopped(bench: Bench) -> Row:
    """The engine stops answering in the middle of a bulk (after writing it); back for the rerun."""
    n = bench.articles
    row = Row("engine stopped mid-bulk", f"exit 5 (pending), then {n} indexed, 0 lost")
    with bench.world(row, "engine-stop") as world, Site(n) as site:
        sources = world.sources_file(site.sources())
        world.proxy.epoch = "outage"
        world.proxy.policy = lambda number: CUT if number == 3 else FORWARD
        world.run("ingest", "--sources", str(sources))
        written = world.proxy.writes("outage")
        row.notes.append(f"cut at bulk 3 after {sum(written.confirmed.values())} writes "
                         f"({sum(written.delivered.values())} acknowledged)")
        world.proxy.policy = None
        world.proxy.restore()
        world.proxy.epoch = "rerun"
        world.run("ingest", "--sources", str(sources))
        stale = len(bench.letters(world))
        if stale:  # written while the engine was away, for documents the rerun has indexed since
            world.proxy.epoch = "replay"
            world.run("deadletters", "retry", report=False)
            row.notes.append(f"{stale} letters of the unconfirmed bulk left after the rerun, "
                             f"settled by `deadletters retry`")
        bench.measure(world, row, site.article_urls(), once=False)
    return row


def too_many_requests(bench: Bench, share: float) -> Row:
    n = bench.articles
    label = f"{share:.0%}"
    if share < 1:
        row = Row(f"429 to {label} of bulks", f"{n} indexed, each written once, exit 0")
    else:
        row = Row(f"429 to {label} of bulks", f"exit 5 past the retry budget, then {n} indexed once")
    with bench.world(row, f"429-{int(share * 100)}") as world, Site(n) as site:
        sources = world.sources_file(site.sources())
        rng = random.Random(12)
        world.proxy.epoch = "pressure"
        world.proxy.policy = lambda number: REFUSE if rng.random() < share else FORWARD
        world.run("ingest", "--sources", str(sources), CHANCERY_ELASTICSEARCH_RETRY_BUDGET_SECONDS="8")
        pressure = world.proxy.writes("pressure")
        row.notes.append(f"{pressure.refused_requests} of {pressure.bulk_requests} bulk requests refused")
        if share >= 1:
            world.proxy.policy = None
            world.proxy.epoch = "rerun"
            world.run("ingest", "--sources", str(sources))
        bench.measure(world, row, site.article_urls(), once=True)
    return row


def write_block(bench: Bench) -> Row:
    n = bench.articles
    row = Row("write block set, then lifted", f"{n} indexed, each written once, exit 0")
    with bench.world(row, "write-block") as world, Site(n) as site:
        sources = world.sources_file(site.sources())
        world.run("index", "setup", report=False)
        index = bench.engine.write_index(f"{world.prefix}-write")
        bench.engine.block_writes(index, True)
        world.proxy.epoch = "blocked"
        ingest = world.start("ingest", "--sources", str(sources))
        blocked = world.proxy.writes("blocked")
        wait_until(lambda: blocked.item_refusals["cluster_block_exception"] + blocked.refused_requests >= 20
                   or ingest.poll() is not None, 300, "the block to refuse writes")
        time.sleep(2.0)
        bench.engine.block_writes(index, False)
        world.finish(ingest)
        row.notes.append(f"{blocked.item_refusals['cluster_block_exception']} item refusals while blocked")
        bench.measure(world, row, site.article_urls(), once=True)
    return row


def damaged_warc(bench: Bench, damage: str) -> Row:
    """A WARC of the site's articles, damaged, through `chancery ingest FILE`."""
    from pipeline.fetch.warc import CapturedResponse, WarcSink

    n = bench.articles
    row = Row(f"WARC: {damage}", f"{n - 1} indexed, 1 bad_record, exit 0")
    with bench.world(row, "warc-" + damage.split()[0]) as world, Site(n) as site:
        path = world.home / "capture.warc.gz"
        offsets = []
        with WarcSink(path) as sink:
            for article, url in zip(site.articles, site.article_urls(), strict=True):
                offsets.append(sink.write(CapturedResponse(
                    url=url, status=200, reason="OK", headers=[("Content-Type", "text/html; charset=utf-8")],
                    raw_body=article.html, fetched_at=datetime.now(UTC), source_id="courier-archive",
                    run_id="chaos", fetch_url=url, canonical_url=url, request_headers={"User-Agent": "chaos"})))
        data = bytearray(path.read_bytes())
        if damage == "truncated":
            del data[(offsets[-1] + len(data)) // 2 :]  # the last record cut in half
        else:
            middle = n // 2
            start, end = offsets[middle], offsets[middle + 1]
            for i in range((start + end) // 2, (start + end) // 2 + 16):  # inside the member's deflate data
                data[i] ^= 0xFF
        path.write_bytes(bytes(data))
        world.run("ingest", str(path))
        bench.measure(world, row, site.article_urls(), once=True, bad_records_excuse=True)
    return row


def two_drains(bench: Bench) -> Row:
    """Four pending captures; two `chancery captures drain` at once over them."""
    n = bench.articles
    row = Row("two drains at once", f"4 fetches, then 2 drains: each capture once, {n} indexed once, exits 0")
    with bench.world(row, "drains") as world, Site(n) as site:
        sources = world.sources_file(site.sources(sitemap=False))
        for section in ("world", "europe", "asia", "africa"):
            world.run("fetch", "--sources", str(sources), "--source", f"courier-{section}", "--no-progress")
        world.proxy.epoch = "drains"
        drains = [world.start("captures", "drain") for _ in range(2)]
        for drain in drains:
            world.finish(drain)
        taken = []
        for path in world.reports[-2:]:
            report = json.loads(path.read_text(encoding="utf-8"))
            taken.append(sorted(c["path"] for c in report["captures"] if c["verdict"] == "done"))
        both = taken[0] + taken[1]
        row.notes.append(f"captures processed per drain: {len(taken[0])} and {len(taken[1])}, "
                         f"{len(set(both))} of 4 distinct")
        bench.measure(world, row, site.article_urls(), once=True)
        row.duplicated += len(both) - len(set(both))  # a capture processed by both drains
        if len(set(both)) != 4:
            raise AssertionError(f"expected the 4 captures done, got {both}")
    return row


def dripping_server(bench: Bench) -> Row:
    n, slow = bench.articles, 8
    row = Row("header-dripping server among the sources", f"{n} indexed, {slow} timeout, exit 0")
    with bench.world(row, "drip") as world, Site(n) as site, Site(slow, first=n, drip_headers=True) as drip:
        sources = world.sources_file([*site.sources(), *drip.sources(feeds=(), prefix="slowpost")])
        world.run("ingest", "--sources", str(sources), CHANCERY_FETCH_TOTAL_TIMEOUT="3",
                  CHANCERY_FETCH_MAX_RETRIES="1")
        bench.measure(world, row, [*site.article_urls(), *drip.article_urls()], once=True)
        fetched = json.loads(world.reports[-1].read_text(encoding="utf-8"))["fetch"]["urls"]
        dripped = [r for r in fetched if r["url"].startswith(drip.base_url) and r["kind"] == "article"]
        seconds = [r["seconds"] / r["attempts"] for r in dripped]
        row.notes.append(f"each dripped page given up after {max(r['attempts'] for r in dripped)} attempts of "
                         f"{min(seconds):.1f}-{max(seconds):.1f} s each, on average (total deadline 3 s)")
    return row


SCENARIOS: dict[str, Callable[[Bench], Row]] = {
    "kill-discovery": lambda b: kill_9(b, "during discovery"),
    "kill-fetch": lambda b: kill_9(b, "mid-fetch"),
    "kill-index": lambda b: kill_9(b, "mid-indexing"),
    "engine-stop": engine_stopped,
    "429-30": lambda b: too_many_requests(b, 0.3),
    "429-100": lambda b: too_many_requests(b, 1.0),
    "write-block": write_block,
    "warc-truncated": lambda b: damaged_warc(b, "truncated"),
    "warc-corrupt": lambda b: damaged_warc(b, "corrupt member in the middle"),
    "two-drains": two_drains,
    "drip": dripping_server,
}


# ---------------------------------------------------------------- the table


def table(rows: Sequence[Row]) -> str:
    header = ("scenario", "expected", "indexed", "duplicated", "lost", "dead-lettered", "exit codes", "wall time",
              "named outcomes")
    lines = [header]
    for r in rows:
        named = ", ".join(f"{k} {v}" for k, v in sorted(r.named.items())) or "-"
        exits = " → ".join(str(c) for c in r.exits) or "-"
        lines.append((r.scenario, r.expected, str(r.indexed), str(r.duplicated), str(r.lost), str(r.deadlettered),
                      exits, f"{r.seconds:.0f} s", named))
    text = "| " + " | ".join(lines[0]) + " |\n|" + "|".join(" --- " for _ in header) + "|\n"
    text += "".join("| " + " | ".join(cells) + " |\n" for cells in lines[1:])
    notes = [f"- {r.scenario}: {'; '.join(([r.error] if r.error else []) + r.notes)}" for r in rows
             if r.notes or r.error]
    return text + ("\n" + "\n".join(notes) + "\n" if notes else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=120, help="articles the site serves (default 120)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"scenarios whose name contains this (repeatable): {', '.join(SCENARIOS)}")
    parser.add_argument("--keep", action="store_true", help="keep each scenario's indices and home")
    args = parser.parse_args(argv)
    settings = load_settings(environ=dict(os.environ), overrides={"home": str(REPO / ".chancery")})
    if not settings.elasticsearch.url:
        from pipeline.engine import local

        if not local.status(settings).running:
            print("chaos: no engine: start it with `chancery engine start` or set ELASTICSEARCH_URL", file=sys.stderr)
            return 3
    bench = Bench(settings, args.articles, args.keep)
    chosen = [name for name in SCENARIOS if not args.only or any(o in name for o in args.only)]
    rows: list[Row] = []
    for name in chosen:
        print(f"chaos: {name} ...", file=sys.stderr, flush=True)
        row = SCENARIOS[name](bench)
        rows.append(row)
        print(f"chaos: {name}: indexed {row.indexed}, duplicated {row.duplicated}, lost {row.lost}, "
              f"exits {row.exits}, {row.seconds:.0f} s{'; ' + row.error if row.error else ''}",
              file=sys.stderr, flush=True)
    print(f"Chaos harness, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.articles} articles per site, "
          f"engine {bench.engine_url}\n")
    print(table(rows))
    return 1 if any(r.lost or r.duplicated or r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
