"""Who runs the node, and whether that user can reach a path (judged like the kernel does)."""

from __future__ import annotations

import os
import pwd
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.engine import account, local, node

NODE_USER = "chancery"


def _system_user_exists() -> bool:
    try:
        pwd.getpwnam(NODE_USER)
    except KeyError:
        return False
    return True


needs_root_and_user = pytest.mark.skipif(
    os.geteuid() != 0 or not _system_user_exists(), reason="privilege drop only happens as root"
)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user can enter (mkdtemp makes 0700; /tmp itself is 1777)."""
    with tempfile.TemporaryDirectory(prefix="chancery-reach-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


@needs_root_and_user
def test_a_private_parent_makes_a_path_unreachable(open_dir: Path) -> None:
    user = account.node_user(NODE_USER, create=False)
    private = open_dir / "private"
    private.mkdir(mode=0o700)
    assert not account.reachable(private / "home" / "engine", user)


@needs_root_and_user
def test_open_parents_and_missing_folders_are_reachable(open_dir: Path) -> None:
    user = account.node_user(NODE_USER, create=False)
    assert account.reachable(open_dir / "not" / "made" / "yet", user)


@needs_root_and_user
def test_made_folders_are_0755_whatever_the_umask(open_dir: Path) -> None:
    user = account.node_user(NODE_USER, create=False)
    old = os.umask(0o077)
    try:
        account.make_reachable_dirs(open_dir / "a" / "b")
    finally:
        os.umask(old)
    assert (open_dir / "a" / "b").stat().st_mode & 0o777 == 0o755
    assert account.reachable(open_dir / "a" / "b", user)


@needs_root_and_user
def test_pytest_tmp_path_home_uses_the_fallback_folder_keyed_by_home(settings: Settings) -> None:
    user = account.node_user(NODE_USER, create=False)
    layout = local.locate(settings, user)
    assert layout.fallback
    assert layout.node_dir.parent == Path(settings.engine.fallback_home)
    other = local.fallback_dir(settings.__class__(home=settings.home.parent / "other"))
    assert other != layout.node_dir  # two homes never share a node


def test_the_node_never_runs_as_root() -> None:
    if os.geteuid() == 0 and not _system_user_exists():
        pytest.skip("the system user is created by the first `engine start`")
    user = account.node_user(NODE_USER, create=False)
    assert user.uid != 0
    assert user.is_self == (os.geteuid() != 0)  # as a normal user, the node runs as that user


def test_a_listening_port_is_not_free() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not node.port_is_free(listener.getsockname()[1])


def test_status_of_a_home_that_never_started_a_node(settings: Settings) -> None:
    state = local.status(settings)
    assert not state.running
    assert state.pid is None
    assert "chancery engine start" in state.detail
    with pytest.raises(local.EngineNotStarted, match="chancery engine start"):
        local.connection(settings)
    assert local.stop(settings) is False


def test_a_configured_port_in_use_is_named_before_anything_starts(settings: Settings) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        with pytest.raises(local.EngineStartFailed, match=f"engine.port {taken}"):
            node.choose_ports(taken, 0, None, set())
