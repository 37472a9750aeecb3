"""Mail as real clients write it (tests/fixtures/mail/*.eml), sent through the gateway's SMTP
server: what the operator reads, and what is kept."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gateway.keys import DATABASE
from gateway.storage.schema import messages
from tests import test_email
from tests.conftest import RunningGateway
from tests.support import wait_for
from tests.test_email import SUPPORT, _send
from tests.test_email_mime import BROKEN, REPLIES, assert_no_mime_source

relay, mail_gateway = test_email.relay, test_email.mail_gateway  # the same fixtures

FIXTURES = Path(__file__).parent / "fixtures" / "mail"


async def send_sample(gateway: RunningGateway, name: str, **kw: Any) -> bytes:
    raw = (FIXTURES / name).read_bytes()
    sender = parseaddr(str(message_from_bytes(raw, policy=policy.default)["From"]))[1]
    await _send(gateway, raw, sender=kw.pop("sender", sender), recipients=[SUPPORT], **kw)
    return raw


async def stored(gateway: RunningGateway) -> list[Any]:
    async with gateway.app[DATABASE].read() as conn:
        query = select(
            messages.c.text, messages.c.raw, messages.c.conversation_id, messages.c.attachments
        )
        return list((await conn.execute(query.order_by(messages.c.id))).all())


async def test_replies_from_outlook_and_others_show_only_the_new_part(
    mail_gateway: RunningGateway,
) -> None:
    for name in sorted(REPLIES):
        await send_sample(mail_gateway, name)
    rows = await stored(mail_gateway)
    assert len(rows) == len(REPLIES)
    for row, name in zip(rows, sorted(REPLIES), strict=True):
        last_words, quoted = REPLIES[name]
        assert row.text.endswith(last_words), (name, row.text)
        assert quoted not in row.text, name
        assert quoted in row.raw["full_text"], name  # the whole text stays with the message


async def test_malformed_mail_shows_the_text_the_customer_wrote(
    mail_gateway: RunningGateway,
) -> None:
    for name in sorted(BROKEN):
        await send_sample(mail_gateway, name)
    rows = await stored(mail_gateway)
    assert len(rows) == len(BROKEN)
    for row, name in zip(rows, sorted(BROKEN), strict=True):
        text, files = BROKEN[name]
        assert row.text == text, name
        assert_no_mime_source(row.text)
        assert [a.get("filename") for a in row.attachments] == files, name
        assert all(a.get("file_id") and not a.get("error") for a in row.attachments), name
    defects = {name: row.raw["defects"] for row, name in zip(rows, sorted(BROKEN), strict=True)}
    assert "BoundaryRecovered" in defects["broken_wrong_boundary.eml"]
    assert any("CharsetMismatch" in d for d in defects["broken_wrong_charset.eml"])


FORMS = {
    "form_wordpress_cf7_marta.eml": "marta.nowak@example.pl",
    "form_wordpress_cf7_kenji.eml": "kenji.sato@example.jp",
    "form_formspree_tom.eml": "tom.baker@example.co.uk",
}


async def test_web_form_mail_is_a_conversation_with_the_person_in_reply_to(
    mail_gateway: RunningGateway, relay: test_email.Relay
) -> None:
    ada = await mail_gateway.operator("ada")
    ada.auto_accept = True
    for name in FORMS:  # two people through one form address, one through a no-reply one
        await send_sample(mail_gateway, name)
    rows = await stored(mail_gateway)
    assert len({row.conversation_id for row in rows}) == 3
    froms = {row.raw["reply_to"]: row.raw["from"] for row in rows}
    assert froms == {
        "marta.nowak@example.pl": "Acme Shop <wordpress@acme-shop.example>",
        "kenji.sato@example.jp": "Acme Shop <wordpress@acme-shop.example>",
        "tom.baker@example.co.uk": "Formspree <noreply@formspree.io>",
    }
    await wait_for(
        lambda: len({m["conversation_id"] for m in ada.messages.values()}) == 3, timeout=15
    )
    for n, row in enumerate(rows):
        answer = await ada.act(
            {"type": "reply", "conversation_id": row.conversation_id,
             "client_id": f"form-reply-{n}", "text": f"Answer {n}"},
        )  # fmt: skip
        assert answer["ok"], answer
    await wait_for(lambda: len(relay.received) == 3, timeout=15)
    sent_to = {m["To"]: m.get_content().strip() for m in relay.received}
    assert sent_to == {address: f"Answer {n}" for n, address in enumerate(FORMS.values())}
    # The person answers our reply from their own mailbox: the same conversation.
    reply = next(m for m in relay.received if m["To"] == "kenji.sato@example.jp")
    await _send(
        mail_gateway,
        test_email._mail(
            "Thank you!", From="Kenji Sato <kenji.sato@example.jp>",
            In_Reply_To=reply["Message-ID"], References=reply["Message-ID"],
        ),
    )  # fmt: skip
    rows = await stored(mail_gateway)
    by_text = {row.text: row.conversation_id for row in rows}
    kenji = next(r for r in rows if r.raw.get("reply_to") == "kenji.sato@example.jp")
    assert by_text["Thank you!"] == kenji.conversation_id


async def test_an_answer_to_a_no_reply_address_fails_with_the_reason(
    mail_gateway: RunningGateway, relay: test_email.Relay
) -> None:
    ada = await mail_gateway.operator("ada")
    ada.auto_accept = True
    await send_sample(mail_gateway, "form_typeform_no_reply_to.eml")
    (row,) = await stored(mail_gateway)
    await wait_for(lambda: ada.messages)
    answer = await ada.act(
        {"type": "reply", "conversation_id": row.conversation_id,
         "client_id": "no-reply-answer", "text": "We are on it."},
    )  # fmt: skip
    message_id = answer["message"]["id"]
    frame = await wait_for(
        lambda: next(
            (f for f in ada.frames if f.get("message_id") == message_id and f.get("reason")),
            None,
        )
    )
    assert frame["status"] == "failed" and "no-reply address" in frame["reason"]
    assert relay.received == []


async def test_headers_the_parser_cannot_read_are_ignored_not_an_error(
    mail_gateway: RunningGateway,
) -> None:
    broken = [
        (b"From: lena@example.org\r\nMessage-ID: <abc@\r\n", "lena@example.org"),
        (b'From: "Lena" <lena@\r\nReply-To: "x" <\r\n', "lena.s@example.org"),
        (b"From: lena@\r\nIn-Reply-To: <\r\nReferences: <a@b> <\r\n", "lena.t@example.org"),
    ]
    for n, (headers, envelope) in enumerate(broken):
        raw = headers + b"To: support@support.example.com\r\nSubject: x\r\n\r\nhello %d\r\n" % n
        errors, answer = await _send(mail_gateway, raw, sender=envelope, recipients=[SUPPORT])
        assert not errors and answer.startswith("2.0.0"), answer
    rows = await stored(mail_gateway)
    assert [row.text for row in rows] == ["hello 0", "hello 1", "hello 2"]
