"""The channel registry's vocabulary: what a channel declares about itself, once.

Why: a channel used to be known by lists of names spread over the app, the settings, the text
menus, routing and the CLI. Now each channel package exports a :class:`ChannelSpec`
(``channels/<name>/spec.py``), one tuple names them all (``channels/registry.py``), and the rest
of the gateway asks the :class:`Channels` it is given (``app[CHANNELS]``) what a channel is and
can do. The core only knows this data type, never a channel package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

from gateway.model import Channel
from gateway.settings import Settings
from routing.strategy import Media


class Menus(StrEnum):
    """How a channel runs an IVR menu (``ivr.channels``)."""

    VOICE = "voice"  # spoken, with keypresses and speech (TwiML)
    TEXT = "text"  # numbered text, or buttons where the channel has them


class Simulation(StrEnum):
    """How ``contact-gateway simulate`` plays a customer of the channel."""

    TWILIO = "twilio"  # a signed Twilio messaging webhook
    TELEGRAM = "telegram"  # a Telegram update with the secret token
    SMTP = "smtp"  # a mail to the gateway's SMTP server
    CALL = "call"  # a phone call through the menu (``simulate call``)


@dataclass(frozen=True)
class ChannelSpec:
    """One channel, as its package declares it."""

    name: Channel
    media: Media  # the kind of work its contacts are, for operators' capacity
    settings: str | None  # its section of the configuration (None: needs none of its own)
    # Registers its webhooks, sockets or servers and the cleanup contexts that create its
    # Sender (``outbound.<name>``) and MediaSource; a provider serving two channels shares one.
    add_routes: Callable[[web.Application], None]
    # How long a failed send waits before each retry; None when it has no provider Sender.
    retry_delays: Callable[[Settings], tuple[float, ...]] | None = None
    # The provider customers' files are fetched from (``media.<name>``), if any.
    media_source: str | None = None
    menus: Menus | None = None  # None: no IVR menu on this channel
    buttons: bool = False  # can show a menu's choices as buttons
    phone: bool = False  # the customer's address is a phone number (E.164)
    simulate: Simulation | None = None  # None: ``contact-gateway simulate`` cannot play it

    def enabled(self, settings: Settings) -> bool:
        """Whether the configuration turns the channel's section on (one without an
        ``enabled`` switch always is)."""
        if self.settings is None:
            return True
        return bool(getattr(getattr(settings, self.settings), "enabled", True))


@dataclass(frozen=True)
class Channels:
    """Every channel the gateway has, looked up by name."""

    specs: tuple[ChannelSpec, ...]

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"a channel is declared twice: {names}")

    def __iter__(self) -> Iterator[ChannelSpec]:
        return iter(self.specs)

    def __contains__(self, name: object) -> bool:
        return any(spec.name == name for spec in self.specs)

    def __getitem__(self, name: str) -> ChannelSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name.value for spec in self.specs)

    def having(self, **wanted: object) -> frozenset[str]:
        """The names of the channels whose spec has every given field value, e.g.
        ``having(phone=True)`` or ``having(menus=Menus.TEXT)``."""
        return frozenset(
            spec.name.value
            for spec in self.specs
            if all(getattr(spec, key) == value for key, value in wanted.items())
        )

    @property
    def with_menus(self) -> frozenset[str]:
        return frozenset(spec.name.value for spec in self.specs if spec.menus is not None)

    def media_of(self, channel: str) -> Media:
        """The kind of work a channel's contact is; an unknown channel counts as messaging."""
        for spec in self.specs:
            if spec.name == channel:
                return spec.media
        return Media.MESSAGING

    def setups(self) -> tuple[Callable[[web.Application], None], ...]:
        """Each channel's ``add_routes`` once (two channels of one provider share theirs)."""
        return tuple(dict.fromkeys(spec.add_routes for spec in self.specs))

    def retry_delays(self, settings: Settings, channel: str) -> tuple[float, ...]:
        delays = self[channel].retry_delays if channel in self else None
        if delays is None:
            raise ValueError(f"no retry delays configured for channel {channel!r}")
        return delays(settings)

    def simulated(self) -> tuple[str, ...]:
        """What ``contact-gateway simulate`` accepts: the channels it can play (a call as
        ``call``)."""
        return tuple(
            Simulation.CALL.value if spec.simulate is Simulation.CALL else spec.name.value
            for spec in self.specs
            if spec.simulate is not None
        )

    def simulation(self, choice: str) -> Simulation:
        if choice == Simulation.CALL:
            return Simulation.CALL
        how = self[choice].simulate if choice in self else None
        if how is None:
            raise KeyError(choice)
        return how

    def problems(self, settings: Settings) -> list[str]:
        """What in the configuration names a channel that cannot do it (for the admin)."""
        known = sorted(self.with_menus)
        unknown = sorted(set(settings.ivr.channels) - self.with_menus)
        if unknown:
            return [f"ivr.channels: no IVR for channel(s) {', '.join(unknown)} (one of {known})"]
        return []
