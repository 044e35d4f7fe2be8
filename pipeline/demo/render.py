"""Turn the article data into what a real news site serves: pages, a feed, sitemaps, robots.txt.

Every function is pure: data and the site's base URL in, text out. The article
page carries the metadata extraction reads first (JSON-LD, OpenGraph, canonical)
and the boilerplate it must strip (share bar, caption, related stories,
newsletter box, footer), so the pipeline is tested against a realistic page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime as rfc822
from html import escape
from xml.sax.saxutils import escape as xml_escape

from pipeline.demo.catalog import OUTLETS, DemoArticle, Outlet

WORLD_SECTION = "World"
FEED_SIZE = 20  # items in the RSS feed, newest first, like most newsroom feeds
NAV_SECTIONS = (("World", "/world/"), ("Sport", "/sport/"), ("Metro", "/metro/"))


def article_url(base_url: str, article: DemoArticle) -> str:
    return base_url.rstrip("/") + article.path


def image_url(base_url: str, article: DemoArticle) -> str:
    return f"{base_url.rstrip('/')}/images/{article.slug}.jpg"


def iso(value: datetime) -> str:
    return value.isoformat()


def byline(authors: Sequence[str]) -> str:
    """'By A', 'By A and B', 'By A, B and C', as the desk writes it."""
    if len(authors) <= 1:
        return f"By {''.join(authors)}"
    return f"By {', '.join(authors[:-1])} and {authors[-1]}"


def display_time(value: datetime) -> str:
    offset = value.strftime("%z")
    return f"{value:%B} {value.day}, {value:%Y}, {value:%H:%M} (UTC{offset[:3]}:{offset[3:]})"


# ---------------------------------------------------------------- article pages


def article_page(base_url: str, article: DemoArticle, related: Sequence[DemoArticle]) -> str:
    url = article_url(base_url, article)
    head = _article_head(base_url, article, url)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
{head}
</head>
<body class="article-page">
{_site_header(article.outlet)}
<main id="content">
<article class="story" itemscope itemtype="https://schema.org/NewsArticle">
<header class="story-header">
<p class="kicker"><a href="/{article.section.lower()}/">{escape(article.section)}</a></p>
<h1 class="headline">{escape(article.title)}</h1>
<p class="standfirst">{escape(article.summary)}</p>
<p class="byline">{_byline_html(article.authors)}</p>
<p class="dateline">{_time(article.published)}{_updated(article)}</p>
</header>
{_share_bar(url, article.title)}
<figure class="lead-image">
<img src="{image_url(base_url, article)}" alt="{escape(article.title)}" width="1200" height="675">
<figcaption>{escape(_caption(article))}
<span class="credit">Photo: {escape(article.outlet.name)} archive</span></figcaption>
</figure>
<div class="story-body" itemprop="articleBody">
{_paragraphs(article.body)}
</div>
<p class="tags">Filed under: {", ".join(escape(k) for k in article.keywords)}</p>
</article>
{_newsletter_box(article.outlet)}
{_related_box(base_url, related)}
</main>
{_site_footer(article.outlet)}
</body>
</html>
"""


def _article_head(base_url: str, article: DemoArticle, url: str) -> str:
    title = escape(article.title, quote=True)
    summary = escape(article.summary, quote=True)
    tags = "\n".join(f'<meta property="article:tag" content="{escape(k, quote=True)}">' for k in article.keywords)
    return f"""<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} | {escape(article.outlet.name)}</title>
<meta name="description" content="{summary}">
<meta name="author" content="{escape(", ".join(article.authors), quote=True)}">
<meta name="keywords" content="{escape(", ".join(article.keywords), quote=True)}">
<link rel="canonical" href="{url}">
<meta property="og:type" content="article">
<meta property="og:site_name" content="{escape(article.outlet.name, quote=True)}">
<meta property="og:title" content="{title}">
<meta property="og:description" content="{summary}">
<meta property="og:url" content="{url}">
<meta property="og:image" content="{image_url(base_url, article)}">
<meta property="article:published_time" content="{iso(article.published)}">
<meta property="article:modified_time" content="{iso(article.modified)}">
<meta property="article:section" content="{escape(article.section, quote=True)}">
{tags}
<script type="application/ld+json">
{json_ld(base_url, article)}
</script>"""


def json_ld_data(base_url: str, article: DemoArticle) -> dict[str, object]:
    url = article_url(base_url, article)
    return {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "url": url,
        "headline": article.title,
        "description": article.summary,
        "image": [image_url(base_url, article)],
        "datePublished": iso(article.published),
        "dateModified": iso(article.modified),
        "author": [{"@type": "Person", "name": name} for name in article.authors],
        "publisher": {"@type": "Organization", "name": article.outlet.name},
        "articleSection": article.section,
        "keywords": list(article.keywords),
        "inLanguage": "en",
    }


def json_ld(base_url: str, article: DemoArticle) -> str:
    # "</" must not close the script element early; JSON allows the escaped slash.
    return json.dumps(json_ld_data(base_url, article), indent=2, ensure_ascii=False).replace("</", "<\\/")


def _byline_html(authors: Sequence[str]) -> str:
    links = [f'<a rel="author" class="author" href="/authors/{_slugify(a)}/">{escape(a)}</a>' for a in authors]
    if len(links) <= 1:
        return "By " + "".join(links)
    return "By " + ", ".join(links[:-1]) + " and " + links[-1]


def _updated(article: DemoArticle) -> str:
    if article.modified == article.published:
        return ""
    return f" · Updated {_time(article.modified)}"


def _time(value: datetime) -> str:
    return f'<time datetime="{iso(value)}">{display_time(value)}</time>'


def _caption(article: DemoArticle) -> str:
    return article.caption or f"{article.section} desk: file image accompanying “{article.title}”."


def _paragraphs(paragraphs: Iterable[str]) -> str:
    return "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)


def _share_bar(url: str, title: str) -> str:
    quoted = escape(url, quote=True)
    return f"""<div class="share-bar" aria-label="Share this story">
<span>Share this story</span>
<a class="share share-facebook" href="https://www.facebook.com/sharer/sharer.php?u={quoted}">Facebook</a>
<a class="share share-twitter" href="https://twitter.com/intent/tweet?url={quoted}">Twitter</a>
<a class="share share-email" href="mailto:?subject={escape(title, quote=True)}&amp;body={quoted}">Email</a>
<button class="share share-copy" type="button">Copy link</button>
</div>"""


def _newsletter_box(outlet: Outlet) -> str:
    return f"""<aside class="newsletter-signup">
<h2>The Diplomatic Pouch</h2>
<p>Sign up for our free daily newsletter: the day's summits, sanctions and treaties,
in your inbox before breakfast.</p>
<form action="/newsletter/subscribe" method="post">
<label for="email">Email address</label>
<input id="email" name="email" type="email" placeholder="you@example.com">
<button type="submit">Subscribe</button>
</form>
<p class="small">By subscribing you agree to {escape(outlet.name)}'s terms and privacy policy.
Unsubscribe at any time.</p>
</aside>"""


def _related_box(base_url: str, related: Sequence[DemoArticle]) -> str:
    items = "\n".join(f'<li><a href="{article_url(base_url, r)}">{escape(r.title)}</a></li>' for r in related)
    return f"""<aside class="related-stories">
<h2>Related stories</h2>
<ul>
{items}
</ul>
</aside>"""


def _site_header(outlet: Outlet) -> str:
    links = "\n".join(f'<li><a href="{href}">{name}</a></li>' for name, href in NAV_SECTIONS)
    return f"""<header class="site-header">
<a class="logo" href="/">{escape(outlet.name)}</a>
<nav class="site-nav" aria-label="Sections">
<ul>
<li><a href="/">Home</a></li>
{links}
</ul>
</nav>
<a class="subscribe-link" href="/newsletter/">Newsletters</a>
</header>"""


def _site_footer(outlet: Outlet) -> str:
    return f"""<footer class="site-footer">
<p>&copy; 2015 {escape(outlet.name)}. All rights reserved.
A fictional publication written for the Chancery demo.</p>
<ul>
<li><a href="/about/">About us</a></li>
<li><a href="/contact/">Contact</a></li>
<li><a href="/privacy/">Privacy policy</a></li>
<li><a href="/terms/">Terms of use</a></li>
<li><a href="/feeds/world.xml">RSS</a></li>
</ul>
</footer>"""


def _slugify(name: str) -> str:
    return "-".join("".join(c for c in word.lower() if c.isalnum()) for word in name.split())


def related_articles(article: DemoArticle, articles: Sequence[DemoArticle], limit: int = 4) -> list[DemoArticle]:
    """Other articles sharing the most keywords: what a CMS puts in the 'Related stories' box."""
    shared = [(len(set(article.keywords) & set(other.keywords)), other) for other in articles if other != article]
    ranked = sorted((pair for pair in shared if pair[0] > 0), key=lambda p: (-p[0], p[1].slug))
    return [other for _, other in ranked[:limit]]


# ---------------------------------------------------------------- section fronts and home


def section_page(base_url: str, title: str, path: str, articles: Sequence[DemoArticle]) -> str:
    """A list of links with one-line teasers: a page extraction must mark as not an article."""
    outlet = OUTLETS["gazette"]
    items = "\n".join(
        f'<li><a href="{article_url(base_url, a)}">{escape(a.title)}</a> '
        f'<time datetime="{iso(a.published)}">{a.published:%d %b %Y}</time></li>'
        for a in sorted(articles, key=lambda a: a.published_utc, reverse=True)
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} | {escape(outlet.name)}</title>
<meta name="description" content="{escape(title)} news from {escape(outlet.name)}.">
<meta property="og:type" content="website">
<link rel="canonical" href="{base_url.rstrip("/")}{path}">
<link rel="alternate" type="application/rss+xml" title="World" href="/feeds/world.xml">
</head>
<body class="section-front">
{_site_header(outlet)}
<main id="content">
<h1>{escape(title)}</h1>
<ul class="story-list">
{items}
</ul>
</main>
{_site_footer(outlet)}
</body>
</html>
"""


# ---------------------------------------------------------------- feed, sitemaps, robots


def rss_feed(base_url: str, articles: Sequence[DemoArticle]) -> str:
    """RSS 2.0 of the newest FEED_SIZE World articles, with pubDate, dc:creator and a description."""
    base = base_url.rstrip("/")
    world = [a for a in articles if a.section == WORLD_SECTION]
    newest = sorted(world, key=lambda a: a.published_utc, reverse=True)[:FEED_SIZE]
    items = "\n".join(_rss_item(base_url, a) for a in newest)
    build = max((a.modified for a in newest), default=datetime(2015, 1, 1, tzinfo=UTC))
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
<title>The Chancery Gazette: World</title>
<link>{base}/world/</link>
<description>{xml_escape(OUTLETS["gazette"].description)}</description>
<language>en</language>
<lastBuildDate>{rfc822(build)}</lastBuildDate>
<atom:link href="{base}/feeds/world.xml" rel="self" type="application/rss+xml"/>
{items}
</channel>
</rss>
"""


def _rss_item(base_url: str, article: DemoArticle) -> str:
    url = article_url(base_url, article)
    creators = "\n".join(f"<dc:creator>{xml_escape(a)}</dc:creator>" for a in article.authors)
    categories = "\n".join(f"<category>{xml_escape(k)}</category>" for k in article.keywords)
    return f"""<item>
<title>{xml_escape(article.title)}</title>
<link>{url}</link>
<guid isPermaLink="true">{url}</guid>
<pubDate>{rfc822(article.published)}</pubDate>
{creators}
<description>{xml_escape(article.summary)}</description>
{categories}
</item>"""


def month_keys(articles: Iterable[DemoArticle]) -> list[str]:
    return sorted({f"{a.day:%Y-%m}" for a in articles})


def sitemap_index(base_url: str, articles: Sequence[DemoArticle]) -> str:
    base = base_url.rstrip("/")
    entries = [(f"{base}/sitemaps/news.xml", _latest(articles))]
    for month in month_keys(articles):
        in_month = [a for a in articles if f"{a.day:%Y-%m}" == month]
        entries.append((f"{base}/sitemaps/{month}.xml", _latest(in_month)))
    body = "\n".join(
        f"<sitemap><loc>{loc}</loc><lastmod>{iso(lastmod)}</lastmod></sitemap>" for loc, lastmod in entries
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
{body}
</sitemapindex>
"""


def news_sitemap(base_url: str, articles: Sequence[DemoArticle]) -> str:
    """A Google News sitemap listing every article with its publication date, title and keywords."""
    entries = "\n".join(_news_entry(base_url, a) for a in sorted(articles, key=lambda a: a.published_utc))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
{entries}
</urlset>
"""


def _news_entry(base_url: str, article: DemoArticle) -> str:
    return f"""<url>
<loc>{article_url(base_url, article)}</loc>
<lastmod>{iso(article.modified)}</lastmod>
<news:news>
<news:publication><news:name>{xml_escape(article.outlet.name)}</news:name><news:language>en</news:language></news:publication>
<news:publication_date>{iso(article.published)}</news:publication_date>
<news:title>{xml_escape(article.title)}</news:title>
<news:keywords>{xml_escape(", ".join(article.keywords))}</news:keywords>
</news:news>
</url>"""


def month_sitemap(base_url: str, articles: Sequence[DemoArticle], month: str) -> str:
    in_month = sorted((a for a in articles if f"{a.day:%Y-%m}" == month), key=lambda a: a.published_utc)
    entries = "\n".join(
        f"<url><loc>{article_url(base_url, a)}</loc><lastmod>{iso(a.modified)}</lastmod></url>" for a in in_month
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
{entries}
</urlset>
"""


def robots_txt(base_url: str) -> str:
    return f"User-agent: *\nAllow: /\n\nSitemap: {base_url.rstrip('/')}/sitemap.xml\n"


def _latest(articles: Iterable[DemoArticle]) -> datetime:
    return max((a.modified for a in articles), default=datetime(2015, 1, 1, tzinfo=UTC))
