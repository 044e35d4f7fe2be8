"""The test that proves it (issue 15): two worker hosts, shared state, a three-node cluster, and losses on the way.

Two worker hosts, each a network namespace with its own address, hostname and disk
(tests/scale/netns.py), run one `airflow celery worker` each, serving the fetch and the process
queues. Outside them, on the bridge: PostgreSQL (Airflow's metadata and Chancery's state,
``CHANCERY_STATE_URL``), Redis (the Celery broker), an S3 server (moto's, as the captures store,
``CHANCERY_CAPTURES_URL=s3://…``), a three-node Elasticsearch cluster (`engine start --nodes 3`),
the scheduler, dag-processor and api-server, and a newsroom of 200 articles over 10 days that asks
for a Crawl-delay and records every request.

One `airflow backfill create` of nightly_ingest over the 10 days runs under the CeleryExecutor; the
raw-captures events wake process_captures. On the way one Elasticsearch node is stopped while
articles are being indexed, and one worker host is killed -9 while its drain holds a capture.
The tests then read what happened:
- every article is indexed exactly once (the count, and no two documents with one URL);
- captures fetched on one host were processed on the other (Airflow's task hostnames and return values);
- the newsroom never saw more requests at once, or starts closer together, than its politeness allows;
- the stopped node and the killed worker lost nothing: their captures ended done, their articles indexed.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from af_harness import airflow_cli, wait_for
from ingest_runs import indexed_urls
from netns import Network, own_disks, unavailable, worker_hosts
from newsroom import ScaleNewsroom, open_scale_newsroom, spread_articles
from s3_service import S3Service
from stack import BridgedRedis, ControlPlane, Postgres, Worker, celery_environment, free_port_on, worker_env

from pipeline.config import Settings
from pipeline.demo.newsroom import write_sources_file
from pipeline.engine import local
from pipeline.orchestrate.ledger import CaptureStatus
from pipeline.state import open_state
from pipeline.urls import canonicalize

REASON = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.engine,
              pytest.mark.skipif(REASON is not None, reason=f"no worker hosts here: {REASON}")]

HOSTS = ("host-a", "host-b")
# Each host runs a fetch worker (the fetch queue, and the default one of plan, emit and report: I/O-bound,
# several tasks at once) and a process worker (the process queue: CPU-bound, one drain at a time), as
# docker-compose.yml's airflow-worker-fetch and airflow-worker-process do.
WORKERS = (("fetch", ("default", "fetch"), "prefork", 2), ("process", ("process",), "solo", 1))
FIRST_DAY, DAYS, ARTICLES = date(2015, 10, 1), 10, 200
CRAWL_DELAY = 0.3  # the newsroom's robots.txt; fetch.per_host_delay is 0, so this is the spacing to keep
HOST_CONCURRENCY = 2  # fetch.per_host_concurrency: requests at once to one publisher host, over all workers
# Seconds a claim holds without renewal: a killed worker's capture is claimable again after this.
CLAIM_LEASE_S = 30
HEARTBEAT_TIMEOUT_S = 45  # Airflow marks a killed worker's running task failed after this; its retry runs elsewhere
# A task the killed worker had taken from the broker but not started stays `queued` until this (Airflow's
# default: 600 s); then the scheduler queues it again, for the surviving host.
QUEUED_TIMEOUT_S = 120
SITEMAP = "gazette-news-sitemap"  # the newsroom's source that lists every article (pipeline/demo/newsroom.py)
STOP_NODE = 3  # the node stopped mid-ingest (the workers' URL is node 1's: the client holds one URL)
WAIT_S = 900  # the bound on each wait; the whole module takes about ten minutes on 2 cores
# How much closer than the Crawl-delay two starts may arrive: a fetcher that reserved its start on time
# can be late to send it (2 busy cores: up to ~0.12 s measured), which brings it closer to the next one.
# Fetchers that do not share the delay collide at random, most gaps far below this (6-50 ms measured).
GAP_SLACK_S = 0.15


@dataclasses.dataclass
class Fleet:
    net: Network
    settings: Settings  # as the tasks see it, with the control plane's home: for the test's own reads
    env: dict[str, str]
    airflow: ControlPlane
    workers: dict[str, list[Worker]]  # by host
    newsroom: ScaleNewsroom
    cluster: Settings  # the engine's home: stop and start its nodes

    def expected(self) -> list[str]:
        return sorted(canonicalize(self.newsroom.url_for(a)) for a in self.newsroom.articles)

    def ledger_counts(self) -> dict[str, int]:
        return open_state(self.settings).ledger().counts()


def _cluster_settings(base: Settings, home: Path, gateway: str) -> Settings:
    engine = dataclasses.replace(base.engine, nodes=3, port=0, transport_port=0, http_hosts=("127.0.0.1", gateway))
    es = dataclasses.replace(base.elasticsearch, url=None, username=None, password=None, api_key=None)
    return dataclasses.replace(base, home=home, engine=engine, elasticsearch=es)


@pytest.fixture(scope="module")
def fleet(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("two-hosts")
    disks = own_disks(root, HOSTS)
    cleanups: list[Any] = []
    with worker_hosts(HOSTS, disks) as net:
        gateway = net.gateway
        try:
            postgres = Postgres([gateway], str(net.subnet)).start(["airflow", "chancery"])
            cleanups.append(postgres.stop)
            redis = BridgedRedis(root / "redis", gateway).start()
            cleanups.append(redis.stop)
            s3 = S3Service(gateway, log_path=root / "s3.log").start()
            cleanups.append(s3.stop)
            s3.bucket("chancery-captures")
            cluster = _cluster_settings(base_settings, root / "engine-home" / "home", gateway)
            cleanups.append(lambda: (local.stop(cluster), shutil.rmtree(local.fallback_dir(cluster),
                                                                        ignore_errors=True)))
            engine = local.start(cluster)
            password = local.connection(cluster)[2]
            newsroom = open_scale_newsroom(gateway, spread_articles(ARTICLES, FIRST_DAY, DAYS), CRAWL_DELAY)
            cleanups.append(newsroom.stop)

            prefix = f"scale{uuid.uuid4().hex[:6]}-articles"
            control_home = root / "control"
            control_home.mkdir()
            sources = write_sources_file(newsroom.base_url, control_home / "sources.yaml")
            settings = dataclasses.replace(
                base_settings, home=control_home, sources=sources,
                state_url=postgres.url("chancery"), captures_url="s3://chancery-captures/captures",
                elasticsearch=dataclasses.replace(
                    base_settings.elasticsearch, url=f"http://{gateway}:{engine.nodes[0].port}", username="elastic",
                    password=password, index_prefix=prefix, runs_index=f"{prefix}-runs"),
                fetch=dataclasses.replace(base_settings.fetch, allow_networks=(str(net.subnet),), per_host_delay=0.0,
                                          per_host_concurrency=HOST_CONCURRENCY),
                airflow=dataclasses.replace(
                    base_settings.airflow, api_port=free_port_on(gateway), parallelism=8, redis_url=redis.url,
                    fetch_queue="fetch", process_queue="process", fetch_pool_slots=2, index_pool_slots=2,
                    claim_lease_seconds=CLAIM_LEASE_S, process_fallback_cron="* * * * *"),
            )
            chancery = {
                "CHANCERY_STATE_URL": str(settings.state_url),
                "CHANCERY_CAPTURES_URL": str(settings.captures_url),
                "CHANCERY_FETCH_PER_HOST_CONCURRENCY": str(HOST_CONCURRENCY),
                "CHANCERY_AIRFLOW_FETCH_QUEUE": "fetch",
                "CHANCERY_AIRFLOW_PROCESS_QUEUE": "process",
                "CHANCERY_AIRFLOW_CLAIM_LEASE_SECONDS": str(CLAIM_LEASE_S),
                "CHANCERY_PROCESS_WORKERS": "1",  # one extract/enrich process per drain: two hosts share 2 cores
                **s3.environment(),
            }
            heartbeat = {"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
                         "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(QUEUED_TIMEOUT_S)}
            env = celery_environment(settings, gateway, postgres.url("airflow", "postgresql+psycopg"),
                                     redis.db_url(1), {**chancery, **heartbeat})
            airflow = ControlPlane(settings, env, gateway)
            cleanups.append(airflow.stop)
            airflow.start()
            workers: dict[str, list[Worker]] = {}
            for name in HOSTS:
                host = net.host(name)
                assert host.disk is not None
                shutil.copy(sources, host.disk / "sources.yaml")  # each host reads its own copy
                host_env = worker_env(env, host, net, {"CHANCERY_SOURCES": str(net.disk / "sources.yaml")})
                for kind, queues, pool, concurrency in WORKERS:
                    worker = Worker(host, kind, host_env, queues, pool, concurrency, root / f"{name}-{kind}.log")
                    cleanups.append(worker.stop)
                    workers.setdefault(name, []).append(worker.start())
            wait_for("the DAGs parsed", lambda: len(airflow.api("GET", "/dags")["dags"]) >= 4, 300, every=3)
            yield Fleet(net, settings, env, airflow, workers, newsroom, cluster)
        finally:
            for cleanup in reversed(cleanups):
                try:
                    cleanup()
                except Exception as exc:  # one failed teardown must not keep the others (and the namespaces) up
                    print(f"teardown: {cleanup}: {type(exc).__name__}: {exc}", file=sys.stderr)


@dataclasses.dataclass
class Story:
    """What the backfill met on its way, for the tests to check."""

    runs: list[dict[str, Any]]
    indexed_when_node_stopped: int
    node_stopped_while_running: bool
    killed_host: str
    held_when_killed: list[str]  # the captures the killed host's drain held
    killed_pids: list[int]
    seconds: float


def _indexed_count(fleet: Fleet) -> int:
    try:
        return len(indexed_urls(fleet.settings))
    except Exception:  # a node stopping: the count is read again a moment later
        return -1


def _held_by_a_host(fleet: Fleet) -> tuple[str, list[str]] | None:
    """A host whose drain holds a capture of articles now (the news sitemap's: the feed lists none of
    2015), and the captures it holds."""
    claimed = open_state(fleet.settings).ledger().list(status=CaptureStatus.CLAIMED)
    for name in HOSTS:
        held = [c.path for c in claimed if c.claimed_host == name and c.claimed_by
                and c.claimed_by.startswith("process_captures:") and SITEMAP in c.sources]
        if held:
            return name, held
    return None


@pytest.fixture(scope="module")
def story(fleet: Fleet) -> Story:
    started = time.monotonic()
    airflow_cli(fleet.env, "backfill", "create", "--dag-id", "nightly_ingest", "--from-date", FIRST_DAY.isoformat(),
                "--to-date", (FIRST_DAY + timedelta(days=DAYS)).isoformat())

    # 1. An Elasticsearch node goes away while articles are being indexed.
    wait_for("the first articles indexed", lambda: _indexed_count(fleet) >= ARTICLES // 8, WAIT_S, every=1)
    indexed_then = _indexed_count(fleet)
    assert local.stop(fleet.cluster, node_number=STOP_NODE) is True
    still_running = [r for r in fleet.airflow.dag_runs("nightly_ingest") if r["state"] in ("queued", "running")]

    # 2. A worker host dies (kill -9 of its workers and everything under them) while its drain holds a capture.
    victim, held = wait_for("a drain holding a capture", lambda: _held_by_a_host(fleet), WAIT_S, every=0.2)
    pids = [pid for worker in fleet.workers[victim] for pid in worker.kill()]  # the host is gone, both its workers

    # 3. The backfill completes on the surviving host, and the ledger drains.
    def finished() -> list[dict[str, Any]] | None:
        runs = [r for r in fleet.airflow.dag_runs("nightly_ingest") if r["run_type"] == "backfill"]
        return runs if len(runs) == DAYS and all(r["state"] in ("success", "failed") for r in runs) else None

    runs = wait_for(f"{DAYS} backfill runs finished", finished, WAIT_S, every=5)
    wait_for("every capture done", lambda: (c := fleet.ledger_counts()) and set(c) == {"done"}, WAIT_S, every=5)
    expected = fleet.expected()
    wait_for("every article indexed", lambda: indexed_urls(fleet.settings) == expected, WAIT_S, every=5)
    return Story(runs, indexed_then, bool(still_running), victim, held, pids, time.monotonic() - started)


def test_every_article_is_indexed_exactly_once(fleet: Fleet, story: Story) -> None:
    assert all(r["state"] == "success" for r in story.runs), [(r["dag_run_id"], r["state"]) for r in story.runs]
    urls = indexed_urls(fleet.settings)  # with repeats: a URL indexed twice would show twice
    assert len(urls) == ARTICLES and len(set(urls)) == ARTICLES
    assert urls == fleet.expected()
    from pipeline.index.client import connect

    es = connect(fleet.settings)
    try:
        alias = fleet.settings.elasticsearch.index_prefix
        assert es.count(index=alias)["count"] == ARTICLES
        repeated = es.search(index=alias, size=0, aggs={"urls": {"terms": {"field": "url", "min_doc_count": 2}}})
        assert repeated["aggregations"]["urls"]["buckets"] == []
    finally:
        es.close()
    ledger = open_state(fleet.settings).ledger()
    assert ledger.counts() == {"done": len(ledger.list())}
    print(f"backfill of {DAYS} days, {ARTICLES} articles over two hosts: {story.seconds:.0f}s")


def _returns(fleet: Fleet, dag_id: str, task_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(hostname, return value) of every successful task instance of ``task_id`` over the DAG's runs."""
    found = []
    for run in fleet.airflow.dag_runs(dag_id):
        for ti in fleet.airflow.task_instances(dag_id, run["dag_run_id"]):
            if ti["task_id"] != task_id or ti["state"] != "success":
                continue
            value = fleet.airflow.api(
                "GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/{task_id}/xcomEntries/return_value",
                params={"map_index": ti["map_index"]})["value"]
            found.append((ti["hostname"], value))
    return found


def test_captures_fetched_on_one_host_were_processed_on_the_other(fleet: Fleet, story: Story) -> None:
    fetched_on = {warc: host for host, value in _returns(fleet, "nightly_ingest", "fetch") for warc in value["warcs"]}
    processed_on = {path: host for host, value in _returns(fleet, "process_captures", "drain")
                    for path in value["captures"]}
    assert set(fetched_on.values()) == set(HOSTS)  # both hosts fetched,
    assert set(processed_on.values()) <= set(HOSTS) and processed_on  # and drained
    assert all(uri.startswith("s3://chancery-captures/") for uri in fetched_on)
    crossed = {uri: (fetched_on[uri], processed_on[uri]) for uri in fetched_on
               if uri in processed_on and fetched_on[uri] != processed_on[uri]}
    assert crossed, f"fetched on: {fetched_on}\nprocessed on: {processed_on}"
    print(f"{len(crossed)} of {len(fetched_on)} captures were processed on the host that did not fetch them")


def test_the_newsroom_saw_no_more_than_its_politeness_allows(fleet: Fleet, story: Story) -> None:
    observed = fleet.newsroom.observed
    served = observed.served()
    assert {s.client for s in served} == {fleet.net.host(h).address for h in HOSTS}  # both hosts fetched from it
    gaps = observed.gaps()
    assert observed.peak <= HOST_CONCURRENCY, f"{observed.peak} requests at once"
    close = [f"{a.path} from {a.client}, then {b.path} from {b.client} {b.started - a.started:.3f}s later"
             for a, b in zip(served, served[1:], strict=False) if b.started - a.started < CRAWL_DELAY - GAP_SLACK_S]
    assert not close, f"{len(close)} of {len(gaps)} starts closer than the Crawl-delay:\n" + "\n".join(close[:30])
    print(f"newsroom: {len(served)} requests, at most {observed.peak} at once, starts at least "
          f"{min(gaps):.3f}s apart (Crawl-delay {CRAWL_DELAY}s)")


def test_stopping_an_elasticsearch_node_mid_ingest_lost_nothing(fleet: Fleet, story: Story) -> None:
    assert 0 < story.indexed_when_node_stopped < ARTICLES and story.node_stopped_while_running
    status = local.status(fleet.cluster)
    assert [n.running for n in status.nodes] == [n != STOP_NODE for n in (1, 2, 3)]
    # Everything the backfill indexed after the node went is there: test_every_article_… counts all 200.
    assert len(indexed_urls(fleet.settings)) == ARTICLES
    back = local.start(fleet.cluster, node_number=STOP_NODE)
    assert all(n.running for n in back.nodes)


def test_a_worker_killed_mid_drain_lost_nothing(fleet: Fleet, story: Story) -> None:
    assert story.killed_pids and not any(_alive(p) for p in story.killed_pids)
    ledger = open_state(fleet.settings).ledger()
    held = ledger.get_many(story.held_when_killed)
    assert [c.status for c in held] == [CaptureStatus.DONE] * len(story.held_when_killed)
    assert all(c.counts.get("indexed", 0) > 0 for c in held), [c.counts for c in held]
    survivor = next(h for h in HOSTS if h != story.killed_host)
    finishers = {host for host, value in _returns(fleet, "process_captures", "drain")
                 for path in value["captures"] if path in story.held_when_killed}
    assert finishers == {survivor}


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

