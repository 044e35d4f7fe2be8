"""Briefs: a short page that something marks as an article is kept and marked ``brief``, never dropped.

Short pages that nothing marks as an article, soft 404s, walls and fronts are still rejected
with a named reason. Every page and text here is written for these tests.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from extract_pages import STORY_A, jsonld_script, page, paragraphs_html, raw

from pipeline.config import Settings, SettingsError, load_settings
from pipeline.extract import extract_page
from pipeline.models import Article
from pipeline.outcomes import Outcome, StageResult

SETTINGS = Settings()

# 40 words: a rate decision, the kind of item a wire sends as a two-sentence brief.
BRIEF = ("The central bank of a small coastal state left its main interest rate unchanged at 4.5 percent on "
         "Thursday, as most economists had expected. It said the risks to inflation and growth over the whole "
         "coming year were broadly balanced.")
# 70 words in three paragraphs: a short news item of the kind the nightly run fetches.
ITEM = [
    "The foreign ministers of two neighbouring states met on Friday at a busy border crossing and agreed to "
    "reopen it to trade early next month.",
    "Officials said customs teams would work in shifts, and that trucks carrying food and medicine would be "
    "cleared there first.",
    "The crossing was closed last spring after a long dispute over fishing rights, which both sides now say "
    "will go to arbitration before the summer.",
]
HEADLINE = "Central bank leaves its main rate unchanged"
NEWS_ARTICLE = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": HEADLINE,
                "datePublished": "2026-03-03T09:15:00Z"}


def _kept(result: StageResult) -> Article:
    assert result.outcome is Outcome.PROCESSED, (result.outcome, result.reason)
    assert result.article is not None
    return result.article


def _rejected(result: StageResult, reason: str) -> None:
    assert result.article is None
    assert (result.outcome, result.reason) == (Outcome.NOT_ARTICLE, reason)


def _bare(body: str, head: str = "", title: str = HEADLINE) -> str:
    """A page with no <article> element, no JSON-LD and no OpenGraph unless ``head`` adds them."""
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>{head}</head>
<body><div class="nav"><a href="/">Home</a> <a href="/world">World</a></div>
<div class="content">{body}</div><div class="foot"><p>Copyright The Daily Ledger.</p></div></body></html>"""


def test_a_forty_word_brief_with_article_json_ld_is_kept_and_marked_brief() -> None:
    assert len(BRIEF.split()) == 40
    html = page(title=HEADLINE, head=jsonld_script(NEWS_ARTICLE), paragraphs=[BRIEF])
    article = _kept(extract_page(raw(html), SETTINGS))
    assert article.brief is True
    assert article.methods["brief"] == "jsonld"
    assert article.body == BRIEF  # the headline trafilatura glues to a short text is not part of it
    assert article.word_count == 40
    assert article.title == HEADLINE
    assert article.to_dict()["brief"] is True


@pytest.mark.parametrize(("signal", "html"), [
    ("og:type", _bare(f"<h1>{HEADLINE}</h1><p>{BRIEF}</p>", head='<meta property="og:type" content="article">')),
    ("article-element", _bare(f"<article><h1>{HEADLINE}</h1><p>{BRIEF}</p></article>")),
    ("headline+date", _bare(f'<h1>{HEADLINE}</h1><time datetime="2026-03-03T09:15:00Z">3 March</time><p>{BRIEF}</p>')),
    # A wire record from an archive: its headline and a 1987 date mark it.
    ("headline+date", _bare(f'<h1>{HEADLINE}</h1><time datetime="1987-02-26T15:01:01Z">26 Feb 1987</time>'
                            f"<p>{BRIEF}</p>")),
])
def test_every_article_signal_keeps_a_brief(signal: str, html: str) -> None:
    article = _kept(extract_page(raw(html), SETTINGS))
    assert article.brief is True
    assert article.methods["brief"] == signal
    assert BRIEF[:60] in article.body


def test_an_archive_record_keeps_its_stated_1987_date_and_a_placeholder_date_is_dropped() -> None:
    def published(stated: str) -> object:
        html = _bare(f'<h1>{HEADLINE}</h1><time datetime="{stated}">then</time><p>{BRIEF}</p>')
        return _kept(extract_page(raw(html), SETTINGS)).published_at

    kept = published("1987-02-26T15:01:01Z")
    assert kept is not None and kept.isoformat().startswith("1987-02-26")
    fallback = published("1970-01-01T00:00:00Z")  # the Unix epoch: a template's empty date, never the story's
    assert fallback is None or fallback.year != 1970


def test_a_three_paragraph_seventy_word_item_is_kept() -> None:
    assert sum(len(p.split()) for p in ITEM) == 70
    article = _kept(extract_page(raw(page(head=jsonld_script(NEWS_ARTICLE), paragraphs=ITEM)), SETTINGS))
    assert article.brief is True
    assert article.body.split("\n\n") == ITEM


def test_a_full_article_is_not_a_brief() -> None:
    article = _kept(extract_page(raw(page(head=jsonld_script(NEWS_ARTICLE))), SETTINGS))
    assert article.brief is False
    assert "brief" not in article.methods


def test_the_brief_threshold_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no chancery.toml of the working directory
    assert load_settings(environ={"CHANCERY_EXTRACT_BRIEF_BELOW_WORDS": "30"}).extract.brief_below_words == 30
    with pytest.raises(SettingsError, match="min_words"):  # the old name fails loudly, never silently ignored
        load_settings(environ={"CHANCERY_EXTRACT_MIN_WORDS": "80"})
    lower = dataclasses.replace(SETTINGS, extract=dataclasses.replace(SETTINGS.extract, brief_below_words=30))
    html = page(title=HEADLINE, head=jsonld_script(NEWS_ARTICLE), paragraphs=[BRIEF])
    assert _kept(extract_page(raw(html), lower)).brief is False


def test_a_short_page_with_no_article_signal_is_too_short() -> None:
    # The URL has a date and a slug, as a soft 404 at a broken article link has: the URL is no signal.
    html = _bare("<p>The meeting was postponed until further notice, a spokesperson said on Monday.</p>",
                 title="The Daily Ledger")
    _rejected(extract_page(raw(html), SETTINGS), "too_short")


def test_a_marked_page_without_a_sentence_is_too_short() -> None:
    html = page(head=jsonld_script(NEWS_ARTICLE), paragraphs=["Watch the video"])
    _rejected(extract_page(raw(html), SETTINGS), "too_short")


def test_a_soft_404_is_not_found_even_inside_an_article_element() -> None:
    html = page(title="Page not found", head='<meta property="og:type" content="article">',
                paragraphs=["Sorry, the page you are looking for does not exist or may have been moved."])
    _rejected(extract_page(raw(html), SETTINGS), "not_found")


# -- paywalls ---------------------------------------------------------------------------------


def _not_free(**extra: object) -> str:
    return jsonld_script({**NEWS_ARTICLE, "isAccessibleForFree": False,
                          "hasPart": {"@type": "WebPageElement", "isAccessibleForFree": False,
                                      "cssSelector": ".article-body"}, **extra})


def test_a_complete_short_article_marked_not_free_is_kept() -> None:
    article = _kept(extract_page(raw(page(head=_not_free(), paragraphs=ITEM)), SETTINGS))
    assert article.brief is True
    assert article.body.split("\n\n") == ITEM


def test_a_complete_article_marked_not_free_under_the_stub_size_is_kept_whole() -> None:
    story = STORY_A[:5]  # about 160 words: below the 200 words a paywall teaser may have
    article = _kept(extract_page(raw(page(head=_not_free(), paragraphs=story)), SETTINGS))
    assert article.brief is False
    assert article.body.split("\n\n") == story


def test_a_teaser_with_the_wall_shown_to_the_reader_is_a_paywall() -> None:
    wall = ('<div class="wall"><h2>This article is for subscribers only</h2>'
            "<p>Subscribe to continue reading. Already a subscriber? Log in.</p></div>")
    html = page(head=jsonld_script(NEWS_ARTICLE), body_html=paragraphs_html(STORY_A[:1]) + wall)
    _rejected(extract_page(raw(html), SETTINGS), "paywall")


def test_a_teaser_much_shorter_than_its_stated_length_is_a_paywall() -> None:
    # No wall wording in the HTML (a script draws it); JSON-LD says not free and 900 words.
    html = page(head=_not_free(wordCount=900), paragraphs=STORY_A[:2])
    _rejected(extract_page(raw(html), SETTINGS), "paywall")


def test_a_not_free_page_whose_json_ld_holds_the_whole_text_is_kept_whole() -> None:
    # The page shows a teaser but carries the whole text in its markup: that text is the body.
    html = page(head=_not_free(articleBody="\n".join(STORY_A)), paragraphs=STORY_A[:1])
    article = _kept(extract_page(raw(html), SETTINGS))
    assert article.methods["body"] == "jsonld"
    assert article.body.split("\n\n") == STORY_A


def test_subscription_wording_in_the_site_header_or_a_script_does_not_make_a_brief_a_paywall() -> None:
    header = ('<header><a href="/subscribe">Already a subscriber? Sign in</a></header>'
              '<script>var wall = {"title": "Subscribe to continue reading"};</script>')
    html = page(head=_not_free(), before_article=header, paragraphs=[BRIEF])
    assert _kept(extract_page(raw(html), SETTINGS)).brief is True


# -- walls and fronts that stay rejected ---------------------------------------------------------


def test_a_brief_is_not_a_consent_wall_for_its_cookie_banner_or_its_words() -> None:
    banner = ('<div class="cookie-banner"><p>We use cookies.</p><button>Accept all</button>'
              "<button>Reject all</button></div>")
    text = ("Regulators told three websites on Tuesday to let visitors reject all tracking with one click, "
            "and gave them until the end of the month to change their forms.")
    html = page(head=jsonld_script(NEWS_ARTICLE), after_article=banner, paragraphs=[text])
    assert _kept(extract_page(raw(html), SETTINGS)).brief is True


def test_a_consent_dialog_is_a_consent_wall_even_on_a_page_marked_as_an_article() -> None:
    dialog = ("We value your privacy. We and our partners store and access information on your device, such "
              "as cookies, and process personal data to show you this page.")
    html = page(head='<meta property="og:type" content="article">', paragraphs=[dialog])
    _rejected(extract_page(raw(html), SETTINGS), "consent_wall")


def test_a_brief_on_a_page_with_an_injected_challenge_script_is_kept() -> None:
    script = "<script>a.src='/cdn-cgi/challenge-platform/h/b/scripts/jsd/1234/main.js';</script>"
    html = page(head=jsonld_script(NEWS_ARTICLE) + script, paragraphs=[BRIEF])
    assert _kept(extract_page(raw(html), SETTINGS)).brief is True


def test_a_section_front_of_article_teasers_with_times_is_still_a_section_front() -> None:
    teasers = "".join(
        f'<article class="teaser"><h3><a href="/world/2026/03/0{i % 9 + 1}/story-{i}">Headline number {i} about '
        f'world affairs</a></h3><time datetime="2026-03-0{i % 9 + 1}T08:00:00Z">{i % 9 + 1} March</time></article>'
        for i in range(20)
    )
    html = f"""<html lang="en"><head><title>World | The Daily Ledger</title>
    <meta property="og:title" content="World"></head>
    <body><main><h1>World</h1>{teasers}</main></body></html>"""
    _rejected(extract_page(raw(html, url="https://www.dailyledger.test/world"), SETTINGS), "section_front")
