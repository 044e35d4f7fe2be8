"""All settings, in one place, read once.

Precedence, lowest first: the defaults below, then a TOML config file
(``CHANCERY_CONFIG``, else ``chancery.toml`` in the working directory), then
environment variables, then command-line overrides. The CLI, the tests and the
DAGs all call ``load_settings`` and pass the result down explicitly; no other
module reads the environment.

Environment names: ``CHANCERY_<SECTION>_<KEY>`` for any field (for example
``CHANCERY_FETCH_USER_AGENT``), plus the well-known names in ``_ENV_ALIASES``
(``CHANCERY_HOME``, ``CHANCERY_SOURCES``, ``ELASTICSEARCH_URL`` ...).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.urls import masked

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_SOURCES = PACKAGE_DIR / "data" / "sources.yaml"


def node_urls(url: str) -> list[str]:
    """The node URLs of ``elasticsearch.url``: one, or several of one cluster separated by commas."""
    return [part.strip() for part in url.split(",") if part.strip()]


@dataclass(frozen=True)
class ElasticsearchSettings:
    # None: the local engine that `chancery engine start` runs; user:password@ allowed. Several nodes of one
    # cluster separated by commas: requests go on through the others while one is down.
    url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a traceback or a log line
    api_key: str | None = field(default=None, repr=False)
    ca_certs: str | None = None
    index_prefix: str = "articles"  # concrete indices articles-v1.., aliases articles / articles-write
    request_timeout: float = 30.0
    bulk_chunk_docs: int = 500
    bulk_chunk_bytes: int = 5 * 1024 * 1024
    bulk_initial_backoff: float = 1.0  # seconds before the first retry of a 429/5xx; doubles each time
    bulk_max_backoff: float = 60.0
    # How long bulk keeps retrying while the engine accepts nothing (429, es_rejected_execution,
    # 502/503/504, a write block); then what is left is reported pending, neither indexed nor
    # dead-lettered. Long enough to ride out a node restart or a lifted block.
    retry_budget_seconds: float = 120.0
    bulk_min_chunk_docs: int = 50  # chunks halve under back-pressure down to this, and grow back on success
    runs_index: str = "pipeline-runs"  # DAG and CLI run reports (pipeline.index.runs)


@dataclass(frozen=True)
class EngineSettings:
    """The embedded node: the stock distribution Elastic publishes on Maven Central."""

    version: str = "9.2.8"
    artifact: str = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
    port: int = 0  # 0: first free port from 9200
    heap: str = "1g"
    startup_timeout: float = 300.0  # a failing node exits sooner; this only bounds a hung one on busy cores
    java_home: str | None = None  # ES_JAVA_HOME; tried first, skipped with a warning when older than 21
    system_java_home: str | None = None  # JAVA_HOME; tried second (often the system's older default)
    java_search_dirs: tuple[str, ...] = ("/usr/lib/jvm",)  # then every JDK found under these
    transport_port: int = 0  # 0: first free port from 9300
    maven_repo: str = "~/.m2/repository"  # Maven's local repository: the shared download cache
    hunspell_dir: str = "/usr/share/hunspell"  # Debian's dictionaries, copied into the node when present
    run_as_user: str = "chancery"  # only used when the command runs as root
    fallback_home: str = "/var/lib/chancery"  # when the state dir is not reachable by that user
    # 0: whatever this home has set up (a single node when nothing is); N >= 2: an N-node cluster on
    # loopback (`chancery engine start --nodes N`). A home's engine keeps the size it was created with.
    nodes: int = 0
    # -Xms/-Xmx of each node of a cluster (`heap` is the single node's): three nodes of 512m leave
    # room for the pipeline and Airflow on a small machine.
    cluster_heap: str = "512m"
    # Where every node's HTTP layer listens. Loopback by default; add an address of this machine
    # (CHANCERY_ENGINE_HTTP_HOSTS=127.0.0.1,10.0.0.5) for workers on other hosts to reach it. Nodes talk
    # to each other on loopback whatever this says (a non-loopback transport turns on the production checks).
    http_hosts: tuple[str, ...] = ("127.0.0.1",)


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = "ChanceryBot/0.1 (+https://github.com/chancery-news/chancery; crawler@chancery.invalid)"
    allow_networks: tuple[str, ...] = ()  # CIDRs opened past the SSRF guard
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_decompression_ratio: int = 100
    max_redirects: int = 5
    max_retries: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    per_host_delay: float = 1.0
    per_host_concurrency: int = 2
    global_concurrency: int = 16
    sitemap_max_depth: int = 3
    sitemap_max_count: int = 200
    # How far back a feed or live sitemap lists, unless a source says (`reach_days`): a window that
    # starts earlier also reads the source's archives. Two days is a Google News sitemap's span and
    # well within a wire feed's last 50 items; a ministry feed often lists weeks, which costs only
    # archive lookups that find pages already indexed.
    live_reach_days: int = 2
    polite: bool = True  # robots.txt + per-host gate; False only for benchmarks against your own server


@dataclass(frozen=True)
class ExtractSettings:
    # An article with fewer words than this is kept and marked `brief` (earnings lines, rate decisions,
    # two-paragraph wire items); it is never a reason to drop a page. A short page is rejected only when
    # nothing marks it as an article (docs/extraction.md, "Briefs").
    brief_below_words: int = 80
    # Estimated Jaccard similarity of word 3-gram shingles. A wire story lightly rewritten by another
    # outlet (new dateline, a few words changed, last paragraph cut) scores 0.7-0.8; unrelated stories
    # score below 0.05, so 0.6 groups rewrites without merging different stories.
    near_duplicate_threshold: float = 0.6
    # Story grouping remembers the MinHash signatures of this many recent articles (about 0.8 KB each,
    # never the text: 20,000 is about 16 MB); a rewrite can join an original this far back in the stream.
    story_window: int = 20_000
    publishers: Path = PACKAGE_DIR / "data" / "publishers.yaml"  # per-publisher profiles (title source)


@dataclass(frozen=True)
class EnrichSettings:
    # The spaCy pipeline: a directory (the default is the project's CoNLL-trained news NER, made by
    # scripts/ner/train.py) or an installed package name. Never downloaded at run time.
    model: str = str(PACKAGE_DIR / "data" / "ner")
    gazetteer_dir: Path = PACKAGE_DIR / "data" / "gazetteer"
    taxonomy: Path = PACKAGE_DIR / "data" / "taxonomy.yaml"
    topic_model: Path = PACKAGE_DIR / "data" / "topic-model.json"  # made by scripts/train_topic_model.py
    max_chunk_chars: int = 10_000  # texts are read in parts of at most this size: bounded memory
    batch_size: int = 16  # Docs per nlp.pipe batch
    batch_articles: int = 64  # articles held at once by enrich_many


@dataclass(frozen=True)
class ProcessSettings:
    """The batch (`chancery process`, `chancery ingest`, the drain task): worker processes and the gate."""

    # Worker processes that extract, gate and enrich (each loads the NER model once); 0: one per core.
    # The parent reads the inputs, assigns story ids and indexes while they work.
    workers: int = 0
    # Relevance gate score (pipeline/gate.py) an English article of a `scope: diplomacy` source needs to be
    # enriched and indexed. The highest threshold that gates out at most 2 % of the diplomacy articles of the
    # labelled real set (bench/data/topic-labels: 2 of 105), which gates out 93 % of its `other` articles.
    gate_threshold: float = 8.0


@dataclass(frozen=True)
class AirflowSettings:
    nightly_hour: int = 2  # UTC hour of the nightly run
    api_port: int = 8080  # `chancery airflow`: the api-server (UI and REST) port on 127.0.0.1
    parallelism: int = 4  # task slots for the whole installation: sized for 2 cores
    redis_url: str = "redis://127.0.0.1:6379/0"  # the event queue (pub/sub) the event_ingest watcher reads
    events_channel: str = "chancery.incoming"  # Redis pub/sub channel for event messages
    fetch_pool_slots: int = 2  # pool chancery_fetch: fetch tasks at once, over all DAGs
    index_pool_slots: int = 1  # pool chancery_index: capture-processing tasks at once
    max_mapped_batches: int = 64  # a run maps at most this many fetch tasks; sources are batched to fit
    process_fallback_cron: str = "0 * * * *"  # process_captures also runs on this, whatever events said
    drain_budget_seconds: float = 900.0  # one process_captures task stops claiming after this; a new run goes on
    claim_lease_seconds: float = 3600.0  # a claim older than this is taken as abandoned and claimable again
    token_lifetime_seconds: int = 7200  # task (JWT) token lifetime the bootstrap sets; tasks stay well under it
    event_window_days: int = 2  # a "poll this source now" message looks this many days back
    # Celery queues of the tasks that fetch (I/O-bound: pages, archives) and that process captures
    # (CPU-bound: extract, enrich, index), so each has its own workers and scales on its own
    # (docker-compose.yml: airflow-worker-fetch, airflow-worker-process). "default" is the queue every
    # worker serves unless told otherwise; the LocalExecutor ignores queues.
    fetch_queue: str = "default"
    process_queue: str = "default"


@dataclass(frozen=True)
class KibanaSettings:
    """Where `chancery kibana setup` imports the saved objects, and where run links point."""

    url: str | None = None  # e.g. http://localhost:5601; unset: no Kibana links, `kibana setup` refuses
    username: str | None = None  # basic auth (a user with the saved-objects privileges of the space) ...
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)  # ... or an API key (`encoded`); wins over basic auth
    space: str | None = None  # a Kibana space id; unset: the default space


@dataclass(frozen=True)
class Settings:
    home: Path = Path(".chancery")
    sources: Path = DEFAULT_SOURCES
    # CHANCERY_STATE_URL: where the ledger, seen-store, out-of-scope rows, dead letters (engine down)
    # and host fetch leases live (pipeline/state). None: SQLite files under the home, one machine;
    # postgresql://user@host:port/db: one PostgreSQL database every host shares.
    state_url: str | None = None
    # CHANCERY_CAPTURES_URL: where closed captures (WARCs) are published for any host to read
    # (pipeline/captures.py): s3://bucket/prefix, file:///shared/path. None: the captures folder
    # under the home, which is then the only copy (one machine, the default).
    captures_url: str | None = None
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    extract: ExtractSettings = field(default_factory=ExtractSettings)
    enrich: EnrichSettings = field(default_factory=EnrichSettings)
    process: ProcessSettings = field(default_factory=ProcessSettings)
    airflow: AirflowSettings = field(default_factory=AirflowSettings)
    kibana: KibanaSettings = field(default_factory=KibanaSettings)

    @property
    def captures_dir(self) -> Path:
        return self.home / "captures"

    @property
    def engine_dir(self) -> Path:
        return self.home / "engine"

    @property
    def state_db(self) -> Path:
        return self.home / "state.sqlite3"

    @property
    def deadletter_dir(self) -> Path:
        return self.home / "deadletter"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def ledger_db(self) -> Path:
        return self.home / "captures.sqlite3"

    @property
    def out_of_scope_db(self) -> Path:
        """What the relevance gate kept out of each capture, by record offset (pipeline/gate.py)."""
        return self.home / "out-of-scope.sqlite3"


_SECRET_KEYS = {"password", "api_key"}

# Well-known environment names that users and docker-compose already use.
_ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "CHANCERY_HOME": ("home",),
    "CHANCERY_SOURCES": ("sources",),
    "CHANCERY_STATE_URL": ("state_url",),
    "CHANCERY_CAPTURES_URL": ("captures_url",),
    "CHANCERY_ALLOW_NETWORKS": ("fetch", "allow_networks"),
    "ELASTICSEARCH_URL": ("elasticsearch", "url"),
    "ELASTICSEARCH_USERNAME": ("elasticsearch", "username"),
    "ELASTICSEARCH_PASSWORD": ("elasticsearch", "password"),
    "ELASTICSEARCH_API_KEY": ("elasticsearch", "api_key"),
    "ELASTICSEARCH_CA_CERTS": ("elasticsearch", "ca_certs"),
    "KIBANA_URL": ("kibana", "url"),
    "KIBANA_USERNAME": ("kibana", "username"),
    "KIBANA_PASSWORD": ("kibana", "password"),
    "KIBANA_API_KEY": ("kibana", "api_key"),
    "KIBANA_SPACE": ("kibana", "space"),
    "ES_JAVA_HOME": ("engine", "java_home"),
    "JAVA_HOME": ("engine", "system_java_home"),
}


class SettingsError(ValueError):
    """A setting that cannot be used, named with where it came from."""


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Defaults < config file < environment < overrides (dotted keys, e.g. "fetch.max_bytes")."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or _config_path(env)
    if path is not None:
        _merge_file(values, path)
    _merge_env(values, env)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set(values, tuple(dotted.split(".")), value, f"override {dotted}")
    settings: Settings = _build(Settings, values, "settings")
    if settings.captures_url and "://" not in settings.captures_url:
        raise SettingsError(f"captures_url {settings.captures_url!r}: expected a URL such as s3://bucket/prefix or"
                            " file:///shared/path (unset: the captures folder under CHANCERY_HOME)")
    # Absolute, so a DAG task and the CLI started elsewhere agree on the same state.
    return dataclasses.replace(settings, home=settings.home.resolve(), sources=settings.sources.resolve())


def _config_path(env: Mapping[str, str]) -> Path | None:
    if env.get("CHANCERY_CONFIG"):
        path = Path(env["CHANCERY_CONFIG"])
        if not path.is_file():
            raise SettingsError(f"CHANCERY_CONFIG names {path}, which does not exist")
        return path
    default = Path("chancery.toml")
    return default if default.is_file() else None


def _merge_file(values: dict[str, Any], path: Path) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                _set(values, (key, sub), subvalue, f"{path} [{key}] {sub}")
        else:
            _set(values, (key,), value, f"{path} {key}")


def _merge_env(values: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, raw in env.items():
        if name in _ENV_ALIASES:
            _set(values, _ENV_ALIASES[name], raw, name)
        elif name.startswith("CHANCERY_") and name not in ("CHANCERY_CONFIG",):
            parts = name[len("CHANCERY_"):].lower().split("_", 1)
            if len(parts) == 2 and parts[0] in _SECTIONS:
                _set(values, (parts[0], parts[1]), raw, name)


_SECTIONS = {f.name for f in dataclasses.fields(Settings) if dataclasses.is_dataclass(f.default_factory)}


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any, origin: str) -> None:
    target = values
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = (value, origin)


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in fields:
            origin = raw[1] if isinstance(raw, tuple) else where
            raise SettingsError(f"{origin}: unknown setting {where}.{name}")
        f = fields[name]
        if isinstance(raw, dict):
            kwargs[name] = _build(f.default_factory, raw, f"{where}.{name}")  # type: ignore[arg-type]
        else:
            value, origin = raw
            kwargs[name] = _coerce(value, f, origin)
    return cls(**kwargs)


def _coerce(value: Any, f: dataclasses.Field[Any], origin: str) -> Any:
    kind = str(f.type)
    try:
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if kind == "Path":
            return Path(value)
        if kind.startswith("bool"):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
        if value in ("", None) and "None" in kind:
            return None
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{origin}: {f.name} expects {kind}, got {value!r}") from exc


def as_printable(settings: Settings) -> dict[str, Any]:
    """The effective values, secrets masked, for `chancery config`.

    Passwords and keys print as ********; any URL (ELASTICSEARCH_URL, KIBANA_URL, the Redis URL may
    carry ``user:password@``) prints through ``pipeline.urls.masked``.
    """

    def walk(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                out[f.name] = walk(value)
            elif f.name in _SECRET_KEYS and value:
                out[f.name] = "********"
            elif isinstance(value, str) and "://" in value:
                out[f.name] = masked(value)
            elif isinstance(value, Path):
                out[f.name] = str(value)
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            else:
                out[f.name] = value
        return out

    return walk(settings)
