"""The web chat visitors connected to this instance, and pushing replies to them.

Every instance hears every ``outbound.webchat`` event (its delivery queue is bound to it) and
pushes the reply if it holds the visitor's socket. The store is the mailbox: a visitor who was
away gets everything on ``resume``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import structlog
from aiohttp import web

from gateway.model import MessageStatus
from gateway.sockets import PushSocket
from gateway.storage.conversations import ConversationStore

log = structlog.get_logger()


class VisitorSocket(PushSocket):
    def __init__(
        self, ws: web.WebSocketResponse, visitor_id: str, attributes: dict[str, str] | None = None
    ) -> None:
        super().__init__(ws)
        self.visitor_id = visitor_id
        self.attributes = attributes or {}  # language and topic, for the routing rules
        self.conversation_id: int | None = None
        self.last_sent = 0


class WebchatHub:
    def __init__(self, conversations: ConversationStore) -> None:
        self.conversations = conversations
        self.by_conversation: dict[int, set[VisitorSocket]] = defaultdict(set)
        self.sockets: set[VisitorSocket] = set()

    def attach(self, sock: VisitorSocket) -> None:
        self.sockets.add(sock)
        if sock.conversation_id is not None:
            self.by_conversation[sock.conversation_id].add(sock)

    def detach(self, sock: VisitorSocket) -> None:
        self.sockets.discard(sock)
        if sock.conversation_id is not None:
            peers = self.by_conversation.get(sock.conversation_id)
            if peers is not None:
                peers.discard(sock)
                if not peers:
                    del self.by_conversation[sock.conversation_id]

    def joined(self, sock: VisitorSocket, conversation_id: int) -> None:
        """The visitor's messages now go to ``conversation_id`` (first message, or a new one)."""
        if sock.conversation_id == conversation_id:
            return
        self.detach(sock)
        sock.conversation_id = conversation_id
        self.attach(sock)

    async def push(self, sock: VisitorSocket, message: dict[str, Any]) -> bool:
        message_id = int(message["id"])
        sock.last_sent = max(sock.last_sent, message_id)
        return await sock.send_message(message_id, {"type": "message", **message})

    async def replay(self, sock: VisitorSocket, after: int) -> None:
        if sock.conversation_id is None:
            return
        for message in await self.conversations.messages(sock.conversation_id, after=after):
            await self.push(sock, message.as_json())

    async def deliver(
        self, conversation_id: int, message_id: int, message: dict[str, Any] | None = None
    ) -> bool:
        """Push a reply to the visitor's sockets on this instance; True if one took it."""
        peers = list(self.by_conversation.get(conversation_id, ()))
        if not peers:
            return False
        if message is None:
            view = await self.conversations.message(message_id)
            if view is None:
                return False
            message = view.as_json()
        delivered = False
        for sock in peers:
            delivered = await self.push(sock, message) or delivered
        if delivered:
            await self.conversations.mark_status(message_id, MessageStatus.SENT)
        return delivered

    async def closed(self, conversation_id: int) -> None:
        """The conversation was resolved: tell the visitor; their next message opens a new one."""
        for sock in list(self.by_conversation.get(conversation_id, ())):
            await sock.send({"type": "closed", "conversation_id": conversation_id})
            self.detach(sock)
            sock.conversation_id = None
            self.attach(sock)

    async def resync(self) -> None:
        """After a broker reconnect: push whatever may have been missed meanwhile."""
        for sock in list(self.sockets):
            await self.replay(sock, sock.last_sent)

    async def close_all(self, code: int, reason: bytes) -> None:
        for sock in list(self.sockets):
            await sock.ws.close(code=code, message=reason)


WEBCHAT_HUB = web.AppKey("webchat_hub", WebchatHub)
