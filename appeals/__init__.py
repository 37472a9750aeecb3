"""Appeals: registered requests, complaints and incidents that move through their topic's
stages with deadlines, SLA clocks, history and notices to the customer (docs/appeals.md).

A capability package: its pure core (statuses and transitions, reference numbers, business
time, topics and their forms) imports no I/O; its store, service and routes build on the core
(`gateway/`), which wires the package in through ``setup(app)``.
"""

from __future__ import annotations

from aiohttp import web

from appeals import admin_routes
from appeals.live import live_topics


def setup(app: web.Application) -> None:
    """Wire appeals into the gateway: the topics in force (after the routing in force, which
    the database context creates) and the admin API."""
    app.cleanup_ctx.append(live_topics)
    admin_routes.add_routes(app)
