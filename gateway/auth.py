"""Who is calling: session cookies (with CSRF) for the console, bearer tokens for the API.

Why both: a browser keeps a cookie it cannot read from script (HttpOnly), so cross-site requests
must prove themselves with the CSRF token; an API client holds a bearer token and is immune to
CSRF by construction. Every handler states the role it needs with :func:`require`.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from gateway.http import fail, json_body, require_str
from gateway.keys import SETTINGS, USERS
from gateway.model import Role
from gateway.ratelimit import TokenBucket
from gateway.storage.users import User

SESSION_COOKIE = "cg_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PRINCIPAL = "cg.principal"


class LoginLimiter:
    """Slows password guessing: a burst of attempts per username and per client address,
    then one every ``refill_seconds``. In memory, per instance."""

    def __init__(
        self, burst: int = 5, refill_seconds: float = 10.0, max_keys: int = 50_000
    ) -> None:
        self.burst = burst
        self.rate = 1.0 / refill_seconds
        self.max_keys = max_keys
        self.buckets: dict[str, TokenBucket] = {}

    def allow(self, *keys: str) -> bool:
        now = time.monotonic()
        if len(self.buckets) > self.max_keys:
            self.buckets.clear()
        allowed = True
        for key in keys:
            bucket = self.buckets.setdefault(key, TokenBucket(self.rate, self.burst))
            allowed = bucket.allow(now) and allowed
        return allowed


LOGIN_LIMITER = web.AppKey("login_limiter", LoginLimiter)


@dataclass(frozen=True, slots=True)
class Principal:
    user: User
    via: str  # "session" or "token"
    csrf_token: str | None = None


async def authenticate(request: web.Request) -> Principal | None:
    users = request.app[USERS]
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = await users.user_for_api_token(header[7:].strip())
        return Principal(user, "token") if user else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = await users.session(cookie)
        if session:
            return Principal(session.user, "session", session.csrf_token)
    return None


def origin_allowed(request: web.Request, allowed: tuple[str, ...]) -> bool:
    origin = request.headers.get("Origin")
    return origin is not None and origin in allowed


async def require(request: web.Request, role: Role = Role.OPERATOR) -> Principal:
    """The caller, who must hold ``role`` or higher; CSRF-checked for unsafe cookie requests."""
    principal = await authenticate(request)
    if principal is None:
        fail(401, "unauthenticated", "sign in, or send a bearer token")
    if principal.via == "session" and request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
            fail(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    if not principal.user.role.at_least(role):
        fail(403, "forbidden", f"needs the {role.value} role")
    return principal


def _me(user: User, csrf: str | None) -> dict[str, object]:
    return {"user": user.as_json(), "csrf_token": csrf}


async def login(request: web.Request) -> web.Response:
    data = await json_body(request, 4096)
    username = require_str(data, "username", 64)
    password = require_str(data, "password", 1024)
    if not request.app[LOGIN_LIMITER].allow(f"user:{username}", f"addr:{request.remote}"):
        fail(429, "too_many_attempts", "too many sign-in attempts; wait a few seconds")
    users = request.app[USERS]
    user = await users.check_password(username, password)
    if user is None:
        fail(401, "bad_credentials", "wrong username or password")
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
        await request.app[USERS].end_session(request.cookies[SESSION_COOKIE])
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
    app[LOGIN_LIMITER] = LoginLimiter()
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_post("/api/tokens", create_token)
