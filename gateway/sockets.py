"""A websocket we push to, remembering which messages it already has.

Why: the same message can reach a socket twice (a live push racing a replay after a broker
reconnect, a redelivery); the client must see it once.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger()

MAX_REMEMBERED = 20_000


class PushSocket:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._seen: set[int] = set()

    async def send(self, frame: dict[str, Any]) -> bool:
        if self.ws.closed:
            return False
        try:
            await self.ws.send_json(frame)
        except (ConnectionError, RuntimeError) as exc:
            log.info("socket.send.failed", error=str(exc))
            return False
        return True

    def mark_seen(self, message_id: int) -> None:
        if len(self._seen) >= MAX_REMEMBERED:
            self._seen.clear()
        self._seen.add(message_id)

    async def send_message(self, message_id: int, frame: dict[str, Any]) -> bool:
        """Send a message frame unless this socket has had that message already."""
        if message_id in self._seen:
            return False
        self.mark_seen(message_id)
        return await self.send(frame)
