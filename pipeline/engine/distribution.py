"""The Elasticsearch distribution: downloaded once into Maven's local repository, unpacked per node.

Maven's repository (``~/.m2/repository``) is the shared cache, so every home on the
machine reuses one download; each node gets its own unpacked copy because the node
writes into it (keystore, hunspell dictionaries) and is owned by the node's user.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import EngineSettings
from pipeline.engine.prereqs import require_maven
from pipeline.logs import get_logger, log_event

log = get_logger("engine.distribution")

Progress = Callable[[str], None]

# The plugin version the recipe was tried with; pinned so a run never resolves a newer one.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
DOWNLOAD_TIMEOUT_S = 1800.0


class DistributionUnavailable(RuntimeError):
    """Maven could not fetch the configured distribution (unknown version, no network)."""


@dataclass(frozen=True)
class Artifact:
    group: str
    name: str
    version: str
    packaging: str

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.name}:{self.version}:{self.packaging}"

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.version}.{self.packaging}"

    def path_in(self, repo: Path) -> Path:
        return repo.joinpath(*self.group.split("."), self.name, self.version, self.file_name)


def artifact(engine: EngineSettings) -> Artifact:
    group, name, version, packaging = engine.artifact.format(version=engine.version).split(":")
    return Artifact(group=group, name=name, version=version, packaging=packaging)


def maven_repo(engine: EngineSettings) -> Path:
    return Path(engine.maven_repo).expanduser()


def cached_zip(engine: EngineSettings) -> Path | None:
    path = artifact(engine).path_in(maven_repo(engine))
    return path if path.is_file() else None


def ensure_downloaded(engine: EngineSettings, progress: Progress) -> Path:
    """The distribution zip from Maven's cache, downloading it with Maven only when missing."""
    cached = cached_zip(engine)
    if cached is not None:
        return cached
    wanted = artifact(engine)
    maven = require_maven()
    progress(f"downloading {wanted.coordinate} with Maven (about 100 MB)")
    repo = maven_repo(engine)
    with tempfile.TemporaryDirectory(prefix="chancery-mvn-") as out:
        command = [
            str(maven), "-q", "-B",
            f"{DEPENDENCY_PLUGIN}:copy",
            f"-Dartifact={wanted.coordinate}",
            f"-DoutputDirectory={out}",
            f"-Dmaven.repo.local={repo}",
            "-Dstyle.color=never",
        ]  # fmt: skip
        log_event(log, "download", artifact=wanted.coordinate, repo=str(repo))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise DistributionUnavailable(f"Maven did not finish downloading {wanted.coordinate}") from exc
        if done.returncode != 0:
            raise DistributionUnavailable(
                f"Maven could not download {wanted.coordinate} (is that version on Maven Central? "
                f"9.2.8, 9.2.4, 9.1.10 and 8.19.9 are): {_first_error(done.stdout + done.stderr)}"
            )
        in_repo = wanted.path_in(repo)
        if in_repo.is_file():
            return in_repo
        # A settings.xml may point Maven at another local repository: keep the copy next to ours.
        copied = Path(out) / wanted.file_name
        in_repo.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(copied), in_repo)
        return in_repo


def _first_error(output: str) -> str:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    errors = [line.removeprefix("[ERROR]").strip() for line in plain.splitlines() if line.startswith("[ERROR]")]
    meaningful = [line for line in errors if line]
    return meaningful[0] if meaningful else plain.strip()[-500:]


def unpack(zip_path: Path, dest: Path, progress: Progress) -> Path:
    """Unpack the zip's single top folder to ``dest``, atomically: a half-unpacked node never exists."""
    if (dest / "bin" / "elasticsearch").is_file():
        return dest
    progress(f"unpacking {zip_path.name}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=dest.parent) as scratch:
        with zipfile.ZipFile(zip_path) as archive:
            tops = {name.split("/", 1)[0] for name in archive.namelist()}
            if len(tops) != 1:
                raise ValueError(f"{zip_path}: expected one top folder, found {sorted(tops)}")
            for member in archive.infolist():
                _extract_with_mode(archive, member, Path(scratch))
        if dest.exists():  # a previous interrupted attempt
            shutil.rmtree(dest)
        os.replace(Path(scratch) / tops.pop(), dest)
    log_event(log, "unpacked", zip=str(zip_path), dest=str(dest))
    return dest


def _extract_with_mode(archive: zipfile.ZipFile, member: zipfile.ZipInfo, root: Path) -> None:
    # zipfile drops Unix modes; the launch scripts and the bundled tools need their execute bits.
    target = Path(archive.extract(member, root))
    mode = (member.external_attr >> 16) & 0o777
    if mode and not stat.S_ISLNK(member.external_attr >> 16):
        target.chmod(mode | (0o700 if member.is_dir() else 0))


def install_hunspell(engine: EngineSettings, dist: Path) -> bool:
    """Copy Debian's en_US dictionary into the node, where the `hunspell` token filter looks for it."""
    source = Path(engine.hunspell_dir)
    files = [source / "en_US.aff", source / "en_US.dic"]
    if not all(f.is_file() for f in files):
        return False
    target = dist / "config" / "hunspell" / "en_US"
    target.mkdir(parents=True, exist_ok=True)
    for f in files:
        if not (target / f.name).is_file():
            shutil.copyfile(f, target / f.name)
    return True
