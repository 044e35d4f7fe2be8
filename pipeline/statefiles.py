"""State files are private to their owner: files 0600, the folders Chancery creates for them 0700.

What lives under CHANCERY_HOME says what was fetched from where and holds credentials
(the engine's and Airflow's passwords); run reports and dead letters name URLs and
errors. Other local users have no business reading any of it, whatever the umask.
Every place that writes state goes through this module:

- ``private_dir(path)``: create ``path`` and its missing parents 0700;
- ``open_private(path, "w" | "a")``: a text file opened for writing, created 0600;
- ``open_private_binary(path)``: the same for bytes (a new file that will replace an old one);
- ``write_private(path, text)``: the whole file at once;
- ``private_database(path)``: a SQLite file made 0600 before ``sqlite3.connect``
  (SQLite gives its -wal, -shm and -journal files the database's own mode).

A file is created with its final mode (``os.open`` with 0600), so it is never readable by
others even for an instant; one that exists with looser bits is tightened when it is
ours. Folders that already exist keep their mode: the operator chose it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Literal, TextIO

FILE_MODE = 0o600
DIR_MODE = 0o700

_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """``path`` as a folder; the ones created here (and missing parents) are 0700."""
    return make_dirs(path, DIR_MODE)


def make_dirs(path: Path, mode: int) -> Path:
    """Create ``path`` and its missing parents with exactly ``mode``, whatever the umask says.

    Folders that already exist keep theirs: only what is created here is set.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:  # a parallel task made it first: theirs, with the same mode
            continue
        folder.chmod(mode)  # mkdir's mode passes through the umask; an odd umask could leave less
    return path


def open_private(path: Path, mode: Literal["w", "a"] = "w", encoding: str = "utf-8") -> TextIO:
    """Open a state file for writing: "w" truncates, "a" appends; created 0600."""
    return os.fdopen(_open_for_writing(path, append=mode == "a"), mode, encoding=encoding)


def open_private_binary(path: Path) -> BinaryIO:
    """Open a state file for writing bytes from scratch; created 0600."""
    return os.fdopen(_open_for_writing(path, append=False), "wb")


def _open_for_writing(path: Path, append: bool) -> int:
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    descriptor = os.open(path, flags, FILE_MODE)
    try:
        _tighten(descriptor)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def write_private(path: Path, text: str) -> None:
    with open_private(path, "w") as handle:
        handle.write(text)


def private_database(path: Path) -> Path:
    """``path`` exists as a 0600 file, and so do its SQLite companions that exist; ready to connect."""
    private_dir(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)  # no O_TRUNC: an existing database stays
    try:
        _tighten(descriptor)
    finally:
        os.close(descriptor)
    for suffix in _SQLITE_COMPANIONS:  # left by a version that made them 0644; SQLite reuses them as they are
        try:
            descriptor = os.open(path.with_name(path.name + suffix), os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            _tighten(descriptor)
        finally:
            os.close(descriptor)
    return path


def _tighten(descriptor: int) -> None:
    """0600 when it is ours and looser; another user's file is left to its owner (chmod would be refused)."""
    info = os.fstat(descriptor)
    if stat.S_IMODE(info.st_mode) != FILE_MODE and info.st_uid == os.geteuid():
        os.fchmod(descriptor, FILE_MODE)
