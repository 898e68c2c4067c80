"""Finding personal data in text: one scanner per type, each a fast trigger plus a checksum or structure check.

Speed comes from never trying a pattern at every character: e-mails start from each '@' (a C-level search; see
`pii_email`), IPv6 from each ':' followed by a hex digit, and the digit types search only small windows around
the digit clusters that one regular expression finds. On text dense with numbers the Python work per cluster
dominates, so each digit scanner runs only where the cluster can hold its type. A candidate then has to pass a
check that random text rarely passes: Luhn and an issuer prefix for cards, mod-97 and the country's length for
IBANs, `ipaddress` for IPs, a digit count and a layout for phone numbers. Each scanner yields (start, end, value)
spans; `find_spans` merges them, earlier types winning overlaps (an IBAN's digits are never also a card).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from pipeline.pii.emails import find_emails

TYPES = ("email", "iban", "card", "ip", "phone")  # also the priority order when two spans overlap

# --- IBAN ---------------------------------------------------------------------------------------------------------
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}
# Case-insensitive (people type "de89 3704 ..."): affordable, since it only searches windows around digit runs.
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})((?:[ -]?[A-Za-z0-9]){11,30})")
# The account part (after country and check digits) of each length: where a separated IBAN ends
_IBAN_BODIES = {n - 4: re.compile(rf"(?:[ -]?[A-Za-z0-9]){{{n - 4}}}") for n in set(IBAN_LENGTHS.values())}


# Letters as the numbers 10..35 (in either case, as int(c, 36) reads them); one str.translate for the whole IBAN
_IBAN_LETTER_NUMBERS = str.maketrans(
    {c: str(int(c, 36)) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
)


def iban_valid(compact: str) -> bool:
    """ISO 13616: the country's length, and the number (letters as 10..35, first four characters last) mod 97 = 1."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_IBAN_LETTER_NUMBERS)) % 97 == 1


def iban_shapes(text: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int, str]]:
    """(start, end, compact) of text shaped like an IBAN: a known country code, two digits, and exactly the
    country's length in letters and digits, with single spaces or dashes allowed between them."""
    for m in _IBAN.finditer(text, pos, len(text) if endpos is None else endpos):
        length = IBAN_LENGTHS.get(m.group(1).upper())
        if length is None:
            continue
        body, bban_length = m.group(3), length - 4
        bban = body.replace(" ", "").replace("-", "")
        if len(bban) < bban_length:
            continue
        if len(bban) == len(body):  # no separators: the country's length ends the IBAN
            end = m.start(3) + bban_length
        else:  # the first bban_length letters and digits, with the separators between them
            end = _IBAN_BODIES[bban_length].match(text, m.start(3)).end()
        if not text[end:end + 1].isalnum():
            yield m.start(), end, (m.group(1) + m.group(2) + bban[:bban_length]).upper()


def find_ibans(text: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int, str]]:
    return ((s, e, c) for s, e, c in iban_shapes(text, pos, endpos) if iban_valid(c))


# --- payment cards ------------------------------------------------------------------------------------------------
_CARD = re.compile(r"(?<![\w.,/-])\d(?:[ -]?\d){12,18}(?![\d]|[.,/-]\d)")
_CARD_LAYOUTS = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 4, 1), (4, 4, 5), (4, 4, 4, 2)}


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i & 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_issuer_ok(digits: str) -> bool:
    """The issuer prefix must fit the length: a Luhn check alone passes one random digit run in ten."""
    n, p2, p4 = len(digits), int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16  # Mastercard
    if p2 in (34, 37):
        return n == 15  # American Express
    if p2 in (36, 38, 39) or 300 <= p4 // 10 <= 305:
        return 14 <= n <= 19  # Diners Club
    if digits.startswith(("6011", "65")) or 644 <= p4 // 10 <= 649 or p2 == 62:
        return 16 <= n <= 19  # Discover, UnionPay
    if 3528 <= p4 <= 3589:
        return 16 <= n <= 19  # JCB
    if p2 in (50, 56, 57, 58, 63, 67):
        return 12 <= n <= 19  # Maestro
    return False


def find_cards(text: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int, str]]:
    for m in _CARD.finditer(text, pos, len(text) if endpos is None else endpos):
        raw = m.group()
        digits = raw.replace(" ", "").replace("-", "")
        if raw != digits:
            if " " in raw and "-" in raw:  # one kind of separator throughout
                continue
            if tuple(map(len, raw.replace("-", " ").split(" "))) not in _CARD_LAYOUTS:
                continue
        elif len(digits) in (17, 18):  # issued, but so rare that a bare run of this length is far likelier a number
            continue
        if card_issuer_ok(digits) and luhn_valid(digits):
            yield m.start(), m.end(), digits


# --- IP addresses -------------------------------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\bbuild)\s*\Z")
_IPV6_TRIGGER = re.compile(r":[0-9A-Fa-f:]")
_IPV6_CHARS = frozenset("0123456789ABCDEFabcdef:")
_IPV6_RIGHT = re.compile(r"[0-9A-Fa-f:.]{0,45}")


def find_ipv4(text: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int, str]]:
    for m in _IPV4.finditer(text, pos, len(text) if endpos is None else endpos):
        if not _VERSION_BEFORE.search(text, max(0, m.start() - 10), m.start()):
            yield m.start(), m.end(), m.group()


def find_ipv6(text: str) -> Iterator[tuple[int, int, str]]:
    pos = 0
    while (m := _IPV6_TRIGGER.search(text, pos)) is not None:
        colon = m.start()
        start, lo = colon, max(0, colon - 39)
        while start > lo and text[start - 1] in _IPV6_CHARS:  # a few steps back: cheaper than a regex search
            start -= 1
        end = _IPV6_RIGHT.match(text, colon).end()
        while end > colon and (text[end - 1] == "." or (text[end - 1] == ":" and text[end - 2:end] != "::")):
            end -= 1
        candidate = text[start:end]
        ok = (
            # an address without "::" has 8 groups (7 colons, or 6 and an IPv4 tail): spares most clock times
            ("::" in candidate or candidate.count(":") >= 6)
            and not (start and (text[start - 1].isalnum() or text[start - 1] in "_."))
            and not (end < len(text) and (text[end].isalnum() or text[end] == "_"))
            and any(c.isdigit() for c in candidate)
        )
        if ok:
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                ok = False
        if ok:
            yield start, end, candidate
            pos = end
        else:
            pos = colon + 1


# --- phone numbers ------------------------------------------------------------------------------------------------
# International (+CC or 00CC, then groups; an optional "(0)" trunk), North American ((555) 123-4567, 555-123-4567,
# 555.123.4567), and national numbers with a trunk 0 whose groups are separated (030 1234567, 0171/1234567,
# 01 23 45 67 89). A bare digit run is a phone number only after a word like "tel" or "phone".
_PHONE = re.compile(
    r"(?<![\w+.,/-])(?:"
    r"(?:\(?(?:\+|00)[1-9]\d{0,2}\)?)[ .\-–]?(?:\(0\)[ .\-–]?)?(?:\(\d{1,5}\)[ .\-–]?)?\d{1,12}(?:[ .\-–]\d{1,8}){0,5}"
    r"|(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
    r"|0\d{1,4}(?:[ /\-–]\d{2,8}){1,4}"
    r"|0[1-9](?:\.\d{2}){4}"
    r")(?![\w]|[.,/-]\d)"
)
_PHONE_WORD_BEFORE = re.compile(
    r"(?i)\b(?:tel|telephone|phone|mobile|mob|cell|fax|call|whatsapp|telefon|handy|tél|téléphone)\.?:?[ ]?\+?\Z"
)
_NOT_PHONE_BEFORE = re.compile(r"(?i)(?:isbn(?:-1[03])?|order|invoice|ref|id|no|nr|#|art|sku|serial)[\s.:#-]*\Z")


# The last letters of the words in _PHONE_WORD_BEFORE (no other character matches them case-insensitively)
_PHONE_WORD_LAST = frozenset("lebxpnyLEBXPNY")


def _phone_word_before(text: str, start: int) -> bool:
    """A phone word ends just before `start`. Most digit runs follow other words: a look at the last letter first
    (the stripped characters are a superset of what the pattern allows after the word) spares the search."""
    tail = text[max(0, start - 5):start].rstrip("+ :.")
    if not tail or tail[-1] not in _PHONE_WORD_LAST:
        return False
    return _PHONE_WORD_BEFORE.search(text, max(0, start - 16), start) is not None


def _phone_digits_ok(raw: str) -> bool:
    raw = raw.lstrip("(")
    international = raw.startswith(("+", "00"))
    digits = len(raw.replace("(0)", "").translate(_NOT_PHONE_DIGITS))  # the layouts hold no other characters
    if international:
        return 8 <= digits - (2 if raw.startswith("00") else 0) <= 15
    return 9 <= digits <= 12 if raw[0] == "0" else digits == 10


def find_phones(text: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int, str]]:
    """Numbers in a phone layout (a bare digit run is one only after a phone word: see `find_spans`)."""
    for m in _PHONE.finditer(text, pos, len(text) if endpos is None else endpos):
        raw = m.group()
        if _phone_digits_ok(raw) and not _NOT_PHONE_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            yield m.start(), m.end(), raw


# Any stretch of digits and number punctuation of 7+ characters: every digit type lies in one (or starts a few
# characters before one), so the type scanners only ever search small windows around these. The specification:
# `pii_clusters.digit_clusters` finds the same spans in a compiled loop.
DIGIT_CLUSTER = re.compile(r"\d[\d \-–./()]{5,}\d")
_NOT_PHONE_DIGITS = str.maketrans("", "", " -–./()+")


def digit_count(cluster: str) -> int:
    # chained replace: twice as fast as str.translate on strings this short, most calls finding nothing to remove
    return len(cluster.replace(" ", "").replace("-", "").replace(".", "").replace("/", "").replace("(", "")
               .replace(")", "").replace("–", ""))


def find_spans(text: str, types: tuple[str, ...] = TYPES) -> list[tuple[int, int, str, str]]:
    """Non-overlapping (start, end, type, value) spans sorted by start; on overlap the type earlier in TYPES wins.

    Text shaped like an IBAN whose checksum fails is an account number all the same (mistyped, or made up for an
    example), never a phone or card number: its digits are kept from the later scanners.

    On dense text the cost is the Python work per digit cluster, so each scanner runs only when the cluster can
    hold its type. The tests below are exact, not heuristics: every character a card, phone number or IPv4
    address is made of after its first digit is a cluster character, so its digits all lie in one cluster."""
    found: list[tuple[int, int, int, str, str]] = []  # (priority, start, end, type, value)
    blocked: list[tuple[int, int]] = []
    if "email" in types:
        found += [(0, s, e, "email", v) for s, e, v in find_emails(text)]
    want_iban, want_card, want_ip, want_phone = (kind in types for kind in ("iban", "card", "ip", "phone"))
    n = len(text)
    from pipeline.pii.digit_clusters import digit_clusters  # numba: imported on first use

    bounds = digit_clusters(text)
    for i in range(0, len(bounds), 2):
        start, end = bounds[i], bounds[i + 1]
        cluster = text[start:end]
        digits = digit_count(cluster)
        if want_iban and start >= 2 and digits >= 8:
            lo, hi = max(0, start - 12), min(n, end + 24)
            if _IBAN.search(text, lo, hi):  # most long digit runs have no country code and check digits before them
                covered = False
                for s, e, compact in iban_shapes(text, lo, hi):
                    blocked.append((s, e))
                    covered = covered or (s <= start and end <= e)
                    if iban_valid(compact):
                        found.append((1, s, e, "iban", compact))
                if covered:  # what the other scanners find here holds a digit of the cluster: blocked anyway
                    continue
        if want_ip and cluster.count(".") >= 3:  # a dotted quad has three dots
            found += [(3, s, e, "ip", v) for s, e, v in find_ipv4(text, start, min(n, end + 3))]
        if digits < 7:
            continue
        if want_card and digits >= 13:  # the shortest card number has 13 digits
            found += [(2, s, e, "card", v) for s, e, v in find_cards(text, start, min(n, end + 3))]
        if want_phone:
            # every phone layout has at least 8 digits (`_phone_digits_ok`); a bare run of 7 only after a phone word.
            # Four clusters in five hold no phone layout at all: one search says so more cheaply than the scanner.
            lo, hi = max(0, start - 2), min(n, end + 3)
            phones = list(find_phones(text, lo, hi)) if digits >= 8 and _PHONE.search(text, lo, hi) else []
            if phones:
                found += [(4, s, e, "phone", v) for s, e, v in phones]
            elif digits <= 15 and _phone_word_before(text, start):
                first = start - (text[start - 1:start] == "+")
                found.append((4, first, end, "phone", text[first:end]))
    if "ip" in types and ":" in text:
        found += [(3, s, e, "ip", v) for s, e, v in find_ipv6(text)]
    if not found:
        return []
    # Overlaps are looked up in a byte per character (1 = taken; 2 = an IBAN shape, closed to the digit types)
    # rather than by comparing each span with every span taken before it.
    used = bytearray(n)
    for s, e in blocked:
        used[s:e] = b"\x02" * (e - s)
    taken: list[tuple[int, int, str, str]] = []
    for priority, start, end, kind, value in sorted(found):  # a span found from two clusters' windows: taken once
        if used.find(1, start, end) != -1 or (priority > 1 and used.find(2, start, end) != -1):
            continue
        used[start:end] = b"\x01" * (end - start)
        taken.append((start, end, kind, value))
    taken.sort()
    return taken
