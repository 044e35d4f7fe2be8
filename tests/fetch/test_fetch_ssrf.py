"""The SSRF guard: private, loopback, metadata and non-http targets refused, on every hop."""

from __future__ import annotations

import dataclasses

from fetch_newsroom import Newsroom, Reply

from pipeline.config import Settings
from pipeline.fetch.client import Fetcher
from pipeline.fetch.ssrf import SsrfGuard
from pipeline.outcomes import Outcome


def test_loopback_is_refused_without_the_allow_list(newsroom: Newsroom, fetch_settings: Settings) -> None:
    url = newsroom.route("/inside", Reply(body=b"<html>secret</html>"))
    closed = dataclasses.replace(fetch_settings.fetch, allow_networks=())
    with Fetcher(closed) as fetcher:
        result = fetcher.fetch(url)
    assert result.outcome is Outcome.SSRF_BLOCKED and "loopback" in result.reason
    assert newsroom.hits == []  # refused before any connection


def test_metadata_address_stays_blocked_even_when_its_range_is_allowed() -> None:
    guard = SsrfGuard(["169.254.0.0/16", "fd00::/8"])
    assert guard.check("http://169.254.169.254/latest/meta-data/").outcome is Outcome.SSRF_BLOCKED  # type: ignore[union-attr]
    assert guard.check("http://[fd00:ec2::254]/").outcome is Outcome.SSRF_BLOCKED  # type: ignore[union-attr]
    assert guard.check("http://169.254.10.10/") is None  # the rest of the range was opened


def test_private_and_special_addresses_are_refused() -> None:
    guard = SsrfGuard()
    for url in (
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://172.16.0.5/",
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
    ):
        refusal = guard.check(url)
        assert refusal is not None and refusal.outcome is Outcome.SSRF_BLOCKED, url


def test_a_hostname_that_resolves_to_loopback_is_refused() -> None:
    refusal = SsrfGuard().check("http://localhost/")
    assert refusal is not None and refusal.outcome is Outcome.SSRF_BLOCKED and "localhost resolves to" in refusal.reason


def test_non_http_schemes_are_refused() -> None:
    guard = SsrfGuard(["0.0.0.0/0"])
    for url in ("file:///etc/passwd", "ftp://example.org/x", "gopher://127.0.0.1:6379/_INFO"):
        refusal = guard.check(url)
        assert refusal is not None and refusal.outcome is Outcome.SSRF_BLOCKED and "scheme" in refusal.reason


def test_a_redirect_to_a_private_address_is_refused_on_that_hop(newsroom: Newsroom, fetch_settings: Settings) -> None:
    newsroom.route("/jump", Reply(302, headers={"Location": "http://10.0.0.1/admin"}))
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(newsroom.url("/jump"))
    assert result.outcome is Outcome.SSRF_BLOCKED
    assert result.redirects == ("http://10.0.0.1/admin",) and "private" in result.reason


def test_a_redirect_to_the_metadata_service_is_refused(newsroom: Newsroom, fetch_settings: Settings) -> None:
    newsroom.route("/meta", Reply(301, headers={"Location": "http://169.254.169.254/latest/meta-data/"}))
    opened = dataclasses.replace(fetch_settings.fetch, allow_networks=("127.0.0.0/8", "169.254.0.0/16"))
    with Fetcher(opened) as fetcher:
        result = fetcher.fetch(newsroom.url("/meta"))
    assert result.outcome is Outcome.SSRF_BLOCKED and "metadata" in result.reason


def test_file_url_through_the_fetcher(fetch_settings: Settings) -> None:
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch("file:///etc/passwd")
    assert result.outcome is Outcome.SSRF_BLOCKED


class _NameCheckFooled(SsrfGuard):
    """A guard whose DNS check is fooled, as by a rebinding name: only the connect-time check remains."""

    def check(self, url: str) -> None:  # type: ignore[override]
        return None


def test_the_connected_address_is_checked_too_dns_rebinding(newsroom: Newsroom, fetch_settings: Settings) -> None:
    url = newsroom.route("/rebind", Reply(body=b"<html>internal</html>"))
    closed = dataclasses.replace(fetch_settings.fetch, allow_networks=())
    with Fetcher(closed, guard=_NameCheckFooled()) as fetcher:
        result = fetcher.fetch(url)
    assert result.outcome is Outcome.SSRF_BLOCKED and "connected to 127.0.0.1" in result.reason
    assert newsroom.hits_for("/rebind") == []  # refused after connect, before the request was sent
