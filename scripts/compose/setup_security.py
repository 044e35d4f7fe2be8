"""docker compose `elasticsearch-setup`: Kibana's system password, and the pipeline's least-privilege user.

Runs once per `docker compose up`, as the `elastic` superuser (ELASTICSEARCH_USERNAME/PASSWORD), and
is idempotent: it sets the `kibana_system` password, puts the `chancery_writer` role (the body of
`pipeline.index.roles.indexer_role`: write only the article indices and aliases, the dead-letter index
and the run-report index) and puts the `chancery_writer` user with that role. Any failure exits 1
with what Elasticsearch said, so `docker compose up` stops before Kibana or Airflow start.
"""

from __future__ import annotations

import os
import sys

from elasticsearch import ApiError

from pipeline.config import load_settings
from pipeline.index.client import EngineUnavailable, connect
from pipeline.index.roles import put_indexer_role

WRITER = "chancery_writer"  # role and user: what Airflow's chancery_elasticsearch connection logs in as
REQUIRED = ("ELASTICSEARCH_PASSWORD", "KIBANA_SYSTEM_PASSWORD", "CHANCERY_WRITER_PASSWORD")


def main() -> int:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        print(f"elasticsearch-setup: {', '.join(missing)} not set; copy .env.example to .env and fill it in",
              file=sys.stderr)
        return 1
    settings = load_settings()
    try:
        es = connect(settings)
        es.security.change_password(username="kibana_system", password=os.environ["KIBANA_SYSTEM_PASSWORD"])
        print("kibana_system: password set")
        put_indexer_role(es, settings, name=WRITER)
        print(f"role {WRITER}: write {settings.elasticsearch.index_prefix}-v*, its aliases, its dead letters "
              f"and {settings.elasticsearch.runs_index}; nothing else")
        es.security.put_user(username=WRITER, password=os.environ["CHANCERY_WRITER_PASSWORD"], roles=[WRITER],
                             full_name="Chancery pipeline (least privilege)")
        print(f"user {WRITER}: ready")
    except EngineUnavailable as exc:
        print(f"elasticsearch-setup: {exc}", file=sys.stderr)
        return 1
    except ApiError as exc:
        print(f"elasticsearch-setup: Elasticsearch refused ({exc.meta.status}): {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
