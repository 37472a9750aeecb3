"""The web pages: the demo site with the chat widget, the operator console, static assets."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from gateway.http import fail
from gateway.keys import SETTINGS

STATIC = Path(__file__).with_name("web") / "static"


def page(name: str) -> web.Response:
    response = web.FileResponse(STATIC / name)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    )
    return response  # type: ignore[return-value]


async def demo_page(_request: web.Request) -> web.StreamResponse:
    return page("demo.html")


async def console_page(_request: web.Request) -> web.StreamResponse:
    return page("console.html")


async def demo_logins(request: web.Request) -> web.Response:
    """The demo accounts, shown on the console's sign-in screen; only when configured."""
    users = request.app[SETTINGS].demo.users
    if not users:
        fail(404, "not_found", "this gateway has no demo accounts")
    return web.json_response(
        {
            "logins": [
                {"username": u.username, "password": u.password.get_secret_value(), "role": u.role}
                for u in users
            ]
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", demo_page)
    app.router.add_get("/demo", demo_page)
    app.router.add_get("/console", console_page)
    app.router.add_get("/api/demo/logins", demo_logins)
    app.router.add_static("/static/", STATIC, append_version=False)
