"""Fetch throughput: a loopback server (its own process) serves N article pages; run_fetch fetches them.

Prints pages/s and client CPU-seconds per page, twice:
- politeness off (no robots.txt, no per-host gate): the client's raw cost;
- politeness bookkeeping on with zero delay (robots.txt fetched and consulted,
  per-host gate taken for every request): the overhead of being polite.

Everything else is the real path: SSRF guard with DNS check per hop, streaming
body with limits, charset decoding, rel=canonical, content hash, seen-store
writes and a gzipped WARC with request + response records.

    .venv/bin/python bench/fetch_throughput.py --pages 2000 --workers 8

Goal (issue 4): at least 300 pages/s with politeness off on a 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import socket
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from pipeline.config import load_settings  # noqa: E402
from pipeline.fetch import run_fetch  # noqa: E402
from pipeline.sources import Source, SourceKind  # noqa: E402

PARAGRAPH = (
    "<p>The foreign ministers met in Geneva on Tuesday to resume talks on the ceasefire, the exchange of "
    "prisoners and humanitarian corridors. Both delegations described the session as constructive.</p>"
)


def page(i: int) -> bytes:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Communique {i}</title>'
        f'<link rel="canonical" href="/news/{i}"></head><body><article><h1>Communique {i}</h1>'
        f"{PARAGRAPH * 12}</article></body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # http.server writes headers and body separately; without TCP_NODELAY, Nagle + delayed ACK
        # add ~40 ms to every keep-alive response and the benchmark would measure that, not the client.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/robots.txt":
            body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
        else:
            body, ctype = page(int(self.path.rsplit("/", 1)[-1])), "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(port_queue: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def measure(base: str, pages: int, workers: int, polite: bool) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(environ={}, overrides={"home": home})
        fetch = dataclasses.replace(
            settings.fetch,
            allow_networks=("127.0.0.0/8",),
            polite=polite,
            per_host_delay=0.0,
            per_host_concurrency=workers,
            global_concurrency=workers,
        )
        settings = dataclasses.replace(settings, fetch=fetch)
        source = Source(
            id="bench", name="Bench", kind=SourceKind.URLS, urls=tuple(f"{base}/news/{i}" for i in range(pages))
        )
        process = psutil.Process()
        cpu_before = sum(process.cpu_times()[:2])
        started = time.perf_counter()
        run = run_fetch(settings, [source], None, "bench", Path(home) / "warc", show_progress=False)
        wall = time.perf_counter() - started
        cpu = sum(process.cpu_times()[:2]) - cpu_before
        ok = run.report.counts_by_outcome().get("ok", 0)
    return wall, cpu, ok


def bare_gets(base: str, pages: int, workers: int) -> tuple[float, float]:
    """Baseline: the same GETs with a bare urllib3 pool and no pipeline at all (the floor)."""
    from concurrent.futures import ThreadPoolExecutor

    import urllib3

    pool = urllib3.PoolManager(maxsize=workers)
    process = psutil.Process()
    cpu_before = sum(process.cpu_times()[:2])
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as executor:
        list(executor.map(lambda i: pool.request("GET", f"{base}/news/{i}").data, range(pages)))
    return time.perf_counter() - started, sum(process.cpu_times()[:2]) - cpu_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{ports.get(timeout=10)}"
        measure(base, 50, args.workers, polite=False)  # warm-up: imports, connection pool
        print(f"{args.pages} pages of {len(page(0)):,} bytes, {args.workers} workers, {psutil.cpu_count()} CPUs")
        print(f"{'mode':<34}{'pages/s':>10}{'CPU-s/page':>14}{'ok':>8}")
        wall, cpu = bare_gets(base, args.pages, args.workers)
        bare = args.pages / wall
        print(f"{'baseline: bare urllib3 GETs':<34}{bare:>10.0f}{cpu / args.pages * 1000:>11.2f} ms{'-':>8}")
        results = {}
        for label, polite in (("politeness off", False), ("politeness on, zero delay", True)):
            wall, cpu, ok = measure(base, args.pages, args.workers, polite)
            results[label] = args.pages / wall
            print(f"{label:<34}{args.pages / wall:>10.0f}{cpu / args.pages * 1000:>11.2f} ms{ok:>8}")
        off, on = results["politeness off"], results["politeness on, zero delay"]
        print(f"full pipeline vs bare GETs: ratio {off / bare:.2f} (politeness off)")
        print(f"politeness bookkeeping costs {100 * (off - on) / off:.0f}% of throughput (ratio on/off {on / off:.2f})")
        print(f"goal 300 pages/s with politeness off: {'met' if off >= 300 else 'NOT met'} ({off / 300:.2f}x)")
    finally:
        server.terminate()
        server.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
