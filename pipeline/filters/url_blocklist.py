"""URL and domain block list, read from a text file (local path or any fsspec URL).

File format, one entry per line, '#' starts a comment:
    example.com                    blocks example.com and every subdomain (a.b.example.com), any scheme and path
    http://example.org/forum/      blocks URLs that start with this (scheme and "www." ignored), on that host only
Banned words (`banned_url_words`) match whole tokens of the lowercased URL split on non-alphanumerics, so "sex"
blocks "site.com/sex-toys" but not "essex.ac.uk".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from pipeline.config import ConfigError
from pipeline.document import Document, url_domain
from pipeline.filters.base import Filter
from pipeline.stats import DropReason

_SECTION = "filters.url_blocklist"
_URL_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(kw_only=True)
class UrlBlocklistConfig:
    enabled: bool = True
    blocklist_path: str | None = None  # None = no domain/URL list
    banned_url_words: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for word in self.banned_url_words:
            if not word or _URL_TOKEN_SPLIT.search(word.lower()):
                raise ConfigError(f"{_SECTION}.banned_url_words: {word!r} is not one lowercase alphanumeric token")


def _host_and_path(url: str) -> tuple[str, str]:
    """("example.org", "/forum/x?q=1") with "www." and the port dropped, so list entries and URLs compare alike."""
    host = url_domain(url)
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
    except ValueError:
        return host, ""
    path = parts.path or "/"
    return host, f"{path}?{parts.query}" if parts.query else path


def read_blocklist(path: str) -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """(blocked domains, {host: blocked path prefixes}) from a block list file."""
    import fsspec

    domains: set[str] = set()
    prefixes: dict[str, list[str]] = {}
    try:
        with fsspec.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{_SECTION}.blocklist_path: file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{_SECTION}.blocklist_path: {path} is not UTF-8 text: {e}") from None
    for line in lines:
        entry = line.split("#", 1)[0].strip().lower()
        if not entry:
            continue
        if "/" in entry:
            host, path_prefix = _host_and_path(entry)
            if host:
                prefixes.setdefault(host, []).append(path_prefix)
        else:
            domains.add(entry.removeprefix("www.").rstrip("."))
    return frozenset(domains), {host: tuple(p) for host, p in prefixes.items()}


class UrlBlocklistFilter(Filter):
    """Drops with "url_blocklist:domain", "url_blocklist:url" or "url_blocklist:banned_word"."""

    name: ClassVar[str] = DropReason.URL_BLOCKLIST

    def __init__(self, config: UrlBlocklistConfig | None = None) -> None:
        self.config = config or UrlBlocklistConfig()
        self._banned_words = frozenset(self.config.banned_url_words)
        self._domains: frozenset[str] | None = None
        self._prefixes: dict[str, tuple[str, ...]] = {}

    def load(self) -> None:
        """Read the list now (the chain calls this on first use); a missing file is a ConfigError."""
        if self._domains is None:
            if self.config.blocklist_path:
                self._domains, self._prefixes = read_blocklist(self.config.blocklist_path)
            else:
                self._domains = frozenset()

    def __getstate__(self) -> dict:
        # Ship the settings, not a possibly large list: each executor reads the file itself.
        return {"config": self.config, "_banned_words": self._banned_words, "_domains": None, "_prefixes": {}}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._domains is None:
            self.load()
        url = doc.url.lower()
        host = doc.domain.lower() if doc.domain else url_domain(url)
        if self._domains and host:
            labels = host.split(".")
            for i in range(len(labels)):
                if ".".join(labels[i:]) in self._domains:
                    return False, f"{self.name}:domain"
        if host in self._prefixes:
            _, path = _host_and_path(url)
            if path.startswith(self._prefixes[host]):
                return False, f"{self.name}:url"
        if self._banned_words and not self._banned_words.isdisjoint(_URL_TOKEN_SPLIT.split(url)):
            return False, f"{self.name}:banned_word"
        return True
