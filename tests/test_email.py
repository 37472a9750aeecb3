"""Email end to end: a real SMTP client talks to the gateway's SMTP server, and replies go out
through a real SMTP relay (aiosmtpd on loopback) that can be told to refuse for a while."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from channels.email.adapter import SMTP_SERVER
from channels.email.sender import build_reply
from gateway.cli import main
from gateway.dispatch import PermanentFailure
from gateway.keys import DATABASE
from gateway.model import Role
from gateway.settings import EmailSettings, load_settings
from gateway.storage.outbound import OutboundJob
from gateway.storage.schema import messages
from tests.conftest import RunningGateway
from tests.support import Operator, free_port, make_settings, wait_for, write_config

SUPPORT = "support@support.example.com"


class Relay:
    """A relay that keeps what it is given, or answers ``refuse`` codes first."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.refuse: list[str] = []
        self.server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        parsed = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 OK"

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    relay = Relay()
    relay.server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(relay), "127.0.0.1", 0
    )
    yield relay
    relay.server.close()
    await relay.server.wait_closed()


@pytest.fixture
async def mail_gateway(
    start_gateway: Callable[..., Awaitable[RunningGateway]], tmp_path: Path, relay: Relay
) -> RunningGateway:
    return await start_gateway(
        make_settings(
            tmp_path,
            email={
                "enabled": True,
                "port": 0,
                "max_message_bytes": 20_000,
                "max_recipients": 3,
                "max_attachment_bytes": 5_000,
                "relay_port": relay.port,
                "retry_delays_seconds": [0.2, 0.2],
                "auth_username": None,
            },
        )
    )


def _port(gateway: RunningGateway) -> int:
    return int(gateway.app[SMTP_SERVER].sockets[0].getsockname()[1])


def _mail(text: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Lena Schmidt <lena@example.org>")
    msg["To"] = SUPPORT
    msg["Subject"] = headers.pop("Subject", "Invoice question")
    msg["Message-ID"] = headers.pop("Message_ID", f"<{abs(hash(text))}@example.org>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


async def _send(gateway: RunningGateway, msg: EmailMessage | bytes, **kw: Any) -> Any:
    return await aiosmtplib.send(
        msg, hostname="127.0.0.1", port=_port(gateway), start_tls=False, **kw
    )


async def _count(gateway: RunningGateway) -> int:
    async with gateway.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())


async def _assigned(gateway: RunningGateway, text: str) -> tuple[Operator, int]:
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    if text not in ada.texts("in"):
        await ada.act({"type": "accept", "offer_id": offer["id"]})
    await wait_for(lambda: text in ada.texts("in"))
    return ada, offer["conversation_id"]


async def test_mail_in_reply_out_in_the_same_thread(
    mail_gateway: RunningGateway, relay: Relay
) -> None:
    await _send(mail_gateway, _mail("My invoice is wrong", Message_ID="<first@example.org>"))
    ada, conversation_id = await _assigned(mail_gateway, "My invoice is wrong")
    answer = await ada.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "mail-reply-1",
            "text": "We are correcting it.",
        }
    )
    assert answer["ok"], answer
    await wait_for(lambda: relay.received)
    (reply,) = relay.received
    assert reply["To"] == "lena@example.org"
    assert reply["From"] == f"Customer Support <{SUPPORT}>"
    assert reply["Subject"] == "Re: Invoice question"
    assert reply["In-Reply-To"] == "<first@example.org>"
    assert reply["References"] == "<first@example.org>"
    assert reply["Message-ID"].endswith("@support.example.com>")
    assert reply.get_content().strip() == "We are correcting it."

    # The customer answers in the thread: the same conversation, quoted history left out.
    await _send(
        mail_gateway,
        _mail(
            f"Thanks!\n\nOn Tue, Support <{SUPPORT}> wrote:\n> We are correcting it.\n",
            Subject="Re: Invoice question",
            In_Reply_To=reply["Message-ID"],
            References=f"<first@example.org> {reply['Message-ID']}",
        ),
    )
    await wait_for(lambda: "Thanks!" in ada.texts("in"))


async def test_smtp_limits_answer_in_smtp_terms(mail_gateway: RunningGateway) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as unknown:
        await _send(mail_gateway, _mail("x"), recipients=["sales@other.example"])
    assert unknown.value.recipients[0].code == 550
    with pytest.raises(aiosmtplib.SMTPResponseException) as too_big:
        await _send(mail_gateway, _mail("y" * 30_000))
    assert too_big.value.code == 552
    assert await _count(mail_gateway) == 0
    # Past the recipient limit the extra recipients get 452; the message is taken once.
    refused, _ = await _send(
        mail_gateway,
        _mail("to many of us"),
        recipients=[f"support+{n}@support.example.com" for n in range(5)],
    )
    assert {r.code for r in refused.values()} == {452} and len(refused) == 2
    assert await _count(mail_gateway) == 1


async def test_duplicates_automatic_mail_and_broken_mime(mail_gateway: RunningGateway) -> None:
    once = _mail("only once", Message_ID="<dup@example.org>")
    await _send(mail_gateway, once)
    await _send(mail_gateway, once)
    await _send(mail_gateway, _mail("Out of office", Auto_Submitted="auto-replied"))
    await _send(
        mail_gateway,
        _mail("Delivery failed", From="MAILER-DAEMON@example.org"),
        sender="",
    )
    assert await _count(mail_gateway) == 1
    broken = (
        b"From: broken@example.org\r\nTo: support@support.example.com\r\nSubject: b\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain; charset=bogus\r\n\r\nStill readable\r\n"
    )
    await _send(mail_gateway, broken, sender="broken@example.org", recipients=[SUPPORT])
    async with mail_gateway.app[DATABASE].read() as conn:
        row = (
            await conn.execute(
                select(messages.c.text, messages.c.raw).order_by(messages.c.id.desc())
            )
        ).first()
    assert row is not None and "Still readable" in row.text and row.raw["defects"]


async def test_a_relay_refusing_for_a_while_gets_the_reply_once(
    mail_gateway: RunningGateway, relay: Relay
) -> None:
    await _send(mail_gateway, _mail("hello?"))
    ada, conversation_id = await _assigned(mail_gateway, "hello?")
    relay.refuse = ["451 4.3.0 try again later"]
    answer = await ada.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "mail-reply-2",
            "text": "hi",
        }
    )
    message_id = answer["message"]["id"]
    await wait_for(
        lambda: any(
            f["type"] == "message_status"
            and f["message_id"] == message_id
            and f["status"] == "sent"
            for f in ada.frames
        )
    )
    assert len(relay.received) == 1


async def test_header_injection_is_refused(mail_gateway: RunningGateway, relay: Relay) -> None:
    raw = (
        b"From: lena@example.org\r\nTo: support@support.example.com\r\n"
        b"Subject: =?utf-8?q?hello=0D=0ABcc=3A_victim=40example=2Eorg?=\r\n"
        b"Message-ID: <inj@example.org>\r\n\r\nhi\r\n"
    )
    await _send(mail_gateway, raw, sender="lena@example.org", recipients=[SUPPORT])
    ada, conversation_id = await _assigned(mail_gateway, "hi")
    answer = await ada.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "mail-reply-3",
            "text": "ok",
        }
    )
    message_id = answer["message"]["id"]
    await wait_for(
        lambda: any(
            f.get("message_id") == message_id and f.get("status") == "sent" for f in ada.frames
        )
    )
    (reply,) = relay.received
    assert reply.get("Bcc") is None and "\n" not in reply["Subject"]
    assert reply["To"] == "lena@example.org"


def test_a_line_break_in_a_reply_header_is_refused() -> None:
    settings = EmailSettings()
    job = OutboundJob(
        1, 1, "email", 1, "lena@example.org", "text", [], "queued", None, 0, None, False, False,
        {}, {"subject": "hello\r\nBcc: victim@example.org", "message_id": "<m@x>"},
    )  # fmt: skip
    with pytest.raises(PermanentFailure, match="line break in the Subject"):
        build_reply(settings, job, "<r@support.example.com>", "k" * 32)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_auth_is_required_when_configured(
    start_gateway: Callable[..., Awaitable[RunningGateway]], tmp_path: Path, relay: Relay
) -> None:
    gateway = await start_gateway(
        make_settings(
            tmp_path,
            email={
                "enabled": True,
                "port": 0,
                "relay_port": relay.port,
                "auth_username": "mta",
                "auth_password": "mta-secret-password",
                "auth_allow_plaintext": True,
            },
        )
    )
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await _send(gateway, _mail("no login"))
    assert refused.value.code == 530
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await _send(gateway, _mail("bad login"), username="mta", password="wrong")
    assert await _count(gateway) == 0
    await _send(gateway, _mail("good login"), username="mta", password="mta-secret-password")
    assert await _count(gateway) == 1


async def test_simulate_email_reaches_the_smtp_server(
    start_gateway: Callable[..., Awaitable[RunningGateway]], tmp_path: Path, relay: Relay
) -> None:
    smtp_port = free_port()
    config = write_config(
        tmp_path, email={"enabled": True, "port": smtp_port, "relay_port": relay.port}
    )
    gateway = await start_gateway(load_settings(config))
    argv = ["--config", str(config), "simulate", "email", "Where is my parcel?"]
    assert await asyncio.to_thread(main, argv) == 0
    await wait_for(lambda: _count(gateway))
    async with gateway.app[DATABASE].read() as conn:
        row = (await conn.execute(select(messages.c.channel, messages.c.text))).one()
    assert tuple(row) == ("email", "Where is my parcel?")


def _self_signed(tmp_path: Path) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        # A failure, not a skip: a STARTTLS check that quietly does not run proves nothing.
        pytest.fail("openssl is needed to make a test certificate (make test installs it)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=support.example.com", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_starttls_with_auth_over_tls_only(
    start_gateway: Callable[..., Awaitable[RunningGateway]], tmp_path: Path, relay: Relay
) -> None:
    cert, key = _self_signed(tmp_path)
    gateway = await start_gateway(
        make_settings(
            tmp_path,
            email={
                "enabled": True,
                "port": 0,
                "relay_port": relay.port,
                "tls_cert_file": cert,
                "tls_key_file": key,
                "auth_username": "mta",
                "auth_password": "mta-secret-password",
            },
        )
    )
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=_port(gateway), start_tls=False)
    await client.connect()
    await client.ehlo()
    assert client.supports_extension("starttls")
    assert not client.supports_extension("auth")  # no AUTH before TLS
    await client.starttls(validate_certs=False)
    await client.ehlo()
    assert client.supports_extension("auth")
    await client.login("mta", "mta-secret-password")
    await client.send_message(_mail("over TLS"))
    await client.quit()
    assert await _count(gateway) == 1


async def test_a_thread_claimed_by_another_sender_is_a_new_conversation(
    mail_gateway: RunningGateway, relay: Relay
) -> None:
    await _send(mail_gateway, _mail("first", Message_ID="<orig@example.org>"))
    ada, conversation_id = await _assigned(mail_gateway, "first")
    await ada.act(
        {"type": "reply", "conversation_id": conversation_id, "client_id": "mail-reply-9",
         "text": "answered"},
    )  # fmt: skip
    await wait_for(lambda: relay.received)
    ours = relay.received[0]["Message-ID"]
    await _send(
        mail_gateway,
        _mail("I am in this thread too", From="mallory@evil.example", In_Reply_To=ours,
              References=ours),
    )  # fmt: skip
    async with mail_gateway.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(messages.c.conversation_id, messages.c.text).where(
                    messages.c.direction == "in"
                )
            )
        ).all()
    by_text = {r.text: r.conversation_id for r in rows}
    assert by_text["I am in this thread too"] != by_text["first"]
    # Mallory cannot use the conversation's reply address either, nor make up a token.
    reply_to = relay.received[0]["Reply-To"].addresses[0].addr_spec
    token = reply_to.split("+", 1)[1].split("@")[0]
    forged = f"support+c{conversation_id}-{'0' * 12}@support.example.com"
    for n, recipient in enumerate((reply_to, forged)):
        await _send(
            mail_gateway,
            _mail(f"via the token {n}", From="mallory@evil.example"),
            recipients=[recipient],
        )
    async with mail_gateway.app[DATABASE].read() as conn:
        rows = (await conn.execute(select(messages.c.conversation_id, messages.c.text))).all()
    by_text = {r.text: r.conversation_id for r in rows}
    assert (
        by_text["via the token 0"]
        == by_text["via the token 1"]
        == by_text["I am in this thread too"]
    )
    assert token.startswith(f"c{conversation_id}-")


async def test_an_answer_to_a_closed_conversation_reopens_it_by_token_or_headers(
    mail_gateway: RunningGateway, relay: Relay
) -> None:
    await _send(mail_gateway, _mail("printer broken", Message_ID="<p1@example.org>"))
    ada, conversation_id = await _assigned(mail_gateway, "printer broken")
    answer = await ada.act(
        {"type": "reply", "conversation_id": conversation_id, "client_id": "mail-reply-p",
         "text": "Try turning it off and on."},
    )  # fmt: skip
    assert answer["ok"], answer
    await wait_for(lambda: relay.received)
    reply = relay.received[0]
    reply_to = reply["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("support+c") and reply_to.endswith("@support.example.com")
    assert (await ada.act({"type": "resolve", "conversation_id": conversation_id}))["ok"]
    # The customer's client dropped In-Reply-To, but the mail went to the reply address:
    # the same conversation, waiting for an operator again, its history intact.
    await _send(mail_gateway, _mail("still broken"), recipients=[reply_to])
    await wait_for(lambda: "still broken" in ada.texts("in"), timeout=15)
    detail = await ada.get(f"/api/conversations/{conversation_id}")
    texts = [m["text"] for m in detail["conversation"]["messages"]]
    assert texts == ["printer broken", "Try turning it off and on.", "still broken"]
    assert detail["conversation"]["status"] == "assigned"
    # Closed again; this time the answer threads by its headers only.
    assert (await ada.act({"type": "resolve", "conversation_id": conversation_id}))["ok"]
    await _send(
        mail_gateway,
        _mail("and now it smokes", In_Reply_To=reply["Message-ID"], References=reply["Message-ID"]),
    )
    await wait_for(lambda: "and now it smokes" in ada.texts("in"), timeout=15)
    async with mail_gateway.app[DATABASE].read() as conn:
        ids = (await conn.execute(select(messages.c.conversation_id).distinct())).scalars().all()
    assert ids == [conversation_id]
    # A new mail with no thread opens a new conversation once this one is closed.
    assert (await ada.act({"type": "resolve", "conversation_id": conversation_id}))["ok"]
    await _send(mail_gateway, _mail("another matter"))
    async with mail_gateway.app[DATABASE].read() as conn:
        ids = (await conn.execute(select(messages.c.conversation_id).distinct())).scalars().all()
    assert len(ids) == 2


async def test_attachments_within_the_limit_are_kept_and_served(
    mail_gateway: RunningGateway,
) -> None:
    msg = _mail("bill attached")
    msg.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf", filename="a.pdf")
    msg.add_attachment(b"x" * 9_000, maintype="application", subtype="zip", filename="big.zip")
    await _send(mail_gateway, msg)
    ada, _ = await _assigned(mail_gateway, "bill attached")
    (message,) = [m for m in ada.messages.values() if m["text"] == "bill attached"]
    small, big = message["attachments"]
    assert (small["filename"], small["size"]) == ("a.pdf", 14)
    assert small["state"] == "kept"
    assert small["url"] == f"/api/messages/{message['id']}/attachments/0"
    assert (big["state"], big["url"], big["size"]) == ("not_kept", None, 9_000)
    assert "limit" in big["reason"]
    async with mail_gateway.http.get(
        f"{mail_gateway.base}{small['url']}", headers=ada.headers
    ) as resp:
        assert resp.status == 200 and await resp.read() == b"%PDF-1.4 small"
        assert resp.headers["Content-Disposition"] == "attachment"
        assert resp.headers["Content-Type"] == "application/pdf"
    async with mail_gateway.http.get(f"{mail_gateway.base}{small['url']}") as resp:
        assert resp.status == 401
    # Another operator does not see files of a conversation that is not theirs; a supervisor does.
    ben = await mail_gateway.operator("ben", state="away")
    async with mail_gateway.http.get(
        f"{mail_gateway.base}{small['url']}", headers=ben.headers
    ) as resp:
        assert resp.status == 404
    sue = await mail_gateway.operator("sue", Role.SUPERVISOR, state=None)
    async with mail_gateway.http.get(
        f"{mail_gateway.base}{small['url']}", headers=sue.headers
    ) as resp:
        assert resp.status == 200
    for missing in ("/attachments/1", "/attachments/7", "/attachments/x"):
        url = f"{mail_gateway.base}/api/messages/{message['id']}{missing}"
        async with mail_gateway.http.get(url, headers=ada.headers) as resp:
            assert resp.status in (404, 422), missing
    async with mail_gateway.http.get(
        f"{mail_gateway.base}/api/messages/9999/attachments/0", headers=ada.headers
    ) as resp:
        assert resp.status == 404
