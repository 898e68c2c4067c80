"""The sample crawl's pages rendered: articles inside their site's chrome, spam, keyword lists, junk and non-HTML
responses (`render`), and the word 5-gram Jaccard similarity near duplicates record."""

from __future__ import annotations

import functools
import json
import random
import re
import struct
import zlib
from datetime import timedelta
from urllib.parse import urlsplit

from demo import site_words
from demo import text as st
from demo.site import (
    CRAWL_START,
    SPAM_SITES,
    Html,
    Page,
    Rendered,
    chrome_bottom,
    chrome_top,
    esc,
    other_titles,
    page_head,
    site_assets,
    site_style,
)
from demo.text import UTF8, Article


def _article_html(page: Page, art: Article, rng: random.Random) -> Html:
    ui = site_words.UI[page.lang or "en"]
    style = site_style(page.site)
    doc = Html()
    vocab = st.vocabulary(st.pool_for(page.lang or "en", page.category), 120)
    page_head(doc, page, art.title, art.blocks[0][1] if art.blocks else art.title, rng)
    chrome_top(doc, page, ui, rng, vocab)
    doc.add('<div class="container"><main id="main" class="site-main">\n')
    if style == "docs":
        crumb = f"{ui['nav'][0]} › {ui['nav'][3]} › {art.title}"
        doc.add('<nav class="breadcrumbs">', doc.clut("breadcrumb", crumb), "</nav>\n")
    published = (CRAWL_START - timedelta(days=rng.randint(3, 900))).strftime("%Y-%m-%d")
    byline = ui["byline"].format(author=rng.choice(ui["authors"]), date=published,
                                 minutes=max(1, sum(len(t) for _, t in art.blocks) // 1200))
    doc.add(f'<article id="post-{page.pid}" class="post type-post hentry">\n<header class="entry-header">'
            f'<h1 class="entry-title">{esc(art.title)}</h1>\n<div class="entry-meta byline">',
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
                line = ui["inline"][0].format(title=other_titles(page, rng, 1)[0])
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
            doc.add(f'<pre><code class="language-python">{esc(text)}</code></pre>\n')
        else:
            doc.add(f"<{tag}>{esc(text)}</{tag}>\n")
    doc.add("</ul>\n" if in_list else "", '</div>\n<footer class="entry-footer"><div class="share-buttons">',
            '<span class="share-label">', doc.clut("share", ui["share"][0]), "</span>")
    _, _, svg = site_assets(page.site)
    for label in ui["share"][1:]:
        doc.add(f'<a class="share" href="https://share.invalid/?u={page.url}">{svg}<span>',
                doc.clut("share", label), "</span></a>")
    doc.add("</div></footer>\n</article>\n")
    doc.add('<section class="related-posts"><h3>', doc.clut("related", ui["related"]), "</h3><ul>")
    for title in other_titles(page, rng, rng.randint(3, 6)):
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
    chrome_bottom(doc, page, ui, rng)
    return doc


def _article(page: Page, seed: int) -> Article:
    rng = random.Random(f"sample-crawl:article:{seed}:{page.pid}")
    return st.make_article(rng, page.lang or "en", page.category, page.charset or UTF8)


def _simple_html(doc: Html, page: Page, title: str, main: str, rng: random.Random, chrome: bool) -> None:
    """A page of one kind of main content, with the site's chrome or without any."""
    ui = site_words.UI.get(page.lang or "en", site_words.UI["en"])
    page_head(doc, page, title, title, rng)
    if chrome:
        chrome_top(doc, page, ui, rng, [])
    else:
        doc.add("<body>\n")
    doc.add(f'<main class="content"><h1>{esc(title)}</h1>\n{main}</main>\n')
    if chrome:
        chrome_bottom(doc, page, ui, rng)
    else:
        doc.add("</body>\n</html>\n")


def _spam(page: Page, rng: random.Random) -> tuple[str, list[str], str]:
    kws = rng.sample(site_words.SPAM_KEYWORDS, 3)

    def fill(template: str) -> str:
        return template.format(kw=kws[0], kw2=kws[1], kw3=kws[2], n=rng.randint(2, 90), year=CRAWL_START.year,
                               city=rng.choice(site_words.SPAM_CITIES))

    if page.subtype == "link_farm":
        lines = [fill(rng.choice(("{kw} {city}", "cheap {kw2} {n}"))) for _ in range(rng.randint(40, 90))]
        main = "<ul class=\"links\">" + "".join(f'<li><a href="https://{SPAM_SITES[i % 3]}/go/{i}">{esc(x)}</a></li>'
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
                lines.append(" ".join(fill(rng.choice(site_words.SPAM_TEMPLATES)) for _ in range(rng.randint(3, 8))))
        main = "".join(f"<p>{esc(x)}</p>\n" for x in lines)
    hidden = " ".join(rng.choice(kws) for _ in range(200))
    main += f'<div style="display:none">{esc(hidden)}</div>\n'  # hidden from readers, not from extractors
    lines.append(hidden)
    return fill("Best {kw} online {year} - {kw2} - {kw3}"), lines, main


def _keywords(page: Page, rng: random.Random) -> tuple[str, list[str], str]:
    vocab = st.vocabulary(st.pool_for(page.lang or "en", None), 800)
    words = rng.sample(vocab, min(len(vocab), rng.randint(60, 200)))
    title = {"tag_cloud": "Tags", "popular_searches": "Popular searches", "comma_list": "Keywords"}[page.subtype]
    if page.subtype == "tag_cloud":
        lines = [" ".join(words)]
        main = '<div class="tag-cloud">' + " ".join(
            f'<a href="/tag/{i}/" style="font-size:{rng.randint(9, 28)}px">{esc(w)}</a>' for i, w in enumerate(words))
        main += "</div>\n"
    elif page.subtype == "popular_searches":
        lines = [" ".join(words[i:i + rng.randint(1, 3)]) for i in range(0, len(words), 3)]
        main = "<ul>" + "".join(f'<li><a href="/search?q={i}">{esc(x)}</a></li>' for i, x in enumerate(lines))
        main += "</ul>\n"
    else:
        lines = [", ".join(words)]
        main = f"<p>{esc(lines[0])}</p>\n"
    return title, lines, main


def _junk(page: Page, rng: random.Random) -> Rendered:
    lines = list(site_words.JUNK_PAGES[page.subtype])
    status = {"not_found_404": "404 Not Found", "access_denied": "403 Forbidden",
              "redirect": "301 Moved Permanently"}.get(page.subtype, "200 OK")
    if not lines:
        return Rendered(status, "text/html", b"", None, [], [], [])
    doc = Html()
    title = lines[0]
    if page.subtype in ("not_found_404", "access_denied", "redirect"):  # what the server writes, no site chrome
        doc.add(f"<html><head><title>{esc(title)}</title></head><body><h1>{esc(title)}</h1>",
                *(f"<p>{esc(x)}</p>" for x in lines[1:]), "</body></html>\n")
    elif page.subtype == "js_shell":
        _, script, _ = site_assets(page.site)
        doc.add(f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{esc(title)}</title></head><body>"
                f"<noscript>{esc(lines[1])}</noscript><div id=\"root\"></div><script>{script * 3}</script>"
                "</body></html>\n")
    else:
        _simple_html(doc, page, title, "".join(f"<p>{esc(x)}</p>\n" for x in lines[1:]), rng,
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
                 for t in other_titles(page, rng, 8)]
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
        doc = Html()
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
