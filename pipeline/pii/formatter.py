"""Personal-data masking: e-mails, IP addresses, phone numbers, payment cards and IBANs become typed placeholders.

A formatter: it rewrites text and never drops a document. Each masked span is replaced by its type's placeholder
(`<EMAIL>`, `<IP>`, `<PHONE>`, `<CARD>`, `<IBAN>`), or, with `mode = "hash"`, by `<EMAIL:1f2e3d4c5b6a>`, a salted
hash of the normalised value, so that users who must join records across documents still can without keeping
the value. Public, well-known addresses (documentation networks, example domains, public resolvers) stay as
they are. `_stats.json` counts, per type, the documents touched (`pii.<type>.documents`) and the spans masked
(`pii.<type>.spans`). Detection is in `pipeline.pii.detect`.

    [pii]
    enabled = true
    types = ["email", "ip", "phone", "card", "iban"]
    mode = "hash"
    salt = "a secret of this corpus"
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from pipeline.pii.detect import TYPES, find_spans
from pipeline.stats import Stats

# RFC 5737 / 3849 documentation networks, loopback, unspecified, broadcast, and the best-known public resolvers
DEFAULT_ALLOWED_IPS = [
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "127.0.0.0/8", "::1/128", "0.0.0.0/32",
    "::/128", "255.255.255.255/32", "8.8.8.8/32", "8.8.4.4/32", "1.1.1.1/32", "1.0.0.1/32", "9.9.9.9/32",
    "2001:4860:4860::8888/128", "2001:4860:4860::8844/128", "2606:4700:4700::1111/128",
]
# RFC 2606 / 6761 reserved names: addresses under them belong to nobody
DEFAULT_ALLOWED_DOMAINS = ["example.com", "example.org", "example.net", "example.edu", "example", "test", "invalid",
                           "localhost"]


@dataclass(kw_only=True)
class PIIConfig:
    """The [pii] table: which personal data the extract stage masks, and how."""

    enabled: bool = False  # off by default: the demo's outputs stay byte-identical
    types: list[str] = field(default_factory=lambda: list(TYPES))  # of email, iban, card, ip, phone
    mode: Literal["placeholder", "hash"] = "placeholder"
    salt: str = ""  # hash mode: keep it secret, or the hashes of common values can be reversed by guessing
    placeholders: dict[str, str] = field(default_factory=dict)  # per type, e.g. {email = "[email]"}
    allowed_ips: list[str] = field(default_factory=lambda: list(DEFAULT_ALLOWED_IPS))  # networks left as they are
    allowed_email_domains: list[str] = field(default_factory=lambda: list(DEFAULT_ALLOWED_DOMAINS))  # and subdomains

    def __post_init__(self) -> None:
        unknown = sorted(set(self.types) - set(TYPES)) or sorted(set(self.placeholders) - set(TYPES))
        if unknown:
            raise ValueError(f"unknown PII type {unknown[0]!r} (known: {', '.join(TYPES)})")
        for network in self.allowed_ips:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"allowed_ips: {network!r} is not an IP network") from None
        if self.mode == "hash" and not self.salt:
            raise ValueError("mode = 'hash' needs a salt (unsalted hashes of e-mails and phones are reversible)")


class PIIFormatter:
    """`format(text)` returns the masked text and adds what it masked to `self.counters` (spans per type)."""

    name = "pii"

    def __init__(self, config: PIIConfig | None = None) -> None:
        self.config = config or PIIConfig()
        self.types = tuple(t for t in TYPES if t in self.config.types)
        self.placeholders = {t: self.config.placeholders.get(t, f"<{t.upper()}>") for t in TYPES}
        networks = [ipaddress.ip_network(n, strict=False) for n in self.config.allowed_ips]
        # Networks as integers, a set of network addresses per netmask: an address is checked with one lookup per
        # prefix length (three or four for the defaults) instead of a comparison with every network
        self._networks: dict[int, dict[int, set[int]]] = {4: {}, 6: {}}
        for n in networks:
            self._networks[n.version].setdefault(int(n.netmask), set()).add(int(n.network_address))
        domains = [d.lower().strip(".") for d in self.config.allowed_email_domains]
        self._domains, self._domain_suffixes = frozenset(domains), tuple("." + d for d in domains)
        self.counters: Counter = Counter()

    def allowed(self, kind: str, value: str) -> bool:
        if kind == "ip":
            version = 4
            if ":" in value:
                address = ipaddress.IPv6Address(value)
                mapped = address.ipv4_mapped  # ::ffff:192.0.2.1 is allowed as 192.0.2.1 is
                version, number = (6, int(address)) if mapped is None else (4, int(mapped))
            else:  # a dotted quad without building an ipaddress object
                a, b, c, d = map(int, value.split("."))
                number = a << 24 | b << 16 | c << 8 | d
            return any((number & mask) in nets for mask, nets in self._networks[version].items())
        if kind == "email":
            domain = value.rsplit("@", 1)[1].lower()
            return domain in self._domains or domain.endswith(self._domain_suffixes)
        return False

    def replacement(self, kind: str, value: str) -> str:
        if self.config.mode == "placeholder":
            return self.placeholders[kind]
        normal = value.lower() if kind in ("email", "ip") else "".join(c for c in value if c.isalnum() or c == "+")
        digest = hashlib.blake2b(normal.encode(), key=self.config.salt.encode()[:64], digest_size=6).hexdigest()
        return f"{self.placeholders[kind][:-1]}:{digest}>"

    def format(self, text: str) -> str:
        pieces: list[str] = []
        last = 0
        for start, end, kind, value in find_spans(text, self.types):
            if self.allowed(kind, value):
                continue
            pieces += (text[last:start], self.replacement(kind, value))
            last = end
            self.counters[kind] += 1
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def apply(self, doc, stats: Stats | None = None) -> None:
        """Mask `doc.text` in place and count per type: documents touched and spans masked."""
        self.counters.clear()
        doc.text = self.format(doc.text)
        if stats is not None and self.counters:
            stats.count("pii.documents")
            for kind, n in self.counters.items():
                stats.count(f"pii.{kind}.documents")
                stats.count(f"pii.{kind}.spans", n)
        self.counters.clear()
