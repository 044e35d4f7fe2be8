"""Airflow-free functions the DAGs call: the capture ledger, event messages, run steps and reports.

Nothing here imports Airflow; ``dags/`` and ``plugins/`` are thin wiring over these.
"""

# The asset URIs that chain the DAGs (plain strings: no Airflow import needed to name them).
INCOMING = "chancery://incoming"  # event messages (Redis pub/sub watcher, or the REST asset-event route)
RAW_CAPTURES = "chancery://raw-captures"  # a fetching run closed WARCs; extra["warcs"] names them
ARTICLES_INDEXED = "chancery://articles-indexed"  # process_captures indexed articles; extra has the counts

FETCH_POOL = "chancery_fetch"
INDEX_POOL = "chancery_index"
