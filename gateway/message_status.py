"""Which delivery report may change a reply's stored status: a pure transition table.

Why its own module: providers report a reply's progress in callbacks that can arrive late, twice
or out of order (Twilio sends ``sent`` and ``delivered`` from different systems). The stored
status must only ever move forward, and the final states never change: ``undelivered`` (the
provider gave up on it) and ``failed`` (it never got out) stay, whatever comes after, so a
reply an operator was told had failed is never later shown as delivered.
"""

from __future__ import annotations

from gateway.model import MessageStatus

FINAL = frozenset({MessageStatus.UNDELIVERED, MessageStatus.FAILED})

# For each reported status, the stored statuses it may replace.
_FROM: dict[MessageStatus, frozenset[MessageStatus]] = {
    MessageStatus.RECEIVED: frozenset(),  # inbound messages only, never a report on a reply
    MessageStatus.QUEUED: frozenset(),  # where a reply starts; never moved back to
    MessageStatus.SENT: frozenset({MessageStatus.QUEUED}),
    MessageStatus.DELIVERED: frozenset({MessageStatus.QUEUED, MessageStatus.SENT}),
    MessageStatus.READ: frozenset(
        {MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.DELIVERED}
    ),
    # A failure report after ``delivered`` is out of order: the handset already had it.
    MessageStatus.UNDELIVERED: frozenset({MessageStatus.QUEUED, MessageStatus.SENT}),
    MessageStatus.FAILED: frozenset({MessageStatus.QUEUED, MessageStatus.SENT}),
}


def advance(current: MessageStatus, reported: MessageStatus) -> MessageStatus | None:
    """The status to store when ``reported`` arrives for a reply that is ``current``, or None
    when the report changes nothing (a stage already passed, or the reply is final)."""
    return reported if current in _FROM[reported] else None
