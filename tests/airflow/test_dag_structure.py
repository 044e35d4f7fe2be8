"""The DAG folder: imports cleanly, every DAG is tagged, owned and retried; files parse cheaply; plugin loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from af_harness import REPO, airflow_env, drive

from pipeline.config import Settings

pytestmark = pytest.mark.airflow

EXPECTED = {"nightly_ingest", "process_captures", "event_ingest", "backfill_archive"}
PARSE_CPU_LIMIT_S = 1.0  # the bound; measured ~0.05-0.2 s, so the margin is wide


@pytest.fixture(scope="module")
def env(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    settings = dataclasses.replace(base_settings, home=tmp_path_factory.mktemp("af-structure"),
                                   kibana=dataclasses.replace(base_settings.kibana,
                                                              url="http://kibana.test:5601"))
    env = airflow_env(settings)
    env["KIBANA_URL"] = "http://kibana.test:5601"
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def test_dagbag_imports_and_structure(env: dict[str, str]) -> None:
    result = drive(env, "dagbag")
    assert result["import_errors"] == {}  # a cycle is an import error too
    dags = result["dags"]
    assert set(dags) == EXPECTED
    for dag_id, dag in dags.items():
        assert dag["file"] == f"{dag_id}.py"  # one DAG per file, named after it
        assert "chancery" in dag["tags"]
        assert dag["owners"] == ["chancery"]
        assert all(n >= 2 for n in dag["retries"].values()), dag["retries"]
        assert dag["catchup"] is False and dag["start_date"]
    assert dags["nightly_ingest"]["timetable"] == "CronDataIntervalTimetable"
    assert dags["process_captures"]["timetable"] == "AssetOrTimeSchedule"
    assert dags["event_ingest"]["timetable"] == "AssetTriggeredTimetable"
    assert dags["nightly_ingest"]["pools"]["fetch"] == "chancery_fetch"
    assert dags["process_captures"]["pools"]["drain"] == "chancery_index"


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "dags").glob("*.py")))
def test_each_dag_file_parses_in_under_a_second_of_cpu(env: dict[str, str], name: str) -> None:
    result = drive(env, "parse-cpu", str(REPO / "dags" / name))
    print(f"{name}: {result['cpu_seconds']:.3f} s CPU")
    assert result["cpu_seconds"] < PARSE_CPU_LIMIT_S


def test_plugin_loads_listener_and_kibana_link(env: dict[str, str]) -> None:
    result = drive(env, "plugins")
    assert result["errors"] == {}
    assert "chancery" in result["loaded"]
    assert result["listeners"] == ["DagRunRecorder"]
    (view,) = result["external_views"]
    assert view["destination"] == "dag_run"
    assert view["href"].startswith("http://kibana.test:5601/app/discover#/")
    assert "provenance.run_id:\"{RUN_ID}\"" in view["href"]


def test_the_elasticsearch_connection_round_trips(env: dict[str, str]) -> None:
    env = {**env, "AIRFLOW_CONN_CHANCERY_ELASTICSEARCH":
           "elasticsearch://elastic:p%40ss@es.test:9250?scheme=https"}
    assert drive(env, "connection") == {"url": "https://es.test:9250", "username": "elastic", "password": "p@ss"}
