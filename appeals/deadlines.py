"""Deadlines of appeals: warnings and breaches of the stage's time and the SLA's first response
and resolution, and what a missed stage deadline calls for (the stage's ``on_timeout``).

Two ticks of the appeals ticker (appeals/service.py), on every instance, each given ``now``
(tests pass the instant they want):

- ``check_deadlines``: every passed, unhandled warning or deadline is recorded once
  (appeals/alerts_store.py). A missed stage deadline then warns only, escalates the appeal to
  the next stage (which starts a fresh clock), or notifies the supervisors; the last stage
  cannot escalate and notifies instead. An escalation owed by a recorded breach is carried out
  by whichever instance comes first, also after a restart between the two.
- ``send_staff_alerts``: staff notices are held until the topic's calendar opens (nobody reads
  them at night), then pushed to the consoles of every connected supervisor and admin and
  mailed to ``appeals.staff_emails`` when the email channel is on. Each is taken by one
  instance before it is sent, so it goes out at most once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from aiohttp import web

from appeals.alerts import AlertKind, Passed, on_stage_timeout, passed
from appeals.alerts_store import AlertStore
from appeals.clock import next_open
from appeals.live import TOPICS
from appeals.model import Action, TimeoutAction
from appeals.numbers import format_reference
from appeals.pushes import connected, publish, supervisors
from appeals.service import on_tick
from appeals.staff_mail import send_staff_mail
from appeals.store import APPEAL_STORE, Actor, Appeal, AppealChanged, Plan
from appeals.topics import TopicsConfig
from appeals.views import plan_of
from gateway.errors import Refused
from gateway.keys import RELAY, SETTINGS, USERS

log = structlog.get_logger()


def _plan(config: TopicsConfig, name: str) -> Plan | None:
    topic = config.topic(name)
    return plan_of(config, topic, name) if topic is not None else None


def consequence(
    appeal: Appeal, item: Passed, plan: Plan | None, now: datetime
) -> tuple[TimeoutAction, datetime | None]:
    """What to do about a passed deadline, and when to tell the supervisors (None: not): a
    missed stage deadline does what its stage's ``on_timeout`` says; a missed SLA target
    (first response, resolution) is told to the supervisors; warnings only show."""
    if plan is None:
        return TimeoutAction.WARN, None
    if item.kind in (AlertKind.FIRST_RESPONSE_BREACH, AlertKind.RESOLUTION_BREACH):
        return TimeoutAction.NOTIFY, next_open(plan.calendar, now)
    if item.kind != AlertKind.STAGE_BREACH:
        return TimeoutAction.WARN, None
    action = on_stage_timeout(plan.route, appeal.stage)
    if action != TimeoutAction.NOTIFY:
        return action, None
    return action, next_open(plan.calendar, now)


def _nudge(app: web.Application) -> None:
    relay = app.get(RELAY)
    if relay is not None:
        relay.nudge()


async def check_deadlines(app: web.Application, now: datetime) -> None:
    """Record what passed and carry out the escalations owed (a tick)."""
    store = app[APPEAL_STORE]
    alerts = AlertStore(store)
    config = await app[TOPICS].current()
    recorded = 0
    for appeal in await store.due_for_ticker(now):
        plan = _plan(config, appeal.topic)
        for item in passed(appeal, now):
            action, notify_at = consequence(appeal, item, plan, now)
            try:
                if await alerts.record(appeal, item, action=action, notify_at=notify_at, now=now):
                    recorded += 1
                    log.info(
                        "appeals.deadline.passed",
                        appeal_id=appeal.id,
                        kind=item.kind.value,
                        due_at=item.due_at.isoformat(),
                        action=action.value,
                    )
            except Exception:
                log.exception("appeals.deadline.failed", appeal_id=appeal.id, kind=item.kind)
    recorded += await _escalate(app, alerts, config, now)
    if recorded:
        _nudge(app)


async def _escalate(
    app: web.Application, alerts: AlertStore, config: TopicsConfig, now: datetime
) -> int:
    """Escalate the appeals a recorded breach says must move on; each by compare-and-set
    against the version read, so two instances escalate it once."""
    done = 0
    for alert_id, appeal in await alerts.owed_escalations():
        plan = _plan(config, appeal.topic)
        if plan is None:
            await alerts.settle(alert_id, TimeoutAction.WARN)
            continue
        try:
            moved = await app[APPEAL_STORE].apply(
                appeal.id, appeal.version, Action.ESCALATE, plan=plan, actor=Actor.system(), now=now
            )
        except AppealChanged:
            continue  # someone changed it meanwhile: the next tick looks again
        except Refused as exc:
            log.info("appeals.escalation.refused", appeal_id=appeal.id, reason=exc.reason)
            await alerts.settle(alert_id, TimeoutAction.WARN)
            continue
        done += 1
        log.info("appeals.escalated", appeal_id=appeal.id, stage=moved.stage, queue=moved.queue)
    return done


# -- staff notices -------------------------------------------------------------------------


_SLA_MISSED = {
    AlertKind.FIRST_RESPONSE_BREACH.value: "first response",
    AlertKind.RESOLUTION_BREACH.value: "resolution",
}


def _notice_text(alert: dict[str, Any], plan: Plan | None) -> tuple[str, str]:
    stage = alert["stage"]
    name = (
        plan.route[stage].name if plan is not None and stage < len(plan.route) else f"{stage + 1}"
    )
    reference = format_reference(alert["reference"])
    missed = _SLA_MISSED.get(str(alert.get("kind")))
    if missed is not None:
        subject = f"Appeal {reference}: {missed} target missed"
        text = (
            f"Appeal {reference} ({alert['topic']}) was due its {missed} at {alert['due_at']} "
            f"(stage {name!r}, queue {alert['queue']}).\n"
        )
    else:
        subject = f"Appeal {reference}: the stage {name!r} missed its deadline"
        text = (
            f"Appeal {reference} ({alert['topic']}) was due in the stage {name!r} "
            f"(queue {alert['queue']}) at {alert['due_at']}.\n"
        )
    text += f"It is {alert['status'].replace('_', ' ')} now.\n"
    return subject, text


async def send_staff_alerts(app: web.Application, now: datetime) -> None:
    """Send the staff notices whose hour has come (a tick)."""
    alerts = AlertStore(app[APPEAL_STORE])
    due = await alerts.due_notices(now)
    if not due:
        return
    config = await app[TOPICS].current()
    staff = await connected(app, supervisors(await app[USERS].list()))
    settings = app[SETTINGS]
    mail_to = settings.appeals.staff_emails if settings.email.enabled else ()
    for alert in due:
        if not await alerts.claim_notice(alert["id"], now):
            continue  # another instance sends it
        plan = _plan(config, alert["topic"])
        subject, text = _notice_text(alert, plan)
        alert = {**alert, "notified_at": now.isoformat()}
        await publish(app, staff, {"type": "appeal_alert", "alert": alert, "text": subject})
        if mail_to:
            try:
                await send_staff_mail(settings.email, mail_to, subject, text)
            except Exception as exc:
                log.warning("appeals.alert.mail_failed", alert_id=alert["id"], error=str(exc))
        log.info(
            "appeals.alert.sent", alert_id=alert["id"], consoles=len(staff), mails=len(mail_to)
        )


def setup(app: web.Application) -> None:
    on_tick(app, check_deadlines)
    on_tick(app, send_staff_alerts)
