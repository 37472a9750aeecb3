"""The routing strategy as pure functions: waiting contacts + operators -> offers to make.

Why pure: every rule (order, eligibility, capacity, skills, affinity, escalation) is tested with
plain values and a fixed clock, and the router service only feeds it snapshots from the store.

- Order of contacts: higher (effective) priority first, then the longest waiting. With aging,
  a contact gains one priority point per ``aging_seconds`` waited, so low priority cannot starve.
- Eligibility: the operator is available (the caller only passes those), out of wrap-up, has
  every required skill at the required level, speaks the contact's language, has free capacity
  for the contact's media (a voice call blocks other media), has fewer pending offers of that
  media than the policy allows, is not in a cool-down after missing or declining this contact,
  and did not pass this contact on (transfer, send back).
- Choice: the owner of a returning customer first, while the affinity lasts; then the best
  skill level for what the contact needs; then by policy: longest idle, least busy or round
  robin. Ties go to the lower operator id, so plans are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Later than any real timestamp: an operator just offered a contact goes to the back of the line.
_JUST_OFFERED = 1e18


class Media(StrEnum):
    """Kinds of work an operator has a capacity for. A voice call blocks every other kind."""

    VOICE = "voice"
    CHAT = "chat"
    MESSAGING = "messaging"
    EMAIL = "email"
    # Back-office work: appeals an operator owns (appeals/dispatch.py). No channel's contacts
    # are appeals, so the router never plans one, and its capacity is not the router's.
    APPEAL = "appeal"


class Choice(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_BUSY = "least_busy"
    ROUND_ROBIN = "round_robin"


@dataclass(frozen=True, slots=True)
class WaitingContact:
    conversation_id: int
    priority: int
    waiting_since: datetime | None
    refused_by: frozenset[int] = frozenset()
    media: Media = Media.CHAT
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> minimum level (1-5)
    language: str | None = None
    preferred_operator: int | None = None  # affinity: the operator who owns this customer
    affinity_until: datetime | None = None
    languages: frozenset[str] = frozenset()  # the operator must speak one of these (queue target)
    # Operators who missed or declined this contact a moment ago: out until their cool-down ends.
    cooling_down: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class OperatorSnapshot:
    operator_id: int
    capacity: int  # chat capacity, for callers that know no other media
    active: int  # chat load, likewise
    idle_since: datetime | None  # since when the operator has had nothing to do
    skills: Mapping[str, int] = field(default_factory=dict)
    languages: frozenset[str] = frozenset()
    capacities: Mapping[Media, int] | None = None
    load: Mapping[Media, int] | None = None
    wrapup_until: datetime | None = None
    last_offered_at: datetime | None = None
    pending: Mapping[Media, int] | None = None  # offers waiting for an answer (within ``load``)

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.active)

    def capacity_for(self, media: Media) -> int:
        if self.capacities is not None:
            return self.capacities.get(media, 0)
        return self.capacity if media == Media.CHAT else 0

    def load_of(self, media: Media) -> int:
        if self.load is not None:
            return self.load.get(media, 0)
        return self.active if media == Media.CHAT else 0


@dataclass(frozen=True, slots=True)
class Policy:
    choice: Choice = Choice.LONGEST_IDLE
    aging_seconds: float | None = None  # one priority point per this many seconds waited
    prefer_skill_level: bool = True
    # At most this many unanswered offers per operator per media (None: up to capacity).
    max_pending_offers: Mapping[Media, int] | None = None

    def pending_limit(self, media: Media) -> int | None:
        if self.max_pending_offers is None:
            return None
        return self.max_pending_offers.get(media)


@dataclass(frozen=True, slots=True)
class PlannedOffer:
    conversation_id: int
    operator_id: int


@dataclass(frozen=True, slots=True)
class Step:
    """One escalation step: the queue to look in, a skill floor, and how long to wait there."""

    queue: str
    min_level: int | None = None
    priority: int = 0
    timeout_seconds: float | None = None  # None: the last step, waits for ever


def current_step(steps: Sequence[Step], waited_seconds: float) -> int | None:
    """Index of the step in force after ``waited_seconds``; None once every step expired
    (time for the rule's final action: overflow, voicemail, callback or a closing notice)."""
    elapsed = 0.0
    for index, step in enumerate(steps):
        if step.timeout_seconds is None:
            return index
        elapsed += step.timeout_seconds
        if waited_seconds < elapsed:
            return index
    return None


def effective_priority(contact: WaitingContact, now: datetime | None, aging: float | None) -> float:
    if aging is None or now is None or contact.waiting_since is None:
        return float(contact.priority)
    waited = max(0.0, (now - contact.waiting_since).total_seconds())
    return contact.priority + waited // aging


def free_for(operator: OperatorSnapshot, media: Media) -> int:
    """Room for one more contact of ``media``: none while on a call, unless it is voice."""
    if media != Media.VOICE and operator.load_of(Media.VOICE) > 0:
        return 0
    return max(0, operator.capacity_for(media) - operator.load_of(media))


def eligible(operator: OperatorSnapshot, contact: WaitingContact, now: datetime | None) -> bool:
    if operator.operator_id in contact.refused_by or operator.operator_id in contact.cooling_down:
        return False
    return _statically_eligible(operator, contact, now) and free_for(operator, contact.media) > 0


def skill_score(operator: OperatorSnapshot, contact: WaitingContact) -> int:
    return sum(operator.skills.get(skill, 0) for skill in contact.skills)


def _stamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("-inf")


@dataclass(eq=False)
class _Live:
    """An operator's snapshot as the plan fills them up."""

    snapshot: OperatorSnapshot
    capacities: Mapping[Media, int]
    load: dict[Media, int] = field(default_factory=dict)
    last_offered: float = float("-inf")
    idle: float = float("-inf")
    pending: dict[Media, int] = field(default_factory=dict)
    policy: Policy = Policy()

    def room_for(self, media: Media) -> int:
        """Capacity left for ``media`` on the load the plan has given the operator so far."""
        if media != Media.VOICE and self.load.get(Media.VOICE, 0) > 0:
            return 0
        return max(0, self.capacities.get(media, 0) - self.load.get(media, 0))

    def at_pending_limit(self, media: Media) -> bool:
        limit = self.policy.pending_limit(media)
        return limit is not None and self.pending.get(media, 0) >= limit

    def free_for(self, media: Media) -> int:
        """As :func:`free_for`, and none while the operator has as many offers of ``media``
        waiting for an answer as the policy allows."""
        return 0 if self.at_pending_limit(media) else self.room_for(media)

    def any_free(self) -> bool:
        return any(self.free_for(media) > 0 for media in Media)

    def busy_fraction(self) -> float:
        total = sum(self.capacities.values())
        return sum(self.load.values()) / total if total else 1.0


def _statically_eligible(
    operator: OperatorSnapshot, contact: WaitingContact, now: datetime | None
) -> bool:
    """The part of :func:`eligible` that a plan cannot change: wrap-up, languages, skills."""
    if now is not None and operator.wrapup_until is not None and operator.wrapup_until > now:
        return False
    return qualifies(operator, contact)


def qualifies(operator: OperatorSnapshot, contact: WaitingContact) -> bool:
    """Skills and languages: what makes an operator eligible whatever their load or timers."""
    if contact.language is not None and contact.language not in operator.languages:
        return False
    if contact.languages and not contact.languages & operator.languages:
        return False
    return all(operator.skills.get(skill, 0) >= level for skill, level in contact.skills.items())


# What makes two contacts need the same operators: media, skills with levels, language(s).
_Signature = tuple[Media, tuple[tuple[str, int], ...], str | None, frozenset[str]]


class Planner:
    """Decides one contact at a time against operators who fill up as offers are planned.

    Why a class: the decisions share work. Contacts that need the same thing (a signature:
    media, skills, languages) share the list of operators who could ever take them, with each
    one's skill score; an operator who has no room left for that media is dropped from the list
    for good (room only shrinks within a plan). So a line of 100,000 contacts costs little once
    the operators are full, and :func:`plan_offers` stops as soon as nobody has room at all.
    """

    def __init__(
        self,
        operators: Iterable[OperatorSnapshot],
        *,
        now: datetime | None = None,
        policy: Policy = Policy(),
    ) -> None:
        self.now = now
        self.policy = policy
        self.pool: list[_Live] = []
        for op in operators:
            if op.load is not None:
                load = dict(op.load)
            else:
                load = {Media.CHAT: op.active} if op.active else {}
            capacities = op.capacities if op.capacities is not None else {Media.CHAT: op.capacity}
            idle = _stamp(op.idle_since)
            last = _stamp(op.last_offered_at) if op.last_offered_at is not None else idle
            pending = dict(op.pending) if op.pending is not None else {}
            self.pool.append(_Live(op, capacities, load, last, idle, pending, policy))
        self.by_id: dict[int, _Live] = {}
        for live in self.pool:
            self.by_id.setdefault(live.snapshot.operator_id, live)
        self.open = sum(1 for live in self.pool if live.any_free())
        self._candidates: dict[_Signature, list[tuple[_Live, int]]] = {}
        self._tick = 0.0

    @property
    def exhausted(self) -> bool:
        """No operator has room for anything: no later contact can be offered."""
        return self.open == 0

    def _for(self, contact: WaitingContact) -> list[tuple[_Live, int]]:
        signature: _Signature = (
            contact.media,
            tuple(sorted(contact.skills.items())),
            contact.language,
            contact.languages,
        )
        listed = self._candidates.get(signature)
        if listed is None:
            listed = [
                (live, skill_score(live.snapshot, contact))
                for live in self.pool
                if _statically_eligible(live.snapshot, contact, self.now)
            ]
            self._candidates[signature] = listed
        return listed

    def _rank(self, live: _Live, score: int) -> tuple[float, ...]:
        skill = -score if self.policy.prefer_skill_level else 0
        if self.policy.choice == Choice.LEAST_BUSY:
            key: tuple[float, ...] = (live.busy_fraction(), live.idle)
        elif self.policy.choice == Choice.ROUND_ROBIN:
            key = (live.last_offered,)
        else:
            key = (live.idle, live.last_offered)
        return (skill, *key, live.snapshot.operator_id)

    def decide(self, contact: WaitingContact) -> PlannedOffer | None:
        """The operator to offer ``contact`` to now (and count it against them), or None."""
        listed = self._for(contact)
        media = contact.media
        best: _Live | None = None
        best_rank: tuple[float, ...] | None = None
        preferred: _Live | None = None
        affinity = contact.preferred_operator is not None and (
            contact.affinity_until is None or self.now is None or contact.affinity_until > self.now
        )
        full = 0
        for index, (live, score) in enumerate(listed):
            if live.free_for(media) <= 0:
                listed[index] = listed[full]  # room only shrinks: never a candidate again
                full += 1
                continue
            operator_id = live.snapshot.operator_id
            if operator_id in contact.refused_by or operator_id in contact.cooling_down:
                continue
            if affinity and operator_id == contact.preferred_operator and preferred is None:
                preferred = live
            rank = self._rank(live, score)
            if best_rank is None or rank < best_rank:
                best, best_rank = live, rank
        if full:
            del listed[:full]
        chosen = preferred or best
        if chosen is None:
            return None
        had_room = chosen.any_free()
        chosen.load[media] = chosen.load.get(media, 0) + 1
        chosen.pending[media] = chosen.pending.get(media, 0) + 1
        if had_room and not chosen.any_free():
            self.open -= 1
        # Just offered: the most recently busy operator, at the back of every line.
        self._tick += 1.0
        chosen.last_offered = chosen.idle = _JUST_OFFERED + self._tick
        return PlannedOffer(contact.conversation_id, chosen.snapshot.operator_id)


def order_contacts(
    contacts: Iterable[WaitingContact], now: datetime | None, policy: Policy
) -> list[WaitingContact]:
    """Most urgent first: effective priority, then the longest waiting, then the lowest id."""
    return sorted(
        contacts,
        key=lambda c: (
            -effective_priority(c, now, policy.aging_seconds),
            _stamp(c.waiting_since),
            c.conversation_id,
        ),
    )


def plan_offers(
    contacts: Iterable[WaitingContact],
    operators: Iterable[OperatorSnapshot],
    *,
    now: datetime | None = None,
    policy: Policy = Policy(),
) -> list[PlannedOffer]:
    """Offers to make now: at most one per contact, never beyond an operator's capacity."""
    planner = Planner(operators, now=now, policy=policy)
    plan: list[PlannedOffer] = []
    for contact in order_contacts(contacts, now, policy):
        if planner.exhausted:
            break
        offer = planner.decide(contact)
        if offer is not None:
            plan.append(offer)
    return plan
