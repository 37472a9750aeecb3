"""The channel registry: every channel declared once, and what the gateway reads from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.registry import CHANNELS
from gateway.app import create_app
from gateway.cli import main
from gateway.errors import ConfigError
from gateway.model import REPLY_CHANNELS, Channel
from gateway.registry import Channels, Menus, Simulation
from gateway.settings import Settings
from gateway.storage.customers import PHONE_CHANNELS
from routing.strategy import Media
from tests.support import SECRET, write_config

SECURITY = {"secret_key": SECRET}


def test_every_channel_is_declared_once() -> None:
    assert sorted(CHANNELS.names) == sorted(c.value for c in Channel)
    with pytest.raises(ValueError, match="declared twice"):
        Channels((CHANNELS["sms"], CHANNELS["sms"]))


@pytest.mark.parametrize(
    ("channel", "media"),
    [
        ("webchat", Media.CHAT),
        ("sms", Media.MESSAGING),
        ("whatsapp", Media.MESSAGING),
        ("telegram", Media.MESSAGING),
        ("email", Media.EMAIL),
        ("voice", Media.VOICE),
        ("somewhere-new", Media.MESSAGING),
    ],
)
def test_media_of_a_channel(channel: str, media: Media) -> None:
    assert CHANNELS.media_of(channel) == media


def test_what_the_channels_can_do() -> None:
    assert CHANNELS.having(menus=Menus.TEXT) == {"sms", "whatsapp", "telegram", "webchat"}
    assert CHANNELS.with_menus == {"sms", "whatsapp", "telegram", "webchat", "voice"}
    assert CHANNELS.having(buttons=True) == {"telegram", "webchat"}
    assert CHANNELS.having(phone=True) == {"sms", "whatsapp", "voice"}
    assert set(CHANNELS.simulated()) == {"sms", "whatsapp", "telegram", "email", "call"}
    assert CHANNELS.simulation("call") is Simulation.CALL
    assert CHANNELS.simulation("email") is Simulation.SMTP
    with pytest.raises(KeyError):
        CHANNELS.simulation("webchat")


def test_a_provider_serving_two_channels_registers_once() -> None:
    setups = CHANNELS.setups()
    assert len(setups) == len(set(setups)) == len(CHANNELS.names) - 1  # sms and whatsapp share


def test_retry_delays_come_from_each_channels_section() -> None:
    settings = Settings(
        security=SECURITY,
        twilio={"retry_delays_seconds": [1, 2]},
        telegram={"retry_delays_seconds": [3]},
        email={"retry_delays_seconds": [4, 5, 6]},
    )
    assert CHANNELS.retry_delays(settings, "sms") == (1, 2)
    assert CHANNELS.retry_delays(settings, "whatsapp") == (1, 2)
    assert CHANNELS.retry_delays(settings, "telegram") == (3,)
    assert CHANNELS.retry_delays(settings, "email") == (4, 5, 6)
    for channel in ("webchat", "voice", "pigeon"):
        with pytest.raises(ValueError, match="no retry delays"):
            CHANNELS.retry_delays(settings, channel)


def test_a_menu_on_a_channel_without_menus_is_a_configuration_problem() -> None:
    assert (
        CHANNELS.problems(
            Settings(security=SECURITY, ivr={"channels": {"sms": "main", "voice": "main"}})
        )
        == []
    )
    problems = CHANNELS.problems(
        Settings(security=SECURITY, ivr={"channels": {"email": "main", "fax": "main"}})
    )
    assert problems == [
        "ivr.channels: no IVR for channel(s) email, fax "
        "(one of ['sms', 'telegram', 'voice', 'webchat', 'whatsapp'])"
    ]


def test_check_config_refuses_a_menu_on_a_channel_without_menus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, ivr={"channels": {"email": "main"}}))
    with pytest.raises(SystemExit) as exit_:
        main(["--config", config, "check-config"])
    assert exit_.value.code == 2
    assert f"{config}: ivr.channels: no IVR for channel(s) email" in capsys.readouterr().err
    assert main(["--config", str(write_config(tmp_path)), "check-config"]) == 0


def test_create_app_refuses_a_menu_on_a_channel_without_menus() -> None:
    settings = Settings(security=SECURITY, ivr={"channels": {"email": "main"}})
    with pytest.raises(ConfigError, match="no IVR for channel"):
        create_app(settings)


def test_the_stores_channel_sets_agree_with_the_registry() -> None:
    """The store keeps two channel sets of its own (it has no app to ask): they must say what
    the specs say, so a new channel's spec and these sets cannot drift apart."""
    assert set(PHONE_CHANNELS) == CHANNELS.having(phone=True)
    assert {s.name.value for s in CHANNELS if s.retry_delays is not None} == REPLY_CHANNELS
