"""An appeal's statuses and the actions that move it along its topic's route of stages.

Why a pure module: whether an operator, a supervisor or the deadline ticker may do something to
an appeal is one question with one answer, asked by the HTTP API, the console's buttons and the
service alike. So the answer is a function of the appeal's state, the route and the action's
inputs, tested over every status and action with plain tables; the store applies the new state
with a compare-and-set write, and a refusal changes nothing.

A state is (status, stage, owner). Stages are numbered from 0 along the topic's route; an
appeal waits in the queue of its stage (``awaiting``) until an operator takes it
(``in_progress``), and may be paused while it waits for the customer or a third party (their
SLA clocks stop).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from gateway.errors import Refused

MAX_REASON = 1000  # characters of a reason, after stripping


class Status(StrEnum):
    NEW = "new"
    AWAITING = "awaiting"
    IN_PROGRESS = "in_progress"
    PENDING_CUSTOMER = "pending_customer"
    PENDING_THIRD_PARTY = "pending_third_party"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATUSES: frozenset[Status] = frozenset(
    {
        Status.NEW,
        Status.AWAITING,
        Status.IN_PROGRESS,
        Status.PENDING_CUSTOMER,
        Status.PENDING_THIRD_PARTY,
    }
)
# While an appeal waits for someone outside the company, its stage and SLA clocks stop.
PAUSED_STATUSES: frozenset[Status] = frozenset(
    {Status.PENDING_CUSTOMER, Status.PENDING_THIRD_PARTY}
)


class Category(StrEnum):
    COMPLAINT = "complaint"
    REQUEST = "request"
    QUESTION = "question"
    INCIDENT = "incident"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TimeoutAction(StrEnum):
    """What happens when an appeal stays longer than its stage's ``max_seconds``."""

    WARN = "warn"  # tell the owner and the supervisors; it stays where it is
    ESCALATE = "escalate"  # move it on to the next stage's queue
    NOTIFY = "notify"  # tell the supervisors only


class Dispatch(StrEnum):
    """How an awaiting appeal of a stage finds its operator."""

    PICK = "pick"  # the queue's operators take it from their list
    OFFER = "offer"  # the gateway offers it to one operator at a time, like a contact


@dataclass(frozen=True, slots=True)
class RouteStage:
    """One stage of a topic's route: the queue that works it, how long it may take (business
    seconds in the topic's calendar), whether it may resolve, what its deadline does, and how
    its appeals find an operator."""

    name: str
    queue: str
    max_seconds: float
    may_resolve: bool
    on_timeout: TimeoutAction
    dispatch: Dispatch = Dispatch.PICK

    def __post_init__(self) -> None:
        if not self.name.strip() or not self.queue.strip():
            raise ValueError("a route stage needs a name and a queue")
        if not math.isfinite(self.max_seconds) or self.max_seconds <= 0:
            raise ValueError(f"the stage {self.name!r} needs a positive time limit")


class Action(StrEnum):
    REGISTER = "register"  # new -> awaiting at stage 0
    TAKE = "take"  # awaiting|new -> in_progress, owner = given (pick or supervisor assign)
    REASSIGN = "reassign"  # in_progress|pending_* -> same status, another owner
    RELEASE = "release"  # in_progress -> awaiting, same stage, no owner
    ADVANCE = "advance"  # in_progress -> awaiting at stage+1, no owner
    SEND_BACK = "send_back"  # in_progress -> awaiting at stage-1, no owner; reason required
    ESCALATE = "escalate"  # awaiting|in_progress -> awaiting at stage+1 (deadline action)
    WAIT_CUSTOMER = "wait_customer"  # in_progress -> pending_customer; reason required
    WAIT_THIRD_PARTY = "wait_third_party"  # in_progress -> pending_third_party; reason required
    RESUME = "resume"  # pending_* -> in_progress (owner kept); also the customer's reply
    RESOLVE = "resolve"  # in_progress -> resolved, when the stage may resolve
    CLOSE = "close"  # resolved -> closed
    CANCEL = "cancel"  # any open status -> cancelled; reason required
    REOPEN = "reopen"  # resolved -> awaiting at the same stage, no owner


# The actions that need a reason (kept in the appeal's history) and those that need an owner.
NEEDS_REASON: frozenset[Action] = frozenset(
    {Action.SEND_BACK, Action.WAIT_CUSTOMER, Action.WAIT_THIRD_PARTY, Action.CANCEL}
)
NEEDS_OWNER: frozenset[Action] = frozenset({Action.TAKE, Action.REASSIGN})

# The statuses each action may start from.
_FROM: dict[Action, frozenset[Status]] = {
    Action.REGISTER: frozenset({Status.NEW}),
    Action.TAKE: frozenset({Status.NEW, Status.AWAITING}),
    Action.REASSIGN: frozenset({Status.IN_PROGRESS}) | PAUSED_STATUSES,
    Action.RELEASE: frozenset({Status.IN_PROGRESS}),
    Action.ADVANCE: frozenset({Status.IN_PROGRESS}),
    Action.SEND_BACK: frozenset({Status.IN_PROGRESS}),
    Action.ESCALATE: frozenset({Status.AWAITING, Status.IN_PROGRESS}),
    Action.WAIT_CUSTOMER: frozenset({Status.IN_PROGRESS}),
    Action.WAIT_THIRD_PARTY: frozenset({Status.IN_PROGRESS}),
    Action.RESUME: PAUSED_STATUSES,
    Action.RESOLVE: frozenset({Status.IN_PROGRESS}),
    Action.CLOSE: frozenset({Status.RESOLVED}),
    Action.CANCEL: OPEN_STATUSES,
    Action.REOPEN: frozenset({Status.RESOLVED}),
}

# "an appeal that is <status> cannot be <done>"
_STATUS_WORDS: dict[Status, str] = {
    Status.NEW: "new",
    Status.AWAITING: "awaiting an operator",
    Status.IN_PROGRESS: "in progress",
    Status.PENDING_CUSTOMER: "waiting for the customer",
    Status.PENDING_THIRD_PARTY: "waiting for a third party",
    Status.RESOLVED: "resolved",
    Status.CLOSED: "closed",
    Status.CANCELLED: "cancelled",
}
_DONE_WORDS: dict[Action, str] = {
    Action.REGISTER: "registered",
    Action.TAKE: "taken",
    Action.REASSIGN: "reassigned",
    Action.RELEASE: "released",
    Action.ADVANCE: "advanced",
    Action.SEND_BACK: "sent back",
    Action.ESCALATE: "escalated",
    Action.WAIT_CUSTOMER: "put on hold for the customer",
    Action.WAIT_THIRD_PARTY: "put on hold for a third party",
    Action.RESUME: "resumed",
    Action.RESOLVE: "resolved",
    Action.CLOSE: "closed",
    Action.CANCEL: "cancelled",
    Action.REOPEN: "reopened",
}
_REASON_HINTS: dict[Action, str] = {
    Action.SEND_BACK: "sending an appeal back needs a reason: say what the previous stage "
    "should do",
    Action.WAIT_CUSTOMER: "putting an appeal on hold for the customer needs a reason: say what "
    "the customer should send",
    Action.WAIT_THIRD_PARTY: "putting an appeal on hold for a third party needs a reason: say "
    "whom it waits for and why",
    Action.CANCEL: "cancelling an appeal needs a reason: say why it is not worked on",
}
_OWNER_HINTS: dict[Action, str] = {
    Action.TAKE: "taking an appeal needs the operator who takes it (owner_id)",
    Action.REASSIGN: "reassigning an appeal needs the operator to give it to (owner_id)",
}


class TransitionRefused(Refused):
    """The action may not be done to the appeal as it is now; ``allowed`` is what may."""

    def __init__(self, reason: str, allowed: frozenset[Action] = frozenset()) -> None:
        super().__init__(409, "transition_forbidden", reason)
        self.allowed = allowed


class ReasonRequired(Refused):
    """The action needs a reason, and none (or only blanks) was given."""

    def __init__(self, reason: str) -> None:
        super().__init__(422, "reason_required", reason)


@dataclass(frozen=True, slots=True)
class AppealState:
    """Where an appeal is: its status, its stage (index into the route) and who works it."""

    status: Status
    stage: int
    owner_id: int | None


def stage_of(route: Sequence[RouteStage], index: int) -> RouteStage:
    """The route's stage at ``index``; a ValueError when the route has no such stage."""
    if not 0 <= index < len(route):
        raise ValueError(f"stage {index} is not in a route of {len(route)} stage(s)")
    return route[index]


def clean_reason(reason: str | None) -> str | None:
    """The reason as it is kept: stripped, None when empty; over MAX_REASON characters is a
    422 ``reason_too_long``."""
    if reason is None:
        return None
    cleaned = reason.strip()
    if len(cleaned) > MAX_REASON:
        raise Refused(
            422,
            "reason_too_long",
            f"the reason is {len(cleaned)} characters long; at most {MAX_REASON} are allowed",
        )
    return cleaned or None


def fit_to_route(state: AppealState, route: Sequence[RouteStage]) -> AppealState:
    """An appeal at a stage its route no longer has (a later topics version shortened the
    route) is at the route's last stage: it can still be worked on, and moves there with its
    next change."""
    if route and state.stage >= len(route) and state.status is not Status.NEW:
        return replace(state, stage=len(route) - 1)
    return state


def allowed_actions(state: AppealState, route: Sequence[RouteStage]) -> frozenset[Action]:
    """What may be done to the appeal now (given an owner and a reason where needed)."""
    state = fit_to_route(state, route)
    _check(state, route)
    return frozenset(a for a in Action if _blocker(state, a, route) is None)


def transition(
    state: AppealState,
    action: Action,
    route: Sequence[RouteStage],
    *,
    owner_id: int | None = None,
    reason: str | None = None,
) -> AppealState:
    """The appeal's state after ``action``, or a refusal (nothing changes):

    - TransitionRefused (409 ``transition_forbidden``): not from this status or stage, or a
      reassignment to the operator who already has it; the reason says what is allowed now;
    - ReasonRequired (422 ``reason_required``): a send back, a hold or a cancel without a reason;
    - Refused 422 ``reason_too_long`` or ``owner_required`` (a take or reassign with no owner).

    ``owner_id`` is only read by TAKE and REASSIGN; ``reason`` is checked for every action
    (``clean_reason`` gives the text to keep in the history).
    """
    state = fit_to_route(state, route)
    _check(state, route)
    blocker = _blocker(state, action, route)
    if blocker is not None:
        allowed = allowed_actions(state, route)
        raise TransitionRefused(f"{blocker}; {_allowed_words(allowed)}", allowed)
    if clean_reason(reason) is None and action in NEEDS_REASON:
        raise ReasonRequired(_REASON_HINTS[action])
    if action in NEEDS_OWNER:
        if owner_id is None:
            raise Refused(422, "owner_required", _OWNER_HINTS[action])
        if action is Action.REASSIGN and owner_id == state.owner_id:
            raise TransitionRefused(
                f"the appeal is already with operator {owner_id}; choose another operator",
                allowed_actions(state, route),
            )
    return _apply(state, action, owner_id)


def _apply(state: AppealState, action: Action, owner_id: int | None) -> AppealState:
    match action:
        case Action.REGISTER:
            return AppealState(Status.AWAITING, 0, None)
        case Action.TAKE:
            return replace(state, status=Status.IN_PROGRESS, owner_id=owner_id)
        case Action.REASSIGN:
            return replace(state, owner_id=owner_id)
        case Action.RELEASE | Action.REOPEN:
            return replace(state, status=Status.AWAITING, owner_id=None)
        case Action.ADVANCE | Action.ESCALATE:
            return AppealState(Status.AWAITING, state.stage + 1, None)
        case Action.SEND_BACK:
            return AppealState(Status.AWAITING, state.stage - 1, None)
        case Action.WAIT_CUSTOMER:
            return replace(state, status=Status.PENDING_CUSTOMER)
        case Action.WAIT_THIRD_PARTY:
            return replace(state, status=Status.PENDING_THIRD_PARTY)
        case Action.RESUME:
            return replace(state, status=Status.IN_PROGRESS)
        case Action.RESOLVE:
            return replace(state, status=Status.RESOLVED)
        case Action.CLOSE:
            return replace(state, status=Status.CLOSED)
        case Action.CANCEL:
            return replace(state, status=Status.CANCELLED)
    raise AssertionError(f"unhandled action {action!r}")  # pragma: no cover


def _check(state: AppealState, route: Sequence[RouteStage]) -> None:
    """A state that does not fit its route is the caller's bug, not the operator's."""
    stage_of(route, state.stage)
    if state.status is Status.NEW and state.stage != 0:
        raise ValueError(f"a new appeal is at stage 0, not {state.stage}")


def _blocker(state: AppealState, action: Action, route: Sequence[RouteStage]) -> str | None:
    """Why ``action`` cannot be done to the appeal now (status or stage), or None if it can."""
    done = _DONE_WORDS[action]
    if state.status not in _FROM[action]:
        return f"an appeal that is {_STATUS_WORDS[state.status]} cannot be {done}"
    stage = route[state.stage]
    last = state.stage == len(route) - 1
    if action in (Action.ADVANCE, Action.ESCALATE) and last:
        return (
            f"the appeal is at the last stage {stage.name!r} of its route, so it cannot be {done}"
        )
    if action is Action.SEND_BACK and state.stage == 0:
        return (
            f"the appeal is at the first stage {stage.name!r} of its route, so it cannot be {done}"
        )
    if action is Action.RESOLVE and not stage.may_resolve:
        ways = []
        if not last:
            ways.append(f"advance it to {route[state.stage + 1].name!r}")
        if state.stage > 0:
            ways.append(f"send it back to {route[state.stage - 1].name!r}")
        way = f"; {' or '.join(ways)}" if ways else ""
        return f"the stage {stage.name!r} may not resolve{way}"
    return None


def _allowed_words(allowed: frozenset[Action]) -> str:
    if not allowed:
        return "nothing more can be done with it"
    return "allowed now: " + ", ".join(a.value for a in Action if a in allowed)
