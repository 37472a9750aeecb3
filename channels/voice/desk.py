"""What happens to a phone call, between Twilio's webhooks: the menu step by step (its state in
the store, so any instance and a restarted one can take the next webhook), the hand-over to
routing, the hold loop with place and expected wait, the call back instead of waiting, the
voicemail, and the connection to the operator who takes the call.

The HTTP side (signatures, errors, the apology when the store is away) is in
:mod:`channels.voice.adapter`; this module turns events into TwiML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import structlog
from aiohttp import web

from channels.twilio.adapter import TWILIO
from channels.voice.calls import Call, Recording
from gateway.channel_intake import accept_from_channel
from gateway.keys import CONVERSATIONS, IVR_SESSIONS, RELAY, ROUTING_STATE, SETTINGS, USERS
from gateway.menus.appeal_desk import APPEAL_DESK, MenuCaller
from gateway.menus.ivr_driver import settle
from gateway.menus.ivr_menus import LIVE_MENUS, LiveMenu
from gateway.model import Attachment, Channel, ConversationStatus, InboundMessage, utcnow
from gateway.settings import IvrSettings
from gateway.storage.ivr import Reply, Session, SessionConflict
from gateway.storage.users import User
from gateway.waiting import wait_estimate
from ivr import twiml
from ivr.actions import Enqueue, Event, Hangup, Say, State, Step, Transfer
from ivr.engine import advance, resume, start
from routing.live import LIVE_ROUTING

log = structlog.get_logger()

BASE = "/webhooks/twilio/voice"
ANSWER = f"{BASE}/answer"
SILENCE = f"{BASE}/silence"
RECORDING = f"{BASE}/recording"
RECORDING_EMPTY = f"{BASE}/recording-empty"
TRANSCRIPTION = f"{BASE}/transcription"
HOLD = f"{BASE}/hold"
HOLD_ANSWER = f"{BASE}/hold-answer"
AFTER_DIAL = f"{BASE}/after-dial"
STATUS = f"{BASE}/status"

MENU, QUEUED, ENDED = "menu", "queued", "ended"

# What callers hear from the gateway itself (not from a menu), per language; English otherwise.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "position": "You are number {position} in line.",
        "wait": "The expected wait is about {minutes} minutes.",
        "wait_short": "You will be with someone in about a minute.",
        "callback": "To be called back instead, press {key}.",
        "called_back": "Thank you. We will call you back at this number. Goodbye.",
        "closed": "This call has ended. Goodbye.",
        "no_answer": "We could not reach the agent. We will call you back. Goodbye.",
        "thanks": "Thank you for your message. Goodbye.",
        "connecting": "Connecting you now.",
        "leave_message": "Please leave a message after the tone.",
    },
    "es": {
        "position": "Usted es el número {position} en la fila.",
        "wait": "La espera estimada es de unos {minutes} minutos.",
        "wait_short": "Le atenderemos en aproximadamente un minuto.",
        "callback": "Para que le llamemos, oprima {key}.",
        "called_back": "Gracias. Le llamaremos a este número. Adiós.",
        "closed": "Esta llamada ha terminado. Adiós.",
        "no_answer": "No pudimos comunicarnos con el agente. Le llamaremos. Adiós.",
        "thanks": "Gracias por su mensaje. Adiós.",
        "connecting": "Le comunicamos ahora.",
        "leave_message": "Por favor, deje un mensaje después del tono.",
    },
}


def words(language: str, name: str, **values: Any) -> str:
    table = WORDS.get(language, WORDS["en"])
    return table.get(name, WORDS["en"][name]).format(**values)


def hold_news(language: str, estimate: dict[str, Any]) -> list[str]:
    """What a waiting caller hears about their place in line (nothing when unknown)."""
    if not estimate.get("in_line"):
        return []
    news = [words(language, "position", position=estimate["position"])]
    seconds = estimate.get("expected_wait_seconds")
    if seconds is not None:
        minutes = round(seconds / 60)
        news.append(
            words(language, "wait", minutes=minutes)
            if minutes >= 2
            else words(language, "wait_short")
        )
    return news


def call_summary(caller: str, attributes: dict[str, str]) -> str:
    """The text of the contact an operator is offered for a call from the menu."""
    chosen = ", ".join(
        f"{k}: {v}" for k, v in sorted(attributes.items()) if k not in ("channel", "caller")
    )
    return f"Phone call from {caller}" + (f" ({chosen})" if chosen else "")


@dataclass
class VoiceDesk:
    app: web.Application
    http: aiohttp.ClientSession

    @property
    def ivr(self) -> IvrSettings:
        return self.app[SETTINGS].ivr

    @property
    def locales(self) -> dict[str, str]:
        return self.ivr.voice_languages

    def url(self, path: str, **query: Any) -> str:
        base = self.app[SETTINGS].http.public_url.rstrip("/")
        return base + path + (f"?{urlencode(query)}" if query else "")

    def urls(self, session_id: int, step: int) -> twiml.VoiceUrls:
        """Where Twilio posts the caller's answer to this step (``step``: the session's
        revision once this step is stored, so a re-post of the same answer is recognised)."""
        return twiml.VoiceUrls(
            answer=self.url(ANSWER, session=session_id, step=step),
            silence=self.url(SILENCE, session=session_id, step=step),
            recording=self.url(RECORDING, session=session_id, step=step),
            recording_empty=self.url(RECORDING_EMPTY, session=session_id, step=step),
            transcription=self.url(TRANSCRIPTION, session=session_id),
        )

    async def menu(self) -> LiveMenu | None:
        menu_id = self.ivr.channels.get(Channel.VOICE.value)
        return await self.app[LIVE_MENUS].get(menu_id) if menu_id else None

    def apology(self, caller: str | None) -> str:
        query = {"fallback": 1, **({"caller": caller} if caller else {})}
        return twiml.apology(self.ivr.apology, "en", self.url(RECORDING, **query), self.locales)

    # -- the menu ---------------------------------------------------------------------------

    async def incoming(self, call: Call) -> str:
        live = await self.menu()
        if live is None:
            log.error("voice.no_menu", channels=self.ivr.channels)
            return self.apology(call.caller)
        sessions = self.app[IVR_SESSIONS]
        key = f"voice:{call.sid}"
        existing = await sessions.live(key)
        caller = MenuCaller(Channel.VOICE.value, call.caller, call_sid=call.sid)
        desk = self.app.get(APPEAL_DESK)
        if existing is not None:  # Twilio asked again for the same call: the same question
            state, now = State.from_json(existing.state), utcnow()
            step = await settle(
                live.menu, resume(live.menu, state, now), now, self.http, desk=desk, caller=caller
            )
            return await self.reply(existing, live, step)
        attributes = {"channel": Channel.VOICE.value, "caller": call.caller}
        now = utcnow()
        step = await settle(
            live.menu, start(live.menu, now, attributes), now, self.http, desk=desk, caller=caller
        )
        session = await sessions.begin(
            key, Channel.VOICE.value, call.caller, step.state.to_json(), call_sid=call.sid
        )
        if session is None:  # a concurrent copy of this webhook began it
            return await self.incoming(call)
        log.info("voice.call.started", call_sid=call.sid, menu=live.menu.id)
        return await self.reply(session, live, step)

    async def answer(self, session: Session, event: Event, step: int | None = None) -> str:
        """The caller's answer to a step (``step`` from the callback's URL). Twilio re-posts a
        callback that timed out: a step answered already is answered with the same TwiML
        again, and the menu is not advanced a second time, also when the re-post arrives
        while the first is still being worked on (the slower of the two loses the
        compare-and-set on the session and replays the winner's answer)."""
        answered = session.revision if step is None else step
        sessions = self.app[IVR_SESSIONS]
        if session.call_sid is not None:
            replay = await sessions.replayed(session.call_sid, session.id, answered)
            if replay is not None:
                log.info("voice.answer.replayed", session=session.id, step=answered)
                return replay
        live = await self.menu()
        if live is None:
            return self.apology(session.address)
        if session.status != MENU:
            return twiml.speak([], self.locales)
        state = State.from_json(session.state)
        caller = MenuCaller(Channel.VOICE.value, session.address, call_sid=session.call_sid)
        next_step = await settle(
            live.menu,
            advance(live.menu, state, event, utcnow()),
            utcnow(),
            self.http,
            desk=self.app.get(APPEAL_DESK),
            caller=caller,
        )
        if next_step.note:
            log.info("voice.menu.note", session=session.id, note=next_step.note)
        try:
            return await self.reply(session, live, next_step, answered=answered)
        except SessionConflict:
            if session.call_sid is not None:
                replay = await sessions.replayed(session.call_sid, session.id, answered)
                if replay is not None:
                    log.info("voice.answer.replayed", session=session.id, step=answered)
                    return replay
            raise

    async def reply(
        self, session: Session, live: LiveMenu, step: Step, answered: int | None = None
    ) -> str:
        """Store the step's state and render it; an Enqueue hands the call to routing.
        ``answered``: the step this answers, whose TwiML is kept with the state."""
        sessions = self.app[IVR_SESSIONS]
        enqueue = next((a for a in step.actions if isinstance(a, Enqueue)), None)
        if enqueue is not None:
            conversation_id = await self.enqueue(session, enqueue)
            says = [a for a in step.actions if isinstance(a, Say)]
            xml = twiml.speak(says, self.locales, then_redirect=self.url(HOLD, session=session.id))
            await sessions.save(
                session,
                step.state.to_json(),
                status=QUEUED,
                conversation_id=conversation_id,
                reply=self._kept(session, answered, xml),
            )
            return xml
        ended = step.state.done or any(isinstance(a, Hangup | Transfer) for a in step.actions)
        xml = twiml.render(step.actions, self.urls(session.id, session.revision + 1), self.locales)
        await sessions.save(
            session,
            step.state.to_json(),
            status=ENDED if ended else MENU,
            reply=self._kept(session, answered, xml),
        )
        return xml

    @staticmethod
    def _kept(session: Session, answered: int | None, xml: str) -> Reply | None:
        if answered is None or session.call_sid is None:
            return None
        return Reply(session.call_sid, answered, xml)

    async def enqueue(self, session: Session, enqueue: Enqueue) -> int:
        attributes = dict(enqueue.attributes)
        if enqueue.queue:
            attributes["queue"] = enqueue.queue
        message = InboundMessage(
            channel=Channel.VOICE,
            sender=session.address,
            text=call_summary(session.address, attributes),
            provider_message_id=session.call_sid or f"session-{session.id}",
            sender_name=session.address,
            attributes=attributes,
            raw={"call_sid": session.call_sid, "ivr_session": session.id},
        )
        accepted = await accept_from_channel(
            self.app, message, f"voice:{session.call_sid or session.id}:queued"
        )
        log.info("voice.call.queued", session=session.id, conversation_id=accepted.conversation_id)
        return accepted.conversation_id

    # -- waiting in line ----------------------------------------------------------------------

    async def hold(self, session: Session) -> str:
        """A round of the hold loop; the operator's phone if the call was taken meanwhile."""
        language = State.from_json(session.state).language
        conversation = (
            await self.app[CONVERSATIONS].get(session.conversation_id)
            if session.conversation_id
            else None
        )
        final = (
            await self.app[IVR_SESSIONS].final_action(conversation.id, session.created_at)
            if conversation is not None
            else None
        )
        if final is not None and conversation is not None:
            finished = await self._final(session, language, *final)
            if finished is not None:
                return finished
        if conversation is None or conversation.status == ConversationStatus.CLOSED.value:
            return twiml.speak([Say(words(language, "closed"), language)], self.locales)
        if conversation.status == ConversationStatus.ASSIGNED.value and conversation.operator_id:
            target = await self._operator_phone(conversation.operator_id)
            if target is not None:
                return twiml.connect(target, None, self.url(AFTER_DIAL, session=session.id))
        estimate = await wait_estimate(self.app[ROUTING_STATE], conversation.id)
        news = [Say(text, language) for text in hold_news(language, estimate)]
        offer = Say(words(language, "callback", key=self.ivr.callback_key), language)
        return twiml.hold(
            news,
            self.ivr.hold_music_url,
            self.ivr.callback_key,
            offer,
            self.url(HOLD_ANSWER, session=session.id),
            self.url(HOLD, session=session.id),
            self.locales,
        )

    async def _final(self, session: Session, language: str, action: str, text: str) -> str | None:
        """Every routing step expired while the caller waited: the rule's final action, on
        the phone. Overflow keeps them in line (None: the hold loop goes on)."""
        says = [Say(text, language)] if text else []
        if action == "callback":
            await self.app[IVR_SESSIONS].save(session, session.state, status=ENDED)
            return twiml.speak([*says, Say(words(language, "called_back"), language)], self.locales)
        if action == "voicemail":
            await self.app[IVR_SESSIONS].save(session, session.state, status=ENDED)
            prompt = text or words(language, "leave_message")
            record = self.url(RECORDING, caller=session.address, after="waiting")
            return twiml.apology(prompt, language, record, self.locales)
        if action == "notice":
            await self.app[IVR_SESSIONS].save(session, session.state, status=ENDED)
            return twiml.speak(says or [Say(words(language, "closed"), language)], self.locales)
        return None

    async def hold_answer(self, session: Session, digits: str) -> str:
        language = State.from_json(session.state).language
        if digits != self.ivr.callback_key or session.conversation_id is None:
            return await self.hold(session)
        await self.app[IVR_SESSIONS].save(session, session.state, status=ENDED)
        message = InboundMessage(
            channel=Channel.VOICE,
            sender=session.address,
            text=f"Please call me back at {session.address}",
            provider_message_id=f"{session.call_sid}:callback",
            sender_name=session.address,
            attributes={"callback": "requested"},
        )
        await accept_from_channel(self.app, message, f"voice:{session.call_sid}:callback")
        log.info("voice.callback.requested", session=session.id)
        return twiml.speak([Say(words(language, "called_back"), language)], self.locales)

    async def _operator_phone(self, operator_id: int) -> str | None:
        user = await self.app[USERS].get(operator_id)
        if user is None:
            return None
        profile = (await self.app[LIVE_ROUTING].current()).operators.get(user.username)
        return profile.phone if profile is not None else None

    async def on_accept(self, conversation: dict[str, Any], user: User) -> dict[str, Any] | None:
        """An operator took a call from the line: put the caller through to their phone now
        (the hold loop would, at its next round, too)."""
        if conversation.get("channel") != Channel.VOICE.value:
            return None
        session = await self.app[IVR_SESSIONS].of_conversation(int(conversation["id"]))
        if session is None or session.status != QUEUED or session.call_sid is None:
            return {"call": {"connected": False, "reason": "no caller on the line: call back"}}
        target = await self._operator_phone(user.id)
        if target is None:
            return {
                "call": {
                    "connected": False,
                    "reason": f"no phone for {user.username} in the routing operators",
                }
            }
        xml = twiml.connect(target, None, self.url(AFTER_DIAL, session=session.id))
        api = self.app[TWILIO]
        await api.client.calls(session.call_sid).update_async(twiml=xml)
        await self.app[IVR_SESSIONS].save(session, session.state, status=ENDED)
        log.info("voice.call.connected", session=session.id, operator_id=user.id)
        return {"call": {"connected": True, "to": target}}

    async def after_dial(self, session: Session, dial_status: str) -> str:
        language = State.from_json(session.state).language
        if dial_status in ("completed", "answered"):
            return twiml.speak([], self.locales)
        return twiml.speak([Say(words(language, "no_answer"), language)], self.locales)

    # -- messages and the end of a call -------------------------------------------------------

    async def voicemail(
        self, caller: str, call_sid: str | None, recording: Recording, attributes: dict[str, str]
    ) -> int:
        """A message left on the line: a voice contact with the recording (fetched and kept
        like other media) for operators to call back; the transcription follows later."""
        message = InboundMessage(
            channel=Channel.VOICE,
            sender=caller,
            text=f"Voicemail ({round(recording.duration_seconds)} s)",
            provider_message_id=recording.sid,
            sender_name=caller,
            attachments=(
                Attachment(recording.url, "audio/x-wav", "voicemail.wav", None, fetch="twilio"),
            ),
            attributes={**attributes, "kind": "voicemail"},
            raw={"call_sid": call_sid, "recording_sid": recording.sid},
        )
        accepted = await accept_from_channel(self.app, message, f"voice:{recording.sid}")
        log.info("voice.voicemail.stored", conversation_id=accepted.conversation_id)
        return accepted.conversation_id

    async def ended(self, call: Call) -> None:
        """The caller hung up: a caller still waiting in line has abandoned."""
        session = await self.app[IVR_SESSIONS].by_call(call.sid)
        if session is None or session.status == ENDED:
            return
        await self.app[IVR_SESSIONS].save(session, session.state, status=ENDED)
        if session.status == QUEUED and session.conversation_id is not None:
            conversation = await self.app[CONVERSATIONS].get(session.conversation_id)
            if conversation is not None and conversation.status == ConversationStatus.WAITING.value:
                await self.app[CONVERSATIONS].resolve(session.conversation_id, None, "abandoned")
                self.app[RELAY].nudge()
                log.info("voice.call.abandoned", conversation_id=session.conversation_id)
