"""Running the IVR engine with the one kind of I/O it asks for on its own: HTTP lookups.

Why here and not in the engine: the engine stays pure and testable with a fixed clock; a
channel adapter calls :func:`settle` after every step, which answers Lookup actions (an admin's
external system: order status, account tier...) until the step waits for the customer or ends.
A lookup that times out, fails or does not answer a JSON object takes the menu's fallback.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import aiohttp
import structlog

from ivr.actions import Action, Hangup, Lookup, LookupResult, Step
from ivr.engine import advance
from ivr.model import Menu

log = structlog.get_logger()

MAX_LOOKUPS = 5  # in one step: a menu cannot chain lookups for ever
MAX_ANSWER_BYTES = 256 * 1024


async def lookup(http: aiohttp.ClientSession, action: Lookup) -> LookupResult:
    """Ask the external system; ok with its JSON object, or a failure (never raises)."""
    try:
        async with asyncio.timeout(action.timeout_seconds):
            async with http.request(
                action.method,
                action.url,
                json=dict(action.body) if action.body is not None else None,
                headers={"Accept": "application/json"},
            ) as response:
                if response.status != 200:
                    log.warning("ivr.lookup.failed", url=action.url, status=response.status)
                    return LookupResult(ok=False)
                raw = await response.content.read(MAX_ANSWER_BYTES + 1)
        if len(raw) > MAX_ANSWER_BYTES:
            log.warning("ivr.lookup.too_large", url=action.url)
            return LookupResult(ok=False)
        data: Any = json.loads(raw)
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        log.warning("ivr.lookup.failed", url=action.url, error=type(exc).__name__)
        return LookupResult(ok=False)
    if not isinstance(data, dict):
        return LookupResult(ok=False)
    return LookupResult(ok=True, data=data)


async def settle(menu: Menu, step: Step, now: datetime, http: aiohttp.ClientSession) -> Step:
    """The step with its lookups answered: every action in order (lookups left out), the
    state after the last answer."""
    actions: list[Action] = []
    notes = [step.note] if step.note else []
    for _ in range(MAX_LOOKUPS + 1):
        pending = next((a for a in step.actions if isinstance(a, Lookup)), None)
        actions += [a for a in step.actions if not isinstance(a, Lookup)]
        if pending is None or step.state.done:
            return Step(step.state, tuple(actions), "; ".join(notes) or None)
        result = await lookup(http, pending)
        step = advance(menu, step.state, result, now)
        if step.note:
            notes.append(step.note)
    log.error("ivr.lookup.runaway", menu=menu.id, node=step.state.node)
    notes.append(f"more than {MAX_LOOKUPS} lookups in one step; hung up")
    return Step(replace(step.state, done=True), (*actions, Hangup()), "; ".join(notes))
