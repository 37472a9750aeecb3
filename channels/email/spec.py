"""Email, as the channel registry knows it."""

from __future__ import annotations

from channels.email.adapter import add_routes
from gateway.model import Channel
from gateway.registry import ChannelSpec, Simulation
from gateway.settings import Settings
from routing.strategy import Media


def retry_delays(settings: Settings) -> tuple[float, ...]:
    return settings.email.retry_delays_seconds


EMAIL = ChannelSpec(
    name=Channel.EMAIL,
    media=Media.EMAIL,
    settings="email",
    add_routes=add_routes,
    retry_delays=retry_delays,
    simulate=Simulation.SMTP,
)
