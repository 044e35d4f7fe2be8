"""What the engine needs from the machine: a JDK 21 or newer, and Maven to download the distribution.

Both are looked up from settings only (``config.py`` maps ``ES_JAVA_HOME`` and ``JAVA_HOME``
into ``settings.engine``), so a test can describe a machine without touching the environment.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import EngineSettings
from pipeline.logs import get_logger, log_event

log = get_logger("engine.prereqs")

# Elasticsearch 9.x refuses older runtimes; 8.x accepts 17 but 21 serves both.
MIN_JAVA_MAJOR = 21

JDK_INSTALL_HINT = (
    f"install a JDK {MIN_JAVA_MAJOR} or newer (e.g. `apt-get install openjdk-21-jdk-headless`, "
    "or Temurin 21/25 from adoptium.net) and point ES_JAVA_HOME at it"
)
MAVEN_INSTALL_HINT = "install Apache Maven (e.g. `apt-get install maven`) so the distribution can be downloaded"


class PrerequisiteMissing(Exception):
    """Something the engine needs is not installed; the message says what to install."""


@dataclass(frozen=True)
class JavaHome:
    path: Path
    major: int
    version: str


@dataclass(frozen=True)
class Prerequisites:
    java: JavaHome
    maven: Path | None  # None: not installed (fine while the distribution is already cached)


def java_candidates(engine: EngineSettings) -> list[Path]:
    """Configured homes first (ES_JAVA_HOME, then JAVA_HOME), then every JDK under the search dirs."""
    ordered: list[Path] = []
    for configured in (engine.java_home, engine.system_java_home):
        if configured:
            ordered.append(Path(configured))
    for folder in engine.java_search_dirs:
        base = Path(folder)
        if base.is_dir():
            # Newest first, so a machine with 21 and 25 runs on 25.
            found = [p for p in base.iterdir() if (p / "bin" / "java").is_file()]
            ordered.extend(sorted(found, key=lambda p: _java_major(p) or 0, reverse=True))
    unique: list[Path] = []
    seen: set[Path] = set()
    for path in ordered:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def find_java(engine: EngineSettings) -> JavaHome:
    """The first candidate JDK that is new enough, or PrerequisiteMissing naming what to install."""
    rejected: list[str] = []
    for path in java_candidates(engine):
        version = java_version(path)
        major = _major_of(version) if version else None
        if major is not None and major >= MIN_JAVA_MAJOR:
            return JavaHome(path=path, major=major, version=version or "")
        reason = f"{path} (Java {version})" if version else f"{path} (no usable bin/java)"
        rejected.append(reason)
        # Only an explicit ES_JAVA_HOME that is too old deserves a warning; JAVA_HOME on 17 is common.
        level = logging.WARNING if engine.java_home and path == Path(engine.java_home) else logging.DEBUG
        log_event(log, "java_rejected", level, path=str(path), version=version or "none", needs=MIN_JAVA_MAJOR)
    tried = "; tried " + ", ".join(rejected) if rejected else "; none found"
    raise PrerequisiteMissing(f"no JDK {MIN_JAVA_MAJOR}+ found{tried}. To fix: {JDK_INSTALL_HINT}")


def java_version(home: Path) -> str | None:
    """The JDK's version string, from its `release` file, else from `java -version`."""
    release = home / "release"
    if release.is_file():
        match = re.search(r'^JAVA_VERSION="([^"]+)"', release.read_text(errors="replace"), re.MULTILINE)
        if match:
            return match.group(1)
    java = home / "bin" / "java"
    if not java.is_file():
        return None
    try:
        done = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "([^"]+)"', done.stderr)
    return match.group(1) if match else None


def _java_major(home: Path) -> int | None:
    version = java_version(home)
    return _major_of(version) if version else None


def _major_of(version: str) -> int | None:
    # "1.8.0_392" is Java 8; "17.0.15", "21", "25.0.3" carry the major first.
    parts = version.split(".")
    try:
        return int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(re.sub(r"\D.*", "", parts[0]))
    except ValueError:
        return None


def find_maven() -> Path | None:
    found = shutil.which("mvn")
    return Path(found) if found else None


def require_maven() -> Path:
    maven = find_maven()
    if maven is None:
        raise PrerequisiteMissing(f"Maven (`mvn`) not found on PATH. To fix: {MAVEN_INSTALL_HINT}")
    return maven


def check(engine: EngineSettings) -> Prerequisites:
    """Everything CI needs before `chancery engine start`: a JDK 21+ and Maven, or the named error."""
    java = find_java(engine)
    return Prerequisites(java=java, maven=require_maven())
