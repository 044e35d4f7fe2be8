"""The sources file (YAML) → typed ``Source`` records. Data only, no logic.

Minimal shape (fixed, so other tools can write it; more keys are welcome and kept in ``extra``)::

    sources:
      - id: un-news
        name: UN News
        kind: rss            # rss | sitemap | warc | urls | wayback | gdelt | ccnews
        url: https://...     # rss/sitemap ('urls: [..]' for several); 'urls' for kind urls; 'path' for warc;
                             # wayback: the site's URL prefix(es)
        language: en
        country: UN          # optional
        tags: [un]           # optional
        hosts: [..]          # warc only: keep records of these hosts (default: all)
        politeness: {delay: 2.0, concurrency: 1}   # optional per-source overrides
        auth: {username: ann, password_file: secrets/un-news.password}   # optional HTTP basic auth
        reach_days: 2        # optional: how far back the feed or live sitemap lists (default fetch.live_reach_days)
        scope: all           # optional: all | diplomacy (see below)
        archives:            # optional: where the past is, used for windows older than the reach
          - kind: sitemap    # the publisher's own archive index (children split by date)
            url: https://.../sitemap-archive.xml
          - kind: wayback    # the Wayback Machine's captures of a URL prefix
            url: https://www.un.org/press/en/
          - kind: gdelt      # GDELT 2.0 files; hosts default to the source's hosts
          - kind: ccnews     # Common Crawl's CC-NEWS WARCs (from 2016-08), the source's hosts kept

Archive kinds (``wayback``, ``gdelt``, ``ccnews``) take ``archive:``, the archive's base URL
(defaults: https://web.archive.org, http://data.gdeltproject.org/gdeltv2/,
https://data.commoncrawl.org/), so tests point them at loopback. ``gdelt`` also takes
``tables: [export, mentions, gkg]`` (default export) and, as a discovery engine for any
domain, ``countries:`` (ISO 3166 alpha-2, or CAMEO codes), ``actors:`` (CAMEO actor code
prefixes, e.g. IGOUNO) and ``events:`` (CAMEO event code prefixes, e.g. 04 consult), matched
on the export's Actor1/Actor2 and EventCode columns. An entry of ``archives:`` is a source of
its own kind with its parent's id, name, language, country, tags and credentials (which go to
their own origin only), so its articles count for the publisher. See docs/backfill.md.

``scope`` is what of a source's articles is kept: ``diplomacy`` runs the relevance gate
(pipeline/gate.py) after extraction, so an article not about international relations ends as
``out_of_scope`` and is not enriched or indexed; ``all`` keeps every article. The default follows
the kind: ``diplomacy`` for archives (wayback, gdelt, ccnews, warc), which hold every kind of news,
``all`` for a publisher's own feeds, sitemaps and URL lists. The broad outlets in the default
sources file say ``scope: diplomacy``, the ministries and international organisations ``scope: all``.
An ``archives:`` entry takes its source's scope: pages are told apart by source id only.

Every error names the file and line: ``sources.yaml:12: source 'un-news': kind 'rss2' ...``.

Credentials never stay in a URL: ``https://ann:pw@host/feed`` is loaded as the URL
``https://host/feed`` plus a ``BasicAuth`` for ``https://host`` (with a warning that a
secrets file is better), so no report, log, seen-store, WARC or index ever sees them,
nor any URL resolved against the feed's. ``auth`` reads the password from a file of its
own (relative to the sources file), the way container secrets are mounted. Either way a
credential is sent only to its own origin (pipeline/fetch/client.py).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from pipeline.logs import get_logger, log_event
from pipeline.urls import origin_of, without_userinfo

log = get_logger("sources")


class Scope(str, Enum):
    """What of a source's articles Chancery keeps (pipeline/gate.py)."""

    DIPLOMACY = "diplomacy"  # only the articles the relevance gate finds are about international relations
    ALL = "all"  # every article: a ministry's or an international organisation's own feed


class SourceKind(str, Enum):
    RSS = "rss"  # RSS 2.0, Atom and RDF feeds
    SITEMAP = "sitemap"  # sitemaps, news sitemaps and sitemap indexes
    WARC = "warc"  # WARC / WARC.gz archives (CC-NEWS style)
    URLS = "urls"  # a plain list of article URLs
    WAYBACK = "wayback"  # the Wayback Machine: CDX index of a URL prefix, raw captures
    GDELT = "gdelt"  # GDELT 2.0's 15-minute export / mentions / GKG files
    CCNEWS = "ccnews"  # Common Crawl's CC-NEWS WARC files, listed per month


# Kinds that only ever read the past, through an archive service.
ARCHIVE_KINDS = frozenset({SourceKind.WAYBACK, SourceKind.GDELT, SourceKind.CCNEWS})
# What an entry of a source's `archives:` list may be.
_ENTRY_KINDS = ARCHIVE_KINDS | {SourceKind.SITEMAP, SourceKind.WARC}
DEFAULT_ARCHIVES = {
    SourceKind.WAYBACK: "https://web.archive.org",
    SourceKind.GDELT: "http://data.gdeltproject.org/gdeltv2/",
    SourceKind.CCNEWS: "https://data.commoncrawl.org/",
}
GDELT_TABLES = ("export", "mentions", "gkg")
_CAMEO_CODE = re.compile(r"^[A-Z0-9]{3}(?:[A-Z0-9]{3})*$")
_EVENT_CODE = re.compile(r"^\d{2,4}$")


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
    "auth",
    "archive",
    "archives",
    "reach_days",
    "tables",
    "countries",
    "actors",
    "events",
    "scope",
}
# What an `archives:` entry may set; the rest comes from its source.
_ENTRY_KEYS = {"kind", "url", "urls", "path", "hosts", "archive", "tables", "countries", "actors", "events",
               "politeness", "enabled"}
_AUTH_KEYS = {"username", "password_file"}


@dataclass(frozen=True)
class Politeness:
    """Per-source overrides of FetchSettings.per_host_delay / per_host_concurrency (None: the setting)."""

    delay: float | None = None
    concurrency: int | None = None


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic credentials, sent only to ``origin`` (``scheme://host[:port]``); never in a repr."""

    origin: str
    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        """The Authorization header value (RFC 7617; UTF-8, as browsers send it)."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


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
    credentials: tuple[BasicAuth, ...] = ()  # basic auth, one per origin, for this source's requests only
    archive: str | None = None  # wayback / gdelt / ccnews: the archive's base URL
    archives: tuple[Source, ...] = ()  # where this source's past is: entries of its own kinds, with its id
    archive_entry: bool = False  # an entry of a source's `archives:` list
    reach_days: int | None = None  # how far back the live kind lists; None: fetch.live_reach_days
    tables: tuple[str, ...] = ()  # gdelt: export, mentions, gkg
    countries: tuple[str, ...] = ()  # gdelt: CAMEO country codes (ISO alpha-2 in the file, mapped on load)
    actors: tuple[str, ...] = ()  # gdelt: CAMEO actor code prefixes
    events: tuple[str, ...] = ()  # gdelt: CAMEO event code prefixes
    scope: Scope = Scope.ALL  # what of its articles is kept; the loader sets the kind's default (default_scope)

    @property
    def url(self) -> str | None:
        return self.urls[0] if self.urls else None

    @property
    def reads_archive(self) -> bool:
        """Reads the past from an archive: dates it finds are capture or sighting times, not publication."""
        return self.kind in ARCHIVE_KINDS or self.kind is SourceKind.WARC or self.archive_entry

    @property
    def kind_label(self) -> str:
        """The kind as reports show it: an archive sitemap is told apart from the live one."""
        archive_sitemap = self.archive_entry and self.kind is SourceKind.SITEMAP
        return f"{self.kind.value}-archive" if archive_sitemap else self.kind.value


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


def _source(node: yaml.Node, path: Path, parent: Source | None = None) -> Source:
    """One source; with ``parent``, one entry of its ``archives:`` list (its id, name and the rest inherited)."""
    if not isinstance(node, yaml.MappingNode):
        what = "each 'archives' entry" if parent else "each source"
        raise SourcesError(f"{_where(path, node)}: {what} must be a mapping")
    fields = {key.value: value for key, value in node.value}
    data = {key: yaml.SafeLoader("").construct_object(value, deep=True) for key, value in fields.items()}
    ident = parent.id if parent else data.get("id")
    label = (f"source {ident!r}" if ident else "source") + (" archives entry" if parent else "")

    def at(key: str | None) -> str:
        return _where(path, fields[key]) if key in fields else _where(path, node)

    def fail(key: str | None, message: str) -> SourcesError:
        return SourcesError(f"{at(key)}: {label}: {message}")

    if parent is not None:
        foreign = sorted(set(data) - _ENTRY_KEYS)
        if foreign:
            raise fail(foreign[0], f"an 'archives' entry takes only {', '.join(sorted(_ENTRY_KEYS))}; "
                                   f"{foreign[0]!r} comes from its source")
    if not isinstance(ident, str) or not _ID_PATTERN.match(ident):
        raise fail("id", "'id' must be lowercase letters, digits, '.', '_' or '-' (at most 64)")
    name = parent.name if parent else data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "'name' is required")
    kind = _kind(data.get("kind"), fail)
    if parent is not None and kind not in _ENTRY_KINDS:
        choices = " | ".join(sorted(k.value for k in _ENTRY_KINDS))
        raise fail("kind", f"an 'archives' entry's kind must be one of {choices}, got {kind.value!r}")
    urls, credentials = _credentials(data, _urls(data, kind, fail), kind, path, fail, at)
    wpath = data.get("path") or (data.get("url") if kind is SourceKind.WARC else None)
    if kind is SourceKind.WARC and not isinstance(wpath, str):
        raise fail("path", "kind warc needs 'path' (a file, a glob or an object-store URL)")
    language = parent.language if parent else data.get("language")
    if language is not None and (not isinstance(language, str) or not _LANGUAGE_PATTERN.match(language)):
        raise fail("language", f"'language' must be a language code like 'en' or 'zh-Hans', got {language!r}")
    hosts = _strings(data.get("hosts"), "hosts", fail) or (_hosts_of(parent) if parent else ())
    gdelt = _gdelt_filters(data, kind, hosts, fail)
    if kind is SourceKind.CCNEWS and not hosts:
        raise fail("hosts", "kind ccnews needs 'hosts' (CC-NEWS holds every news site's pages)")
    source = Source(
        id=ident,
        name=name.strip(),
        kind=kind,
        urls=urls,
        path=wpath if kind is SourceKind.WARC else None,
        hosts=hosts,
        language=language,
        country=parent.country if parent else _optional_str(data.get("country"), "country", fail),
        tags=parent.tags if parent else _strings(data.get("tags"), "tags", fail),
        politeness=_politeness(data.get("politeness"), fail),
        enabled=bool(data.get("enabled", True)),
        # An entry is its source's: what other tools keep on the source (e.g. `scope`) holds for it too.
        extra=parent.extra if parent else {k: v for k, v in data.items() if k not in _KNOWN_KEYS},
        origin=_where(path, node),
        # An entry's requests carry the source's credentials too: each is sent to its own origin only.
        credentials=credentials or (parent.credentials if parent else ()),
        archive=_archive(data, kind, fail),
        archive_entry=parent is not None,
        reach_days=_reach_days(data.get("reach_days"), kind, fail),
        scope=parent.scope if parent else _scope(data.get("scope"), kind, fail),
        **gdelt,
    )
    if parent is None and "archives" in fields:
        source = dataclasses.replace(source, archives=_archive_entries(fields["archives"], path, source, fail))
    return source


def _archive_entries(node: yaml.Node, path: Path, parent: Source, fail: Any) -> tuple[Source, ...]:
    if parent.kind in ARCHIVE_KINDS:
        raise fail("archives", f"kind {parent.kind.value} is an archive already: 'archives' is for live sources")
    if not isinstance(node, yaml.SequenceNode):
        raise fail("archives", "'archives' must be a list of entries, each with its own 'kind'")
    return tuple(_source(entry, path, parent) for entry in node.value)


def _hosts_of(source: Source) -> tuple[str, ...]:
    """A source's hosts: its own list, else the hosts of its URLs (without www.: subdomains match too)."""
    if source.hosts:
        return source.hosts
    hosts = ((urlsplit(u).hostname or "").lower().removeprefix("www.") for u in source.urls)
    return tuple(dict.fromkeys(h for h in hosts if h))


def _archive(data: Mapping[str, Any], kind: SourceKind, fail: Any) -> str | None:
    raw = data.get("archive")
    if kind not in ARCHIVE_KINDS:
        if raw is not None:
            raise fail("archive", f"'archive' (an archive's base URL) is for wayback, gdelt and ccnews, "
                                  f"not {kind.value}")
        return None
    if raw is None:
        return DEFAULT_ARCHIVES[kind]
    if not isinstance(raw, str) or urlsplit(raw).scheme not in ("http", "https") or not urlsplit(raw).netloc:
        raise fail("archive", f"'archive' must be the archive's http(s) base URL, got {raw!r}")
    return raw


def default_scope(kind: SourceKind) -> Scope:
    """Archives hold every kind of news, so they are gated; a publisher's own feed is kept whole."""
    return Scope.DIPLOMACY if kind in ARCHIVE_KINDS or kind is SourceKind.WARC else Scope.ALL


def _scope(raw: Any, kind: SourceKind, fail: Any) -> Scope:
    if raw is None:
        return default_scope(kind)
    try:
        return Scope(str(raw).lower())
    except ValueError:
        raise fail("scope", f"'scope' must be {' or '.join(s.value for s in Scope)}, got {raw!r}") from None


def _reach_days(raw: Any, kind: SourceKind, fail: Any) -> int | None:
    if raw is None:
        return None
    if kind not in (SourceKind.RSS, SourceKind.SITEMAP):
        raise fail("reach_days", "'reach_days' (how far back a feed or live sitemap lists) is for rss and sitemap")
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise fail("reach_days", f"'reach_days' must be a whole number of days >= 1, got {raw!r}")
    return raw


def _gdelt_filters(data: Mapping[str, Any], kind: SourceKind, hosts: tuple[str, ...], fail: Any) -> dict[str, Any]:
    """tables, countries (as CAMEO codes), actors and events of a gdelt source; errors for any other kind."""
    keys = [k for k in ("tables", "countries", "actors", "events") if k in data]
    if kind is not SourceKind.GDELT:
        if keys:
            raise fail(keys[0], f"'{keys[0]}' is for kind gdelt")
        return {}
    tables = _strings(data.get("tables"), "tables", fail) or ("export",)
    unknown = [x for x in tables if x not in GDELT_TABLES]
    if unknown:
        raise fail("tables", f"'tables' takes {', '.join(GDELT_TABLES)}; got {unknown[0]!r}")
    from pipeline.discover.cameo import cameo_country  # the code table, kept with the GDELT reader

    if isinstance(data.get("countries"), list) and any(isinstance(c, bool) for c in data["countries"]):
        raise fail("countries", "a country code reads as true/false: quote it ('NO' is Norway; YAML reads NO as false)")
    countries: list[str] = []
    for code in _strings(data.get("countries"), "countries", fail):
        cameo = cameo_country(code)
        if cameo is None:
            raise fail("countries", f"{code!r} is no ISO 3166 alpha-2 country code (or 3-letter CAMEO code)")
        countries.append(cameo)
    actors = tuple(a.upper() for a in _strings(data.get("actors"), "actors", fail))
    bad = [a for a in actors if not _CAMEO_CODE.match(a)]
    if bad:
        raise fail("actors", f"{bad[0]!r} is no CAMEO actor code (3-letter parts, e.g. JPNGOV, IGOUNO)")
    events = _strings(data.get("events"), "events", fail)
    bad = [e for e in events if not _EVENT_CODE.match(e)]
    if bad:
        raise fail("events", f"{bad[0]!r} is no CAMEO event code (2 to 4 digits, e.g. 04 or 0431)")
    coded = bool(countries or actors or events)
    if not hosts and not coded:
        raise fail("kind", "kind gdelt needs 'hosts' (domains to keep), or 'countries' / 'actors' / 'events' "
                           "to keep any domain's articles GDELT coded so")
    if coded and "gkg" in tables:
        raise fail("tables", "GKG rows carry no CAMEO actors or event codes: with countries/actors/events "
                             "use tables export and mentions")
    return {"tables": tables, "countries": tuple(countries), "actors": actors, "events": tuple(events)}


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
    if kind in (SourceKind.GDELT, SourceKind.CCNEWS):
        if "url" in data or "urls" in data:
            key = "url" if "url" in data else "urls"
            raise fail(key, f"kind {kind.value} takes 'archive' (the archive's base URL) and 'hosts', not '{key}'")
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


def _credentials(
    data: Mapping[str, Any], urls: tuple[str, ...], kind: SourceKind, path: Path, fail: Any, at: Any
) -> tuple[tuple[str, ...], tuple[BasicAuth, ...]]:
    """The URLs without their userinfo, and the basic auth per origin from it or from ``auth``."""
    key = "urls" if kind is SourceKind.URLS or "url" not in data else "url"
    stripped = tuple(without_userinfo(u) for u in urls)
    in_urls: dict[str, BasicAuth] = {}
    for url in urls:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            continue
        login = BasicAuth(origin_of(url), unquote(parts.username or ""), unquote(parts.password or ""))
        if in_urls.setdefault(login.origin, login) != login:
            raise fail(key, f"two different credentials for {login.origin} in the URLs")
    raw = data.get("auth")
    if raw is None:
        if in_urls:
            log_event(
                log,
                "credentials in a source URL",
                logging.WARNING,
                source=data.get("id"),
                where=at(key),
                sent_to=" ".join(sorted(in_urls)),
                advice="keep them in a secrets file instead: auth: {username: ..., password_file: ...}",
            )
        return stripped, tuple(in_urls.values())
    if kind is SourceKind.WARC or kind in ARCHIVE_KINDS:
        raise fail("auth", f"'auth' is for rss, sitemap and urls sources (the publisher's own HTTP), not {kind.value}")
    if in_urls:
        raise fail("auth", "credentials both in a URL and in 'auth': keep them in 'auth' only")
    if not isinstance(raw, dict) or set(raw) != _AUTH_KEYS or not all(isinstance(raw[k], str) for k in raw):
        raise fail(
            "auth",
            "'auth' takes 'username' and 'password_file' (a file holding only the password, "
            "so the password is never written into the sources file)",
        )
    password = _password(Path(raw["password_file"]).expanduser(), path, lambda m: fail("auth", m))
    origins = dict.fromkeys(origin_of(u) for u in stripped)  # each origin once, in the order listed
    return stripped, tuple(BasicAuth(o, raw["username"], password) for o in origins)


def _password(secret: Path, sources_file: Path, fail: Any) -> str:
    """The password in ``secret`` (relative to the sources file's folder); one trailing newline is not part of it."""
    secret = secret if secret.is_absolute() else sources_file.parent / secret
    try:
        text = secret.read_text(encoding="utf-8")
        mode = stat.S_IMODE(secret.stat().st_mode)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise fail(f"cannot read auth.password_file {secret}: {reason}") from exc
    password = text[:-1] if text.endswith("\n") else text
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise fail(f"auth.password_file {secret} is empty")
    if mode & 0o077:
        log_event(
            log,
            "password file readable by others",
            logging.WARNING,
            file=str(secret),
            mode=oct(mode),
            advice=f"chmod 600 {secret}",
        )
    return password


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
