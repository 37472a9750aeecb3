"""The HTTP API description: it covers every /api/* route (and nothing else), docs/api.md is
rendered from it, and a property-based run (schemathesis) against a running gateway finds no
5xx, no undocumented status and no answer that breaks its schema."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import hypothesis
import requests
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.app import create_app
from gateway.keys import USERS
from gateway.model import Role
from gateway.openapi import document, markdown
from tests.conftest import RunningGateway
from tests.support import make_settings

REPO = Path(__file__).resolve().parent.parent
MAX_EXAMPLES = 4


def _routes(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(make_settings(tmp_path))
    out = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/") and route.method != "HEAD":
            out.add((route.method.lower(), path))
    return out


def test_every_api_route_has_an_operation_and_every_operation_a_route(tmp_path: Path) -> None:
    documented = {
        (method, path) for path, methods in document()["paths"].items() for method in methods
    }
    routes = _routes(tmp_path)
    assert routes - documented == set(), "routes without a documented operation"
    assert documented - routes == set(), "documented operations without a route"


def test_the_api_docs_are_rendered_from_the_document() -> None:
    committed = (REPO / "docs" / "api.md").read_text()
    assert committed == markdown(document()), (
        "docs/api.md is stale: python -m gateway.openapi --markdown > docs/api.md"
    )


async def test_the_document_is_served_without_sign_in(gateway: RunningGateway) -> None:
    async with gateway.http.get(f"{gateway.base}/api/openapi.json") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.json() == document()


async def _token(gateway: RunningGateway, username: str, role: Role) -> str:
    users = gateway.app[USERS]
    user = await users.add(username, f"{username}-password", role, username.title())
    return str(await users.create_api_token(user, "schemathesis"))


def _run_operation(operation: Any, base: str, tokens: list[str], failures: list[str]) -> None:
    """Run one operation's generated cases as every role (blocking: requests)."""

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy())
    def run(case: Any) -> None:
        for token in tokens:
            response = case.call(
                base_url=base,
                session=session,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            try:
                case.validate_response(
                    response,
                    checks=[
                        not_a_server_error,
                        status_code_conformance,
                        content_type_conformance,
                        response_schema_conformance,
                    ],
                )
            except (AssertionError, BaseExceptionGroup) as exc:
                if not failures or not failures[-1].startswith(operation.label):
                    failures.append(f"{operation.label}: {exc}")  # the first one is enough
                return

    with requests.Session() as session:  # keep-alive: most of the time is connecting
        run()


async def test_property_based_run_finds_no_server_error_or_schema_violation(
    gateway: RunningGateway,
) -> None:
    tokens = [
        await _token(gateway, "olga", Role.OPERATOR),
        await _token(gateway, "sam", Role.SUPERVISOR),
        await _token(gateway, "root", Role.ADMIN),
    ]
    async with gateway.http.get(f"{gateway.base}/api/openapi.json") as resp:
        served = await resp.json()
    schema = schemathesis.openapi.from_dict(served)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        # A public operation is the same for everyone: once, as the operator.
        callers = tokens if operation.definition.raw.get("security") else tokens[:1]
        await asyncio.to_thread(_run_operation, operation, gateway.base, callers, failures)
    assert failures == [], "\n\n".join(failures)
