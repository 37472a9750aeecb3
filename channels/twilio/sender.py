"""Replies on SMS and WhatsApp through Twilio's REST API, with the async Twilio client.

Why the official client: it speaks the API (form encoding, auth, errors) as Twilio defines it;
only its base URL is configurable, so tests point it at a local server that speaks the protocol.
"""

from __future__ import annotations

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.twilio.messaging import reply_address
from gateway.dispatch import PermanentFailure, TemporaryFailure
from gateway.model import Channel, MessageStatus
from gateway.settings import TwilioSettings
from gateway.storage.outbound import OutboundJob

STATUS_PATH = "/webhooks/twilio/status"
# Twilio error 21610: the recipient replied STOP; 63024 & co: not a WhatsApp user.
UNSUBSCRIBED = 21610


class TwilioApi:
    """One Twilio client for both channels (made inside the event loop, closed with the app)."""

    def __init__(self, settings: TwilioSettings) -> None:
        assert settings.account_sid and settings.auth_token
        self.settings = settings
        self.http = AsyncTwilioHttpClient(timeout=settings.request_timeout_seconds)
        self.client = Client(
            settings.account_sid, settings.auth_token.get_secret_value(), http_client=self.http
        )
        self.client.api.base_url = settings.api_base_url.rstrip("/")

    async def close(self) -> None:
        if self.http.session is not None:
            await self.http.session.close()


class TwilioSender:
    def __init__(self, channel: Channel, api: TwilioApi, public_url: str) -> None:
        self.channel = channel.value
        self.api = api
        self.status_callback = public_url.rstrip("/") + STATUS_PATH

    def _sender(self, job: OutboundJob) -> dict[str, str]:
        settings = self.api.settings
        if settings.messaging_service_sid:
            return {"messaging_service_sid": settings.messaging_service_sid}
        configured = settings.whatsapp_from if self.channel == "whatsapp" else settings.sms_from
        number = configured or job.attributes.get("via")
        if not number:
            raise PermanentFailure("no number to send from: set twilio.sms_from or whatsapp_from")
        return {"from_": reply_address(self.channel, number.removeprefix("whatsapp:"))}

    async def send(self, job: OutboundJob) -> str:
        media = [a["url"] for a in job.attachments if a.get("url")]
        try:
            message = await self.api.client.messages.create_async(
                to=reply_address(self.channel, job.address),
                body=job.text,
                status_callback=self.status_callback,
                **({"media_url": media} if media else {}),
                **self._sender(job),
            )
        except TwilioRestException as exc:
            reason = f"Twilio {exc.status} (code {exc.code}): {exc.msg}"[:300]
            if exc.status == 429 or exc.status >= 500:
                raise TemporaryFailure(reason) from exc
            if exc.code == UNSUBSCRIBED:
                raise PermanentFailure(reason, MessageStatus.FAILED) from exc
            raise PermanentFailure(reason) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TemporaryFailure(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc
        return str(message.sid)
