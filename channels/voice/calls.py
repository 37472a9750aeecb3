"""Twilio Voice webhooks as pure functions: the call, the caller's answer, a recording.

Sans-I/O like the messaging webhooks: the adapter verifies the signature and hands over the form;
this returns our types or a precise error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from channels.common import WebhookError, normalize_number
from ivr.actions import Digits, Event, RecordingDone, Text, Timeout

Form = Mapping[str, str]
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
RECORDING_SID = re.compile(r"RE[0-9a-f]{32}")
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
KEYS = re.compile(r"[0-9*#]{1,64}")


@dataclass(frozen=True, slots=True)
class Call:
    sid: str
    caller: str  # E.164, or "withheld:<CallSid>" when the number is not shown
    called: str
    status: str

    @property
    def ended(self) -> bool:
        return self.status in ENDED


def _sid(form: Form) -> str:
    sid = form.get("CallSid", "")
    if not CALL_SID.fullmatch(sid):
        raise WebhookError(400, "bad_request", "CallSid is missing or not a Twilio call id")
    return sid


def parse_call(form: Form, default_region: str) -> Call:
    sid = _sid(form)
    raw_from = form.get("From", "")
    try:
        caller = normalize_number(raw_from, default_region)
    except WebhookError:
        caller = f"withheld:{sid}"  # anonymous, restricted, or not a number
    return Call(sid, caller, form.get("To", ""), (form.get("CallStatus") or "").lower())


def parse_answer(form: Form) -> Event:
    """A Gather's result: keys pressed, else words recognised, else silence."""
    _sid(form)
    digits = form.get("Digits", "")
    if digits:
        if not KEYS.fullmatch(digits):
            raise WebhookError(400, "bad_request", "Digits may only hold 0-9, * and #")
        return Digits(digits)
    speech = (form.get("SpeechResult") or "").strip()
    if speech:
        return Text(speech[:500])
    return Timeout()


@dataclass(frozen=True, slots=True)
class Recording:
    sid: str
    url: str
    duration_seconds: float


def parse_recording(form: Form) -> Recording | None:
    """A Record's result, or None when nothing was recorded."""
    sid = form.get("RecordingSid", "")
    url = form.get("RecordingUrl", "")
    if not sid and not url:
        return None
    if not RECORDING_SID.fullmatch(sid) or not url.startswith("https://"):
        raise WebhookError(400, "bad_request", "RecordingSid or RecordingUrl is not Twilio's")
    try:
        duration = float(form.get("RecordingDuration") or "0")
    except ValueError:
        raise WebhookError(400, "bad_request", "RecordingDuration is not a number") from None
    if duration <= 0:
        return None
    return Recording(sid, url, duration)


def recording_event(recording: Recording | None) -> Event:
    if recording is None:
        return Timeout()
    return RecordingDone(recording.url, recording.duration_seconds)
