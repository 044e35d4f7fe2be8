"""One way to get a client: `connect(settings)`, and one error when there is no engine to talk to."""

from __future__ import annotations

from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, AuthenticationException, Elasticsearch

from pipeline.config import Settings, node_urls

HOW_TO_START = (
    "start the local engine with `chancery engine start`, or set ELASTICSEARCH_URL "
    "(and ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD or ELASTICSEARCH_API_KEY) to a running cluster"
)

# Transport-level retries cover a dropped connection or a node restarting. Bulk turns the
# transport's status retries off and waits out 429/502/503/504 and write blocks itself, item by
# item, with backoff and a time budget (bulk.py). Kept small so "engine down" is reported quickly.
TRANSPORT_RETRIES = 2


class EngineUnavailable(Exception):
    """Elasticsearch cannot be reached or refuses us; the message says what to do about it."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    def __reduce__(self) -> tuple[Any, ...]:
        # Survives pickling (Airflow and multiprocessing ship exceptions between processes).
        return (type(self), (self.message, self.url))

    def __str__(self) -> str:
        return self.message


def connect(settings: Settings, check: bool = True) -> Elasticsearch:
    """A client for the configured cluster, or for the local engine when no URL is set.

    With ``check`` (the default) the cluster is asked for its health first, so a missing
    engine fails here with `EngineUnavailable` rather than in the middle of a batch.
    """
    url, auth = _endpoint(settings)
    es_settings = settings.elasticsearch
    options: dict[str, Any] = {
        "request_timeout": es_settings.request_timeout,
        "max_retries": TRANSPORT_RETRIES,
        "retry_on_timeout": True,
    }
    if es_settings.api_key:
        options["api_key"] = es_settings.api_key
    elif auth is not None:
        options["basic_auth"] = auth
    if es_settings.ca_certs:
        options["ca_certs"] = es_settings.ca_certs
    # Several nodes (ELASTICSEARCH_URL=http://a:9200,http://b:9200): the transport spreads requests over
    # them, and a node that stops answering is set aside while the others take its requests.
    es = Elasticsearch(node_urls(url), **options)
    if check:
        check_available(es)
    return es


def _endpoint(settings: Settings) -> tuple[str, tuple[str, str] | None]:
    es_settings = settings.elasticsearch
    if es_settings.url:
        auth = (es_settings.username, es_settings.password or "") if es_settings.username else None
        return es_settings.url, auth
    from pipeline.engine import local  # lazily: only needed without ELASTICSEARCH_URL

    try:
        url, username, password = local.connection(settings)
    except local.EngineNotStarted as exc:
        # Its message repeats the advice; ours is the one every EngineUnavailable carries.
        raise EngineUnavailable(f"ELASTICSEARCH_URL is not set and no local engine is set up: {HOW_TO_START}") from exc
    return url, (username, password)


def check_available(es: Elasticsearch) -> dict[str, Any]:
    """Cluster health (GET / answers 405 on the bare distribution, so info()/ping() cannot be used)."""
    url = describe(es)
    try:
        health: dict[str, Any] = dict(es.cluster.health(timeout="5s").body)
    except AuthenticationException as exc:
        raise EngineUnavailable(
            f"Elasticsearch at {url} refused the credentials (401): check ELASTICSEARCH_USERNAME/"
            f"ELASTICSEARCH_PASSWORD or ELASTICSEARCH_API_KEY; for the local engine, {HOW_TO_START}",
            url,
        ) from exc
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise EngineUnavailable(
            f"Elasticsearch is not reachable at {url}: {HOW_TO_START} (cause: {_root_cause(exc)})", url
        ) from exc
    except (ApiError, TransportError) as exc:
        raise EngineUnavailable(
            f"Elasticsearch at {url} is not healthy: {HOW_TO_START} (cause: {_root_cause(exc)})", url
        ) from exc
    if health.get("status") == "red":
        raise EngineUnavailable(f"Elasticsearch at {url} reports cluster health red; check the node's log", url)
    return health


def is_unreachable(exc: BaseException) -> bool:
    """True for the errors that mean the engine is gone, as opposed to a request it rejected."""
    return isinstance(exc, (TransportConnectionError, ConnectionTimeout))


def describe(es: Elasticsearch) -> str:
    """The node URL for messages (never the credentials)."""
    nodes = es.transport.node_pool.all()
    if not nodes:
        return "(no node)"
    config = nodes[0].config
    return f"{config.scheme}://{config.host}:{config.port}"


def _root_cause(exc: BaseException) -> str:
    """The innermost error's text (e.g. "Connection refused"), not the transport's nested wrappers."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 160 else text[:160] + "…"
