"""Fetching the media of an MMS or WhatsApp message from Twilio, with the account's credentials.

Twilio gives a media URL per file (``MediaUrl0``...) under the account's Messages resource.
Only such URLs are fetched, and only from the configured API base URL: the credentials go to
Twilio and nowhere else, and tests point the base URL at a local server. Twilio may redirect
to its media CDN; aiohttp drops the credentials on a redirect to another host.
"""

from __future__ import annotations

from base64 import b64encode
from urllib.parse import urlsplit

import aiohttp

from gateway.jobs import JobError, TemporaryFailure
from gateway.media import Fetched, TooLarge
from gateway.settings import TwilioSettings

TWILIO_API_HOST = "api.twilio.com"
CHUNK = 64 * 1024


def media_path(url: str, account_sid: str, base_url: str) -> str:
    """The path of a Twilio media URL (a message's media, a call's recording) of this account
    (to be fetched from ``base_url``), or a JobError for any other URL."""
    parts = urlsplit(url)
    hosts = {TWILIO_API_HOST, urlsplit(base_url).netloc}
    account = f"/2010-04-01/Accounts/{account_sid}/"
    media = parts.path.startswith(account + "Messages/") and "/Media/" in parts.path
    recording = parts.path.startswith(account + "Recordings/")
    ours = media or recording
    if parts.netloc not in hosts or not ours:
        raise JobError("not a Twilio media URL of this account; not fetched")
    return parts.path


def retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class TwilioMediaFetcher:
    name = "twilio"

    def __init__(self, settings: TwilioSettings) -> None:
        assert settings.account_sid and settings.auth_token
        self.settings = settings
        credentials = f"{settings.account_sid}:{settings.auth_token.get_secret_value()}"
        # aiohttp drops this header when Twilio redirects to its CDN on another host.
        self.headers = {"Authorization": "Basic " + b64encode(credentials.encode()).decode()}
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.request_timeout_seconds * 3)
        )

    async def close(self) -> None:
        await self.session.close()

    async def fetch(self, url: str, limit: int) -> Fetched:
        assert self.settings.account_sid is not None
        base = self.settings.api_base_url.rstrip("/")
        path = media_path(url, self.settings.account_sid, base)
        try:
            async with self.session.get(base + path, headers=self.headers) as response:
                if response.status == 429 or response.status >= 500:
                    raise TemporaryFailure(
                        f"Twilio answered {response.status} for the file",
                        retry_after(response.headers.get("Retry-After")),
                    )
                if response.status == 404:
                    raise JobError("Twilio no longer has this file")
                if response.status != 200:
                    raise JobError(f"Twilio refused the file ({response.status})")
                if (response.content_length or 0) > limit:
                    raise TooLarge(limit)
                data = bytearray()
                async for chunk in response.content.iter_chunked(CHUNK):
                    data += chunk
                    if len(data) > limit:
                        raise TooLarge(limit)
                return Fetched(bytes(data), response.content_type or None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TemporaryFailure(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc
