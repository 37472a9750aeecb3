"""From a topic and a stored appeal to what the store needs (a :class:`Plan`) and what people
see (the appeal's JSON), so the routes, the service and the status answers agree.

Why here: the topics document is the admin's words (titles per language, stage names, form
fields); the store knows only routes and clocks. Joining the two is done once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from appeals.model import Priority, Status, allowed_actions
from appeals.numbers import format_reference
from appeals.store import Appeal, Plan
from appeals.topics import Topic, TopicsConfig


def plan_of(config: TopicsConfig, topic: Topic, name: str) -> Plan:
    return Plan(
        topic=name,
        category=topic.category.value,
        route=topic.route_stages(),
        calendar=topic.calendar_of(config),
        sla=topic.sla_seconds,
        warn_share=config.settings.warn_share,
    )


def title_of(topic: Topic | None, name: str, language: str = "en") -> str:
    if topic is None:
        return name
    titles = topic.title
    return titles.get(language) or titles.get("en") or next(iter(titles.values()), name)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def appeal_json(
    appeal: Appeal,
    topic: Topic | None,
    plan: Plan | None,
    now: datetime,
    users: dict[int, str] | None = None,
    customers: dict[int, str] | None = None,
) -> dict[str, Any]:
    """The appeal as the API and the pages show it: ``users`` and ``customers`` map ids to
    display names."""
    users, customers = users or {}, customers or {}
    route = plan.route if plan is not None else ()
    stage = route[appeal.stage] if appeal.stage < len(route) else None
    actions = sorted(a.value for a in allowed_actions(appeal.state, route)) if route else []
    return {
        "id": appeal.id,
        "reference": appeal.reference,
        "reference_display": format_reference(appeal.reference),
        "customer_id": appeal.customer_id,
        "customer_name": customers.get(appeal.customer_id),
        "topic": appeal.topic,
        "topic_title": title_of(topic, appeal.topic),
        "category": appeal.category,
        "priority": appeal.priority,
        "status": appeal.status,
        "stage": appeal.stage,
        "stage_name": stage.name if stage else None,
        "stages": [
            {
                "name": s.name,
                "queue": s.queue,
                "max_seconds": s.max_seconds,
                "may_resolve": s.may_resolve,
            }
            for s in route
        ],
        "queue": appeal.queue,
        "owner_id": appeal.owner_id,
        "owner_name": users.get(appeal.owner_id) if appeal.owner_id is not None else None,
        "fields": appeal.fields,
        "summary": appeal.summary,
        "language": appeal.language,
        "channel": appeal.channel,
        "conversation_id": appeal.conversation_id,
        "version": appeal.version,
        "created_at": _iso(appeal.created_at),
        "updated_at": _iso(appeal.updated_at),
        "stage_since": _iso(appeal.stage_since),
        "stage_warn_at": _iso(appeal.stage_warn_at),
        "stage_due_at": _iso(appeal.stage_due_at),
        "late": appeal.late(now),
        "nearly_late": appeal.nearly_late(now),
        "returned_reason": appeal.returned_reason,
        "first_response_at": _iso(appeal.first_response_at),
        "first_response_due_at": _iso(appeal.first_response_due_at),
        "resolution_due_at": _iso(appeal.resolution_due_at),
        "paused_at": _iso(appeal.paused_at),
        "resolved_at": _iso(appeal.resolved_at),
        "closed_at": _iso(appeal.closed_at),
        "offered_to": appeal.offered_to,
        "offer_expires_at": _iso(appeal.offer_expires_at),
        "allowed_actions": actions,
    }


def urgency(appeal: Appeal, now: datetime) -> tuple[int, float]:
    """Sort key: late first, then nearly late, then by the nearest deadline."""
    rank = 0 if appeal.late(now) else 1 if appeal.nearly_late(now) else 2
    due = appeal.stage_due_at or appeal.resolution_due_at
    return rank, due.timestamp() if due is not None else float("inf")


def topic_json(name: str, topic: Topic, language: str = "en") -> dict[str, Any]:
    """A topic as an operator needs it to open an appeal: its form and its route."""
    return {
        "name": name,
        "title": title_of(topic, name, language),
        "titles": dict(topic.title),
        "category": topic.category.value,
        "priority": topic.priority.value,
        "fields": [f.model_dump(mode="json", exclude_none=True) for f in topic.fields],
        "stages": [
            {"name": s.name, "queue": s.queue, "max_seconds": s.max_seconds}
            for s in topic.route_stages()
        ],
    }


PRIORITIES = [p.value for p in Priority]
OPEN = [s.value for s in Status if s not in (Status.RESOLVED, Status.CLOSED, Status.CANCELLED)]
