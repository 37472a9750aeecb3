"""Parsing the widget's frames (pure: text in, a typed frame or a precise error out)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.errors import GatewayError
from gateway.ids import id_reason, parse_id

_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


class FrameError(GatewayError):
    """A visitor's frame that is refused: a short code and a reason (an error frame back)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SendMessage:
    client_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Resume:
    after: int


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class AskWait:
    """The visitor asks for their place in line and the expected wait."""


ClientFrame = SendMessage | Resume | Ping | AskWait


def parse_frame(raw: str, max_text_chars: int) -> ClientFrame:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FrameError("bad_json", f"frame is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise FrameError("bad_frame", "frame must be a JSON object")
    kind = data.get("type")
    if kind == "message":
        client_id, text = data.get("client_id"), data.get("text")
        if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
            raise FrameError("bad_frame", "client_id must be 8-64 characters of [A-Za-z0-9_-]")
        if not isinstance(text, str) or not text.strip():
            raise FrameError("bad_frame", "text must be a non-empty string")
        if len(text) > max_text_chars:
            raise FrameError("too_long", f"text is longer than {max_text_chars} characters")
        return SendMessage(client_id, text)
    if kind == "resume":
        after = parse_id(data.get("after", 0), minimum=0)
        if after is None:
            raise FrameError("bad_frame", id_reason("after", minimum=0))
        return Resume(after)
    if kind == "ping":
        return Ping()
    if kind == "wait":
        return AskWait()
    raise FrameError("unknown_type", f"unknown frame type {kind!r}")


_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_TOPIC = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def contact_attributes(query: Mapping[str, str]) -> dict[str, str]:
    """What the page says about the visitor, for the routing rules: ``language`` (a BCP 47 tag,
    kept as its primary subtag, e.g. ``de-AT`` -> ``de``) and ``topic`` (the page's subject,
    e.g. ``billing``). The customer tier is not taken from a browser, which could claim any."""
    attributes: dict[str, str] = {}
    language = query.get("language")
    if language:
        if not _LANGUAGE.fullmatch(language):
            raise ValueError(f"language {language[:40]!r} is not a language tag such as 'en'")
        attributes["language"] = language.split("-", 1)[0].lower()
    topic = query.get("topic")
    if topic:
        if not _TOPIC.fullmatch(topic):
            raise ValueError(
                f"topic {topic[:40]!r} must be 1-40 lower-case letters, digits, '-' or '_'"
            )
        attributes["topic"] = topic
    return attributes
