"""``contact-gateway simulate`` sends a running gateway a correctly signed provider webhook."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp.test_utils import TestServer
from sqlalchemy import select

from gateway.cli import main
from gateway.keys import DATABASE
from gateway.settings import load_settings
from gateway.storage.schema import identities, messages
from tests.conftest import RunningGateway
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.support import free_port, wait_for, write_config


async def test_simulated_sms_whatsapp_and_telegram_are_stored(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    telegram = FakeTelegram()
    telegram.server = await aiohttp_server(telegram.app())
    port = free_port()
    config = write_config(
        tmp_path,
        http={"host": "127.0.0.1", "port": port, "public_url": "https://support.example.com"},
        twilio={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        telegram={
            "bot_token": BOT_TOKEN,
            "webhook_secret": "a-secret-long-enough-123",
            "api_base_url": telegram.api_base_url,
        },
    )
    gateway = await start_gateway(load_settings(config), port=port)
    for argv in (
        ["simulate", "sms", "Hello by SMS", "--from", "+15557654321"],
        ["simulate", "whatsapp", "Hello by WhatsApp", "--from", "+4915123456789"],
        ["simulate", "telegram", "Hello by Telegram", "--chat-id", "777"],
    ):
        assert await asyncio.to_thread(main, ["--config", str(config), *argv]) == 0
    assert "HTTP 200" in capsys.readouterr().out

    async def stored() -> list[tuple[str, str, str]]:
        async with gateway.app[DATABASE].read() as conn:
            rows = await conn.execute(
                select(messages.c.channel, messages.c.text, identities.c.address)
                .join(identities, identities.c.channel == messages.c.channel)
                .order_by(messages.c.id)
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]

    await wait_for(stored)
    assert await stored() == [
        ("sms", "Hello by SMS", "+15557654321"),
        ("whatsapp", "Hello by WhatsApp", "+4915123456789"),
        ("telegram", "Hello by Telegram", "777"),
    ]


def test_simulate_says_when_a_channel_is_not_configured(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path)
    assert main(["--config", str(config), "simulate", "sms", "hi"]) == 2
    assert "Twilio is not configured" in capsys.readouterr().err
    assert main(["--config", str(config), "simulate", "telegram", "hi"]) == 2
    assert "Telegram is not configured" in capsys.readouterr().err


async def test_simulate_call_walks_the_voice_menu(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    menus = tmp_path / "ivr"
    menus.mkdir()
    (menus / "main.yaml").write_text(
        "id: main\nlanguages: [en]\nstart: main\nnodes:\n"
        "  main:\n    kind: menu\n    prompt: Press 1 for sales.\n"
        "    options: [{key: 1, label: Sales, words: [sales], next: sales}]\n"
        "  sales: {kind: queue, prompt: Connecting you to sales., topic: sales}\n"
    )
    port = free_port()
    config = write_config(
        tmp_path,
        http={"host": "127.0.0.1", "port": port, "public_url": "https://support.example.com"},
        twilio={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        ivr={"directory": str(menus), "channels": {"voice": "main"}},
    )
    gateway = await start_gateway(load_settings(config), port=port)
    argv = ["--config", str(config), "simulate", "call", "- 7 sales"]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "  caller hears: Press 1 for sales.",
        "  caller is asked for keys or words",
        "  caller answers: -",
        "  caller hears: Sorry, we did not get an answer.",
        "  caller hears: Press 1 for sales.",
        "  caller is asked for keys or words",
        "  caller answers: 7",
        "  caller hears: Sorry, that is not one of the choices.",
        "  caller hears: Press 1 for sales.",
        "  caller is asked for keys or words",
        "  caller answers: sales",
        "  caller hears: Connecting you to sales.",
        "  caller waits in line:",
        "  caller hears: You are number 1 in line.",
        "  caller hears: To be called back instead, press 1.",
        "  caller hears a recording: http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3",
        "  caller is asked for keys",
    ]
    async with gateway.app[DATABASE].read() as conn:
        texts = (await conn.execute(select(messages.c.text))).scalars().all()
    assert texts == ["Phone call from +15557654321 (language: en, topic: sales)"]
