"""With demo or placeholder credentials, or a public URL Telegram would refuse, the gateway makes
no call to a provider at start-up and says once in the log why a channel is not connected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from channels.placeholders import is_placeholder, telegram_offline_reason, twilio_offline_reason
from gateway.settings import Settings, load_settings
from tests.conftest import RunningGateway
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.support import make_settings

ROOT = Path(__file__).resolve().parent.parent
DEMO_USER = {"username": "ada", "password": "ada-demo-pass", "role": "operator"}


@pytest.mark.parametrize(
    ("secret", "placeholder"),
    [
        ("demo-twilio-auth-token", True),
        ("CHANGE-ME", True),
        ("changeme", True),
        ("your-bot-token", True),
        ("replace_me", True),
        ("xxxxxxxx", True),
        ("000000", True),
        ("", True),
        ("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", False),
        ("fake-auth-token-0123456789abcdef", False),
    ],
)
def test_placeholder_secrets(secret: str, placeholder: bool) -> None:
    assert is_placeholder(secret) is placeholder


def _settings(tmp_path: Path, **sections: Any) -> Settings:
    return make_settings(tmp_path, **sections)


@pytest.mark.parametrize(
    ("telegram", "public_url", "demo", "expected"),
    [
        ({"bot_token": BOT_TOKEN}, "https://gw.example.com", False, None),
        ({"bot_token": BOT_TOKEN, "mode": "polling"}, "http://127.0.0.1", False, None),
        ({"bot_token": BOT_TOKEN}, "http://127.0.0.1:8080", False, "is not https"),
        (
            {"bot_token": "000000:demo-telegram-bot-token"},
            "https://gw.example.com",
            False,
            "bot_token is a placeholder",
        ),
        (
            {"bot_token": "bot:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"},
            "https://gw.example.com",
            False,
            "bot_token is a placeholder",
        ),
        ({"bot_token": BOT_TOKEN}, "https://gw.example.com", True, "demo section"),
    ],
)
def test_when_telegram_is_not_called(
    tmp_path: Path,
    telegram: dict[str, str],
    public_url: str,
    demo: bool,
    expected: str | None,
) -> None:
    settings = _settings(
        tmp_path,
        http={"public_url": public_url},
        telegram={"webhook_secret": "a-secret-long-enough-123", **telegram},
        demo={"users": [DEMO_USER] if demo else []},
    )
    reason = telegram_offline_reason(settings)
    assert (reason is None) if expected is None else (expected in (reason or "")), reason


@pytest.mark.parametrize(
    ("sid", "token", "demo", "expected"),
    [
        (ACCOUNT_SID, AUTH_TOKEN, False, None),
        ("AC" + "0" * 32, AUTH_TOKEN, False, "placeholder"),
        (ACCOUNT_SID, "demo-twilio-auth-token", False, "placeholder"),
        (ACCOUNT_SID, AUTH_TOKEN, True, "demo section"),
    ],
)
def test_when_twilio_is_not_called(
    tmp_path: Path, sid: str, token: str, demo: bool, expected: str | None
) -> None:
    settings = _settings(
        tmp_path,
        twilio={"account_sid": sid, "auth_token": token},
        demo={"users": [DEMO_USER] if demo else []},
    )
    reason = twilio_offline_reason(settings)
    assert (reason is None) if expected is None else (expected in (reason or "")), reason


async def test_the_demo_configuration_calls_no_provider_at_start_up(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeTelegram(token="000000:demo-telegram-bot-token")
    calls: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        calls.append(request.path)
        return await handler(request)  # type: ignore[no-any-return]

    app = fake.app()
    app.middlewares.append(record)
    fake.server = await aiohttp_server(app)
    # config/demo.yaml as `make run` reads it; only where it talks to is moved for the test.
    monkeypatch.chdir(ROOT)
    for name, value in {
        "CG_TELEGRAM__API_BASE_URL": fake.api_base_url,
        "CG_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/demo.sqlite3",
        "CG_AMQP__PREFIX": f"cgtest.demo.{tmp_path.name[-12:]}",
        "CG_HTTP__PORT": "0",
        "CG_EMAIL__PORT": "0",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings("config/demo.yaml")
    with capture_logs() as logs:
        gateway = await start_gateway(settings)
    async with gateway.http.get(f"{gateway.base}/readyz") as resp:
        assert resp.status == 200
    assert calls == []  # not getMe, not setWebhook
    telegram = [e for e in logs if e["event"] == "telegram.not_connected"]
    assert len(telegram) == 1, logs
    assert "demo section" in telegram[0]["reason"]
    assert "bot_token is a placeholder" in telegram[0]["reason"]
    assert "http://127.0.0.1:8080 is not https" in telegram[0]["reason"]
    twilio = [e for e in logs if e["event"] == "twilio.not_connected"]
    assert len(twilio) == 1 and "placeholder" in twilio[0]["reason"], logs


async def test_real_looking_credentials_do_connect(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    tmp_path: Path,
) -> None:
    fake = FakeTelegram()
    fake.server = await aiohttp_server(fake.app())
    settings = _settings(
        tmp_path,
        http={"public_url": "https://gw.example.com"},
        telegram={
            "bot_token": BOT_TOKEN,
            "webhook_secret": "a-secret-long-enough-123",
            "api_base_url": fake.api_base_url,
        },
    )
    with capture_logs() as logs:
        await start_gateway(settings)
    assert fake.webhook["url"] == "https://gw.example.com/webhooks/telegram"
    assert not [e for e in logs if e["event"] == "telegram.not_connected"]
