"""SMS and WhatsApp through Twilio, as the channel registry knows them."""

from __future__ import annotations

from dataclasses import replace

from channels.twilio.adapter import add_routes
from gateway.model import Channel
from gateway.registry import ChannelSpec, Menus, Simulation
from gateway.settings import Settings
from routing.strategy import Media


def retry_delays(settings: Settings) -> tuple[float, ...]:
    return settings.twilio.retry_delays_seconds


SMS = ChannelSpec(
    name=Channel.SMS,
    media=Media.MESSAGING,
    settings="twilio",
    add_routes=add_routes,
    retry_delays=retry_delays,
    media_source="twilio",
    menus=Menus.TEXT,
    phone=True,
    simulate=Simulation.TWILIO,
)
# WhatsApp is SMS's twin at Twilio: same account, webhooks, sender and file fetcher.
WHATSAPP = replace(SMS, name=Channel.WHATSAPP)
