"""The admin API for routing: read, change (validated as a whole), conflicts, roll back, the
audit log, and changes that the router applies at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.keys import DATABASE, USERS
from gateway.model import Role
from gateway.settings import Settings
from gateway.storage.schema import conversations
from tests.conftest import RunningGateway
from tests.support import make_settings, wait_for

DEMO_RULES = Path(__file__).parent.parent / "config" / "routing.yaml"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, routing={"rules_file": str(DEMO_RULES)})


class Admin:
    def __init__(self, gateway: RunningGateway, token: str) -> None:
        self.gateway = gateway
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.gateway.http.request(
            method, f"{self.gateway.base}{path}", json=body, headers=self.headers
        ) as resp:
            return resp.status, await resp.json()


async def _admin(gateway: RunningGateway, role: Role = Role.ADMIN, name: str = "alex") -> Admin:
    users = gateway.app[USERS]
    user = await users.add(name, f"{name}-password", role, name.title())
    return Admin(gateway, await users.create_api_token(user, "test"))


async def test_read_change_and_audit(gateway: RunningGateway) -> None:
    admin = await _admin(gateway)
    status, current = await admin.call("GET", "/api/admin/routing")
    assert status == 200 and current["source"] == "file"
    version = current["version"]
    assert "billing" in current["config"]["skills"]

    status, saved = await admin.call(
        "PUT", "/api/admin/routing/skills/tv", {"value": "TV boxes", "version": version}
    )
    assert status == 200, saved
    assert saved["version"] == version + 1 and saved["config"]["skills"]["tv"] == "TV boxes"
    status, saved = await admin.call(
        "PUT",
        "/api/admin/routing/operators/linus",
        {"value": {"skills": {"tv": 4}, "languages": ["en"], "capacity": {"chat": 2}}},
    )
    assert status == 200, saved
    status, saved = await admin.call(
        "PUT", "/api/admin/routing/queues/tv", {"value": {"target": {"skills": {"tv": 2}}}}
    )
    assert status == 200, saved
    rules = [
        {
            "name": "tv",
            "when": {"topic": "tv"},
            "steps": [{"queue": "tv", "timeout_seconds": 90}],
            "final": {"action": "overflow", "queue": "everyone"},
        },
        *saved["config"]["rules"],
    ]
    status, saved = await admin.call("PUT", "/api/admin/routing/rules", {"rules": rules})
    assert status == 200, saved
    assert saved["config"]["rules"][0]["name"] == "tv"

    status, audit = await admin.call("GET", "/api/admin/audit?limit=10")
    assert status == 200
    entries = audit["entries"]
    assert [e["action"] for e in entries[:4]] == [
        "rules.replace",
        "queues.add",
        "operators.add",
        "skills.add",
    ]
    assert entries[3]["actor"] == "alex" and entries[3]["detail"]["after"] == "TV boxes"
    assert entries[3]["detail"]["before"] is None

    status, listed = await admin.call("GET", "/api/admin/operators")
    assert status == 200
    alex = next(o for o in listed["operators"] if o["username"] == "alex")
    assert alex["profile"] is None and alex["capacity"]["chat"] == 3


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "needle"),
    [
        (
            "PUT",
            "/api/admin/routing/operators/ada",
            {"value": {"skills": {"cooking": 3}}},
            422,
            "operators.ada.skills.cooking: unknown skill 'cooking'",
        ),
        (
            "PUT",
            "/api/admin/routing/operators/ada",
            {"value": {"skills": {"billing": 9}}},
            422,
            "operators.ada.skills.billing",
        ),
        (
            "DELETE",
            "/api/admin/routing/queues/billing",
            None,
            422,
            "rules[0].steps[1].queue: unknown queue 'billing'",
        ),
        ("DELETE", "/api/admin/routing/queues/nope", None, 404, "no 'nope'"),
        ("PUT", "/api/admin/routing/rules", {"rules": []}, 422, "rules"),
        ("PUT", "/api/admin/routing/rules", {"rules": "all"}, 422, "must be a list"),
        ("PUT", "/api/admin/routing/widgets/x", {"value": {}}, 404, "sections"),
        ("PUT", "/api/admin/routing/skills/bad%20name", {"value": "x"}, 422, "name"),
        ("PUT", "/api/admin/routing/skills/ok", {"value": 5}, 422, "string"),
        ("PUT", "/api/admin/routing/skills/ok", {"value": "x", "version": 1}, 409, "version"),
        ("PUT", "/api/admin/routing/policy", {"policy": {"choice": "random"}}, 422, "choice"),
        ("POST", "/api/admin/routing/rollback", {"to_version": 999}, 404, "no version 999"),
    ],
)
async def test_bad_changes_are_refused_and_change_nothing(
    gateway: RunningGateway, method: str, path: str, body: Any, status: int, needle: str
) -> None:
    admin = await _admin(gateway)
    # A first change, so that version 1 is no longer the newest.
    assert (await admin.call("PUT", "/api/admin/routing/skills/tv", {"value": "TV"}))[0] == 200
    _, before = await admin.call("GET", "/api/admin/routing")
    _, audit_before = await admin.call("GET", "/api/admin/audit")
    got, answer = await admin.call(method, path, body)
    assert got == status, answer
    assert needle in json.dumps(answer)
    _, after = await admin.call("GET", "/api/admin/routing")
    assert after == before
    _, audit_after = await admin.call("GET", "/api/admin/audit")
    assert audit_after == audit_before


async def test_only_admins_may_change_routing(gateway: RunningGateway) -> None:
    supervisor = await _admin(gateway, Role.SUPERVISOR, "sam")
    status, answer = await supervisor.call("GET", "/api/admin/routing")
    assert status == 403 and answer["error"] == "forbidden"
    status, _ = await supervisor.call("PUT", "/api/admin/routing/skills/x", {"value": "x"})
    assert status == 403
    async with gateway.http.get(f"{gateway.base}/api/admin/routing") as resp:
        assert resp.status == 401


async def test_rollback_and_validate(gateway: RunningGateway) -> None:
    admin = await _admin(gateway)
    _, first = await admin.call("GET", "/api/admin/routing")
    await admin.call("PUT", "/api/admin/routing/skills/tv", {"value": "TV"})
    status, rolled = await admin.call(
        "POST", "/api/admin/routing/rollback", {"to_version": first["version"]}
    )
    assert status == 200
    assert rolled["version"] == first["version"] + 2
    assert rolled["config"] == first["config"]
    _, listed = await admin.call("GET", "/api/admin/routing/versions")
    assert [v["version"] for v in listed["versions"]][:3] == [
        first["version"] + 2,
        first["version"] + 1,
        first["version"],
    ]
    _, audit = await admin.call("GET", "/api/admin/audit?limit=1")
    assert audit["entries"][0]["action"] == "routing.rollback"
    assert audit["entries"][0]["detail"]["changed"] == ["skills"]

    status, checked = await admin.call(
        "POST", "/api/admin/routing/validate", {"config": {"queues": {}, "rules": []}}
    )
    assert status == 200 and not checked["ok"] and checked["problems"]
    status, checked = await admin.call(
        "POST", "/api/admin/routing/validate", {"config": first["config"]}
    )
    assert checked == {"ok": True, "problems": []}


async def test_a_profile_change_routes_the_next_contact(gateway: RunningGateway) -> None:
    """Grace has no billing skill in the demo rules; once an admin gives her one, billing
    contacts reach her without a restart."""
    admin = await _admin(gateway)
    grace = await gateway.operator("grace")
    customer = await gateway.customer()
    await customer.say("question about my invoice")

    async def routed_to_billing() -> bool:
        async with gateway.app[DATABASE].read() as conn:
            queue = (await conn.execute(select(conversations.c.queue))).scalar()
        return queue == "billing"

    await wait_for(routed_to_billing)
    # A barrier, not a pause: a later tech contact, which grace can take, is offered to her, so
    # the router has looked at the billing contact with grace available by then.
    other = await gateway.customer(topic="tech")
    await other.say("my router blinks red")
    await wait_for(lambda: grace.offers)
    assert [o["preview"] for o in grace.offers.values()] == ["my router blinks red"]
    # She takes it: one unanswered offer at a time, so the next one waits for her answer.
    (tech_offer,) = grace.offers.values()
    assert (await grace.act({"type": "accept", "offer_id": tech_offer["id"]}))["ok"]
    status, _ = await admin.call(
        "PUT",
        "/api/admin/routing/operators/grace",
        {"value": {"skills": {"tech": 5, "sales": 3, "billing": 2}, "languages": ["en"]}},
    )
    assert status == 200
    await wait_for(
        lambda: next(
            (o for o in grace.offers.values() if o["preview"] == "question about my invoice"),
            None,
        )
    )
