"""Phone calls, as the channel registry knows them: Twilio Voice (the ``twilio`` section's
account), always behind an IVR menu; the call is put through, no text is sent."""

from __future__ import annotations

from channels.voice.adapter import add_routes
from gateway.model import Channel
from gateway.registry import ChannelSpec, Menus, Simulation
from routing.strategy import Media

VOICE = ChannelSpec(
    name=Channel.VOICE,
    media=Media.VOICE,
    settings="twilio",
    add_routes=add_routes,
    menus=Menus.VOICE,
    phone=True,
    simulate=Simulation.CALL,
)
