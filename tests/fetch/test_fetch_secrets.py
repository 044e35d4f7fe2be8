"""Secrets never leak: a source URL's user:password@ is used as basic auth for its own origin only, and
appears in no artefact of the run (report, log, seen-store, WARC, Article JSON); state files are 0600."""

from __future__ import annotations

import base64
import gzip
import json
import stat
from pathlib import Path

import pytest
from fetch_newsroom import Hit, Newsroom, Reply, article, rss

from pipeline.cli import main

USER = "ann"
SECRET = "Tr0ub4dor-feed-pw"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
SESSION_COOKIE = "sess-4c0ffee-cookie"
DATE = "Mon, 15 Jan 2024 10:00:00 GMT"
BODY = (
    "The foreign ministers of both countries met in Geneva on Monday to resume talks on the maritime "
    "boundary, the first round since the summit in the spring. Officials said the delegations agreed to "
    "set up a joint working group on fisheries and to meet again before the end of the year. "
) * 3


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def guarded(body: bytes, content_type: str) -> object:
    """A route that answers 401 unless the request carries our basic auth; it sets a session cookie."""

    def reply(hit: Hit) -> Reply:
        if hit.headers.get("authorization") != AUTHORIZATION:
            return Reply(401, b"login first", headers={"WWW-Authenticate": 'Basic realm="desk"'})
        return Reply(body=body, content_type=content_type, headers={"Set-Cookie": f"session={SESSION_COOKIE}"})

    return reply


@pytest.fixture
def chancery_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's environment: loopback past the SSRF guard, no politeness wait; returns the home."""
    monkeypatch.chdir(tmp_path)  # no chancery.toml of the checkout
    monkeypatch.delenv("CHANCERY_CONFIG", raising=False)
    monkeypatch.setenv("CHANCERY_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("CHANCERY_FETCH_PER_HOST_DELAY", "0")
    monkeypatch.setenv("CHANCERY_FETCH_MAX_RETRIES", "0")
    return tmp_path / "home"


def sources_file(tmp_path: Path, kind: str, urls: list[str]) -> Path:
    listed = f"    url: {urls[0]}\n" if kind == "rss" else f"    urls: [{', '.join(urls)}]\n"
    path = tmp_path / "sources.yaml"
    path.write_text(f"sources:\n  - id: desk\n    name: Desk\n    kind: {kind}\n{listed}    language: en\n")
    return path


def test_userinfo_is_used_for_the_feed_and_its_articles_and_found_in_no_artefact(
    newsroom: Newsroom, chancery_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = chancery_env
    relative = [f"/news/2024/01/15/talks-{i}" for i in range(6)]  # resolved against the feed's URL
    for i, path in enumerate(relative):
        newsroom.route(path, guarded(article(f"Talks resume, round {i}", BODY).encode(), "text/html; charset=utf-8"))
    feed = rss([(f"Talks resume, round {i}", path, DATE) for i, path in enumerate(relative)])
    newsroom.route("/feed.xml", guarded(feed, "application/rss+xml"))
    feed_url = newsroom.url("/feed.xml").replace("http://", f"http://{USER}:{SECRET}@")
    report = tmp_path / "reports" / "run.json"
    out = tmp_path / "articles.jsonl"

    fetch_args = ["--home", str(home), "fetch", "--sources", str(sources_file(tmp_path, "rss", [feed_url]))]
    assert main([*fetch_args, "--report", str(report), "--run-id", "secret-run", "--no-progress"]) == 0
    warc = home / "captures" / "secret-run.warc.gz"
    assert main(["--home", str(home), "process", str(warc), "-o", str(out)]) == 0
    printed = capsys.readouterr()

    # Used: the feed and every article on its origin got the credentials, and were fetched.
    fetched = json.loads(report.read_text())
    assert fetched["by_outcome"] == {"ok": 7}
    assert fetched["changes"] == {"new": 6}
    for path in ["/feed.xml", *relative]:
        assert [h.headers.get("authorization") for h in newsroom.hits_for(path)] == [AUTHORIZATION]
    assert newsroom.hits_for("/robots.txt")[0].headers.get("authorization") is None  # only where asked for
    assert {r["url"] for r in fetched["urls"]} == {newsroom.url(p) for p in ["/feed.xml", *relative]}
    articles = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(articles) == 6

    # Found nowhere: not as written, not percent-encoded, not as the Authorization it became.
    seen = home / "seen.sqlite3"
    artefacts = {
        "report": report.read_bytes(),
        "log": (printed.err + printed.out).encode(),
        "seen-store": b"".join(p.read_bytes() for p in home.glob("seen.sqlite3*")),
        "warc": gzip.decompress(warc.read_bytes()),
        "articles": out.read_bytes(),
    }
    assert b"WARC-Type: request" in artefacts["warc"] and b"/news/2024/01/15/talks-0" in artefacts["seen-store"]
    for name, content in artefacts.items():
        for secret in (SECRET, AUTHORIZATION.split()[1], f"{USER}:", SESSION_COOKIE):
            assert secret.encode() not in content, f"{secret!r} found in the {name}"
    assert b"Set-Cookie" not in artefacts["warc"] and b"Authorization" not in artefacts["warc"]
    assert "credentials in a source URL" in printed.err  # the load-time warning

    # State files private; the folders the run made for them too.
    assert mode(report) == 0o600 and mode(report.parent) == 0o700
    assert mode(seen) == 0o600 and all(mode(p) == 0o600 for p in home.glob("seen.sqlite3*"))
    assert mode(home) == 0o700 and mode(home / "captures") == 0o700


def test_credentials_never_follow_a_redirect_to_another_origin(
    newsroom: Newsroom, chancery_env: Path, tmp_path: Path
) -> None:
    page = article("Envoy named", BODY).encode()
    with Newsroom() as elsewhere:  # another port: another origin, with a server that logs what it got
        elsewhere.page("/landing", page)
        elsewhere.page("/listed", page)
        newsroom.route("/go-away", Reply(302, headers={"Location": elsewhere.url("/landing")}))
        newsroom.route("/stay", Reply(302, headers={"Location": "/final"}))  # same origin: still ours
        newsroom.route("/final", guarded(page, "text/html; charset=utf-8"))
        with_login = f"http://{USER}:{SECRET}@127.0.0.1:{newsroom.server.server_address[1]}"
        urls = [f"{with_login}/go-away", f"{with_login}/stay", elsewhere.url("/listed")]
        report = tmp_path / "run.json"
        sources = str(sources_file(tmp_path, "urls", urls))
        args = ["--home", str(chancery_env), "fetch", "--sources", sources, "--report", str(report), "--no-progress"]
        assert main(args) == 0

        assert [h.headers.get("authorization") for h in newsroom.hits_for("/go-away")] == [AUTHORIZATION]
        assert [h.headers.get("authorization") for h in newsroom.hits_for("/final")] == [AUTHORIZATION]
        assert len(elsewhere.hits_for("/landing")) == 1 and len(elsewhere.hits_for("/listed")) == 1
        assert all("authorization" not in h.headers for h in elsewhere.hits)
    outcomes = {r["url"]: (r["outcome"], r["redirects"]) for r in json.loads(report.read_text())["urls"]}
    assert outcomes[newsroom.url("/go-away")] == ("ok", [elsewhere.url("/landing")])
    assert outcomes[newsroom.url("/stay")] == ("ok", [newsroom.url("/final")])


def test_urls_with_credentials_from_a_feed_are_masked_in_the_report_and_the_log(
    newsroom: Newsroom, chancery_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A feed may link with someone else's user:password@ or ?token=: never sent as auth, never printed."""
    port = newsroom.server.server_address[1]
    linked = f"http://other:linkpw@127.0.0.1:{port}/gone?token=tok123&id=7"
    newsroom.route("/feed.xml", Reply(body=rss([("Gone", linked, DATE)]), content_type="application/rss+xml"))
    newsroom.route("/gone", Reply(404, b"no such story"))
    report = tmp_path / "run.json"
    sources = str(sources_file(tmp_path, "rss", [newsroom.url("/feed.xml")]))
    args = ["--home", str(chancery_env), "fetch", "--sources", sources, "--report", str(report), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr()

    (hit,) = newsroom.hits_for("/gone?id=7&token=tok123")  # requested canonically: no userinfo, so no auth
    assert "authorization" not in hit.headers
    records = {r["outcome"]: r for r in json.loads(report.read_text())["urls"]}
    assert records["http_4xx"]["url"] == f"http://other:***@127.0.0.1:{port}/gone?token=***&id=7"
    assert "fetch outcome" in printed.err and "http_4xx" in printed.err
    for content in (report.read_text(), printed.err, printed.out):
        assert "linkpw" not in content and "tok123" not in content
