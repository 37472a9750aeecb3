"""Escalation as pure functions: which rule and step a contact gets, when it moves on, and
what the final action does, with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.config import FinalAction, parse_routing
from routing.escalation import FinalStep, Placement, classify, due, previous, step_floor

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

CONFIG = parse_routing(
    {
        "skills": {"billing": "Bills", "tech": "Faults"},
        "languages": ["en", "de"],
        "queues": {
            "billing-experts": {"target": {"skills": {"billing": 4}}},
            "billing": {"target": {"skills": {"billing": 1}}},
            "tech-de": {"target": {"skills": {"tech": 1}, "languages": ["de"]}},
            "everyone": {},
        },
        "rules": [
            {
                "name": "gold-billing",
                "when": {"tier": "gold", "topic": "billing"},
                "steps": [
                    {"queue": "billing-experts", "priority": 10, "timeout_seconds": 60},
                    {"queue": "billing", "priority": 5, "min_level": 2, "timeout_seconds": 120},
                ],
                "final": {"action": "callback"},
            },
            {
                "name": "words",
                "when": {"keywords": ["invoice", "refund"]},
                "steps": [{"queue": "billing", "timeout_seconds": 30}],
                "final": {"action": "notice", "text": "We are closed, we will write back."},
            },
            {
                "name": "german",
                "when": {"language": ["de", "at"]},
                "steps": [{"queue": "tech-de", "timeout_seconds": 30}],
                "final": {"action": "voicemail"},
            },
            {
                "name": "rest",
                "steps": [{"queue": "everyone", "timeout_seconds": 600}],
                "final": {"action": "overflow", "queue": "billing"},
            },
        ],
    },
    "routing.yaml",
)


@pytest.mark.parametrize(
    ("attributes", "text", "expected"),
    [
        (
            {"tier": "gold", "topic": "billing"},
            "",
            Placement("gold-billing", 0, "billing-experts", 10),
        ),
        ({"tier": "silver", "topic": "billing"}, "hello", Placement("rest", 0, "everyone", 0)),
        ({"tier": "gold"}, "Where is my INVOICE?", Placement("words", 0, "billing", 0)),
        ({"language": "de"}, "Hallo", Placement("german", 0, "tech-de", 0)),
        ({"language": "de"}, "refund please", Placement("words", 0, "billing", 0)),
        ({}, "", Placement("rest", 0, "everyone", 0)),
    ],
    ids=[
        "all conditions",
        "one condition fails",
        "keyword",
        "list of values",
        "first wins",
        "none",
    ],
)
def test_first_matching_rule_gives_the_first_step(
    attributes: dict[str, str], text: str, expected: Placement
) -> None:
    assert classify(CONFIG, attributes, text) == expected


def test_a_step_holds_until_its_timeout_then_the_next_one_applies() -> None:
    assert due(CONFIG, "gold-billing", 0, T0, T0 + timedelta(seconds=59.9)) is None
    assert due(CONFIG, "gold-billing", 0, T0, T0 + timedelta(seconds=60)) == Placement(
        "gold-billing", 1, "billing", 5
    )
    # The next step's clock starts when the contact arrived on it.
    assert due(CONFIG, "gold-billing", 1, T0, T0 + timedelta(seconds=119)) is None
    assert step_floor(CONFIG, "gold-billing", 1) == 2
    assert step_floor(CONFIG, "gold-billing", 0) is None


@pytest.mark.parametrize(
    ("rule", "step", "action", "placement", "text"),
    [
        (
            "gold-billing",
            1,
            FinalAction.CALLBACK,
            Placement("gold-billing", 2, "billing", 5),
            "All our agents are busy. We have noted your request",
        ),
        ("words", 0, FinalAction.NOTICE, None, "We are closed, we will write back."),
        (
            "german",
            0,
            FinalAction.VOICEMAIL,
            Placement("german", 1, "tech-de", 0),
            "Leave us a message",
        ),
        ("rest", 0, FinalAction.OVERFLOW, Placement("rest", 1, "billing", 0), None),
    ],
)
def test_final_actions(
    rule: str, step: int, action: FinalAction, placement: Placement | None, text: str | None
) -> None:
    decision = due(CONFIG, rule, step, T0, T0 + timedelta(hours=1))
    assert isinstance(decision, FinalStep)
    assert decision.final.action == action
    assert decision.placement == placement
    if text is None:
        assert decision.text is None
    else:
        assert decision.text is not None and text in decision.text


def test_after_the_final_action_nothing_moves_and_unknown_rules_are_left_alone() -> None:
    assert due(CONFIG, "rest", 1, T0, T0 + timedelta(days=30)) is None
    assert due(CONFIG, "renamed-rule", 0, T0, T0 + timedelta(days=30)) is None


def test_back_to_the_previous_step() -> None:
    assert previous(CONFIG, "gold-billing", 1) == Placement(
        "gold-billing", 0, "billing-experts", 10
    )
    assert previous(CONFIG, "gold-billing", 0) is None
    # After the final action, back means the last real step.
    assert previous(CONFIG, "gold-billing", 2) == Placement("gold-billing", 1, "billing", 5)
    assert previous(CONFIG, None, 1) is None
