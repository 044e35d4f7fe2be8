"""pipeline.statefiles: state files are 0600 and the folders made for them 0700, whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.statefiles import open_private, private_database, private_dir, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022, under which plain open() makes 0644 files and mkdir() 0755 folders."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_new_files_are_0600_in_new_folders_0700(tmp_path: Path) -> None:
    report = tmp_path / "state" / "runs" / "report.json"
    write_private(report, "{}")
    assert mode(report) == 0o600
    assert mode(tmp_path / "state") == 0o700 and mode(tmp_path / "state" / "runs") == 0o700
    with open_private(tmp_path / "state" / "letters.jsonl", "a") as out:
        out.write("one\n")
    with open_private(tmp_path / "state" / "letters.jsonl", "a") as out:
        out.write("two\n")
    assert (tmp_path / "state" / "letters.jsonl").read_text() == "one\ntwo\n"
    assert mode(tmp_path / "state" / "letters.jsonl") == 0o600


def test_existing_folders_keep_their_mode_and_loose_files_are_tightened(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    loose = shared / "old-report.json"
    loose.write_text("old")
    assert mode(loose) == 0o644
    write_private(loose, "new")
    assert mode(loose) == 0o600 and loose.read_text() == "new"
    private_dir(shared)
    assert mode(shared) == 0o755


def test_a_sqlite_database_and_its_wal_files_are_0600(tmp_path: Path) -> None:
    path = tmp_path / "home" / "seen.sqlite3"
    db = sqlite3.connect(private_database(path))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    companions = [p for p in path.parent.iterdir() if p.name != path.name]
    assert {p.name for p in companions} >= {"seen.sqlite3-wal", "seen.sqlite3-shm"}  # WAL is open
    assert all(mode(p) == 0o600 for p in [path, *companions])
    db.close()
    assert mode(path.parent) == 0o700


def test_a_database_left_0644_by_an_older_version_is_tightened_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "captures.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (42)")
    db.close()
    assert mode(path) == 0o644
    with sqlite3.connect(private_database(path)) as db:
        assert db.execute("SELECT x FROM t").fetchall() == [(42,)]
    db.close()
    assert mode(path) == 0o600
