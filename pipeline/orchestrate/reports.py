"""Run records for the pipeline-runs index and the Kibana Discover link of a run (no Airflow here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.kibana.links import kibana_discover_url

__all__ = ["dag_run_record", "kibana_discover_url"]  # the link is built in pipeline.kibana.links


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
    kibana_space: str | None = None,
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
        "kibana_url": kibana_discover_url(kibana_url, run_id, kibana_space) if kibana_url else None,
    }
