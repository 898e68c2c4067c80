"""Real prose that is on disk without a network, for `sluice sample-crawl`.

English comes from Python itself: the language reference shipped as `pydoc_data.topics` and the docstrings of
standard-library modules (read with `ast`, never imported), grouped into a handful of categories. Other languages
come from the gettext catalogs (`*.mo`) of the operating system: human translations of the help texts of
coreutils, bash, tar, apt, ... read with the standard `gettext` module. Where a language has no catalog,
Chinese and Japanese fall back to CPython's `test/cjkencodings` texts (a few paragraphs about Python) and the
rest to babel's CLDR names (lists of country and language names, not prose); `Paragraph.source` says which.
Everything is sorted before use, so the same installation always yields the same pools.
"""

from __future__ import annotations

import ast
import functools
import gettext
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

# The stdlib modules whose docstrings make up each English category ("language-reference" is pydoc's topics).
# Paths are relative to the stdlib directory; names that moved between Python versions are listed twice.
STDLIB_CATEGORIES: dict[str, tuple[str, ...]] = {
    "text-processing": ("re/__init__", "re/_parser", "string", "textwrap", "difflib", "codecs", "html/parser",
                        "gettext", "locale", "shlex", "pprint", "reprlib", "tokenize", "stringprep", "email/header",
                        "quopri", "doctest", "xml/sax/saxutils", "html/__init__", "fnmatch"),
    "networking": ("socket", "ssl", "http/client", "http/server", "http/cookiejar", "http/cookies", "urllib/request",
                   "urllib/parse", "urllib/robotparser", "smtplib", "ftplib", "imaplib", "poplib", "socketserver",
                   "ipaddress", "email/message", "email/utils", "mailbox", "xmlrpc/client", "xmlrpc/server"),
    "data-formats": ("json/__init__", "json/decoder", "json/encoder", "csv", "zipfile", "zipfile/__init__",
                     "tarfile", "configparser", "plistlib", "pickle", "shelve", "sqlite3/__init__", "xml/dom/minidom",
                     "xml/etree/ElementTree", "base64", "gzip", "lzma", "bz2", "tomllib/_parser", "mimetypes"),
    "concurrency": ("threading", "multiprocessing/pool", "multiprocessing/process", "multiprocessing/managers",
                    "multiprocessing/connection", "asyncio/events", "asyncio/tasks", "asyncio/streams",
                    "asyncio/locks", "asyncio/queues", "asyncio/base_events", "concurrent/futures/_base",
                    "concurrent/futures/thread", "concurrent/futures/process", "subprocess", "queue", "sched",
                    "selectors"),
    "numeric": ("_pydecimal", "fractions", "statistics", "random", "numbers", "heapq", "bisect", "datetime",
                "_pydatetime", "calendar", "colorsys", "_strptime"),
    "system-tools": ("os", "shutil", "pathlib", "pathlib/__init__", "tempfile", "glob", "argparse",
                     "logging/__init__", "logging/handlers", "logging/config", "getopt", "platform", "sysconfig",
                     "zipapp", "venv/__init__", "site", "filecmp", "optparse", "getpass"),
}
CATEGORIES: tuple[str, ...] = ("language-reference", *STDLIB_CATEGORIES)

# Other languages: the locale directory name in /usr/share/locale; all of it is labelled "system-tools", since
# the catalogs translate the manuals of command-line tools.
LOCALE_DIRS: dict[str, tuple[str, ...]] = {
    "de": ("de",), "fr": ("fr",), "es": ("es",), "ru": ("ru",), "pl": ("pl",), "zh": ("zh_CN", "zh"), "ja": ("ja",),
}
# Catalogs with the longest help texts come first; the rest follow in name order until the pool is big enough.
PREFERRED_CATALOGS = ("coreutils", "bash", "tar", "grep", "findutils", "sed", "diffutils", "wget", "dpkg", "apt",
                      "gnupg2", "binutils", "make", "gettext-tools", "man-db", "shadow", "systemd", "xz")
MIN_PARAGRAPHS_PER_LANGUAGE = 1000
CJK_FALLBACK = {"zh": ("gb18030-utf8.txt", "gb2312-utf8.txt"), "ja": ("shift_jis-utf8.txt", "euc_jp-utf8.txt")}

_PRINTF = re.compile(r"%(?:\d+\$)?[-#0 +'I]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[hlLqjzt]*[diouxXeEfFgGaAcsSpn%]"
                     r"|%\(|%<|\{\d*\}|\$\{")
_OPTION_LINE = re.compile(r"^\s*[-+*]|\S\s{3,}\S")
_SPACES = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_UNDERLINE = re.compile(r"^\s*([*=\-~^#])\1{2,}\s*$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
_LETTER_OR_SPACE = re.compile(r"[^\W\d_]|\s")
_ENDS_SENTENCE = (".", "!", "?", ":", "。", "！", "？", "」", "»")


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One block of real text: `tag` is p, li, h2 or pre; `source` names where it was read (pydoc:for, ...)."""

    text: str
    tag: str
    source: str
    title: str


def _is_cjk(text: str) -> bool:
    return len(_CJK.findall(text)) * 3 > len(text)


def _good_prose(text: str, min_words: int = 8) -> bool:
    if _is_cjk(text):
        return 24 <= len(text) <= 1200 and text.endswith(_ENDS_SENTENCE)
    letters = len(_LETTER_OR_SPACE.findall(text))
    return (len(text.split()) >= min_words and len(text) <= 1500 and letters >= 0.85 * len(text)
            and text.endswith(_ENDS_SENTENCE) and "::=" not in text and ">>>" not in text)


def plain_text_blocks(text: str, source: str, title: str) -> list[Paragraph]:
    """Split reST-like plain text (pydoc topics, docstrings) into headings, paragraphs, list items and code."""
    out: list[Paragraph] = []
    for block in _BLANK_LINE.split(text):
        lines = [ln.rstrip() for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        if len(lines) == 2 and _UNDERLINE.match(lines[1]):
            title = lines[0].strip()
            out.append(Paragraph(title, "h2", source, title))
        elif all(ln.startswith("   ") for ln in lines) and not lines[0].lstrip().startswith(("* ", "- ")):
            code = [ln[min(len(x) - len(x.lstrip()) for x in lines):] for ln in lines]
            if len(code) <= 14 and all(len(ln) <= 100 for ln in code):
                out.append(Paragraph("\n".join(code), "pre", source, title))
        else:
            first = lines[0].lstrip()
            tag = "li" if first.startswith(("* ", "- ")) else "p"
            joined = " ".join(ln.strip() for ln in lines)
            joined = _SPACES.sub(" ", joined[2:] if tag == "li" else joined).strip()
            if _good_prose(joined):
                out.append(Paragraph(joined, tag, source, title))
    return out


def _stdlib_file(name: str) -> Path | None:
    path = Path(sysconfig.get_paths()["stdlib"]) / f"{name}.py"
    return path if path.is_file() else None


_DEFS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def docstring_blocks(path: Path, module: str) -> list[Paragraph]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []
    module_doc = ast.get_docstring(tree) or ""
    title = module_doc.strip().splitlines()[0].rstrip(".") if module_doc.strip() else f"The {module} module"
    out = plain_text_blocks(module_doc, f"stdlib:{module}", title)
    # Public classes, their methods and module-level functions; walking into function bodies finds nothing more
    # and costs most of the time.
    nodes = [n for n in tree.body if isinstance(n, _DEFS)]
    nodes += [m for n in nodes if isinstance(n, ast.ClassDef) for m in n.body if isinstance(m, _DEFS)]
    for node in nodes:
        doc = ast.get_docstring(node) if not node.name.startswith("_") else None
        if doc:
            out += plain_text_blocks(doc, f"stdlib:{module}.{node.name}", f"{module}.{node.name}")
    return out


@functools.cache
def english_pool(category: str) -> tuple[Paragraph, ...]:
    """All paragraphs of one English category, in source order."""
    if category == "language-reference":
        from pydoc_data.topics import topics

        out: list[Paragraph] = []
        for name in sorted(topics):
            out += plain_text_blocks(topics[name], f"pydoc:{name}", name)
        return tuple(out)
    out = []
    for name in STDLIB_CATEGORIES[category]:
        path = _stdlib_file(name)
        if path is not None:
            out += docstring_blocks(path, name.removesuffix("/__init__").replace("/", "."))
    return tuple(out)


def gettext_paragraphs(msgstr: str, source: str) -> list[Paragraph]:
    """Prose paragraphs of one translated message; option tables and printf templates are left out."""
    out = []
    for block in _BLANK_LINE.split(msgstr) if "\n" in msgstr else (msgstr,):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if not lines or any(_OPTION_LINE.search(ln) for ln in lines):
            continue
        text = ""
        for ln in (ln.strip() for ln in lines):
            text += ln if (text and _is_cjk(text[-1] + ln[:1])) or not text else " " + ln
        if _PRINTF.search(text) or "@" in text or "\t" in text:
            continue
        text = _SPACES.sub(" ", text)  # NBSP before French punctuation, double spaces: extractors fold them too
        if _good_prose(text, 7):
            out.append(Paragraph(text, "p", source, ""))
    return out


def _locale_roots() -> list[Path]:
    roots = [Path(sys.prefix) / "share" / "locale", Path("/usr/local/share/locale"), Path("/usr/share/locale")]
    return [r for r in dict.fromkeys(roots) if r.is_dir()]


def _catalog_paths(lang: str) -> list[Path]:
    paths: dict[str, Path] = {}
    for root in _locale_roots():
        for dirname in LOCALE_DIRS.get(lang, (lang,)):
            for mo in sorted((root / dirname / "LC_MESSAGES").glob("*.mo")):
                paths.setdefault(mo.stem, mo)
    rank = {name: i for i, name in enumerate(PREFERRED_CATALOGS)}
    return [paths[k] for k in sorted(paths, key=lambda k: (rank.get(k, len(rank)), k))]


@functools.cache
def foreign_pool(lang: str) -> tuple[Paragraph, ...]:
    """Paragraphs in `lang`: gettext catalogs first, then the CJK test texts, then CLDR names."""
    out: list[Paragraph] = []
    seen: set[str] = set()
    for mo in _catalog_paths(lang):
        try:
            with mo.open("rb") as fh:
                catalog = gettext.GNUTranslations(fh)._catalog
        except (OSError, UnicodeDecodeError, ValueError, LookupError):
            continue  # a catalog with a wrong charset header; the others are enough
        source = f"gettext:{lang}/{mo.stem}"
        for key in sorted(k for k, v in catalog.items() if isinstance(k, str) and k and len(v) >= 24):
            for para in gettext_paragraphs(catalog[key], source):
                if para.text not in seen:
                    seen.add(para.text)
                    out.append(para)
        if len(out) >= MIN_PARAGRAPHS_PER_LANGUAGE:
            break
    return tuple(out) or _cjk_test_pool(lang) or _cldr_pool(lang)


def _cjk_test_pool(lang: str) -> tuple[Paragraph, ...]:
    folder = Path(sysconfig.get_paths()["stdlib"]) / "test" / "cjkencodings"
    out = []
    for name in CJK_FALLBACK.get(lang, ()):
        path = folder / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            out += [Paragraph(ln.strip(), "p", f"cpython-test:{name}", "") for ln in text.splitlines()
                    if _is_cjk(ln) and len(ln.strip()) >= 20]
    return tuple(out)


def _cldr_pool(lang: str) -> tuple[Paragraph, ...]:
    """Not prose: sentences made of CLDR territory names, so that a language without catalogs still appears."""
    try:
        from babel import Locale, UnknownLocaleError
    except ImportError:
        return ()
    try:
        names = sorted(Locale.parse(lang).territories.values())
    except (UnknownLocaleError, ValueError):
        return ()  # no locale data: the language is left out of the crawl
    return tuple(Paragraph(", ".join(names[i:i + 12]) + ".", "p", f"cldr:{lang}", "")
                 for i in range(0, len(names) - 12, 12))


def vocabulary(pool: tuple[Paragraph, ...], limit: int = 400) -> list[str]:
    """Distinct longer words of a pool, in first-seen order: material for keyword lists and word edits."""
    words: dict[str, None] = {}
    for para in pool:
        for word in re.findall(r"[^\W\d_]{5,}", para.text):
            words.setdefault(word.lower(), None)
        if len(words) >= limit:
            break
    return list(words)


@dataclass(frozen=True, slots=True)
class Charset:
    """How a page's bytes are encoded (`label`, written with Python's `codec`) and what the page claims."""

    label: str
    codec: str
    declared: str | None  # differs from label on the mislabelled page; None when nothing is declared
    where: str  # header+meta | header | meta | none


UTF8 = Charset("utf-8", "utf-8", "utf-8", "header+meta")
CHARSETS: dict[str, tuple[Charset, ...]] = {
    "en": (UTF8, Charset("windows-1252", "cp1252", "windows-1252", "header"),
           Charset("iso-8859-1", "latin-1", "iso-8859-1", "meta"), Charset("utf-8", "utf-8", None, "none")),
    "de": (UTF8, Charset("iso-8859-1", "latin-1", "iso-8859-1", "header"),
           Charset("windows-1252", "cp1252", "windows-1252", "meta"),
           Charset("iso-8859-1", "latin-1", "utf-8", "header+meta")),  # Latin-1 bytes that claim to be UTF-8
    "fr": (Charset("utf-8", "utf-8", "utf-8", "meta"),
           Charset("windows-1252", "cp1252", "windows-1252", "header+meta"),
           Charset("iso-8859-15", "iso8859_15", "iso-8859-15", "header")),
    "es": (UTF8, Charset("iso-8859-1", "latin-1", "iso-8859-1", "meta")),
    "ru": (Charset("windows-1251", "cp1251", "windows-1251", "header"), Charset("koi8-r", "koi8_r", "koi8-r", "meta"),
           UTF8),
    "pl": (Charset("iso-8859-2", "iso8859_2", "iso-8859-2", "header"), UTF8),
    "zh": (Charset("gb18030", "gb18030", "gb18030", "header"), Charset("gbk", "gbk", "gbk", "meta"), UTF8),
    "ja": (Charset("shift_jis", "shift_jis", "shift_jis", "header+meta"),
           Charset("euc-jp", "euc_jp", "euc-jp", "meta"), UTF8),
}
# Browsers decode these labels with a superset codec (WHATWG); a line must read back unchanged through it too.
_READ_BACK = {"latin-1": "cp1252", "shift_jis": "cp932", "gbk": "gb18030"}
_TO_ASCII = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'", "–": "-", "—": "-",
                           "…": "...", "«": '"', "»": '"', "\u00a0": " ", "·": "-"})


def fit(line: str, charset: Charset) -> str | None:
    """`line` as it can be written in the charset (typographic quotes made plain if needed), or None."""
    for candidate in (line, line.translate(_TO_ASCII)):
        try:
            data = candidate.encode(charset.codec)
            if data.decode(_READ_BACK.get(charset.codec, charset.codec)) == candidate:
                return candidate
        except UnicodeError:
            continue
    return None


@dataclass(slots=True)
class Article:
    title: str
    blocks: list[tuple[str, str]]  # (tag, text): p, li, h2, pre
    sources: list[str]

    def lines(self) -> list[str]:
        return [ln for tag, text in self.blocks for ln in (text.split("\n") if tag == "pre" else [text])]


def pool_for(lang: str, category: str | None) -> tuple[Paragraph, ...]:
    return english_pool(category or "language-reference") if lang == "en" else foreign_pool(lang)


def _short_title(text: str, lang: str) -> str:
    first = re.split(r"(?<=[.!?。！？])\s*", text)[0].rstrip(".。:")
    if lang in ("zh", "ja"):
        return first[:28]
    words = first.split()
    return " ".join(words[:10]) + ("…" if len(words) > 10 else "")


def make_article(rng, lang: str, category: str | None, charset: Charset) -> Article:
    """Paragraphs drawn one by one from the whole pool, kept in source order.

    Not runs of consecutive paragraphs: a large crawl reuses each paragraph many times, and single draws keep
    two unrelated articles from sharing more than a paragraph or two, so they never look like near duplicates.
    """
    pool = pool_for(lang, category)
    target = rng.randint(1800, 9000) if lang == "en" else rng.randint(1000, 4000)
    chosen: dict[int, str] = {}
    size = code_blocks = 0
    for _ in range(20 * len(pool)):
        if size >= target or len(chosen) == len(pool):
            break
        i = rng.randrange(len(pool))
        para = pool[i]
        if i in chosen or para.tag == "h2" or (para.tag == "pre" and code_blocks == 2):
            continue
        text = fit(para.text, charset)
        if text is None or (para.tag == "pre" and text != para.text):
            continue
        chosen[i] = text
        size += len(text)
        code_blocks += para.tag == "pre"
    order = sorted(chosen)
    first = pool[order[0]] if order else None
    title = first and fit(first.title or _short_title(first.text, lang), charset)
    return Article(title or "Notes", [(pool[i].tag, chosen[i]) for i in order],
                   sorted({pool[i].source for i in order}))


_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*")


def edit_article(article: Article, rng, rate: float, mode: str, lang: str, charset: Charset) -> Article:
    """A near duplicate: each word (or sentence) is changed with probability `rate`, at least one; code stays."""
    words = [w for _, text in article.blocks for w in text.split()]
    donors = [s for p in pool_for(lang, None)[:400] for s in _SENTENCE.split(p.text) if s and fit(s, charset) == s]
    joiner = "" if lang in ("zh", "ja") else " "
    editable = [i for i, (tag, _) in enumerate(article.blocks) if tag not in ("pre", "h2")]
    forced = rng.choice(editable) if editable else -1  # a block that surely changes, even at a 1 % rate
    blocks = []
    for i, (tag, text) in enumerate(article.blocks):
        if i not in editable:
            blocks.append((tag, text))
            continue
        units = text.split() if mode == "words" else [s for s in _SENTENCE.split(text) if s]
        must = rng.randrange(len(units)) if i == forced else -1
        out: list[str] = []
        for j, unit in enumerate(units):
            if rng.random() >= rate and j != must:
                out.append(unit)
                continue
            new = rng.choice(words) if mode == "words" else rng.choice(donors)
            op = rng.random()
            if op < 0.6 and new != unit:
                out.append(new)
            elif op >= 0.8 or j == must:
                out += [unit, new]
        edited = fit((" " if mode == "words" else joiner).join(out), charset)
        blocks.append((tag, edited if edited else text))
    return Article(article.title, blocks, article.sources)
