"""Email replies through a relay with aiosmtplib, threaded into the customer's mail client.

Every reply gets its own Message-ID and refers to the customer's latest message (In-Reply-To,
References), so it lands in the same thread; its Reply-To is the conversation's reply+token
address, so the customer's answer finds the conversation even if their client drops headers.
A header value with CR or LF is refused: that is how header injection starts.

Message-IDs go out exactly as they are: the standard library folds a long id (Outlook's are 80
characters and more) into RFC 2047 encoded words, which no mail client reads as an id, so the
reply would fall out of its thread. ``IdHeadersPolicy`` folds those headers only between ids.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formataddr, make_msgid
from typing import Any

import aiosmtplib
from pydantic import SecretStr

from channels.email.threading import reply_address
from gateway.dispatch import PermanentFailure, TemporaryFailure
from gateway.settings import EmailSettings
from gateway.storage.outbound import OutboundJob

ID_HEADERS = frozenset({"message-id", "in-reply-to", "references"})
MAX_REFERENCES = 50  # the thread's first message and the latest ones


class IdHeadersPolicy(EmailPolicy):
    """SMTP's policy, except that Message-ID, In-Reply-To and References are folded between
    their ids only, never inside one, and never encoded."""

    def fold(self, name: str, value: Any) -> str:
        if name.lower() not in ID_HEADERS:
            return super().fold(name, value)
        return fold_ids(name, str(value), self.linesep, self.max_line_length or 78)

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() not in ID_HEADERS:
            return super().fold_binary(name, value)
        return fold_ids(name, str(value), self.linesep, self.max_line_length or 78).encode()


def fold_ids(name: str, value: str, linesep: str, width: int) -> str:
    """``Name: <id> <id>`` on lines of at most ``width`` where the ids allow it; a longer id
    gets a line of its own, whole."""
    ids = re.findall(r"<[^<>\s]+>", value) or [value.strip()]
    lines = [f"{name}: {ids[0]}"]
    for one in ids[1:]:
        if len(lines[-1]) + 1 + len(one) <= width:
            lines[-1] += f" {one}"
        else:
            lines.append(f" {one}")
    return linesep.join(lines) + linesep


def as_smtp_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=IdHeadersPolicy(linesep="\r\n"))


def thread_ids(references: list[str], parent: str) -> list[str]:
    """References for a reply: the parent's References and the parent, the thread's first
    message kept when the chain is trimmed."""
    chain = list(dict.fromkeys([*references, parent]))
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return chain


_NO_REPLY = re.compile(
    r"^(no-?reply|do-?not-?reply|donotreply|noreply-[\w.-]+|[\w.-]*\+?noreply)@", re.I
)


def is_no_reply(address: str) -> bool:
    """An address that says nobody reads it (noreply@, no-reply@, donotreply@ …)."""
    return bool(_NO_REPLY.match(address.strip()))


def reply_subject(subject: str) -> str:
    subject = subject.strip() or "Your message"
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def build_reply(
    settings: EmailSettings, job: OutboundJob, message_id: str, secret: str
) -> EmailMessage:
    thread = job.last_inbound
    reply_to = reply_address(secret, settings.address, settings.domain, job.conversation_id)
    headers = {
        "From": formataddr((settings.display_name, settings.support_address)),
        "Reply-To": formataddr((settings.display_name, reply_to)),
        "To": job.address,
        "Subject": reply_subject(str(thread.get("subject") or "")),
        "Message-ID": message_id,
    }
    parent = thread.get("message_id")
    if parent:
        headers["In-Reply-To"] = str(parent)
        references = [str(r) for r in thread.get("references") or []]
        headers["References"] = " ".join(thread_ids(references, str(parent)))
    if is_no_reply(job.address):
        raise PermanentFailure(
            f"refused: {job.address} is a no-reply address; nobody would read the answer"
        )
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise PermanentFailure(f"refused: a line break in the {name} header")
    msg = EmailMessage()
    for name, value in headers.items():
        msg[name] = value
    msg["Auto-Submitted"] = "no"
    msg.set_content(job.text)
    return msg


class EmailSender:
    channel = "email"

    def __init__(self, settings: EmailSettings, secret: SecretStr) -> None:
        self.settings = settings
        self.secret = secret

    async def send(self, job: OutboundJob) -> str:
        message_id = make_msgid(domain=self.settings.domain)
        msg = build_reply(self.settings, job, message_id, self.secret.get_secret_value())
        s = self.settings
        try:
            await aiosmtplib.send(
                as_smtp_bytes(msg),
                sender=s.support_address,
                recipients=[job.address],
                hostname=s.relay_host,
                port=s.relay_port,
                username=s.relay_username,
                password=s.relay_password.get_secret_value() if s.relay_password else None,
                start_tls=s.relay_starttls,
                timeout=s.relay_timeout_seconds,
            )
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"relay answered {exc.code}: {exc.message}"[:300]
            if 400 <= exc.code < 500:
                raise TemporaryFailure(reason) from exc
            raise PermanentFailure(reason) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"relay unreachable: {type(exc).__name__}: {exc}") from exc
        return message_id
