"""Event messages: what an ``event_ingest`` run is asked to ingest.

A message names URLs to fetch now, or sources to poll now. It arrives either
from Redis pub/sub through the AssetWatcher (the asset event's ``extra`` is
``{"from_trigger": true, "payload": {"channel": ..., "data": "<message>"}}``) or from
the REST API's asset-event route (``extra`` is the posted object itself).

Message text, in order of preference:
- JSON: ``{"urls": ["https://..."], "sources": ["un-news"]}`` (also ``"url"`` and ``"source"``);
- plain text: URLs and ``source:<id>`` words separated by white space.

Messages are hints (pub/sub can drop them); a message that names nothing usable
is counted as ``bad_message`` with its reason and skipped, never failing the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pipeline.logs import get_logger, log_event

log = get_logger("orchestrate.messages")

MAX_URLS_PER_MESSAGE = 500  # a larger list is a backfill, not an event: truncated with a warning


class BadMessage(ValueError):
    """A message that names nothing to ingest; carries the offending text for the log."""

    def __init__(self, reason: str, text: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.text = text[:500]

    def __reduce__(self) -> tuple[Any, ...]:
        return (BadMessage, (self.reason, self.text))


@dataclass(frozen=True)
class EventRequest:
    """URLs to fetch and source ids to poll, merged from one or more messages, order kept, no repeats."""

    urls: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()  # reasons of the messages that named nothing usable

    @property
    def empty(self) -> bool:
        return not self.urls and not self.sources

    def to_dict(self) -> dict[str, Any]:
        return {"urls": list(self.urls), "sources": list(self.sources), "rejected": list(self.rejected)}


@dataclass
class _Builder:
    urls: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def build(self) -> EventRequest:
        return EventRequest(
            urls=tuple(dict.fromkeys(self.urls)),
            sources=tuple(dict.fromkeys(self.sources)),
            rejected=tuple(self.rejected),
        )


def parse_message(text: str | bytes | Mapping[str, Any]) -> EventRequest:
    """One message (text, bytes or an already-decoded object) → an EventRequest; BadMessage if it names nothing."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if isinstance(text, Mapping):
        urls, sources = _from_object(text)
    else:
        stripped = text.strip()
        if not stripped:
            raise BadMessage("empty message", text)
        if stripped.startswith(("{", "[")):
            try:
                obj = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise BadMessage(f"not valid JSON: {exc.msg}", stripped) from exc
            if not isinstance(obj, dict):
                raise BadMessage("a JSON message must be an object", stripped)
            urls, sources = _from_object(obj)
        else:
            urls, sources = _from_words(stripped.split())
    good_urls = [u for u in urls if _is_http_url(u)]
    if not good_urls and not sources:
        shown = text if isinstance(text, str) else json.dumps(dict(text), default=str)
        raise BadMessage("names no http(s) URL and no source", shown)
    if len(good_urls) > MAX_URLS_PER_MESSAGE:
        log_event(log, "message_truncated", urls=len(good_urls), kept=MAX_URLS_PER_MESSAGE)
        good_urls = good_urls[:MAX_URLS_PER_MESSAGE]
    return EventRequest(urls=tuple(dict.fromkeys(good_urls)), sources=tuple(dict.fromkeys(sources)))


def request_from_events(extras: Iterable[Mapping[str, Any] | None]) -> EventRequest:
    """Merge the ``extra`` of every triggering asset event (watcher or REST) into one request."""
    out = _Builder()
    for extra in extras:
        extra = dict(extra or {})
        payload = extra.get("payload") if extra.get("from_trigger") else None
        body: Any = payload.get("data") if isinstance(payload, Mapping) else extra
        if isinstance(body, Mapping):
            body = {k: v for k, v in body.items() if k not in ("from_trigger", "from_rest_api")}
        try:
            request = parse_message(body if isinstance(body, (str, bytes, Mapping)) else str(body))
        except BadMessage as exc:
            log_event(log, "bad_message", outcome="bad_message", reason=exc.reason, text=exc.text)
            out.rejected.append(exc.reason)
            continue
        out.urls.extend(request.urls)
        out.sources.extend(request.sources)
    return out.build()


def _from_object(obj: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    urls = _strings(obj.get("urls")) + _strings(obj.get("url"))
    sources = _strings(obj.get("sources")) + _strings(obj.get("source"))
    return urls, sources


def _from_words(words: Iterable[str]) -> tuple[list[str], list[str]]:
    urls, sources = [], []
    for word in words:
        if word.startswith("source:") and len(word) > len("source:"):
            sources.append(word[len("source:"):])
        else:
            urls.append(word)
    return urls, sources


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
