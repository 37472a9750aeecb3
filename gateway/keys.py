"""Typed application keys of the core: what create_app wires together, found without string
lookups. A capability declares its own keys beside its classes (e.g. ``routing.service.ROUTER``,
``gateway.console.hub.OPERATOR_HUB``), so this module imports no capability."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.broker import Broker
from gateway.dispatch import Sender
from gateway.jobs import JobWorker
from gateway.media import MediaSource
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
BROKER = web.AppKey("broker", Broker)
RELAY = web.AppKey("relay", OutboxRelay)
OUTBOUND = web.AppKey("outbound", OutboundStore)
# Provider channels' senders and file fetchers (filled by the channels' cleanup contexts), and
# the workers that run them.
SENDERS = web.AppKey("senders", list[Sender])
MEDIA_SOURCES = web.AppKey("media_sources", list[MediaSource])
WORKERS = web.AppKey("job_workers", list[JobWorker])
# Capabilities' consumers (an appeals event queue...), made when the services start and started
# with the channels' workers whenever the broker is attached.
WORKER_FACTORIES = web.AppKey("worker_factories", list[Callable[[web.Application], JobWorker]])
CUSTOMERS = web.AppKey("customers", CustomerStore)
FILES = web.AppKey("files", FileStore)
THREADS = web.AppKey("threads", ThreadStore)
IVR_SESSIONS = web.AppKey("ivr_sessions", IvrSessionStore)

# Called when a browser session signs out, with the user's id and the session's id: the console
# closes that session's open sockets on every instance (the core knows no sockets).
SignedOut = Callable[[int, str | None], Awaitable[None]]
SIGN_OUT_HOOKS = web.AppKey("sign_out_hooks", list[SignedOut])
