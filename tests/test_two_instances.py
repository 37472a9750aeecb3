"""Two gateway instances side by side on one PostgreSQL and one RabbitMQ prefix: a customer on
one instance and an operator on the other talk to each other, each message once."""

from __future__ import annotations

from pathlib import Path

from gateway.keys import USERS
from gateway.model import Role
from routing.service import ROUTER
from tests.support import Customer, Operator, make_settings, postgres_database, wait_for


async def test_customer_and_operator_on_different_instances(start_gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    databases = postgres_database()
    url = await databases.__anext__()
    try:
        first = make_settings(tmp_path, database={"url": url})
        second = first.model_copy(update={"instance_name": "second"})
        a = await start_gateway(first)
        b = await start_gateway(second)
        assert a.app[ROUTER] is not b.app[ROUTER]

        user = await a.app[USERS].add("ada", "ada-password", Role.OPERATOR)
        token = await a.app[USERS].create_api_token(user, "test")
        ada = Operator(a.http, a.base, token)  # on instance A
        ada.auto_accept = True
        await ada.connect()
        customer = Customer(b.http, b.base)  # on instance B
        await customer.connect()

        for n in range(5):
            await customer.say(f"across instances {n}")
        await wait_for(lambda: ada.texts("in") == [f"across instances {n}" for n in range(5)])
        assert len(ada.message_frames) == len(set(ada.message_frames))

        conversation_id = next(iter(ada.offers.values()))["conversation_id"]
        for n in range(3):
            reply = await ada.act(
                {
                    "type": "reply",
                    "conversation_id": conversation_id,
                    "client_id": f"across-reply-{n}",
                    "text": f"answer {n}",
                }
            )
            assert reply["ok"]
        await wait_for(lambda: len(customer.received) == 3)
        assert sorted(m["text"] for m in customer.received.values()) == [
            f"answer {n}" for n in range(3)
        ]
        pushed = [f for f in customer.frames if f["type"] == "message" and f["direction"] == "out"]
        assert len(pushed) == 3, "a reply reached the customer twice"
        await customer.close()
        await ada.close()
        await a.server.close()
        await b.server.close()
    finally:
        await databases.aclose()
