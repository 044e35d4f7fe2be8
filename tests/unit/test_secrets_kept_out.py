"""Secrets kept out of what is printed and stored: `chancery config`, `chancery engine status`, log lines,
the WARC's request and response records; and every state file a run writes is 0600."""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.fetch.warc import CapturedResponse, WarcSink
from pipeline.logs import get_logger, log_event, setup_logging
from pipeline.models import Article
from pipeline.outcomes import Tally

ES_PASSWORD = "es-Pa55word"
KIBANA_PASSWORD = "kib-Pa55word"
REDIS_PASSWORD = "redis-Pa55word"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # no chancery.toml of the checkout
    for name in ("CHANCERY_CONFIG", "ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD", "ELASTICSEARCH_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path / "home"


def test_chancery_config_prints_password_bearing_urls_masked(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ELASTICSEARCH_URL", f"https://elastic:{ES_PASSWORD}@es.example:9200")
    monkeypatch.setenv("KIBANA_URL", f"https://viewer:{KIBANA_PASSWORD}@kibana.example:5601/")
    monkeypatch.setenv("CHANCERY_AIRFLOW_REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0")
    monkeypatch.setenv("ELASTICSEARCH_PASSWORD", "another-" + ES_PASSWORD)
    assert main(["--home", str(cli_env), "config"]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out)
    assert printed["elasticsearch"]["url"] == "https://elastic:***@es.example:9200"
    assert printed["elasticsearch"]["password"] == "********"
    assert '"https://viewer:***@kibana.example:5601/"' in out  # KIBANA_URL, wherever its section is
    assert printed["airflow"]["redis_url"] == "redis://:***@127.0.0.1:6379/0"
    for secret in (ES_PASSWORD, KIBANA_PASSWORD, REDIS_PASSWORD):
        assert secret not in out


def test_settings_repr_holds_no_password() -> None:
    from pipeline.config import load_settings

    env = {"ELASTICSEARCH_PASSWORD": ES_PASSWORD, "ELASTICSEARCH_API_KEY": "k3y-" + ES_PASSWORD}
    settings = load_settings(environ=env)
    assert settings.elasticsearch.password == ES_PASSWORD
    assert ES_PASSWORD not in repr(settings)


@pytest.mark.engine
def test_engine_status_with_a_password_in_elasticsearch_url_shows_it_masked(
    engine_settings: Settings, cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real engine, reached through a URL that carries its password: accepted, and printed masked."""
    es = engine_settings.elasticsearch
    assert es.url and es.username and es.password
    with_password = es.url.replace("://", f"://{es.username}:{es.password}@", 1)
    monkeypatch.setenv("ELASTICSEARCH_URL", with_password)
    assert main(["--home", str(cli_env), "engine", "status"]) == 0  # 0: running, so the URL's password worked
    plain = capsys.readouterr().out
    assert main(["--home", str(cli_env), "engine", "status", "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    masked_url = es.url.replace("://", f"://{es.username}:***@", 1)
    assert f"url:      {masked_url}" in plain and "running:  yes" in plain
    assert as_json["url"] == masked_url and as_json["running"] is True
    assert es.password not in plain and es.password not in json.dumps(as_json)


def test_log_lines_mask_urls_in_fields_messages_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging()
    log = get_logger("test.secrets")
    log_event(log, "fetch outcome", url="https://ann:pw-in-field@h.example/a?token=tok-in-field", outcome="http_4xx")
    try:
        raise ConnectionError("cannot reach redis://:pw-in-exc@127.0.0.1:6379/0")
    except ConnectionError:
        log.exception("queue down at http://u:pw-in-message@q.example/")
    log_event(log, "redirects", level=logging.WARNING, hops=["https://x:pw-in-list@h.example/"])
    err = capsys.readouterr().err
    assert 'url="https://ann:***@h.example/a?token=***"' in err
    assert "redis://:***@127.0.0.1:6379/0" in err and "http://u:***@q.example/" in err
    assert "pw-in" not in err and "tok-in-field" not in err


def test_warc_records_carry_no_authorization_cookie_or_set_cookie(tmp_path: Path) -> None:
    body = b"<html><body><p>Talks resumed.</p></body></html>"
    captured = CapturedResponse(
        url="https://ann:pw-in-url@desk.example/news/1",
        status=200,
        reason="OK",
        headers=[("Content-Type", "text/html"), ("Set-Cookie", "session=cookie-from-server"), ("ETag", '"v1"')],
        raw_body=body,
        fetched_at=datetime(2024, 1, 15, tzinfo=UTC),
        source_id="desk",
        run_id="r1",
        fetch_url="https://desk.example/news/1",
        canonical_url="https://desk.example/news/1",
        request_headers={
            "User-Agent": "ChanceryBot/0.1",
            "Authorization": "Basic YW5uOnB3",
            "Cookie": "session=cookie-we-sent",
            "Proxy-Authorization": "Basic cHJveHk=",
        },
    )
    path = tmp_path / "captures" / "r1.warc.gz"
    with WarcSink(path) as sink:
        sink.write(captured)
    raw = gzip.decompress(path.read_bytes())
    headers: dict[str, dict[str, str]] = {}
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream, check_digests="raise"):  # a digest that does not match raises
            if record.rec_type in ("request", "response"):
                headers[record.rec_type] = dict(record.http_headers.headers)
                content = record.content_stream().read()
                assert content == (body if record.rec_type == "response" else b"")
    request_headers, response_headers = headers["request"], headers["response"]
    assert request_headers == {"Host": "desk.example", "User-Agent": "ChanceryBot/0.1"}
    assert "Set-Cookie" not in response_headers and response_headers["ETag"] == '"v1"'
    for secret in (b"Authorization", b"YW5uOnB3", b"cookie-we-sent", b"cookie-from-server", b"cHJveHk="):
        assert secret not in raw


def test_state_files_written_outside_fetch_are_0600(settings: Settings) -> None:
    """The capture ledger, dead letters and run reports kept when the engine is unreachable."""
    from pipeline.index.bulk import index_articles
    from pipeline.index.client import EngineUnavailable, connect
    from pipeline.index.runs import store_run_report
    from pipeline.orchestrate.ledger import CaptureLedger

    CaptureLedger(settings.ledger_db).record([settings.captures_dir / "r1.warc.gz"], run_id="r1")
    closed = dataclasses.replace(settings, elasticsearch=dataclasses.replace(settings.elasticsearch, url="http://127.0.0.1:9"))
    gone = connect(closed, check=False)
    try:
        stored = store_run_report(gone, closed, {"kind": "fetch", "run_id": "r1", "status": "success"})
        with pytest.raises(EngineUnavailable):
            index_articles(gone, [Article.new("https://desk.example/news/1", title="Talks")], closed, Tally())
    finally:
        gone.close()
    state = [settings.ledger_db, Path(stored.where), *settings.deadletter_dir.glob("*.jsonl")]
    assert len(state) == 4, state  # the ledger, the run report, the dead letters
    assert all(mode(p) == 0o600 for p in state), {str(p): oct(mode(p)) for p in state}
    assert mode(settings.home) == 0o700 and mode(settings.deadletter_dir) == 0o700
