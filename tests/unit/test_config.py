"""Settings precedence: defaults < config file < environment < overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Settings, SettingsError, as_printable, load_settings


def test_defaults_without_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.home == tmp_path / ".chancery"
    assert settings.elasticsearch.url is None
    assert settings.fetch.allow_networks == ()


def test_precedence_file_then_env_then_override(tmp_path: Path) -> None:
    config = tmp_path / "chancery.toml"
    config.write_text('home = "/from/file"\n[fetch]\nmax_redirects = 7\nper_host_delay = 2.5\n[elasticsearch]\nurl = "http://file:9200"\n')
    env = {"CHANCERY_CONFIG": str(config), "ELASTICSEARCH_URL": "http://env:9200", "CHANCERY_FETCH_MAX_REDIRECTS": "9"}
    settings = load_settings(environ=env, overrides={"fetch.per_host_delay": 0.1})
    assert settings.home == Path("/from/file")
    assert settings.elasticsearch.url == "http://env:9200"
    assert settings.fetch.max_redirects == 9
    assert settings.fetch.per_host_delay == 0.1


def test_allow_networks_from_env_is_a_tuple_of_cidrs() -> None:
    settings = load_settings(environ={"CHANCERY_ALLOW_NETWORKS": "127.0.0.0/8, 10.1.0.0/16"})
    assert settings.fetch.allow_networks == ("127.0.0.0/8", "10.1.0.0/16")


def test_bad_value_names_its_origin() -> None:
    with pytest.raises(SettingsError, match="CHANCERY_FETCH_MAX_BYTES"):
        load_settings(environ={"CHANCERY_FETCH_MAX_BYTES": "lots"})


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[fetch]\nmax_byte = 3\n")
    with pytest.raises(SettingsError, match="max_byte"):
        load_settings(environ={"CHANCERY_CONFIG": str(config)})


def test_secrets_are_masked_when_printed() -> None:
    settings = load_settings(environ={"ELASTICSEARCH_PASSWORD": "hunter2", "ELASTICSEARCH_URL": "http://x:9200"})
    printed = as_printable(settings)
    assert printed["elasticsearch"]["password"] == "********"
    assert "hunter2" not in str(printed)
    assert isinstance(settings, Settings)


def test_several_elasticsearch_nodes_survive_the_airflow_connection() -> None:
    from types import SimpleNamespace
    from urllib.parse import parse_qsl, urlsplit

    from pipeline.config import node_urls
    from pipeline.orchestrate.runtime import es_connection_uri, settings_from_connection

    url = "http://es-1:9200, http://es-2:9200,http://es-3:9201"
    assert node_urls(url) == ["http://es-1:9200", "http://es-2:9200", "http://es-3:9201"]
    uri = urlsplit(es_connection_uri(url, "writer", "s3cret"))
    assert (uri.hostname, uri.port, uri.username, uri.password) == ("es-1", 9200, "writer", "s3cret")
    extra = dict(parse_qsl(uri.query))
    assert "s3cret" not in extra["nodes"]
    # Airflow makes a connection's query its extra; the tasks read the node list back from it.
    conn = SimpleNamespace(host=uri.hostname, port=uri.port, login="writer", password="s3cret", extra_dejson=extra)
    es = settings_from_connection(load_settings(environ={}), conn).elasticsearch
    assert node_urls(es.url or "") == ["http://es-1:9200", "http://es-2:9200", "http://es-3:9201"]
    assert (es.username, es.password) == ("writer", "s3cret")
    single = urlsplit(es_connection_uri("https://one:9243", None, None))
    assert (single.hostname, single.port, dict(parse_qsl(single.query))) == ("one", 9243, {"scheme": "https"})
