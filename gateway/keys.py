"""Typed application keys: what create_app wires together, found without string lookups."""

from __future__ import annotations

from aiohttp import web

from channels.webchat.hub import WebchatHub
from gateway.broker import Broker
from gateway.console.actions import AcceptHook
from gateway.console.hub import OperatorHub
from gateway.dispatch import Sender
from gateway.jobs import JobWorker
from gateway.media import MediaSource
from gateway.menus.ivr_menus import LiveMenus
from gateway.metrics import Metrics
from gateway.outbox import OutboxRelay
from gateway.registry import Channels
from gateway.settings import Settings
from gateway.storage.conversations import ConversationStore
from gateway.storage.customers import CustomerStore
from gateway.storage.database import Database
from gateway.storage.files import FileStore
from gateway.storage.group_intake import IntakeWriter
from gateway.storage.ivr import IvrSessionStore
from gateway.storage.outbound import OutboundStore
from gateway.storage.routing_configs import RoutingConfigStore
from gateway.storage.routing_rules import RuleStore
from gateway.storage.routing_state import RoutingState
from gateway.storage.threads import ThreadStore
from gateway.storage.users import UserStore
from routing.live import LiveRouting
from routing.service import Router

SETTINGS = web.AppKey("settings", Settings)
INSTANCE_ID = web.AppKey("instance_id", str)
METRICS = web.AppKey("metrics", Metrics)
CHANNELS = web.AppKey("channels", Channels)  # the channel registry
DATABASE = web.AppKey("database", Database)
INTAKE = web.AppKey("intake", IntakeWriter)
USERS = web.AppKey("users", UserStore)
CONVERSATIONS = web.AppKey("conversations", ConversationStore)
ROUTING_STATE = web.AppKey("routing_state", RoutingState)
RULES = web.AppKey("rules", RuleStore)
ROUTING_CONFIGS = web.AppKey("routing_configs", RoutingConfigStore)
LIVE_ROUTING = web.AppKey("live_routing", LiveRouting)
BROKER = web.AppKey("broker", Broker)
RELAY = web.AppKey("relay", OutboxRelay)
ROUTER = web.AppKey("router", Router)
OPERATOR_HUB = web.AppKey("operator_hub", OperatorHub)
WEBCHAT_HUB = web.AppKey("webchat_hub", WebchatHub)
OUTBOUND = web.AppKey("outbound", OutboundStore)
# Provider channels' senders and file fetchers (filled by the channels' cleanup contexts), and
# the workers that run them.
SENDERS = web.AppKey("senders", list[Sender])
MEDIA_SOURCES = web.AppKey("media_sources", list[MediaSource])
WORKERS = web.AppKey("job_workers", list[JobWorker])
CUSTOMERS = web.AppKey("customers", CustomerStore)
FILES = web.AppKey("files", FileStore)
THREADS = web.AppKey("threads", ThreadStore)
LIVE_MENUS = web.AppKey("live_menus", LiveMenus)  # the IVR menus in force
IVR_SESSIONS = web.AppKey("ivr_sessions", IvrSessionStore)
# What happens after an operator takes a conversation, per channel (voice: put the call through).
ACCEPT_HOOKS = web.AppKey("accept_hooks", list[AcceptHook])
