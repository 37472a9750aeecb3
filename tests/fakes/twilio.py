"""A local stand-in for Twilio's REST API (Messages) and a signer for Twilio's webhooks.

It speaks the protocol the real one does: HTTP basic auth with the account SID and auth token,
form-encoded requests (repeated ``MediaUrl``), JSON answers with a message ``sid``, and Twilio's
JSON error bodies; and the media of inbound messages, behind the same basic auth. Failures can be
scripted to test retries.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
SERVICE_SID = "MG" + "2" * 32


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    sent: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses to answer, in order
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (data, type)
    media_fail_next: list[int] = field(default_factory=list)
    media_requests: list[str] = field(default_factory=list)
    call_updates: list[dict[str, str]] = field(default_factory=list)  # {"sid", "Twiml"}
    server: TestServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        app.router.add_get(
            "/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}", self._media
        )
        app.router.add_get("/2010-04-01/Accounts/{sid}/Recordings/{recording}", self._media)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Calls/{call}.json", self._update_call)
        return app

    def add_recording(self, data: bytes) -> tuple[str, str]:
        """Host a call recording; its RecordingSid and RecordingUrl."""
        recording_sid = "RE" + secrets.token_hex(16)
        path = f"/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}"
        self.media[path] = (data, "audio/x-wav")
        return recording_sid, f"https://api.twilio.com{path}"

    async def _update_call(self, request: web.Request) -> web.Response:
        if not self._authorized(request) or request.match_info["sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        form = await request.post()
        call = request.match_info["call"]
        self.call_updates.append({"sid": call, "Twiml": str(form.get("Twiml", ""))})
        return web.json_response(
            {"sid": call, "account_sid": self.account_sid, "status": "in-progress"}
        )

    def add_media(self, message: str, data: bytes, content_type: str) -> str:
        """Host a file of an inbound message; the MediaUrl Twilio would send for it."""
        media_sid = "ME" + secrets.token_hex(16)
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message}/Media/{media_sid}"
        self.media[path] = (data, content_type)
        return f"https://api.twilio.com{path}"

    async def _media(self, request: web.Request) -> web.Response:
        self.media_requests.append(request.path)
        if not self._authorized(request) or request.match_info["sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if self.media_fail_next:
            status = self.media_fail_next.pop(0)
            return _error(status, 20500 if status >= 500 else 20429, "Try again")
        found = self.media.get(request.path)
        if found is None:
            return _error(404, 20404, "The requested resource was not found")
        data, content_type = found
        return web.Response(body=data, content_type=content_type)

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorized(request) or request.match_info["sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if self.fail_next:
            status = self.fail_next.pop(0)
            code = 20429 if status == 429 else 20500
            return _error(status, code, "Too Many Requests" if status == 429 else "Server error")
        form = await request.post()
        if not form.get("To") or not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21604, "A 'To' and a 'From' or 'MessagingServiceSid' are required")
        sid = "SM" + secrets.token_hex(16)
        self.sent.append(
            {
                "sid": sid,
                "To": form.get("To"),
                "From": form.get("From"),
                "MessagingServiceSid": form.get("MessagingServiceSid"),
                "Body": form.get("Body"),
                "StatusCallback": form.get("StatusCallback"),
                "MediaUrl": form.getall("MediaUrl", []),
            }
        )
        return web.json_response(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
                "num_media": str(len(form.getall("MediaUrl", []))),
                "api_version": "2010-04-01",
            },
            status=201,
        )


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def signed(url: str, params: list[tuple[str, str]], token: str = AUTH_TOKEN) -> dict[str, Any]:
    """Headers and body for a webhook as Twilio sends it to ``url``."""
    from multidict import MultiDict

    signature = RequestValidator(token).compute_signature(url, MultiDict(params))
    return {
        "data": urlencode(params),
        "headers": {
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    }


def sms_params(
    sid: str, sender: str, text: str, to: str = "+15550001111", **extra: str
) -> list[tuple[str, str]]:
    params = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", sender),
        ("To", to),
        ("Body", text),
        ("NumMedia", "0"),
    ]
    return params + list(extra.items())


def message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def status_params(
    sid: str,
    status: str,
    to: str = "+4915123456789",
    sender: str = "+15550001111",
    error_code: str | None = None,
    **extra: str,
) -> list[tuple[str, str]]:
    """A Messaging status callback as Twilio sends it: both the current and the legacy names,
    ErrorCode on a failure, the carrier's RawDlrDoneDate on a delivery report."""
    params = [
        ("ApiVersion", "2010-04-01"),
        ("AccountSid", ACCOUNT_SID),
        ("From", sender),
        ("To", to),
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("MessageStatus", status),
        ("SmsStatus", status),
    ]
    if error_code is not None:
        params.append(("ErrorCode", error_code))
    if status in ("delivered", "undelivered"):
        params.append(("RawDlrDoneDate", "2412011530"))
    return params + list(extra.items())
