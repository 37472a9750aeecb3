"""Which conversation a message claims to continue, and whether the claim holds.

A channel that threads (email: a reply+token address, In-Reply-To, References) names a
conversation; the claim holds only when that conversation belongs to the very identity that is
writing. The store checks it, because only the store knows whose conversation it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select

from gateway.model import Direction
from gateway.storage.database import Database
from gateway.storage.schema import conversations, identities, messages


@dataclass(frozen=True, slots=True)
class ThreadClaim:
    conversation_id: int | None  # the conversation continued (the claim holds), else None
    refused: int | None = None  # a conversation claimed that is somebody else's


class ThreadStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(
        self,
        channel: str,
        sender: str,
        named: int | None,
        references: Sequence[str],
    ) -> ThreadClaim:
        """Check a claim: ``named`` is a conversation id the channel read (a token), and
        ``references`` are provider message ids the message answers (ours or the sender's
        own), nearest first. The first one found decides."""
        candidates: list[int] = [named] if named is not None else []
        if references:
            own_keys = [f"{channel}:{sender}:{r}" for r in references]
            query = select(
                messages.c.conversation_id, messages.c.external_id, messages.c.dedupe_key
            ).where(
                messages.c.channel == channel,
                or_(
                    (messages.c.direction == Direction.OUT.value)
                    & messages.c.external_id.in_(list(references)),
                    messages.c.dedupe_key.in_(own_keys),
                ),
            )
            async with self.db.read() as conn:
                rows = (await conn.execute(query)).all()
            by_reference: dict[str, int] = {}
            for row in rows:
                if row.external_id in references:
                    by_reference.setdefault(row.external_id, row.conversation_id)
                else:
                    by_reference.setdefault(row.dedupe_key.split(":", 2)[2], row.conversation_id)
            candidates += [by_reference[r] for r in references if r in by_reference]
        if not candidates:
            return ThreadClaim(None)
        claimed = candidates[0]
        owner = (
            select(identities.c.channel, identities.c.address)
            .join(conversations, conversations.c.identity_id == identities.c.id)
            .where(conversations.c.id == claimed)
        )
        async with self.db.read() as conn:
            found = (await conn.execute(owner)).first()
        if found is not None and (found.channel, found.address) == (channel, sender):
            return ThreadClaim(claimed)
        return ThreadClaim(None, refused=claimed)
