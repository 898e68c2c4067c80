"""`sluice sample-crawl --output DIR --pages N --seed S [--files K]`: a realistic crawl with its ground truth.

Writes K WARC/1.1 files `DIR/sample-00000.warc.gz`, ... (default K = max(2, ceil(N / 100))), one gzip member per
record as crawlers write them: a `warcinfo` record, then a `request` and a `response` record per fetch. Articles
are real prose (see `demo.text`) inside site chrome: navigation, cookie banner, byline, share buttons,
related posts, comments, ads, newsletter box, footer, inline CSS and JavaScript (20-60 KB of HTML a page). Around
them: exact duplicates (same body at another URL), near duplicates (word or sentence edits at rates 1-30 %),
spam, keyword lists, junk (soft 404, login wall, redirect, empty body, ...), non-HTML responses (PNG, PDF, JSON,
robots.txt, sitemap) and articles in seven more languages and eleven charsets, some declared only in <meta>, one
Latin-1 page declared as UTF-8, a few served with Content-Encoding: gzip. The last file is malformed on purpose:
two records with a wrong WARC Content-Length (one too long, one too short) and a truncated gzip member at its
end; every other file is well-formed. Same seed and same installation (Python version, OS gettext catalogs) ->
byte-identical output: WARC-Date, record ids and every choice derive from the seed, gzip members carry mtime 0.

`DIR/labels.jsonl` holds one JSON object per response record ("page"), in crawl order:
    url, record_id, warc_file, warc_offset (offset of the response's gzip member), fetch_time, http_status,
    content_type     MIME type without parameters
    kind             article | duplicate | near_duplicate | spam | keyword_list | junk | non_html | broken
    subtype          utm/amp/mirror/print/http/ref (duplicate), same_site/other_site (near_duplicate),
                     keyword_stuffing/word_salad/link_farm (spam), tag_cloud/popular_searches/comma_list,
                     soft_404/not_found_404/js_shell/parked/login_wall/access_denied/redirect/empty (junk),
                     png/pdf/json/robots_txt/sitemap_xml (non_html), content_length_too_long/
                     content_length_too_short/truncated_gzip (broken); "" for articles
    quality          "good" (article, duplicate, near_duplicate) | "bad" (spam, keyword_list, junk) | null
    language         ISO 639-1 code of the text; null where there is none (non_html, broken, empty body)
    category         one of demo.text.CATEGORIES for articles and their copies, else null
    web_type         the page's type (`web_type`): article (blog and news sites), reference (docs sites), listing
                     (keyword lists, link farms), spam, other (junk pages); null for non-HTML and broken records
    title            the article's <h1> (also in <title>), or the page's title; null when there is none
    charset          encoding of the HTML bytes (lowercase web label); null for non-HTML
    declared_charset what the HTTP header and/or <meta> claim; null when undeclared; differs from `charset` on
                     the mislabelled page
    charset_declared_in  "header+meta" | "header" | "meta" | "none"; null for non-HTML
    content_encoding "gzip" when the HTTP body is gzip-compressed, else null
    duplicate_of, duplicate_of_url   record id and URL of the original (duplicate, near_duplicate)
    edit_mode, edit_rate, jaccard_5gram   near duplicates: "words" | "sentences", the per-unit edit probability,
                     and the Jaccard similarity of word 5-gram sets (character 5-grams for zh/ja) to the original
    text_sources     where the article text was read, e.g. ["pydoc:for", "stdlib:socket.socket"]
    article_lines    main-content lines exactly as inserted (paragraphs, list items, code lines; not the title)
    clutter_lines    [{"kind", "text"}]: every boilerplate line inserted around or inside the main content;
                     kinds: nav, cookie, breadcrumb, byline, share, related, comment, ad, promo, newsletter, footer
    record_intact    false for the three broken records
`DIR/crawl.json` sums it up: the files (pages, records, bytes, well_formed) and the counts per kind, language,
charset and category.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import io
import json
import math
import random
import re
import string
import struct
import sys
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from demo import text as st
from demo.text import UTF8, Article, Charset

KINDS = ("article", "duplicate", "near_duplicate", "spam", "keyword_list", "junk", "non_html", "broken")
QUALITY = {"article": "good", "duplicate": "good", "near_duplicate": "good", "spam": "bad", "keyword_list": "bad",
           "junk": "bad"}
SPAM_KINDS = ("keyword_stuffing", "word_salad", "link_farm")
KEYWORD_KINDS = ("tag_cloud", "popular_searches", "comma_list")
NON_HTML_KINDS = ("png", "pdf", "json", "robots_txt", "sitemap_xml")
DUPLICATE_URLS = ("utm", "amp", "mirror", "print", "http", "ref")
# Share of the crawl per kind, and the least any crawl gets so that a small test crawl has every subtype.
KIND_SHARE = {"duplicate": (0.07, len(DUPLICATE_URLS)), "near_duplicate": (0.09, 10), "spam": (0.04, len(SPAM_KINDS)),
              "keyword_list": (0.03, len(KEYWORD_KINDS)), "junk": (0.05, len(st.JUNK_PAGES)),
              "non_html": (0.04, len(NON_HTML_KINDS))}
BROKEN = ("content_length_too_long", "content_length_too_short", "truncated_gzip")
MIN_PAGES = 80  # the least that holds every kind, subtype, language, charset and category
# Per-unit edit probabilities: a word edit touches five 5-gram shingles, a sentence edit many more.
EDIT_RATES = {"words": (0.005, 0.01, 0.02, 0.05, 0.1), "sentences": (0.03, 0.08, 0.15, 0.3, 0.5)}
CATEGORY_WEIGHTS = (0.3, 0.09, 0.15, 0.12, 0.12, 0.1, 0.12)  # demo.text.CATEGORIES order; unbalanced on purpose
USER_AGENT = "SluiceSampleBot/0.1 (+https://sluice.invalid/bot)"
SERVERS = ("nginx/1.24.0", "Apache/2.4.58 (Debian)", "cloudflare", "LiteSpeed", "Microsoft-IIS/10.0")
CRAWL_START = datetime(2024, 3, 4, 6, 0, 0, tzinfo=UTC)
SITES: dict[str, tuple[str, ...]] = {
    "en": ("pyref-notes.net", "thecodingdesk.com", "dailydevnews.com", "stackpile.io", "learnbytes.org"),
    "de": ("programmier-ecke.de", "technik-tagebuch.de"), "fr": ("le-coin-du-code.fr", "devnouvelles.fr"),
    "es": ("rincondelcodigo.es", "noticiastecnicas.es"), "ru": ("kod-zametki.ru", "it-novosti.ru"),
    "pl": ("notatki-programisty.pl",), "zh": ("biancheng-biji.cn", "kaifazhe-ribao.cn"),
    "ja": ("kaihatsu-memo.jp", "techno-nikki.jp"),
}
STYLES = ("blog", "news", "docs")  # a site's template: by its position in SITES
SPAM_SITES = ("best-cheap-deals-online.biz", "top-casino-bonus.info", "free-followers-now.xyz")
PARKED_SITE = "great-domain-4sale.com"
UTF8_HEADER = Charset("utf-8", "utf-8", "utf-8", "header")
MIRROR_SITE = "archive-mirror.net"


@dataclass(slots=True, eq=False)  # identity hash: render() caches by page
class Page:
    """One response record as planned: what it is and where it lives; rendering adds the bytes."""

    pid: int
    kind: str
    subtype: str = ""
    lang: str | None = None
    charset: Charset | None = None
    category: str | None = None
    site: str = ""
    url: str = ""
    source: Page | None = None  # the original of a duplicate or near duplicate
    edit_rate: float | None = None
    edit_mode: str | None = None
    content_encoding: str | None = None


@dataclass(slots=True)
class Rendered:
    status: str
    mime: str
    body: bytes
    title: str | None = None
    lines: list[str] | None = None
    clutter: list[dict] | None = None
    sources: list[str] | None = None
    location: str | None = None
    jaccard: float | None = None


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Html:
    """An HTML page under construction that remembers every clutter line it was given."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.clutter: list[dict] = []

    def add(self, *parts: str) -> None:
        self.parts.extend(parts)

    def clut(self, kind: str, text: str) -> str:
        self.clutter.append({"kind": kind, "text": text})
        return _esc(text)

    def text(self) -> str:
        return "".join(self.parts)


def _site_name(site: str) -> str:
    return site.split(".")[0].replace("-", " ").title().replace(" ", "")


def _style(site: str) -> str:
    for sites in SITES.values():
        if site in sites:
            return STYLES[sites.index(site) % len(STYLES)]
    return "blog"


def _ident(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 2)))


@functools.cache
def _site_assets(site: str) -> tuple[str, str, str]:
    """Per-site inline CSS, a minified-looking script bundle and an SVG icon: the weight of real pages."""
    rng = random.Random(f"sample-crawl:assets:{site}")
    parts = ("header", "nav", "menu", "post", "entry", "byline", "share", "related", "comment", "footer", "cookie",
             "ad-slot", "sidebar", "widget", "btn", "card", "grid", "hero", "toc", "badge")
    props = ("margin:{}px {}px", "padding:{}px", "color:#{:06x}", "background:#{:06x}", "font-size:{}px",
             "line-height:1.{}", "border-radius:{}px", "max-width:{}0px", "gap:{}px", "z-index:{}")
    rules = []
    for i in range(rng.randint(160, 320)):
        sel = f".{rng.choice(parts)}-{_ident(rng)}{i}" + rng.choice(("", " a", ":hover", " > li", " .title"))
        decls = ";".join(p.format(*(rng.randint(0, 0xFFFFFF if "#" in p else 64) for _ in range(p.count("{"))))
                         for p in rng.sample(props, rng.randint(2, 5)))
        rules.append(f"{sel}{{{decls}}}")
    funcs = []
    for _ in range(rng.randint(70, 150)):
        f, a, b, c = (_ident(rng) for _ in range(4))
        attr = rng.choice(parts)
        funcs.append(f"function {f}({a},{b}){{var {c}={a}.getAttribute(\"data-{attr}\")||\"\";"
                     f"return {b}&&{b}.length>{rng.randint(2, 99)}?{c}+{b}.slice(0,{rng.randint(2, 40)}):{c}}}")
    script = "!function(){\"use strict\";" + ";".join(funcs) + "}();"
    path = "M" + " ".join(f"{rng.randint(0, 24)}.{rng.randint(0, 99)} {rng.randint(0, 24)}.{rng.randint(0, 99)}"
                          for _ in range(rng.randint(20, 40))) + "z"
    svg = f'<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="{path}"/></svg>'
    return "".join(rules), script, svg


def _head(doc: _Html, page: Page, title: str, description: str, rng: random.Random) -> None:
    cs = page.charset or UTF8
    css, _, _ = _site_assets(page.site)
    meta = ""
    if cs.where in ("meta", "header+meta"):
        meta = (f'<meta http-equiv="Content-Type" content="text/html; charset={cs.declared}">' if _style(page.site)
                == "news" else f'<meta charset="{cs.declared}">')
    ld = json.dumps({"@context": "https://schema.org", "@type": "Article", "headline": title, "url": page.url,
                     "publisher": {"@type": "Organization", "name": _site_name(page.site)}})
    doc.add(f'<!DOCTYPE html>\n<html lang="{page.lang or "en"}">\n<head>\n{meta}\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            f"<title>{_esc(title)} | {_site_name(page.site)}</title>\n",
            f'<meta name="description" content="{_esc(description[:160]).replace(chr(34), "&quot;")}">\n',
            f'<link rel="canonical" href="{page.url}">\n<link rel="stylesheet" href="/static/css/main.'
            f'{rng.getrandbits(32):08x}.css">\n<style>{css}</style>\n',
            f'<script type="application/ld+json">{ld}</script>\n',
            '<script async src="https://www.googletagmanager.com/gtag/js?id=G-SLUICE0001"></script>\n'
            "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
            "gtag('js',new Date());gtag('config','G-SLUICE0001');</script>\n</head>\n")


def _chrome_top(doc: _Html, page: Page, ui: dict, rng: random.Random, vocab: list[str]) -> None:
    doc.add(f'<body class="{_style(page.site)} single">\n')
    if rng.random() < 0.75:
        text, accept, settings = ui["cookie"]
        doc.add('<div id="cookie-consent" class="cookie-banner" role="dialog"><p>', doc.clut("cookie", text),
                '</p><button class="btn-accept">', doc.clut("cookie", accept),
                '</button> <button class="btn-settings">', doc.clut("cookie", settings), "</button></div>\n")
    doc.add(f'<header class="site-header"><a class="logo" href="https://{page.site}/">',
            doc.clut("nav", _site_name(page.site)), '</a>\n<nav class="main-nav" aria-label="Main"><ul>')
    for i, label in enumerate(ui["nav"]):
        doc.add(f'<li class="menu-item"><a href="/{i}/">', doc.clut("nav", label), "</a>")
        if i < 5 and vocab:
            doc.add('<ul class="sub-menu">')
            for word in rng.sample(vocab, min(len(vocab), rng.randint(3, 6))):
                doc.add(f'<li><a href="/topic/{i}/">', doc.clut("nav", word.capitalize()), "</a></li>")
            doc.add("</ul>")
        doc.add("</li>")
    doc.add('</ul></nav><form class="search" role="search"><input type="search" name="q"></form></header>\n')
    if rng.random() < 0.5:
        doc.add('<div class="ad-slot ad-leaderboard"><span class="ad-label">', doc.clut("ad", ui["ad"][0]),
                f'</span><a rel="sponsored" href="https://ads.adnet.invalid/c?id={rng.getrandbits(40):x}">'
                '<img src="/ads/728x90.png" width="728" height="90" alt=""></a></div>\n')


def _chrome_bottom(doc: _Html, page: Page, ui: dict, rng: random.Random) -> None:
    year = CRAWL_START.year
    doc.add('<footer class="site-footer"><ul class="footer-links">')
    for label in ui["footer"][1:]:
        doc.add('<li><a href="/legal/">', doc.clut("footer", label.format(site=_site_name(page.site))), "</a></li>")
    doc.add('</ul><p class="copyright">',
            doc.clut("footer", ui["footer"][0].format(year=year, site=_site_name(page.site))), "</p></footer>\n")
    _, script, _ = _site_assets(page.site)
    doc.add(f"<script>{script}</script>\n</body>\n</html>\n")


def _other_titles(page: Page, rng: random.Random, n: int) -> list[str]:
    pool = st.pool_for(page.lang or "en", page.category)
    return [p.title or " ".join(p.text.split()[:8]) for p in (rng.choice(pool) for _ in range(n))]


def _article_html(page: Page, art: Article, rng: random.Random) -> _Html:
    ui = st.UI[page.lang or "en"]
    style = _style(page.site)
    doc = _Html()
    vocab = st.vocabulary(st.pool_for(page.lang or "en", page.category), 120)
    _head(doc, page, art.title, art.blocks[0][1] if art.blocks else art.title, rng)
    _chrome_top(doc, page, ui, rng, vocab)
    doc.add('<div class="container"><main id="main" class="site-main">\n')
    if style == "docs":
        crumb = f"{ui['nav'][0]} › {ui['nav'][3]} › {art.title}"
        doc.add('<nav class="breadcrumbs">', doc.clut("breadcrumb", crumb), "</nav>\n")
    published = (CRAWL_START - timedelta(days=rng.randint(3, 900))).strftime("%Y-%m-%d")
    byline = ui["byline"].format(author=rng.choice(ui["authors"]), date=published,
                                 minutes=max(1, sum(len(t) for _, t in art.blocks) // 1200))
    doc.add(f'<article id="post-{page.pid}" class="post type-post hentry">\n<header class="entry-header">'
            f'<h1 class="entry-title">{_esc(art.title)}</h1>\n<div class="entry-meta byline">',
            doc.clut("byline", byline), '</div></header>\n<div class="entry-content">\n')
    inline_at = set(rng.sample(range(1, len(art.blocks)), min(len(art.blocks) - 1, rng.randint(0, 2))))
    in_list = False
    for i, (tag, text) in enumerate(art.blocks):
        if i in inline_at:
            which = rng.randrange(3)
            if in_list:
                doc.add("</ul>\n")
                in_list = False
            if which == 0:
                line = ui["inline"][0].format(title=_other_titles(page, rng, 1)[0])
                doc.add('<p class="read-also"><a href="/related/">', doc.clut("related", line), "</a></p>\n")
            elif which == 1:
                doc.add('<div class="ad-inline"><span>', doc.clut("ad", ui["inline"][1]), "</span></div>\n")
            else:
                doc.add('<p class="promo"><em>', doc.clut("promo", ui["inline"][2]), "</em></p>\n")
        if tag == "li" and not in_list:
            doc.add("<ul>\n")
            in_list = True
        elif tag != "li" and in_list:
            doc.add("</ul>\n")
            in_list = False
        if tag == "pre":
            doc.add(f'<pre><code class="language-python">{_esc(text)}</code></pre>\n')
        else:
            doc.add(f"<{tag}>{_esc(text)}</{tag}>\n")
    doc.add("</ul>\n" if in_list else "", '</div>\n<footer class="entry-footer"><div class="share-buttons">',
            '<span class="share-label">', doc.clut("share", ui["share"][0]), "</span>")
    _, _, svg = _site_assets(page.site)
    for label in ui["share"][1:]:
        doc.add(f'<a class="share" href="https://share.invalid/?u={page.url}">{svg}<span>',
                doc.clut("share", label), "</span></a>")
    doc.add("</div></footer>\n</article>\n")
    doc.add('<section class="related-posts"><h3>', doc.clut("related", ui["related"]), "</h3><ul>")
    for title in _other_titles(page, rng, rng.randint(3, 6)):
        doc.add(f'<li><a href="/p/{rng.getrandbits(24)}/">', doc.clut("related", title), "</a></li>")
    doc.add("</ul></section>\n")
    if style != "docs" and rng.random() < 0.7:
        n = rng.randint(1, 6)
        doc.add('<section id="comments" class="comments-area"><h3 class="comments-title">',
                doc.clut("comment", ui["comments"].format(n=n)), '</h3><ol class="comment-list">')
        for _ in range(n):
            when = (CRAWL_START - timedelta(days=rng.randint(0, 60))).strftime("%Y-%m-%d")
            doc.add('<li class="comment"><div class="comment-meta">',
                    doc.clut("comment", f"{rng.choice(ui['authors'])} · {when}"), '</div><div class="comment-content">'
                    "<p>", doc.clut("comment", rng.choice(ui["comment_bodies"])), '</p></div><a class="reply">',
                    doc.clut("comment", ui["reply"]), "</a></li>")
        doc.add('</ol><div id="respond"><h3>', doc.clut("comment", ui["leave"]), "</h3><textarea></textarea></div>"
                "</section>\n")
    doc.add("</main>\n")
    if style != "blog" or rng.random() < 0.5:
        head, text, button = ui["newsletter"]
        doc.add('<aside class="sidebar"><div class="widget newsletter"><h3>', doc.clut("newsletter", head), "</h3><p>",
                doc.clut("newsletter", text), "</p><button>", doc.clut("newsletter", button), "</button></div>",
                '<div class="widget ad-slot"><span>', doc.clut("ad", ui["ad"][1]), "</span><p>",
                doc.clut("ad", ui["ad"][2]), "</p></div></aside>\n")
    doc.add("</div>\n")
    _chrome_bottom(doc, page, ui, rng)
    return doc


def _article(page: Page, seed: int) -> Article:
    rng = random.Random(f"sample-crawl:article:{seed}:{page.pid}")
    return st.make_article(rng, page.lang or "en", page.category, page.charset or UTF8)


def _simple_html(doc: _Html, page: Page, title: str, main: str, rng: random.Random, chrome: bool) -> None:
    """A page of one kind of main content, with the site's chrome or without any."""
    ui = st.UI.get(page.lang or "en", st.UI["en"])
    _head(doc, page, title, title, rng)
    if chrome:
        _chrome_top(doc, page, ui, rng, [])
    else:
        doc.add("<body>\n")
    doc.add(f'<main class="content"><h1>{_esc(title)}</h1>\n{main}</main>\n')
    if chrome:
        _chrome_bottom(doc, page, ui, rng)
    else:
        doc.add("</body>\n</html>\n")


def _spam(page: Page, rng: random.Random) -> tuple[str, list[str], str]:
    kws = rng.sample(st.SPAM_KEYWORDS, 3)

    def fill(template: str) -> str:
        return template.format(kw=kws[0], kw2=kws[1], kw3=kws[2], n=rng.randint(2, 90), year=CRAWL_START.year,
                               city=rng.choice(st.SPAM_CITIES))

    if page.subtype == "link_farm":
        lines = [fill(rng.choice(("{kw} {city}", "cheap {kw2} {n}"))) for _ in range(rng.randint(40, 90))]
        main = "<ul class=\"links\">" + "".join(f'<li><a href="https://{SPAM_SITES[i % 3]}/go/{i}">{_esc(x)}</a></li>'
                                                for i, x in enumerate(lines)) + "</ul>\n"
    else:
        lines = []
        for _ in range(rng.randint(4, 9)):
            if page.subtype == "word_salad":  # "spun" text: real words in a shuffled order, keywords stuffed in
                words = rng.choice(st.english_pool("networking")).text.split()
                rng.shuffle(words)
                for j in range(0, len(words), 7):
                    words.insert(j, kws[j % 3])
                lines.append(" ".join(words))
            else:
                lines.append(" ".join(fill(rng.choice(st.SPAM_TEMPLATES)) for _ in range(rng.randint(3, 8))))
        main = "".join(f"<p>{_esc(x)}</p>\n" for x in lines)
    hidden = " ".join(rng.choice(kws) for _ in range(200))
    main += f'<div style="display:none">{_esc(hidden)}</div>\n'  # hidden from readers, not from extractors
    lines.append(hidden)
    return fill("Best {kw} online {year} - {kw2} - {kw3}"), lines, main


def _keywords(page: Page, rng: random.Random) -> tuple[str, list[str], str]:
    vocab = st.vocabulary(st.pool_for(page.lang or "en", None), 800)
    words = rng.sample(vocab, min(len(vocab), rng.randint(60, 200)))
    title = {"tag_cloud": "Tags", "popular_searches": "Popular searches", "comma_list": "Keywords"}[page.subtype]
    if page.subtype == "tag_cloud":
        lines = [" ".join(words)]
        main = '<div class="tag-cloud">' + " ".join(
            f'<a href="/tag/{i}/" style="font-size:{rng.randint(9, 28)}px">{_esc(w)}</a>' for i, w in enumerate(words))
        main += "</div>\n"
    elif page.subtype == "popular_searches":
        lines = [" ".join(words[i:i + rng.randint(1, 3)]) for i in range(0, len(words), 3)]
        main = "<ul>" + "".join(f'<li><a href="/search?q={i}">{_esc(x)}</a></li>' for i, x in enumerate(lines))
        main += "</ul>\n"
    else:
        lines = [", ".join(words)]
        main = f"<p>{_esc(lines[0])}</p>\n"
    return title, lines, main


def _junk(page: Page, rng: random.Random) -> Rendered:
    lines = list(st.JUNK_PAGES[page.subtype])
    status = {"not_found_404": "404 Not Found", "access_denied": "403 Forbidden",
              "redirect": "301 Moved Permanently"}.get(page.subtype, "200 OK")
    if not lines:
        return Rendered(status, "text/html", b"", None, [], [], [])
    doc = _Html()
    title = lines[0]
    if page.subtype in ("not_found_404", "access_denied", "redirect"):  # what the server writes, no site chrome
        doc.add(f"<html><head><title>{_esc(title)}</title></head><body><h1>{_esc(title)}</h1>",
                *(f"<p>{_esc(x)}</p>" for x in lines[1:]), "</body></html>\n")
    elif page.subtype == "js_shell":
        _, script, _ = _site_assets(page.site)
        doc.add(f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{_esc(title)}</title></head><body>"
                f"<noscript>{_esc(lines[1])}</noscript><div id=\"root\"></div><script>{script * 3}</script>"
                "</body></html>\n")
    else:
        _simple_html(doc, page, title, "".join(f"<p>{_esc(x)}</p>\n" for x in lines[1:]), rng,
                     chrome=page.subtype != "parked")
    location = f"https://{page.site}/moved/{page.pid}.html" if page.subtype == "redirect" else None
    return Rendered(status, "text/html", doc.text().encode("utf-8"), title, lines, doc.clutter, [], location)


def _png(rng: random.Random, width: int = 96, height: int = 64) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    base = [rng.randrange(256) for _ in range(3)]
    rows = b"".join(b"\x00" + bytes((base[c] + x * 2 + y * 3 + rng.randrange(8)) % 256
                                    for x in range(width) for c in range(3)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def _pdf(text: str) -> bytes:
    words, lines, line = text.encode("ascii", "replace").decode().split(), [], ""
    for w in words:
        if len(line) + len(w) > 80:
            lines.append(line)
            line = ""
        line += w + " "
    lines.append(line)
    esc = [ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for ln in lines]
    stream = "BT /F1 11 Tf 72 740 Td 14 TL " + " ".join(f"({ln}) '" for ln in esc) + " ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               ("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               "/Resources << /Font << /F1 5 0 R >> >> >>"),
               f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = "%PDF-1.4\n", []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n" + "".join(f"{o:010d} 00000 n \n" for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out.encode("latin-1")


def _non_html(page: Page, rng: random.Random) -> Rendered:
    host = urlsplit(page.url).hostname
    if page.subtype == "png":
        return Rendered("200 OK", "image/png", _png(rng))
    if page.subtype == "pdf":
        paras = st.english_pool("data-formats")
        return Rendered("200 OK", "application/pdf", _pdf(" ".join(rng.choice(paras).text for _ in range(6))))
    if page.subtype == "json":
        items = [{"id": rng.getrandbits(31), "title": t, "url": f"https://{host}/p/{rng.getrandbits(20)}/"}
                 for t in _other_titles(page, rng, 8)]
        body = json.dumps({"page": page.pid, "per_page": 8, "items": items}, indent=1).encode()
        return Rendered("200 OK", "application/json", body)
    if page.subtype == "robots_txt":
        body = f"User-agent: *\nDisallow: /wp-admin/\nDisallow: /search\nSitemap: https://{host}/sitemap.xml\n"
        return Rendered("200 OK", "text/plain", body.encode())
    urls = "".join(f"<url><loc>https://{host}/{CRAWL_START.year}/{rng.randint(1, 12):02d}/p-{rng.getrandbits(20)}"
                   f".html</loc><lastmod>{CRAWL_START.date()}</lastmod></url>\n" for _ in range(rng.randint(20, 60)))
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{urls}</urlset>\n")
    return Rendered("200 OK", "application/xml", body.encode())


@functools.lru_cache(maxsize=64)
def render(page: Page, seed: int) -> Rendered:
    """The bytes a server sent for `page`: a pure function of (page, seed), so a copy renders identically."""
    rng = random.Random(f"sample-crawl:render:{seed}:{page.pid}")
    if page.kind == "duplicate":
        return render(page.source, seed)
    if page.kind == "junk":
        return _junk(page, rng)
    if page.kind == "non_html":
        return _non_html(page, rng)
    cs = page.charset or UTF8
    if page.kind in ("spam", "keyword_list"):
        title, lines, main = (_spam if page.kind == "spam" else _keywords)(page, rng)
        doc = _Html()
        _simple_html(doc, page, title, main, rng, chrome=page.kind == "keyword_list")
        return Rendered("200 OK", "text/html", doc.text().encode(cs.codec, "xmlcharrefreplace"), title, lines,
                        doc.clutter, [])
    art = _article(page.source if page.kind == "near_duplicate" else page, seed)
    jac = None
    if page.kind == "near_duplicate":
        edit_rng = random.Random(f"sample-crawl:edit:{seed}:{page.pid}")
        original = art
        art = st.edit_article(art, edit_rng, page.edit_rate, page.edit_mode, page.lang, cs)
        jac = jaccard(shingles(art.lines(), page.lang), shingles(original.lines(), page.lang))
    doc = _article_html(page, art, rng)
    body = doc.text().encode(cs.codec, "xmlcharrefreplace")
    return Rendered("200 OK", "text/html", body, art.title, art.lines(), doc.clutter, art.sources, jaccard=jac)


def shingles(lines: list[str], lang: str | None) -> set:
    text = "\n".join(lines).lower()
    if lang in ("zh", "ja"):
        chars = re.sub(r"\s+", "", text)
        return {chars[i:i + 5] for i in range(max(1, len(chars) - 4))}
    words = re.findall(r"\w+", text)
    return {tuple(words[i:i + 5]) for i in range(max(1, len(words) - 4))}


def jaccard(a: set, b: set) -> float:
    return round(len(a & b) / len(a | b), 4) if a or b else 1.0


def kind_counts(n_pages: int) -> dict[str, int]:
    counts = {kind: max(least, round(share * n_pages)) for kind, (share, least) in KIND_SHARE.items()}
    counts["broken"] = len(BROKEN)
    counts["article"] = n_pages - sum(counts.values())
    return {kind: counts[kind] for kind in KINDS}


def _page_url(page: Page, rng: random.Random) -> str:
    base = f"https://{page.site}"
    if page.kind in ("article", "near_duplicate", "broken"):
        return f"{base}/{rng.randint(2019, 2023)}/{rng.randint(1, 12):02d}/{page.category or 'post'}-{page.pid}.html"
    if page.kind == "duplicate":
        src = page.source.url
        path = urlsplit(src).path
        return {"utm": f"{src}?utm_source=newsletter&utm_medium=email&utm_content={page.pid}",
                "amp": f"{base}/amp{path}?v={page.pid}", "mirror": f"https://{MIRROR_SITE}/{page.site}{path}?{page.pid}",
                "print": f"{src}?print=1&id={page.pid}", "http": f"http://{page.site}{path}?ref={page.pid}",
                "ref": f"{src}?ref=related-{page.pid}"}[page.subtype]
    if page.kind == "spam":
        return f"{base}/{rng.choice(st.SPAM_KEYWORDS).replace(' ', '-')}-{page.pid}.html"
    if page.kind == "keyword_list":
        return f"{base}/tags/{page.subtype.replace('_', '-')}-{page.pid}/"
    if page.kind == "junk":
        return f"{base}/?ref={page.pid}" if page.subtype == "parked" else f"{base}/old/{page.subtype}-{page.pid}.html"
    return {"png": f"{base}/wp-content/uploads/figure-{page.pid}.png", "pdf": f"{base}/files/paper-{page.pid}.pdf",
            "json": f"{base}/api/v1/posts?page={page.pid}", "robots_txt": f"{base}/robots.txt",
            "sitemap_xml": f"{base}/sitemap.xml"}[page.subtype]


def plan(n_pages: int, seed: int) -> list[Page]:
    """Every page of the crawl before rendering: its kind, language, charset, site, and what it copies."""
    rng = random.Random(f"sample-crawl:plan:{seed}")
    counts = kind_counts(n_pages)
    langs = [lang for lang in SITES if lang == "en" or st.foreign_pool(lang)]
    variants = [(lang, cs) for lang in langs for cs in st.CHARSETS[lang]]
    pages: list[Page] = []

    def add(kind: str, **kw) -> None:
        pages.append(Page(pid=len(pages), kind=kind, **kw))

    n_en = 0
    for i in range(counts["article"]):
        if i < len(variants):  # every language and charset at least once, however small the crawl
            lang, charset = variants[i]
        elif rng.random() < 0.7:
            lang, charset = "en", UTF8 if rng.random() < 0.85 else rng.choice(st.CHARSETS["en"])
        else:  # the mislabelled page stays a single one (plus its copies)
            lang = rng.choice(langs[1:] or ["en"])
            charset = rng.choice([cs for cs in st.CHARSETS[lang] if cs.declared in (cs.label, None)])
        category = "system-tools"
        if lang == "en":
            cats = st.CATEGORIES
            category = cats[n_en] if n_en < len(cats) else rng.choices(cats, CATEGORY_WEIGHTS)[0]
            n_en += 1
        gz = "gzip" if i >= len(variants) and rng.random() < 0.03 else None
        add("article", lang=lang, charset=charset, category=category, site=rng.choice(SITES[lang]),
            content_encoding=gz)
    articles = list(pages)
    for i in range(counts["duplicate"]):
        src = rng.choice(articles)
        add("duplicate", subtype=DUPLICATE_URLS[i % len(DUPLICATE_URLS)], lang=src.lang, charset=src.charset,
            category=src.category, site=src.site, source=src)
    for i in range(counts["near_duplicate"]):
        src = rng.choice(articles)
        other = i % 3 == 2 and len(SITES[src.lang]) > 1
        add("near_duplicate", subtype="other_site" if other else "same_site", lang=src.lang,
            charset=UTF8 if other else src.charset, category=src.category, source=src,
            site=rng.choice([s for s in SITES[src.lang] if s != src.site]) if other else src.site,
            edit_mode=(mode := "sentences" if src.lang in ("zh", "ja") or i % 2 else "words"),
            edit_rate=EDIT_RATES[mode][(i // 2) % len(EDIT_RATES[mode])])
    for i in range(counts["spam"]):
        add("spam", subtype=SPAM_KINDS[i % len(SPAM_KINDS)], lang="en", charset=UTF8,
            site=SPAM_SITES[i % len(SPAM_SITES)])
    kw_langs = [lang for lang in ("en", "de", "ru", "fr", "es", "pl") if lang in langs]
    for i in range(counts["keyword_list"]):
        lang = kw_langs[i % len(kw_langs)]
        add("keyword_list", subtype=KEYWORD_KINDS[i % len(KEYWORD_KINDS)], lang=lang, charset=UTF8,
            site=rng.choice(SITES[lang]))
    junk_kinds = sorted(st.JUNK_PAGES)
    for i in range(counts["junk"]):
        sub = junk_kinds[i % len(junk_kinds)]
        server_page = sub in ("not_found_404", "access_denied", "redirect")  # no <meta> in a server's error page
        add("junk", subtype=sub, lang=None if sub == "empty" else "en", charset=UTF8_HEADER if server_page else UTF8,
            site=PARKED_SITE if sub == "parked" else rng.choice(SITES["en"]))
    all_sites = [s for sites in SITES.values() for s in sites]
    for i in range(counts["non_html"]):
        site = all_sites[(i // len(NON_HTML_KINDS)) % len(all_sites)]
        rounds = i // (len(NON_HTML_KINDS) * len(all_sites))  # robots.txt is one URL a host: more hosts, then
        add("non_html", subtype=NON_HTML_KINDS[i % len(NON_HTML_KINDS)],
            site=f"cdn{rounds}.{site}" if rounds else site)
    for sub in BROKEN:
        add("broken", subtype=sub, lang="en", charset=UTF8, category="networking", site=SITES["en"][0])
    url_rng = random.Random(f"sample-crawl:urls:{seed}")
    for page in pages:
        page.url = _page_url(page, url_rng)
    assert len({p.url for p in pages}) == len(pages), "sample crawl URLs must be unique"
    return pages


def crawl_order(pages: list[Page], n_files: int, seed: int) -> list[list[Page]]:
    """Shuffled fetch order split into files; the broken records all go into the last file."""
    rng = random.Random(f"sample-crawl:order:{seed}")
    regular = [p for p in pages if p.kind != "broken"]
    rng.shuffle(regular)
    files, start = [], 0
    for i in range(n_files):
        size = len(regular) // n_files + (i < len(regular) % n_files)
        files.append(regular[start:start + size])
        start += size
    too_long, too_short, truncated = (p for p in pages if p.kind == "broken")
    last = files[-1]
    last.insert(len(last) // 3, too_long)
    last.insert(2 * len(last) // 3, too_short)
    last.append(truncated)
    return files


def record_id(seed: int, pid: int, role: str) -> str:
    digest = hashlib.sha256(f"sluice-sample:{seed}:{pid}:{role}".encode()).digest()
    return f"<urn:uuid:{uuid.UUID(bytes=digest[:16], version=4)}>"


def web_type(page: Page) -> str | None:
    """The type a person labelling the page would give it, from what the generator made it."""
    if page.kind in ("non_html", "broken"):
        return None
    if page.kind in ("article", "duplicate", "near_duplicate"):
        origin = page.source or page  # a copy on a mirror is still the type of page it copies
        return "reference" if _style(origin.site) == "docs" else "article"
    if page.kind == "keyword_list" or page.subtype == "link_farm":
        return "listing"
    return "spam" if page.kind == "spam" else "other"


def response(page: Page, seed: int, when: datetime) -> tuple[Rendered, list[tuple[str, str]], bytes, dict]:
    """The HTTP response of one fetch (status, headers, body) and the page's label."""
    rendered = render(page, seed)
    cs = page.charset if rendered.mime == "text/html" else None
    ctype = rendered.mime
    if cs and cs.where in ("header+meta", "header"):
        ctype += f"; charset={cs.declared}"
    elif rendered.mime == "text/plain":
        ctype += "; charset=utf-8"
    body = rendered.body
    headers = [("Date", format_datetime(when, usegmt=True)), ("Server", SERVERS[page.pid % len(SERVERS)]),
               ("Content-Type", ctype)]
    if rendered.location:
        headers.append(("Location", rendered.location))
    if page.content_encoding == "gzip":
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
    headers += [("Content-Length", str(len(body))), ("ETag", f'"{hashlib.sha1(body).hexdigest()[:16]}"'),
                ("Cache-Control", "max-age=600"), ("Connection", "close")]
    if page.pid % 4 == 0:
        sid = hashlib.sha1(f"{seed}:{page.pid}".encode()).hexdigest()[:20]
        headers.append(("Set-Cookie", f"sid={sid}; Path=/; HttpOnly; SameSite=Lax"))
    src, good = page.source, QUALITY.get(page.kind) == "good"
    label = {
        "url": page.url, "record_id": record_id(seed, page.pid, "response"), "warc_file": None, "warc_offset": None,
        "fetch_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "http_status": int(rendered.status.split()[0]),
        "content_type": rendered.mime, "kind": page.kind, "subtype": page.subtype, "quality": QUALITY.get(page.kind),
        "language": page.lang if rendered.lines or good else None, "category": page.category if good else None,
        "web_type": web_type(page),
        "title": rendered.title, "charset": cs.label if cs else None, "declared_charset": cs.declared if cs else None,
        "charset_declared_in": cs.where if cs else None, "content_encoding": page.content_encoding,
        "duplicate_of": record_id(seed, src.pid, "response") if src else None,
        "duplicate_of_url": src.url if src else None, "edit_mode": page.edit_mode, "edit_rate": page.edit_rate,
        "jaccard_5gram": rendered.jaccard, "text_sources": rendered.sources or [],
        "article_lines": rendered.lines or [], "clutter_lines": rendered.clutter or [],
        "record_intact": page.kind != "broken",
    }
    if page.kind == "broken":
        label.update(quality=None, language=None, category=None, title=None, text_sources=[], article_lines=[],
                     clutter_lines=[])
    return rendered, headers, body, label


def _broken_member(record, subtype: str) -> bytes:
    """One gzip member holding `record`, damaged the way `subtype` says."""
    from warcio.warcwriter import WARCWriter

    raw = io.BytesIO()
    WARCWriter(raw, gzip=False, warc_version="1.1").write_record(record)
    data = raw.getvalue()
    if subtype.startswith("content_length"):
        found = re.search(rb"Content-Length: (\d+)\r\n", data)  # the first one is the WARC header's
        length = int(found.group(1))
        wrong = length + 4096 if subtype.endswith("too_long") else length // 2
        data = data[:found.start(1)] + str(wrong).encode() + data[found.end(1):]
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    member = compressor.compress(data) + compressor.flush()
    return member[: len(member) // 2] if subtype == "truncated_gzip" else member


def _warcinfo(writer, name: str, info_id: str, when: datetime, seed: int):
    fields = (f"software: sluice sample-crawl\r\nformat: WARC File Format 1.1\r\n"
              "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
              f"isPartOf: sluice-sample-seed-{seed}\r\nrobots: classic\r\nhttp-header-user-agent: {USER_AGENT}\r\n"
              "description: synthetic crawl for tests and demos; ground truth in labels.jsonl\r\n").encode()
    return writer.create_warc_record("", "warcinfo", payload=io.BytesIO(fields), length=len(fields),
                                     warc_headers_dict={"WARC-Record-ID": info_id, "WARC-Filename": name,
                                                        "WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ")})


def write_crawl(out_dir: Path, n_pages: int, seed: int, n_files: int) -> dict:
    """Write the WARC files, labels.jsonl and crawl.json into `out_dir`; returns the crawl.json content."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in sorted(out_dir.glob("sample-*.warc.gz")):  # a previous crawl with more files
        stale.unlink()
    files = crawl_order(plan(n_pages, seed), n_files, seed)
    clock = random.Random(f"sample-crawl:clock:{seed}")
    when = CRAWL_START
    summary_files, counts = [], {key: Counter() for key in ("kinds", "languages", "charsets", "categories")}
    labels_tmp = out_dir / "labels.jsonl.part"
    with labels_tmp.open("w", encoding="utf-8") as labels:
        for index, chunk in enumerate(files):
            name = f"sample-{index:05d}.warc.gz"
            part = out_dir / f"{name}.part"
            info_id = record_id(seed, -1 - index, "warcinfo")
            with part.open("wb") as fh:
                writer = WARCWriter(fh, gzip=True, warc_version="1.1")
                writer.write_record(_warcinfo(writer, name, info_id, when, seed))
                for page in chunk:
                    when += timedelta(seconds=clock.randint(1, 9))
                    date = when.strftime("%Y-%m-%dT%H:%M:%SZ")
                    rendered, headers, body, label = response(page, seed, when)
                    split = urlsplit(page.url)
                    host_hash = int(hashlib.sha1(split.hostname.encode()).hexdigest(), 16)
                    common = {"WARC-Date": date, "WARC-Warcinfo-ID": info_id}
                    request_headers = StatusAndHeaders(
                        f"GET {split.path or '/'}{'?' + split.query if split.query else ''} HTTP/1.1",
                        [("Host", split.netloc), ("User-Agent", USER_AGENT),
                         ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                         ("Accept-Language", "en-US,en;q=0.5"), ("Accept-Encoding", "gzip"), ("Connection", "close")],
                        is_http_request=True)
                    writer.write_record(writer.create_warc_record(
                        page.url, "request", http_headers=request_headers,
                        warc_headers_dict={"WARC-Record-ID": record_id(seed, page.pid, "request"), **common,
                                           "WARC-Concurrent-To": label["record_id"]}))
                    offset = fh.tell()
                    record = writer.create_warc_record(
                        page.url, "response", payload=io.BytesIO(body), length=len(body),
                        http_headers=StatusAndHeaders(rendered.status, headers, protocol="HTTP/1.1"),
                        warc_headers_dict={"WARC-Record-ID": label["record_id"], **common,
                                           "WARC-IP-Address": f"203.0.113.{host_hash % 254 + 1}"})
                    if page.kind == "broken":
                        fh.write(_broken_member(record, page.subtype))
                    else:
                        writer.write_record(record)
                    label.update(warc_file=name, warc_offset=offset)
                    labels.write(json.dumps(label, ensure_ascii=False) + "\n")
                    counts["kinds"][page.kind] += 1
                    for key, value in (("languages", label["language"]), ("charsets", label["charset"]),
                                       ("categories", label["category"])):
                        if value:
                            counts[key][value] += 1
            part.replace(out_dir / name)
            summary_files.append({"name": name, "pages": len(chunk), "records": 1 + 2 * len(chunk),
                                  "bytes": (out_dir / name).stat().st_size,
                                  "well_formed": not any(p.kind == "broken" for p in chunk)})
    labels_tmp.replace(out_dir / "labels.jsonl")
    summary = {"generator": "sluice sample-crawl", "seed": seed, "pages": n_pages, "files": summary_files,
               **{key: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for key, c in counts.items()}}
    summary["kinds"] = {kind: counts["kinds"][kind] for kind in KINDS}
    (out_dir / "crawl.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice sample-crawl",
                                     description="Write a realistic sample crawl of WARC.gz files and labels.jsonl.")
    parser.add_argument("--output", required=True, type=Path,
                        help="directory for the WARC files, labels.jsonl and crawl.json (replaces sample-*.warc.gz)")
    parser.add_argument("--pages", type=int, default=400, help=f"response records to write (at least {MIN_PAGES})")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    parser.add_argument("--files", type=int, default=None, help="WARC files to write (default: max(2, pages/100))")
    args = parser.parse_args(argv)
    if args.pages < MIN_PAGES:
        parser.error(f"--pages must be at least {MIN_PAGES} so that every kind of page appears (got {args.pages})")
    n_files = args.files if args.files is not None else max(2, math.ceil(args.pages / 100))
    if not 2 <= n_files <= args.pages // 10:
        parser.error(f"--files must be between 2 and pages/10 = {args.pages // 10} (got {n_files})")
    summary = write_crawl(args.output, args.pages, args.seed, n_files)
    size = sum(f["bytes"] for f in summary["files"])
    print(f"sample-crawl: {len(summary['files'])} WARC files, {size / 1e6:.1f} MB, {args.pages} pages "
          f"(seed {args.seed}) in {args.output}")
    for key in ("kinds", "languages", "charsets", "categories"):
        print(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in summary[key].items()))
    malformed = [f["name"] for f in summary["files"] if not f["well_formed"]]
    print(f"  malformed on purpose: {', '.join(malformed)}; ground truth: {args.output / 'labels.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
