"""The hardened client against a loopback newsroom: retries, timeouts, hostile responses, encodings."""

from __future__ import annotations

import gzip
import time

from fetch_newsroom import Hit, Newsroom, Reply, article, chunks

from pipeline.config import Settings
from pipeline.decode import decode_page
from pipeline.fetch.client import Fetcher
from pipeline.fetch.content import ContentKind
from pipeline.outcomes import Outcome


def test_429_with_retry_after_is_retried_after_the_wait(newsroom: Newsroom, fetch_settings: Settings) -> None:
    calls: list[float] = []

    def busy_then_ok(hit: Hit) -> Reply:
        calls.append(hit.at)
        if len(calls) == 1:
            return Reply(429, b"slow down", headers={"Retry-After": "1"})
        return Reply(body=article("Summit communique", "Leaders agreed a text.").encode())

    url = newsroom.route("/busy", busy_then_ok)
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(url)
    assert result.outcome is Outcome.OK and result.attempts == 2
    assert calls[1] - calls[0] >= 0.95  # Retry-After: 1 honoured, not the 0.05 s backoff


def test_503_then_success(newsroom: Newsroom, fetch_settings: Settings) -> None:
    answers = iter([Reply(503, b"maintenance"), Reply(body=article("Visit to Hanoi", "Talks on trade.").encode())])
    url = newsroom.route("/flaky", lambda hit: next(answers))
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(url)
    assert result.outcome is Outcome.OK and result.attempts == 2 and result.status == 200


def test_404_is_not_retried(newsroom: Newsroom, fetch_settings: Settings) -> None:
    url = newsroom.url("/gone")
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(url)
    assert result.outcome is Outcome.HTTP_4XX and result.attempts == 1
    assert len(newsroom.hits_for("/gone")) == 1


def test_slow_server_hits_the_read_timeout(newsroom: Newsroom, fetch_settings: Settings) -> None:
    url = newsroom.route("/slow", Reply(body=b"<html>late</html>", delay=1.2))
    settings = fetch_settings.fetch.__class__(**{**fetch_settings.fetch.__dict__, "max_retries": 1})
    started = time.monotonic()
    with Fetcher(settings) as fetcher:
        result = fetcher.fetch(url)
    assert result.outcome is Outcome.TIMEOUT
    assert result.attempts == 2  # a timeout is transient: retried once, then given up
    assert time.monotonic() - started < 3.0


def test_50_mb_body_is_aborted_at_the_limit(newsroom: Newsroom, fetch_settings: Settings) -> None:
    # Chunked, so no Content-Length warns us: the limit must hold while streaming.
    url = newsroom.route("/huge", Reply(body=chunks(50 * 1024 * 1024)))
    started = time.monotonic()
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(url)
    assert result.outcome is Outcome.TOO_LARGE
    assert len(result.body) == 0 and "over 1048576" in result.reason
    assert time.monotonic() - started < 3.0


def test_declared_content_length_over_the_limit_is_refused_before_reading(
    newsroom: Newsroom, fetch_settings: Settings
) -> None:
    url = newsroom.route("/declared", Reply(body=b"<p>" * (700 * 1024)))
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(url)
    assert result.outcome is Outcome.TOO_LARGE and "Content-Length" in result.reason


def test_gzip_bomb_is_refused(newsroom: Newsroom, fetch_settings: Settings) -> None:
    # 16 KB on the wire that inflates to 16 MB (x1000): refused after at most max_bytes (1 MB) of output.
    bomb = gzip.compress(b"\0" * (16 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 20 * 1024
    url = newsroom.route("/bomb", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(url)
    assert result.outcome is Outcome.TOO_LARGE
    assert "decompression bomb" in result.reason


def test_gzip_page_is_inflated_and_kept_encoded_for_the_warc(newsroom: Newsroom, fetch_settings: Settings) -> None:
    html = article("Treaty signed", "The accord enters into force in May.").encode()
    url = newsroom.route("/gz", Reply(body=gzip.compress(html), headers={"Content-Encoding": "gzip"}))
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(url)
    assert result.outcome is Outcome.OK and result.body == html and gzip.decompress(result.raw_body) == html


def test_redirect_loop_is_named_and_each_hop_recorded(newsroom: Newsroom, fetch_settings: Settings) -> None:
    newsroom.route("/a", Reply(302, headers={"Location": "/b"}))
    newsroom.route("/b", Reply(301, headers={"Location": "/a"}))
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(newsroom.url("/a"))
    assert result.outcome is Outcome.REDIRECT_LOOP
    assert result.redirects == (newsroom.url("/b"), newsroom.url("/a"))


def test_too_many_redirects(newsroom: Newsroom, fetch_settings: Settings) -> None:
    for i in range(10):
        newsroom.route(f"/hop{i}", Reply(302, headers={"Location": f"/hop{i + 1}"}))
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(newsroom.url("/hop0"))
    assert result.outcome is Outcome.TOO_MANY_REDIRECTS
    assert len(result.redirects) == fetch_settings.fetch.max_redirects + 1


def test_wrong_content_type_for_an_article(newsroom: Newsroom, fetch_settings: Settings) -> None:
    url = newsroom.route("/report.pdf", Reply(body=b"%PDF-1.7", content_type="application/pdf"))
    feed = newsroom.route("/feed", Reply(body=b"<html></html>", content_type="text/html"))
    with Fetcher(fetch_settings.fetch) as fetcher:
        assert fetcher.fetch(url).outcome is Outcome.BAD_CONTENT_TYPE
        assert fetcher.fetch(feed, ContentKind.XML).outcome is Outcome.BAD_CONTENT_TYPE


RUSSIAN = "Министр иностранных дел провёл переговоры с послом о мирном урегулировании."
JAPANESE = "外務大臣は大使と会談し、地域の安全保障について意見を交換した。"


def test_windows_1251_from_the_http_header(newsroom: Newsroom, fetch_settings: Settings) -> None:
    html = f"<html><head><title>МИД</title></head><body><p>{RUSSIAN}</p></body></html>".encode("windows-1251")
    url = newsroom.route("/ru", Reply(body=html, content_type="text/html; charset=windows-1251"))
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(url)
    decoded = decode_page(result.body, result.content_type)
    assert RUSSIAN in decoded.text and decoded.method == "header"


def test_shift_jis_from_the_meta_tag(newsroom: Newsroom, fetch_settings: Settings) -> None:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
        f"<title>外務省</title></head><body><p>{JAPANESE}</p></body></html>"
    ).encode("shift_jis")
    url = newsroom.route("/ja", Reply(body=html, content_type="text/html"))
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(url)
    decoded = decode_page(result.body, result.content_type)
    assert JAPANESE in decoded.text and decoded.method == "meta"


def test_undeclared_windows_1251_is_detected() -> None:
    html = f"<html><body><p>{RUSSIAN} {RUSSIAN}</p></body></html>".encode("windows-1251")
    decoded = decode_page(html, "text/html")
    assert RUSSIAN in decoded.text and decoded.method == "detected"


def test_user_agent_and_conditional_headers_are_sent(newsroom: Newsroom, fetch_settings: Settings) -> None:
    from pipeline.fetch.client import Validators

    url = newsroom.route("/ua", Reply(304))
    with Fetcher(fetch_settings.fetch) as fetcher:
        result = fetcher.fetch(
            url, ContentKind.XML, Validators(etag='"v1"', last_modified="Mon, 15 Jan 2024 10:00:00 GMT")
        )
    hit = newsroom.hits_for("/ua")[0]
    assert hit.headers["user-agent"].startswith("ChanceryBot/") and hit.headers["if-none-match"] == '"v1"'
    assert result.outcome is Outcome.NOT_MODIFIED
