"""HTML response → main text: content-type check, charset decoding, trafilatura under a hard per-page time limit.

`html_to_text` and `TextExtractor` run the same code with the same defaults; the Spark job uses `TextExtractor`
so that every page that yields no text is counted under one reason (DropReason) instead of vanishing.
"""

from __future__ import annotations

import codecs
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Literal

from pipeline.config import ConfigError, Count, Range
from pipeline.extract.page_timer import PageTimeout, time_limit  # time_limit is imported from here too
from pipeline.stats import DropReason, Stats
from pipeline.warc.record import HTML_TYPES

log = logging.getLogger(__name__)

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:+-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([\w.:+-]+)", re.IGNORECASE)
_META_SCAN_BYTES = 8192
# What HTML parsers do (WHATWG encoding standard): these labels mean windows-1252, which Python spells cp1252.
_LATIN1_LABELS = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii", "cp819", "ibm819"}
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
_CP1252_FALLBACK = "sluice-cp1252-fallback"
_SINGLE_BYTE = re.compile(r"^(cp125\d|iso8859_\d+|latin_1|ascii|koi8_\w|mac_\w+|cp\d{3})$")


FAST_FALLBACK = "fast_extractor_fallback"  # stats counter: pages the fast extractor handed to trafilatura


def decode_html(body: bytes, content_type: str | None = None) -> str | None:
    """Bytes → text: BOM, then the HTTP charset, then <meta charset>, then detection; None for binary data.

    A declared charset is only trusted when the bytes decode under it strictly (a page declared UTF-8 but written
    in Latin-1 fails that and goes on to detection), and a single-byte declaration loses to valid UTF-8, because
    any bytes "decode" as Latin-1 and the result would be mojibake.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, errors="replace")
    if b"\x00" in body[:4096]:
        return None  # NUL bytes: binary data (or BOM-less UTF-16, which the web practically never serves)
    declared = []
    if content_type and (m := _HEADER_CHARSET.search(content_type)):
        declared.append(m.group(1))
    if m := _META_CHARSET.search(body[:_META_SCAN_BYTES]):
        declared.append(m.group(1).decode("ascii", "replace"))
    for label in declared:
        text = _strict_decode(body, label)
        if text is not None:
            return text
    return _detect(body)


def _strict_decode(body: bytes, label: str) -> str | None:
    label = label.strip().lower()
    if label in _LATIN1_LABELS:
        label = "cp1252"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None  # unknown label: fall through to the next declaration or to detection
    if name in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        name = "utf-8"  # a page can't declare UTF-16 in a <meta> it could read as ASCII; HTML parsers do the same
    if _SINGLE_BYTE.match(name) and not body.isascii():
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if name == "utf-8":
        return _mostly_utf8(body)
    try:
        return body.decode(name)
    except (UnicodeDecodeError, LookupError):
        return None


def _mostly_utf8(body: bytes) -> str | None:
    """UTF-8 text, tolerating a few stray bytes (a Latin-1 snippet pasted into a UTF-8 page) but not a page
    that is Latin-1 throughout: its accented letters are nearly all invalid UTF-8, so it goes to detection."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    strays = body.decode("utf-8", errors="replace").count("\ufffd")
    multibyte = len(_UTF8_MULTIBYTE.findall(body))
    if multibyte >= 4 * strays:
        return body.decode("utf-8", errors=_CP1252_FALLBACK)
    return None


def _decode_stray_as_cp1252(error: UnicodeDecodeError) -> tuple[str, int]:
    return error.object[error.start : error.end].decode("cp1252", errors="replace"), error.end


codecs.register_error(_CP1252_FALLBACK, _decode_stray_as_cp1252)


def _detect(body: bytes) -> str | None:
    text = _mostly_utf8(body)  # by far the most common encoding, and checking it is cheap
    if text is not None:
        return text
    from charset_normalizer import from_bytes

    matches = from_bytes(body[:65536])  # detection cost grows with size; a prefix identifies the charset
    best = matches.best()
    if best is None:
        return None
    encoding = best.encoding
    # Several Latin code pages often decode a page equally cleanly; on a tie take windows-1252, the legacy
    # encoding the web uses most (charset-normalizer would otherwise pick e.g. Baltic cp1257 for French text).
    for match in matches:
        if match.chaos <= best.chaos + 0.01 and "cp1252" in match.could_be_from_charset:
            encoding = "cp1252"
            break
    return body.decode(encoding, errors="replace")


def looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head


@dataclass(kw_only=True)
class ExtractConfig:
    """The [extract] table of run.toml.

    The trafilatura switches were chosen by measurement on both dev sets (benchmarks/extract_bench.py --wcxb
    --variants; word F1 on WCXB dev, 15 pages per type / extraction-dev "with" found, "without" absent):
    trafilatura's own defaults 0.774 / 0.945 / 0.906; favor_precision 0.674 / 0.927 / 0.935 (forums -0.15, listings
    -0.22, products -0.10); no tables 0.760; comments on 0.770; no fallbacks (fast) 0.742; favor_recall 0.739.
    favor_precision only wins on news-style articles; the web is not only articles, hence trafilatura's defaults.
    """

    timeout_s: Annotated[float, Range(0.0, 3600.0, open_lo=True)] = 2.0  # hard limit per page, decoding included
    max_body_bytes: Count = 5_000_000  # larger bodies are dropped as too_large before parsing
    favor_precision: bool = False
    favor_recall: bool = False
    fast: bool = False  # skip trafilatura's fallback extractors (readability, justext)
    include_tables: bool = True
    include_comments: bool = False
    deduplicate: bool = False  # within one page only; never across pages (the dedup stage does that)
    min_chars: Count = 1  # an extraction shorter than this is empty_text
    fail_on_missing_input: bool = False  # stop the run if an input WARC is missing or unreadable (else count it)
    # "fast": lexbor blocks + trees distilled from trafilatura (pipeline/extract/fast.py), ~10x the pages/s; a page it
    # cannot parse goes to trafilatura (counted as fast_extractor_fallback). The trafilatura switches above then
    # only apply to those pages.
    extractor: Literal["trafilatura", "fast"] = "trafilatura"
    # a model path (.npz + .json card) or a shipped one: "extractor_v4" (= ""), "extractor_v3", "extractor_v2"
    fast_model: str = ""
    # keep the page_* structure columns the fastText web-type model reads (pipeline.extract.page_features), computed
    # from the tree trafilatura extracts from (no second parse); the fast extractor's pages get none
    page_features: bool = False
    # page_type + page_type_score from the page-type model (pipeline.extract.page_type): classify's default web_type.
    # Costs one lexbor parse a page on trafilatura's path (10.6 ms on WCXB dev pages, 10% of trafilatura's time; 2.3
    # ms, 30%, on the sample crawl's small pages); free on the fast path, whose model computes it anyway
    page_type: bool = True

    def __post_init__(self):
        if self.extractor not in ("trafilatura", "fast"):
            raise ConfigError(f"extract.extractor must be 'trafilatura' or 'fast', got {self.extractor!r}")
        if not self.timeout_s > 0:
            raise ConfigError(f"extract.timeout_s must be > 0, got {self.timeout_s}")
        if self.max_body_bytes < 1:
            raise ConfigError(f"extract.max_body_bytes must be >= 1, got {self.max_body_bytes}")
        if self.favor_precision and self.favor_recall:
            raise ConfigError("extract.favor_precision and extract.favor_recall cannot both be true")
        if self.min_chars < 1:
            raise ConfigError(f"extract.min_chars must be >= 1, got {self.min_chars}")


class TextExtractor:
    """`extract(response)` → (text, None) or (None, drop reason); one instance per worker, reused for every page."""

    def __init__(self, config: ExtractConfig | None = None, stats: Stats | None = None):
        import trafilatura  # heavy import; pipeline/__init__ must stay light for the trainer host

        self.config = config or ExtractConfig()
        self._trafilatura = trafilatura
        self._warned_thread = False
        self._stats = stats  # where fast-path fallbacks are counted
        self.fast_fallbacks = 0
        self.last_page_features: dict | None = None  # the page_* columns of the page extracted last (None: none set)
        self._fast = None
        self._typer = None
        # Compiled kernels compile (or load from numba's cache) here, never inside a page's time limit: a cold
        # cache would otherwise turn a worker's first pages into timeouts, and an interrupted compile is never cached.
        from pipeline.extract import nesting

        nesting.warm_up()
        if self.config.extractor == "fast":
            from pipeline.extract.fast import FastExtractor

            self._fast = FastExtractor(self.config.fast_model or None)  # warms its kernels up
        if self.config.page_type:  # the fast extractor's pages without blocks are typed by it too
            self._page_typer()  # loaded and its kernels compiled now, not inside a page's time limit

    def _page_typer(self):
        """The page-type model for trafilatura's pages, loaded on first use (its kernels warm up with it)."""
        if self._typer is None:
            from pipeline.extract.page_type import PageTyper

            self._typer = PageTyper()
            self._typer.type_of("<html><body><p>warm-up text of a page</p></body></html>", None)
        return self._typer

    def _page_columns(self, html: str, url: str | None, features: dict | None) -> dict | None:
        """The configured page columns of a page that gave text (pipeline.extract.page_features.page_columns):
        `features`, its structure features (or None), and its type. Typed after the extraction, so that a dropped
        page costs no typing."""
        from pipeline.extract.page_features import page_features

        c = self.config
        if not (c.page_features or c.page_type):
            return None
        columns = (features or page_features(None)) if c.page_features else {}
        if c.page_type:
            fast = self._fast
            if fast is not None and fast.last_page_type is not None:  # this page's type, from the fast extractor
                columns["page_type"], columns["page_type_score"] = fast.last_page_type, fast.last_page_type_score
            else:
                try:
                    columns["page_type"], columns["page_type_score"] = self._page_typer().type_of(html, url)
                except Exception as e:  # noqa: BLE001 - an untypable page keeps its text, with no type
                    log.debug("page typing failed on %s: %s", url, e)
                    columns["page_type"] = None
            if columns["page_type"] is None:
                columns["page_type_score"] = None
        return columns

    def extract(self, response) -> tuple[str | None, str | None]:
        """`response` is a pipeline.warc.reader.WarcResponse (anything with body, content_type, url, truncated)."""
        body = response.body
        if not _is_html(response.content_type, body):
            return None, DropReason.NOT_HTML
        if getattr(response, "truncated", False) or len(body) > self.config.max_body_bytes:
            return None, DropReason.TOO_LARGE
        return self.extract_html(body, response.content_type, response.url)

    def extract_html(
        self, html: str | bytes, content_type: str | None = None, url: str | None = None
    ) -> tuple[str | None, str | None]:
        if len(html) > self.config.max_body_bytes:
            return None, DropReason.TOO_LARGE
        from pipeline.extract.nesting import MAX_DEPTH, max_nesting

        if max_nesting(html, MAX_DEPTH) > MAX_DEPTH:  # parsers are quadratic in depth, inside one C call
            return None, DropReason.TOO_COMPLEX
        on_main_thread = threading.current_thread() is threading.main_thread()
        started = time.perf_counter()
        try:
            with time_limit(self.config.timeout_s if on_main_thread else None):
                text, reason = self._extract(html, content_type, url)
        except PageTimeout:
            return None, DropReason.TIMEOUT
        if time.perf_counter() - started > self.config.timeout_s:
            # Over the limit all the same: off the main thread no signal can interrupt the page, and on it a long C
            # call (lxml's parse) can finish past the limit before the alarm's handler gets to run.
            if not on_main_thread and not self._warned_thread:
                log.warning("extraction runs off the main thread: the time limit is checked, not enforced")
                self._warned_thread = True
            return None, DropReason.TIMEOUT
        return text, reason

    def _extract(self, html: str | bytes, content_type: str | None, url: str | None):
        self.last_page_features = None
        if isinstance(html, bytes):
            html = decode_html(html, content_type)
            if html is None:
                return None, DropReason.DECODE_ERROR
        c = self.config
        if self._fast is not None:
            try:
                text = self._fast.extract(html, url)
            except Exception as e:  # noqa: BLE001 - unparseable for lexbor (FastParseError) or a bug: trafilatura tries
                log.debug("fast extractor failed on %s, trafilatura takes it: %s", url, e)
                self.fast_fallbacks += 1
                if self._stats is not None:
                    self._stats.count(FAST_FALLBACK)
            else:
                if len(text.strip()) < c.min_chars:
                    return None, DropReason.EMPTY_TEXT
                self.last_page_features = self._page_columns(html, url, None)
                return text.strip(), None
        try:
            page, features = html, None
            if c.page_features:  # parse once: the features and the extraction read the same tree
                from pipeline.extract.page_features import page_features

                page = self._trafilatura.utils.load_html(html)
                if page is None:  # what extract() makes of a page lxml cannot parse
                    return None, DropReason.EMPTY_TEXT
                features = page_features(page)
            text = self._trafilatura.extract(
                page,
                url=url,
                fast=c.fast,
                favor_precision=c.favor_precision,
                favor_recall=c.favor_recall,
                include_comments=c.include_comments,
                include_tables=c.include_tables,
                # a fresh cache per page: trafilatura's default cache is global, which would make a page's text
                # depend on the pages the same worker processed before it
                deduplicate=self._trafilatura.deduplication.LRUCache(maxsize=4096) if c.deduplicate else False,
                output_format="txt",
            )
        except Exception as e:  # noqa: BLE001 - a library failing on one page must not stop the worker
            log.debug("trafilatura failed on %s: %s", url, e)
            return None, DropReason.EXTRACTION_ERROR
        if text is None or len(text.strip()) < c.min_chars:
            return None, DropReason.EMPTY_TEXT
        self.last_page_features = self._page_columns(html, url, features)
        return text.strip(), None


def _is_html(content_type: str | None, body: bytes) -> bool:
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime:
        return mime in HTML_TYPES
    return looks_like_html(body)  # no Content-Type (e.g. an ARC record): look at the bytes


_default_extractor: TextExtractor | None = None


def html_to_text(html: str | bytes, url: str | None = None) -> str | None:
    """Main text of one page with the project's default settings (ExtractConfig()), or None when there is none."""
    global _default_extractor
    if _default_extractor is None:
        _default_extractor = TextExtractor(ExtractConfig(page_type=False))  # the text only: no page typing
    text, _reason = _default_extractor.extract_html(html, None, url)
    return text
