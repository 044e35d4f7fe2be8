"""`chancery kibana setup|export|check` against a loopback Kibana that records what it receives."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_kibana import FakeKibana  # type: ignore[import-not-found]

from pipeline.cli import main
from pipeline.config import load_settings
from pipeline.kibana.objects import COVERAGE_DASHBOARD, SHIPPED, for_settings, load, to_ndjson

ALL = len(load())


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("KIBANA_", "CHANCERY_", "ELASTICSEARCH_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHANCERY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps tables to the terminal; keep reasons whole
    return monkeypatch


@pytest.fixture
def kibana(env: pytest.MonkeyPatch) -> Iterator[FakeKibana]:
    with FakeKibana() as fake:
        env.setenv("KIBANA_URL", fake.url)
        env.setenv("KIBANA_USERNAME", "elastic")
        env.setenv("KIBANA_PASSWORD", "s3cret-pw")
        yield fake


def test_setup_sends_the_objects_as_kibana_wants_them_and_reports_each(
    kibana: FakeKibana, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kibana", "setup"]) == 0
    (request,) = kibana.imports()
    assert request.method == "POST"
    assert request.path == "/api/saved_objects/_import"
    assert request.query == {"overwrite": ["true"]}
    assert request.headers["kbn-xsrf"]
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"elastic:s3cret-pw").decode()
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    filename, content_type, content = request.multipart()["file"]
    assert filename is not None and filename.endswith(".ndjson")
    assert content_type == "application/ndjson"
    assert content.decode() == to_ndjson(for_settings(load(), load_settings()))
    out = capsys.readouterr().out
    assert f"{ALL} created, 0 overwritten, 0 failed" in out
    assert f"{kibana.url}/app/dashboards#/view/{COVERAGE_DASHBOARD}" in out


def test_setup_twice_overwrites_the_same_objects(kibana: FakeKibana, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kibana", "setup"]) == 0
    held = dict(kibana.held)
    assert main(["kibana", "setup"]) == 0
    assert f"0 created, {ALL} overwritten, 0 failed" in capsys.readouterr().out
    assert kibana.held.keys() == held.keys()


def test_setup_in_a_space_with_an_api_key(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeKibana() as fake:
        env.setenv("KIBANA_URL", fake.url + "/")
        env.setenv("KIBANA_SPACE", "diplomacy")
        env.setenv("KIBANA_API_KEY", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==")
        env.setenv("KIBANA_USERNAME", "ignored-when-an-api-key-is-set")
        assert main(["kibana", "setup"]) == 0
        (request,) = fake.imports()
    assert request.path == "/s/diplomacy/api/saved_objects/_import"
    assert request.headers["authorization"] == "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
    assert f"{fake.url}/s/diplomacy/app/dashboards#/view/{COVERAGE_DASHBOARD}" in capsys.readouterr().out


def test_objects_kibana_refuses_are_named_with_kibanas_reason(
    kibana: FakeKibana, capsys: pytest.CaptureFixture[str]
) -> None:
    kibana.mode = "object_errors"
    kibana.failing_ids = (COVERAGE_DASHBOARD, "chancery-search-unsc")
    assert main(["kibana", "setup"]) == 1
    captured = capsys.readouterr()
    assert f"{ALL - 2} created, 0 overwritten, 2 failed" in captured.out
    assert "missing_references: index-pattern chancery-articles" in captured.out
    assert "unknown (400): Document has an unsupported typeMigrationVersion" in captured.out
    assert "2 of 14 objects failed" in captured.err


@pytest.mark.parametrize(("mode", "code", "message"), [
    ("401", 1, "refused the credentials (401 Unauthorized): [security_exception]: unable to authenticate user"),
    ("403", 1, "may not manage saved objects here (403 Forbidden): Unable to bulk_create"),
    ("409", 1, "refused the request (409 Conflict): Another import is in progress for this space"),
    ("503", 3, "is not ready (503): Kibana server is not ready yet"),
    ("garbage", 1, "answered 200 with something that is not JSON"),
])
def test_each_refusal_has_a_clear_message_and_exit_code(
    kibana: FakeKibana, capsys: pytest.CaptureFixture[str], mode: str, code: int, message: str
) -> None:
    kibana.mode = mode
    assert main(["kibana", "setup"]) == code
    err = capsys.readouterr().err
    assert message in err
    assert "s3cret-pw" not in err


def test_kibana_down(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    env.setenv("KIBANA_URL", f"http://127.0.0.1:{port}")
    assert main(["kibana", "setup"]) == 3
    assert f"Kibana at http://127.0.0.1:{port} is unreachable" in capsys.readouterr().err


def test_no_kibana_configured(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kibana", "setup"]) == 3
    assert "set KIBANA_URL" in capsys.readouterr().err


def test_setup_waits_for_a_starting_kibana(kibana: FakeKibana) -> None:
    kibana.mode = "starting"
    assert main(["kibana", "setup", "--wait", "30"]) == 0
    paths = [r.path for r in kibana.received]
    assert paths == ["/api/status"] * 3 + ["/api/saved_objects/_import"]


def test_setup_gives_up_waiting(kibana: FakeKibana, capsys: pytest.CaptureFixture[str]) -> None:
    kibana.mode = "starting"
    kibana.starting_polls = 1000
    assert main(["kibana", "setup", "--wait", "1"]) == 3
    assert "was not available after 1 s" in capsys.readouterr().err
    assert not kibana.imports()


def test_setup_refuses_broken_objects_before_sending_anything(
    kibana: FakeKibana, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.ndjson"
    first, *rest = SHIPPED.read_text(encoding="utf-8").splitlines()
    data = json.loads(first)
    data["attributes"]["timeFieldName"] = "published"
    broken.write_text("\n".join([json.dumps(data), *rest]) + "\n", encoding="utf-8")
    assert main(["kibana", "setup", "--file", str(broken)]) == 1
    assert "time field 'published' is not a date field" in capsys.readouterr().err
    assert kibana.received == []


def test_export_writes_back_what_kibana_holds(kibana: FakeKibana, tmp_path: Path) -> None:
    assert main(["kibana", "setup"]) == 0
    out = tmp_path / "exported.ndjson"
    assert main(["kibana", "export", "-o", str(out)]) == 0
    (request,) = [r for r in kibana.received if r.path.endswith("/_export")]
    body = json.loads(request.body)
    assert request.headers["kbn-xsrf"] and body["excludeExportDetails"] is True
    assert {(o["type"], o["id"]) for o in body["objects"]} == {(o.type, o.id) for o in load()}
    assert out.read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8")


def test_export_of_a_newer_kibanas_objects_is_written_and_flagged(
    kibana: FakeKibana, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kibana", "setup"]) == 0
    kibana.export_extra = {"typeMigrationVersion": "10.3.0"}
    out = tmp_path / "exported.ndjson"
    assert main(["kibana", "export", "-o", str(out)]) == 1
    assert out.is_file()
    assert "typeMigrationVersion 10.3.0 is newer than" in capsys.readouterr().err


def test_export_names_the_objects_kibana_lacks(kibana: FakeKibana, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kibana", "export", "-o", str(tmp_path / "x.ndjson")]) == 1
    err = capsys.readouterr().err
    assert "(400 Bad Request): Error fetching objects to export (index-pattern chancery-articles" in err
    assert not (tmp_path / "x.ndjson").exists()


def test_check_offline(env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kibana", "check"]) == 0
    assert "14 objects (2 dashboard, 4 index-pattern, 8 search) check out for Kibana 8.9" in capsys.readouterr().out
    objects = load()
    renamed = [dataclasses.replace(o, references=()) if o.type == "search" else o for o in objects]
    broken = tmp_path / "broken.ndjson"
    broken.write_text(to_ndjson(renamed), encoding="utf-8")
    assert main(["kibana", "check", "--file", str(broken)]) == 1
    assert "no reference named kibanaSavedObjectMeta.searchSourceJSON.index" in capsys.readouterr().err
