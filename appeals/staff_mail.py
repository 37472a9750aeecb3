"""Mail to staff about an appeal (a missed stage deadline), through the email relay the email
channel sends customers' replies with.

Why not the email channel's sender: that one answers a customer inside their thread (reply
address, references, a stored outbound message to retry); a staff alert is a one-off note to
fixed addresses, with no conversation behind it. It shares the relay settings and nothing else.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib

from gateway.settings import EmailSettings


def staff_message(
    settings: EmailSettings, to: tuple[str, ...], subject: str, text: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((settings.display_name, settings.support_address))
    msg["To"] = ", ".join(to)
    msg["Subject"] = " ".join(subject.split())  # one line, whatever a name held
    msg["Message-ID"] = make_msgid(domain=settings.domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    return msg


async def send_staff_mail(
    settings: EmailSettings, to: tuple[str, ...], subject: str, text: str
) -> None:
    """Send one message to ``to`` through the relay; raises what aiosmtplib raises."""
    await aiosmtplib.send(
        staff_message(settings, to, subject, text),
        sender=settings.support_address,
        recipients=list(to),
        hostname=settings.relay_host,
        port=settings.relay_port,
        username=settings.relay_username,
        password=settings.relay_password.get_secret_value() if settings.relay_password else None,
        start_tls=settings.relay_starttls,
        timeout=settings.relay_timeout_seconds,
    )
