"""The application factory: wires settings, storage, broker, router and channels together.

The only core module that imports capabilities: the channels come from the registry
(``channels/registry.py``), each capability adds its routes and cleanup contexts here.

``create_app`` only wires; every resource is opened and closed in a ``cleanup_ctx`` generator, in
order: database, broker, services (relay, router, delivery, loops). Shutdown runs in reverse:
websockets are closed with 1001 first (on_shutdown), then the loops stop, the outbox is flushed,
the broker and the database are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import structlog
from aiohttp import WSCloseCode, web

import appeals
from channels.registry import CHANNELS as ALL_CHANNELS
from channels.webchat.hub import WEBCHAT_HUB, WebchatHub
from gateway import auth, openapi, ops, pages
from gateway.broker import Broker
from gateway.console import routes as console
from gateway.console.actions import ACCEPT_HOOKS, DISPOSITIONS, ConsoleActions
from gateway.console.delivery import InstanceDelivery, presence_loop, tick_loop
from gateway.console.hub import OPERATOR_HUB, OperatorHub
from gateway.dispatch import DispatchMetrics, OutboundWorker
from gateway.http import request_context, security_headers
from gateway.jobs import JobWorker
from gateway.keys import (
    BROKER,
    CHANNELS,
    CONVERSATIONS,
    CUSTOMERS,
    DATABASE,
    FILES,
    INSTANCE_ID,
    INTAKE,
    IVR_SESSIONS,
    MEDIA_SOURCES,
    METRICS,
    OUTBOUND,
    RELAY,
    ROUTING_CONFIGS,
    ROUTING_STATE,
    RULES,
    SENDERS,
    SETTINGS,
    SIGN_OUT_HOOKS,
    THREADS,
    USERS,
    WORKER_FACTORIES,
    WORKERS,
)
from gateway.media import MediaWorker
from gateway.menus import ivr_admin
from gateway.menus.ivr_menus import LIVE_MENUS, LiveMenus
from gateway.menus.text_menus import text_menus
from gateway.metrics import Metrics
from gateway.model import Role
from gateway.outbox import OutboxRelay
from gateway.registry import Channels
from gateway.screens import admin, customer_api, supervisor
from gateway.settings import ConfigError, Settings, mask_url
from gateway.storage.conversations import ConversationStore
from gateway.storage.customers import CustomerStore
from gateway.storage.database import Database
from gateway.storage.files import FileStore
from gateway.storage.group_intake import IntakeWriter
from gateway.storage.ivr import IvrMenuStore, IvrSessionStore
from gateway.storage.migrate import upgrade_async
from gateway.storage.outbound import OutboundStore
from gateway.storage.routing_configs import RoutingConfigStore
from gateway.storage.routing_rules import RuleStore
from gateway.storage.routing_state import RoutingState
from gateway.storage.threads import ThreadStore
from gateway.storage.users import UserExists, UserStore
from gateway.topology import Names
from routing.live import LIVE_ROUTING, LiveRouting
from routing.service import ROUTER, Router

log = structlog.get_logger()

TASKS = web.AppKey("background_tasks", list)
ATTACH_TIMEOUT = 30.0  # seconds to declare and start consuming once connected


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].database
    if settings.migrate_on_start:
        await upgrade_async(settings.url)
    db = Database(
        settings.url, pool_size=settings.pool_size, sqlite_synchronous=settings.sqlite_synchronous
    )
    app[DATABASE] = db
    app[INTAKE] = IntakeWriter(db)
    app[USERS] = UserStore(db)
    app[CONVERSATIONS] = ConversationStore(db)
    app[ROUTING_STATE] = RoutingState(db)
    app[RULES] = RuleStore(db, app[CHANNELS].media_of)
    app[OUTBOUND] = OutboundStore(db)
    app[CUSTOMERS] = CustomerStore(db)
    app[FILES] = FileStore(db)
    app[THREADS] = ThreadStore(db)
    app[ROUTING_CONFIGS] = RoutingConfigStore(db)
    app[LIVE_ROUTING] = LiveRouting(app[ROUTING_CONFIGS], app[SETTINGS].routing)
    await app[LIVE_ROUTING].import_file()
    await app[LIVE_ROUTING].current()
    app[IVR_SESSIONS] = IvrSessionStore(db)
    app[LIVE_MENUS] = LiveMenus(IvrMenuStore(db), app[LIVE_ROUTING], app[SETTINGS].ivr.directory)
    await app[LIVE_MENUS].import_directory()
    for demo in app[SETTINGS].demo.users:
        with contextlib.suppress(UserExists):
            await app[USERS].add(
                demo.username, demo.password.get_secret_value(), Role(demo.role), demo.display_name
            )
            log.info("demo.user.created", username=demo.username, role=demo.role)
    log.info("database.ready", url=mask_url(settings.url))
    yield
    await db.dispose()


async def _broker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].amqp
    broker = Broker(
        settings.url.get_secret_value(),
        Names(settings.prefix),
        app[INSTANCE_ID],
        settings.publish_timeout_seconds,
        settings.heartbeat_seconds,
    )
    # Connected in the background (see _attach_broker): the gateway starts, and takes in
    # messages, while the broker is still away.
    app[BROKER] = broker
    yield
    await broker.close()


async def _attach_broker(
    broker: Broker,
    delivery: InstanceDelivery,
    router: Router,
    hub: OperatorHub,
    workers: Sequence[JobWorker],
    attached: asyncio.Event,
) -> None:
    """Connect, declare and start consuming; a broker that fails half-way through (still
    booting, restarted meanwhile) is tried again from the start, never given up on."""
    delay = 0.5
    while True:
        try:
            await broker.connect()
            async with asyncio.timeout(ATTACH_TIMEOUT):  # a broker that stalls half-way
                await delivery.start()
                for worker in workers:
                    await worker.start()
                attached.set()
                await router.start()
                await delivery.resync()
            break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("broker.attach.retry", error=repr(exc)[:300], delay=delay)
            with contextlib.suppress(Exception):
                if broker.connection is not None:
                    await broker.connection.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    log.info("broker.attached", operators=len(hub.operator_ids))


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    metrics, broker = app[METRICS], app[BROKER]
    relay = OutboxRelay(
        app[DATABASE],
        broker,
        metrics.outbox_published,
        metrics.outbox_backlog,
        stalled=metrics.outbox_write_stalls,
    )
    router = Router(
        app[ROUTING_STATE],
        app[RULES],
        app[LIVE_ROUTING],
        app[CONVERSATIONS],
        broker,
        settings.routing,
        metrics.offers,
    )
    operator_hub = OperatorHub(broker, app[CONVERSATIONS], app[ROUTING_STATE])
    app[SIGN_OUT_HOOKS].append(operator_hub.session_signed_out)
    webchat_hub = WebchatHub(app[CONVERSATIONS])
    delivery = InstanceDelivery(broker, operator_hub, webchat_hub)
    dispatch_metrics = DispatchMetrics(metrics.sent, metrics.send_failed, metrics.send_retried)
    workers: list[JobWorker] = [
        OutboundWorker(
            sender,
            app[OUTBOUND],
            broker,
            app[CHANNELS].retry_delays(settings, sender.channel),
            dispatch_metrics,
        )
        for sender in app[SENDERS]
    ]
    workers += [
        MediaWorker(source.fetcher, app[FILES], broker, source.delays, source.limit)
        for source in app[MEDIA_SOURCES]
    ]
    workers += [make(app) for make in app[WORKER_FACTORIES]]
    app[WORKERS] = workers
    attached = asyncio.Event()
    app[RELAY], app[ROUTER] = relay, router
    app[OPERATOR_HUB], app[WEBCHAT_HUB] = operator_hub, webchat_hub
    consumers: list[ops.Consumer] = [router, delivery]
    app[ops.CONSUMERS] = consumers
    app[console.ACTIONS] = ConsoleActions(
        app[CONVERSATIONS],
        app[ROUTING_STATE],
        operator_hub,
        relay,
        metrics,
        app[USERS],
        settings.routing,
        app[RULES],
        app[LIVE_ROUTING],
        app[OUTBOUND],
        app[ACCEPT_HOOKS],
        app[DISPOSITIONS],
    )
    tasks = [
        asyncio.create_task(
            _attach_broker(broker, delivery, router, operator_hub, workers, attached),
            name="broker-attach",
        ),
        asyncio.create_task(app[INTAKE].run(), name="intake-writer"),
        asyncio.create_task(relay.run(after=attached), name="outbox-relay"),
        asyncio.create_task(router.run_assignments(), name="router-assignments"),
        asyncio.create_task(
            presence_loop(
                app[ROUTING_STATE],
                operator_hub,
                app[INSTANCE_ID],
                settings.routing.presence_interval_seconds,
            ),
            name="presence",
        ),
        asyncio.create_task(tick_loop(broker, settings.routing.tick_seconds), name="router-tick"),
    ]
    app[TASKS] = tasks
    log.info("gateway.started", instance_id=app[INSTANCE_ID])
    yield
    await router.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    left = await relay.flush(seconds=5.0)
    log.info("gateway.stopped", outbox_left=left)


async def _close_sockets(app: web.Application) -> None:
    if OPERATOR_HUB in app:
        await app[OPERATOR_HUB].close_all(WSCloseCode.GOING_AWAY, b"server shutting down")
    if WEBCHAT_HUB in app:
        await app[WEBCHAT_HUB].close_all(WSCloseCode.GOING_AWAY, b"server shutting down")


def create_app(
    settings: Settings, instance_id: str | None = None, channels: Channels = ALL_CHANNELS
) -> web.Application:
    problems = channels.problems(settings)
    if problems:
        raise ConfigError(problems)
    app = web.Application(
        middlewares=[request_context, security_headers], client_max_size=1_048_576
    )
    app[SETTINGS] = settings
    app[INSTANCE_ID] = instance_id or f"{settings.instance_name}-{uuid.uuid4().hex[:8]}"
    app[METRICS] = Metrics()
    app[CHANNELS] = channels
    app[SENDERS] = []
    app[MEDIA_SOURCES] = []
    app[ACCEPT_HOOKS] = []
    app[SIGN_OUT_HOOKS] = []
    app[WORKER_FACTORIES] = []
    app[DISPOSITIONS] = []
    app.cleanup_ctx.extend([_database, _broker, text_menus])
    appeals.setup(app)  # after _database (the routing in force), before the services
    # Channels add their clients' cleanup contexts here, before the services start.
    for add_routes in channels.setups():
        add_routes(app)
    app.cleanup_ctx.append(_services)
    app.on_shutdown.append(_close_sockets)
    ops.add_routes(app)
    auth.add_routes(app)
    console.add_routes(app)
    pages.add_routes(app)
    supervisor.add_routes(app)
    admin.add_routes(app)
    customer_api.add_routes(app)
    ivr_admin.add_routes(app)
    openapi.add_routes(app)
    return app
