"""Pages that are not articles come back as NOT_ARTICLE with a named reason, never as articles."""

from __future__ import annotations

from extract_pages import STORY_A, STORY_B, jsonld_script, page, paragraphs_html, raw

from pipeline.config import Settings
from pipeline.extract import extract_page
from pipeline.outcomes import Outcome, StageResult

SETTINGS = Settings()


def _rejected(result: StageResult, reason: str) -> None:
    assert result.article is None
    assert result.outcome is Outcome.NOT_ARTICLE
    assert result.reason == reason
    assert result.url.startswith("https://")


def test_paywall_stub() -> None:
    data = {"@type": "NewsArticle", "headline": "h", "isAccessibleForFree": "False",
            "hasPart": {"@type": "WebPageElement", "isAccessibleForFree": "False", "cssSelector": ".paywall"}}
    body = paragraphs_html(STORY_A[:1]) + (
        '<div class="paywall"><h2>This article is for subscribers only</h2>'
        "<p>Subscribe to continue reading. Already a subscriber? Log in.</p></div>")
    _rejected(extract_page(raw(page(head=jsonld_script(data), body_html=body)), SETTINGS), "paywall")


def test_full_text_of_a_metered_article_is_not_a_paywall() -> None:
    data = {"@type": "NewsArticle", "headline": "h", "isAccessibleForFree": False}
    result = extract_page(raw(page(head=jsonld_script(data))), SETTINGS)
    assert result.outcome is Outcome.PROCESSED


def test_consent_wall() -> None:
    html = """<html lang="en"><head><title>Before you continue</title></head><body>
    <div class="consent"><h1>We value your privacy</h1>
    <p>We and our partners store and access information on your device, such as cookies.</p>
    <button>Accept all</button> <button>Reject all</button> <a href="/prefs">Manage preferences</a></div>
    </body></html>"""
    _rejected(extract_page(raw(html, url="https://consent.dailyledger.test/?continue=x"), SETTINGS),
              "consent_wall")


def test_bot_challenge() -> None:
    html = """<html><head><title>Just a moment...</title></head><body>
    <div id="challenge-form"><p>Checking your browser before accessing the site.</p>
    <p>Please enable JavaScript and cookies to continue.</p></div></body></html>"""
    _rejected(extract_page(raw(html), SETTINGS), "bot_challenge")


def test_live_blog_index() -> None:
    updates = "".join(
        f'<li><time datetime="2026-03-03T{h:02d}:00:00Z">{h}:00</time> '
        f'<a href="/live/river-talks/update-{h}">Update {h}: delegates take a break</a></li>'
        for h in range(8, 20)
    )
    data = {"@type": "LiveBlogPosting", "headline": "River talks: live", "coverageStartTime": "2026-03-03T08:00Z",
            "liveBlogUpdate": [{"@type": "BlogPosting", "headline": f"Update {h}"} for h in range(8, 20)]}
    html = page(title="River talks: live", head=jsonld_script(data), body_html=f"<ul>{updates}</ul>")
    _rejected(extract_page(raw(html, url="https://www.dailyledger.test/live/river-talks"), SETTINGS),
              "live_blog_index")


def test_a_live_blog_with_real_text_is_an_article() -> None:
    data = {"@type": "LiveBlogPosting", "headline": "River talks: live"}
    result = extract_page(raw(page(head=jsonld_script(data), paragraphs=STORY_A + STORY_B)), SETTINGS)
    assert result.outcome is Outcome.PROCESSED


def test_section_front() -> None:
    teasers = "".join(
        f'<div class="teaser"><h3><a href="/world/2026/03/0{i % 9 + 1}/story-{i}">Headline number {i} about '
        f"world affairs</a></h3><p>A one-line teaser for story {i}, with a few words of context.</p></div>"
        for i in range(24)
    )
    html = f"""<html lang="en"><head><title>World news | The Daily Ledger</title>
    <meta property="og:type" content="website"></head>
    <body><nav><a href="/">Home</a></nav><main><h1>World</h1>{teasers}</main></body></html>"""
    _rejected(extract_page(raw(html, url="https://www.dailyledger.test/world"), SETTINGS), "section_front")


def test_no_text_at_all_is_empty() -> None:
    result = extract_page(raw("<html><head><script>var x = 1;</script></head><body><div></div></body></html>"),
                          SETTINGS)
    assert result.outcome is Outcome.EMPTY and result.article is None
    assert extract_page(raw(b""), SETTINGS).outcome is Outcome.EMPTY


def test_section_front_as_a_plain_list_of_links() -> None:
    items = "".join(
        f'<li><a href="https://www.dailyledger.test/2026/02/{i % 27 + 1:02d}/story-about-topic-{i}.html">'
        f"Ministers meet again on topic number {i}</a> <time>{i % 27 + 1} Feb</time></li>"
        for i in range(30)
    )
    html = f"""<html lang="en"><head><title>World | The Daily Ledger</title></head>
    <body><nav><a href="/">Home</a></nav><main><h1>World</h1><ul class="list">{items}</ul></main></body></html>"""
    _rejected(extract_page(raw(html, url="https://www.dailyledger.test/world/"), SETTINGS), "section_front")
