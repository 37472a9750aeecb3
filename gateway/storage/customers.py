"""One customer across channels: identities (a phone number on SMS, WhatsApp or voice, a
Telegram chat, an email address) that belong to the same person.

Phone numbers are stored in E.164, so a number that writes by SMS and later by WhatsApp is one
customer from the start. Anything else is linked by an operator (or by the customer sharing their
phone number on Telegram); every link is audited and can be undone, because a wrong link shows
one customer's history to another's conversation.

Who may see and change a customer (``viewer``): supervisors and admins any (``None``); an
operator only a customer they serve, one with a conversation assigned or offered to them. For
anyone else the customer and their identities do not exist (the same "not found" as for an id
nobody has), and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import Refused
from gateway.model import ConversationStatus, OfferStatus, utcnow
from gateway.storage.audit import record_audit
from gateway.storage.database import Database
from gateway.storage.schema import audit_log, conversations, customers, identities, offers

PHONE_CHANNELS = ("sms", "whatsapp", "voice")


class LinkError(Refused):
    """A link, unlink or undo that is refused (the HTTP status, a code, a reason)."""


async def phone_customer(conn: AsyncConnection, channel: str, address: str) -> int | None:
    """The customer who already has this phone number on another phone channel, if any."""
    if channel not in PHONE_CHANNELS:
        return None
    found = (
        await conn.execute(
            select(identities.c.customer_id)
            .where(identities.c.channel.in_(PHONE_CHANNELS), identities.c.address == address)
            .order_by(identities.c.id)
            .limit(1)
        )
    ).scalar()
    return int(found) if found is not None else None


@dataclass(frozen=True, slots=True)
class Actor:
    id: int | None
    name: str


async def serves(conn: AsyncConnection, viewer: int | None, customer_id: int) -> bool:
    """Whether ``viewer`` (an operator's id; None for supervisors and admins) may see and
    change this customer: they have one of the customer's conversations, or an offer of one."""
    if viewer is None:
        return True
    assigned = (
        await conn.execute(
            select(conversations.c.id)
            .where(
                conversations.c.customer_id == customer_id,
                conversations.c.operator_id == viewer,
                conversations.c.status == ConversationStatus.ASSIGNED.value,
            )
            .limit(1)
        )
    ).first()
    if assigned is not None:
        return True
    offered = (
        await conn.execute(
            select(offers.c.id)
            .join(conversations, conversations.c.id == offers.c.conversation_id)
            .where(
                conversations.c.customer_id == customer_id,
                offers.c.operator_id == viewer,
                offers.c.status == OfferStatus.PENDING.value,
            )
            .limit(1)
        )
    ).first()
    return offered is not None


class CustomerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, customer_id: int, viewer: int | None = None) -> dict[str, Any] | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(customers).where(customers.c.id == customer_id))
            ).first()
            if row is None or not await serves(conn, viewer, customer_id):
                return None
            ids = (
                await conn.execute(
                    select(identities)
                    .where(identities.c.customer_id == customer_id)
                    .order_by(identities.c.id)
                )
            ).all()
            convs = (
                await conn.execute(
                    select(
                        conversations.c.id,
                        conversations.c.channel,
                        conversations.c.status,
                        conversations.c.created_at,
                        conversations.c.closed_at,
                    )
                    .where(conversations.c.customer_id == customer_id)
                    .order_by(conversations.c.id.desc())
                    .limit(50)
                )
            ).all()
        return {
            "id": row.id,
            "name": row.display_name,
            "identities": [
                {
                    "id": i.id,
                    "channel": i.channel,
                    "address": i.address,
                    "opted_out": i.opted_out_at is not None,
                    "unreachable": i.unreachable_at is not None,
                }
                for i in ids
            ],
            "conversations": [
                {
                    "id": c.id,
                    "channel": c.channel,
                    "status": c.status,
                    "created_at": c.created_at.isoformat(),
                    "closed_at": c.closed_at.isoformat() if c.closed_at else None,
                }
                for c in convs
            ],
        }

    async def find_identity(
        self, channel: str, address: str, viewer: int | None = None
    ) -> dict[str, Any] | None:
        """An identity by its channel and address (to link it), with its customer."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(identities).where(
                        identities.c.channel == channel, identities.c.address == address
                    )
                )
            ).first()
            if row is None or not await serves(conn, viewer, row.customer_id):
                return None
        return {
            "id": row.id,
            "channel": row.channel,
            "address": row.address,
            "customer_id": row.customer_id,
        }

    async def link(
        self, identity_id: int, customer_id: int, actor: Actor, viewer: int | None = None
    ) -> int:
        """Make an identity (and its conversations) the customer's; the audit entry's id,
        which undoes it. An operator links only between customers they both serve."""
        async with self.db.write() as conn:
            if not await serves(conn, viewer, customer_id):
                raise LinkError(404, "not_found", f"no customer {customer_id}")
            row = await self._identity(conn, identity_id)
            if not await serves(conn, viewer, row.customer_id):
                raise LinkError(404, "not_found", f"no identity {identity_id}")
            return await self._move(conn, identity_id, customer_id, actor, "customer.link")

    async def unlink(
        self,
        identity_id: int,
        actor: Actor,
        customer_id: int | None = None,
        viewer: int | None = None,
    ) -> int:
        """Give an identity a customer of its own again (it was linked by mistake)."""
        async with self.db.write() as conn:
            row = (
                await conn.execute(select(identities).where(identities.c.id == identity_id))
            ).first()
            if (
                row is None
                or (customer_id is not None and row.customer_id != customer_id)
                or not await serves(conn, viewer, row.customer_id)
            ):
                raise LinkError(404, "not_found", "this customer has no such identity")
            alone = (
                await conn.execute(
                    select(identities.c.id).where(
                        identities.c.customer_id == row.customer_id, identities.c.id != identity_id
                    )
                )
            ).first()
            if alone is None:
                raise LinkError(409, "only_identity", "this is the customer's only identity")
            new_customer = (
                await conn.execute(
                    customers.insert()
                    .values(display_name=row.address, created_at=utcnow())
                    .returning(customers.c.id)
                )
            ).scalar_one()
            return await self._move(conn, identity_id, int(new_customer), actor, "customer.unlink")

    async def undo(self, audit_id: int, actor: Actor, viewer: int | None = None) -> int:
        """Put an identity back with the customer it had before a link or an unlink. An
        operator undoes their own change for a customer they still serve, or any change
        between two customers they both serve."""
        async with self.db.write() as conn:
            entry = (
                await conn.execute(select(audit_log).where(audit_log.c.id == audit_id))
            ).first()
            if entry is None or entry.action not in ("customer.link", "customer.unlink"):
                raise LinkError(404, "not_found", "no link or unlink with this id")
            detail = entry.detail
            source = await serves(conn, viewer, int(detail["from_customer"]))
            target = await serves(conn, viewer, int(detail["to_customer"]))
            own = viewer is not None and entry.actor_id == viewer
            if not ((source and target) or (own and (source or target))):
                raise LinkError(404, "not_found", "no link or unlink with this id")
            current = await self._identity(conn, int(detail["identity_id"]))
            if current.customer_id != detail["to_customer"]:
                raise LinkError(409, "changed", "the identity has moved since; undo that first")
            return await self._move(
                conn,
                int(detail["identity_id"]),
                int(detail["from_customer"]),
                actor,
                "customer.undo",
                undoes=audit_id,
            )

    async def link_phone(self, channel: str, address: str, phone: str, actor: Actor) -> bool:
        """The customer shared their phone number (a Telegram contact): link that identity to
        whoever has the number, if someone does. True when a link was made."""
        async with self.db.write() as conn:
            owner = await phone_customer(conn, "sms", phone)
            identity = (
                await conn.execute(
                    select(identities.c.id, identities.c.customer_id).where(
                        identities.c.channel == channel, identities.c.address == address
                    )
                )
            ).first()
            if owner is None or identity is None or identity.customer_id == owner:
                return False
            await self._move(conn, identity.id, owner, actor, "customer.link")
        return True

    async def _identity(self, conn: AsyncConnection, identity_id: int) -> Any:
        row = (await conn.execute(select(identities).where(identities.c.id == identity_id))).first()
        if row is None:
            raise LinkError(404, "not_found", f"no identity {identity_id}")
        return row

    async def _move(
        self,
        conn: AsyncConnection,
        identity_id: int,
        customer_id: int,
        actor: Actor,
        action: str,
        undoes: int | None = None,
    ) -> int:
        row = await self._identity(conn, identity_id)
        exists = (
            await conn.execute(select(customers.c.id).where(customers.c.id == customer_id))
        ).first()
        if exists is None:
            raise LinkError(404, "not_found", f"no customer {customer_id}")
        if row.customer_id == customer_id:
            raise LinkError(409, "already_linked", "the identity belongs to this customer already")
        now = utcnow()
        await conn.execute(
            update(identities).where(identities.c.id == identity_id).values(customer_id=customer_id)
        )
        await conn.execute(
            update(conversations)
            .where(conversations.c.identity_id == identity_id)
            .values(customer_id=customer_id)
        )
        detail: dict[str, Any] = {
            "identity_id": identity_id,
            "channel": row.channel,
            "address": row.address,
            "from_customer": row.customer_id,
            "to_customer": customer_id,
        }
        if undoes is not None:
            detail["undoes"] = undoes
        return await record_audit(
            conn, actor.id, actor.name, action, f"identity.{identity_id}", detail, now
        )
