"""The sample crawl's sites and page chrome: what each page kind is, the planned `Page`, its `Rendered` bytes, and
the HTML around every page (head, navigation, banners, footer) a site template draws."""

from __future__ import annotations

import functools
import json
import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime

from demo import site_words
from demo import text as st
from demo.text import UTF8, Charset

KINDS = ("article", "duplicate", "near_duplicate", "spam", "keyword_list", "junk", "non_html", "broken")
QUALITY = {"article": "good", "duplicate": "good", "near_duplicate": "good", "spam": "bad", "keyword_list": "bad",
           "junk": "bad"}
SPAM_KINDS = ("keyword_stuffing", "word_salad", "link_farm")
KEYWORD_KINDS = ("tag_cloud", "popular_searches", "comma_list")
NON_HTML_KINDS = ("png", "pdf", "json", "robots_txt", "sitemap_xml")
DUPLICATE_URLS = ("utm", "amp", "mirror", "print", "http", "ref")
# Share of the crawl per kind, and the least any crawl gets so that a small test crawl has every subtype.
KIND_SHARE = {"duplicate": (0.07, len(DUPLICATE_URLS)), "near_duplicate": (0.09, 10), "spam": (0.04, len(SPAM_KINDS)),
              "keyword_list": (0.03, len(KEYWORD_KINDS)), "junk": (0.05, len(site_words.JUNK_PAGES)),
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


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Html:
    """An HTML page under construction that remembers every clutter line it was given."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.clutter: list[dict] = []

    def add(self, *parts: str) -> None:
        self.parts.extend(parts)

    def clut(self, kind: str, text: str) -> str:
        self.clutter.append({"kind": kind, "text": text})
        return esc(text)

    def text(self) -> str:
        return "".join(self.parts)


def _site_name(site: str) -> str:
    return site.split(".")[0].replace("-", " ").title().replace(" ", "")


def site_style(site: str) -> str:
    for sites in SITES.values():
        if site in sites:
            return STYLES[sites.index(site) % len(STYLES)]
    return "blog"


def _ident(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 2)))


@functools.cache
def site_assets(site: str) -> tuple[str, str, str]:
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


def page_head(doc: Html, page: Page, title: str, description: str, rng: random.Random) -> None:
    cs = page.charset or UTF8
    css, _, _ = site_assets(page.site)
    meta = ""
    if cs.where in ("meta", "header+meta"):
        meta = (f'<meta http-equiv="Content-Type" content="text/html; charset={cs.declared}">' if site_style(page.site)
                == "news" else f'<meta charset="{cs.declared}">')
    ld = json.dumps({"@context": "https://schema.org", "@type": "Article", "headline": title, "url": page.url,
                     "publisher": {"@type": "Organization", "name": _site_name(page.site)}})
    doc.add(f'<!DOCTYPE html>\n<html lang="{page.lang or "en"}">\n<head>\n{meta}\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            f"<title>{esc(title)} | {_site_name(page.site)}</title>\n",
            f'<meta name="description" content="{esc(description[:160]).replace(chr(34), "&quot;")}">\n',
            f'<link rel="canonical" href="{page.url}">\n<link rel="stylesheet" href="/static/css/main.'
            f'{rng.getrandbits(32):08x}.css">\n<style>{css}</style>\n',
            f'<script type="application/ld+json">{ld}</script>\n',
            '<script async src="https://www.googletagmanager.com/gtag/js?id=G-SLUICE0001"></script>\n'
            "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
            "gtag('js',new Date());gtag('config','G-SLUICE0001');</script>\n</head>\n")


def chrome_top(doc: Html, page: Page, ui: dict, rng: random.Random, vocab: list[str]) -> None:
    doc.add(f'<body class="{site_style(page.site)} single">\n')
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


def chrome_bottom(doc: Html, page: Page, ui: dict, rng: random.Random) -> None:
    year = CRAWL_START.year
    doc.add('<footer class="site-footer"><ul class="footer-links">')
    for label in ui["footer"][1:]:
        doc.add('<li><a href="/legal/">', doc.clut("footer", label.format(site=_site_name(page.site))), "</a></li>")
    doc.add('</ul><p class="copyright">',
            doc.clut("footer", ui["footer"][0].format(year=year, site=_site_name(page.site))), "</p></footer>\n")
    _, script, _ = site_assets(page.site)
    doc.add(f"<script>{script}</script>\n</body>\n</html>\n")


def other_titles(page: Page, rng: random.Random, n: int) -> list[str]:
    pool = st.pool_for(page.lang or "en", page.category)
    return [p.title or " ".join(p.text.split()[:8]) for p in (rng.choice(pool) for _ in range(n))]
