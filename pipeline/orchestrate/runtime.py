"""Settings inside a running Airflow task: the environment's, with the Elasticsearch secret from Airflow.

Secrets come from Airflow connections: when the ``chancery_elasticsearch`` connection
exists (``chancery airflow`` and docker-compose define it), its host, login and
password replace the environment's. Airflow is imported inside the function, and
only task bodies call it (never at parse time).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pipeline.config import Settings, load_settings, node_urls
from pipeline.logs import get_logger, log_event

log = get_logger("orchestrate.runtime")

ES_CONN_ID = "chancery_elasticsearch"


def es_connection_uri(url: str, username: str | None, password: str | None) -> str:
    """``http://host:9200`` + credentials → ``elasticsearch://user:pw@host:9200?scheme=http``.

    A connection has one host: of several node URLs the first is its host, and all of them (without
    credentials) go in its extra as ``nodes``, which ``settings_from_connection`` reads back.
    """
    from urllib.parse import quote, urlencode, urlsplit, urlunsplit

    nodes = [urlsplit(node) for node in node_urls(url)] or [urlsplit("http://127.0.0.1:9200")]
    parts = nodes[0]
    auth = ""
    if username:
        auth = quote(username, safe="") + (":" + quote(password, safe="") if password else "") + "@"
    netloc = auth + (parts.hostname or "127.0.0.1") + (f":{parts.port}" if parts.port else "")
    query = {"scheme": parts.scheme or "http"}
    if len(nodes) > 1:
        query["nodes"] = ",".join(urlunsplit((n.scheme, n.netloc.rpartition("@")[2], n.path, "", "")) for n in nodes)
    return urlunsplit(("elasticsearch", netloc, parts.path, urlencode(query), ""))


def settings_from_connection(settings: Settings, conn: Any) -> Settings:
    """Apply an Airflow connection (host, port, login, password, extra scheme) to the ES settings."""
    if not conn or not conn.host:
        return settings
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    scheme = extra.get("scheme", "http")
    url = extra.get("nodes") or f"{scheme}://{conn.host}" + (f":{conn.port}" if conn.port else "")
    es = dataclasses.replace(settings.elasticsearch, url=url,
                             username=conn.login or settings.elasticsearch.username,
                             password=conn.password or settings.elasticsearch.password)
    return dataclasses.replace(settings, elasticsearch=es)


def task_settings() -> Settings:
    """load_settings(), then the Elasticsearch connection's values when Airflow has one."""
    settings = load_settings()
    try:
        from airflow.sdk import Connection

        conn = Connection.get(ES_CONN_ID)
    except Exception as exc:  # no such connection, or not inside a task: the environment's values stand
        log_event(log, "es_connection_not_used", conn_id=ES_CONN_ID, reason=f"{type(exc).__name__}: {exc}"[:200])
        return settings
    return settings_from_connection(settings, conn)
