"""Notices to the customer about their appeal: that it was registered (with its number), that
it was resolved, and the other changes its topic's ``notify_on`` lists; each once, on the
first of the customer's identities that reaches them.

Why a chain: a customer who opened an appeal on Telegram and blocked the bot since, or whose
phone number stopped working, should still hear that it is resolved. A notice goes first to the
identity of the appeal's conversation, then to the customer's other identities in the order of
the topics' ``settings.notice_channels``, leaving out those opted out (STOP), unreachable (a
blocked bot) and those on a channel this gateway does not send on. Each step is an ordinary
outbound message, retried like an operator's reply; when it ends failed or undelivered (or, on
web chat, the visitor's page never took it), the notice tick moves on to the next identity, and
when none is left an operator of the call-back queue gets a call-back task.

Once: the notice's row, keyed ``<event>:<history id>``, is stored in the transaction that
stores its message, so an ``appeal.changed`` event delivered twice or handled by two instances
sends one message.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog
from aiohttp import web

from appeals import texts
from appeals.fields import FieldType
from appeals.live import TOPICS
from appeals.notice_store import Identity, NoticeStore, Reach, Recipient
from appeals.numbers import format_reference
from appeals.routes import actor_of, queues_of
from appeals.service import on_event, on_tick
from appeals.store import APPEAL_STORE, Appeal
from appeals.topics import NoticeEvent, Topic, TopicsConfig
from appeals.views import title_of
from gateway.auth import require
from gateway.errors import Refused
from gateway.events import Event
from gateway.http import fail, json_body, path_id
from gateway.keys import DATABASE, RELAY, SENDERS
from gateway.model import Channel, Role, utcnow

log = structlog.get_logger()

NOTICES = web.AppKey("appeal_notices", NoticeStore)

# Notices of an appeal whose topic is no longer in the topics document.
DEFAULT_NOTIFY_ON = (NoticeEvent.REGISTERED, NoticeEvent.RESOLVED)
# Actions that move an appeal to another stage.
STAGE_ACTIONS = frozenset({"advance", "escalate", "send_back"})
# The longest note an operator may give when they mark a call-back task done.
MAX_CALLBACK_NOTE = 1000
# How long a notice on web chat may wait for the visitor's page before the next identity is
# tried (a visitor who left gets the message when they come back, and the notice meanwhile).
WEBCHAT_WAIT_SECONDS = 120.0


# -- what to send (pure) ------------------------------------------------------------------------


def notice_event(payload: Mapping[str, Any]) -> NoticeEvent | None:
    """What an ``appeal.changed`` event is to the customer: registered, resolved, the new
    status, a new stage; None for changes that are not theirs to hear of (an owner, a note, a
    notice itself)."""
    action = str(payload.get("action", ""))
    if action == "register":
        # A customer who opened it in a text menu read its number there, in the same
        # conversation; a caller heard it, and gets it in writing.
        if payload.get("actor") == "customer" and payload.get("channel") not in (None, "voice"):
            return None
        return NoticeEvent.REGISTERED
    if action in STAGE_ACTIONS:
        return NoticeEvent.STAGE_CHANGED
    status = payload.get("status")
    if status is None or payload.get("from_status") == status:
        return None
    try:
        return NoticeEvent(str(status))
    except ValueError:
        return None


def wanted(topic: Topic | None, event: NoticeEvent) -> bool:
    return event in (topic.notify_on if topic is not None else DEFAULT_NOTIFY_ON)


def _languages(language: str) -> tuple[str, ...]:
    base = re.split(r"[-_]", language, maxsplit=1)[0].lower()
    return tuple(dict.fromkeys((language, base, texts.DEFAULT_LANGUAGE)))


def notice_text(
    topic: Topic | None,
    topic_name: str,
    event: NoticeEvent,
    appeal: Appeal,
    customer: str | None,
    status: str | None = None,
    stage: int | None = None,
) -> str:
    """The notice in the appeal's language: the topic's own wording for the event (in that
    language, its base language, or English), else the built-in one (appeals.texts).
    ``status`` and ``stage``: the appeal's as the event saw them (default: as it is now)."""
    status = status or appeal.status
    stage = appeal.stage if stage is None else stage
    languages = _languages(appeal.language or texts.DEFAULT_LANGUAGE)
    title = topic.title_in(*languages) if topic is not None else topic_name
    stage_name = topic.route[stage].name if topic and 0 <= stage < len(topic.route) else None
    templates = topic.notices.get(event, {}) if topic is not None else {}
    template = next((templates[code] for code in languages if code in templates), None)
    if template is not None:
        return texts.render(
            template,
            reference=format_reference(appeal.reference),
            topic=title,
            status=texts.status_name(appeal.language, status),
            stage=stage_name,
            customer=customer,
        )
    if event == NoticeEvent.REGISTERED:
        return texts.registered(appeal.language, appeal.reference, title)
    if event == NoticeEvent.RESOLVED:
        return texts.resolved(appeal.language, appeal.reference, title)
    text = texts.changed(appeal.language, appeal.reference, title, status)
    if event == NoticeEvent.STAGE_CHANGED and stage_name:
        text += texts.WORDS[texts.language_of(appeal.language)].stage.format(stage=stage_name)
    return text


def usable(identity: Identity, can_send: Collection[str]) -> bool:
    return identity.channel in can_send and not identity.opted_out and not identity.unreachable


def build_chain(
    recipient: Recipient, order: Sequence[str], can_send: Collection[str]
) -> tuple[Reach, ...]:
    """The identities a notice tries in turn: the conversation's own first (on web chat only
    while the conversation is open: a visitor is reached nowhere else), then the customer's
    other identities by ``order`` of channels (newest identity first within a channel)."""
    chain: list[Reach] = []
    own = recipient.own
    if own is not None:
        webchat = own.channel == Channel.WEBCHAT and recipient.conversation_open
        if usable(own, {*can_send, Channel.WEBCHAT.value} if webchat else can_send):
            chain.append(own.reach)
    for channel in order:
        for identity in recipient.identities:
            if identity.channel != channel or (own is not None and identity.id == own.id):
                continue
            if usable(identity, can_send):
                chain.append(identity.reach)
    return tuple(chain)


def callback_queue(config: TopicsConfig, topic: Topic | None, appeal: Appeal) -> str:
    """Where call-back tasks go: the topics' ``callback_queue``, else the topic's first
    stage's queue."""
    if config.settings.callback_queue:
        return config.settings.callback_queue
    return topic.route[0].queue if topic is not None else appeal.queue


# -- doing it -------------------------------------------------------------------------------------


def sending_channels(app: web.Application) -> frozenset[str]:
    """The channels this gateway sends on (a provider channel configured and enabled)."""
    return frozenset(sender.channel for sender in app[SENDERS])


async def on_appeal_changed(app: web.Application, _key: str, payload: dict[str, Any]) -> None:
    """An appeal changed: tell its customer if the change is one the topic notifies of."""
    event = notice_event(payload)
    if event is None:
        return
    store = app[APPEAL_STORE]
    appeal = await store.get(int(payload["appeal_id"]))
    if appeal is None:
        return
    config: TopicsConfig = await app[TOPICS].current()
    topic = config.topic(appeal.topic)
    if not wanted(topic, event):
        return
    notices = app[NOTICES]
    can_send = sending_channels(app)
    if Channel.SMS.value in can_send:
        await notices.texts_for_callers(appeal, utcnow())
    recipient = await notices.recipient(appeal)
    chain = build_chain(recipient, config.settings.notice_channels, can_send)
    stage = payload.get("stage")
    text = notice_text(
        topic,
        appeal.topic,
        event,
        appeal,
        recipient.name,
        status=str(payload.get("status") or appeal.status),
        stage=stage if isinstance(stage, int) else None,
    )
    key = f"{event.value}:{int(payload['history_id'])}"
    started = await notices.start(
        appeal,
        key,
        event.value,
        chain,
        text,
        callback_queue(config, topic, appeal),
        utcnow(),
    )
    if started:
        app[RELAY].nudge()
    log.info(
        "appeals.notice.started" if started else "appeals.notice.duplicate",
        appeal_id=appeal.id,
        key=key,
        chain=[r.channel for r in chain],
    )


async def move_unreached(app: web.Application, now: datetime) -> None:
    """Tick: each notice whose message did not reach the customer goes to the next identity
    of its chain, or becomes a call-back task."""
    notices = app[NOTICES]
    found = await notices.unreached(now, WEBCHAT_WAIT_SECONDS)
    if not found:
        return
    config: TopicsConfig = await app[TOPICS].current()
    can_send = sending_channels(app)
    for notice in found:
        appeal = await app[APPEAL_STORE].get(notice.appeal_id)
        if appeal is None:
            continue
        topic = config.topic(appeal.topic)
        moved = await notices.move_on(
            appeal, notice, can_send, callback_queue(config, topic, appeal), now
        )
        if moved is None:
            continue  # another instance moved it first
        app[RELAY].nudge()
        log.info(
            "appeals.notice.moved_on",
            appeal_id=appeal.id,
            notice_id=notice.id,
            failed=notice.channel,
            status=notice.status,
            next=moved,
        )


# -- call-back tasks --------------------------------------------------------------------------


def callback_json(task: dict[str, Any], topic: Topic | None) -> dict[str, Any]:
    """A call-back task as people see it: the store's task with the topic's title and, in
    place of the appeal's fields, the phone numbers among them (``[{name, label, number}]``,
    in the form's order), for the operator who calls."""
    out = {k: v for k, v in task.items() if k != "fields"}
    fields = task.get("fields") or {}
    out["topic_title"] = title_of(topic, str(task["topic"]))
    out["phones"] = [
        {
            "name": f.name,
            "label": f.label.get("en") or next(iter(f.label.values()), f.name),
            "number": fields[f.name],
        }
        for f in (topic.fields if topic is not None else ())
        if f.type == FieldType.PHONE and isinstance(fields.get(f.name), str)
    ]
    return out


async def present_callbacks(app: web.Application, tasks: list[dict[str, Any]]) -> list[Any]:
    config: TopicsConfig = await app[TOPICS].current()
    return [callback_json(t, config.topic(str(t["topic"]))) for t in tasks]


async def callbacks(request: web.Request) -> web.Response:
    """``GET /api/appeals/callbacks[?queue=]``: the call-back tasks that stand; an operator's
    are those of the queues they work in."""
    principal = await require(request, Role.OPERATOR)
    wanted_queue = request.query.get("queue")
    if principal.user.role.at_least(Role.SUPERVISOR):
        queues = [wanted_queue] if wanted_queue else None
    else:
        mine = await queues_of(request.app, principal.user)
        queues = [q for q in mine if q == wanted_queue] if wanted_queue else mine
    tasks = await request.app[NOTICES].callbacks(queues)
    return web.json_response({"callbacks": await present_callbacks(request.app, tasks)})


def _note(data: dict[str, Any]) -> str | None:
    note = data.get("note")
    if note is None:
        return None
    if not isinstance(note, str):
        fail(422, "bad_field", "'note' must be a string")
    note = note.strip()
    if len(note) > MAX_CALLBACK_NOTE:
        fail(422, "bad_field", f"'note' must be at most {MAX_CALLBACK_NOTE} characters")
    return note or None


async def callback_done(request: web.Request) -> web.Response:
    """``POST /api/appeals/callbacks/{id}/done`` ``{"note"?}``: an operator of the task's
    queue (or a supervisor) called the customer back. 404 for a task that is not theirs to
    do, 409 when it was done already."""
    principal = await require(request, Role.OPERATOR)
    task_id = path_id(request)
    data = await json_body(request)
    note = _note(data)
    user = principal.user
    queues = None if user.role.at_least(Role.SUPERVISOR) else await queues_of(request.app, user)
    try:
        task = await request.app[NOTICES].callback_done(
            task_id, queues, actor_of(principal), note, utcnow()
        )
    except Refused as exc:
        fail(exc.status, exc.code, exc.reason)
    request.app[RELAY].nudge()
    log.info("appeals.callback.done", task_id=task_id, appeal_id=task["appeal_id"], user=user.id)
    [shown] = await present_callbacks(request.app, [task])
    return web.json_response({"callback": shown})


async def _store(app: web.Application) -> AsyncIterator[None]:
    app[NOTICES] = NoticeStore(app[DATABASE], app[APPEAL_STORE])
    yield


def setup(app: web.Application) -> None:
    """Register the notices: their store (after the appeals' store), the ``appeal.changed``
    handler, the tick that moves unreached notices on, and the call-back tasks' routes (before
    ``/api/appeals/{id}``)."""
    app.cleanup_ctx.append(_store)
    on_event(app, Event.APPEAL_CHANGED, on_appeal_changed)
    on_tick(app, move_unreached)
    app.router.add_get("/api/appeals/callbacks", callbacks)
    app.router.add_post("/api/appeals/callbacks/{id}/done", callback_done)
