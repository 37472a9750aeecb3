"""The IVR menus on text channels (SMS, WhatsApp, Telegram, web chat): the same engine and the
same menu as on the phone, rendered as numbered text or as buttons.

A new conversation on a channel with a menu (``ivr.channels``) opens in the ``menu`` status;
every message of the customer is then an answer to the menu (stored first, like any message,
then given to the engine), and the menu's next question goes back as a message from the
gateway. When the menu hands the contact to routing, the conversation joins the line with what
the menu learnt (topic, language, order number...); when the menu ends it (closed hours, a
goodbye), the conversation is closed. A customer silent for ``ivr.text_session_hours`` starts
the menu again.

A status question about an appeal ("/status 123456789", "статус 123-456-789") is answered by
the appeals desk (gateway.menus.appeal_desk) wherever the customer is, in the menu or in the
line, and is not given to the menu; while the menu waits for digits, a message that is only a
number is the menu's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import structlog
from aiohttp import web

from gateway.channel_intake import MENUS
from gateway.keys import CHANNELS, DATABASE, IVR_SESSIONS, RELAY, SETTINGS
from gateway.menus.appeal_desk import APPEAL_DESK, MenuCaller
from gateway.menus.ivr_driver import settle
from gateway.menus.ivr_menus import LIVE_MENUS
from gateway.model import ConversationStatus, InboundMessage, utcnow
from gateway.registry import ChannelSpec, Menus
from gateway.storage.intake import Accepted
from gateway.storage.ivr import Session, SessionConflict
from gateway.storage.menu_contacts import MenuContacts
from ivr import text
from ivr.actions import Enqueue, Hangup, Record, State, Step, Text, Transfer
from ivr.engine import advance, start
from ivr.model import AppealStatusNode, GatherNode, Menu, VoicemailNode

log = structlog.get_logger()


def render(spec: ChannelSpec, step: Step) -> tuple[str, list[dict[str, str]]]:
    """The step as the channel shows it: a text, and buttons where the channel has them."""
    if spec.buttons:
        shown = text.buttons(step)
        return shown.text, [{"label": b.label, "value": b.value} for b in shown.buttons]
    return text.numbered(step), []


class TextMenus:
    def __init__(self, app: web.Application, contacts: MenuContacts) -> None:
        self.app = app
        self.contacts = contacts
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self.tasks: set[asyncio.Task[None]] = set()
        self.locks: dict[str, asyncio.Lock] = {}
        self.queued: dict[str, int] = {}  # messages per customer waiting for or holding the lock

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.close()

    def schedule(self, message: InboundMessage, accepted: Accepted) -> None:
        """Give the message to the menu after the channel has answered its provider (and the
        web chat socket has joined the conversation, so the menu's reply finds it); one
        customer's messages in the order they came."""
        if self.menu_id(message.channel.value) is None or not accepted.created:
            return
        task = asyncio.create_task(self._in_order(message, accepted))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _in_order(self, message: InboundMessage, accepted: Accepted) -> None:
        key = f"{message.channel.value}:{message.sender}"
        lock = self.locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                await self.on_message(message, accepted)
        except Exception:  # stored already: the customer's next message goes on with the menu
            log.exception("ivr.text.failed", conversation_id=accepted.conversation_id)
        finally:
            if not lock.locked() and not lock._waiters:
                self.locks.pop(key, None)

    def menu_id(self, channel: str) -> str | None:
        if channel not in self.app[CHANNELS].having(menus=Menus.TEXT):
            return None
        return self.app[SETTINGS].ivr.channels.get(channel)

    async def on_message(self, message: InboundMessage, accepted: Accepted) -> None:
        """Give a stored message to the menu if its conversation is in one. Failures are
        logged: the message is safe either way, and the customer's next message goes on."""
        channel = message.channel.value
        menu_id = self.menu_id(channel)
        if menu_id is None or not accepted.created:
            return
        caller = MenuCaller(channel, message.sender, conversation_id=accepted.conversation_id)
        if await self.contacts.status(accepted.conversation_id) != ConversationStatus.MENU.value:
            desk = self.app.get(APPEAL_DESK)  # in the line or with an operator: only a question
            if desk is not None:
                await desk.answer_text(
                    caller, accepted.message_id, message.text, None, numbers_expected=False
                )
            return
        live = await self.app[LIVE_MENUS].get(menu_id)
        if live is None:  # no such menu any more: straight to routing
            await self.contacts.into_routing(accepted.conversation_id, {})
            self.app[RELAY].nudge()
            return
        for _ in range(3):  # two answers at once: the second is given to the menu after
            try:
                await self._step(live.menu, message, accepted, caller)
                return
            except SessionConflict:
                continue
        log.error("ivr.text.conflict", conversation_id=accepted.conversation_id)

    async def _step(
        self, menu: Menu, message: InboundMessage, accepted: Accepted, caller: MenuCaller
    ) -> None:
        sessions = self.app[IVR_SESSIONS]
        desk = self.app.get(APPEAL_DESK)
        channel, now = message.channel.value, utcnow()
        key = f"{channel}:{message.sender}"
        session = await sessions.live(key)
        stale = timedelta(hours=self.app[SETTINGS].ivr.text_session_hours)
        if session is not None and (
            session.conversation_id != accepted.conversation_id or now - session.updated_at > stale
        ):
            await sessions.save(session, session.state, status="ended")
            session = None
        state = State.from_json(session.state) if session is not None else None
        waiting_at = menu.nodes.get(state.node) if state is not None else None
        if desk is not None and not isinstance(waiting_at, VoicemailNode):
            language = state.language if state else message.attributes.get("language")
            digits = isinstance(waiting_at, GatherNode | AppealStatusNode)
            if await desk.answer_text(
                caller, accepted.message_id, message.text, language, numbers_expected=digits
            ):
                return
        if session is None or state is None:
            attributes = {"channel": channel, **dict(message.attributes)}
            step = await settle(
                menu, start(menu, now, attributes), now, self.http, desk=desk, caller=caller
            )
            begun = await sessions.begin(
                key, channel, message.sender, step.state.to_json(), status="menu"
            )
            if begun is None:
                raise SessionConflict("a session began meanwhile")
            session = await sessions.save(
                begun, step.state.to_json(), conversation_id=accepted.conversation_id
            )
        else:
            # At a voicemail the whole message is the message, even if it is only digits.
            event = (
                Text(message.text.strip())
                if isinstance(waiting_at, VoicemailNode)
                else text.parse_reply(message.text)
            )
            step = await settle(
                menu, advance(menu, state, event, now), now, self.http, desk=desk, caller=caller
            )
        await self._after(session, step, channel, accepted.conversation_id)

    async def _after(
        self, session: Session, step: Step, channel: str, conversation_id: int
    ) -> None:
        sessions = self.app[IVR_SESSIONS]
        enqueue = next((a for a in step.actions if isinstance(a, Enqueue)), None)
        ends = step.state.done or any(isinstance(a, Hangup | Transfer) for a in step.actions)
        await sessions.save(
            session, step.state.to_json(), status="ended" if ends or enqueue else "menu"
        )
        shown, buttons = render(self.app[CHANNELS][channel], step)
        if any(isinstance(a, Record) for a in step.actions) and not shown:
            shown = "Please write your message."
        if shown:
            await self.contacts.say(conversation_id, channel, shown, buttons)
        if enqueue is not None:
            attributes = dict(enqueue.attributes)
            if enqueue.queue:
                attributes["queue"] = enqueue.queue
            await self.contacts.into_routing(conversation_id, attributes)
            log.info("ivr.text.queued", conversation_id=conversation_id, channel=channel)
        elif ends:
            left = dict(step.state.attributes)
            if left.get("voicemail_text"):  # a message for the team: it goes to an operator
                await self.contacts.into_routing(conversation_id, {**left, "kind": "voicemail"})
            else:
                await self.contacts.close(conversation_id)
            log.info("ivr.text.ended", conversation_id=conversation_id, channel=channel)
        self.app[RELAY].nudge()


TEXT_MENUS = web.AppKey("text_menus", TextMenus)


async def text_menus(app: web.Application) -> AsyncIterator[None]:
    runner = TextMenus(app, MenuContacts(app[DATABASE]))
    app[TEXT_MENUS] = runner
    app[MENUS] = runner  # what channels' intake asks
    yield
    await runner.close()
