"""Inbound email parsing (pure): text preferred, HTML to text, quoted replies, attachments,
automatic mail, broken MIME kept with its defects."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from channels.email.mime import html_to_text, parse_email, strip_quoted


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
