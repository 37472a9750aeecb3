"""TwiML for the engine's actions, with twilio's own VoiceResponse (pure: strings in, XML out).

How actions map: prompts (Say, Play) before a question go inside its ``<Gather>`` so a caller
can answer during the prompt; a ``<Redirect>`` after the Gather brings silence back to us as a
timeout. A recording is ``<Record>`` with a Redirect behind it for when nothing was said.
Lookups and appeal actions never reach this module (the gateway answers them before
rendering), and an Enqueue becomes the hold loop, which :func:`hold` renders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.actions import (
    Action,
    AppealStatus,
    Ask,
    AskKind,
    Enqueue,
    Hangup,
    Lookup,
    OpenAppeal,
    Play,
    Record,
    Say,
    Transfer,
)

SPEECH_TIMEOUT = "auto"


@dataclass(frozen=True, slots=True)
class VoiceUrls:
    """Where Twilio posts next, for one session (absolute URLs: Twilio signs them)."""

    answer: str  # a Gather's digits or speech
    silence: str  # nothing was entered
    recording: str  # a Record's result
    recording_empty: str  # nothing was recorded
    transcription: str  # the transcription, later


def locale(language: str, locales: Mapping[str, str]) -> str:
    """Twilio's language tag for a menu language ("en" -> "en-US")."""
    return locales.get(language, language)


def _prompt(target: VoiceResponse | Gather, action: Say | Play, locales: Mapping[str, str]) -> None:
    if isinstance(action, Say):
        options = {"language": locale(action.language, locales)}
        if action.voice:
            options["voice"] = action.voice
        target.say(action.text, **options)
    else:
        target.play(action.url)


def _gather(ask: Ask, urls: VoiceUrls, locales: Mapping[str, str]) -> Gather:
    options: dict[str, object] = {
        "action": urls.answer,
        "method": "POST",
        "timeout": max(1, round(ask.timeout_seconds)),
        "action_on_empty_result": False,
    }
    if ask.kind == AskKind.MENU:
        options["num_digits"] = 1
        if ask.hints:  # keywords: speech recognition too
            options["input"] = "dtmf speech"
            options["hints"] = ", ".join(ask.hints)
            options["language"] = locale(ask.language, locales)
            options["speech_timeout"] = SPEECH_TIMEOUT
        else:
            options["input"] = "dtmf"
    else:
        options["input"] = "dtmf"
        if ask.min_digits == ask.max_digits and not ask.finish_on_key:
            options["num_digits"] = ask.max_digits
        else:
            options["finish_on_key"] = ask.finish_on_key
            options["num_digits"] = ask.max_digits
    return Gather(**options)


def _dial(response: VoiceResponse, target: str, **options: str) -> None:
    """Dial an E.164 number, a sip: address or a client:name."""
    dial = response.dial(**options)
    if target.startswith(("sip:", "sips:")):
        dial.sip(target)
    elif target.startswith("client:"):
        dial.client(target.removeprefix("client:"))
    else:
        dial.number(target)


def render(actions: Sequence[Action], urls: VoiceUrls, locales: Mapping[str, str]) -> str:
    """The TwiML for one step's actions (an Enqueue is left to :func:`hold`)."""
    response = VoiceResponse()
    pending: list[Say | Play] = []
    for action in actions:
        if isinstance(action, Say | Play):
            pending.append(action)
            continue
        if isinstance(action, Ask):
            gather = _gather(action, urls, locales)
            for prompt in pending:
                _prompt(gather, prompt, locales)
            pending = []
            response.append(gather)
            response.redirect(urls.silence, method="POST")
            continue
        for prompt in pending:
            _prompt(response, prompt, locales)
        pending = []
        if isinstance(action, Record):
            response.record(
                action=urls.recording,
                method="POST",
                max_length=action.max_length_seconds,
                timeout=max(1, round(action.timeout_seconds)),
                finish_on_key=action.finish_on_key or "#",
                play_beep=True,
                transcribe=action.transcribe,
                **({"transcribe_callback": urls.transcription} if action.transcribe else {}),
            )
            response.redirect(urls.recording_empty, method="POST")
        elif isinstance(action, Transfer):
            _dial(response, action.target)
            response.hangup()
        elif isinstance(action, Hangup):
            response.hangup()
        elif isinstance(action, Lookup | AppealStatus | OpenAppeal):
            raise ValueError("a lookup or appeal action must be answered before rendering")
        elif isinstance(action, Enqueue):
            continue
    for prompt in pending:
        _prompt(response, prompt, locales)
    return str(response)


def hold(
    announcements: Iterable[Say],
    music_url: str,
    callback_key: str,
    offer_callback: Say | None,
    answer_url: str,
    again_url: str,
    locales: Mapping[str, str],
) -> str:
    """One round of waiting in line: news (place, expected wait), the offer of a call back
    (``callback_key``), music; then back to us for the next round."""
    response = VoiceResponse()
    gather = Gather(
        input="dtmf", num_digits=1, action=answer_url, method="POST", timeout=1,
        action_on_empty_result=False,
    )  # fmt: skip
    for say in announcements:
        _prompt(gather, say, locales)
    if offer_callback is not None:
        _prompt(gather, offer_callback, locales)
    gather.play(music_url)
    response.append(gather)
    response.redirect(again_url, method="POST")
    return str(response)


def speak(
    says: Iterable[Say], locales: Mapping[str, str], *, then_redirect: str | None = None
) -> str:
    """Just words, then the end of the call (or back to us at ``then_redirect``)."""
    response = VoiceResponse()
    for say in says:
        _prompt(response, say, locales)
    if then_redirect is not None:
        response.redirect(then_redirect, method="POST")
    else:
        response.hangup()
    return str(response)


def apology(text: str, language: str, record_url: str, locales: Mapping[str, str]) -> str:
    """When the gateway cannot serve the menu: say so and take a message (Twilio keeps the
    recording and posts it to ``record_url`` once we are back)."""
    response = VoiceResponse()
    response.say(text, language=locale(language, locales))
    response.record(
        action=record_url, method="POST", max_length=120, timeout=5, play_beep=True,
        recording_status_callback=record_url, recording_status_callback_method="POST",
    )  # fmt: skip
    response.hangup()
    return str(response)


def connect(target: str, caller_id: str | None, after_url: str) -> str:
    """Put the caller through to the operator who took the call."""
    response = VoiceResponse()
    options = {"action": after_url, "method": "POST"}
    if caller_id:
        options["caller_id"] = caller_id
    _dial(response, target, **options)
    return str(response)
