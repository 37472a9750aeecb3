"""Inbound email as pure functions: bytes in, what a contact center needs out.

Why the standard library's ``policy.default``: it decodes headers and bodies (RFC 2047 words,
charsets, transfer encodings) and records defects instead of raising, so a malformed message is
kept, flagged, and never crashes the SMTP server.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

import nh3

from channels.email.quotes import strip_quoted
from channels.email.recover import (
    charset_mismatch,
    decode_text,
    decode_text_as,
    find_boundary,
    is_attachment,
    part_bytes,
    with_boundary,
    without_source,
)

MAX_TEXT = 20_000


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    filename: str | None
    content_type: str
    size: int
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str | None
    sender: str  # the customer: the Reply-To address a form or mailing tool names, else From
    sender_name: str | None
    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]
    text: str  # what the operator reads: the new part, quoted history removed
    full_text: str
    attachments: tuple[AttachmentInfo, ...] = ()
    defects: tuple[str, ...] = ()
    automatic: str | None = None  # why this is an auto-reply, bulk mail or a bounce
    extra: dict[str, str] = field(default_factory=dict)
    from_address: str = ""  # the From address, lower-cased (a form's no-reply address, say)
    from_name: str | None = None
    reply_to: str | None = None  # the one Reply-To address, when there is exactly one


def html_to_text(markup: str) -> str:
    """Readable text from HTML: block ends become line breaks, every tag goes (nh3 removes
    scripts and styles with their content), entities are decoded."""
    markup = re.sub(r"(?i)<\s*(br|/p|/div|/li|/tr|/h[1-6])\s*/?\s*>", "\n", markup)
    cleaned = nh3.clean(markup, tags=set(), clean_content_tags={"script", "style", "head"})
    text = html.unescape(cleaned)
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _automatic(msg: EmailMessage, envelope_sender: str) -> str | None:
    """Mail that must never get an answer, or answers would loop (RFC 3834)."""
    if envelope_sender in ("", "<>"):
        return "bounce (empty envelope sender)"
    auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return "auto-responder header"
    return None


def _header(msg: EmailMessage, name: str, defects: list[str]) -> str:
    try:
        return str(msg.get(name, "") or "")
    except (ValueError, IndexError, TypeError, AttributeError) as exc:
        defects.append(f"{name}: {type(exc).__name__}")
        return ""


def _reply_to(value: str) -> tuple[str, str] | None:
    """The one address a Reply-To names (name, address), or None for none or several."""
    found = {a.strip().lower(): n for n, a in getaddresses([value]) if "@" in a}
    if len(found) != 1:
        return None
    ((address, name),) = found.items()
    return name, address


def customer_of(
    from_address: str, from_name: str | None, reply_to: tuple[str, str] | None, own_domain: str
) -> tuple[str, str | None]:
    """Who the mail is from, as a contact center sees it. Web forms and mailing tools send
    from one address of theirs (often a no-reply one) and name the person in Reply-To; mail
    clients set a Reply-To only where their user wants answers. So a Reply-To with one address
    other than From (and not one of ours) is the customer; otherwise From is."""
    if reply_to is None:
        return from_address, from_name
    name, address = reply_to
    if address == from_address or address.rpartition("@")[2] == own_domain.lower():
        return from_address, from_name
    return address, name or None


def _ids(value: object) -> tuple[str, ...]:
    return tuple(re.findall(r"<[^<>\s]{1,250}>", str(value or "")))


def _chain(ids: tuple[str, ...], keep: int = 50) -> tuple[str, ...]:
    """A References chain trimmed to the thread's first message and the latest ones."""
    return ids if len(ids) <= keep else (ids[0], *ids[-(keep - 1) :])


def _readable(part: MIMEPart, defects: list[str]) -> str:
    declared = part.get_content_charset()
    text, used = decode_text_as(part_bytes(part), declared)
    if charset_mismatch(declared, used):
        defects.append(f"CharsetMismatch: declared {declared or 'none'}, read as {used}")
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return without_source(text.replace("\r\n", "\n")).strip()


def _body(msg: EmailMessage, defects: list[str]) -> str:
    """The best readable text part: plain, else HTML, else any inline text part."""
    candidates = [msg.get_body(preferencelist=("plain",)), msg.get_body(preferencelist=("html",))]
    candidates += [p for p in msg.walk() if p.get_content_maintype() == "text"]
    for part in candidates:
        if part is None or part.is_multipart() or is_attachment(part):
            continue
        text = _readable(part, defects)
        if text:
            return text
    return ""


def _attachments(msg: EmailMessage, defects: list[str]) -> list[AttachmentInfo]:
    attachments = []
    try:
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True)
            attachments.append(
                AttachmentInfo(
                    part.get_filename(),
                    part.get_content_type(),
                    len(payload) if isinstance(payload, bytes) else 0,
                    payload if isinstance(payload, bytes) else b"",
                )
            )
            defects += [type(d).__name__ for d in part.defects]
    except (LookupError, ValueError, TypeError, AttributeError) as exc:
        defects.append(f"attachments: {type(exc).__name__}")
    return attachments


def _parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def _recovered(msg: EmailMessage, raw: bytes) -> EmailMessage | None:
    """A multipart message whose parts were not found (no boundary parameter, or the wrong
    one), or a multipart body under no Content-Type at all, parsed again with the boundary the
    body really uses."""
    if msg.is_multipart() or msg.get_content_maintype() not in ("multipart", "text"):
        return None
    if msg.get_content_maintype() == "text" and "Content-Type" in msg:
        return None  # a text message that says so: its text may quote anything
    body = msg.get_payload()
    boundary = find_boundary(body) if isinstance(body, str) else None
    if boundary is None:
        return None
    subtype = msg.get_content_subtype() if msg.get_content_maintype() == "multipart" else "mixed"
    again = _parse(with_boundary(raw, subtype, boundary))
    return again if again.is_multipart() else None


def parse_email(raw: bytes, envelope_sender: str, own_domain: str = "") -> ParsedEmail:
    """Parse a message; a broken one is still returned, with its defects listed."""
    msg = _parse(raw)
    defects = [type(d).__name__ for d in msg.defects]
    again = _recovered(msg, raw)
    if again is not None:
        msg = again
        defects.append("BoundaryRecovered")
    try:
        full = _body(msg, defects)
    except (LookupError, ValueError, AssertionError, TypeError, AttributeError) as exc:
        defects.append(f"body: {type(exc).__name__}")
        body = raw.split(b"\r\n\r\n", 1)[-1] if b"\r\n\r\n" in raw else raw
        full = without_source(decode_text(body, None))
    attachments = _attachments(msg, defects)
    name, address = parseaddr(_header(msg, "From", defects))
    if not address and envelope_sender not in ("", "<>"):
        address = envelope_sender
    address = address.strip().lower()
    reply_to = _reply_to(_header(msg, "Reply-To", defects))
    customer, customer_name = customer_of(address, name or None, reply_to, own_domain)
    full = full.replace("\r\n", "\n").strip()[:MAX_TEXT]
    return ParsedEmail(
        message_id=next(iter(_ids(_header(msg, "Message-ID", defects))), None),
        sender=customer,
        sender_name=customer_name,
        subject=_header(msg, "Subject", defects).replace("\r", " ").replace("\n", " ")[:300],
        in_reply_to=next(iter(_ids(_header(msg, "In-Reply-To", defects))), None),
        references=_chain(_ids(_header(msg, "References", defects))),
        text=strip_quoted(full),
        full_text=full,
        attachments=tuple(attachments),
        defects=tuple(dict.fromkeys(defects)),
        automatic=_automatic(msg, envelope_sender),
        from_address=address,
        from_name=name or None,
        reply_to=reply_to[1] if reply_to else None,
    )
