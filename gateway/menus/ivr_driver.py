"""Running the IVR engine with the I/O it asks for on its own: HTTP lookups and the appeals
desk.

Why here and not in the engine: the engine stays pure and testable with a fixed clock; a
channel adapter calls :func:`settle` after every step, which answers Lookup actions (an admin's
external system: order status, account tier...) and appeal actions (an appeal's status, a new
appeal: gateway.menus.appeal_desk) until the step waits for the customer or ends. A lookup that
times out, fails or does not answer a JSON object takes the menu's fallback; so does an appeal
action when no appeals desk runs or it fails.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import aiohttp
import structlog

from gateway.menus.appeal_desk import AppealDesk, MenuCaller
from ivr.actions import (
    Action,
    AppealAnswer,
    AppealOutcome,
    AppealStatus,
    Event,
    Hangup,
    Lookup,
    LookupResult,
    OpenAppeal,
    Pending,
    Step,
)
from ivr.engine import advance
from ivr.model import Menu

log = structlog.get_logger()

MAX_LOOKUPS = 5  # in one step: a menu cannot chain lookups (and appeal actions) for ever
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


async def appeal(
    desk: AppealDesk | None, caller: MenuCaller | None, action: AppealStatus | OpenAppeal
) -> AppealAnswer:
    """The appeals desk's answer; failed (the menu's fallback) without a desk or a caller,
    or when the desk fails."""
    if desk is None or caller is None:
        log.warning("ivr.appeal.no_desk", node=action.node)
        return AppealAnswer(AppealOutcome.FAILED)
    try:
        if isinstance(action, AppealStatus):
            return await desk.status(caller, action)
        return await desk.open(caller, action)
    except Exception:  # the desk promises not to raise; the caller must hear something
        log.exception("ivr.appeal.failed", node=action.node)
        return AppealAnswer(AppealOutcome.FAILED)


async def settle(
    menu: Menu,
    step: Step,
    now: datetime,
    http: aiohttp.ClientSession,
    *,
    desk: AppealDesk | None = None,
    caller: MenuCaller | None = None,
) -> Step:
    """The step with its lookups and appeal actions answered: every action in order (those
    left out), the state after the last answer. ``desk`` and ``caller`` answer the appeal
    actions (without them they fail, and the menu takes its fallback)."""
    actions: list[Action] = []
    notes = [step.note] if step.note else []
    for _ in range(MAX_LOOKUPS + 1):
        pending = next((a for a in step.actions if isinstance(a, Pending)), None)
        actions += [a for a in step.actions if not isinstance(a, Pending)]
        if pending is None or step.state.done:
            return Step(step.state, tuple(actions), "; ".join(notes) or None)
        result: Event
        if isinstance(pending, Lookup):
            result = await lookup(http, pending)
        else:
            result = await appeal(desk, caller, pending)
        step = advance(menu, step.state, result, now)
        if step.note:
            notes.append(step.note)
    log.error("ivr.lookup.runaway", menu=menu.id, node=step.state.node)
    notes.append(f"more than {MAX_LOOKUPS} lookups in one step; hung up")
    return Step(replace(step.state, done=True), (*actions, Hangup()), "; ".join(notes))
