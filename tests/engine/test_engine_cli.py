"""`chancery engine status | check` as a user or CI script sees them (no node started here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main

JDK17 = Path("/usr/lib/jvm/java-17-openjdk-amd64")


def test_status_of_a_fresh_home_says_how_to_start_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    assert main(["--home", str(tmp_path / "home"), "engine", "status", "--json"]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert shown["running"] is False and shown["external"] is False
    assert "chancery engine start" in shown["detail"]


def test_status_with_a_configured_cluster_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert main(["--home", str(tmp_path / "home"), "engine", "status"]) == 1
    out = capsys.readouterr().out
    assert "configured ELASTICSEARCH_URL" in out and "not reachable" in out


@pytest.mark.skipif(not JDK17.is_dir(), reason="needs Debian's JDK 17 to stand for a too-old JDK")
def test_check_names_the_jdk_to_install_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ES_JAVA_HOME", str(JDK17))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("CHANCERY_ENGINE_JAVA_SEARCH_DIRS", "")
    assert main(["--home", str(tmp_path / "home"), "engine", "check"]) == 3
    assert "JDK 21" in capsys.readouterr().err
