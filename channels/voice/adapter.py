"""The voice channel's webhooks: Twilio calls them for every turn of a phone call.

Every webhook's signature is checked (403 otherwise, nothing changes). Whatever goes wrong
after that, the caller hears valid TwiML: when the store or the broker is away, the configured
apology and a chance to leave a message, which Twilio posts back to us (with the caller's number
in the URL we gave it) once we can store it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import structlog
from aiohttp import web
from multidict import MultiDict
from sqlalchemy.exc import SQLAlchemyError

from channels.common import WebhookError, normalize_number
from channels.twilio.webhooks import refuse, verified_form
from channels.voice import desk as paths
from channels.voice.calls import parse_answer, parse_call, parse_recording, recording_event
from channels.voice.desk import VoiceDesk, words
from gateway.broker import BrokerUnavailable
from gateway.console.actions import ACCEPT_HOOKS
from gateway.http import parse_id
from gateway.keys import IVR_SESSIONS, SETTINGS
from gateway.model import Channel
from gateway.storage.ivr import Session, SessionConflict
from ivr import twiml
from ivr.actions import Say, State

log = structlog.get_logger()

DESK = web.AppKey("voice_desk", VoiceDesk)
LOOKUP_TIMEOUT = aiohttp.ClientTimeout(total=15)
# What the store or the broker raise when they are away; the caller gets the apology.
UNAVAILABLE = (SQLAlchemyError, OSError, TimeoutError, BrokerUnavailable, SessionConflict)


def _twiml(xml: str) -> web.Response:
    return web.Response(text=xml, content_type="text/xml")


Work = Callable[[VoiceDesk, MultiDict[str]], Awaitable[str]]


def webhook(work: Work) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Verify, then answer with TwiML whatever happens."""

    async def handler(request: web.Request) -> web.Response:
        try:
            form = await verified_form(request)
        except WebhookError as exc:
            return refuse(request, exc)
        desk = request.app[DESK]
        try:
            return _twiml(await work(desk, form))
        except WebhookError as exc:
            return refuse(request, exc)
        except UNAVAILABLE as exc:
            log.error("voice.unavailable", path=request.path, error=repr(exc)[:300])
            caller = parse_call(form, request.app[SETTINGS].twilio.default_region).caller
            return _twiml(desk.apology(None if caller.startswith("withheld:") else caller))

    return handler


async def _session(desk: VoiceDesk, form: MultiDict[str], query: str | None) -> Session:
    """The session a webhook's URL names, checked against the call it is about."""
    session_id = parse_id(query, text=True)
    if session_id is None:
        raise WebhookError(400, "bad_request", "session must be a number")
    session = await desk.app[IVR_SESSIONS].by_id(session_id)
    call = parse_call(form, desk.app[SETTINGS].twilio.default_region)
    if session is None or session.call_sid != call.sid:
        raise WebhookError(404, "not_found", "no such call session")
    return session


async def incoming(request: web.Request) -> web.Response:
    async def work(desk: VoiceDesk, form: MultiDict[str]) -> str:
        call = parse_call(form, desk.app[SETTINGS].twilio.default_region)
        return await desk.incoming(call)

    return await webhook(work)(request)


def _step(query: str | None) -> int | None:
    """The menu step a callback answers (absent in URLs given out before steps were kept)."""
    if query is None:
        return None
    try:
        return int(query)
    except ValueError:
        raise WebhookError(400, "bad_request", "step must be a number") from None


async def answer(request: web.Request) -> web.Response:
    async def work(desk: VoiceDesk, form: MultiDict[str]) -> str:
        session = await _session(desk, form, request.query.get("session"))
        step = _step(request.query.get("step"))
        return await desk.answer(session, parse_answer(form), step)

    return await webhook(work)(request)


async def silence(request: web.Request) -> web.Response:
    async def work(desk: VoiceDesk, form: MultiDict[str]) -> str:
        session = await _session(desk, form, request.query.get("session"))
        step = _step(request.query.get("step"))
        event = parse_answer(MultiDict({"CallSid": form["CallSid"]}))
        return await desk.answer(session, event, step)

    return await webhook(work)(request)


async def recording(request: web.Request) -> web.Response:
    async def work(desk: VoiceDesk, form: MultiDict[str]) -> str:
        got = parse_recording(form)
        if "session" not in request.query:  # the apology's, or the final action's, message
            kind = {"fallback": "1"} if request.query.get("fallback") else {"after": "waiting"}
            return await _fallback_recording(desk, form, request.query.get("caller"), kind)
        session = await _session(desk, form, request.query.get("session"))
        step = _step(request.query.get("step"))
        if got is not None:  # stored once, whatever the step: the recording's id dedupes it
            attributes = dict(State.from_json(session.state).attributes)
            await desk.voicemail(session.address, session.call_sid, got, attributes)
        return await desk.answer(session, recording_event(got), step)

    return await webhook(work)(request)


async def _fallback_recording(
    desk: VoiceDesk, form: MultiDict[str], caller: str | None, attributes: dict[str, str]
) -> str:
    """A message left outside a menu session: while we could not serve the menu, or as a
    routing rule's final action (Twilio posts it twice: as the Record's action and as its
    status callback; it is stored once)."""
    got = parse_recording(form)
    settings = desk.app[SETTINGS].twilio
    call = parse_call(form, settings.default_region)
    number = caller or call.caller
    try:
        number = normalize_number(number, settings.default_region)
    except WebhookError:
        number = call.caller
    if got is not None:
        await desk.voicemail(number, call.sid, got, attributes)
    return twiml.speak([Say(words("en", "thanks"), "en")], desk.locales)


async def recording_empty(request: web.Request) -> web.Response:
    async def work(desk: VoiceDesk, form: MultiDict[str]) -> str:
        session = await _session(desk, form, request.query.get("session"))
        return await desk.answer(session, recording_event(None), _step(request.query.get("step")))

    return await webhook(work)(request)


async def transcription(request: web.Request) -> web.Response:
    async def work(desk: VoiceDesk, form: MultiDict[str]) -> str:
        sid = form.get("RecordingSid", "")
        text = (form.get("TranscriptionText") or "").strip()
        if form.get("TranscriptionStatus", "completed") == "completed" and sid and text:
            found = await desk.app[IVR_SESSIONS].transcribe(f"voice:{sid}", text[:4000])
            log.info("voice.transcription", recording=sid, stored=found is not None)
        return twiml.speak([], desk.locales)

    return await webhook(work)(request)


async def hold(request: web.Request) -> web.Response:
    async def work(desk: VoiceDesk, form: MultiDict[str]) -> str:
        return await desk.hold(await _session(desk, form, request.query.get("session")))

    return await webhook(work)(request)


async def hold_answer(request: web.Request) -> web.Response:
    async def work(desk: VoiceDesk, form: MultiDict[str]) -> str:
        session = await _session(desk, form, request.query.get("session"))
        return await desk.hold_answer(session, form.get("Digits", ""))

    return await webhook(work)(request)


async def after_dial(request: web.Request) -> web.Response:
    async def work(desk: VoiceDesk, form: MultiDict[str]) -> str:
        session = await _session(desk, form, request.query.get("session"))
        return await desk.after_dial(session, (form.get("DialCallStatus") or "").lower())

    return await webhook(work)(request)


async def status(request: web.Request) -> web.Response:
    async def work(desk: VoiceDesk, form: MultiDict[str]) -> str:
        call = parse_call(form, desk.app[SETTINGS].twilio.default_region)
        if call.ended:
            await desk.ended(call)
        return twiml.speak([], desk.locales)

    return await webhook(work)(request)


async def voice_desk(app: web.Application) -> AsyncIterator[None]:
    """The desk for the app's life, with its HTTP client for the menus' lookups."""
    http = aiohttp.ClientSession(timeout=LOOKUP_TIMEOUT)
    desk = VoiceDesk(app, http)
    app[DESK] = desk
    app[ACCEPT_HOOKS].append(desk.on_accept)
    yield
    await http.close()


def add_routes(app: web.Application) -> None:
    """Voice is on when Twilio is configured and a menu answers the voice channel."""
    settings = app[SETTINGS]
    if not settings.twilio.enabled or Channel.VOICE.value not in settings.ivr.channels:
        return
    app.router.add_post(paths.BASE, incoming)
    app.router.add_post(paths.ANSWER, answer)
    app.router.add_post(paths.SILENCE, silence)
    app.router.add_post(paths.RECORDING, recording)
    app.router.add_post(paths.RECORDING_EMPTY, recording_empty)
    app.router.add_post(paths.TRANSCRIPTION, transcription)
    app.router.add_post(paths.HOLD, hold)
    app.router.add_post(paths.HOLD_ANSWER, hold_answer)
    app.router.add_post(paths.AFTER_DIAL, after_dial)
    app.router.add_post(paths.STATUS, status)
    app.cleanup_ctx.append(voice_desk)
