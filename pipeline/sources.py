"""The sources file (YAML) → typed ``Source`` records. Data only, no logic.

Minimal shape (fixed, so other tools can write it; more keys are welcome and kept in ``extra``)::

    sources:
      - id: un-news
        name: UN News
        kind: rss            # rss | sitemap | warc | urls
        url: https://...     # rss/sitemap ('urls: [..]' for several); 'urls' for kind urls; 'path' for warc
        language: en
        country: UN          # optional
        tags: [un]           # optional
        hosts: [..]          # warc only: keep records of these hosts (default: all)
        politeness: {delay: 2.0, concurrency: 1}   # optional per-source overrides

Every error names the file and line: ``sources.yaml:12: source 'un-news': kind 'rss2' ...``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml


class SourceKind(str, Enum):
    RSS = "rss"  # RSS 2.0, Atom and RDF feeds
    SITEMAP = "sitemap"  # sitemaps, news sitemaps and sitemap indexes
    WARC = "warc"  # WARC / WARC.gz archives (CC-NEWS style)
    URLS = "urls"  # a plain list of article URLs


# Spellings other tools use for the same kinds.
_KIND_ALIASES = {"atom": "rss", "rdf": "rss", "feed": "rss", "news-sitemap": "sitemap", "sitemap-index": "sitemap"}
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_KNOWN_KEYS = {
    "id",
    "name",
    "kind",
    "url",
    "urls",
    "path",
    "hosts",
    "language",
    "country",
    "tags",
    "politeness",
    "enabled",
}


@dataclass(frozen=True)
class Politeness:
    """Per-source overrides of FetchSettings.per_host_delay / per_host_concurrency (None: the setting)."""

    delay: float | None = None
    concurrency: int | None = None


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    kind: SourceKind
    urls: tuple[str, ...] = ()  # feed/sitemap entry points, or the article URLs of kind urls
    path: str | None = None  # kind warc: local path, glob, or object-store URL
    hosts: tuple[str, ...] = ()  # kind warc: hosts kept (empty: every host)
    language: str | None = None
    country: str | None = None
    tags: tuple[str, ...] = ()
    politeness: Politeness = field(default_factory=Politeness)
    enabled: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys Chancery does not use, kept for other tools
    origin: str = ""  # "file:line", for messages

    @property
    def url(self) -> str | None:
        return self.urls[0] if self.urls else None


class SourcesError(ValueError):
    """A sources file that cannot be used; the message starts with file:line."""


def load_sources(path: Path | str) -> list[Source]:
    """Read and validate a sources file; raise SourcesError naming the file and line of the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourcesError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        line = exc.problem_mark.line + 1 if getattr(exc, "problem_mark", None) else 0  # type: ignore[attr-defined]
        raise SourcesError(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    entries = _sources_node(root, path)
    sources = [_source(node, path) for node in entries]
    _check_unique(sources)
    return sources


def select_sources(sources: Sequence[Source], ids: Iterable[str] | None) -> list[Source]:
    """The enabled sources, or exactly the named ones (even if disabled); unknown ids are an error."""
    wanted = list(ids or ())
    if not wanted:
        return [s for s in sources if s.enabled]
    by_id = {s.id: s for s in sources}
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise SourcesError(f"unknown source id(s): {', '.join(unknown)}; known: {', '.join(sorted(by_id))}")
    return [by_id[i] for i in wanted]


def _sources_node(root: yaml.Node | None, path: Path) -> list[yaml.Node]:
    if not isinstance(root, yaml.MappingNode):
        raise SourcesError(f"{path}:1: expected a mapping with a 'sources' list")
    for key, value in root.value:
        if key.value == "sources":
            if not isinstance(value, yaml.SequenceNode):
                raise SourcesError(f"{_where(path, value)}: 'sources' must be a list")
            return list(value.value)
    raise SourcesError(f"{path}:1: no 'sources' key")


def _where(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _source(node: yaml.Node, path: Path) -> Source:
    if not isinstance(node, yaml.MappingNode):
        raise SourcesError(f"{_where(path, node)}: each source must be a mapping")
    fields = {key.value: value for key, value in node.value}
    data = {key: yaml.SafeLoader("").construct_object(value, deep=True) for key, value in fields.items()}
    ident = data.get("id")
    label = f"source {ident!r}" if ident else "source"

    def fail(key: str | None, message: str) -> SourcesError:
        where = _where(path, fields[key]) if key in fields else _where(path, node)
        return SourcesError(f"{where}: {label}: {message}")

    if not isinstance(ident, str) or not _ID_PATTERN.match(ident):
        raise fail("id", "'id' must be lowercase letters, digits, '.', '_' or '-' (at most 64)")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "'name' is required")
    kind = _kind(data.get("kind"), fail)
    urls = _urls(data, kind, fail)
    wpath = data.get("path") or (data.get("url") if kind is SourceKind.WARC else None)
    if kind is SourceKind.WARC and not isinstance(wpath, str):
        raise fail("path", "kind warc needs 'path' (a file, a glob or an object-store URL)")
    language = data.get("language")
    if language is not None and (not isinstance(language, str) or not _LANGUAGE_PATTERN.match(language)):
        raise fail("language", f"'language' must be a language code like 'en' or 'zh-Hans', got {language!r}")
    return Source(
        id=ident,
        name=name.strip(),
        kind=kind,
        urls=urls,
        path=wpath if kind is SourceKind.WARC else None,
        hosts=_strings(data.get("hosts"), "hosts", fail),
        language=language,
        country=_optional_str(data.get("country"), "country", fail),
        tags=_strings(data.get("tags"), "tags", fail),
        politeness=_politeness(data.get("politeness"), fail),
        enabled=bool(data.get("enabled", True)),
        extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
        origin=_where(path, node),
    )


def _kind(raw: Any, fail: Any) -> SourceKind:
    value = _KIND_ALIASES.get(str(raw).lower(), str(raw).lower()) if raw is not None else None
    try:
        return SourceKind(value)
    except ValueError:
        choices = " | ".join(k.value for k in SourceKind)
        raise fail("kind", f"'kind' must be one of {choices}, got {raw!r}") from None


def _urls(data: Mapping[str, Any], kind: SourceKind, fail: Any) -> tuple[str, ...]:
    if kind is SourceKind.WARC:
        return ()
    raw = data.get("urls") if kind is SourceKind.URLS else (data.get("url") or data.get("urls"))
    key = "urls" if kind is SourceKind.URLS or "url" not in data else "url"
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        need = "'urls: [...]'" if kind is SourceKind.URLS else "'url'"
        raise fail(key, f"kind {kind.value} needs {need}")
    for item in items:
        if not isinstance(item, str) or urlsplit(item).scheme not in ("http", "https") or not urlsplit(item).netloc:
            raise fail(key, f"not an http(s) URL: {item!r}")
    return tuple(items)


def _strings(raw: Any, key: str, fail: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
        raise fail(key, f"'{key}' must be a list of strings")
    return tuple(raw)


def _optional_str(raw: Any, key: str, fail: Any) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    raise fail(key, f"'{key}' must be a string")


def _politeness(raw: Any, fail: Any) -> Politeness:
    if raw is None:
        return Politeness()
    if not isinstance(raw, dict) or set(raw) - {"delay", "concurrency"}:
        raise fail("politeness", "'politeness' takes only 'delay' (seconds) and 'concurrency'")
    delay, concurrency = raw.get("delay"), raw.get("concurrency")
    if delay is not None and (not isinstance(delay, (int, float)) or delay < 0):
        raise fail("politeness", f"politeness.delay must be seconds >= 0, got {delay!r}")
    if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
        raise fail("politeness", f"politeness.concurrency must be an integer >= 1, got {concurrency!r}")
    return Politeness(delay=float(delay) if delay is not None else None, concurrency=concurrency)


def _check_unique(sources: Sequence[Source]) -> None:
    seen: dict[str, Source] = {}
    for source in sources:
        if source.id in seen:
            raise SourcesError(
                f"{source.origin}: source {source.id!r}: duplicate id (first at {seen[source.id].origin})"
            )
        seen[source.id] = source
