"""Drives Airflow in its own process for the tests (Airflow's config is read at import, per process).

    python af_drive.py dagbag                      import errors and DAG structure, as JSON
    python af_drive.py parse-cpu FILE              CPU seconds to parse one DAG file after Airflow is imported
    python af_drive.py test DAG_ID [DATE] [CONF]   dag.test() one run; states, return values, asset events
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def dagbag() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "file": Path(dag.fileloc).name,
            "tags": sorted(dag.tags),
            "owners": sorted({t.owner for t in dag.tasks}),
            "retries": {t.task_id: t.retries for t in dag.tasks},
            "catchup": dag.catchup,
            "start_date": dag.start_date.isoformat() if dag.start_date else None,
            "timetable": type(dag.timetable).__name__,
            "tasks": sorted(t.task_id for t in dag.tasks),
            "pools": {t.task_id: t.pool for t in dag.tasks},
        }
    return {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": dags}


def parse_cpu(path: str) -> dict:
    import runpy

    import airflow.sdk  # noqa: F401  what the dag-processor has loaded before it parses a file

    started = time.process_time()
    runpy.run_path(path, run_name="__dag_parse__")
    return {"file": Path(path).name, "cpu_seconds": time.process_time() - started}


def plugins() -> dict:
    from airflow import plugins_manager

    found, errors = plugins_manager._get_plugins()
    ours = [p for p in found if p.name == "chancery"]
    views, _ = plugins_manager._get_ui_plugins()
    return {
        "errors": {str(k): str(v) for k, v in errors.items()},
        "loaded": [p.name for p in found],
        "listeners": [type(listener).__name__ for p in ours for listener in p.listeners],
        "external_views": [v for v in views if v.get("url_route") == "chancery-kibana-discover"],
    }


def connection() -> dict:
    """The ES connection the bootstrap defines, parsed by Airflow, applied to the settings."""
    import os

    from airflow.sdk import Connection

    from pipeline.config import load_settings
    from pipeline.orchestrate.runtime import ES_CONN_ID, settings_from_connection

    conn = Connection.from_uri(os.environ[f"AIRFLOW_CONN_{ES_CONN_ID.upper()}"], conn_id=ES_CONN_ID)
    es = settings_from_connection(load_settings(environ={}), conn).elasticsearch
    return {"url": es.url, "username": es.username, "password": es.password}


def test(dag_id: str, logical_date: str | None, conf: str | None) -> dict:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.asset import AssetEvent
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = DagBag(dag_folder=str(DAGS))
    dag = bag.get_dag(dag_id)
    when = datetime.fromisoformat(logical_date) if logical_date else None
    run = dag.test(logical_date=when, run_conf=json.loads(conf) if conf else None)
    with create_session() as session:
        tis = {ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": str(ti.state)
               for ti in run.get_task_instances(session=session)}
        xcoms = {}
        for x in session.scalars(select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run.run_id,
                                                         XComModel.key == "return_value")):
            name = x.task_id if x.map_index < 0 else f"{x.task_id}[{x.map_index}]"
            xcoms[name] = XComModel.deserialize_value(x)
        events = [
            {"uri": e.asset.uri, "extra": e.extra}
            for e in session.scalars(select(AssetEvent).where(AssetEvent.source_dag_id == dag_id,
                                                              AssetEvent.source_run_id == run.run_id))
        ]
    return {"run_id": run.run_id, "state": str(run.state), "tasks": tis, "returns": xcoms, "events": events}


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "dagbag":
        out = dagbag()
    elif command == "connection":
        out = connection()
    elif command == "plugins":
        out = plugins()
    elif command == "parse-cpu":
        out = parse_cpu(rest[0])
    else:
        out = test(rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)
    print("AF_DRIVE_RESULT " + json.dumps(out, default=str))
