"""Two worker hosts serve one Airflow: the CeleryExecutor hands tasks to a worker in each network namespace.

The smallest installation the two-host test builds on: PostgreSQL (Airflow's metadata) and Redis
(the broker) on the bridge, the scheduler, dag-processor and api-server on the host, and one
`airflow celery worker` per host, each with its own AIRFLOW_HOME on its own disk. A DAG of eight
mapped tasks, each reporting where it ran, runs on both hosts, and Airflow records which.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from af_harness import wait_for
from netns import Network, own_disks, unavailable, worker_hosts
from stack import BridgedRedis, ControlPlane, Postgres, Worker, celery_environment, free_port_on, worker_env

from pipeline.config import Settings

REASON = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.airflow,
              pytest.mark.skipif(REASON is not None, reason=f"no worker hosts here: {REASON}")]

HOSTS = ("host-a", "host-b")
DAG = '''
    from datetime import UTC, datetime

    from airflow.sdk import dag, task


    @dag(schedule=None, start_date=datetime(2015, 1, 1, tzinfo=UTC), catchup=False)
    def where_tasks_run():
        @task
        def where(n: int) -> dict:
            import os, socket, time

            time.sleep(2)  # long enough that one worker cannot take all eight alone
            return {"n": n, "host": socket.gethostname(), "home": os.environ["AIRFLOW_HOME"]}

        where.expand(n=list(range(8)))


    where_tasks_run()
'''


@dataclasses.dataclass
class Installation:
    net: Network
    airflow: ControlPlane
    workers: dict[str, Worker]


@pytest.fixture(scope="module")
def installation(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("celery-hosts")
    disks = own_disks(root, HOSTS)
    dags = root / "dags"
    dags.mkdir()
    (dags / "where_tasks_run.py").write_text(textwrap.dedent(DAG))
    with worker_hosts(HOSTS, disks) as net:
        postgres = Postgres([net.gateway], str(net.subnet)).start(["airflow"])
        redis = BridgedRedis(root / "redis", net.gateway)
        redis_started = False
        airflow: ControlPlane | None = None
        workers: dict[str, Worker] = {}
        try:
            redis.start()
            redis_started = True
            settings = dataclasses.replace(base_settings, home=root / "control",
                                           airflow=dataclasses.replace(base_settings.airflow,
                                                                       api_port=free_port_on(net.gateway)))
            env = celery_environment(settings, net.gateway, postgres.url("airflow", "postgresql+psycopg"),
                                     redis.db_url(1),
                                     {"AIRFLOW__CORE__DAGS_FOLDER": str(dags)})
            airflow = ControlPlane(settings, env, net.gateway).start()
            for name in HOSTS:
                host = net.host(name)
                workers[name] = Worker(host, "tasks", worker_env(env, host, net, {}), ["default"], "prefork", 2,
                                       root / f"{name}-worker.log").start()
            yield Installation(net, airflow, workers)
        finally:
            for worker in workers.values():
                worker.stop()
            if airflow is not None:
                airflow.stop()
            if redis_started:
                redis.stop()
            postgres.stop()


def test_tasks_run_on_both_hosts_each_in_its_own_home(installation: Installation) -> None:
    airflow, net = installation.airflow, installation.net
    wait_for("the DAG parsed", lambda: airflow.api("GET", "/dags", params={"dag_id_pattern": "where"})["dags"],
             240, every=3)
    run = airflow.api("POST", "/dags/where_tasks_run/dagRuns", json={"logical_date": None})
    finished = wait_for("the run finished", lambda: (r := airflow.api(
        "GET", f"/dags/where_tasks_run/dagRuns/{run['dag_run_id']}"))["state"] in ("success", "failed") and r,
        300, every=3)
    tis = airflow.task_instances("where_tasks_run", run["dag_run_id"])
    assert finished["state"] == "success", [(t["map_index"], t["state"], t["hostname"]) for t in tis]
    hosts = {t["hostname"] for t in tis}
    assert hosts == set(HOSTS), hosts  # Airflow saw both hosts by their own names
    returned: list[dict[str, Any]] = [airflow.api(
        "GET", f"/dags/where_tasks_run/dagRuns/{run['dag_run_id']}/taskInstances/where/xcomEntries/return_value",
        params={"map_index": t["map_index"]})["value"] for t in tis]
    assert sorted(r["n"] for r in returned) == list(range(8))
    for result, ti in zip(sorted(returned, key=lambda r: r["n"]), sorted(tis, key=lambda t: t["map_index"]),
                          strict=True):
        assert result["host"] == ti["hostname"]
        assert result["home"] == str(net.disk / "airflow")  # the same path on both hosts, each its own disk
    for name in HOSTS:  # each host's task logs are on that host's disk only
        logs = list((net.host(name).disk / "airflow" / "logs").rglob("*.log"))  # type: ignore[operator]
        assert logs, f"no task log on {name}'s disk"
    assert not (Path(net.disk) / "airflow").exists()  # and none of it on the host's own view of that path
