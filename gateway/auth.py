"""Who is calling: session cookies (with CSRF) for the console, bearer tokens for the API.

Why both: a browser keeps a cookie it cannot read from script (HttpOnly), so cross-site requests
must prove themselves with the CSRF token; an API client holds a bearer token and is immune to
CSRF by construction. Every handler states the role it needs with :func:`require`.
"""

from __future__ import annotations

import hmac
import json
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn

from aiohttp import web

from gateway.http import fail, json_body, require_str
from gateway.keys import SETTINGS, SIGN_OUT_HOOKS, USERS
from gateway.model import Role
from gateway.ratelimit import KeyedBuckets
from gateway.storage.users import User, UserStore, token_hash

SESSION_COOKIE = "cg_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PRINCIPAL = "cg.principal"


class LoginLimiter:
    """Slows password guessing: only failed sign-ins count, per account and (separately, with
    more room, since staff share addresses behind NAT) per client address. A successful
    sign-in costs nothing and clears the account's failures. In memory, per instance."""

    def __init__(
        self,
        account_burst: int = 5,
        account_refill_seconds: float = 10.0,
        address_burst: int = 30,
        address_refill_seconds: float = 2.0,
        max_keys: int = 50_000,
    ) -> None:
        self.accounts = KeyedBuckets(1.0 / account_refill_seconds, account_burst, max_keys)
        self.addresses = KeyedBuckets(1.0 / address_refill_seconds, address_burst, max_keys)

    @staticmethod
    def _account(username: str) -> str:
        return username.strip().casefold()

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this account may try again from this address (0: now)."""
        now = time.monotonic()
        return max(
            self.accounts.wait(self._account(username), now), self.addresses.wait(address, now)
        )

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        self.accounts.take(self._account(username), now)
        self.addresses.take(address, now)

    def succeeded(self, username: str) -> None:
        self.accounts.reset(self._account(username))


LOGIN_LIMITER = web.AppKey("login_limiter", LoginLimiter)


@dataclass(frozen=True, slots=True)
class Principal:
    user: User
    via: str  # "session" or "token"
    csrf_token: str | None = None
    # The session cookie or bearer token itself, to check again later (an open socket).
    credential: str = field(default="", repr=False)

    @property
    def session_id(self) -> str | None:
        """The stored (hashed) id of the browser session, None for a bearer token."""
        return token_hash(self.credential) if self.via == "session" else None


async def still_valid(users: UserStore, principal: Principal) -> bool:
    """Whether the session or token is still in force (not signed out, revoked or expired,
    here or on another instance) and its user not disabled."""
    if principal.via == "session":
        return await users.session(principal.credential) is not None
    return await users.user_for_api_token(principal.credential) is not None


async def authenticate(request: web.Request) -> Principal | None:
    users = request.app[USERS]
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        user = await users.user_for_api_token(token)
        return Principal(user, "token", credential=token) if user else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = await users.session(cookie)
        if session:
            return Principal(session.user, "session", session.csrf_token, cookie)
    return None


def origin_allowed(request: web.Request, allowed: tuple[str, ...]) -> bool:
    origin = request.headers.get("Origin")
    return origin is not None and origin in allowed


def check_console_origin(request: web.Request, *, required: bool = False) -> None:
    """The one origin check for requests that carry or set the session cookie: sign-in, every
    cookie-authenticated change, and the console socket (``required``: a socket handshake has
    no CSRF token, so it must name an allowed page).

    A browser names the page that sent a request in ``Origin`` (``null`` when it hides it) and
    marks cross-site requests in ``Sec-Fetch-Site``; both must point to one of
    ``security.allowed_origins``. A request with neither comes from a non-browser client, which
    no other site can make send our cookie. Requests with a bearer token are not checked: the
    token is not ambient, so another site cannot borrow it."""
    origin = request.headers.get("Origin")
    allowed = request.app[SETTINGS].security.allowed_origins
    if origin is not None:
        if origin not in allowed:
            fail(403, "origin", "requests from this page are not allowed")
        return
    if required or request.headers.get("Sec-Fetch-Site", "") == "cross-site":
        fail(403, "origin", "requests from this page are not allowed")


async def require(request: web.Request, role: Role = Role.OPERATOR) -> Principal:
    """The caller, who must hold ``role`` or higher; CSRF-checked for unsafe cookie requests."""
    principal = await authenticate(request)
    if principal is None:
        fail(401, "unauthenticated", "sign in, or send a bearer token")
    if principal.via == "session" and request.method not in _SAFE_METHODS:
        check_console_origin(request)
        sent = request.headers.get(CSRF_HEADER, "")
        if not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
            fail(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    if not principal.user.role.at_least(role):
        fail(403, "forbidden", f"needs the {role.value} role")
    return principal


def _me(user: User, csrf: str | None) -> dict[str, object]:
    return {"user": user.as_json(), "csrf_token": csrf}


def _too_many(seconds: float) -> NoReturn:
    wait = max(1, math.ceil(seconds))
    body = {"error": "too_many_attempts", "reason": f"too many failed sign-ins; wait {wait}s"}
    raise web.HTTPTooManyRequests(
        text=json.dumps(body), content_type="application/json", headers={"Retry-After": str(wait)}
    )


async def login(request: web.Request) -> web.Response:
    # Only JSON: a cross-site HTML form can send text/plain or form data without asking, but
    # not application/json.
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(
            text=json.dumps(
                {
                    "error": "unsupported_media_type",
                    "reason": "send the sign-in as application/json",
                }
            ),
            content_type="application/json",
        )
    check_console_origin(request)
    data = await json_body(request, 4096)
    username = require_str(data, "username", 64)
    password = require_str(data, "password", 1024)
    limiter, address = request.app[LOGIN_LIMITER], request.remote or "unknown"
    wait = limiter.retry_after(username, address)
    if wait > 0:
        _too_many(wait)
    users = request.app[USERS]
    user = await users.check_password(username, password)
    if user is None:
        limiter.failed(username, address)
        fail(401, "bad_credentials", "wrong username or password")
    limiter.succeeded(username)
    settings = request.app[SETTINGS].security
    session = await users.create_session(user, timedelta(hours=settings.session_hours))
    response = web.json_response(_me(user, session.csrf_token))
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        httponly=True,
        samesite="Strict",
        secure=settings.secure_cookies,
        max_age=int(settings.session_hours * 3600),
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    principal = await require(request)
    if principal.via == "session":
        await request.app[USERS].end_session(principal.credential)
        # The consoles this session has open, on every instance, close with it.
        for signed_out in request.app[SIGN_OUT_HOOKS]:
            await signed_out(principal.user.id, principal.session_id)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    principal = await require(request)
    return web.json_response(_me(principal.user, principal.csrf_token))


async def create_token(request: web.Request) -> web.Response:
    principal = await require(request)
    data = await json_body(request, 4096)
    name = data.get("name") or "api"
    if not isinstance(name, str) or len(name) > 100:
        fail(422, "bad_field", "'name' must be a string of at most 100 characters")
    token = await request.app[USERS].create_api_token(principal.user, name)
    return web.json_response({"token": token, "name": name}, status=201)


def add_routes(app: web.Application) -> None:
    security = app[SETTINGS].security
    app[LOGIN_LIMITER] = LoginLimiter(
        account_burst=security.login_failures_per_account,
        account_refill_seconds=security.login_account_refill_seconds,
        address_burst=security.login_failures_per_address,
        address_refill_seconds=security.login_address_refill_seconds,
    )
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_post("/api/tokens", create_token)
