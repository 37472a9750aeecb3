"""Operators connected to this instance and the pushes that reach them.

When an operator's first socket opens here, this instance binds its delivery queue to the
operator's routing key, so offers and messages the router publishes for them arrive here; the
binding goes with their last socket. After a broker reconnect every socket is topped up from
the store (pending offers, messages it has not had), because pushes published while the queue
was gone were dropped by the broker.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import structlog
from aiohttp import web

from gateway.broker import Broker, BrokerUnavailable
from gateway.sockets import PushSocket
from gateway.storage.conversations import ConversationStore
from gateway.storage.routing_state import RoutingState
from gateway.topology import Names
from routing.service import offer_frames

log = structlog.get_logger()

CLOSE_SIGNED_OUT = 4403


class OperatorSocket(PushSocket):
    def __init__(
        self, ws: web.WebSocketResponse, operator_id: int, session_id: str | None = None
    ) -> None:
        super().__init__(ws)
        self.operator_id = operator_id
        self.session_id = session_id  # the browser session it was opened with (hashed)

    async def sign_out(self, reason: str) -> None:
        await self.send({"type": "logout", "reason": reason})
        await self.ws.close(code=CLOSE_SIGNED_OUT, message=reason.encode())


class OperatorHub:
    def __init__(
        self, broker: Broker, conversations: ConversationStore, state: RoutingState
    ) -> None:
        self.broker = broker
        self.conversations = conversations
        self.state = state
        self.sockets: dict[int, set[OperatorSocket]] = defaultdict(set)
        self.delivery_queue: Any = None
        self._binding: set[asyncio.Task[None]] = set()

    @property
    def operator_ids(self) -> list[int]:
        return [op for op, socks in self.sockets.items() if socks]

    async def attach(self, sock: OperatorSocket) -> None:
        first = not self.sockets[sock.operator_id]
        self.sockets[sock.operator_id].add(sock)
        if first and self.delivery_queue is not None:
            try:
                await self._bind(sock.operator_id)
            except Exception as exc:
                # The broker is reconnecting: the socket stays, the binding comes when the
                # channel is back (the store is the mailbox; resync replays what was missed).
                log.warning("operator.bind.retry", operator_id=sock.operator_id, error=str(exc))
                task = asyncio.create_task(self._bind_later(sock.operator_id))
                self._binding.add(task)
                task.add_done_callback(self._binding.discard)

    async def _bind(self, operator_id: int) -> None:
        await self.delivery_queue.bind(self.broker.names.operators, Names.operator_key(operator_id))

    async def _bind_later(self, operator_id: int, attempts: int = 60) -> None:
        for _ in range(attempts):
            await asyncio.sleep(0.5)
            if not self.sockets.get(operator_id):
                return  # gone meanwhile
            try:
                await self._bind(operator_id)
            except Exception as exc:
                log.debug("operator.bind.waiting", operator_id=operator_id, error=str(exc))
                continue
            log.info("operator.bind.restored", operator_id=operator_id)
            await self.resync_operator(operator_id)
            return
        log.error("operator.bind.failed", operator_id=operator_id)

    async def detach(self, sock: OperatorSocket) -> None:
        peers = self.sockets.get(sock.operator_id)
        if peers is None:
            return
        peers.discard(sock)
        if not peers:
            del self.sockets[sock.operator_id]
            if self.delivery_queue is not None:
                try:
                    await self.delivery_queue.unbind(
                        self.broker.names.operators, Names.operator_key(sock.operator_id)
                    )
                except Exception as exc:
                    log.info("operator.unbind.failed", error=str(exc))

    async def push(self, operator_id: int, frame: dict[str, Any]) -> None:
        for sock in list(self.sockets.get(operator_id, ())):
            if frame.get("type") == "logout":
                # One session signed out: its sockets close. A supervisor's force-logout
                # (no session named): all of them.
                session = frame.get("session")
                if session is None or session == sock.session_id:
                    await sock.sign_out(str(frame.get("reason") or "signed out"))
                continue
            await self.push_to(sock, frame)

    async def broadcast(self, operator_id: int, frame: dict[str, Any]) -> None:
        """To every socket of the operator, on every instance (their other tabs too); only
        to this instance's when the broker is away."""
        try:
            await self.broker.publish_to_operator(operator_id, frame)
        except BrokerUnavailable:
            await self.push(operator_id, frame)

    async def session_signed_out(self, operator_id: int, session_id: str | None) -> None:
        """Close the consoles one browser session has open, on every instance."""
        await self.broadcast(
            operator_id, {"type": "logout", "session": session_id, "reason": "signed out"}
        )

    async def push_to(self, sock: OperatorSocket, frame: dict[str, Any]) -> None:
        if frame.get("type") == "assigned":
            for message in frame["conversation"]["messages"]:
                sock.mark_seen(int(message["id"]))
        if frame.get("type") == "message":
            await sock.send_message(int(frame["message"]["id"]), frame)
        else:
            await sock.send(frame)

    async def snapshot(self, sock: OperatorSocket) -> dict[str, Any]:
        """Everything the console shows, marking the messages as had by this socket."""
        conversations = []
        for conversation in await self.conversations.for_operator(sock.operator_id):
            history = await self.conversations.messages(conversation.id)
            for message in history:
                sock.mark_seen(message.id)
            conversations.append(
                {**conversation.as_json(), "messages": [m.as_json() for m in history]}
            )
        offers = [frame["offer"] for frame in await self.offer_frames(sock.operator_id)]
        return {"type": "snapshot", "offers": offers, "conversations": conversations}

    async def offer_frames(self, operator_id: int) -> list[dict[str, Any]]:
        pending = await self.state.pending_offers(operator_id)
        return [frame for _offer, frame in await offer_frames(self.conversations, pending)]

    async def resync(self) -> None:
        for operator_id in self.operator_ids:
            await self.resync_operator(operator_id)

    async def resync_operator(self, operator_id: int) -> None:
        """Push an operator's conversations and offers again (after pushes may have been lost)."""
        for sock in list(self.sockets.get(operator_id, ())):
            for conversation in await self.conversations.for_operator(operator_id):
                for message in await self.conversations.messages(conversation.id):
                    await sock.send_message(
                        message.id,
                        {
                            "type": "message",
                            "conversation_id": conversation.id,
                            "message": message.as_json(),
                        },
                    )
            for frame in await self.offer_frames(operator_id):
                await sock.send(frame)

    async def close_all(self, code: int, reason: bytes) -> None:
        for socks in list(self.sockets.values()):
            for sock in list(socks):
                await sock.ws.close(code=code, message=reason)


OPERATOR_HUB = web.AppKey("operator_hub", OperatorHub)
