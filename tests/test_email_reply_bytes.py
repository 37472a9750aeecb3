"""The exact bytes of a reply as a real SMTP server (aiosmtpd on loopback) receives them:
message-ids are never encoded or cut, whatever their length, and long headers fold only
between ids."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from email import message_from_bytes, policy

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr

from channels.email.sender import EmailSender, build_reply
from gateway.dispatch import PermanentFailure
from gateway.settings import EmailSettings
from gateway.storage.outbound import OutboundJob


class Sink:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        self.received.append(envelope.original_content)
        return "250 OK"


@pytest.fixture
async def sink() -> AsyncIterator[tuple[Sink, int]]:
    sink = Sink()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(sink), "127.0.0.1", 0)
    yield sink, int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


def _outlook_id(length: int, n: int = 0) -> str:
    """An id the way Exchange writes them, padded to ``length`` characters with <>."""
    head = f"<AM0PR07MB{n:04d}"
    tail = "@AM0PR07MB5921.eurprd07.prod.outlook.com>"
    return head + "A" * (length - len(head) - len(tail)) + tail


async def _send(port: int, last_inbound: dict[str, object]) -> bytes:
    settings = EmailSettings(relay_port=port)
    job = OutboundJob(
        7, 3, "email", 1, "lena@example.org", "Here is the answer.", [], "queued", None, 0, 1,
        False, False, {}, last_inbound,
    )  # fmt: skip
    return (await EmailSender(settings, SecretStr("k" * 32)).send(job)).encode()


def _header(raw: bytes, name: str) -> tuple[list[bytes], str]:
    """The header's physical lines, and its value unfolded."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    match = re.search(rb"(?im)^" + name.encode() + rb": [^\r\n]*(?:\r\n[ \t][^\r\n]*)*", head)
    assert match is not None, (name, head)
    lines = match.group(0).split(b"\r\n")
    return lines, b" ".join(line.strip() for line in lines).decode().split(": ", 1)[1]


@pytest.mark.parametrize("length", [80, 200])
async def test_a_long_message_id_goes_out_as_it_is(sink: tuple[Sink, int], length: int) -> None:
    box, port = sink
    parent = _outlook_id(length)
    assert len(parent) == length
    await _send(port, {"subject": "Rechnung", "message_id": parent, "references": []})
    (raw,) = box.received
    assert b"=?" not in raw.split(b"\r\n\r\n", 1)[0]
    lines, value = _header(raw, "In-Reply-To")
    assert value == parent and len(lines) == 1
    lines, value = _header(raw, "References")
    assert value == parent
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["In-Reply-To"] == parent


async def test_a_chain_of_thirty_ids_folds_between_ids_only(sink: tuple[Sink, int]) -> None:
    box, port = sink
    chain = [_outlook_id(80 if n % 2 else 200, n) for n in range(29)]
    parent = _outlook_id(120, 99)
    await _send(port, {"subject": "Re: Rechnung", "message_id": parent, "references": chain})
    (raw,) = box.received
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?" not in head
    lines, value = _header(raw, "References")
    assert value.split(" ") == [*chain, parent]  # 30 ids, in order, each whole
    for line in lines[1:]:
        assert re.fullmatch(rb" <[^<>\s]+>( <[^<>\s]+>)*", line), line
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert len(lines) > 1  # folded, not one 5000-character line


async def test_short_ids_share_lines_up_to_78_characters(sink: tuple[Sink, int]) -> None:
    box, port = sink
    chain = [f"<CAF{n:03d}xyz@mail.gmail.com>" for n in range(12)]
    await _send(port, {"subject": "x", "message_id": "<p@mail.gmail.com>", "references": chain})
    (raw,) = box.received
    lines, value = _header(raw, "References")
    assert value.split(" ") == [*chain, "<p@mail.gmail.com>"]
    assert all(len(line) <= 78 for line in lines) and len(lines) > 1


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("noreply@formspree.io", True),
        ("no-reply@typeform.example", True),
        ("donotreply@shop.example", True),
        ("do-not-reply@shop.example", True),
        ("NoReply@Shop.example", True),
        ("norbert@example.org", False),
        ("reply@example.org", False),
        ("lena@example.org", False),
    ],
)
def test_no_reply_addresses_are_not_answered(address: str, refused: bool) -> None:
    job = OutboundJob(
        7, 3, "email", 1, address, "Answer", [], "queued", None, 0, 1, False, False, {},
        {"subject": "Form", "message_id": "<f@forms.example>"},
    )  # fmt: skip
    if refused:
        with pytest.raises(PermanentFailure, match="no-reply address"):
            build_reply(EmailSettings(), job, "<r@support.example.com>", "k" * 32)
    else:
        assert build_reply(EmailSettings(), job, "<r@support.example.com>", "k" * 32)["To"]
