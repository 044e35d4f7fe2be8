"""Furniture inside the article container is not article text."""

from __future__ import annotations

from extract_pages import STORY_A, page, paragraphs_html, raw

from pipeline.config import Settings
from pipeline.extract import extract_page

SETTINGS = Settings()


def test_embedded_social_posts_share_lines_and_captions_are_dropped() -> None:
    tweet = ('<blockquote class="twitter-tweet"><p lang="en">Talks are back on, at last! Huge day for the '
             'valley.</p>&mdash; River Watch (@riverwatch) <a href="https://x.test/s/1">March 3, 2026</a>'
             '</blockquote>')
    body = (paragraphs_html(STORY_A[:3]) + tweet + "<p>Follow us on Facebook</p>"
            + "<p>Delegates leave the hall after the talks (Picture: Ledger)</p>" + paragraphs_html(STORY_A[3:]))
    article = extract_page(raw(page(body_html=body)), SETTINGS).article
    assert article is not None
    assert "Huge day for the valley" not in article.body
    assert "Follow us" not in article.body and "(Picture:" not in article.body
    assert article.body.split("\n\n") == STORY_A


def test_a_headline_repeated_at_the_top_is_not_body() -> None:
    body = "<p>Talks on river treaty to resume after two-year pause</p>" + paragraphs_html(STORY_A)
    article = extract_page(raw(page(body_html=body)), SETTINGS).article
    assert article is not None and article.body.split("\n\n")[0] == STORY_A[0]
