"""The supervisors' overview of appeals: per queue how many wait, are worked on or wait for
someone else, how many are late or nearly late, and the alerts whose situation still stands.

Why a route of its own next to ``/api/supervisor/overview``: that one is the core's live view
of contacts; appeals are a capability and bring their own numbers, which the supervisor page
reads alongside.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from appeals.alerts_store import AlertStore
from appeals.model import Status
from appeals.notices import NOTICES, present_callbacks
from appeals.store import APPEAL_STORE, Appeal
from gateway.auth import require
from gateway.model import Role, utcnow
from routing.live import LIVE_ROUTING

ALERTS_SHOWN = 100

# A count per status group; "pending" counts both kinds of waiting for someone else.
_GROUPS = {
    Status.NEW: "awaiting",
    Status.AWAITING: "awaiting",
    Status.IN_PROGRESS: "in_progress",
    Status.PENDING_CUSTOMER: "pending",
    Status.PENDING_THIRD_PARTY: "pending",
}


def _empty(queue: str) -> dict[str, Any]:
    return {
        "queue": queue,
        "open": 0,
        "awaiting": 0,
        "in_progress": 0,
        "pending": 0,
        "pending_customer": 0,
        "pending_third_party": 0,
        "late": 0,
        "nearly_late": 0,
    }


def count_by_queue(appeals: list[Appeal], queues: list[str], now: datetime) -> list[dict[str, Any]]:
    """Counts per queue: every queue of the routing configuration (zeros included), then any
    other queue an open appeal is in. ``nearly_late`` leaves out the late ones."""
    out = {q: _empty(q) for q in queues}
    for appeal in appeals:
        row = out.setdefault(appeal.queue, _empty(appeal.queue))
        status = Status(appeal.status)
        row["open"] += 1
        row[_GROUPS[status]] += 1
        if status in (Status.PENDING_CUSTOMER, Status.PENDING_THIRD_PARTY):
            row[status.value] += 1
        if appeal.late(now):
            row["late"] += 1
        elif appeal.nearly_late(now):
            row["nearly_late"] += 1
    return list(out.values())


async def appeals_overview(request: web.Request) -> web.Response:
    await require(request, Role.SUPERVISOR)
    app = request.app
    alerts = AlertStore(app[APPEAL_STORE])
    config = await app[LIVE_ROUTING].current()
    now = utcnow()
    return web.json_response(
        {
            "at": now.isoformat(),
            "queues": count_by_queue(await alerts.open_appeals(), list(config.queues), now),
            "alerts": await alerts.open_alerts(ALERTS_SHOWN),
            # Customers no channel reached: an operator calls them back (appeals/notices.py);
            # the tasks done already are left out.
            "callbacks": await present_callbacks(
                app, await app[NOTICES].callbacks(None, ALERTS_SHOWN)
            ),
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/appeals/overview", appeals_overview)
