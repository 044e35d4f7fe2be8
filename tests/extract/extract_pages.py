"""HTML pages written for these tests (no publisher's page or text is copied here).

``page()`` assembles a news page from parts, so each test states only what it is about.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pipeline.models import RawPage

FETCHED = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)

STORY_A = [
    "Foreign ministers from twelve countries agreed on Tuesday to resume talks on a regional water-sharing "
    "treaty after a two-year pause, officials said, in a step that diplomats described as modest but overdue.",
    "The agreement, reached after eleven hours of negotiation in a conference hall on the lake shore, commits "
    "the parties to a first technical round in March and to a ministerial review before the end of the year.",
    "Delegates said the hardest question remained how to share the river during dry summers, when upstream "
    "reservoirs hold back water that farms and cities further south depend on for irrigation and drinking.",
    "A senior negotiator, speaking on condition of anonymity because the talks were private, said the mood "
    "had changed once both sides accepted an independent survey of the river basin as a common baseline.",
    "Observers from two development banks attended the meeting and offered to finance new measuring stations "
    "along the main channel, so that every government would read the same figures at the same time.",
    "Civil society groups welcomed the restart but warned that communities living along the river had not "
    "been consulted and that any deal would fail unless fishermen and farmers had a voice in its design.",
    "The chair of the meeting told reporters that a draft text could be ready within six months if the "
    "technical teams kept their pace, and that the next session would take place in the capital of the host.",
    "The previous round of negotiations collapsed two years ago over a dispute about a dam built without "
    "notice, which downstream states said had cut the flow of the river by a third during the dry season.",
]

STORY_B = [
    "The trade envoy of a small island state arrived in the capital on Monday for a week of meetings on "
    "fishing rights, hoping to settle a quarrel over licences that has simmered since the spring.",
    "Her delegation brought a proposal to cap the number of foreign trawlers in its waters and to share the "
    "income from licences with coastal villages that say their catches have fallen for a decade.",
    "Officials in the ministry of agriculture said they would study the plan but cautioned that any cap had "
    "to respect existing contracts signed with companies that have invested in new cold-storage plants.",
    "The envoy also met members of parliament and representatives of the tuna industry, who argued that "
    "scientific stock assessments, not political bargaining, should decide how much fish can be taken.",
    "A joint statement is expected on Friday. Diplomats on both sides said privately that an interim "
    "arrangement for the coming season was more likely than a full agreement before the summer.",
    "Environmental groups used the visit to call for a marine reserve around the island's southern reef, "
    "where divers have reported bleached coral and fewer sharks than in any survey of the past twenty years.",
]

# A German article body (written for these tests) for language detection.
GERMAN = [
    "Die Außenminister mehrerer Nachbarstaaten haben sich am Dienstag darauf geeinigt, die Gespräche über "
    "ein gemeinsames Abkommen zur Nutzung des Flusswassers nach zwei Jahren Pause wieder aufzunehmen.",
    "Nach elf Stunden Verhandlungen verpflichteten sich die Teilnehmer zu einer ersten technischen Runde im "
    "März und zu einer Überprüfung auf Ministerebene noch vor dem Ende des Jahres, hieß es aus Delegationskreisen.",
    "Umstritten bleibt vor allem die Frage, wie das Wasser in trockenen Sommern verteilt werden soll, wenn "
    "die Stauseen flussaufwärts das Wasser zurückhalten, auf das Landwirte und Städte im Süden angewiesen sind.",
]


def paragraphs_html(paragraphs: list[str]) -> str:
    return "\n".join(f"<p>{p}</p>" for p in paragraphs)


def jsonld_script(data: Any) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def page(
    *,
    title: str = "Talks on river treaty to resume after two-year pause",
    head: str = "",
    body_html: str | None = None,
    paragraphs: list[str] | None = None,
    lang: str = "en",
    before_article: str = "",
    after_article: str = "",
) -> str:
    """A complete news page: header and navigation, one article, related links and a footer."""
    text = body_html if body_html is not None else paragraphs_html(paragraphs if paragraphs is not None else STORY_A)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title} | The Daily Ledger</title>
<meta property="og:site_name" content="The Daily Ledger">
{head}
</head>
<body>
<header><nav><ul>
<li><a href="/world">World</a></li><li><a href="/politics">Politics</a></li><li><a href="/business">Business</a></li>
</ul></nav></header>
<main>
{before_article}
<article>
<h1>{title}</h1>
<div class="article-body">
{text}
</div>
</article>
{after_article}
<aside class="related"><h3>Related</h3><ul><li><a href="/world/other-story">Another story</a></li></ul></aside>
</main>
<footer><p>Copyright The Daily Ledger. All rights reserved.</p></footer>
</body>
</html>"""


def raw(html: str | bytes, url: str = "https://www.dailyledger.test/world/2026/03/03/river-talks",
        content_type: str | None = "text/html; charset=utf-8") -> RawPage:
    content = html.encode("utf-8") if isinstance(html, str) else html
    return RawPage(url=url, content=content, content_type=content_type, fetched_at=FETCHED)
