"""Telegram, as the channel registry knows it."""

from __future__ import annotations

from channels.telegram.adapter import add_routes
from gateway.model import Channel
from gateway.registry import ChannelSpec, Menus, Simulation
from gateway.settings import Settings
from routing.strategy import Media


def retry_delays(settings: Settings) -> tuple[float, ...]:
    return settings.telegram.retry_delays_seconds


TELEGRAM = ChannelSpec(
    name=Channel.TELEGRAM,
    media=Media.MESSAGING,
    settings="telegram",
    add_routes=add_routes,
    retry_delays=retry_delays,
    media_source="telegram",
    menus=Menus.TEXT,
    buttons=True,
    simulate=Simulation.TELEGRAM,
)
