"""The IVR admin API: read menus with their diagram, validate with line numbers, publish (live
at once, refused on conflicts and id mismatches), roll back, the audit log, the simulator
walking through the demo menu in and out of office hours, and who may do any of it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.keys import USERS
from gateway.menus.ivr_menus import LIVE_MENUS
from gateway.model import Role
from gateway.settings import Settings
from tests.conftest import RunningGateway
from tests.support import make_settings

CONFIG = Path(__file__).parent.parent / "config"
MAIN = (CONFIG / "ivr" / "main.yaml").read_text(encoding="utf-8")
OPEN = "2026-03-04T10:00:00-05:00"  # a Wednesday morning in New York
NIGHT = "2026-03-04T22:30:00-05:00"
CHRISTMAS = "2026-12-25T10:00:00-05:00"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        ivr={"directory": str(CONFIG / "ivr")},
        routing={"rules_file": str(CONFIG / "routing.yaml")},
    )


class Client:
    def __init__(self, gateway: RunningGateway, token: str | None) -> None:
        self.gateway = gateway
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.gateway.http.request(
            method, f"{self.gateway.base}{path}", json=body, headers=self.headers
        ) as resp:
            return resp.status, await resp.json()

    async def sim(self, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = await self.call("POST", "/api/admin/ivr/menus/main/simulate", body)
        assert status == 200, answer
        return answer  # type: ignore[no-any-return]


async def _client(gateway: RunningGateway, role: Role = Role.ADMIN, name: str = "alex") -> Client:
    users = gateway.app[USERS]
    user = await users.add(name, f"{name}-password", role, name.title())
    return Client(gateway, await users.create_api_token(user, "test"))


def _line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` that contains ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _edited(old: str, new: str, text: str = MAIN) -> str:
    assert old in text
    return text.replace(old, new, 1)


async def test_menus_are_listed_and_read_with_their_diagram(gateway: RunningGateway) -> None:
    admin = await _client(gateway)
    status, listed = await admin.call("GET", "/api/admin/ivr/menus")
    assert status == 200, listed
    (main,) = listed["menus"]
    assert main["id"] == "main" and main["languages"] == ["en", "es"]
    assert main["description"] == "Demo Telecom, main customer line"
    assert main["nodes"] == 18 and main["version"]["source"] == "file"

    status, menu = await admin.call("GET", "/api/admin/ivr/menus/main")
    assert status == 200, menu
    assert menu["version"]["source_text"] == MAIN
    assert menu["version"]["id"] == main["version"]["id"] and menu["start"] == "office-hours"
    graph = menu["graph"]
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["main"]["kind"] == "menu" and nodes["main"]["label"] == "How can we help you?"
    assert nodes["main"]["line"] == _line_of(MAIN, "  main:")
    assert nodes["order-lookup"]["label"].startswith("GET https://orders.demo-telecom")
    # Columns from the start; every arrow points forward except the language switches.
    assert [nodes[n]["layer"] for n in ("office-hours", "welcome", "main", "sales")] == [0, 1, 2, 3]
    assert nodes["voicemail"]["layer"] > nodes["closed"]["layer"]
    edges = {(e["from"], e["to"], e["label"]) for e in graph["edges"]}
    assert {
        ("office-hours", "welcome", "open"),
        ("office-hours", "closed", "closed"),
        ("office-hours", "holiday", "holiday"),
        ("main", "sales", "1 Sales"),
        ("main", "to-spanish", "9 Español"),
        ("main", "operator", "exhausted"),  # the menu's fallback
        ("order-number", "support", "exhausted"),
        ("order-lookup", "order-status", "found"),
        ("order-lookup", "order-unknown", "failed"),
        ("main", "check-appeal", "5 Check an appeal"),
        ("check-appeal", "main", "found"),
        ("check-appeal", "operator", "failed"),
    } <= edges
    assert nodes["check-appeal"]["label"] == "appeal status by number into appeal_reference"
    back = {(e["from"], e["to"]) for e in graph["edges"] if e["back"]}
    assert back == {("to-spanish", "main"), ("to-english", "main"), ("check-appeal", "main")}
    for edge in graph["edges"]:
        assert edge["to"] in nodes and not (edge["implicit"] and edge["label"] != "exhausted")

    status, history = await admin.call("GET", "/api/admin/ivr/menus/main/versions")
    assert status == 200 and [v["id"] for v in history["versions"]] == [menu["version"]["id"]]
    first = history["versions"][0]["id"]
    status, one = await admin.call("GET", f"/api/admin/ivr/menus/main/versions/{first}")
    assert status == 200 and one["source_text"] == MAIN and one["menu_id"] == "main"

    for path, code in [
        ("/api/admin/ivr/menus/nope", 404),
        ("/api/admin/ivr/menus/nope/versions", 404),
        (f"/api/admin/ivr/menus/nope/versions/{first}", 404),
        ("/api/admin/ivr/menus/main/versions/999999", 404),
        ("/api/admin/ivr/menus/main/versions/abc", 404),
        ("/api/admin/ivr/menus/main/versions/%C2%B2", 404),  # '²' is a digit to isdigit()
    ]:
        status, answer = await admin.call("GET", path)
        assert status == code, (path, answer)
        assert answer["reason"]


async def test_validate_reports_every_problem_with_its_line(gateway: RunningGateway) -> None:
    admin = await _client(gateway)
    broken = _edited("        next: billing\n", "        next: bilings\n")
    broken = _edited("    on_exhausted: support ", "    on_exhausted: suport ", broken)
    status, answer = await admin.call("POST", "/api/admin/ivr/validate", {"source_text": broken})
    assert status == 422 and answer["ok"] is False, answer
    found = {(p["node"], p["line"]) for p in answer["problems"]}
    assert ("main", _line_of(broken, "next: bilings")) in found
    assert ("order-number", _line_of(broken, "on_exhausted: suport")) in found
    assert any("unknown node 'bilings'" in p["message"] for p in answer["problems"])
    assert all(set(p) == {"file", "node", "line", "message"} for p in answer["problems"])

    not_yaml = "id: main\nnodes: [\n"
    status, answer = await admin.call("POST", "/api/admin/ivr/validate", {"source_text": not_yaml})
    assert status == 422 and answer["problems"][0]["message"].startswith("not valid YAML")

    # A queue routing does not know is refused too: menus are checked against routing.
    unknown_queue = _edited("    queue: sales\n", "    queue: salez\n")
    status, answer = await admin.call(
        "POST", "/api/admin/ivr/validate", {"source_text": unknown_queue}
    )
    assert status == 422
    assert answer["problems"][0]["line"] == _line_of(unknown_queue, "queue: salez")

    status, answer = await admin.call("POST", "/api/admin/ivr/validate", {"source_text": MAIN})
    assert status == 200 and answer["ok"] is True and answer["menu_id"] == "main", answer
    assert len(answer["version"]) == 16 and len(answer["graph"]["nodes"]) == 18

    for body in ({}, {"source_text": 5}, {"source_text": "x" * (256 * 1024 + 1)}):
        status, answer = await admin.call("POST", "/api/admin/ivr/validate", body)
        assert status == 422 and answer["error"] in ("bad_field", "too_long"), answer
    async with gateway.http.post(
        f"{gateway.base}/api/admin/ivr/validate", data=b"{not json", headers=admin.headers
    ) as resp:
        assert resp.status == 400


async def test_publish_is_live_at_once_and_refuses_conflicts(gateway: RunningGateway) -> None:
    admin = await _client(gateway)
    _, menu = await admin.call("GET", "/api/admin/ivr/menus/main")
    first = menu["version"]["id"]
    changed = _edited("Thank you for calling Demo Telecom.", "Welcome to Demo Telecom!")

    status, published = await admin.call(
        "PUT", "/api/admin/ivr/menus/main", {"source_text": changed, "expected_version": first}
    )
    assert status == 201, published
    assert published["id"] > first and published["source"] == "api"
    status, menu = await admin.call("GET", "/api/admin/ivr/menus/main")
    assert menu["version"]["id"] == published["id"] and menu["version"]["source_text"] == changed
    live = await gateway.app[LIVE_MENUS].get("main")  # what the channels play
    assert live.stored.id == published["id"]
    call = await admin.sim({"at": OPEN})
    assert call["heard"][0] == "say: Welcome to Demo Telecom!"

    # Someone else's change came in between: 409 with the version now in force.
    status, answer = await admin.call(
        "PUT", "/api/admin/ivr/menus/main", {"source_text": MAIN, "expected_version": first}
    )
    assert status == 409 and answer["error"] == "version_conflict", answer
    assert answer["current"] == published["id"]

    # A problem, or another menu's id: 422, and nothing is stored.
    broken = _edited("start: office-hours\n", "start: offise-hours\n", changed)
    status, answer = await admin.call("PUT", "/api/admin/ivr/menus/main", {"source_text": broken})
    assert status == 422 and answer["problems"], answer
    renamed = _edited("id: main\n", "id: second\n", changed)
    status, answer = await admin.call("PUT", "/api/admin/ivr/menus/main", {"source_text": renamed})
    assert status == 422 and answer["error"] == "id_mismatch", answer
    assert answer["problems"][0]["line"] == _line_of(renamed, "id: second")
    for body in ({"source_text": changed, "expected_version": "1"}, {"expected_version": 1}):
        status, answer = await admin.call("PUT", "/api/admin/ivr/menus/main", body)
        assert status == 422 and answer["error"] == "bad_field", answer
    _, history = await admin.call("GET", "/api/admin/ivr/menus/main/versions")
    assert [v["id"] for v in history["versions"]] == [published["id"], first]
    assert history["versions"][0]["author"] == "alex"

    # PUT under a new id adds a menu.
    status, added = await admin.call("PUT", "/api/admin/ivr/menus/second", {"source_text": renamed})
    assert status == 201 and added["menu_id"] == "second", added
    _, listed = await admin.call("GET", "/api/admin/ivr/menus")
    assert [m["id"] for m in listed["menus"]] == ["main", "second"]


async def test_rollback_publishes_the_old_text_and_everything_is_audited(
    gateway: RunningGateway,
) -> None:
    admin = await _client(gateway)
    _, menu = await admin.call("GET", "/api/admin/ivr/menus/main")
    first = menu["version"]["id"]
    changed = _edited("Thank you for calling Demo Telecom.", "Hello from the new menu.")
    status, published = await admin.call(
        "PUT", "/api/admin/ivr/menus/main", {"source_text": changed}
    )
    assert status == 201

    status, rolled = await admin.call(
        "POST", "/api/admin/ivr/menus/main/rollback", {"version_id": first}
    )
    assert status == 200, rolled
    assert rolled["source"] == "rollback" and rolled["id"] > published["id"]
    _, menu = await admin.call("GET", "/api/admin/ivr/menus/main")
    assert menu["version"]["source_text"] == MAIN
    assert (await admin.sim({"at": OPEN}))["heard"][0] == "say: Thank you for calling Demo Telecom."
    _, history = await admin.call("GET", "/api/admin/ivr/menus/main/versions")
    assert [v["source"] for v in history["versions"]] == ["rollback", "api", "file"]

    for body, code in [
        ({"version_id": 999999}, 404),
        ({"version_id": "1"}, 422),
        ({}, 422),
        ({"version_id": True}, 422),
    ]:
        status, answer = await admin.call("POST", "/api/admin/ivr/menus/main/rollback", body)
        assert status == code, (body, answer)
    status, _ = await admin.call(
        "POST", "/api/admin/ivr/menus/other/rollback", {"version_id": first}
    )
    assert status == 404  # a version of another menu

    _, audit = await admin.call("GET", "/api/admin/audit")
    ivr = [e for e in audit["entries"] if e["target"] == "ivr/main"]
    assert [(e["action"], e["actor"]) for e in ivr[:2]] == [
        ("ivr.rollback", "alex"),
        ("ivr.publish", "alex"),
    ]
    assert ivr[0]["detail"]["to"] == first and ivr[0]["detail"]["id"] == rolled["id"]


async def test_simulating_a_call_in_office_hours(gateway: RunningGateway) -> None:
    admin = await _client(gateway)
    call = await admin.sim({"at": OPEN, "attributes": {"caller": "+15557654321"}})
    assert call["node"] == "main" and call["kind"] == "menu" and call["waiting"] == "answer"
    assert call["heard"] == [
        "say: Thank you for calling Demo Telecom.",
        "say: For sales, press 1. For help with an order, press 2. For billing, press 3. "
        "To leave us a message, press 4. To check an appeal you registered with us, press 5. "
        "To speak with an operator, press 0.",
        "say (es): Para español, oprima 9.",
        "ask: menu (keys 1,2,3,4,5,0,9)",
    ]
    assert call["text"].endswith(
        "Reply 1 for Sales, 2 for Order support, 3 for Billing, 4 for Leave a message, "
        "5 for Check an appeal, 0 for Operator or 9 for Español."
    )
    assert call["buttons"][0] == {"label": "Sales", "value": "1"}
    assert call["attributes"]["caller"] == "+15557654321" and call["at"] == OPEN

    # 9: Spanish; then the caller says "pedido" (order) and gets the order-number question.
    call = await admin.sim({"at": OPEN, "state": call["state"], "event": {"digits": "9"}})
    assert call["language"] == "es" and call["node"] == "main"
    assert call["heard"][0].startswith("say: Para ventas, oprima 1.")
    call = await admin.sim({"at": OPEN, "state": call["state"], "event": {"text": "un pedido"}})
    assert call["node"] == "order-number" and call["waiting"] == "digits"
    assert call["ask"]["min_digits"] == 6 and call["ask"]["finish_on_key"] == "#"
    assert call["heard"][-1] == "ask: 6-8 digits, end with #"
    # Too short: said so, asked again.
    call = await admin.sim({"at": OPEN, "state": call["state"], "event": {"digits": "12#"}})
    assert call["heard"][0] == "say: Lo siento, ese no es un número de pedido."
    assert call["node"] == "order-number"
    # A good number: the gateway would look it up now; the simulator waits for the admin.
    call = await admin.sim({"at": OPEN, "state": call["state"], "event": {"digits": "1234567#"}})
    assert call["waiting"] == "lookup" and call["node"] == "order-lookup"
    assert call["heard"] == [
        "lookup GET https://orders.demo-telecom.example/api/orders/1234567/status"
    ]
    assert call["lookup"]["fields"] == ["status"]
    waiting = call["state"]
    answer = {"lookup": {"ok": True, "data": {"status": "en camino"}}}
    found = await admin.sim({"at": OPEN, "state": waiting, "event": answer})
    assert found["done"] and found["node"] == "support" and found["waiting"] is None
    assert (
        found["heard"][0]
        == "say: El pedido 1234567 tiene el estado: en camino. Un agente le ayudará."
    )
    assert found["heard"][-1].startswith("enqueue {")
    assert found["routing"]["skills"] == ["tech"] and found["routing"]["priority"] == 5
    assert found["routing"]["attributes"]["topic"] == "tech"
    assert found["routing"]["attributes"]["language"] == "es"
    assert found["text"].startswith("El pedido 1234567")

    failed = await admin.sim({"at": OPEN, "state": waiting, "event": {"lookup": {"ok": False}}})
    assert failed["heard"][0].startswith("say: En este momento no podemos consultar")
    assert failed["node"] == "support" and "failed" in failed["note"]

    # Silence three times at the main menu: the menu's fallback, the operator queue.
    call = await admin.sim({"at": OPEN})
    for _ in range(3):
        call = await admin.sim({"at": OPEN, "state": call["state"], "event": {"timeout": True}})
    assert call["heard"][0] == "say: Sorry, we did not get an answer."
    assert call["node"] == "operator" and call["routing"]["queue"] == "everyone"

    # With a state and no event: the question again.
    again = await admin.sim({"at": OPEN, "state": waiting})
    assert again["node"] == "order-lookup"
    assert again["heard"] == [
        "lookup GET https://orders.demo-telecom.example/api/orders/1234567/status"
    ]


async def test_simulating_a_call_out_of_hours_and_on_a_holiday(gateway: RunningGateway) -> None:
    admin = await _client(gateway)
    call = await admin.sim({"at": NIGHT})
    assert call["heard"][0].startswith("say: Our office is closed. We are open Monday to Friday")
    assert call["node"] == "voicemail" and call["waiting"] == "recording"
    assert call["heard"][-1] == "record (up to 120 s)"
    done = await admin.sim(
        {
            "at": NIGHT,
            "state": call["state"],
            "event": {
                "recording": {
                    "url": "https://recordings.example/r1.mp3",
                    "duration_seconds": 14.6,
                    "transcription": "Please call me back",
                }
            },
        }
    )
    assert done["done"] and done["node"] == "thanks"
    assert done["heard"] == [
        "say: Thank you. We will get back to you as soon as we can. Goodbye.",
        "hangup",
    ]
    assert done["attributes"]["voicemail_seconds"] == "15"
    assert done["attributes"]["voicemail_transcription"] == "Please call me back"

    holiday = await admin.sim({"at": CHRISTMAS, "attributes": {"language": "es"}})
    assert holiday["heard"][0] == "say: Hoy nuestra oficina está cerrada por día festivo."
    # Without "at" the clock is now: some answer, whatever the hour.
    now = await admin.sim({})
    assert now["node"] in ("main", "voicemail")


async def test_simulating_a_draft_leaves_the_menu_in_force_alone(gateway: RunningGateway) -> None:
    admin = await _client(gateway)
    draft = _edited("Thank you for calling Demo Telecom.", "Draft greeting.")
    call = await admin.sim({"at": OPEN, "source_text": draft})
    assert call["heard"][0] == "say: Draft greeting."
    call = await admin.sim(
        {"at": OPEN, "source_text": draft, "state": call["state"], "event": {"digits": "3"}}
    )
    assert call["node"] == "billing" and call["done"]
    assert (await admin.sim({"at": OPEN}))["heard"][0] == "say: Thank you for calling Demo Telecom."
    _, history = await admin.call("GET", "/api/admin/ivr/menus/main/versions")
    assert len(history["versions"]) == 1

    broken = _edited("    next: main\n", "    next: mian\n", draft)
    status, answer = await admin.call(
        "POST", "/api/admin/ivr/menus/main/simulate", {"source_text": broken}
    )
    assert status == 422 and answer["problems"][0]["line"] == _line_of(broken, "next: mian")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"event": {"digits": "1"}}, "start the call first"),
        ({"state": "MENU", "event": {"digits": "1"}}, "not a session state"),
        ({"state": 5}, "must be the state text"),
        ({"state": "[" * 5000 + "]" * 5000}, "not a session state"),
        ({"state": "@main", "event": {"digits": "1a"}}, "'digits' are 1 to 64"),
        ({"state": "@main", "event": {"digits": ""}}, "'digits' are 1 to 64"),
        ({"state": "@main", "event": {"dance": True}}, "unknown event 'dance'"),
        ({"state": "@main", "event": {}}, "'event' is one of"),
        ({"state": "@main", "event": {"digits": "1", "text": "x"}}, "'event' is one of"),
        ({"state": "@main", "event": {"text": "  "}}, "non-empty text"),
        ({"state": "@main", "event": {"timeout": False}}, "must be true"),
        ({"state": "@main", "event": {"lookup": {"ok": True}}}, "waits at menu 'main'"),
        ({"state": "@main", "event": {"lookup": {"ok": "yes"}}}, "'lookup' is"),
        ({"state": "@main", "event": {"lookup": {"ok": True, "data": [1]}}}, "JSON object"),
        (
            {"state": "@main", "event": {"recording": {"url": "ftp://x", "duration_seconds": 1}}},
            "http(s) URL",
        ),
        (
            {
                "state": "@main",
                "event": {"recording": {"url": "https://x", "duration_seconds": -1}},
            },
            "number of seconds",
        ),
        (
            {
                "state": "@main",
                "event": {"recording": {"url": "https://x", "duration_seconds": float("inf")}},
            },
            "number of seconds",
        ),
        ({"state": "@main", "attributes": {"caller": "x"}}, "when a call starts"),
        ({"state": "@other"}, "belongs to menu 'other'"),
        ({"state": "@done", "event": {"digits": "1"}}, "the call is over"),
        ({"at": "2026-03-04T10:00:00"}, "needs a time zone"),
        ({"at": "tomorrow"}, "not an ISO date"),
        ({"attributes": {"Caller": "x"}}, "attribute names"),
        ({"attributes": {"caller": 5}}, "attribute names"),
        ({"source_text": 5}, "'source_text' must be YAML"),
    ],
)
async def test_bad_simulator_input_is_a_clear_422(
    gateway: RunningGateway, body: dict[str, Any], reason: str
) -> None:
    admin = await _client(gateway)
    started = await admin.sim({"at": OPEN})
    states = {
        "@main": started["state"],
        "@other": json.dumps({**json.loads(started["state"]), "menu_id": "other"}),
        "@done": (
            await admin.sim({"at": OPEN, "state": started["state"], "event": {"digits": "1"}})
        )["state"],
    }
    if isinstance(body.get("state"), str) and body["state"].startswith("@"):
        body = {**body, "state": states[body["state"]]}
    status, answer = await admin.call("POST", "/api/admin/ivr/menus/main/simulate", body)
    assert status == 422, answer
    assert reason in answer["reason"], answer


async def test_only_admins_may_use_the_ivr_admin(gateway: RunningGateway) -> None:
    admin = await _client(gateway)
    _, menu = await admin.call("GET", "/api/admin/ivr/menus/main")
    first = menu["version"]["id"]
    calls: list[tuple[str, str, Any]] = [
        ("GET", "/api/admin/ivr/menus", None),
        ("GET", "/api/admin/ivr/menus/main", None),
        ("GET", "/api/admin/ivr/menus/main/versions", None),
        ("GET", f"/api/admin/ivr/menus/main/versions/{first}", None),
        ("POST", "/api/admin/ivr/validate", {"source_text": MAIN}),
        ("PUT", "/api/admin/ivr/menus/main", {"source_text": MAIN}),
        ("POST", "/api/admin/ivr/menus/main/rollback", {"version_id": first}),
        ("POST", "/api/admin/ivr/menus/main/simulate", {"at": OPEN}),
    ]
    anonymous = Client(gateway, None)
    operator = await _client(gateway, Role.OPERATOR, "olga")
    supervisor = await _client(gateway, Role.SUPERVISOR, "sam")
    for method, path, body in calls:
        status, answer = await anonymous.call(method, path, body)
        assert status == 401 and answer["error"] == "unauthenticated", (path, answer)
        for who in (operator, supervisor):
            status, answer = await who.call(method, path, body)
            assert status == 403 and answer["error"] == "forbidden", (path, answer)
    _, history = await admin.call("GET", "/api/admin/ivr/menus/main/versions")
    assert len(history["versions"]) == 1  # nothing was published or rolled back

    # A browser session must send its CSRF token with a change.
    url = f"{gateway.base}/api/admin/ivr/menus/main"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.post(
            f"{gateway.base}/api/login", json={"username": "alex", "password": "alex-password"}
        ) as resp:
            csrf = (await resp.json())["csrf_token"]
        async with browser.put(url, json={"source_text": MAIN}) as resp:
            assert resp.status == 403 and (await resp.json())["error"] == "csrf"
        async with browser.put(
            url, json={"source_text": MAIN}, headers={"X-CSRF-Token": csrf}
        ) as resp:
            assert resp.status == 201

    async with gateway.http.get(f"{gateway.base}/admin/ivr") as resp:
        assert resp.status == 200
        assert "script-src" not in resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        page = await resp.text()
    assert '<script src="/static/ivr.js" defer></script>' in page
    assert "<script>" not in page and not re.search(r"\son[a-z]+=", page)  # no inline code
