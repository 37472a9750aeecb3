"""Fixtures: a gateway served in-process against the real local RabbitMQ and a fresh SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.app import create_app
from gateway.keys import USERS
from gateway.logs import configure_logging
from gateway.model import Role
from gateway.settings import Settings
from tests.browsers import launched_browser
from tests.support import (
    Customer,
    Operator,
    delete_broker_objects,
    make_settings,
    provider_queues,
    wait_for,
)

configure_logging(__import__("os").environ.get("CG_TEST_LOG_LEVEL", "warning"), "console")


@dataclass
class RunningGateway:
    server: TestServer
    settings: Settings
    http: aiohttp.ClientSession

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def app(self) -> Any:
        return self.server.app

    async def customer(self, **attributes: str) -> Customer:
        customer = Customer(self.http, self.base, attributes)
        await customer.connect()
        return customer

    async def operator(
        self, username: str, role: Role = Role.OPERATOR, state: str | None = "available"
    ) -> Operator:
        users = self.app[USERS]
        user = await users.add(username, f"{username}-password", role, username.title())
        token = await users.create_api_token(user, "test")
        operator = Operator(self.http, self.base, token)
        operator.user_id = user.id  # type: ignore[attr-defined]
        await operator.connect(state)
        return operator

    async def operator_again(self, before: Operator, state: str | None = "available") -> Operator:
        """The same operator (same token) connecting again."""
        operator = Operator(self.http, self.base, before.token)
        operator.user_id = before.user_id  # type: ignore[attr-defined]
        await operator.connect(state)
        return operator


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium (a test that needs it fails without it)."""
    async for launched in launched_browser():
        yield launched


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def start_gateway(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> AsyncIterator[Callable[..., Awaitable[RunningGateway]]]:
    sessions: list[aiohttp.ClientSession] = []
    servers: list[TestServer] = []
    prefixes: dict[str, tuple[str, ...]] = {}

    async def start(
        settings: Settings, port: int | None = None, wait_ready: bool = True
    ) -> RunningGateway:
        server = await aiohttp_server(create_app(settings), port=port)
        servers.append(server)
        http = aiohttp.ClientSession()
        sessions.append(http)
        prefixes[settings.amqp.prefix] = (
            *prefixes.get(settings.amqp.prefix, ()),
            *provider_queues(settings),
        )
        gateway = RunningGateway(server, settings, http)
        if wait_ready:

            async def ready() -> bool:
                async with http.get(f"{gateway.base}/readyz") as resp:
                    return resp.status == 200

            await wait_for(ready, timeout=30)
        return gateway

    yield start
    for http in sessions:
        await http.close()
    # Stop the gateways first, or their robust connections would declare the queues again.
    for server in servers:
        await server.close()
    for prefix, extra in prefixes.items():
        await delete_broker_objects(prefix, extra)


@pytest.fixture
async def gateway(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]], settings: Settings
) -> RunningGateway:
    return await start_gateway(settings)
