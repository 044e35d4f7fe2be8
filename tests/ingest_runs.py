"""Helpers for tests that run `chancery ingest` / `chancery captures drain` for real.

- ``cli_env(settings)``: the environment that makes a `chancery` process use these settings;
- ``chancery(*args)``: the argv of the installed `chancery` command, for subprocesses;
- ``indexed_urls(settings)``: every canonical URL in the read alias (refreshed first), with repeats;
- ``CuttingProxy``: a TCP proxy to the engine that stops forwarding, and listening, at the first
  request whose bytes contain a marker (``b"/_bulk"``): from then on the engine is unreachable
  for whoever goes through it, while the shared engine itself keeps running.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pipeline.config import Settings


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    es = settings.elasticsearch
    env = {
        "CHANCERY_HOME": str(settings.home),
        "CHANCERY_ELASTICSEARCH_INDEX_PREFIX": es.index_prefix,
        "CHANCERY_ELASTICSEARCH_RUNS_INDEX": es.runs_index,
        "ELASTICSEARCH_URL": str(es.url),
        "ELASTICSEARCH_USERNAME": es.username or "",
        "ELASTICSEARCH_PASSWORD": es.password or "",
        "CHANCERY_ALLOW_NETWORKS": "127.0.0.0/8",
        "CHANCERY_FETCH_PER_HOST_DELAY": "0.01",
    }
    env.update(extra)
    return env


def chancery(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("chancery")), *args]


def indexed_urls(settings: Settings) -> list[str]:
    """Every article's canonical URL in the read alias (refreshed first); [] before the index exists."""
    from pipeline.index.client import connect

    es = connect(settings)
    alias = settings.elasticsearch.index_prefix
    if not es.indices.exists_alias(name=alias):
        return []
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=1000, source=["canonical_url"], query={"match_all": {}})["hits"]["hits"]
    return sorted(h["_source"]["canonical_url"] for h in hits)


class CuttingProxy:
    """Forwards loopback TCP to ``target`` until a request contains ``cut_at``; then nothing answers."""

    def __init__(self, target: str, cut_at: bytes) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.scheme = parts.scheme
        self.cut_at = cut_at
        self.cut = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return urlunsplit((self.scheme, f"127.0.0.1:{self.port}", "", "", ""))

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.cut.set()
        with self._lock:
            doomed = [self.listener, *self._sockets]
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        tail = b""
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if from_client and self.cut_at in tail + data:
                self.stop()  # the request never reaches the engine, and nothing listens any more
                return
            if not data or self.cut.is_set():
                break
            tail = data[-len(self.cut_at):]
            try:
                sink.sendall(data)
            except OSError:
                break
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
