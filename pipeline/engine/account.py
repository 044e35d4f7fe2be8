"""Who the node runs as, and whether that user can reach a path.

Elasticsearch refuses to run as root. Run as root (CI, these machines), the node runs
as an unprivileged system user created once; privileges are dropped for the node's
processes only. Run as a normal user, the node simply runs as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline.engine.prereqs import PrerequisiteMissing
from pipeline.logs import get_logger, log_event
from pipeline.statefiles import make_dirs

log = get_logger("engine.account")


@dataclass(frozen=True)
class NodeUser:
    name: str
    uid: int
    gid: int
    is_self: bool  # True: no privilege drop, the command's own user runs the node

    def command_prefix(self) -> list[str]:
        """What runs a command as this user: nothing, or setpriv with the root's groups cleared."""
        if self.is_self:
            return []
        setpriv = shutil.which("setpriv")
        if setpriv:
            return [setpriv, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--"]
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", self.name, "--"]
        raise PrerequisiteMissing("neither setpriv nor runuser found: install util-linux to run the node as root")


def running_as_root() -> bool:
    return os.geteuid() == 0


def node_user(run_as: str, create: bool) -> NodeUser:
    """The user the node runs as; as root, the configured system user (created when ``create``)."""
    if not running_as_root():
        me = pwd.getpwuid(os.geteuid())
        return NodeUser(name=me.pw_name, uid=me.pw_uid, gid=me.pw_gid, is_self=True)
    try:
        entry = pwd.getpwnam(run_as)
    except KeyError:
        if not create:
            raise
        _create_system_user(run_as)
        entry = pwd.getpwnam(run_as)
    return NodeUser(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid, is_self=False)


def _create_system_user(name: str) -> None:
    useradd = shutil.which("useradd")
    if useradd is None:
        raise PrerequisiteMissing(f"user {name!r} is missing and useradd was not found: install passwd")
    # No home and no login shell: the account exists only to own and run the node.
    command = [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in (0, 9):  # 9: created meanwhile by a parallel start
        raise RuntimeError(f"useradd {name} failed: {done.stderr.strip()}")
    log_event(log, "user_created", user=name)


def can_traverse(path: Path, user: NodeUser) -> bool:
    """Whether ``user`` may enter ``path``, judged by its owner/group/other bits like the kernel does."""
    if user.is_self and user.uid == 0:
        return True
    info = path.stat()
    if info.st_uid == user.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == user.gid:  # the node runs with its groups cleared: primary group only
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def reachable(path: Path, user: NodeUser) -> bool:
    """Every existing folder on the way to ``path`` lets ``user`` through.

    Folders that do not exist yet are created by ``make_reachable_dirs`` with mode 0755,
    so only the existing part of the path can block (e.g. a checkout under /root, mode 700).
    """
    if user.is_self:
        return True
    current = Path(path.anchor)
    for part in path.parts[1:]:
        current = current / part
        if not current.exists():
            return True
        if not current.is_dir() or not can_traverse(current, user):
            return False
    return True


def make_reachable_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents as 0755, whatever the umask says."""
    make_dirs(path, 0o755)


def give_to(path: Path, user: NodeUser) -> None:
    """Hand ``path`` and everything under it to the node's user (a no-op when that is us)."""
    if user.is_self:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, user.uid, user.gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.uid, user.gid, follow_symlinks=False)
