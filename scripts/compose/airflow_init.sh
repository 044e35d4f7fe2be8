#!/usr/bin/env bash
# docker compose `airflow-init`: everything the stack needs before Airflow starts, failing loudly.
#
#  1. refuses to start without the secrets from .env (no defaults anywhere);
#  2. migrates Airflow's database and creates Chancery's state database;
#  3. writes the admin login (AIRFLOW_ADMIN_PASSWORD), the pools and the connections;
#  4. sets the index up as the `elastic` superuser (template, indices, aliases need cluster `manage`);
#  5. waits for Kibana and imports the data views, saved searches and dashboards.
# Any failing step stops the script with its own message and a non-zero exit, so `docker compose up`
# never starts the scheduler on a half-made stack. Every step is idempotent: rerunning is safe.
set -euo pipefail

for name in ELASTIC_PASSWORD CHANCERY_WRITER_PASSWORD AIRFLOW_ADMIN_PASSWORD AIRFLOW__API_AUTH__JWT_SECRET \
            POSTGRES_PASSWORD; do
  if [ -z "${!name:-}" ]; then
    echo "airflow-init: $name is not set; copy .env.example to .env and fill it in" >&2
    exit 1
  fi
done

step() { echo "airflow-init: $*"; }

step "migrating the Airflow database"
airflow db migrate

step "writing the admin login"
python - <<'PY'
import json, os, pathlib
path = pathlib.Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}), encoding="utf-8")
path.chmod(0o600)
PY

step "creating Chancery's state database (CHANCERY_STATE_URL) when missing"
python - <<'PY'
import os
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
target = conninfo_to_dict(os.environ["CHANCERY_STATE_URL"])
with psycopg.connect(make_conninfo(**{**target, "dbname": "postgres"}), autocommit=True) as db:
    if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target["dbname"],)).fetchone():
        db.execute(f'CREATE DATABASE "{target["dbname"]}"')
PY

step "importing the pools"
chancery airflow --pools-file /tmp/chancery-pools.json
airflow pools import /tmp/chancery-pools.json

step "importing the connections (Elasticsearch as chancery_writer, Redis)"
python - <<'PY'
import json, os
connections = {
    "chancery_elasticsearch": {"conn_type": "elasticsearch", "host": "elasticsearch", "port": 9200,
                               "login": "chancery_writer", "password": os.environ["CHANCERY_WRITER_PASSWORD"],
                               "extra": json.dumps({"scheme": "http"})},
    "chancery_redis": {"conn_type": "redis", "host": "redis", "port": 6379, "extra": json.dumps({"db": 0})},
}
with open("/tmp/chancery-connections.json", "w", encoding="utf-8") as out:
    json.dump(connections, out)
PY
airflow connections import --overwrite /tmp/chancery-connections.json
rm -f /tmp/chancery-connections.json

step "setting up the index (as elastic)"
ELASTICSEARCH_USERNAME=elastic ELASTICSEARCH_PASSWORD="$ELASTIC_PASSWORD" chancery index setup

step "importing the Kibana objects (waiting for Kibana first)"
KIBANA_URL=http://kibana:5601 KIBANA_USERNAME=elastic KIBANA_PASSWORD="$ELASTIC_PASSWORD" \
  chancery kibana setup --wait 300

step "done"
