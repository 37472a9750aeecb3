"""What the IVR menus ask of the appeals capability: an appeal's status by its number, a new
appeal for the caller, and the answer to a status question a texting customer types while a
menu talks to them.

Why a protocol here: the menus (voice and text) must not import the appeals package, and the
appeals package must not be needed for the menus to run. Appeals registers its desk under
:data:`APPEAL_DESK` when it is set up; without one, an appeal node takes its ``fallback`` and
text is given to the menu as always.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from ivr.actions import AppealAnswer, AppealStatus, OpenAppeal


@dataclass(frozen=True, slots=True)
class MenuCaller:
    """Who is in the menu: the channel and address (the caller's number, a chat, a visitor),
    the conversation on text channels, and the call on the phone (one appeal per call and
    node, however often Twilio re-posts)."""

    channel: str
    address: str
    conversation_id: int | None = None
    call_sid: str | None = None

    @property
    def voice(self) -> bool:
        return self.channel == "voice"


class AppealDesk(Protocol):
    async def status(self, caller: MenuCaller, action: AppealStatus) -> AppealAnswer:
        """The caller's appeal with this number, in the session's language: found (with the
        answer to say), not_found (unknown, someone else's, or a wrong check digit: one
        answer), limited (too many misses lately) or failed. Never raises."""
        ...

    async def open(self, caller: MenuCaller, action: OpenAppeal) -> AppealAnswer:
        """A new appeal for the caller (the same one again for the same call and node, or
        for the same conversation): opened (with the registered text) or failed. Never
        raises."""
        ...

    async def answer_text(
        self,
        caller: MenuCaller,
        message_id: int,
        text: str,
        language: str | None,
        *,
        numbers_expected: bool,
    ) -> bool:
        """Answer the stored message (``text``) if it is a status question; True when it was
        answered (the menu then leaves it alone). ``numbers_expected``: the menu waits for
        digits, so a message that is only a number is the menu's."""
        ...


APPEAL_DESK: web.AppKey[AppealDesk] = web.AppKey("appeal_desk")
