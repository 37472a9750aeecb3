"""A local stand-in for the Telegram Bot API: getMe, setWebhook, deleteWebhook, getUpdates,
sendMessage, answerCallbackQuery, getFile and file downloads, answering as Telegram does
(``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description",
"parameters"}``). Failures can be scripted."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

BOT_TOKEN = "123456:ABC-fake-token-for-tests"
BOT_ID = 123456


@dataclass
class FakeTelegram:
    token: str = BOT_TOKEN
    sent: list[dict[str, Any]] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    pending_updates: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[dict[str, Any]] = field(default_factory=list)  # error bodies to answer with
    send_calls: int = 0
    files: dict[str, bytes] = field(default_factory=dict)  # file_id -> content
    file_fail_next: list[dict[str, Any]] = field(default_factory=list)  # for getFile
    downloads: list[str] = field(default_factory=list)
    update_requests: list[dict[str, Any]] = field(default_factory=list)  # getUpdates' params
    server: TestServer | None = None
    _next_message_id: int = 1000

    @property
    def api_base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/bot"))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._call)
        app.router.add_get("/bot{token}/{method}", self._call)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        return app

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.match_info["path"]
        self.downloads.append(path)
        file_id = path.rsplit("/", 1)[-1].split(".", 1)[0]
        if file_id not in self.files:
            return _error(404, "Not Found")
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    def _get_file(self, params: dict[str, Any]) -> web.Response:
        if self.file_fail_next:
            failure = self.file_fail_next.pop(0)
            return web.json_response({"ok": False, **failure}, status=failure["error_code"])
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            return _error(400, "Bad Request: wrong file_id or the file is temporarily unavailable")
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files[file_id]),
                "file_path": f"documents/{file_id}.bin",
            }
        )

    async def _call(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        if method == "getMe":
            return _ok(
                {"id": BOT_ID, "is_bot": True, "first_name": "Northwind", "username": "nw_bot"}
            )
        if method == "setWebhook":
            self.webhook = params
            return _ok(True)
        if method == "deleteWebhook":
            self.webhook = {}
            return _ok(True)
        if method == "getUpdates":
            return await self._updates(params)
        if method == "getFile":
            return self._get_file(params)
        if method == "answerCallbackQuery":
            self.answered.append(str(params.get("callback_query_id")))
            return _ok(True)
        if method == "sendMessage":
            self.send_calls += 1
            if self.fail_next:
                failure = self.fail_next.pop(0)
                return web.json_response({"ok": False, **failure}, status=failure["error_code"])
            self._next_message_id += 1
            message = {
                "message_id": self._next_message_id,
                "date": 1_700_000_000,
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params.get("text", ""),
            }
            sent: dict[str, Any] = {"chat_id": int(params["chat_id"]), "text": params.get("text")}
            if params.get("reply_markup"):
                sent["reply_markup"] = params["reply_markup"]
            self.sent.append(sent)
            return _ok(message)
        return _error(404, "Not Found: method not found")

    async def _updates(self, params: dict[str, Any]) -> web.Response:
        self.update_requests.append(params)
        offset = int(params.get("offset") or 0)
        self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        waited = 0.0
        while not self.pending_updates and waited < min(float(params.get("timeout") or 0), 1.0):
            await asyncio.sleep(0.05)
            waited += 0.05
        return _ok(list(self.pending_updates))


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        return dict(await request.json())
    form = await request.post()
    out: dict[str, Any] = {}
    for key, value in form.items():
        text = value if isinstance(value, str) else ""
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": status, "description": description}, status=status
    )


def blocked() -> dict[str, Any]:
    return {"error_code": 403, "description": "Forbidden: bot was blocked by the user"}


def flood(seconds: int) -> dict[str, Any]:
    return {
        "error_code": 429,
        "description": f"Too Many Requests: retry after {seconds}",
        "parameters": {"retry_after": seconds},
    }


def text_update(update_id: int, chat_id: int, text: str, **message: Any) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id * 10,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Lena"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Lena", "last_name": "Schmidt"},
            "text": text,
            **message,
        },
    }


# ---- one update of every kind, as the Bot API documents them ------------------------------
# The customer, their private chat, a group and a channel, and the bot itself, as Telegram
# describes them (fields the gateway never reads included, optional ones sometimes left out).
SAMPLE_CHAT = 987654321
_USER = {
    "id": SAMPLE_CHAT,
    "is_bot": False,
    "first_name": "Lena",
    "last_name": "Schmidt",
    "username": "lena_s",
    "language_code": "de",
}
_BOT = {"id": BOT_ID, "is_bot": True, "first_name": "Northwind", "username": "nw_bot"}
_PRIVATE = {
    "id": SAMPLE_CHAT,
    "first_name": "Lena",
    "last_name": "Schmidt",
    "username": "lena_s",
    "type": "private",
}
_GROUP = {"id": -1009876543210, "title": "Northwind customers", "type": "supergroup"}
_CHANNEL = {
    "id": -1001234567890,
    "title": "Northwind news",
    "username": "northwind_news",
    "type": "channel",
}
_DATE = 1_733_000_000


def _message(message_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "from": _USER,
        "chat": _PRIVATE,
        "date": _DATE,
        **fields,
    }


def _member_update(
    chat: dict[str, Any], old: str, new: str, user: dict[str, Any]
) -> dict[str, Any]:
    def member(status: str) -> dict[str, Any]:
        # A banned member ("kicked") carries until_date, 0 for ever.
        return {"status": status, "user": user, **({"until_date": 0} if status == "kicked" else {})}

    return {
        "chat": chat,
        "from": _USER,
        "date": _DATE,
        "old_chat_member": member(old),
        "new_chat_member": member(new),
    }


def every_update_kind() -> dict[str, dict[str, Any]]:
    """One update of each kind in the Bot API's Update object (Bot API 10.0: 25 kinds, plus one
    of a kind Telegram may add later), keyed by kind."""
    updates: dict[str, Any] = {
        "message": _message(
            101,
            text="/start hallo",
            entities=[{"offset": 0, "length": 6, "type": "bot_command"}],
        ),
        "edited_message": _message(102, text="Korrektur", edit_date=_DATE + 60),
        "channel_post": {
            "message_id": 103,
            "sender_chat": _CHANNEL,
            "chat": _CHANNEL,
            "date": _DATE,
            "text": "Wartungsarbeiten heute Nacht",
        },
        "edited_channel_post": {
            "message_id": 103,
            "sender_chat": _CHANNEL,
            "chat": _CHANNEL,
            "date": _DATE,
            "edit_date": _DATE + 30,
            "text": "Wartungsarbeiten morgen Nacht",
        },
        "business_connection": {
            "id": "BCAbCdEf0123",
            "user": _USER,
            "user_chat_id": SAMPLE_CHAT,
            "date": _DATE,
            "rights": {"can_reply": True, "can_read_messages": True},
            "is_enabled": True,
        },
        "business_message": _message(
            104, business_connection_id="BCAbCdEf0123", text="Haben Sie offen?"
        ),
        "edited_business_message": _message(
            104,
            business_connection_id="BCAbCdEf0123",
            text="Haben Sie heute offen?",
            edit_date=_DATE + 10,
        ),
        "deleted_business_messages": {
            "business_connection_id": "BCAbCdEf0123",
            "chat": _PRIVATE,
            "message_ids": [104],
        },
        "message_reaction": {
            "chat": _PRIVATE,
            "message_id": 105,
            "user": _USER,
            "date": _DATE,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "\U0001f44d"}],
        },
        "message_reaction_count": {
            "chat": _CHANNEL,
            "message_id": 106,
            "date": _DATE,
            "reactions": [{"type": {"type": "emoji", "emoji": "\U0001f525"}, "total_count": 3}],
        },
        "inline_query": {
            "id": "4387582640117812345",
            "from": _USER,
            "query": "tarif",
            "offset": "",
            "chat_type": "sender",
        },
        "chosen_inline_result": {"result_id": "tarif-1", "from": _USER, "query": "tarif"},
        "callback_query": {
            "id": "4387582640117812346",
            "from": _USER,
            "message": {**_message(107, text="Worum geht es?"), "from": _BOT},
            "chat_instance": "-7421635398512345678",
            "data": "billing",
        },
        "shipping_query": {
            "id": "shq-1",
            "from": _USER,
            "invoice_payload": "order-42",
            "shipping_address": {
                "country_code": "DE",
                "state": "",
                "city": "Berlin",
                "street_line1": "Torstr. 1",
                "street_line2": "",
                "post_code": "10119",
            },
        },
        "pre_checkout_query": {
            "id": "pcq-1",
            "from": _USER,
            "currency": "EUR",
            "total_amount": 1999,
            "invoice_payload": "order-42",
        },
        "purchased_paid_media": {"from": _USER, "paid_media_payload": "media-7"},
        "poll": {
            "id": "5377643193141559299",
            "question": "Wie zufrieden sind Sie?",
            "options": [
                {"persistent_id": "o1", "text": "Sehr", "voter_count": 3},
                {"persistent_id": "o2", "text": "Kaum", "voter_count": 1},
            ],
            "total_voter_count": 4,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
        },
        "poll_answer": {
            "poll_id": "5377643193141559299",
            "user": _USER,
            "option_ids": [0],
            "option_persistent_ids": ["o1"],
        },
        "my_chat_member": _member_update(_PRIVATE, "member", "kicked", _BOT),
        "chat_member": _member_update(_GROUP, "left", "member", _USER),
        "chat_join_request": {
            "chat": _GROUP,
            "from": _USER,
            "user_chat_id": SAMPLE_CHAT,
            "date": _DATE,
            "bio": "Kundin seit 2019",
        },
        "chat_boost": {
            "chat": _CHANNEL,
            "boost": {
                "boost_id": "boost-1",
                "add_date": _DATE,
                "expiration_date": _DATE + 86_400 * 30,
                "source": {"source": "premium", "user": _USER},
            },
        },
        "removed_chat_boost": {
            "chat": _CHANNEL,
            "boost_id": "boost-1",
            "remove_date": _DATE + 3600,
            "source": {"source": "premium", "user": _USER},
        },
        "managed_bot": {
            "user": _USER,
            "bot": {
                "id": 7000001,
                "is_bot": True,
                "first_name": "Lenas Helfer",
                "username": "lh_bot",
            },
        },
        # Someone called the bot as a guest into their chat with another person: not a
        # conversation with the customer, though the chat is private.
        "guest_message": _message(
            108,
            chat={"id": 55501, "first_name": "Jonas", "type": "private"},
            text="@nw_bot wann ist der Laden offen?",
            guest_query_id="gq-1",
            guest_bot_caller_user=_USER,
            guest_bot_caller_chat={"id": 55501, "first_name": "Jonas", "type": "private"},
        ),
        # A kind from a Bot API version newer than this code.
        "some_future_kind": {"id": "f-1", "from": _USER, "payload": {"anything": [1, 2, 3]}},
    }
    return {
        kind: {"update_id": 700_000 + n, kind: body}
        for n, (kind, body) in enumerate(updates.items())
    }


def message_variant(update_id: int, **fields: Any) -> dict[str, Any]:
    """A private chat's message with the given fields (and no text unless given)."""
    return {"update_id": update_id, "message": _message(update_id * 10, **fields)}


def member_update(update_id: int, old: str, new: str, chat_id: int = SAMPLE_CHAT) -> dict[str, Any]:
    """The bot's membership in a customer's private chat changed (blocked: ``kicked``)."""
    chat = {**_PRIVATE, "id": chat_id}
    return {"update_id": update_id, "my_chat_member": _member_update(chat, old, new, _BOT)}
