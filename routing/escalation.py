"""Where a contact is in its routing rule, as pure functions of the configuration and a clock.

A contact's place is (rule, step). Steps are numbered from 0; the number one past the last step
means "the rule's final action has run" and nothing escalates any more. The router applies what
these functions decide with compare-and-set writes, so a decision made twice (two routers, a
redelivered tick) changes the store once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from routing.config import Final, FinalAction, Queue, RoutingConfig, match_rule
from routing.strategy import Media, OperatorSnapshot, WaitingContact

# What the customer is told when a rule gives up on live routing, unless the rule says otherwise.
DEFAULT_FINAL_TEXT: dict[FinalAction, str] = {
    FinalAction.CALLBACK: (
        "All our agents are busy. We have noted your request and will get back to you here "
        "as soon as someone is free."
    ),
    FinalAction.VOICEMAIL: (
        "All our agents are busy. Leave us a message here and we will answer it as soon as we can."
    ),
}


@dataclass(frozen=True, slots=True)
class Placement:
    """A contact's rule and step, with the queue and priority they put it in."""

    rule: str
    step: int
    queue: str
    priority: int


@dataclass(frozen=True, slots=True)
class FinalStep:
    """Every step of the rule has expired: run ``final`` (overflow, voicemail, callback,
    notice). ``placement`` is where the contact waits afterwards (None: it is closed)."""

    final: Final
    placement: Placement | None
    text: str | None


def classify(config: RoutingConfig, attributes: Mapping[str, str], text: str) -> Placement:
    """The first step of the first rule that matches the contact."""
    rule = match_rule(config, attributes, text)
    step = rule.steps[0]
    return Placement(rule.name, 0, step.queue, step.priority)


def due(
    config: RoutingConfig, rule_name: str, step: int, step_since: datetime, now: datetime
) -> Placement | FinalStep | None:
    """What happens to a waiting contact now: the next step, the final action, or None (stay).
    The caller re-classifies a contact whose rule no longer exists."""
    rule = config.rule(rule_name)
    if rule is None or step >= len(rule.steps):
        return None
    if now - step_since < timedelta(seconds=rule.steps[step].timeout_seconds):
        return None
    if step + 1 < len(rule.steps):
        following = rule.steps[step + 1]
        return Placement(rule.name, step + 1, following.queue, following.priority)
    final = rule.final
    done = len(rule.steps)
    last = rule.steps[-1]
    if final.action == FinalAction.NOTICE:
        return FinalStep(final, None, final.text)
    if final.action == FinalAction.OVERFLOW:
        assert final.queue is not None  # validated
        return FinalStep(final, Placement(rule.name, done, final.queue, last.priority), None)
    text = final.text or DEFAULT_FINAL_TEXT[final.action]
    return FinalStep(final, Placement(rule.name, done, last.queue, last.priority), text)


def previous(config: RoutingConfig, rule_name: str | None, step: int) -> Placement | None:
    """The step before the current one (for "send back"), or None at the first step."""
    rule = config.rule(rule_name)
    if rule is None or step <= 0:
        return None
    back = min(step, len(rule.steps)) - 1
    return Placement(rule.name, back, rule.steps[back].queue, rule.steps[back].priority)


def step_floor(config: RoutingConfig, rule_name: str | None, step: int) -> int | None:
    rule = config.rule(rule_name)
    if rule is None or step >= len(rule.steps):
        return None
    return rule.steps[step].min_level


def has_later_step(config: RoutingConfig, rule_name: str | None, step: int) -> bool:
    """The contact's rule has a step after the current one (its pool will still widen)."""
    rule = config.rule(rule_name)
    return rule is not None and step + 1 < len(rule.steps)


def requirements(queue: Queue, min_level: int | None) -> dict[str, int]:
    """The skills (with levels) an operator needs to be in ``queue``'s pool at a step."""
    return {skill: max(level, min_level or 0) for skill, level in queue.target.skills.items()}


def as_waiting(
    contact: WaitingContact, config: RoutingConfig, queue: str, min_level: int | None
) -> WaitingContact | None:
    """The contact with its queue's requirements, or None when the queue no longer exists."""
    target = config.queues.get(queue)
    if target is None:
        return None
    return WaitingContact(
        contact.conversation_id,
        contact.priority,
        contact.waiting_since,
        contact.refused_by,
        contact.media,
        requirements(target, min_level),
        contact.language,
        contact.preferred_operator,
        contact.affinity_until,
        frozenset(target.target.languages),
        contact.cooling_down,
    )


def operator_snapshot(
    config: RoutingConfig,
    operator_id: int,
    username: str,
    idle_since: datetime | None,
    load: Mapping[Media, int],
    last_closed_at: datetime | None,
    pending: Mapping[Media, int],
) -> OperatorSnapshot:
    """An available operator as the strategy sees them: their profile from the configuration
    (an operator the configuration does not name has no skills and the default capacity)."""
    profile = config.operators.get(username)
    capacities = config.capacity_of(username)
    wrapup = config.policy.wrapup_seconds
    wrapup_until = (
        last_closed_at + timedelta(seconds=wrapup)
        if wrapup and last_closed_at is not None
        else None
    )
    return OperatorSnapshot(
        operator_id,
        capacities.get(Media.CHAT, 0),
        load.get(Media.CHAT, 0),
        idle_since,
        dict(profile.skills) if profile else {},
        frozenset(profile.languages) if profile else frozenset(),
        capacities,
        dict(load),
        wrapup_until,
        pending=dict(pending),
    )
