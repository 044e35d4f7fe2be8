"""pipeline.urls: the one masking of URLs for printing and storing, and the userinfo helpers of basic auth."""

from __future__ import annotations

import pytest

from pipeline.urls import mask_urls, masked, origin_of, without_userinfo


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://ann:s3cret@news.example.org/feed.xml", "https://ann:***@news.example.org/feed.xml"),
        ("redis://:redispw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("https://ghp_TOKEN@git.example.org/x", "https://***@git.example.org/x"),  # a bare userinfo is often a token
        ("https://a:b@c@host.example/", "https://a:***@host.example/"),  # an unescaped @ in the password
        ("http://h.example/p?page=2&api_key=K1&Token=T2", "http://h.example/p?page=2&api_key=***&Token=***"),
        ("https://b.s3.example/o?X-Amz-Signature=ab12&X-Amz-Credential=AK", "https://b.s3.example/o?X-Amz-Signature=***&X-Amz-Credential=***"),
        ("https://h.example/cb#access_token=tok&state=1", "https://h.example/cb#access_token=***&state=1"),
        ("https://h.example/p?session_token=s&id=4", "https://h.example/p?session_token=***&id=4"),
        ("https://h.example/a?key=", "https://h.example/a?key="),  # nothing to hide
        ("http://[::1]:8080/a?sig=9", "http://[::1]:8080/a?sig=***"),
        ("https://h.example/utm?utm_source=x", "https://h.example/utm?utm_source=x"),
        ("~/archives/CC-NEWS-*.warc.gz", "~/archives/CC-NEWS-*.warc.gz"),
        ("s3://AKIA:secretkey@bucket/captures", "s3://AKIA:***@bucket/captures"),
    ],
)
def test_masked_hides_credentials_and_keeps_the_rest(url: str, shown: str) -> None:
    assert masked(url) == shown


def test_mask_urls_masks_every_url_in_a_text() -> None:
    text = 'redirect back to "https://ann:pw1@a.example/x?token=t1", then http://b.example/?password=pw2 failed'
    out = mask_urls(text)
    assert "pw1" not in out and "t1" not in out and "pw2" not in out
    assert out == (
        'redirect back to "https://ann:***@a.example/x?token=***", then http://b.example/?password=*** failed'
    )
    assert mask_urls("no url here: key=value") == "no url here: key=value"


def test_without_userinfo_and_origin() -> None:
    assert without_userinfo("https://ann:pw@Host.Example:8443/f?q=1#x") == "https://Host.Example:8443/f?q=1#x"
    assert without_userinfo("https://host.example/a@b") == "https://host.example/a@b"  # an @ in the path stays
    assert origin_of("HTTPS://ann:pw@Host.Example:443/feed") == "https://host.example"
    assert origin_of("http://host.example:8080/x") == "http://host.example:8080"
    assert origin_of("http://host.example/x") != origin_of("https://host.example/x")
