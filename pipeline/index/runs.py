"""Run reports (DAG runs, CLI batches) in their own index, so Kibana shows how each run went.

The report is a plain dict written by the caller (the Airflow listener, `chancery ingest`).
Known keys are mapped explicitly (`mapping.RUNS_MAPPINGS`); unknown keys are kept in
`_source` but not indexed, so a new field on the DAG side never makes a report fail.
When the engine is unreachable the report goes to a JSON lines file instead: never dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elastic_transport import TransportError
from elasticsearch import BadRequestError, Elasticsearch

from pipeline import PIPELINE_VERSION
from pipeline.config import Settings
from pipeline.index.client import is_unreachable
from pipeline.index.mapping import RUNS_INDEX_SETTINGS, RUNS_MAPPINGS
from pipeline.index.setup import ensure_side_index
from pipeline.logs import get_logger, log_event
from pipeline.models import format_datetime
from pipeline.statefiles import open_private

log = get_logger("index.runs")


@dataclass(frozen=True)
class StoredRun:
    id: str
    where: str  # "index" or the path of the fallback file


def run_report_id(report: Mapping[str, Any]) -> str | None:
    """A stable id, so a retried task rewrites its report instead of adding a second one."""
    if report.get("id"):
        return str(report["id"])
    # kind too: one DAG run stores several reports (its fetch summary, the run itself ...).
    parts = [str(report[k]) for k in ("dag_id", "run_id", "task_id", "kind") if report.get(k)]
    return ":".join(parts) if report.get("run_id") else None


def store_run_report(es: Elasticsearch, settings: Settings, report: Mapping[str, Any]) -> StoredRun:
    index = settings.elasticsearch.runs_index
    document = {
        "recorded_at": format_datetime(datetime.now(UTC)),
        "pipeline_version": PIPELINE_VERSION,
        **{k: v for k, v in report.items() if k != "id"},
    }
    doc_id = run_report_id(report)
    try:
        ensure_side_index(es, index, RUNS_MAPPINGS, RUNS_INDEX_SETTINGS)
        response = es.index(index=index, id=doc_id, document=document, refresh="wait_for")
    except BadRequestError as exc:  # a key whose shape contradicts the mapping (e.g. a string `window`)
        return _stored_in_file(settings, document, doc_id, f"rejected by {index}: {exc.message}")
    except TransportError as exc:
        if not is_unreachable(exc):
            raise
        return _stored_in_file(settings, document, doc_id, f"engine unreachable: {exc}")
    log_event(log, "run_report_stored", id=response["_id"], index=index)
    return StoredRun(str(response["_id"]), "index")


def recent_runs(es: Elasticsearch, settings: Settings, size: int = 10) -> list[dict[str, Any]]:
    index = settings.elasticsearch.runs_index
    if not es.indices.exists(index=index):
        return []
    response = es.search(index=index, size=size, sort=[{"recorded_at": "desc"}])
    return [dict(hit["_source"], id=hit["_id"]) for hit in response["hits"]["hits"]]


def _stored_in_file(settings: Settings, document: Mapping[str, Any], doc_id: str | None, reason: str) -> StoredRun:
    path = _to_file(settings, document, doc_id)
    log_event(log, "run_report_to_file", logging.WARNING, id=doc_id, file=str(path), reason=reason)
    return StoredRun(doc_id or "", str(path))


def _to_file(settings: Settings, document: Mapping[str, Any], doc_id: str | None) -> Path:
    path = Path(settings.deadletter_dir) / f"{settings.elasticsearch.runs_index}.jsonl"
    with open_private(path, "a") as out:
        out.write(json.dumps({"id": doc_id, **document}, ensure_ascii=False, default=str) + "\n")
    return path
