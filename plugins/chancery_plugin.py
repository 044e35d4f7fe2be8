"""Chancery's Airflow plugin: a DAG-run listener writing to pipeline-runs, and a Kibana Discover link per run.

Glue only: the record is built by pipeline.orchestrate.reports and stored by
pipeline.index.runs. The listener runs in the scheduler, so it stores from a
short-lived thread and logs (never raises) when Elasticsearch is unreachable.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from pipeline.config import load_settings
from pipeline.orchestrate.reports import kibana_discover_url

log = logging.getLogger("chancery.plugin")


class DagRunRecorder:
    """Records every finished DAG run (state, duration) in the pipeline-runs index."""

    @hookimpl
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        self._record(dag_run, "success", msg)

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        self._record(dag_run, "failed", msg)

    def _record(self, dag_run: Any, state: str, msg: str) -> None:
        from pipeline.orchestrate.reports import dag_run_record

        settings = load_settings()
        record = dag_run_record(
            dag_run.dag_id, dag_run.run_id, state, dag_run.start_date, dag_run.end_date,
            run_type=_text(getattr(dag_run, "run_type", None)), logical_date=dag_run.logical_date,
            message=msg or "", kibana_url=settings.kibana.url, kibana_space=settings.kibana.space,
        )
        thread = threading.Thread(target=_store, args=(settings, record), name="chancery-run-record")
        thread.start()
        thread.join(timeout=15)  # bounded: never hold the scheduler loop for long


def _text(value: Any) -> str:
    """An enum's value (DagRunType.BACKFILL_JOB → "backfill"), else the text itself."""
    return str(getattr(value, "value", value) or "")


def _store(settings: Any, record: dict[str, Any]) -> None:
    try:
        from pipeline.orchestrate.steps import store_report

        store_report(settings, record)
        log.info("dag run recorded: %s %s %s", record["dag_id"], record["run_id"], record["status"])
    except Exception:  # a listener must never break the scheduler
        log.warning("could not record dag run %s %s", record["dag_id"], record["run_id"], exc_info=True)


def _external_views() -> list[dict[str, Any]]:
    kibana = load_settings().kibana
    if not kibana.url:
        return []
    return [{
        "name": "Articles in Kibana",
        "href": kibana_discover_url(kibana.url, "{RUN_ID}", kibana.space),
        "destination": "dag_run",
        "url_route": "chancery-kibana-discover",
    }]


class ChanceryPlugin(AirflowPlugin):
    name = "chancery"
    listeners = [DagRunRecorder()]
    external_views = _external_views()
