import pytest

from pipeline.config import ConfigError, from_dict
from pipeline.document import Document
from pipeline.pii.detect import find_spans, iban_valid, luhn_valid
from pipeline.pii.formatter import PIIConfig, PIIFormatter
from pipeline.stats import Stats


def mask(text: str, **config) -> str:
    return PIIFormatter(PIIConfig(**config)).format(text)


@pytest.mark.parametrize("value", [
    "john.doe@gmail.com", "Jane.Roe+news@Mail.Example-Corp.co.uk", "x_y-z@sub.domain.io", "a.b@c.museum",
])
def test_emails_in_several_formats_are_masked(value):
    for wrapper in ("Write to {}.", "<{}>", "mailto:{}", "({}),", "\"{}\""):
        text = wrapper.format(value)
        assert value not in mask(text), text
        assert "<EMAIL>" in mask(text)


@pytest.mark.parametrize("text", ["max.mustermann(at)firma.de", "bob [at] corp [dot] com", "anna [at] uni-x.de"])
def test_spelled_out_emails_are_masked(text):
    assert mask(f"Kontakt: {text}!") == "Kontakt: <EMAIL>!"


@pytest.mark.parametrize("text", [
    "Server 83.12.44.201 is down", "at 83.12.44.201:8080.", "net 10.20.30.0/24 here", "from 172.16.254.1,",
    "IPv6 2a02:8108:1cc0:5e00::1 here", "fe80::1ff:fe23:4567:890a%eth0", "[2a00:1450:4001:82a::200e]:443",
    "2a02:8108:1cc0:5e00:0:0:0:1 up", "::ffff:83.12.44.201 mapped",
])
def test_ip_addresses_are_masked(text):
    out = mask(text)
    assert "<IP>" in out and not any(c.isdigit() for c in out.replace("<IP>", "").split("/")[0].split("]:")[0]
                                      .replace("%eth0", "").replace("IPv6", "").replace(":8080", "")), out


@pytest.mark.parametrize("text", [
    "+1 (415) 555-2671", "+44 20 7946 0958", "+49 (0)30 1234 5678", "0049 30 12345678", "(212) 555-0199",
    "212-555-0199", "212.555.0199", "030 12345678", "0171/1234567", "01 23 45 67 89", "01.23.45.67.89",
    "+33 1 23 45 67 89", "+919876543210", "+86 138 0013 8000",
])
def test_phone_numbers_are_masked(text):
    assert mask(f"Call {text} today") == "Call <PHONE> today"


def test_a_bare_digit_run_is_a_phone_only_after_a_phone_word():
    assert mask("Tel. 3012345678 or fax: 301234567") == "Tel. <PHONE> or fax: <PHONE>"
    assert mask("we counted 3012345678 grains") == "we counted 3012345678 grains"


@pytest.mark.parametrize("text", [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004", "3782 822463 10005",
    "378282246310005", "6011111111111117", "3530111333300000",
])
def test_payment_cards_are_masked(text):
    assert mask(f"Card: {text}.") == "Card: <CARD>."


def test_cards_need_luhn_and_an_issuer():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert mask("Card: 4111 1111 1111 1112.") == "Card: 4111 1111 1111 1112."  # Luhn fails
    assert mask("id 1234567812345670 here") == "id 1234567812345670 here"  # Luhn ok, no issuer starts with 1


@pytest.mark.parametrize("text", [
    "DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432",
    "FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300", "CH9300762011623852957",
])
def test_ibans_are_masked(text):
    assert mask(f"IBAN: {text}. Danke") == "IBAN: <IBAN>. Danke"


def test_ibans_need_the_checksum_and_length():
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("DE88370400440532013000") and not iban_valid("DE8937040044053201300")
    assert mask("IBAN DE88 3704 0044 0532 0130 00") == "IBAN DE88 3704 0044 0532 0130 00"


@pytest.mark.parametrize("text", [
    "version 1.2.3.4 and v2.0.1.7", "released 2023-01-15 or 15.01.2023 or 01/15/2023", "ISBN 978-3-16-148410-0",
    "ISBN 0-306-40615-2", "at 48.8566, 2.3522 (Paris)", "order 123-456-7890 shipped", "Order #A1B2-C3D4-2291",
    "a run 12345678901234567890123", "ssh user@host and git@server", "npm i lodash@4.17.21", "@media screen",
    "std::vector<int> a::b", "at 12:30:45 UTC", "MAC 00:1A:2B:3C:4D:5E", "pi is 3.14159265358979",
    "population 83,200,000", "ratio 1:2:3", "Tel. about 12", "price 1.299,00 EUR", "ID 1234 5678 9012 3456",
])
def test_hard_negatives_are_left_alone(text):
    assert mask(text) == text


def test_public_addresses_are_allowed_and_the_allow_list_is_configurable():
    text = ("docs 192.0.2.1, 198.51.100.7, 203.0.113.9, 2001:db8::1, ::ffff:192.0.2.7, 8.8.8.8, user@example.com, "
            "a@mail.example.org")
    assert mask(text) == text
    assert mask("docs 192.0.2.1", allowed_ips=[]) == "docs <IP>"
    assert mask("me@example.com", allowed_email_domains=[]) == "<EMAIL>"


def test_placeholders_and_salted_hashes():
    assert mask("a@b.com", placeholders={"email": "[email]"}) == "[email]"
    one = mask("a@b.com and A@B.com and c@b.com", mode="hash", salt="s1")
    tokens = one.split(" and ")
    assert tokens[0] == tokens[1] != tokens[2] and tokens[0].startswith("<EMAIL:")  # joinable, case-normalised
    assert mask("a@b.com", mode="hash", salt="s2") != tokens[0]
    with pytest.raises(ValueError, match="salt"):
        PIIConfig(mode="hash")


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="unknown PII type 'ssn'"):
        from_dict(PIIConfig, {"types": ["ssn"]}, prefix="pii")
    with pytest.raises(ConfigError, match="not an IP network"):
        from_dict(PIIConfig, {"allowed_ips": ["300.1.1.1"]}, prefix="pii")


def test_types_can_be_switched_off():
    assert mask("a@b.com 83.12.44.201", types=["ip"]) == "a@b.com <IP>"


def test_overlapping_types_resolve_to_one_span():
    spans = find_spans("IBAN DE89370400440532013000 ok")
    assert [(s[2], s[3]) for s in spans] == [("iban", "DE89370400440532013000")]


def test_stats_count_documents_and_spans_per_type_and_nothing_is_dropped():
    formatter = PIIFormatter(PIIConfig(enabled=True))
    stats = Stats()
    texts = ["a@b.com and c@d.org", "call +44 20 7946 0958", "nothing here", "e@f.net at 83.12.44.201"]
    for i, text in enumerate(texts):
        doc = Document(str(i), "", "", "", 0, "", "", 0.0, text, len(text))
        formatter.apply(doc, stats)
    assert stats.counters["pii.email.documents"] == 2 and stats.counters["pii.email.spans"] == 3
    assert stats.counters["pii.phone.spans"] == 1 and stats.counters["pii.ip.documents"] == 1
    assert stats.counters["pii.documents"] == 3 and not stats.dropped


def test_an_iban_next_to_a_card_leaves_the_card_to_the_card_scanner():
    assert mask("IBAN: BE67722184356504 CC 2221-8516-1981-6460 exp 04/27") == "IBAN: <IBAN> CC <CARD> exp 04/27"
    assert mask("IBAN: IT37 6810 5574 2724 2412 8128 067 CC 6011945115870669") == "IBAN: <IBAN> CC <CARD>"


@pytest.mark.parametrize("text, masked", [
    ("call (+44) 20 7946 0958 now", "call <PHONE> now"),
    ("ruf an: +49 30 123 456–78", "ruf an: <PHONE>"),
    ("IBAN de89 3704 0044 0532 0130 00", "IBAN <IBAN>"),
    ("mail: jürgen@müller.de", "mail: <EMAIL>"),
    ("+7 (495) 123-45-67 and +81 3-1234-5678", "<PHONE> and <PHONE>"),
])
def test_formats_beyond_the_labelled_set(text, masked):
    assert mask(text) == masked


def test_the_extract_stage_masks_kept_documents_when_enabled(tmp_path):
    from jobs.run_config import RunConfig
    from pipeline.extract.stage import extract_documents
    from tests.pipeline.extract.test_stage import ARTICLE, _warc

    contact = "<p>Questions about this page go to jane.roe@mailbox.org or +49 30 1234 5678 any weekday.</p>"
    html = f"<html><body><article>{ARTICLE}{contact}</article></body></html>".encode()
    path = tmp_path / "t.warc.gz"
    path.write_bytes(_warc([("http://www.example.org/a", html, "text/html; charset=utf-8")]))
    config = RunConfig()
    plain_stats, masked_stats = Stats(), Stats()
    (plain,) = extract_documents(str(path), config.extract, config.filters, plain_stats)
    config.pii.enabled = True
    (masked,) = extract_documents(str(path), config.extract, config.filters, masked_stats, config.pii)
    assert "jane.roe@mailbox.org" in plain.text and "<EMAIL>" not in plain.text
    assert "<EMAIL> or <PHONE> any weekday" in masked.text and masked.n_chars == len(masked.text)
    assert masked_stats.balanced() and masked_stats.records_out == plain_stats.records_out == 1
    assert masked_stats.counters["pii.email.spans"] == masked_stats.counters["pii.phone.documents"] == 1
    assert not any(k.startswith("pii.") for k in plain_stats.counters)


def test_an_overlong_local_part_is_cut_to_its_last_64_characters():
    assert mask("x" * 70 + "@mail.de") == "x" * 6 + "<EMAIL>"
    assert mask("to " + "y" * 64 + "@mail.de") == "to <EMAIL>"
    assert mask("follow @mail.de or @ home") == "follow @mail.de or @ home"


def test_spelled_out_ats_with_each_bracket_are_all_found():
    assert mask("a {at} b.de and c (at) d.de and e [at] f.de") == "<EMAIL> and <EMAIL> and <EMAIL>"


def test_digits_inside_an_iban_shape_are_never_a_card_or_phone():
    # a Visa-shaped, Luhn-valid run inside an IBAN shape whose checksum fails (00 is never valid)
    assert mask("Konto DE00 00 4111 1111 1111 1111 bitte") == "Konto DE00 00 4111 1111 1111 1111 bitte"
    assert mask("IBAN DE89 3704 0044 0532 0130 00, Tel. 030 1234567") == "IBAN <IBAN>, Tel. <PHONE>"


def test_ipv6_needs_a_double_colon_or_all_eight_groups():
    assert mask("addr 1:2:3:4:5:6:83.12.44.201 up") == "addr <IP> up"  # six groups and an IPv4 tail
    assert mask("at 12:30:45:10:11:12:13 ok") == "at 12:30:45:10:11:12:13 ok"  # seven groups, no '::'


def test_a_seven_digit_run_is_a_phone_only_after_a_phone_word():
    assert mask("Tel. 1234567 now, Tel.: +1234567") == "Tel. <PHONE> now, Tel.: <PHONE>"
    assert mask("we counted 1234567 grains") == "we counted 1234567 grains"


def test_compiled_digit_clusters_are_the_patterns_spans():
    import random

    from pipeline.pii.detect import DIGIT_CLUSTER
    from pipeline.pii.digit_clusters import DECIMAL, digit_clusters

    assert not any(chr(c).isdecimal() for c in range(len(DECIMAL), 0x110000))  # the table holds every \d
    assert all(DECIMAL[c] == chr(c).isdecimal() for c in range(0, len(DECIMAL), 7))
    alphabet = list("0123456789 -–./()+:,ab") + ["٣", "８", "\U0001d7ce", "\ud800", "\n", "²", "½"]
    rng = random.Random(0)
    texts = ["", "1234567", "123456", "12 34 5", "(030) 1234567-", " ٠١٢٣٤٥٦٧ ", "a\U0001d7ce\U0001d7cf 345678"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    for text in texts:
        expected = [x for m in DIGIT_CLUSTER.finditer(text) for x in m.span()]
        assert digit_clusters(text) == expected, repr(text)
