"""The email channel: an SMTP server (aiosmtpd) inside the gateway for mail to the support
address, and the sender for replies.

The server answers in SMTP's own terms: 550 for a recipient that is not ours, 452 past the
recipient limit, 552 for a message over the size limit (aiosmtpd), 250 once a message is stored.
Automatic mail (auto-replies, bulk) is accepted and dropped, so no loop can start; a bounce of
one of our replies marks that reply failed (channels/email/bounces.py), other bounces are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ssl
from collections.abc import AsyncIterator
from email.utils import formataddr
from typing import Any

import structlog
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from channels.email.bounces import is_bounce, parse_bounce
from channels.email.mime import AttachmentInfo, ParsedEmail, parse_email
from channels.email.sender import EmailSender
from channels.email.threading import claimed_by_token, thread_references
from gateway.broker import BrokerUnavailable
from gateway.channel_intake import accept_from_channel
from gateway.keys import BROKER, FILES, OUTBOUND, SENDERS, SETTINGS, THREADS
from gateway.model import Attachment, Channel, InboundMessage
from gateway.settings import EmailSettings
from gateway.storage.outbound import mark_bounced
from gateway.storage.threads import ThreadClaim

log = structlog.get_logger()

SMTP_SERVER = web.AppKey("smtp_server", asyncio.Server)


class SupportMailbox:
    """aiosmtpd handler: who may be written to, and what happens to a message."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.settings: EmailSettings = app[SETTINGS].email
        self.secret = app[SETTINGS].security.secret_key.get_secret_value()

    def ours(self, address: str) -> bool:
        local, _, domain = address.lower().rpartition("@")
        mailbox = self.settings.address
        return domain == self.settings.domain and (
            local == mailbox or local.startswith(mailbox + "+")
        )

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not self.ours(address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def thread_claim(
        self, sender: str, recipients: list[str], parsed: ParsedEmail
    ) -> ThreadClaim:
        """The conversation the mail continues: named by the reply+token address it was sent
        to, else by the messages it answers; only if that conversation is the sender's."""
        named = claimed_by_token(
            self.secret, self.settings.address, self.settings.domain, recipients
        )
        references = thread_references(parsed.in_reply_to, parsed.references)
        return await self.app[THREADS].claim(Channel.EMAIL.value, sender, named, references)

    async def keep_attachments(
        self, attachments: tuple[AttachmentInfo, ...], digest: str
    ) -> tuple[Attachment, ...]:
        """Keep files within the size limit (staff download them with the message); list the
        rest with the reason."""
        kept = []
        limit = self.settings.max_attachment_bytes
        for n, a in enumerate(attachments):
            reference = f"email-attachment:{digest[:16]}:{n}"
            if a.data and a.size <= limit:
                file_id = await self.app[FILES].keep(a.data, a.content_type)
                kept.append(Attachment(reference, a.content_type, a.filename, a.size, file_id))
            else:
                reason = f"larger than the {limit} byte limit for files" if a.data else "empty"
                kept.append(Attachment(reference, a.content_type, a.filename, a.size, error=reason))
        return tuple(kept)

    async def bounce(self, raw: bytes) -> None:
        """A bounce of one of our replies marks it failed and tells its operator, like a
        failed SMS; any other bounce is logged and dropped. Never a conversation."""
        try:
            report = parse_bounce(raw)
        except (ValueError, LookupError, IndexError, TypeError, AttributeError) as exc:
            log.warning("email.bounce.unreadable", error=f"{type(exc).__name__}: {exc}")
            return
        domain = "@" + self.settings.domain.lower() + ">"
        ours = tuple(
            i for i in (report.message_ids if report else ()) if i.lower().endswith(domain)
        )
        change = None
        if report is not None and ours:
            change = await mark_bounced(
                self.app[OUTBOUND].db, Channel.EMAIL.value, ours, report.reason
            )
        if report is None or change is None:
            log.info(
                "email.bounce.unknown",
                message_ids=list(report.message_ids) if report else [],
                reason=report.reason if report else None,
            )
            return
        log.warning(
            "email.bounce.reply_failed",
            message_id=change.message_id,
            conversation_id=change.conversation_id,
            reason=report.reason,
        )
        if change.author_user_id is not None:
            frame = {
                "type": "message_status",
                "conversation_id": change.conversation_id,
                "message_id": change.message_id,
                "status": change.status,
                "reason": report.reason,
            }
            # If the broker is away, the console reads the status from the store on reconnect.
            with contextlib.suppress(BrokerUnavailable):
                await self.app[BROKER].publish_to_operator(change.author_user_id, frame)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        if is_bounce(raw, envelope.mail_from or ""):
            await self.bounce(raw)
            return "250 2.0.0 Accepted (delivery report)"
        parsed = parse_email(raw, envelope.mail_from or "", self.settings.domain)
        if parsed.automatic:
            log.info("email.inbound.automatic", reason=parsed.automatic, sender=parsed.sender)
            return "250 2.0.0 Accepted (automatic mail, not answered)"
        if "@" not in parsed.sender:
            return "550 5.1.7 The message has no sender address"
        digest = hashlib.sha256(raw).hexdigest()
        provider_id = parsed.message_id or f"<sha256-{digest}>"
        claim = await self.thread_claim(parsed.sender, envelope.rcpt_tos, parsed)
        message = InboundMessage(
            channel=Channel.EMAIL,
            sender=parsed.sender,
            text=parsed.text,
            provider_message_id=provider_id,
            sender_name=parsed.sender_name,
            attachments=await self.keep_attachments(parsed.attachments, digest),
            raw={
                "message_id": parsed.message_id,
                "subject": parsed.subject,
                "from": formataddr((parsed.from_name or "", parsed.from_address)),
                "reply_to": parsed.reply_to,
                "in_reply_to": parsed.in_reply_to,
                "references": list(parsed.references),
                "defects": list(parsed.defects),
                "full_text": parsed.full_text if parsed.full_text != parsed.text else None,
                "thread_refused": claim.refused,
            },
            thread=claim.conversation_id,
        )
        accepted = await accept_from_channel(
            self.app, message, f"email:{parsed.sender}:{provider_id}"
        )
        log.info(
            "email.inbound.accepted",
            message_id=accepted.message_id,
            conversation_id=accepted.conversation_id,
            duplicate=not accepted.created,
            defects=list(parsed.defects),
            thread=claim.conversation_id,
            thread_refused=claim.refused,
        )
        return "250 2.0.0 Message accepted"


def _tls(settings: EmailSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert_file or not settings.tls_key_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


def _authenticator(settings: EmailSettings) -> Any:
    """Checks a login in constant time on bytes: credentials that are not UTF-8 (or not ours)
    are simply wrong (535), never an error of the server."""
    assert settings.auth_username is not None and settings.auth_password is not None
    username = settings.auth_username.encode()
    password = settings.auth_password.get_secret_value().encode()

    def check(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = bytes(data.login or b"")
        secret = bytes(data.password or b"")
        # Both compared every time, so the answer takes as long whichever one is wrong.
        same_login = hmac.compare_digest(login, username)
        same_password = hmac.compare_digest(secret, password)
        ok = same_login and same_password
        if not ok:
            log.info("email.smtp.auth_failed", mechanism=mechanism)
        return AuthResult(success=ok, handled=False)

    return check


async def smtp_server(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].email
    app[SENDERS].append(EmailSender(settings, app[SETTINGS].security.secret_key))
    mailbox = SupportMailbox(app)
    tls = _tls(settings)
    auth = settings.auth_username is not None

    def protocol() -> SMTP:
        return SMTP(
            mailbox,
            hostname=settings.domain,
            data_size_limit=settings.max_message_bytes,
            timeout=settings.timeout_seconds,
            tls_context=tls,
            auth_required=auth,
            auth_require_tls=not settings.auth_allow_plaintext,
            authenticator=_authenticator(settings) if auth else None,
        )

    server = await asyncio.get_running_loop().create_server(protocol, settings.host, settings.port)
    app[SMTP_SERVER] = server
    log.info("email.smtp.listening", host=settings.host, port=server.sockets[0].getsockname()[1])
    yield
    server.close()
    await server.wait_closed()


def add_routes(app: web.Application) -> None:
    if app[SETTINGS].email.enabled:
        app.cleanup_ctx.append(smtp_server)
