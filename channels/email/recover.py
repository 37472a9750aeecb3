"""The readable text of mail that is not quite what its headers say.

Why a module of its own: real mail arrives with a closing boundary missing, a Content-Type that
names a boundary the body does not use (or none at all), damaged base64, a charset it was not
written in, or 8-bit Latin-1 with no charset at all. The standard library parses all of these
without raising, but then hands back MIME source, base64 or replacement characters. These
pure functions recover the text a person wrote; the message's defects are still recorded.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import copy
import quopri
import re
from email.message import Message, MIMEPart

# 7-bit encodings that are also valid ASCII/UTF-8 byte for byte: only the declared one is right.
_STATEFUL = ("iso2022", "utf_7", "hz")
_BOUNDARY_LINE = re.compile(r"^--([^\r\n]{1,70}?)(--)?[ \t]*$")
_MIME_HEADER = re.compile(r"^content-(type|transfer-encoding|disposition)\s*:", re.IGNORECASE)
_B64_LINE = re.compile(r"^[A-Za-z0-9+/]{16,}={0,2}$")
_CONTENT_TYPE = re.compile(rb"(?im)^content-type[ \t]*:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*")


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip('"').lower()).name
    except (LookupError, ValueError):
        return None


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_text(data: bytes, declared: str | None) -> str:
    return decode_text_as(data, declared)[0]


def decode_text_as(data: bytes, declared: str | None) -> tuple[str, str]:
    """Bytes to text, and the codec that read them: the declared charset where only it can be
    right (ISO-2022-JP and the like), else ASCII, UTF-8, the declared charset, Windows-1252,
    Latin-1 (which always works), the first that decodes without error. UTF-8 goes before the
    declared charset because valid non-ASCII UTF-8 is almost never an accident, and mailers
    often label UTF-8 as Latin-1."""
    codec = _codec(declared)
    if codec in ("iso8859-1", "ascii"):
        codec = "cp1252"  # as browsers do: C1 control characters are never what was meant
    if codec and codec.startswith(_STATEFUL):
        text = _strict(data, codec)
        if text is not None:
            return text, codec
    for candidate in ("ascii", "utf-8", codec, "cp1252"):
        if candidate:
            text = _strict(data, candidate)
            if text is not None:
                return text, candidate
    return data.decode("latin-1"), "latin-1"


def charset_mismatch(declared: str | None, used: str) -> bool:
    """Was the text read in another charset than the one declared (a defect worth noting)?"""
    codec = _codec(declared)
    return used not in ("ascii", codec, "cp1252" if codec == "iso8859-1" else codec)


def find_boundary(body: str) -> str | None:
    """The boundary a multipart body really uses: a ``--token`` line followed by a part's
    headers."""
    lines = body.splitlines()
    for n, line in enumerate(lines[:-1]):
        match = _BOUNDARY_LINE.match(line)
        if match and not match.group(2) and _MIME_HEADER.match(lines[n + 1]):
            return match.group(1)
    return None


def with_boundary(raw: bytes, subtype: str, boundary: str) -> bytes:
    """The message with its Content-Type naming ``boundary`` (the body is left as it is)."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=-1)
    if end < 0:
        return raw
    head, body = raw[:end], raw[end:]
    quoted = boundary.replace("\\", "\\\\").replace('"', '\\"')
    header = f'Content-Type: multipart/{subtype}; boundary="{quoted}"'.encode()
    head, found = _CONTENT_TYPE.subn(lambda _: header, head, count=1)
    if not found:
        newline = b"\r\n" if b"\r\n" in head else b"\n"
        head += newline + b"MIME-Version: 1.0" + newline + header
    return head + body


def part_bytes(part: Message) -> bytes:
    """A part's content with its transfer encoding undone, or its bytes as they are when the
    encoding is a lie (text labelled base64)."""
    decoded = part.get_payload(decode=True)
    decoded = decoded if isinstance(decoded, bytes) else b""
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() != "base64":
        return decoded
    as_is = copy.copy(part)
    as_is.replace_header("Content-Transfer-Encoding", "8bit")
    source = as_is.get_payload(decode=True)
    if not isinstance(source, bytes):
        return decoded
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    foreign = sum(1 for line in lines if re.search(rb"[^A-Za-z0-9+/=]", line))
    return source if lines and foreign * 2 > len(lines) else decoded


def _base64_text(lines: list[str]) -> str | None:
    joined = "".join(lines).rstrip("=")
    try:
        data = base64.b64decode(joined + "=" * (-len(joined) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None
    text = decode_text(data, None)
    printable = sum(1 for c in text if c.isprintable() or c in "\r\n\t")
    return text if text and printable >= 0.95 * len(text) else None


def _part_text(headers: list[str], content: list[str]) -> list[str]:
    """The lines of one part found inside text: its text if it is a text part, else nothing."""
    fields = {}
    for line in headers:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip().lower()
    kind = fields.get("content-type", "text/plain")
    if not kind.startswith("text/") or "attachment" in fields.get("content-disposition", ""):
        return []
    charset = re.search(r'charset="?([^";\s]+)', kind)
    data = "\n".join(content).encode("utf-8", "surrogateescape")
    cte = fields.get("content-transfer-encoding", "")
    if cte == "base64":
        clean = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        clean = clean[:-1] if len(clean) % 4 == 1 else clean  # a lone last character is noise
        data = base64.b64decode(clean + b"=" * (-len(clean) % 4), validate=False)
    elif cte == "quoted-printable":
        data = quopri.decodestring(data)
    return decode_text(data, charset.group(1) if charset else None).splitlines()


def without_source(text: str) -> str:
    """Text with no MIME machinery left in it: where a multipart body shows through, its text
    parts are decoded and the other parts go; a run of base64 lines becomes the text it
    encodes, or goes if it is not text."""
    lines = text.splitlines()
    known = {
        m.group(1)
        for n, line in enumerate(lines[:-1])
        if (m := _BOUNDARY_LINE.match(line)) and not m.group(2) and _MIME_HEADER.match(lines[n + 1])
    }
    opening = {f"--{b}" for b in known}
    marks = opening | {f"--{b}--" for b in known}
    out: list[str] = []
    n = 0
    while n < len(lines):
        line = lines[n].rstrip()
        if line in marks:
            n += 1
            if line not in opening:
                continue
            headers: list[str] = []
            while n < len(lines) and lines[n].strip():
                if lines[n][:1] in " \t" and headers:
                    headers[-1] += lines[n]
                else:
                    headers.append(lines[n])
                n += 1
            start = n
            while n < len(lines) and lines[n].rstrip() not in marks:
                n += 1
            out.extend(_part_text(headers, lines[start:n]))
            continue
        if _B64_LINE.match(line.strip()):
            run = n
            while run < len(lines) and _B64_LINE.match(lines[run].strip()):
                run += 1
            if run - n >= 2 or len(line.strip()) >= 60:
                decoded = _base64_text([x.strip() for x in lines[n:run]])
                if decoded is not None:
                    out.extend(decoded.splitlines())
                n = run
                continue
        out.append(lines[n])
        n += 1
    return "\n".join(out)


def is_attachment(part: MIMEPart) -> bool:
    return part.get_content_disposition() == "attachment" or bool(part.get_filename())
