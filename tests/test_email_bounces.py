"""Bounces of our replies, as Postfix, Exim, Exchange Online and Gmail send them, through the
gateway's SMTP server: the reply is marked failed with the bounce's reason and its operator is
told; no bounce ever becomes a conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosmtplib
from sqlalchemy import select

from channels.email.bounces import is_bounce, parse_bounce
from gateway.keys import DATABASE
from gateway.storage.schema import messages
from tests import test_email
from tests.conftest import RunningGateway
from tests.support import wait_for
from tests.test_email import SUPPORT, _assigned, _mail, _port, _send

relay, mail_gateway = test_email.relay, test_email.mail_gateway  # the same fixtures

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
SAMPLE_ID = "<176482455.12.1764583990@support.example.com>"  # our reply, in every sample

# sample: (envelope sender, what the operator must read)
BOUNCES = {
    "bounce_postfix_dsn.eml": (
        "",
        "bounced: 5.1.1 550 5.1.1 <lena@example.org>: Recipient address rejected: User unknown"
        " in virtual mailbox table (to lena@example.org)",
    ),
    "bounce_exim_plain.eml": (
        "",
        "bounced: 5.2.2 550 5.2.2 <lena@example.org>: mailbox full (to lena@example.org)",
    ),
    "bounce_exchange_ndr.eml": (
        "postmaster@contoso.com",
        "bounced: 5.1.10 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient"
        " john.miller@contoso.com not found by SMTP address lookup (to john.miller@contoso.com)",
    ),
    "bounce_gmail_dsn.eml": (
        "",
        "bounced: 5.1.1 The email account that you tried to reach does not exist.",
    ),
}


def test_every_sample_names_our_reply_with_its_reason() -> None:
    for name, (sender, reason) in BOUNCES.items():
        raw = (FIXTURES / name).read_bytes()
        assert is_bounce(raw, sender), name
        report = parse_bounce(raw)
        assert report is not None and report.message_ids == (SAMPLE_ID,), name
        assert report.reason.startswith(reason), (name, report.reason)
    customer = _mail("Undeliverable parcel: where is it?", Subject="Undeliverable parcel")
    assert not is_bounce(customer.as_bytes(), "lena@example.org")


async def _bounce(gateway: RunningGateway, raw: bytes, sender: str = "") -> None:
    """Deliver a report as a mail server does: ``MAIL FROM:<>`` unless a sender is given."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=_port(gateway), start_tls=False)
    async with client:
        errors, answer = await client.sendmail(sender, [SUPPORT], raw)
    assert not errors and answer.startswith("2.0.0"), answer


async def _rows(gateway: RunningGateway) -> list[Any]:
    async with gateway.app[DATABASE].read() as conn:
        query = select(
            messages.c.id, messages.c.direction, messages.c.status, messages.c.error
        ).order_by(messages.c.id)
        return list((await conn.execute(query)).all())


async def test_a_bounce_marks_our_reply_failed_and_tells_the_operator(
    mail_gateway: RunningGateway, relay: test_email.Relay
) -> None:
    await _send(mail_gateway, _mail("My invoice is wrong", Message_ID="<first@example.org>"))
    ada, conversation_id = await _assigned(mail_gateway, "My invoice is wrong")
    for n, (name, (sender, reason)) in enumerate(BOUNCES.items()):
        answer = await ada.act(
            {"type": "reply", "conversation_id": conversation_id, "client_id": f"bounce-reply-{n}",
             "text": f"Reply {n}"},
        )  # fmt: skip
        assert answer["ok"], answer
        message_id = answer["message"]["id"]
        await wait_for(
            lambda: any(
                f.get("message_id") == message_id and f.get("status") == "sent"  # noqa: B023
                for f in ada.frames
            )
        )
        ours = relay.received[n]["Message-ID"]
        raw = (FIXTURES / name).read_bytes().replace(SAMPLE_ID.encode(), ours.encode())
        await _bounce(mail_gateway, raw, sender)

        def failed(message_id: int = message_id) -> dict[str, Any] | None:
            return next(
                (
                    f
                    for f in ada.frames
                    if f["type"] == "message_status"
                    and f["message_id"] == message_id
                    and f["status"] == "failed"
                ),
                None,
            )

        frame = await wait_for(failed)
        assert frame["reason"].startswith(reason), frame
        row = next(r for r in await _rows(mail_gateway) if r.id == message_id)
        assert (row.status, row.error) == ("failed", frame["reason"])
    rows = await _rows(mail_gateway)
    assert [r.direction for r in rows] == ["in", "out", "out", "out", "out"]
    detail = await ada.get(f"/api/conversations/{conversation_id}")
    assert [m["status"] for m in detail["conversation"]["messages"]][1:] == ["failed"] * 4


async def test_unknown_bounces_are_dropped_and_a_second_bounce_changes_nothing(
    mail_gateway: RunningGateway, relay: test_email.Relay
) -> None:
    await _send(mail_gateway, _mail("hello?", Message_ID="<h@example.org>"))
    ada, conversation_id = await _assigned(mail_gateway, "hello?")
    await ada.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "bounce-reply-x",
            "text": "hi",
        }
    )
    await wait_for(lambda: any(f.get("status") == "sent" for f in ada.frames))
    ours = relay.received[0]["Message-ID"]
    before = await _rows(mail_gateway)
    # A qmail bounce of a message we never sent, a DSN naming an id that is not ours, and one
    # naming no message at all: logged and dropped.
    await _bounce(mail_gateway, (FIXTURES / "bounce_qmail_unknown.eml").read_bytes())
    postfix = (FIXTURES / "bounce_postfix_dsn.eml").read_bytes()
    await _bounce(mail_gateway, postfix.replace(SAMPLE_ID.encode(), b"<abc@elsewhere.example>"))
    await _bounce(mail_gateway, postfix.replace(SAMPLE_ID.encode(), b""))
    assert await _rows(mail_gateway) == before
    # Our reply bounces twice (the relay retried): failed once, the operator told once.
    for _ in range(2):
        await _bounce(mail_gateway, postfix.replace(SAMPLE_ID.encode(), ours.encode()))
    rows = await _rows(mail_gateway)
    assert [(r.direction, r.status) for r in rows] == [("in", "received"), ("out", "failed")]
    await wait_for(lambda: any(f.get("status") == "failed" for f in ada.frames))
    await ada.act({"type": "state", "state": "available"})  # one more round trip
    assert len([f for f in ada.frames if f.get("status") == "failed"]) == 1
