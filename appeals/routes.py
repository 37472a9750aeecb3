"""The appeals HTTP API for operators, supervisors and integrators (docs/appeals.md).

Thin: parse, authorize, call the store with the topic's plan, answer. Who may see an appeal:
supervisors and admins every one; an operator those they own, those waiting in a queue they
work in, those gathered from a conversation they serve, and those they worked on before;
anything else is 404, exactly like an unknown id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from aiohttp import web
from sqlalchemy import select

from appeals.dispatch import at_capacity_reason
from appeals.fields import validate_fields
from appeals.live import TOPICS
from appeals.model import Action, Priority
from appeals.numbers import parse_reference
from appeals.offer_store import OfferStore
from appeals.store import APPEAL_STORE, MAX_NOTE_CHARS, Actor, Appeal, AppealChanged
from appeals.topics import Topic, TopicsConfig
from appeals.views import OPEN, appeal_json, plan_of, topic_json, urgency
from gateway.auth import Principal, require
from gateway.errors import Refused
from gateway.http import body_id, fail, json_body, optional_body_id, path_id, query_id
from gateway.keys import CHANNELS, CONVERSATIONS, DATABASE, RELAY, USERS
from gateway.model import Role, utcnow
from gateway.storage.schema import customers, identities
from gateway.storage.users import User
from routing.config import queue_admits
from routing.live import LIVE_ROUTING

MAX_SUMMARY = 500
MAX_KEY = 200


def _refuse(exc: Refused) -> NoReturn:
    problems = getattr(exc, "problems", None)
    if problems:
        raise web.HTTPUnprocessableEntity(
            text=web.json_response(
                {"error": exc.code, "reason": exc.reason, "problems": problems}
            ).text,
            content_type="application/json",
        )
    fail(exc.status, exc.code, exc.reason)


Handler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


def endpoint(handler: Handler, role: Role = Role.OPERATOR) -> Callable[..., Any]:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        principal = await require(request, role)
        try:
            return await handler(request, principal)
        except AppealChanged as exc:
            fail(409, "version_conflict", str(exc))
        except Refused as exc:
            _refuse(exc)

    return wrapped


def actor_of(principal: Principal) -> Actor:
    user = principal.user
    name = user.username if principal.via == "session" else f"api:{user.username}"
    return Actor(user.id, name, "api" if principal.via == "token" else "console")


def _supervises(user: User) -> bool:
    return user.role.at_least(Role.SUPERVISOR)


async def queues_of(app: web.Application, user: User) -> list[str]:
    """The queues an operator works in, by the routing configuration in force."""
    config = await app[LIVE_ROUTING].current()
    profile = config.operators.get(user.username)
    skills = profile.skills if profile else {}
    languages = profile.languages if profile else ()
    return [name for name, q in config.queues.items() if queue_admits(q, skills, languages)]


async def _config(app: web.Application) -> TopicsConfig:
    return await app[TOPICS].current()


def _topic(config: TopicsConfig, name: str) -> Topic:
    topic = config.topic(name)
    if topic is None:
        raise Refused(422, "unknown_topic", f"there is no topic {name!r}")
    return topic


async def names_of(
    app: web.Application, appeals: list[Appeal]
) -> tuple[dict[int, str], dict[int, str]]:
    """(user id -> display name, customer id -> display name) for showing ``appeals``."""
    users = {u.id: u.display_name for u in await app[USERS].list()}
    ids = {a.customer_id for a in appeals}
    found: dict[int, str] = {}
    if ids:
        async with app[DATABASE].read() as conn:
            rows = (
                await conn.execute(
                    select(customers.c.id, customers.c.display_name).where(customers.c.id.in_(ids))
                )
            ).all()
        found = {r.id: r.display_name or f"Customer {r.id}" for r in rows}
    return users, found


async def _present(
    app: web.Application, appeals: list[Appeal], config: TopicsConfig
) -> list[dict[str, Any]]:
    users, names = await names_of(app, appeals)
    now = utcnow()
    out = []
    for appeal in appeals:
        topic = config.topic(appeal.topic)
        plan = plan_of(config, topic, appeal.topic) if topic is not None else None
        out.append(appeal_json(appeal, topic, plan, now, users, names))
    return out


async def _sees(app: web.Application, user: User, appeal: Appeal) -> bool:
    return await app[APPEAL_STORE].visible(appeal, user.id, await queues_of(app, user))


async def visible_appeal(request: web.Request, principal: Principal) -> Appeal:
    store = request.app[APPEAL_STORE]
    appeal = await store.get(path_id(request))
    if appeal is not None and (
        _supervises(principal.user)
        or await store.visible(
            appeal, principal.user.id, await queues_of(request.app, principal.user)
        )
    ):
        return appeal
    fail(404, "not_found", "no appeal of yours with this id")


# -- topics for operators --------------------------------------------------------------------


async def list_topics(request: web.Request, _principal: Principal) -> web.Response:
    config = await _config(request.app)
    language = request.query.get("language", "en")
    return web.json_response(
        {
            "topics": [topic_json(n, t, language) for n, t in config.topics.items()],
            "dispositions": [
                {"code": code, "label": labels.get(language) or labels.get("en") or code}
                for code, labels in config.settings.dispositions.items()
            ],
        }
    )


# -- registering -------------------------------------------------------------------------------


def _text(data: dict[str, Any], name: str, limit: int, default: str = "") -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        fail(422, "bad_field", f"'{name}' must be a string")
    value = value.strip()
    if len(value) > limit:
        fail(422, "bad_field", f"'{name}' must be at most {limit} characters")
    return value


def _priority(data: dict[str, Any], default: Priority | None) -> Priority | None:
    value = data.get("priority")
    if value is None:
        return default
    try:
        return Priority(value)
    except ValueError:
        fail(422, "bad_field", f"'priority' must be one of: {', '.join(p.value for p in Priority)}")


async def _customer_of(request: web.Request, data: dict[str, Any]) -> int:
    """The customer an integrator names, by id or by one of their addresses."""
    customer_id = optional_body_id(data, "customer_id")
    async with request.app[DATABASE].read() as conn:
        if customer_id is not None:
            found = (
                await conn.execute(select(customers.c.id).where(customers.c.id == customer_id))
            ).first()
            if found is None:
                fail(422, "unknown_customer", "there is no customer with this id")
            return customer_id
        channel, address = data.get("channel"), data.get("address")
        if not isinstance(channel, str) or not isinstance(address, str):
            fail(
                422,
                "bad_field",
                "give 'conversation_id', 'customer_id', or 'channel' and 'address'",
            )
        row = (
            await conn.execute(
                select(identities.c.customer_id).where(
                    identities.c.channel == channel, identities.c.address == address
                )
            )
        ).first()
    if row is None:
        fail(422, "unknown_customer", f"no customer has the {channel} address {address!r}")
    return int(row.customer_id)


async def create_appeal(request: web.Request, principal: Principal) -> web.Response:
    data = await json_body(request)
    app = request.app
    config = await _config(app)
    topic_name = data.get("topic")
    if not isinstance(topic_name, str):
        fail(422, "bad_field", "'topic' must name a topic")
    topic = _topic(config, topic_name)
    key = data.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_KEY):
        fail(422, "bad_field", f"'idempotency_key' must be a string of 1 to {MAX_KEY} characters")
    if principal.via == "token" and key is None and data.get("conversation_id") is None:
        # A conversation opens one appeal at most; anything else needs the client's own key,
        # so that a retried request registers nothing twice.
        fail(422, "bad_field", "an API client must send an 'idempotency_key'")
    raw_fields = data.get("fields", {})
    if not isinstance(raw_fields, dict):
        fail(422, "bad_field", "'fields' must be an object")
    priority = _priority(data, topic.priority) or topic.priority
    summary = _text(data, "summary", MAX_SUMMARY)
    conversation_id = optional_body_id(data, "conversation_id")
    language = "en"
    channel: str | None = "api" if principal.via == "token" else None
    if conversation_id is not None:
        conversation = await app[CONVERSATIONS].get(conversation_id)
        if conversation is None or not (
            conversation.operator_id == principal.user.id or _supervises(principal.user)
        ):
            fail(404, "not_found", "no conversation of yours with this id")
        customer_id = conversation.customer_id
        channel = conversation.channel
        language = await _language_of(request, conversation_id)
    else:
        if not _supervises(principal.user):
            fail(403, "forbidden", "operators open appeals from a conversation they serve")
        customer_id = await _customer_of(request, data)
        language = _text(data, "language", 8, "en") or "en"
    values = validate_fields(topic.fields, raw_fields)
    appeal, created = await app[APPEAL_STORE].create(
        plan=plan_of(config, topic, topic_name),
        customer_id=customer_id,
        priority=priority,
        fields=values,
        summary=summary,
        language=language,
        channel=channel,
        conversation_id=conversation_id,
        idempotency_key=key,
        actor=actor_of(principal),
        now=utcnow(),
    )
    if created:
        app[RELAY].nudge()
    [body] = await _present(app, [appeal], config)
    return web.json_response({"appeal": body, "created": created}, status=201 if created else 200)


async def _language_of(request: web.Request, conversation_id: int) -> str:
    from gateway.storage.schema import conversations

    async with request.app[DATABASE].read() as conn:
        attributes = (
            await conn.execute(
                select(conversations.c.attributes).where(conversations.c.id == conversation_id)
            )
        ).scalar()
    language = (attributes or {}).get("language") if isinstance(attributes, dict) else None
    return language if isinstance(language, str) and language else "en"


# -- reading -----------------------------------------------------------------------------------


async def list_appeals(request: web.Request, principal: Principal) -> web.Response:
    app, user, query = request.app, principal.user, request.query
    config = await _config(app)
    statuses = [s for s in query.get("status", "").split(",") if s] or None
    if statuses == ["open"]:
        statuses = OPEN
    queue = query.get("queue")
    owner = query.get("owner")
    customer_id = query_id(request, "customer_id")
    owner_id = user.id if owner == "me" else (query_id(request, "owner") if owner else None)
    store = app[APPEAL_STORE]
    # queue=mine: the queues this person works in (the console's stage lists).
    wanted = await queues_of(app, user) if queue == "mine" else [queue] if queue else None
    if _supervises(user):
        found = await store.search(
            customer_id=customer_id,
            queues=wanted,
            statuses=statuses,
            owner_id=owner_id,
        )
    else:
        mine = await queues_of(app, user)
        found = await store.search(
            customer_id=customer_id,
            statuses=statuses,
            owner_id=owner_id,
            visible_to=user.id,
            queues=mine,
        )
        if wanted is not None:
            found = [a for a in found if a.queue in wanted]
    now = utcnow()
    if query.get("late") in ("1", "true"):
        found = [a for a in found if a.late(now) or a.nearly_late(now)]
    found.sort(key=lambda a: urgency(a, now))
    body: dict[str, Any] = {"appeals": await _present(app, found, config)}
    if queue == "mine":
        body["queues"] = wanted  # which queues "mine" meant
    return web.json_response(body)


async def get_appeal(request: web.Request, principal: Principal) -> web.Response:
    appeal = await visible_appeal(request, principal)
    return web.json_response({"appeal": await _detail(request.app, appeal)})


async def _detail(app: web.Application, appeal: Appeal) -> dict[str, Any]:
    config = await _config(app)
    [body] = await _present(app, [appeal], config)
    topic = config.topic(appeal.topic)
    body.update(await app[APPEAL_STORE].detail(appeal.id))
    body["form"] = topic_json(appeal.topic, topic)["fields"] if topic is not None else []
    return body


async def by_reference(request: web.Request, principal: Principal) -> web.Response:
    reference = parse_reference(request.match_info["reference"])
    store = request.app[APPEAL_STORE]
    appeal = await store.by_reference(reference) if reference else None
    if appeal is not None and (
        _supervises(principal.user)
        or await store.visible(
            appeal, principal.user.id, await queues_of(request.app, principal.user)
        )
    ):
        return web.json_response({"appeal": await _detail(request.app, appeal)})
    fail(404, "not_found", "no appeal of yours with this number")


# -- changing ----------------------------------------------------------------------------------

# What an operator may do to an appeal they own; supervisors may do everything.
_OWNER_ACTIONS = frozenset(
    {
        Action.RELEASE,
        Action.ADVANCE,
        Action.SEND_BACK,
        Action.WAIT_CUSTOMER,
        Action.WAIT_THIRD_PARTY,
        Action.RESUME,
        Action.RESOLVE,
        Action.CLOSE,
        Action.CANCEL,
    }
)


def _version(data: dict[str, Any]) -> int:
    value = data.get("expected_version")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(422, "bad_field", "'expected_version' must be the version you loaded (a number)")
    return value


async def act(request: web.Request, principal: Principal) -> web.Response:
    appeal = await visible_appeal(request, principal)
    data = await json_body(request)
    try:
        action = Action(str(data.get("action")))
    except ValueError:
        fail(422, "bad_field", f"'action' must be one of: {', '.join(a.value for a in Action)}")
    if action == Action.REGISTER:
        fail(422, "bad_field", "an appeal is registered when it is created")
    expected = _version(data)
    user = principal.user
    owner_id = optional_body_id(data, "owner_id")
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        fail(422, "bad_field", "'reason' must be a string")
    if not _supervises(user):
        if action == Action.TAKE:
            if owner_id not in (None, user.id):
                fail(403, "forbidden", "only a supervisor assigns an appeal to someone else")
            if appeal.queue not in await queues_of(request.app, user):
                fail(403, "forbidden", f"you do not work in the queue {appeal.queue!r}")
            full = await _at_capacity(request.app, user)
            if full is not None:
                fail(409, "at_capacity", full)
            owner_id = user.id
        elif action not in _OWNER_ACTIONS or appeal.owner_id != user.id:
            fail(403, "forbidden", "only the appeal's owner or a supervisor may do this")
    elif action == Action.TAKE and owner_id is None:
        owner_id = user.id
    if owner_id is not None and action in (Action.TAKE, Action.REASSIGN):
        target = await request.app[USERS].get(owner_id)
        if target is None:
            fail(422, "bad_field", "'owner_id' names no user")
    config = await _config(request.app)
    topic = _topic(config, appeal.topic)
    changed = await request.app[APPEAL_STORE].apply(
        appeal.id,
        expected,
        action,
        plan=plan_of(config, topic, appeal.topic),
        actor=actor_of(principal),
        now=utcnow(),
        owner_id=owner_id,
        reason=reason,
    )
    request.app[RELAY].nudge()
    return web.json_response({"appeal": await _detail(request.app, changed)})


async def _at_capacity(app: web.Application, user: User) -> str | None:
    """Why ``user`` may not take one more appeal now (their appeal capacity in the routing,
    a call in progress), or None. Supervisors assigning are not held by it."""
    config = await app[LIVE_ROUTING].current()
    offers = OfferStore(app[APPEAL_STORE])
    return at_capacity_reason(
        await offers.worker_of(config, app[CHANNELS].media_of, user.id, user.username)
    )


async def decline(request: web.Request, principal: Principal) -> web.Response:
    """The operator an appeal is offered to declines it: it is offered to someone else."""
    store = request.app[APPEAL_STORE]
    declined = await OfferStore(store).decline(path_id(request), actor_of(principal), utcnow())
    if declined is None:
        fail(404, "not_found", "no appeal offered to you with this id")
    request.app[RELAY].nudge()
    [body] = await _present(request.app, [declined], await _config(request.app))
    return web.json_response({"appeal": body})


async def update_appeal(request: web.Request, principal: Principal) -> web.Response:
    appeal = await visible_appeal(request, principal)
    data = await json_body(request)
    expected = _version(data)
    user = principal.user
    if not _supervises(user) and appeal.owner_id != user.id:
        fail(403, "forbidden", "only the appeal's owner or a supervisor may change it")
    if "priority" in data and not _supervises(user):
        fail(403, "forbidden", "only a supervisor changes an appeal's priority")
    config = await _config(request.app)
    topic = _topic(config, appeal.topic)
    fields = None
    if "fields" in data:
        raw = data["fields"]
        if not isinstance(raw, dict):
            fail(422, "bad_field", "'fields' must be an object")
        # A field sent as null is cleared (refused when the form requires it).
        merged = {k: v for k, v in {**appeal.fields, **raw}.items() if v is not None}
        fields = validate_fields(topic.fields, merged)
    priority = _priority(data, None)
    summary = _text(data, "summary", MAX_SUMMARY) if "summary" in data else None
    changed = await request.app[APPEAL_STORE].update_details(
        appeal.id,
        expected,
        plan=plan_of(config, topic, appeal.topic),
        actor=actor_of(principal),
        now=utcnow(),
        fields=fields,
        priority=priority,
        summary=summary,
    )
    request.app[RELAY].nudge()
    return web.json_response({"appeal": await _detail(request.app, changed)})


async def add_note(request: web.Request, principal: Principal) -> web.Response:
    appeal = await visible_appeal(request, principal)
    data = await json_body(request)
    text = _text(data, "text", MAX_NOTE_CHARS)
    if not text:
        fail(422, "bad_field", "'text' must not be empty")
    note_id = await request.app[APPEAL_STORE].add_note(
        appeal.id, actor_of(principal), text, utcnow()
    )
    return web.json_response({"note_id": note_id}, status=201)


async def link_conversation(request: web.Request, principal: Principal) -> web.Response:
    appeal = await visible_appeal(request, principal)
    data = await json_body(request)
    conversation_id = body_id(data, "conversation_id")
    conversation = await request.app[CONVERSATIONS].get(conversation_id)
    if conversation is None or not (
        conversation.operator_id == principal.user.id or _supervises(principal.user)
    ):
        fail(404, "not_found", "no conversation of yours with this id")
    if conversation.customer_id != appeal.customer_id:
        fail(422, "other_customer", "the conversation is with another customer than the appeal's")
    linked = await request.app[APPEAL_STORE].link_conversation(
        appeal.id, conversation_id, actor_of(principal), utcnow()
    )
    if linked:
        request.app[RELAY].nudge()
    return web.json_response({"linked": linked})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/appeal-topics", endpoint(list_topics))
    app.router.add_post("/api/appeals", endpoint(create_appeal))
    app.router.add_get("/api/appeals", endpoint(list_appeals))
    app.router.add_get("/api/appeals/by-reference/{reference}", endpoint(by_reference))
    app.router.add_get("/api/appeals/{id}", endpoint(get_appeal))
    app.router.add_patch("/api/appeals/{id}", endpoint(update_appeal))
    app.router.add_post("/api/appeals/{id}/actions", endpoint(act))
    app.router.add_post("/api/appeals/{id}/decline", endpoint(decline))
    app.router.add_post("/api/appeals/{id}/notes", endpoint(add_note))
    app.router.add_post("/api/appeals/{id}/conversations", endpoint(link_conversation))
