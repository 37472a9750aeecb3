"""The topics admin API against a real gateway: the topics file imported at start-up (once per
content), publish as YAML or JSON with compare-and-set on the version, dry runs, history and
rollback with audit entries, refusals that store nothing, and a change applied live on a
second instance."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestServer

from appeals.live import TOPICS
from appeals.topic_store import TopicsVersionConflict
from appeals.topics import TopicsConfigError
from gateway.app import create_app
from gateway.errors import Conflict
from gateway.keys import DATABASE, USERS
from gateway.model import Role
from gateway.settings import Settings
from tests.conftest import RunningGateway
from tests.support import make_settings, nothing_stored, postgres_database, wait_for

CONFIG = Path(__file__).resolve().parent.parent / "config"
TOPICS_PATH = "/api/admin/topics"


def _demo_topics() -> str:
    return (CONFIG / "topics.yaml").read_text(encoding="utf-8")


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    topics = tmp_path / "topics.yaml"
    if not topics.exists():
        shutil.copy(CONFIG / "topics.yaml", topics)
    return make_settings(
        tmp_path,
        routing={"rules_file": str(CONFIG / "routing.yaml")},
        appeals={"topics_file": str(topics)},
        **overrides,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return _settings(tmp_path)


class Client:
    def __init__(self, gateway: RunningGateway, token: str | None) -> None:
        self.gateway = gateway
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.gateway.http.request(
            method, f"{self.gateway.base}{path}", json=body, headers=self.headers
        ) as resp:
            return resp.status, await resp.json()


async def _client(gateway: RunningGateway, role: Role = Role.ADMIN, name: str = "alex") -> Client:
    users = gateway.app[USERS]
    user = await users.add(name, f"{name}-password", role, name.title())
    return Client(gateway, await users.create_api_token(user, "test"))


def _with_question_title(text: str, title: str) -> str:
    old = "title: {en: A question, ru: Вопрос}"
    assert old in text
    return text.replace(old, f"title: {{en: {title}, ru: Вопрос}}")


async def _audit(admin: Client) -> list[dict[str, Any]]:
    status, body = await admin.call("GET", "/api/admin/audit")
    assert status == 200
    return [e for e in body["entries"] if e["target"] == "topics"]


async def test_the_file_is_the_first_version_and_is_imported_once(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    admin = await _client(gateway)
    status, state = await admin.call("GET", TOPICS_PATH)
    assert status == 200
    assert (state["version"], state["source"]) == (1, "file")
    assert state["yaml"] == _demo_topics()  # as written, comments included
    assert [t["name"] for t in state["topics"]] == [
        "billing_dispute",
        "no_internet",
        "number_porting",
        "question",
    ]
    assert state["document"]["topics"]["billing_dispute"]["route"][1]["queue"] == "billing"

    live = gateway.app[TOPICS]
    await live.import_file()  # a restart with the same file: nothing new
    assert await live.store.latest_id() == 1
    (tmp_path / "topics.yaml").write_text(_with_question_title(_demo_topics(), "Ask us"))
    await live.import_file()  # the file changed: a new version
    assert await live.store.latest_id() == 2
    assert (await live.current()).topics["question"].title["en"] == "Ask us"

    # A change through the API is not undone by the next start-up with the same file.
    status, published = await admin.call(
        "PUT", TOPICS_PATH, {"yaml": _demo_topics(), "expected_version": 2}
    )
    assert status == 200 and published["version"] == 3
    await live.import_file()
    assert await live.store.latest_id() == 3
    entries = await _audit(admin)
    assert [e["action"] for e in entries] == ["topics.publish", "topics.import", "topics.import"]
    assert entries[-1]["actor"] == f"file:{tmp_path / 'topics.yaml'}"


async def test_publish_yaml_then_json_with_audit_and_history(gateway: RunningGateway) -> None:
    admin = await _client(gateway)
    text = _with_question_title(_demo_topics(), "Any question")
    status, state = await admin.call("PUT", TOPICS_PATH, {"yaml": text, "expected_version": 1})
    assert status == 200
    assert (state["version"], state["source"], state["yaml"]) == (2, "api", text)
    assert state["document"]["topics"]["question"]["title"]["en"] == "Any question"
    assert (await gateway.app[TOPICS].current()).topics["question"].title["en"] == "Any question"

    document = state["document"]
    del document["topics"]["number_porting"]
    status, state = await admin.call(
        "PUT", TOPICS_PATH, {"document": document, "expected_version": 2}
    )
    assert status == 200 and state["version"] == 3
    assert "number_porting" not in [t["name"] for t in state["topics"]]
    assert yaml.safe_load(state["yaml"]) == document  # a JSON document is kept as YAML too

    status, listed = await admin.call("GET", f"{TOPICS_PATH}/versions")
    assert status == 200
    assert [(v["version"], v["source"], v["author"]) for v in listed["versions"]] == [
        (3, "api", "alex"),
        (2, "api", "alex"),
        (1, "file", None),
    ]
    status, first = await admin.call("GET", f"{TOPICS_PATH}/versions/1")
    assert status == 200 and first["yaml"] == _demo_topics()
    assert "number_porting" in first["document"]["topics"]
    assert (await admin.call("GET", f"{TOPICS_PATH}/versions/99"))[0] == 404
    assert (await admin.call("GET", f"{TOPICS_PATH}/versions/x"))[0] == 404

    publish, removal = (await _audit(admin))[:2][::-1]
    assert (publish["action"], publish["actor"]) == ("topics.publish", "alex")
    assert publish["detail"] == {"changed": ["topics.question"], "version": 2, "previous": 1}
    assert removal["detail"]["changed"] == ["topics.number_porting"]


async def test_a_stale_version_is_refused_and_nothing_is_stored(gateway: RunningGateway) -> None:
    assert isinstance(TopicsVersionConflict(3), Conflict)
    admin = await _client(gateway)
    text = _with_question_title(_demo_topics(), "Mine")
    assert (await admin.call("PUT", TOPICS_PATH, {"yaml": text, "expected_version": 1}))[0] == 200
    async with nothing_stored(gateway.app[DATABASE]):
        status, body = await admin.call(
            "PUT", TOPICS_PATH, {"yaml": _demo_topics(), "expected_version": 1}
        )
        assert status == 409
        assert body["error"] == "version_conflict" and body["current"] == 2
        assert "version 2" in body["reason"]
        status, body = await admin.call(
            "POST", f"{TOPICS_PATH}/rollback", {"version": 1, "expected_version": 1}
        )
        assert status == 409 and body["current"] == 2


async def test_invalid_topics_get_every_problem_with_its_line_and_nothing_is_stored(
    gateway: RunningGateway,
) -> None:
    admin = await _client(gateway)
    text = _demo_topics()
    broken = text.replace("queue: billing,", "queue: bilIing,", 1).replace(
        "calendar: office", "calendar: ofice", 1
    )
    lines = broken.splitlines()
    queue_line = next(n for n, line in enumerate(lines, 1) if "bilIing" in line)
    calendar_line = next(n for n, line in enumerate(lines, 1) if "ofice" in line)
    async with nothing_stored(gateway.app[DATABASE]):
        status, body = await admin.call("PUT", TOPICS_PATH, {"yaml": broken})
        assert status == 422 and body["error"] == "invalid_topics" and body["ok"] is False
        assert [p["text"] for p in body["problems"]] == [
            f"topics.yaml: line {calendar_line}: topics.billing_dispute.calendar: unknown "
            "calendar 'ofice' (calendars: office, porting_desk)",
            f"topics.yaml: line {queue_line}: topics.billing_dispute.route[1].queue: unknown "
            "queue 'bilIing'",
        ]
        assert body["problems"][1] == {
            "line": queue_line,
            "key": "topics.billing_dispute.route[1].queue",
            "message": "unknown queue 'bilIing'",
            "text": body["problems"][1]["text"],
        }
        assert body["reason"].startswith("2 problems: topics.yaml: line")

        status, body = await admin.call("PUT", TOPICS_PATH, {"yaml": "topics: {a: [\n"})
        assert status == 422 and body["problems"][0]["line"] == 2
        assert "not valid YAML" in body["problems"][0]["message"]

        document = yaml.safe_load(text)
        document["topics"]["question"]["route"][0]["on_timeout"] = "escalate"
        status, body = await admin.call("PUT", TOPICS_PATH, {"document": document})
        assert status == 422
        assert [p["text"] for p in body["problems"]] == [
            "topics: topics.question.route[0].on_timeout: the last stage cannot escalate "
            "(no stage follows it): use warn or notify"
        ]

        for bad, reason in [
            ({"yaml": text, "document": document}, "either 'yaml'"),
            ({"expected_version": 1}, "either 'yaml'"),
            ({"yaml": 5}, "'yaml' must be"),
            ({"yaml": "#" * 300_000}, "longer than"),
            ({"yaml": text, "expected_version": "one"}, "expected_version"),
        ]:
            status, body = await admin.call("PUT", TOPICS_PATH, bad)
            assert status == 422 and reason in body["reason"], (bad.keys(), body)
    status, state = await admin.call("GET", TOPICS_PATH)
    assert state["version"] == 1


async def test_validate_is_a_dry_run(gateway: RunningGateway) -> None:
    admin = await _client(gateway)
    async with nothing_stored(gateway.app[DATABASE]):
        status, body = await admin.call("POST", f"{TOPICS_PATH}/validate", {"yaml": _demo_topics()})
        assert status == 200 and body["ok"] is True and body["problems"] == []
        assert len(body["topics"]) == 4
        broken = _demo_topics().replace("queue: porting,", "queue: port,")
        status, body = await admin.call("POST", f"{TOPICS_PATH}/validate", {"yaml": broken})
        assert status == 200 and body["ok"] is False
        assert [p["key"] for p in body["problems"]] == ["topics.number_porting.route[1].queue"]
        status, body = await admin.call("POST", f"{TOPICS_PATH}/validate", {})
        assert status == 422


async def test_rollback_is_a_new_version_checked_against_routing_in_force(
    gateway: RunningGateway,
) -> None:
    admin = await _client(gateway)
    text = _with_question_title(_demo_topics(), "Changed")
    assert (await admin.call("PUT", TOPICS_PATH, {"yaml": text}))[0] == 200
    status, state = await admin.call(
        "POST", f"{TOPICS_PATH}/rollback", {"version": 1, "expected_version": 2}
    )
    assert status == 200
    assert (state["version"], state["source"], state["yaml"]) == (3, "rollback", _demo_topics())
    assert (await gateway.app[TOPICS].current()).topics["question"].title["en"] == "A question"
    rollback = (await _audit(admin))[0]
    assert rollback["action"] == "topics.rollback"
    assert rollback["detail"] == {"to": 1, "version": 3, "previous": 2}
    assert (await admin.call("POST", f"{TOPICS_PATH}/rollback", {"version": 77}))[0] == 404
    assert (await admin.call("POST", f"{TOPICS_PATH}/rollback", {}))[0] == 422

    # Routing loses the porting queue: topics that use it may no longer go live.
    document = state["document"]
    del document["topics"]["number_porting"]
    assert (await admin.call("PUT", TOPICS_PATH, {"document": document}))[0] == 200
    status, _ = await admin.call("DELETE", "/api/admin/routing/queues/porting")
    assert status == 200
    async with nothing_stored(gateway.app[DATABASE]):
        status, body = await admin.call("POST", f"{TOPICS_PATH}/rollback", {"version": 1})
        assert status == 422
        assert any(
            p["key"] == "topics.number_porting.route[1].queue"
            and p["message"] == "unknown queue 'porting'"
            and p["line"] is not None
            for p in body["problems"]
        ), body
        status, body = await admin.call("PUT", TOPICS_PATH, {"yaml": _demo_topics()})
        assert status == 422


async def test_only_admins_may_read_or_change_topics(gateway: RunningGateway) -> None:
    operator = await _client(gateway, Role.OPERATOR, "olga")
    supervisor = await _client(gateway, Role.SUPERVISOR, "sam")
    nobody = Client(gateway, None)
    calls = [
        ("GET", TOPICS_PATH, None),
        ("PUT", TOPICS_PATH, {"yaml": _demo_topics()}),
        ("POST", f"{TOPICS_PATH}/validate", {"yaml": _demo_topics()}),
        ("GET", f"{TOPICS_PATH}/versions", None),
        ("GET", f"{TOPICS_PATH}/versions/1", None),
        ("POST", f"{TOPICS_PATH}/rollback", {"version": 1}),
    ]
    async with nothing_stored(gateway.app[DATABASE]):
        for method, path, body in calls:
            for client in (operator, supervisor):
                status, answer = await client.call(method, path, body)
                assert (status, answer["error"]) == (403, "forbidden"), (method, path)
            assert (await nobody.call(method, path, body))[0] == 401


async def test_without_a_topics_file_there_are_no_topics_until_published(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]], tmp_path: Path
) -> None:
    gateway = await start_gateway(make_settings(tmp_path))
    admin = await _client(gateway)
    status, state = await admin.call("GET", TOPICS_PATH)
    assert status == 200
    assert (state["version"], state["source"], state["topics"]) == (None, "default", [])
    # Without a rules file, routing has one queue (general): the demo topics name others.
    status, body = await admin.call("PUT", TOPICS_PATH, {"yaml": _demo_topics()})
    assert status == 422 and {p["message"] for p in body["problems"]} == {
        "unknown queue 'billing'",
        "unknown queue 'billing-experts'",
        "unknown queue 'tech'",
        "unknown queue 'porting'",
    }
    simple = "topics:\n  question:\n    title: {en: Q}\n    category: question\n    route:\n"
    simple += "      - {name: Desk, queue: general, max: 1h, may_resolve: true}\n"
    status, state = await admin.call("PUT", TOPICS_PATH, {"yaml": simple, "expected_version": None})
    assert status == 200 and state["version"] == 1 and state["yaml"] == simple


async def test_a_broken_topics_file_stops_the_start_up(tmp_path: Path) -> None:
    (tmp_path / "topics.yaml").write_text(_demo_topics().replace("queue: tech,", "queue: teh,"))
    server = TestServer(create_app(_settings(tmp_path)))
    try:
        with pytest.raises(TopicsConfigError) as err:
            await server.start_server()
    finally:
        await server.close()
    assert err.value.problems == [
        f"{tmp_path / 'topics.yaml'}: line "
        f"{next(n for n, s in enumerate(_demo_topics().splitlines(), 1) if 'queue: tech,' in s)}"
        ": topics.no_internet.route[1].queue: unknown queue 'teh'"
    ]


async def test_a_change_is_applied_on_another_instance_without_restart(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]], tmp_path: Path
) -> None:
    databases = postgres_database()
    url = await databases.__anext__()
    try:
        first = _settings(tmp_path, database={"url": url})
        second = first.model_copy(update={"instance_name": "second"})
        a = await start_gateway(first)
        b = await start_gateway(second)  # the same file: not imported twice
        assert await b.app[TOPICS].store.latest_id() == 1
        on_b = b.app[TOPICS]
        assert (await on_b.current()).topics["question"].title["en"] == "A question"

        admin = await _client(a)
        text = _with_question_title(_demo_topics(), "Asked on A")
        assert (await admin.call("PUT", TOPICS_PATH, {"yaml": text, "expected_version": 1}))[
            0
        ] == 200

        async def applied() -> bool:
            return (await on_b.current()).topics["question"].title["en"] == "Asked on A"

        await wait_for(applied)
        assert on_b.version == 2 and on_b.stored is not None and on_b.stored.source_text == text
        reader = Client(b, await b.app[USERS].create_api_token(await _user(b, "alex"), "b"))
        status, state = await reader.call("GET", TOPICS_PATH)
        assert status == 200 and state["version"] == 2 and state["yaml"] == text
        await a.server.close()
        await b.server.close()
    finally:
        await databases.aclose()


async def _user(gateway: RunningGateway, username: str) -> Any:
    return next(u for u in await gateway.app[USERS].list() if u.username == username)
