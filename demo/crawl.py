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
import gzip
import hashlib
import io
import json
import math
import random
import re
import sys
import uuid
import zlib
from collections import Counter
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from demo import site_words
from demo import text as st
from demo.pages import render
from demo.site import (
    BROKEN,
    CATEGORY_WEIGHTS,
    CRAWL_START,
    DUPLICATE_URLS,
    EDIT_RATES,
    KEYWORD_KINDS,
    KIND_SHARE,
    KINDS,
    MIN_PAGES,
    MIRROR_SITE,
    NON_HTML_KINDS,
    PARKED_SITE,
    QUALITY,
    SERVERS,
    SITES,
    SPAM_KINDS,
    SPAM_SITES,
    USER_AGENT,
    UTF8_HEADER,
    Page,
    Rendered,
    site_style,
)
from demo.text import UTF8


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
        return f"{base}/{rng.choice(site_words.SPAM_KEYWORDS).replace(' ', '-')}-{page.pid}.html"
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
    junk_kinds = sorted(site_words.JUNK_PAGES)
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
        return "reference" if site_style(origin.site) == "docs" else "article"
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
