"""Whether a provider channel may talk to its provider at start-up, and if not, why.

Why: the demo configuration (and a half-filled production one) carries credentials no provider
knows and a public URL no provider can reach. Calling Telegram's ``getMe`` and ``setWebhook``
with them only earns refusals (Telegram refuses a webhook that is not https) and noise in the
log. With such settings the gateway makes no provider call at start-up and says once why the
channel is not connected; its webhooks still take what ``contact-gateway simulate`` sends.
Pure functions of the settings, tested with plain tables.
"""

from __future__ import annotations

import re

from gateway.settings import Settings

# Words that mark a secret as one somebody still has to fill in.
PLACEHOLDER = re.compile(
    r"demo|change[-_]?me|placeholder|example|your[-_]|replace[-_]?me|x{4,}|^0+$", re.IGNORECASE
)
ZERO_SID = re.compile(r"^AC0{32}$")


def is_placeholder(secret: str) -> bool:
    return not secret.strip() or PLACEHOLDER.search(secret) is not None


def _demo(settings: Settings) -> list[str]:
    return ["the demo section is present (demo accounts)"] if settings.demo.users else []


def telegram_offline_reason(settings: Settings) -> str | None:
    """Why the gateway must not call the Bot API at start-up (None: it may)."""
    telegram = settings.telegram
    if telegram.bot_token is None:
        return None
    reasons = _demo(settings)
    token = telegram.bot_token.get_secret_value()
    bot_id, _, secret = token.partition(":")
    if not bot_id.isdigit() or int(bot_id) == 0 or is_placeholder(secret):
        reasons.append("bot_token is a placeholder")
    public_url = settings.http.public_url
    if telegram.mode == "webhook" and not public_url.startswith("https://"):
        reasons.append(f"http.public_url {public_url} is not https (Telegram calls only https)")
    return "; ".join(reasons) or None


def twilio_offline_reason(settings: Settings) -> str | None:
    """Why the gateway must not call Twilio at start-up (None: it may)."""
    twilio = settings.twilio
    if twilio.account_sid is None:
        return None
    reasons = _demo(settings)
    token = twilio.auth_token.get_secret_value() if twilio.auth_token else ""
    if ZERO_SID.match(twilio.account_sid) or is_placeholder(token):
        reasons.append("account_sid or auth_token is a placeholder")
    return "; ".join(reasons) or None
