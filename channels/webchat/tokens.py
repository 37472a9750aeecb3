"""Visitor tokens: an HMAC-signed visitor id the widget keeps in the browser.

Why signed and not stored: any gateway instance can check a token without a database read, and
a visitor cannot forge another visitor's id to read their conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from gateway.errors import GatewayError

_VISITOR_ID = re.compile(r"v_[A-Za-z0-9_-]{16,64}")


class TokenError(GatewayError):
    """The token is missing, malformed or not signed by this gateway."""


def _sign(secret: bytes, visitor_id: str) -> str:
    digest = hmac.new(secret, b"webchat-visitor:" + visitor_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_visitor_id() -> str:
    return "v_" + secrets.token_urlsafe(18)


def issue_token(secret: bytes, visitor_id: str) -> str:
    if not _VISITOR_ID.fullmatch(visitor_id):
        raise ValueError("not a visitor id")
    return f"{visitor_id}.{_sign(secret, visitor_id)}"


def verify_token(secret: bytes, token: str | None) -> str:
    """The visitor id inside ``token``, or TokenError."""
    if not token:
        raise TokenError("missing visitor token")
    if len(token) > 200:
        raise TokenError("malformed visitor token")
    visitor_id, dot, signature = token.partition(".")
    if not dot or not _VISITOR_ID.fullmatch(visitor_id):
        raise TokenError("malformed visitor token")
    if not hmac.compare_digest(signature, _sign(secret, visitor_id)):
        raise TokenError("visitor token signature does not match")
    return visitor_id
