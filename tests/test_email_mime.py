"""Inbound email parsing (pure): text preferred, HTML to text, quoted replies, attachments,
automatic mail, broken MIME kept with its defects."""

from __future__ import annotations

# ruff: noqa: RUF001 (samples as customers write them, dashes and Cyrillic included)
import base64
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from channels.email.mime import html_to_text, parse_email, strip_quoted
from channels.email.recover import decode_text, without_source


def _mail(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Lena Schmidt <Lena@Example.org>")
    msg["To"] = "support@support.example.com"
    msg["Subject"] = headers.pop("Subject", "Invoice question")
    msg["Message-ID"] = headers.pop("Message_ID", "<m1@example.org>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return msg


def test_plain_text_is_preferred_and_the_sender_normalized() -> None:
    msg = _mail()
    msg.set_content("Plain version")
    msg.add_alternative("<p>HTML <b>version</b></p>", subtype="html")
    parsed = parse_email(msg.as_bytes(), "lena@example.org")
    assert parsed.text == "Plain version"
    assert (parsed.sender, parsed.sender_name) == ("lena@example.org", "Lena Schmidt")
    assert (parsed.subject, parsed.message_id) == ("Invoice question", "<m1@example.org>")
    assert parsed.automatic is None and parsed.defects == ()


def test_html_only_becomes_text_without_markup_or_scripts() -> None:
    msg = _mail()
    msg.set_content(
        "<html><head><style>p{}</style></head><body><p>Hello&nbsp;there</p>"
        "<script>alert(1)</script><div>Line&nbsp;two &amp; more</div></body></html>",
        subtype="html",
    )
    assert parse_email(msg.as_bytes(), "x@y.org").text == "Hello there\nLine two & more"
    assert html_to_text("a<br>b") == "a\nb"


def test_quoted_history_is_stripped_for_display_and_kept_in_full() -> None:
    body = "Thanks, that helped.\n\nOn Mon, 23 Nov 2026 at 10:00, Support <s@x> wrote:\n> old\n"
    msg = _mail(In_Reply_To="<r1@support.example.com>", References="<a@x> <r1@support.example.com>")
    msg.set_content(body)
    parsed = parse_email(msg.as_bytes(), "x@y.org")
    assert parsed.text == "Thanks, that helped."
    assert "> old" in parsed.full_text
    assert parsed.in_reply_to == "<r1@support.example.com>"
    assert parsed.references == ("<a@x>", "<r1@support.example.com>")
    assert strip_quoted("> only a quote") == "> only a quote"


def test_attachments_are_listed_with_type_and_size() -> None:
    msg = _mail()
    msg.set_content("see attached")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="bill.pdf")
    parsed = parse_email(msg.as_bytes(), "x@y.org")
    (attachment,) = parsed.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "bill.pdf",
        "application/pdf",
        13,
    )


def test_automatic_mail_is_recognized() -> None:
    msg = _mail(Auto_Submitted="auto-replied")
    msg.set_content("I am out of office")
    assert parse_email(msg.as_bytes(), "x@y.org").automatic == "Auto-Submitted: auto-replied"
    bulk = _mail(Precedence="bulk")
    bulk.set_content("newsletter")
    assert parse_email(bulk.as_bytes(), "x@y.org").automatic == "Precedence: bulk"
    bounce = _mail()
    bounce.set_content("Delivery failed")
    assert "bounce" in (parse_email(bounce.as_bytes(), "").automatic or "")


def test_broken_mime_is_kept_with_its_defects() -> None:
    raw = (
        b"From: someone@example.org\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--XYZ\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\nHallo \xff\xfe\r\n"
    )
    parsed = parse_email(raw, "someone@example.org")
    assert parsed.sender == "someone@example.org"
    assert parsed.defects  # the missing closing boundary, the unknown charset
    assert "Hallo" in parsed.text


FIXTURES = Path(__file__).parent / "fixtures" / "mail"

# sample: (the last words of the new part, a line of the quoted history)
REPLIES = {
    "outlook_desktop_en_reply.eml": ("Contoso Ltd.", "We are correcting it."),
    "owa_fr_reply.eml": ("Amélie Durand", "Nous traitons votre demande"),
    "outlook_plaintext_de_cp1252_reply.eml": ("Jürgen Weiß", "Wir korrigieren sie."),
    "outlook_new_de_html_reply.eml": ("Grüße, Jörg", "Ihr Paket ist unterwegs."),
    "outlook_es_base64_reply.eml": ("Lucía Fernández", "Su pedido salió ayer."),
    "outlook_ru_koi8r_reply.eml": ("Иван Петров", "Мы отправили счёт повторно."),
    "outlook_it_reply.eml": ("Niccolò Bianchi", "La stiamo correggendo."),
    "outlook_pt_reply.eml": ("João Conceição", "Estamos a tratar do seu pedido."),
    "outlook_nl_reply.eml": ("Sanne de Vries", "Uw bestelling is onderweg."),
    "outlook_ja_iso2022jp_reply.eml": ("山田太郎", "修正いたします。"),
    "gmail_fr_wrapped_attribution.eml": ("Merci, c'est bien reçu.", "Nous traitons votre demande."),
    "thunderbird_ru_reply.eml": ("Спасибо, всё работает.", "Попробуйте перезагрузить роутер."),
}


@pytest.mark.parametrize("sample", sorted(REPLIES))
def test_quoted_history_of_every_client_and_language_is_left_out(sample: str) -> None:
    last_words, quoted = REPLIES[sample]
    parsed = parse_email((FIXTURES / sample).read_bytes(), "x@example.org")
    assert parsed.text.endswith(last_words), parsed.text
    assert quoted not in parsed.text
    for header in ("From:", "Von:", "De :", "От:", "差出人", "____", "-----", "Sent:"):
        assert header not in parsed.text
    assert quoted in parsed.full_text  # kept in full for whoever needs it


@pytest.mark.parametrize(
    "text",
    [
        "Please ship it.\nFrom: Berlin\nTo: Munich\nThanks",  # a route, not a header block
        "My colleague wrote: the device is broken.",
        "Das Paket\nVon: Hamburg\nAn: Köln\nkam nie an.",
        "Price list\n____________________\nItem 1: 4 EUR",
    ],
)
def test_text_that_only_looks_like_a_quote_is_kept(text: str) -> None:
    assert strip_quoted(text) == text


# sample: (the text the operator must read, the attachments recovered)
BROKEN = {
    "broken_no_closing_boundary.eml": (
        "Grüße aus München!\nDie Lieferung für Bestellung 5521 fehlt noch.\nFrançois Müller",
        [],
    ),
    "broken_wrong_boundary.eml": (
        "Name: Zoë Ångström\nMessage: Le produit est arrivé cassé, je voudrais un échange.",
        ["photo-report.pdf"],
    ),
    "broken_missing_boundary.eml": (
        "Bonjour, ma facture n° 3381 est erronée. Merci de vérifier. Hélène",
        ["facture.pdf"],
    ),
    "broken_multipart_without_headers.eml": (
        "Proszę o korektę faktury 1207. Piotr Nowak",
        ["faktura.pdf"],
    ),
    "broken_bad_base64.eml": (
        "Dzień dobry, zamówienie 9912 nie dotarło. Proszę o pomoc.\nŁukasz Żółw",
        [],
    ),
    "broken_base64_label_on_plain_text.eml": (
        "Hello, my order 4410 arrived without the charger. Regards, Ana Kovač",
        [],
    ),
    "broken_wrong_charset.eml": (
        "Sehr geehrte Damen und Herren,\ndie Größe passt nicht – bitte tauschen. Kosten: 25 €.\n"
        "Björn Köhler",
        [],
    ),
    "broken_latin1_declared_utf8_sent.eml": (
        "Grüezi, ich hätte gern eine Rückerstattung. Renée Zürcher",
        [],
    ),
    "broken_undeclared_latin1.eml": (
        "Buenos días, el envío nº 77 llegó dañado. Gracias, José Peña",
        [],
    ),
    "broken_unknown_charset.eml": (
        "I paid €40 for the café voucher – please refund. Ciarán",
        [],
    ),
}


def assert_no_mime_source(text: str) -> None:
    assert "--" not in text and "Content-" not in text and "\ufffd" not in text, text
    assert not re.search(r"[A-Za-z0-9+/]{40,}", text), text


@pytest.mark.parametrize("sample", sorted(BROKEN))
def test_malformed_mime_shows_the_readable_text(sample: str) -> None:
    text, files = BROKEN[sample]
    parsed = parse_email((FIXTURES / sample).read_bytes(), "x@example.org")
    assert parsed.text == text
    assert parsed.full_text == text
    assert_no_mime_source(parsed.text)
    assert [a.filename for a in parsed.attachments] == files
    assert all(a.data.startswith(b"%PDF-1.4") for a in parsed.attachments)


@pytest.mark.parametrize(
    ("data", "declared", "text"),
    [
        ("Grüße".encode(), "iso-8859-1", "Grüße"),  # labelled Latin-1, written in UTF-8
        ("Grüße".encode("latin-1"), "utf-8", "Grüße"),  # the other way round
        ("Grüße".encode("latin-1"), None, "Grüße"),
        ("Привет".encode("koi8-r"), "koi8-r", "Привет"),
        ("Привет".encode("koi8-r"), "no-such-charset", "Привет".encode("koi8-r").decode("cp1252")),
        ("こんにちは".encode("iso-2022-jp"), "iso-2022-jp", "こんにちは"),
        ("€ 5".encode("cp1252"), "iso-8859-1", "€ 5"),
        (b"\x81\x8d", None, "\x81\x8d"),  # not Windows-1252 either: Latin-1
        (b"plain", "utf-16", "plain"),
    ],
)
def test_text_is_decoded_in_the_charset_it_was_written_in(
    data: bytes, declared: str | None, text: str
) -> None:
    assert decode_text(data, declared) == text


def test_mime_source_in_a_text_part_is_never_shown() -> None:
    body = base64.b64encode("Zwrot za zamówienie 77".encode()).decode()
    blob = base64.b64encode(bytes(range(256)) * 3).decode()
    text = (
        "Forwarded below:\n--XYZ\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: base64\n\n{body}\n--XYZ\n"
        "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\n"
        + "\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))
        + "\n--XYZ--\nThe end -- really.\n"
    )
    cleaned = without_source(text)
    assert cleaned == "Forwarded below:\nZwrot za zamówienie 77\nThe end -- really."
    assert without_source("-----Original Message-----\nFrom: x") == (
        "-----Original Message-----\nFrom: x"
    )


@pytest.mark.parametrize(
    ("from_header", "reply_to", "customer"),
    [
        ("Acme Shop <wordpress@acme.example>", "Marta <marta@example.pl>", "marta@example.pl"),
        ("Formspree <noreply@formspree.io>", "tom@example.co.uk", "tom@example.co.uk"),
        ("Lena <lena@example.org>", "", "lena@example.org"),
        ("Lena <lena@example.org>", "LENA@example.org", "lena@example.org"),
        ("Lena <lena@example.org>", "a@example.org, b@example.org", "lena@example.org"),
        ("Lena <lena@example.org>", "support@support.example.com", "lena@example.org"),
        ("no-reply@forms.example", "", "no-reply@forms.example"),
    ],
)
def test_the_customer_is_the_one_reply_to_address_else_from(
    from_header: str, reply_to: str, customer: str
) -> None:
    msg = _mail(From=from_header, **({"Reply_To": reply_to} if reply_to else {}))
    msg.set_content("hello")
    parsed = parse_email(msg.as_bytes(), "bounces@forms.example", "support.example.com")
    assert parsed.sender == customer
    assert parsed.from_address == from_header.rpartition("<")[2].strip(">").lower()


def test_a_mailing_tool_campaign_is_from_its_reply_to_address() -> None:
    raw = (FIXTURES / "mailing_tool_campaign_reply_to.eml").read_bytes()
    parsed = parse_email(raw, "bounce-mc.us21_1@mcdlv.net", "support.example.com")
    assert (parsed.sender, parsed.from_address) == (
        "commandes@little-bakery.example",
        "hello@little-bakery.example",
    )
    assert parsed.sender_name == "Little Bakery Lyon"
    assert parsed.text.startswith("Bonjour,\n\nNous livrons désormais les commandes groupées")
    assert parsed.automatic is None  # no Precedence: bulk, so an operator sees it
