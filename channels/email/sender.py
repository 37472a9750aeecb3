"""Email replies through a relay with aiosmtplib, threaded into the customer's mail client.

Every reply gets its own Message-ID and refers to the customer's latest message (In-Reply-To,
References), so it lands in the same thread; its Reply-To is the conversation's reply+token
address, so the customer's answer finds the conversation even if their client drops headers.
A header value with CR or LF is refused: that is how header injection starts.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib
from pydantic import SecretStr

from channels.email.threading import reply_address
from gateway.dispatch import PermanentFailure, TemporaryFailure
from gateway.settings import EmailSettings
from gateway.storage.outbound import OutboundJob


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
        references = [str(r) for r in thread.get("references") or []][-10:]
        headers["References"] = " ".join([*references, str(parent)])
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
                msg,
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
