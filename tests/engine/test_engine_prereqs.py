"""Finding a JDK 21+ and Maven: the named error when the machine lacks them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings
from pipeline.engine import local
from pipeline.engine.prereqs import MIN_JAVA_MAJOR, PrerequisiteMissing, _major_of, find_java, java_version

JVM_DIR = Path("/usr/lib/jvm")
JDK17 = JVM_DIR / "java-17-openjdk-amd64"


def _jdks_at_least(major: int) -> list[Path]:
    if not JVM_DIR.is_dir():
        return []
    return [p for p in JVM_DIR.iterdir() if (v := java_version(p)) and (_major_of(v) or 0) >= major]


def _only_jdk17(settings: Settings) -> Settings:
    engine = dataclasses.replace(settings.engine, java_home=str(JDK17), system_java_home=None, java_search_dirs=())
    return dataclasses.replace(settings, engine=engine)


@pytest.mark.parametrize(
    ("version", "major"),
    [("1.8.0_392", 8), ("17.0.15", 17), ("21", 21), ("25.0.3", 25), ("21-ea", 21), ("garbage", None)],
)
def test_major_version_is_read_from_both_numbering_schemes(version: str, major: int | None) -> None:
    assert _major_of(version) == major


@pytest.mark.skipif(not JDK17.is_dir(), reason="needs Debian's JDK 17 to stand for a too-old JDK")
def test_only_a_jdk17_gives_the_error_naming_jdk21(settings: Settings) -> None:
    with pytest.raises(PrerequisiteMissing, match=rf"JDK {MIN_JAVA_MAJOR}\+") as raised:
        find_java(_only_jdk17(settings).engine)
    assert str(JDK17) in str(raised.value)  # says what it tried
    assert "install" in str(raised.value)  # and what to do


@pytest.mark.skipif(not JDK17.is_dir(), reason="needs Debian's JDK 17 to stand for a too-old JDK")
def test_start_without_a_jdk21_fails_before_making_any_folder(settings: Settings) -> None:
    only17 = _only_jdk17(settings)
    with pytest.raises(PrerequisiteMissing, match=rf"JDK {MIN_JAVA_MAJOR}"):
        local.start(only17)
    assert not only17.engine_dir.exists()
    assert not local.fallback_dir(only17).exists()


def test_no_candidates_at_all_says_none_found(settings: Settings, tmp_path: Path) -> None:
    engine = dataclasses.replace(
        settings.engine, java_home=None, system_java_home=None, java_search_dirs=(str(tmp_path),)
    )
    with pytest.raises(PrerequisiteMissing, match="none found"):
        find_java(engine)


@pytest.mark.skipif(not _jdks_at_least(MIN_JAVA_MAJOR), reason="no JDK 21+ on this machine")
def test_a_too_old_es_java_home_falls_back_to_a_newer_jdk_on_the_machine(settings: Settings) -> None:
    engine = dataclasses.replace(settings.engine, java_home=str(JDK17), java_search_dirs=(str(JVM_DIR),))
    assert find_java(engine).major >= MIN_JAVA_MAJOR


def test_es_java_home_and_java_home_map_to_separate_settings() -> None:
    loaded = load_settings(environ={"ES_JAVA_HOME": "/opt/jdk25", "JAVA_HOME": "/opt/jdk17"})
    assert loaded.engine.java_home == "/opt/jdk25"
    assert loaded.engine.system_java_home == "/opt/jdk17"


def test_the_artifact_coordinate_maps_to_its_place_in_mavens_repository(settings: Settings) -> None:
    from pipeline.engine.distribution import _first_error, artifact

    wanted = artifact(settings.engine)
    assert (
        wanted.coordinate
        == f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{settings.engine.version}:zip"
    )
    assert wanted.path_in(Path("/repo")) == Path(
        "/repo/org/elasticsearch/distribution/integ-test-zip/elasticsearch",
        settings.engine.version,
        f"elasticsearch-{settings.engine.version}.zip",
    )
    maven_says = "\x1b[0m[ERROR] Failed to execute goal: Could not find artifact x\n[ERROR] \n[ERROR] To see"
    assert _first_error(maven_says) == "Failed to execute goal: Could not find artifact x"


def test_without_maven_an_uncached_distribution_names_maven(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.engine.distribution import ensure_downloaded

    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no mvn on it
    empty_cache = dataclasses.replace(settings.engine, maven_repo=str(tmp_path / "m2"))
    with pytest.raises(PrerequisiteMissing, match="Maven"):
        ensure_downloaded(empty_cache, lambda message: None)
