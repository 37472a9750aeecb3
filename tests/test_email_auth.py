"""SMTP AUTH on the gateway's SMTP server, spoken by a raw client: credentials that are not
UTF-8 are refused as wrong (535), AUTH is never offered on a plaintext connection unless the
configuration says so."""

from __future__ import annotations

import asyncio
from base64 import b64encode
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiosmtplib
import pytest
from pydantic import ValidationError

from gateway.settings import EmailSettings
from tests.conftest import RunningGateway
from tests.support import make_settings
from tests.test_email import _count, _mail, _port, _send, relay  # noqa: F401 (fixture)

PASSWORD = "mta-sécret-pässword"  # not ASCII: compared as UTF-8 bytes


class Session:
    """One SMTP conversation over a socket, line by line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def answer(self) -> list[str]:
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 10)).decode()
            lines.append(line.rstrip("\r\n"))
            if len(line) < 4 or line[3] != "-":
                return lines

    async def say(self, command: bytes) -> list[str]:
        self.writer.write(command + b"\r\n")
        await self.writer.drain()
        return await self.answer()


@pytest.fixture
async def plaintext_auth(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    relay: object,  # noqa: F811
) -> RunningGateway:
    return await start_gateway(
        make_settings(
            tmp_path,
            email={
                "enabled": True,
                "port": 0,
                "relay_port": relay.port,  # type: ignore[attr-defined]
                "auth_username": "mta",
                "auth_password": PASSWORD,
                "auth_allow_plaintext": True,
            },
        )
    )


@pytest.fixture
async def session(plaintext_auth: RunningGateway) -> AsyncIterator[Session]:
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(plaintext_auth))
    s = Session(reader, writer)
    assert (await s.answer())[0].startswith("220")
    ehlo = await s.say(b"EHLO client.example.org")
    assert any("AUTH" in line for line in ehlo), ehlo
    yield s
    writer.close()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize(
    "command",
    [
        b"AUTH PLAIN " + b64encode(b"\x00mta\x00\xff\xfe\xe9t\xe9"),
        b"AUTH PLAIN " + b64encode(b"\x00\xe9\xff\x00" + PASSWORD.encode()),
        b"AUTH PLAIN " + b64encode("\x00mta\x00mta-sécret-pässword".encode("latin-1")),
    ],
    ids=["password-not-utf8", "login-not-utf8", "password-in-latin1"],
)
async def test_credentials_that_are_not_utf8_are_wrong_not_an_error(
    session: Session, command: bytes
) -> None:
    (answer,) = await session.say(command)
    assert answer.startswith("535 "), answer
    # The connection is still good: a right login works afterwards.
    (ok,) = await session.say(b"AUTH PLAIN " + b64encode(b"\x00mta\x00" + PASSWORD.encode()))
    assert ok.startswith("235 "), ok


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_auth_login_with_a_username_that_is_not_utf8(session: Session) -> None:
    assert (await session.say(b"AUTH LOGIN"))[0].startswith("334 ")
    assert (await session.say(b64encode(b"\xff\xfemta")))[0].startswith("334 ")
    (answer,) = await session.say(b64encode(PASSWORD.encode()))
    assert answer.startswith("535 "), answer


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_the_right_utf8_password_gets_in_and_mail_is_taken(
    plaintext_auth: RunningGateway,
) -> None:
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await _send(plaintext_auth, _mail("wrong"), username="mta", password=PASSWORD[:-1])
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await _send(plaintext_auth, _mail("wrong"), username="mtA", password=PASSWORD)
    await _send(plaintext_auth, _mail("right"), username="mta", password=PASSWORD)
    assert await _count(plaintext_auth) == 1


def test_auth_without_tls_needs_an_explicit_setting() -> None:
    with pytest.raises(ValidationError, match="auth_allow_plaintext"):
        EmailSettings(auth_username="mta", auth_password=PASSWORD)  # type: ignore[arg-type]
    allowed = EmailSettings(
        auth_username="mta",
        auth_password=PASSWORD,  # type: ignore[arg-type]
        auth_allow_plaintext=True,
    )
    assert allowed.auth_allow_plaintext
    assert EmailSettings().auth_allow_plaintext is False
