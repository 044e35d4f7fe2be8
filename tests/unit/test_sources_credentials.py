"""Credentials in the sources file: userinfo is stripped at load and kept as basic auth for its origin only,
or read from a secrets file named by ``auth``; every misuse is a file:line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.logs import setup_logging
from pipeline.sources import BasicAuth, SourceKind, SourcesError, load_sources

SECRET = "s3cret-Feed-pw"


def write(tmp_path: Path, entries: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n" + entries, encoding="utf-8")
    return path


def test_userinfo_is_stripped_kept_as_basic_auth_and_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging()
    path = write(
        tmp_path,
        "  - id: desk\n"
        "    name: Desk\n"
        "    kind: rss\n"
        f"    url: https://ann:{SECRET.replace('-', '%2D')}@Feeds.Example.org:443/rss.xml\n",
    )
    (source,) = load_sources(path)
    assert source.urls == ("https://Feeds.Example.org:443/rss.xml",)
    assert source.credentials == (BasicAuth("https://feeds.example.org", "ann", SECRET),)  # percent-decoded
    assert SECRET not in repr(source)  # a traceback or a debug print shows no password
    err = capsys.readouterr().err
    assert "credentials in a source URL" in err and f"where={path}:5" in err and "password_file" in err
    assert SECRET not in err and "s3cret" not in err


def test_auth_reads_the_password_from_a_file_beside_the_sources_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging()
    secret = tmp_path / "secrets" / "wire.password"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    path = write(
        tmp_path,
        "  - id: wire\n"
        "    name: Wire\n"
        "    kind: urls\n"
        "    urls: [https://wire.example/a, https://wire.example/b, http://wire.example:8080/c]\n"
        "    auth: {username: bob, password_file: secrets/wire.password}\n",
    )
    (source,) = load_sources(path)
    assert source.kind is SourceKind.URLS
    assert source.credentials == (
        BasicAuth("https://wire.example", "bob", SECRET),  # the trailing newline is not the password's
        BasicAuth("http://wire.example:8080", "bob", SECRET),
    )
    assert "auth" not in source.extra
    assert "readable by others" not in capsys.readouterr().err
    secret.chmod(0o644)
    load_sources(path)
    assert f"chmod 600 {secret}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "    kind: rss\n    url: https://feed.example/rss\n    auth: {username: bob, password_file: missing.pw}\n",
            r"sources.yaml:6: source 'x': cannot read auth.password_file .*missing.pw: No such file",
        ),
        (
            "    kind: rss\n    url: https://feed.example/rss\n    auth: {username: bob, password: hunter2}\n",
            r"sources.yaml:6: source 'x': 'auth' takes 'username' and 'password_file'",
        ),
        (
            "    kind: rss\n    url: https://ann:pw@feed.example/rss\n    auth: {username: bob, password_file: p}\n",
            r"sources.yaml:6: source 'x': credentials both in a URL and in 'auth'",
        ),
        (
            "    kind: warc\n    path: /data/cc.warc.gz\n    auth: {username: bob, password_file: p}\n",
            r"sources.yaml:6: source 'x': 'auth' is for rss, sitemap and urls",
        ),
        (
            "    kind: urls\n    urls: [https://a:1@h.example/x, https://a:2@h.example/y]\n",
            r"sources.yaml:5: source 'x': two different credentials for https://h.example",
        ),
    ],
)
def test_misused_credentials_are_file_line_errors(tmp_path: Path, entry: str, message: str) -> None:
    (tmp_path / "p").write_text("")  # an empty password file, where the check before it did not stop the load
    path = write(tmp_path, "  - id: x\n    name: X\n" + entry)
    with pytest.raises(SourcesError, match=message) as caught:
        load_sources(path)
    assert "hunter2" not in str(caught.value) and ":pw@" not in str(caught.value)


def test_an_empty_password_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.pw").write_text("\n")
    path = write(
        tmp_path,
        "  - id: x\n    name: X\n    kind: rss\n    url: https://feed.example/rss\n"
        "    auth: {username: bob, password_file: empty.pw}\n",
    )
    with pytest.raises(SourcesError, match=r"sources.yaml:6: source 'x': auth.password_file .*empty.pw is empty"):
        load_sources(path)
