"""A real node from a temporary home: one node however often it is started, security on, clean stop.

The home is under pytest's tmp_path (/tmp/pytest-of-root, mode 700 when run as root), which the
node's unprivileged user cannot reach: exactly the case where the node's files go to the fallback.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from pipeline.config import Settings
from pipeline.engine import local, node

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def node_settings(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("engine") / "home"
    settings = dataclasses.replace(base_settings, home=home)
    yield settings
    local.stop(settings)
    # The fallback folder is keyed by this temporary home, so nothing else can be using it.
    shutil.rmtree(local.fallback_dir(settings), ignore_errors=True)


@pytest.fixture(scope="module")
def started(node_settings: Settings) -> local.EngineStatus:
    return local.start(node_settings)


def test_start_gives_a_healthy_node_with_url_version_and_pid(started: local.EngineStatus) -> None:
    assert started.running
    assert started.health in ("green", "yellow")
    assert started.url == f"http://127.0.0.1:{started.port}"
    assert started.version
    assert started.pid is not None and psutil.pid_exists(started.pid)


def test_start_twice_gives_one_node(node_settings: Settings, started: local.EngineStatus) -> None:
    again = local.start(node_settings)
    assert again.pid == started.pid
    assert again.port == started.port


def test_security_is_on(node_settings: Settings, started: local.EngineStatus) -> None:
    url, username, password = local.connection(node_settings)
    assert url == started.url and username == "elastic"
    assert requests.get(f"{url}/_cluster/health", timeout=10).status_code == 401
    assert requests.get(f"{url}/_cluster/health", auth=(username, "wrong"), timeout=10).status_code == 401
    assert requests.get(f"{url}/_cluster/health", auth=(username, password), timeout=10).status_code == 200


def test_the_stored_password_is_private(node_settings: Settings, started: local.EngineStatus) -> None:
    assert started.node_dir is not None
    assert (started.node_dir / "elastic-password").stat().st_mode & 0o777 == 0o600


def test_node_files_live_where_the_node_user_can_reach_them(
    node_settings: Settings, started: local.EngineStatus
) -> None:
    assert started.node_dir is not None
    if started.run_as != psutil.Process().username():  # run as root: privileges were dropped
        assert started.fallback  # pytest's tmp_path is mode 700
        assert started.node_dir == local.fallback_dir(node_settings)
        assert psutil.Process(started.pid).username() == started.run_as
    assert local.status(node_settings).node_dir == started.node_dir


def test_hunspell_dictionary_is_usable(node_settings: Settings, started: local.EngineStatus) -> None:
    if not Path(node_settings.engine.hunspell_dir, "en_US.dic").is_file():
        pytest.skip("Debian's hunspell-en-us is not installed")
    url, username, password = local.connection(node_settings)
    answer = requests.post(
        f"{url}/_analyze",
        json={
            "tokenizer": "standard",
            "filter": [{"type": "hunspell", "locale": "en_US"}],
            "text": "treaties",
        },
        auth=(username, password),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert "treaty" in [t["token"] for t in answer.json()["tokens"]]


def test_stop_ends_exactly_that_process(node_settings: Settings, started: local.EngineStatus) -> None:
    assert local.stop(node_settings) is True
    assert started.pid is not None and not psutil.pid_exists(started.pid)
    after = local.status(node_settings)
    assert not after.running and after.pid is None and after.detail == "stopped"
    assert local.stop(node_settings) is False


@pytest.mark.slow
def test_concurrent_starts_after_a_stop_give_one_node_with_the_same_password(
    node_settings: Settings, started: local.EngineStatus
) -> None:
    _, _, password_before = local.connection(node_settings)
    results: list[local.EngineStatus] = []
    workers = [threading.Thread(target=lambda: results.append(local.start(node_settings))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:  # the second waits on the first's lock, up to twice the startup deadline
        worker.join(timeout=node_settings.engine.startup_timeout * 2 + 60)
    assert len(results) == 2 and results[0].pid == results[1].pid and results[0].running
    url, username, password = local.connection(node_settings)
    assert password == password_before
    assert requests.get(f"{url}/_cluster/health", auth=(username, password), timeout=10).status_code == 200


def test_a_missed_deadline_shows_the_log_tail_and_leaves_no_process(base_settings: Settings, tmp_path: Path) -> None:
    engine = dataclasses.replace(base_settings.engine, startup_timeout=3.0)
    hurried = dataclasses.replace(base_settings, home=tmp_path / "home", engine=engine)
    try:
        with pytest.raises(local.EngineStartFailed, match="node log tail") as raised:
            local.start(hurried)
        assert "launcher.log" in raised.value.log_tail
        layout = local.locate(hurried, None)
        assert node.node_pids(layout) == []
        assert not local.status(hurried).running
    finally:
        shutil.rmtree(local.fallback_dir(hurried), ignore_errors=True)
