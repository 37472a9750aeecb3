"""Bounces of our replies, read from the delivery status notification a mail server sends back.

Why a module of its own: a bounce is how a mail reply fails after the relay accepted it, so it
is the email counterpart of a failed SMS status callback. Standard DSNs (RFC 3464:
``multipart/report; report-type=delivery-status``, as Postfix, Exchange, Gmail and current Exim
send them) carry a Status and a Diagnostic-Code per recipient and the original message or its
headers; older and home-made ones (classic Exim, qmail) are plain text quoting the original
headers. Both name the Message-ID of the message that bounced, which is how we find our reply.
Pure functions: bytes in, a ``Bounce`` (or None) out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_SMTP_REPLY = re.compile(r"\b([45]\d\d)[ -]((?:[45]\.\d{1,3}\.\d{1,3}\s)?.{3,300})")
_MESSAGE_ID = re.compile(r"(?im)^\s*message-id\s*:\s*(<[^<>\s]{1,250}>)")
_SUBJECTS = re.compile(
    r"undeliver|returned to sender|delivery status notification|mail delivery failed"
    r"|failure notice|delivery failure|non remis|unzustellbar|no se puede entregar"
    r"|не доставлено|недоставлено",
    re.IGNORECASE,
)
_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon")
MAX_REASON = 300  # what the store keeps of a reply's error


@dataclass(frozen=True, slots=True)
class Bounce:
    message_ids: tuple[str, ...]  # the Message-IDs of the bounced message (ours, if it is ours)
    status: str | None  # the DSN status code, e.g. 5.1.1
    diagnostic: str | None  # what the receiving server said
    recipient: str | None

    @property
    def reason(self) -> str:
        """What the operator reads: ``bounced: 5.1.1 <diagnostic>``."""
        parts = [p for p in (self.status, self.diagnostic) if p]
        if self.recipient:
            parts.append(f"(to {self.recipient})")
        text = "bounced: " + (" ".join(parts) if parts else "the receiving server refused it")
        return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def is_bounce(raw: bytes, envelope_sender: str) -> bool:
    """A delivery status notification, by its type, its sender or its subject (headers only:
    this is asked of every message)."""
    return looks_like_bounce(
        BytesHeaderParser(policy=policy.default).parsebytes(raw), envelope_sender
    )


def looks_like_bounce(msg: Message, envelope_sender: str) -> bool:
    if msg.get_content_type() == "multipart/report":
        return str(msg.get_param("report-type", "")).lower() == "delivery-status"
    sender = _header(msg, "From").lower()
    daemon = any(f"{d}@" in sender or d in sender.split("<")[0] for d in _DAEMONS)
    subject = bool(_SUBJECTS.search(_header(msg, "Subject")))
    empty = envelope_sender in ("", "<>")
    return (daemon and (subject or empty)) or (empty and subject)


def _header(msg: Message, name: str) -> str:
    """A header as text; one the parser cannot read counts as absent."""
    try:
        return str(msg.get(name, "") or "")
    except (ValueError, IndexError, TypeError, AttributeError):
        return ""


def _fields(text: str) -> dict[str, str]:
    """``Name: value`` lines (continuations joined), names lower-cased; first one wins."""
    fields: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and last:
            fields[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and re.fullmatch(r"[A-Za-z-]+", name.strip()):
            last = name.strip().lower()
            fields.setdefault(last, value.strip())
    return fields


def _payload_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "replace")
    inner = part.get_payload()
    if isinstance(inner, list):  # message/delivery-status: a list of header blocks
        return "\n\n".join(m.as_string() for m in inner if isinstance(m, Message))
    return str(inner or "")


def _strip_type(value: str) -> str:
    """``smtp; 550 5.1.1 …`` and ``rfc822; a@b`` without the type."""
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and re.fullmatch(r"[A-Za-z0-9-]+", kind.strip()) else value


def _standard(msg: EmailMessage) -> Bounce | None:
    status = diagnostic = recipient = None
    ids: list[str] = []
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            blocks = _payload_text(part).split("\n\n")
            for block in blocks:
                f = _fields(block)
                if "status" not in f and "final-recipient" not in f:
                    continue
                if f.get("action", "failed").lower() not in ("failed", "delayed"):
                    continue
                status = status or (_STATUS.search(f.get("status", "")) or [None])[0]
                found = f.get("diagnostic-code")
                diagnostic = diagnostic or (_strip_type(found) if found else None)
                rcpt = f.get("final-recipient") or f.get("original-recipient")
                recipient = recipient or (_strip_type(rcpt) if rcpt else None)
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                ids += re.findall(r"<[^<>\s]{1,250}>", _header(inner[0], "Message-ID"))
            else:
                ids += _MESSAGE_ID.findall(_payload_text(part))
    if not ids:
        return None
    return Bounce(tuple(dict.fromkeys(ids)), status, diagnostic, recipient)


def _plain(msg: EmailMessage) -> Bounce | None:
    """A bounce that is just text: the error where it is said, the original headers quoted
    below (Exim's "------ This is a copy of the message", qmail's "--- Below this line")."""
    texts = [
        _payload_text(p) for p in msg.walk() if p.get_content_maintype() in ("text", "message")
    ]
    text = "\n".join(t for t in texts if t)
    ids = _MESSAGE_ID.findall(text)
    if not ids:
        return None
    copy_at = min(text.find(m) for m in ids)
    notice = text[:copy_at]
    status = _STATUS.search(notice)
    reply = _SMTP_REPLY.search(notice)
    diagnostic = " ".join(f"{reply.group(1)} {reply.group(2)}".split()) if reply else None
    if diagnostic is None and status is not None:  # qmail: "Sorry, no mailbox here … (#5.1.1)"
        line = next(x for x in notice.splitlines() if status.group(1) in x)
        diagnostic = line.strip() or None
    recipient = re.search(r"<?([^\s<>@]+@[^\s<>@]+\.[a-z]{2,})>?", notice, re.IGNORECASE)
    return Bounce(
        tuple(dict.fromkeys(ids)),
        status.group(1) if status else None,
        diagnostic,
        recipient.group(1) if recipient else None,
    )


def parse_bounce(raw: bytes) -> Bounce | None:
    """The bounce report in a message, if it names the message that bounced."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    found = _standard(msg) if msg.get_content_type() == "multipart/report" else None
    return found or _plain(msg)
