"""The routing configuration in force, kept current on every gateway instance.

Why: an admin's change (through the API, or a new rules file at start-up) is a new version in
the store; the router asks for the newest version number before each pass (one small query) and
reloads only when it changed, so every instance applies a change within one pass, without a
restart.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.settings import RoutingSettings
from gateway.storage.routing_configs import RoutingConfigStore
from routing.config import (
    RoutingConfig,
    RoutingConfigError,
    load_routing,
    parse_routing,
    single_queue,
)

log = structlog.get_logger()


class LiveRouting:
    def __init__(self, store: RoutingConfigStore, settings: RoutingSettings) -> None:
        self.store = store
        self.settings = settings
        self.version: int | None = None
        self.config: RoutingConfig = self.fallback()

    def fallback(self) -> RoutingConfig:
        """Without any version stored: one queue that reaches every operator."""
        return single_queue(self.settings.queue, self.settings.chat_capacity)

    async def import_file(self) -> None:
        """Make the rules file the version in force if its content changed since it was last
        imported. A broken file stops the start-up with its errors (file and key)."""
        if not self.settings.rules_file:
            return
        config = load_routing(self.settings.rules_file)
        imported = await self.store.import_file(config.as_document(), self.settings.rules_file)
        if imported is not None:
            log.info("routing.config.imported", version=imported.id, path=self.settings.rules_file)

    async def current(self) -> RoutingConfig:
        latest = await self.store.latest_id()
        if latest is not None and latest != self.version:
            stored = await self.store.get(latest)
            if stored is not None:
                try:
                    self.config = parse_routing(stored.document, f"routing version {stored.id}")
                except RoutingConfigError as exc:
                    # Only validated documents are stored; keep routing by the last good one.
                    log.error("routing.config.invalid", version=stored.id, problems=exc.problems)
                else:
                    log.info("routing.config.applied", version=stored.id)
                self.version = stored.id
        return self.config


LIVE_ROUTING = web.AppKey("live_routing", LiveRouting)  # the routing version in force
