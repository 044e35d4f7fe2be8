"""Peak memory of `chancery process` over N synthetic pages, beside bare trafilatura on the same pages.

    .venv/bin/python bench/memory.py [--pages 1000 5000] [--workdir DIR]

For each N it writes N distinct article pages into one WARC with the project's WarcSink: a page
template written for this bench (navigation, JSON-LD, a dated headline, footer) filled with
sentences drawn from a fixed vocabulary, with one story in five republished by a second outlet as
a light rewrite, so story grouping has work to do. Then, each in a process of its own:

- Chancery: `chancery process WARC -o out.jsonl` (extract, story ids, enrich, JSON lines);
- bare: the same response records through `trafilatura.extract` only, text written out.

It prints the peak RSS of each process (the kernel's ru_maxrss from wait4) and, across the Ns,
the growth per 1,000 pages. Articles stream through `process` (story grouping keeps only
signatures, pipeline/extract/dedup.py), so Chancery's peak is flat in N, as the bare one is; its
level is the NER model, gazetteers and topic model that enrichment loads once. Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.fetch.warc import CapturedResponse, WarcSink  # noqa: E402

SUBJECTS = ["The foreign minister", "A senior envoy", "The delegation", "The ambassador", "Negotiators",
            "The prime minister", "A government spokesman", "The defence secretary", "Officials in the capital",
            "The council", "Trade representatives", "The president's adviser"]
VERBS = ["said", "warned", "confirmed", "denied", "proposed", "rejected", "welcomed", "questioned",
         "announced", "signalled", "insisted", "acknowledged"]
OBJECTS = ["the draft agreement on fishing quotas", "a new round of border talks", "the sanctions package",
           "the maritime boundary proposal", "a ceasefire along the river", "the visa arrangement",
           "the customs union timetable", "a prisoner exchange", "the nuclear inspection regime",
           "the grain export corridor", "the embassy reopening", "the disputed islands",
           "the pipeline transit fees", "the water sharing treaty", "the joint naval exercise"]
CLAUSES = ["after two days of meetings", "before the summit next month", "despite objections from the opposition",
           "in a statement on Tuesday", "at a briefing in the capital", "as talks resumed in Geneva",
           "while the parliament debated the budget", "following a phone call between the leaders",
           "ahead of a vote at the United Nations", "after a late night session",
           "in remarks to reporters", "according to two people familiar with the matter"]
PLACES = ["Vienna", "Nairobi", "Jakarta", "Lima", "Oslo", "Hanoi", "Accra", "Tbilisi", "Montevideo", "Doha",
          "Warsaw", "Manila", "Dakar", "Astana", "Canberra", "Rabat"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} | The Bench Ledger</title>
<meta property="og:type" content="article">
<meta property="og:title" content="{title}">
<meta property="article:published_time" content="{published}">
<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "NewsArticle",
 "headline": "{title}", "datePublished": "{published}", "author": {{"@type": "Person", "name": "{author}"}}}}
</script></head>
<body><header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/politics">Politics</a>
<a href="/business">Business</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">By {author}</p>
{paragraphs}
</article></main>
<footer><p>Copyright The Bench Ledger. All rights reserved.</p><a href="/about">About us</a></footer>
</body></html>
"""

AUTHORS = ["Mara Lindqvist", "Tomas Okafor", "Ines Varga", "Kenji Morales", "Aylin Brandt", "Pavel Nakamura"]
PARAGRAPHS = 8
SENTENCES_PER_PARAGRAPH = 4
REWRITE_EVERY = 5  # one story in five is also published by a second outlet, lightly rewritten


def _sentence(rng: random.Random, story: int) -> str:
    # The story number rides in the text (as a figure) so every page is a distinct text.
    return (f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(CLAUSES)}, "
            f"in {rng.choice(PLACES)}, where {rng.randint(2, 90)} officials from {story % 97 + 3} countries "
            f"met for round {story}.")


def _story(rng: random.Random, story: int) -> tuple[str, list[str]]:
    title = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} in {rng.choice(PLACES)}"
    paragraphs = [" ".join(_sentence(rng, story) for _ in range(SENTENCES_PER_PARAGRAPH)) for _ in range(PARAGRAPHS)]
    return title, paragraphs


def _rewrite(paragraphs: list[str]) -> list[str]:
    """What a second outlet does to wire copy: a dateline, a word changed, the last paragraph cut."""
    text = [p.replace(" said ", " told reporters ").replace(" met ", " gathered ") for p in paragraphs[:-1]]
    text[0] = "GENEVA (Wire) - " + text[0]
    return text


def _page(title: str, paragraphs: list[str], published: datetime, author: str) -> bytes:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    return PAGE.format(title=title, published=stamp, author=author, paragraphs=body).encode("utf-8")


def write_warc(path: Path, pages: int, seed: int = 12) -> None:
    """N distinct pages (N exactly), written with the project's own WarcSink."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    written = 0
    story = 0
    with WarcSink(path) as sink:
        while written < pages:
            title, paragraphs = _story(rng, story)
            published = start + timedelta(minutes=7 * story)
            versions = [("www.benchledger.test", paragraphs)]
            if story % REWRITE_EVERY == 0:
                versions.append(("www.otherwire.test", _rewrite(paragraphs)))
            for host, text in versions[: pages - written]:
                url = f"https://{host}/world/{published:%Y/%m/%d}/story-{story}"
                sink.write(CapturedResponse(
                    url=url, status=200, reason="OK",
                    headers=[("Content-Type", "text/html; charset=utf-8")],
                    raw_body=_page(title, text, published, rng.choice(AUTHORS)),
                    fetched_at=published + timedelta(hours=1), source_id=host.split(".")[1], run_id="bench-memory",
                    fetch_url=url, canonical_url=url,
                ))
                written += 1
            story += 1


def bare_worker(warc: Path, out: Path) -> int:
    """The baseline: every response record through trafilatura.extract, nothing else."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    count = 0
    with warc.open("rb") as stream, out.open("w", encoding="utf-8") as sink:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            html = record.content_stream().read().decode("utf-8", "replace")
            text = trafilatura.extract(html, url=record.rec_headers.get_header("WARC-Target-URI"))
            sink.write((text or "").replace("\n", " ") + "\n")
            count += 1
    return count


def peak_rss_mb(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Run a command to the end: (peak RSS in MB, wall seconds, exit code) of that process alone."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    stderr = proc.stderr.read()  # drained while it runs, so a chatty child never blocks on a full pipe
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(stderr.decode("utf-8", "replace")[-2000:])
    return usage.ru_maxrss / 1024, time.perf_counter() - started, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[1000, 5000], help="page counts to run")
    parser.add_argument("--workdir", type=Path, help="keep the WARCs and outputs here (default: a temp dir)")
    parser.add_argument("--bare-worker", nargs=2, type=Path, metavar=("WARC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_worker:
        bare_worker(*args.bare_worker)
        return 0

    with tempfile.TemporaryDirectory(prefix="chancery-bench-memory-") as temp:
        work = args.workdir or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CHANCERY_HOME": str(work / "home")}
        rows: list[tuple[int, float, float, float, float]] = []
        for pages in args.pages:
            warc = work / f"pages-{pages}.warc.gz"
            write_warc(warc, pages)
            chancery, chancery_seconds, code = peak_rss_mb(
                [sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
                 "process", str(warc), "-o", str(work / f"out-{pages}.jsonl")], env)
            if code != 0:
                print(f"chancery process exited {code} on {pages} pages", file=sys.stderr)
                return 1
            bare, bare_seconds, code = peak_rss_mb(
                [sys.executable, __file__, "--bare-worker", str(warc), str(work / f"bare-{pages}.txt")], env)
            if code != 0:
                print(f"bare trafilatura exited {code} on {pages} pages", file=sys.stderr)
                return 1
            written = sum(1 for _ in (work / f"out-{pages}.jsonl").open(encoding="utf-8"))
            print(f"{pages:>6} pages: chancery process peak RSS {chancery:7.1f} MB ({written} articles, "
                  f"{chancery_seconds:.0f} s) | bare trafilatura {bare:7.1f} MB ({bare_seconds:.0f} s)", flush=True)
            rows.append((pages, chancery, bare, chancery_seconds, bare_seconds))
        if len(rows) > 1:
            (n0, c0, b0, _, _), (n1, c1, b1, _, _) = rows[0], rows[-1]
            per_k = 1000 / (n1 - n0)
            print(f"growth per 1,000 pages from {n0} to {n1}: chancery {(c1 - c0) * per_k:+.1f} MB, "
                  f"bare {(b1 - b0) * per_k:+.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
