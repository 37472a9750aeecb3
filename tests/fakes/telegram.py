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
