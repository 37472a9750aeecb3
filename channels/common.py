"""What every provider channel's pure parsing shares: the error a webhook answers with, and
phone numbers in one format (E.164), so one customer is one number on every channel."""

from __future__ import annotations

import phonenumbers

from gateway.errors import Refused


class WebhookError(Refused):
    """A webhook that is refused: the HTTP status, a short code and a reason for humans."""


def normalize_number(raw: str, default_region: str) -> str:
    """E.164 (``+4930123456``) for a phone number as a carrier or a person wrote it."""
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise WebhookError(400, "bad_number", f"{raw[:40]!r} is not a phone number") from exc
    if not phonenumbers.is_possible_number(number):
        raise WebhookError(400, "bad_number", f"{raw[:40]!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
