"""The least-privilege Elasticsearch role the pipeline writes as (docs/index.md, "Least privilege").

Pure data: `indexer_role(prefix, runs_index)` is the body of `PUT _security/role/<name>` (or of
one entry in a node's `roles.yml`), so the docker-compose setup, an operator's script and the
tests all grant the same thing. `put_indexer_role` is that call, for code holding an admin client.

What a user with this role can do: ingest (bulk into the write alias), search, `index status`,
store run reports, write, list and replay dead letters. Writing anywhere else is refused with
403 `security_exception`. What it cannot do is `chancery index setup` and `chancery reindex`:
those create indices, move aliases and put the template, and the analysis probe calls `_analyze`
without an index, which Elasticsearch grants only with the cluster `manage` privilege. Run them
once per mapping change as an administrator.

Why each privilege is there:

- cluster `monitor`: `_cluster/health`, the liveness check every command makes; read-only.
- article indices `<prefix>-v*` and both aliases: `write` (bulk through the write alias), `read`
  (search, and the newer-copy check before a replay), `view_index_metadata` (does the write alias
  exist, `index status`).
- dead-letter index: `write` (letters are added, replaced, and deleted once replayed), `read`,
  `view_index_metadata`.
- run-report index: `create_index` (the first report creates it), `index`, `read`,
  `view_index_metadata`. Reports are never updated in place or deleted by the pipeline.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from pipeline.config import Settings
from pipeline.index.mapping import IndexNames

ROLE_NAME = "chancery_indexer"


def indexer_role(prefix: str, runs_index: str) -> dict[str, Any]:
    """The role body for one index prefix and run-report index."""
    names = IndexNames(prefix)
    return {
        "cluster": ["monitor"],
        "indices": [
            {
                "names": [names.pattern, names.read_alias, names.write_alias],
                "privileges": ["write", "read", "view_index_metadata"],
            },
            {
                "names": [names.deadletter],
                "privileges": ["write", "read", "view_index_metadata"],
            },
            {
                "names": [runs_index],
                "privileges": ["create_index", "index", "read", "view_index_metadata"],
            },
        ],
        "metadata": {"chancery_prefix": prefix},
    }


def put_indexer_role(es: Elasticsearch, settings: Settings, name: str = ROLE_NAME) -> None:
    """Create or update the role for the configured prefix (needs the `manage_security` privilege)."""
    body = indexer_role(settings.elasticsearch.index_prefix, settings.elasticsearch.runs_index)
    es.security.put_role(name=name, **body)
