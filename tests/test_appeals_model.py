"""An appeal's transitions: every status against every action, the route's edges, reasons and
owners, and the UI's allowed actions agreeing with what transition() does."""

from __future__ import annotations

import itertools

import pytest

from appeals.model import (
    MAX_REASON,
    NEEDS_OWNER,
    NEEDS_REASON,
    OPEN_STATUSES,
    PAUSED_STATUSES,
    Action,
    AppealState,
    ReasonRequired,
    RouteStage,
    Status,
    TimeoutAction,
    TransitionRefused,
    allowed_actions,
    clean_reason,
    stage_of,
    transition,
)
from gateway.errors import Refused

ROUTE = (
    RouteStage("First line", "first_line", 4 * 3600, True, TimeoutAction.WARN),
    RouteStage("Billing", "billing", 16 * 3600, True, TimeoutAction.ESCALATE),
    RouteStage("Billing lead", "billing_lead", 8 * 3600, True, TimeoutAction.NOTIFY),
)
OWNER, OTHER = 7, 8
S, A = Status, Action

# One appeal in every status, in the middle stage where the route allows it both ways.
STATES: dict[Status, AppealState] = {
    S.NEW: AppealState(S.NEW, 0, None),
    S.AWAITING: AppealState(S.AWAITING, 1, None),
    S.IN_PROGRESS: AppealState(S.IN_PROGRESS, 1, OWNER),
    S.PENDING_CUSTOMER: AppealState(S.PENDING_CUSTOMER, 1, OWNER),
    S.PENDING_THIRD_PARTY: AppealState(S.PENDING_THIRD_PARTY, 1, OWNER),
    S.RESOLVED: AppealState(S.RESOLVED, 1, OWNER),
    S.CLOSED: AppealState(S.CLOSED, 1, OWNER),
    S.CANCELLED: AppealState(S.CANCELLED, 1, OWNER),
}

# Every allowed (status, action) with the state it leads to, given owner OTHER and a reason;
# every pair not listed is refused with 409 transition_forbidden.
ALLOWED: dict[tuple[Status, Action], AppealState] = {
    (S.NEW, A.REGISTER): AppealState(S.AWAITING, 0, None),
    (S.NEW, A.TAKE): AppealState(S.IN_PROGRESS, 0, OTHER),
    (S.NEW, A.CANCEL): AppealState(S.CANCELLED, 0, None),
    (S.AWAITING, A.TAKE): AppealState(S.IN_PROGRESS, 1, OTHER),
    (S.AWAITING, A.ESCALATE): AppealState(S.AWAITING, 2, None),
    (S.AWAITING, A.CANCEL): AppealState(S.CANCELLED, 1, None),
    (S.IN_PROGRESS, A.REASSIGN): AppealState(S.IN_PROGRESS, 1, OTHER),
    (S.IN_PROGRESS, A.RELEASE): AppealState(S.AWAITING, 1, None),
    (S.IN_PROGRESS, A.ADVANCE): AppealState(S.AWAITING, 2, None),
    (S.IN_PROGRESS, A.SEND_BACK): AppealState(S.AWAITING, 0, None),
    (S.IN_PROGRESS, A.ESCALATE): AppealState(S.AWAITING, 2, None),
    (S.IN_PROGRESS, A.WAIT_CUSTOMER): AppealState(S.PENDING_CUSTOMER, 1, OWNER),
    (S.IN_PROGRESS, A.WAIT_THIRD_PARTY): AppealState(S.PENDING_THIRD_PARTY, 1, OWNER),
    (S.IN_PROGRESS, A.RESOLVE): AppealState(S.RESOLVED, 1, OWNER),
    (S.IN_PROGRESS, A.CANCEL): AppealState(S.CANCELLED, 1, OWNER),
    (S.PENDING_CUSTOMER, A.REASSIGN): AppealState(S.PENDING_CUSTOMER, 1, OTHER),
    (S.PENDING_CUSTOMER, A.RESUME): AppealState(S.IN_PROGRESS, 1, OWNER),
    (S.PENDING_CUSTOMER, A.CANCEL): AppealState(S.CANCELLED, 1, OWNER),
    (S.PENDING_THIRD_PARTY, A.REASSIGN): AppealState(S.PENDING_THIRD_PARTY, 1, OTHER),
    (S.PENDING_THIRD_PARTY, A.RESUME): AppealState(S.IN_PROGRESS, 1, OWNER),
    (S.PENDING_THIRD_PARTY, A.CANCEL): AppealState(S.CANCELLED, 1, OWNER),
    (S.RESOLVED, A.CLOSE): AppealState(S.CLOSED, 1, OWNER),
    (S.RESOLVED, A.REOPEN): AppealState(S.AWAITING, 1, None),
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(Status, Action)))
def test_every_status_against_every_action(status: Status, action: Action) -> None:
    state = STATES[status]
    expected = ALLOWED.get((status, action))
    if expected is not None:
        assert transition(state, action, ROUTE, owner_id=OTHER, reason="checked") == expected
        return
    with pytest.raises(TransitionRefused) as refused:
        transition(state, action, ROUTE, owner_id=OTHER, reason="checked")
    assert (refused.value.status, refused.value.code) == (409, "transition_forbidden")
    assert isinstance(refused.value, Refused)
    assert refused.value.allowed == {a for (s, a) in ALLOWED if s is status}


def test_refusals_say_what_is_allowed_now() -> None:
    with pytest.raises(TransitionRefused) as refused:
        transition(STATES[S.RESOLVED], A.SEND_BACK, ROUTE, reason="wrong team")
    assert refused.value.reason == (
        "an appeal that is resolved cannot be sent back; allowed now: close, reopen"
    )
    with pytest.raises(TransitionRefused) as refused:
        transition(STATES[S.PENDING_CUSTOMER], A.RESOLVE, ROUTE)
    assert refused.value.reason == (
        "an appeal that is waiting for the customer cannot be resolved; "
        "allowed now: reassign, resume, cancel"
    )
    with pytest.raises(TransitionRefused) as refused:
        transition(STATES[S.CLOSED], A.REOPEN, ROUTE)
    assert refused.value.reason == (
        "an appeal that is closed cannot be reopened; nothing more can be done with it"
    )


@pytest.mark.parametrize(
    ("state", "action", "message"),
    [
        (
            AppealState(S.IN_PROGRESS, 2, OWNER),
            A.ADVANCE,
            "the appeal is at the last stage 'Billing lead' of its route, so it cannot be advanced",
        ),
        (
            AppealState(S.IN_PROGRESS, 2, OWNER),
            A.ESCALATE,
            "the appeal is at the last stage 'Billing lead' of its route, "
            "so it cannot be escalated",
        ),
        (
            AppealState(S.AWAITING, 2, None),
            A.ESCALATE,
            "the appeal is at the last stage 'Billing lead' of its route, "
            "so it cannot be escalated",
        ),
        (
            AppealState(S.IN_PROGRESS, 0, OWNER),
            A.SEND_BACK,
            "the appeal is at the first stage 'First line' of its route, so it cannot be sent back",
        ),
    ],
)
def test_the_route_has_ends(state: AppealState, action: Action, message: str) -> None:
    with pytest.raises(TransitionRefused) as refused:
        transition(state, action, ROUTE, owner_id=OTHER, reason="checked")
    assert refused.value.reason.startswith(message + "; allowed now: ")
    assert action not in refused.value.allowed


def test_a_single_stage_route_neither_advances_nor_sends_back() -> None:
    route = ROUTE[:1]
    state = AppealState(S.IN_PROGRESS, 0, OWNER)
    assert allowed_actions(state, route) == {
        A.REASSIGN,
        A.RELEASE,
        A.WAIT_CUSTOMER,
        A.WAIT_THIRD_PARTY,
        A.RESOLVE,
        A.CANCEL,
    }


def _no_resolve(*indexes: int) -> tuple[RouteStage, ...]:
    return tuple(
        RouteStage(s.name, s.queue, s.max_seconds, i not in indexes, s.on_timeout)
        for i, s in enumerate(ROUTE)
    )


@pytest.mark.parametrize(
    ("stage", "route", "message"),
    [
        (0, _no_resolve(0), "the stage 'First line' may not resolve; advance it to 'Billing'"),
        (
            1,
            _no_resolve(1),
            "the stage 'Billing' may not resolve; advance it to 'Billing lead' "
            "or send it back to 'First line'",
        ),
        (
            2,
            _no_resolve(2),
            "the stage 'Billing lead' may not resolve; send it back to 'Billing'",
        ),
        (0, _no_resolve(0)[:1], "the stage 'First line' may not resolve"),
    ],
)
def test_a_stage_that_may_not_resolve(
    stage: int, route: tuple[RouteStage, ...], message: str
) -> None:
    state = AppealState(S.IN_PROGRESS, stage, OWNER)
    with pytest.raises(TransitionRefused) as refused:
        transition(state, A.RESOLVE, route)
    assert refused.value.reason.startswith(message + "; ")
    assert A.RESOLVE not in allowed_actions(state, route)
    # The stages that may resolve still do.
    other = AppealState(S.IN_PROGRESS, (stage + 1) % len(route), OWNER)
    if other.stage != stage:
        assert transition(other, A.RESOLVE, route).status is S.RESOLVED


@pytest.mark.parametrize("action", sorted(NEEDS_REASON))
@pytest.mark.parametrize("reason", [None, "", "   ", "\n\t "])
def test_a_missing_reason_is_refused(action: Action, reason: str | None) -> None:
    state = STATES[S.IN_PROGRESS]
    with pytest.raises(ReasonRequired) as refused:
        transition(state, action, ROUTE, reason=reason)
    assert (refused.value.status, refused.value.code) == (422, "reason_required")
    assert "needs a reason" in refused.value.reason


def test_send_back_with_and_without_a_reason() -> None:
    state = AppealState(S.IN_PROGRESS, 2, OWNER)
    with pytest.raises(ReasonRequired, match="sending an appeal back needs a reason"):
        transition(state, A.SEND_BACK, ROUTE)
    back = transition(state, A.SEND_BACK, ROUTE, reason="  the invoice is not ours  ")
    assert back == AppealState(S.AWAITING, 1, None)
    assert clean_reason("  the invoice is not ours  ") == "the invoice is not ours"
    assert transition(back, A.TAKE, ROUTE, owner_id=OWNER) == AppealState(S.IN_PROGRESS, 1, OWNER)


def test_reasons_are_stripped_and_bounded() -> None:
    assert clean_reason(None) is None
    assert clean_reason(" \n ") is None
    assert clean_reason(" x" + " " * 2000) == "x"
    assert clean_reason("y" * MAX_REASON) == "y" * MAX_REASON
    with pytest.raises(Refused) as refused:
        transition(STATES[S.IN_PROGRESS], A.CANCEL, ROUTE, reason="y" * (MAX_REASON + 1))
    assert (refused.value.status, refused.value.code) == (422, "reason_too_long")
    assert "1001 characters" in refused.value.reason
    # An optional reason is bounded too.
    with pytest.raises(Refused, match="at most 1000"):
        transition(STATES[S.IN_PROGRESS], A.RELEASE, ROUTE, reason="y" * 5000)
    # ... and may be left out.
    assert transition(STATES[S.IN_PROGRESS], A.RELEASE, ROUTE).status is S.AWAITING


@pytest.mark.parametrize("action", sorted(NEEDS_OWNER))
def test_take_and_reassign_need_an_owner(action: Action) -> None:
    state = STATES[S.AWAITING] if action is A.TAKE else STATES[S.IN_PROGRESS]
    with pytest.raises(Refused) as refused:
        transition(state, action, ROUTE)
    assert (refused.value.status, refused.value.code) == (422, "owner_required")
    assert "(owner_id)" in refused.value.reason


@pytest.mark.parametrize("status", sorted({S.IN_PROGRESS} | PAUSED_STATUSES))
def test_reassigning_to_the_same_operator_is_refused(status: Status) -> None:
    with pytest.raises(TransitionRefused) as refused:
        transition(STATES[status], A.REASSIGN, ROUTE, owner_id=OWNER)
    assert refused.value.status == 409
    assert refused.value.reason == (
        "the appeal is already with operator 7; choose another operator"
    )


def test_owner_is_only_read_by_take_and_reassign() -> None:
    state = STATES[S.PENDING_CUSTOMER]
    assert transition(state, A.RESUME, ROUTE, owner_id=OTHER).owner_id == OWNER


def test_a_whole_life() -> None:
    state = AppealState(S.NEW, 0, None)
    steps: list[tuple[Action, dict[str, object], AppealState]] = [
        (A.REGISTER, {}, AppealState(S.AWAITING, 0, None)),
        (A.TAKE, {"owner_id": 1}, AppealState(S.IN_PROGRESS, 0, 1)),
        (A.ADVANCE, {}, AppealState(S.AWAITING, 1, None)),
        (A.ESCALATE, {}, AppealState(S.AWAITING, 2, None)),
        (A.TAKE, {"owner_id": 3}, AppealState(S.IN_PROGRESS, 2, 3)),
        (A.SEND_BACK, {"reason": "needs the contract"}, AppealState(S.AWAITING, 1, None)),
        (A.TAKE, {"owner_id": 2}, AppealState(S.IN_PROGRESS, 1, 2)),
        (A.WAIT_CUSTOMER, {"reason": "asked for a scan"}, AppealState(S.PENDING_CUSTOMER, 1, 2)),
        (A.REASSIGN, {"owner_id": 4}, AppealState(S.PENDING_CUSTOMER, 1, 4)),
        (A.RESUME, {}, AppealState(S.IN_PROGRESS, 1, 4)),
        (A.RESOLVE, {}, AppealState(S.RESOLVED, 1, 4)),
        (A.REOPEN, {}, AppealState(S.AWAITING, 1, None)),
        (A.TAKE, {"owner_id": 4}, AppealState(S.IN_PROGRESS, 1, 4)),
        (A.RESOLVE, {}, AppealState(S.RESOLVED, 1, 4)),
        (A.CLOSE, {}, AppealState(S.CLOSED, 1, 4)),
    ]
    for action, inputs, expected in steps:
        state = transition(state, action, ROUTE, **inputs)  # type: ignore[arg-type]
        assert state == expected, action
    assert allowed_actions(state, ROUTE) == frozenset()


# Every reachable-looking state: each status at each stage, with and without an owner.
ALL_STATES = [
    AppealState(status, stage, owner)
    for status in Status
    for stage in range(len(ROUTE))
    for owner in (None, OWNER)
    if not (status is S.NEW and stage != 0)
]


@pytest.mark.parametrize("route", [ROUTE, _no_resolve(0, 2), ROUTE[:1], _no_resolve(0)[:2]])
def test_allowed_actions_agree_with_transition(route: tuple[RouteStage, ...]) -> None:
    for state in ALL_STATES:
        if state.stage >= len(route):
            continue
        allowed = allowed_actions(state, route)
        for action in Action:
            try:
                after = transition(state, action, route, owner_id=OTHER, reason="checked")
            except TransitionRefused:
                assert action not in allowed, (state, action)
            else:
                assert action in allowed, (state, action)
                assert 0 <= after.stage < len(route)
                if after.status is S.AWAITING:
                    assert after.owner_id is None, (state, action)


def test_closed_and_cancelled_are_final_and_not_open() -> None:
    assert S.RESOLVED not in OPEN_STATUSES
    assert PAUSED_STATUSES < OPEN_STATUSES
    for status in (S.CLOSED, S.CANCELLED):
        for stage in range(len(ROUTE)):
            assert allowed_actions(AppealState(status, stage, OWNER), ROUTE) == frozenset()


def test_a_stage_the_route_no_longer_has_is_its_last_stage() -> None:
    """A later topics version shortened the route: the appeal is worked on at the last stage."""
    beyond = AppealState(S.IN_PROGRESS, 5, 1)
    assert transition(beyond, A.RESOLVE, ROUTE) == AppealState(S.RESOLVED, 2, 1)
    assert transition(beyond, A.SEND_BACK, ROUTE, reason="x") == AppealState(S.AWAITING, 1, None)
    assert allowed_actions(beyond, ROUTE) == allowed_actions(
        AppealState(S.IN_PROGRESS, 2, 1), ROUTE
    )


def test_a_state_outside_its_route_is_a_bug() -> None:
    with pytest.raises(ValueError, match="stage -1 is not in a route of 3"):
        transition(AppealState(S.AWAITING, -1, None), A.TAKE, ROUTE, owner_id=1)
    with pytest.raises(ValueError, match="route of 0"):
        allowed_actions(AppealState(S.NEW, 0, None), ())
    with pytest.raises(ValueError, match="a new appeal is at stage 0"):
        allowed_actions(AppealState(S.NEW, 1, None), ROUTE)


def test_stage_of() -> None:
    assert stage_of(ROUTE, 0).queue == "first_line"
    assert stage_of(ROUTE, 2).name == "Billing lead"
    for index in (-1, 3):
        with pytest.raises(ValueError, match=f"stage {index} is not in a route of 3"):
            stage_of(ROUTE, index)


@pytest.mark.parametrize(
    ("name", "queue", "seconds"),
    [("", "q", 60), ("Stage", " ", 60), ("Stage", "q", 0), ("Stage", "q", float("inf"))],
)
def test_a_stage_needs_a_name_a_queue_and_a_time_limit(
    name: str, queue: str, seconds: float
) -> None:
    with pytest.raises(ValueError, match=r"a route stage needs|positive time limit"):
        RouteStage(name, queue, seconds, True, TimeoutAction.WARN)
