"""Conversations on text channels while the customer goes through an IVR menu: the menu's
messages to them, and the way out (into routing with what the menu learnt, or closed).

Why a status of its own (``menu``): the router must not offer a contact that is still choosing,
and the intake must keep adding the customer's answers to the same conversation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select, update

from gateway.events import Event, conversation_ref
from gateway.model import ConversationStatus, utcnow
from gateway.storage.database import Database
from gateway.storage.routing_state import emit, record_event
from gateway.storage.schema import conversations
from gateway.storage.system_messages import tell_customer


class MenuContacts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def status(self, conversation_id: int) -> str | None:
        async with self.db.read() as conn:
            value = (
                await conn.execute(
                    select(conversations.c.status).where(conversations.c.id == conversation_id)
                )
            ).scalar()
        return str(value) if value is not None else None

    async def say(
        self,
        conversation_id: int,
        channel: str,
        text: str,
        buttons: Sequence[dict[str, str]] = (),
    ) -> int:
        async with self.db.write() as conn:
            return await tell_customer(conn, conversation_id, channel, text, utcnow(), buttons)

    async def into_routing(self, conversation_id: int, attributes: Mapping[str, str]) -> bool:
        """The menu is done: the contact joins the line with the menu's attributes (the
        routing rules match on them). False if it was not in the menu any more."""
        now = utcnow()
        async with self.db.write() as conn:
            current = (
                await conn.execute(
                    select(conversations.c.attributes).where(
                        conversations.c.id == conversation_id,
                        conversations.c.status == ConversationStatus.MENU.value,
                    )
                )
            ).first()
            if current is None:
                return False
            merged = {**(current.attributes or {}), **attributes}
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(
                    status=ConversationStatus.WAITING.value,
                    attributes=merged,
                    waiting_since=now,
                    rule=None,
                    step=0,
                    step_since=None,
                )
            )
            await record_event(
                conn, conversation_id, "menu_done", None, attributes=dict(attributes)
            )
            await emit(conn, Event.MENU_DONE, conversation_ref(conversation_id))
        return True

    async def close(self, conversation_id: int) -> bool:
        """The menu ended the contact (closed hours, a goodbye): nothing for an operator."""
        now = utcnow()
        async with self.db.write() as conn:
            done = await conn.execute(
                update(conversations)
                .where(
                    conversations.c.id == conversation_id,
                    conversations.c.status == ConversationStatus.MENU.value,
                )
                .values(status=ConversationStatus.CLOSED.value, closed_at=now)
            )
            if done.rowcount != 1:
                return False
            await record_event(conn, conversation_id, "menu_ended", None)
            await emit(conn, Event.CLOSED, conversation_ref(conversation_id))
        return True
