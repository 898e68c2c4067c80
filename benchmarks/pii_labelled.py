"""A labelled set for PII masking: real prose with planted personal data of every type, and planted hard negatives.

Prose: the main text of the ../shared/data/extraction-dev pages (trafilatura, cached in the temp dir) and the
sample crawl's English paragraphs (demo.text). Into each document go sentences carrying planted values — each
type in many formats, all random and valid (Luhn cards, mod-97 IBANs, public IPs outside the allow-list) — and
sentences carrying hard negatives: version numbers, dates, ISBNs, coordinates, order ids, long digit runs,
user@host in code, times, prices. Every planted value is unique, so a scorer can tell by its presence in the
output whether it was masked. Seeded: the same seed gives the same set.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.pii.detect import IBAN_LENGTHS

DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "extraction-dev"
FIRST = ["anna", "ben", "chloe", "david", "elif", "farid", "greta", "hiro", "ines", "jonas", "kai", "lena", "mo"]
LAST = ["schmidt", "nguyen", "garcia", "kowalski", "okafor", "rossi", "dubois", "tanaka", "meyer", "silva"]
HOSTS = [
    "gmail.com",
    "web.de",
    "posteo.de",
    "uni-hamburg.de",
    "mail.company.co.uk",
    "outlook.fr",
    "proton.me",
    "student.ethz.ch",
    "firma-gmbh.at",
    "yahoo.com",
    "research.lab.io",
]


@dataclass
class Doc:
    text: str
    positives: list[tuple[str, str]] = field(default_factory=list)  # (type, planted value as written)
    negatives: list[tuple[str, str]] = field(default_factory=list)  # (kind, planted value as written)


def dev_pages() -> list[str]:
    """Main text of the extraction-dev pages (trafilatura, favour precision; cached in the temp dir)."""
    if not DEV.exists():
        return []
    cache = Path(tempfile.gettempdir()) / "sluice-pii-bench-prose.json"
    if cache.exists():
        return json.loads(cache.read_text())
    import trafilatura

    texts = []
    entries = json.loads((DEV / "evaldata-dev.json").read_text())
    for entry in sorted(entries.values(), key=lambda e: e["file"]):
        html = gzip.decompress((DEV / "html" / entry["file"]).read_bytes()).decode("utf-8", "replace")
        text = trafilatura.extract(html, favor_precision=True)
        if text and len(text) > 500:
            texts.append(text)
    cache.write_text(json.dumps(texts))
    return texts


def prose(limit_chars: int) -> list[str]:
    """Real paragraphs: extraction-dev main texts first, then the sample crawl's English pool."""
    from demo.text import CATEGORIES, english_pool

    texts = dev_pages()
    for category in CATEGORIES:
        texts += [p.text for p in english_pool(category) if p.tag == "p" and len(p.text) > 200]
    out, total = [], 0
    for text in texts:
        if total >= limit_chars:
            break
        out.append(text)
        total += len(text)
    return out


def _digits(rng, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def luhn_complete(rng, prefix: str, length: int) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def iban(rng, country: str) -> str:
    n = IBAN_LENGTHS[country] - 4
    bban = (
        "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + _digits(rng, n - 4)
        if country in ("GB", "NL", "IE")
        else _digits(rng, n)
    )
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    return f"{country}{check:02d}{bban}"


def positive(rng, kind: str) -> tuple[str, str]:
    """(sentence, value) for one planted span of `kind`, in a format picked at random."""
    user = f"{rng.choice(FIRST)}{rng.choice(['.', '_', '-', ''])}{rng.choice(LAST)}{rng.randint(1, 999)}"
    if kind == "email":
        host = rng.choice(HOSTS)
        value = rng.choice(
            [
                f"{user}@{host}",
                f"{user}+news@{host}",
                f"{user.upper()}@{host.upper()}",
                f"{user} [at] {host.replace('.', ' [dot] ')}",
                f"{user}(at){host}",
            ]
        )
        template = rng.choice(
            ["Write to {} for details.", "Kontakt: <{}>", "E-mail: mailto:{}", "({}) replied.", "Send your CV to {}."]
        )
    elif kind == "ip":
        a = rng.choice([23, 45, 62, 77, 81, 91, 104, 141, 151, 185, 212])
        v4 = f"{a}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(6)]
        v6 = rng.choice(
            [
                f"2a02:{':'.join(groups)}:1",
                f"2a01:{groups[0]}:{groups[1]}::{groups[2]}",
                f"2a00:{groups[0]}::{groups[1]}",
                f"::ffff:{v4}",
            ]
        )
        value = rng.choice([v4, v6])  # the address; the sentence may add a port or a prefix length, not personal
        written = rng.choice(
            [
                value,
                value,
                f"{value}/32" if value == v4 else f"{value}/128",
                f"{value}:{rng.randint(1024, 65535)}" if value == v4 else f"[{value}]:443",
            ]
        )
        template = rng.choice(
            [
                "The attack came from {} last night.",
                "Connect to {} with ssh.",
                "Logged IP: {}",
                "Server ({}) is unreachable.",
            ]
        )
        return template.format(written), value
    elif kind == "phone":
        d = lambda n: _digits(rng, n)  # noqa: E731
        area = str(rng.randint(2, 9)) + d(2)
        value = rng.choice(
            [
                f"+1 ({area}) {rng.randint(2, 9)}{d(2)}-{d(4)}",
                f"+44 20 {d(4)} {d(4)}",
                f"+49 (0)30 {d(4)} {d(4)}",
                f"+49 {rng.randint(151, 179)} {d(7)}",
                f"0049 89 {d(8)}",
                f"({area}) {rng.randint(2, 9)}{d(2)}-{d(4)}",
                f"{area}-{rng.randint(2, 9)}{d(2)}-{d(4)}",
                f"{area}.{rng.randint(2, 9)}{d(2)}.{d(4)}",
                f"030 {d(8)}",
                f"0{rng.randint(151, 179)}/{d(7)}",
                f"0{rng.randint(1, 9)} {d(2)} {d(2)} {d(2)} {d(2)}",
                f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
                f"+91 {rng.randint(7, 9)}{d(4)} {d(5)}",
                f"+86 138 {d(4)} {d(4)}",
                f"+4930{d(7)}",
                f"0{rng.randint(1, 9)}.{d(2)}.{d(2)}.{d(2)}.{d(2)}",
            ]
        )
        template = rng.choice(
            ["Call us on {} during office hours.", "Tel. {}", "Phone: {}", "mobile {} (evenings)", "Reach me at {}."]
        )
    elif kind == "card":
        prefix, length = rng.choice(
            [
                ("4", 16),
                ("51", 16),
                ("55", 16),
                ("2221", 16),
                ("34", 15),
                ("37", 15),
                ("6011", 16),
                ("3530", 16),
                ("4", 13),
            ]
        )
        number = luhn_complete(rng, prefix, length)
        if length == 16:
            sep = rng.choice([" ", "-", ""])
            number = sep.join(number[i : i + 4] for i in range(0, 16, 4))
        elif length == 15 and rng.random() < 0.5:
            number = f"{number[:4]} {number[4:10]} {number[10:]}"
        value = number
        template = rng.choice(
            ["Card number: {}.", "I paid with {} yesterday.", "CC {} exp 04/27", "Please charge {}."]
        )
    else:
        compact = iban(rng, rng.choice(["DE", "GB", "FR", "NL", "AT", "CH", "ES", "IT", "PL", "BE"]))
        value = compact if rng.random() < 0.5 else " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
        template = rng.choice(
            ["IBAN: {}", "Bitte überweisen Sie auf {}.", "Account {} (BIC below).", "Transfer to {} today."]
        )
    return template.format(value), value


def negative(rng) -> tuple[str, str, str]:
    """(kind, sentence, value) of one hard negative: text with digits and '@' that is not personal data."""
    d = lambda n: _digits(rng, n)  # noqa: E731
    kind = rng.choice(["version", "date", "isbn", "coordinates", "order", "digits", "code", "time", "price", "misc"])
    isbn12 = "978" + d(9)
    check = (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(isbn12)) % 10) % 10
    value = {
        "version": rng.choice(
            [
                f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
                f"version {rng.randint(1, 12)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}",
                f"Python 3.{rng.randint(6, 13)}.{rng.randint(0, 12)}",
                f"1.{rng.randint(0, 40)}.0-rc2",
            ]
        ),
        "date": rng.choice(
            [
                f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(1990, 2030)}",
                f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(1990, 2030)}",
                f"{rng.randint(1990, 2030)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}T120000Z",
            ]
        ),
        "isbn": rng.choice(
            [
                f"ISBN {isbn12[:3]}-{isbn12[3]}-{isbn12[4:8]}-{isbn12[8:]}-{check}",
                f"ISBN-13: {isbn12}{check}",
                f"ISBN 0-{d(3)}-{d(5)}-X",
            ]
        ),
        "coordinates": rng.choice(
            [
                f"{rng.uniform(-80, 80):.4f}, {rng.uniform(-170, 170):.4f}",
                f"{rng.randint(0, 89)}°{rng.randint(0, 59)}′{rng.randint(0, 59)}″N",
                f"lat {rng.uniform(-80, 80):.6f} lon {rng.uniform(-170, 170):.6f}",
            ]
        ),
        "order": rng.choice(
            [
                f"Order #{d(3)}-{d(7)}-{d(7)}",
                f"order no. {d(10)}",
                f"ORD-{rng.randint(2015, 2030)}-{d(6)}",
                f"Invoice {d(4)}/{d(5)}",
                f"tracking {rng.choice(['1Z', 'JD'])}{d(16)}",
            ]
        ),
        "digits": rng.choice(
            [d(rng.randint(10, 30)), f"{rng.randint(1, 9)}{d(2)} {d(3)} {d(3)}", f"0x{d(12)}", f"{d(6)}-{d(2)}"]
        ),
        "code": rng.choice(
            [
                f"ssh {rng.choice(FIRST)}@build-{rng.randint(1, 99)}",
                f"git clone git@internal:{d(3)}/x",
                f"npm i left-pad@{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
                f"@media (max-width: {rng.randint(300, 1200)}px)",
                "x = a @ b.T",
                "@property",
            ]
        ),
        "time": rng.choice(
            [
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
                f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d} pm",
                f"ratio {rng.randint(1, 9)}:{rng.randint(1, 9)}",
            ]
        ),
        "price": rng.choice(
            [
                f"{rng.randint(1, 999)},{d(2)} €",
                f"${rng.randint(1, 99)},{d(3)},{d(3)}.{d(2)}",
                f"{rng.randint(1, 9)}.{d(3)}.{d(3)} Einwohner",
            ]
        ),
        "misc": rng.choice(
            [
                f"pi ≈ 3.{d(14)}",
                f"PLZ {d(5)} Berlin",
                f"room {d(3)}-{d(3)}",
                f"Art.-Nr. {d(3)}.{d(3)}.{d(2)}",
                f"{d(2)}% of {d(4)} people",
            ]
        ),
    }[kind]
    return (
        kind,
        rng.choice(["It mentions {} in passing.", "See {}.", "({})", "Note: {} applies."]).format(value),
        value,
    )


def build(seed: int = 7, limit_chars: int = 3 << 20, per_doc: tuple[int, int] = (3, 6)) -> list[Doc]:
    """Documents of real prose, each with `per_doc` random planted positives and as many hard negatives."""
    rng = random.Random(seed)
    docs: list[Doc] = []
    for text in prose(limit_chars):
        sentences = re.split(r"(?<=[.!?])\s+", text)
        doc = Doc("")
        for _ in range(rng.randint(*per_doc)):
            kind = rng.choice(["email", "ip", "phone", "card", "iban"])
            sentence, value = positive(rng, kind)
            sentences.insert(rng.randint(0, len(sentences)), sentence)
            doc.positives.append((kind, value))
            kind, sentence, value = negative(rng)
            sentences.insert(rng.randint(0, len(sentences)), sentence)
            doc.negatives.append((kind, value))
        doc.text = " ".join(sentences)
        docs.append(doc)
    return docs
