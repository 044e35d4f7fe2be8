"""A real three-node cluster from a temporary home: one cluster, TLS between nodes, replicas, a node lost.

The home is under pytest's tmp_path, so (run as root) the cluster's files go to the fallback folder,
as the single node's do. The cluster gets its own ports (the first free ones from 9200/9300, never
the shared engine's) and is stopped at the end of the module. Each test reads the cluster as the one
before left it; they run in file order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import socket
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
import requests

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.engine import certs, local
from pipeline.index.bulk import index_articles
from pipeline.index.client import connect
from pipeline.index.mapping import IndexNames
from pipeline.index.runs import store_run_report
from pipeline.index.setup import make_searchable, setup_index
from pipeline.models import Article, Provenance, SourceRef
from pipeline.outcomes import Tally

pytestmark = [pytest.mark.engine, pytest.mark.slow]

NODES = 3


def _articles(start: int, count: int) -> list[Article]:
    """Short wire items written for this test: one per number, distinct URLs."""
    return [
        Article.new(
            f"https://wire.example/cluster/{n}",
            source=SourceRef(domain="wire.example", id="wire"),
            title=f"Envoys meet for round {n} of border talks",
            published_at=datetime(2024, 5, 1 + n % 28, 9, tzinfo=UTC),
            fetched_at=datetime(2024, 6, 1, tzinfo=UTC),
            language="en",
            provenance=Provenance(fetch_url=f"https://wire.example/cluster/{n}", run_id="cluster-test"),
        ).with_text(f"Envoys of both governments met for round {n} of talks on the disputed border.")
        for n in range(start, start + count)
    ]


@pytest.fixture(scope="module")
def cluster_settings(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("cluster") / "home"
    engine = dataclasses.replace(base_settings.engine, nodes=NODES, port=0, transport_port=0)
    es = dataclasses.replace(base_settings.elasticsearch, url=None, username=None, password=None, api_key=None)
    settings = dataclasses.replace(base_settings, home=home, engine=engine, elasticsearch=es)
    yield settings
    local.stop(settings)
    # The fallback folder is keyed by this temporary home, so nothing else can be using it.
    shutil.rmtree(local.fallback_dir(settings), ignore_errors=True)


@pytest.fixture(scope="module")
def started(cluster_settings: Settings) -> local.EngineStatus:
    return local.start(cluster_settings)


def _password(settings: Settings) -> str:
    return local.connection(settings)[2]


def _health(url: str, password: str, **params: str) -> dict[str, object]:
    answer = requests.get(f"{url}/_cluster/health", params=params, auth=("elastic", password), timeout=90)
    answer.raise_for_status()
    return dict(answer.json())


def test_three_nodes_form_one_healthy_cluster(cluster_settings: Settings, started: local.EngineStatus) -> None:
    assert started.running and started.health in ("green", "yellow")
    assert [n.name for n in started.nodes] == ["node-1", "node-2", "node-3"]
    assert all(n.running and n.cluster_nodes == NODES for n in started.nodes)
    ports = [p for n in started.nodes for p in (n.port, n.transport_port)]
    assert len(set(ports)) == 2 * NODES  # every node its own HTTP and transport port
    dirs = {n.node_dir for n in started.nodes}
    assert len(dirs) == NODES and all(d.parent == started.node_dir for d in dirs)
    answer = requests.get(f"{started.url}/_cat/nodes", params={"h": "name", "format": "json"},
                          auth=("elastic", _password(cluster_settings)), timeout=30)  # fmt: skip
    assert sorted(row["name"] for row in answer.json()) == ["node-1", "node-2", "node-3"]
    state = json.loads((started.node_dir / "cluster.json").read_text())
    assert state == {"size": NODES, "formed": True}  # from now on nodes restart without initial_master_nodes


def test_a_second_start_returns_the_running_cluster(cluster_settings: Settings, started: local.EngineStatus) -> None:
    again = local.start(cluster_settings)
    assert [n.pid for n in again.nodes] == [n.pid for n in started.nodes]


def test_every_node_asks_for_the_password_and_the_secrets_are_private(
    cluster_settings: Settings, started: local.EngineStatus
) -> None:
    password = _password(cluster_settings)
    for one in started.nodes:
        assert requests.get(f"{one.url}/_cluster/health", timeout=10).status_code == 401
        assert requests.get(f"{one.url}/_cluster/health", auth=("elastic", password), timeout=10).status_code == 200
        for name in ("node.key", "node.crt", "ca.crt"):
            assert (one.node_dir / "dist/elasticsearch-9.2.8/config/certs" / name).stat().st_mode & 0o777 == 0o600
    assert started.node_dir is not None
    for secret in ("elastic-password", "ca/ca.key"):
        assert (started.node_dir / secret).stat().st_mode & 0o777 == 0o600
    if started.run_as != psutil.Process().username():  # run as root: the nodes run unprivileged
        assert all(psutil.Process(n.pid).username() == started.run_as for n in started.nodes)


def _transport_handshake(port: int, ca_file: Path, client: tuple[Path, Path] | None) -> None:
    """A TLS connection to a transport port, which fails unless the node accepts who we are."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if client:
        context.load_cert_chain(str(client[0]), str(client[1]))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.settimeout(3)
        # TLS 1.3: a refused client certificate arrives as an alert after the handshake. An accepted
        # peer hears nothing until it speaks the transport protocol: the read times out.
        with contextlib.suppress(TimeoutError):
            tls.recv(1)


def test_the_transport_layer_admits_only_certificates_of_the_clusters_ca(
    cluster_settings: Settings, started: local.EngineStatus, tmp_path: Path
) -> None:
    assert started.node_dir is not None
    transport = started.nodes[0].transport_port
    assert transport is not None
    ca_file = started.node_dir / "ca" / "ca.crt"
    member = certs.ensure_authority(started.node_dir / "ca")  # the cluster's own CA: what a node holds
    certs.issue_node_certificate(member, "probe", tmp_path / "member")
    stranger = certs.ensure_authority(tmp_path / "other-ca")  # a CA that is not this cluster's
    certs.issue_node_certificate(stranger, "probe", tmp_path / "stranger")

    # The node speaks TLS, with a certificate for 127.0.0.1 from the cluster's CA ...
    _transport_handshake(transport, ca_file, (tmp_path / "member/node.crt", tmp_path / "member/node.key"))
    # ... and admits no peer without one from that CA.
    with pytest.raises(ssl.SSLError):
        _transport_handshake(transport, ca_file, None)
    with pytest.raises(ssl.SSLError):
        _transport_handshake(transport, ca_file, (tmp_path / "stranger/node.crt", tmp_path / "stranger/node.key"))


def test_the_article_run_and_dead_letter_indices_get_one_replica(
    cluster_settings: Settings, started: local.EngineStatus
) -> None:
    es = connect(cluster_settings)
    try:
        state = setup_index(es, cluster_settings)
        report = index_articles(es, _articles(0, 40), cluster_settings, Tally())
        assert report.indexed == 40 and report.failed == 0
        store_run_report(es, cluster_settings, {"run_id": "cluster-test", "kind": "test", "status": "ok"})
        names = IndexNames(cluster_settings.elasticsearch.index_prefix)
        indices = [state.current_index, names.deadletter, cluster_settings.elasticsearch.runs_index]
        settings = es.indices.get_settings(index=",".join(indices), name="index.number_of_replicas").body
        assert {i: settings[i]["settings"]["index"]["number_of_replicas"] for i in indices} == dict.fromkeys(
            indices, "1"
        )
        health = _health(started.url or "", _password(cluster_settings), wait_for_status="green", timeout="60s")
        assert health["status"] == "green" and health["unassigned_shards"] == 0
        make_searchable(es, cluster_settings)
        assert es.count(index=names.read_alias).body["count"] == 40
    finally:
        es.close()


def test_killing_one_node_loses_nothing_and_the_node_rejoins(
    cluster_settings: Settings, started: local.EngineStatus
) -> None:
    victim = started.nodes[1]
    assert victim.pid is not None
    process = psutil.Process(victim.pid)
    process.kill()  # SIGKILL: no goodbye to the cluster
    process.wait(timeout=30)
    after = local.status(cluster_settings)
    assert after.running and not after.nodes[1].running and after.nodes[1].detail == "stopped"
    password = _password(cluster_settings)
    url = local.connection(cluster_settings)[0]
    assert url != victim.url  # a client made now reaches a node that runs
    deadline = time.monotonic() + 90
    while _health(url, password)["number_of_nodes"] != NODES - 1 and time.monotonic() < deadline:
        time.sleep(1)  # the master notices the lost node
    assert _health(url, password)["status"] in ("yellow", "green")  # every primary still has a copy

    es = connect(cluster_settings)
    try:
        names = IndexNames(cluster_settings.elasticsearch.index_prefix)
        assert es.count(index=names.read_alias).body["count"] == 40
        report = index_articles(es, _articles(40, 10), cluster_settings, Tally())  # writes go on with a node down
        assert report.indexed == 10 and report.failed == 0 and report.pending == 0
    finally:
        es.close()

    back = local.start(cluster_settings, node_number=2)
    assert all(n.running for n in back.nodes) and back.nodes[1].pid != victim.pid
    assert back.nodes[1].port == victim.port  # its URL stays what it was
    health = _health(back.nodes[1].url or "", password, wait_for_status="green", timeout="90s")
    assert health["status"] == "green" and health["number_of_nodes"] == NODES
    es = connect(cluster_settings)
    try:
        make_searchable(es, cluster_settings)
        assert es.count(index=IndexNames(cluster_settings.elasticsearch.index_prefix).read_alias).body["count"] == 50
    finally:
        es.close()


def test_status_lists_every_node(cluster_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(cluster_settings.home), "engine", "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [n["name"] for n in shown["nodes"]] == ["node-1", "node-2", "node-3"]
    assert shown["detail"] == "3 of 3 nodes running" and shown["pid"] is None
    assert main(["--home", str(cluster_settings.home), "engine", "status"]) == 0
    text = capsys.readouterr().out
    assert "3 of 3 nodes running" in text and all(f"node-{k}  running" in text for k in (1, 2, 3))


def test_another_size_or_a_missing_node_is_refused_before_anything_starts(
    cluster_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    two = dataclasses.replace(cluster_settings, engine=dataclasses.replace(cluster_settings.engine, nodes=2))
    with pytest.raises(local.EngineLayoutConflict, match="3-node cluster"):
        local.start(two)
    with pytest.raises(local.EngineLayoutConflict, match="nodes 1 to 3, not 4"):
        local.stop(cluster_settings, node_number=4)
    assert main(["--home", str(cluster_settings.home), "engine", "start", "--nodes", "2"]) == 2
    assert "3-node cluster" in capsys.readouterr().err


def test_stop_one_node_then_all(cluster_settings: Settings) -> None:
    before = local.status(cluster_settings)
    assert local.stop(cluster_settings, node_number=3) is True
    after = local.status(cluster_settings)
    assert [n.running for n in after.nodes] == [True, True, False]
    assert before.nodes[2].pid is not None and not psutil.pid_exists(before.nodes[2].pid)
    assert local.stop(cluster_settings) is True
    stopped = local.status(cluster_settings)
    assert not stopped.running and stopped.detail == "stopped"
    assert all(n.pid is None for n in stopped.nodes)
    assert not any(psutil.pid_exists(n.pid) for n in after.nodes[:2] if n.pid)
    assert local.stop(cluster_settings) is False


def test_node_numbers_need_a_cluster_that_was_started(settings: Settings) -> None:
    with pytest.raises(local.EngineLayoutConflict, match="single node"):
        local.start(settings, node_number=2)
    with pytest.raises(local.EngineLayoutConflict, match="single node"):
        local.stop(settings, node_number=1)
    three = dataclasses.replace(settings, engine=dataclasses.replace(settings.engine, nodes=3))
    with pytest.raises(local.EngineLayoutConflict, match="never started"):  # one node alone elects no master
        local.start(three, node_number=2)
    assert not settings.engine_dir.exists() and not local.fallback_dir(settings).exists()  # nothing was made
