"""`chancery captures`: list, summary and mark-pending over the ledger the DAGs share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.orchestrate.ledger import CaptureLedger


def test_list_summary_and_mark_pending(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    ledger = CaptureLedger(home / "captures.sqlite3")
    ledger.record([tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"], run_id="run-1", dag_id="nightly_ingest")
    for c in ledger.claim("w", limit=2):
        ledger.mark_done(c.path, "w", {"indexed": 3})

    assert main(["--home", str(home), "captures", "summary"]) == 0
    assert json.loads(capsys.readouterr().out) == {"done": 2}

    assert main(["--home", str(home), "captures", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["counts"] for r in rows] == [{"indexed": 3}, {"indexed": 3}]

    assert main(["--home", str(home), "captures", "mark-pending"]) == 2  # no filter: refused
    capsys.readouterr()
    assert main(["--home", str(home), "captures", "mark-pending", str(tmp_path / "a.warc.gz")]) == 0
    assert "1 capture(s) marked pending" in capsys.readouterr().out
    assert main(["--home", str(home), "captures", "mark-pending", "--status", "done"]) == 0
    capsys.readouterr()
    assert ledger.counts() == {"pending": 2}
    assert main(["--home", str(home), "captures", "list", "--status", "pending"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["pending", "pending"]


def test_airflow_print_env_wires_the_checkout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path / "home"), "airflow", "--port", "8099", "--print-env"]) == 0
    lines = dict(line[len("export "):].split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["AIRFLOW_HOME"] == str(tmp_path / "home" / "airflow")
    assert lines["AIRFLOW__CORE__DAGS_FOLDER"].endswith("/dags")
    assert lines["AIRFLOW__CORE__PLUGINS_FOLDER"].endswith("/plugins")
    assert lines["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert lines["AIRFLOW__CORE__PARALLELISM"] == "4"
    assert lines["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"] == "30"
    assert lines["AIRFLOW__API__PORT"] == "8099"
    assert lines["AIRFLOW_CONN_CHANCERY_REDIS"].startswith("redis://")


def test_pools_file(tmp_path: Path) -> None:
    out = tmp_path / "pools.json"
    assert main(["--home", str(tmp_path / "home"), "airflow", "--pools-file", str(out)]) == 0
    pools = json.loads(out.read_text())
    assert pools["chancery_fetch"]["slots"] == 2 and pools["chancery_index"]["slots"] == 1
