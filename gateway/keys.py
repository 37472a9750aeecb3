"""Typed application keys: what create_app wires together, found without string lookups."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", "Settings")
INSTANCE_ID = web.AppKey("instance_id", str)
METRICS = web.AppKey("metrics", "Metrics")
ENGINE = web.AppKey("engine", AsyncEngine)
USERS = web.AppKey("users", "UserStore")
CONVERSATIONS = web.AppKey("conversations", "ConversationStore")
ROUTING_STATE = web.AppKey("routing_state", "RoutingState")
BROKER = web.AppKey("broker", "Broker")
RELAY = web.AppKey("relay", "OutboxRelay")
ROUTER = web.AppKey("router", "Router")
OPERATOR_HUB = web.AppKey("operator_hub", "OperatorHub")
WEBCHAT_HUB = web.AppKey("webchat_hub", "WebchatHub")
