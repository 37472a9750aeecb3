"""Web chat, as the channel registry knows it: replies go over the visitor's websocket, not
through a provider, so it has no retry delays."""

from __future__ import annotations

from channels.webchat.adapter import add_routes
from gateway.model import Channel
from gateway.registry import ChannelSpec, Menus
from routing.strategy import Media

WEBCHAT = ChannelSpec(
    name=Channel.WEBCHAT,
    media=Media.CHAT,
    settings="webchat",
    add_routes=add_routes,
    menus=Menus.TEXT,
    buttons=True,
)
