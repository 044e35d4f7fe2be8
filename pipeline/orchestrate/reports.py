"""Run records for the pipeline-runs index and the Kibana Discover link of a run (no Airflow here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

# Kibana Discover over the articles index, filtered on the articles a run fetched
# (their provenance.run_id is the Airflow run id), over all time: articles are dated by
# publication, which can be years before the run.
DISCOVER_PATH = (
    "/app/discover#/?_g=(time:(from:'1990-01-01T00:00:00.000Z',to:now))"
    "&_a=(query:(language:kuery,query:'provenance.run_id:\"{run_id}\"'))"
)


def kibana_discover_url(kibana_url: str, run_id: str) -> str:
    """A link to Discover filtered on one run's articles; ``run_id`` may be a UI placeholder like {RUN_ID}."""
    escaped = run_id if run_id.startswith("{") else quote(run_id, safe="")
    return kibana_url.rstrip("/") + DISCOVER_PATH.format(run_id=escaped)


def dag_run_record(
    dag_id: str,
    run_id: str,
    state: str,
    start: datetime | None,
    end: datetime | None,
    run_type: str | None = None,
    logical_date: datetime | None = None,
    message: str = "",
    kibana_url: str | None = None,
) -> dict[str, Any]:
    """What the listener stores for a finished DAG run: outcome and duration."""
    duration = (end - start).total_seconds() if start and end else None
    return {
        "id": f"{dag_id}:{run_id}:dag_run",
        "kind": "dag_run",
        "dag_id": dag_id,
        "run_id": run_id,
        "status": state,
        "run_type": run_type,
        "logical_date": logical_date.isoformat() if logical_date else None,
        "started_at": start.isoformat() if start else None,
        "finished_at": end.isoformat() if end else None,
        "duration_seconds": duration,
        "message": message[:1000],
        "kibana_url": kibana_discover_url(kibana_url, run_id) if kibana_url else None,
    }
