"""Appeals as work in the shared capacity model: how many an operator may work on, whether
they have room for one more, and whom the gateway offers an awaiting appeal to.

Why pure and next to routing's strategy: an appeal is back-office work of the media
``appeal`` (routing.strategy.Media), counted like a contact's media, so a phone call blocks
it exactly as it blocks a chat (``routing.strategy.free_for`` decides both). The store reads
the operators' presence and loads; these functions decide, tested with plain values.

- Capacity: ``capacity.appeal`` of the operator's routing profile, else the routing's
  ``default_capacity.appeal``, else :data:`DEFAULT_APPEAL_CAPACITY`. It is not part of
  ``RoutingConfig.capacity_of``, so the router's sense of how busy someone is stays the same.
- Load: the appeals an operator owns that are in progress (those waiting for the customer or
  a third party do not count); an offer waiting for their answer counts too when offering.
- Choice: among operators of the stage's queue with room, fewer pending appeal offers than
  the routing policy's ``max_pending_offers.appeal`` (1 by default), who did not decline or
  miss this appeal at this stage: the least loaded under the ``least_busy`` policy, else the
  one with the fewest offers waiting and then the longest idle; ties go to the lower user id.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from routing.config import RoutingConfig, queue_admits
from routing.strategy import Choice, Media, OperatorSnapshot, free_for

# An operator's appeal capacity when the routing configuration names none.
DEFAULT_APPEAL_CAPACITY = 5


def appeal_capacity(config: RoutingConfig, username: str) -> int:
    """How many appeals ``username`` may have in progress at once."""
    profile = config.operators.get(username)
    if profile is not None and Media.APPEAL in profile.capacity:
        return profile.capacity[Media.APPEAL]
    return config.default_capacity.get(Media.APPEAL, DEFAULT_APPEAL_CAPACITY)


def pending_limit(config: RoutingConfig) -> int:
    """How many appeal offers an operator may have waiting for an answer at once."""
    return config.policy.pending_limits()[Media.APPEAL]


@dataclass(frozen=True, slots=True)
class Worker:
    """An operator as appeals see them: profile, idle time, and what they carry now."""

    user_id: int
    username: str
    capacity: int  # appeals in progress at once
    in_progress: int = 0  # appeals they own that are in progress
    voice: int = 0  # calls they are on
    pending_offers: int = 0  # appeal offers waiting for their answer
    idle_since: datetime | None = None
    skills: dict[str, int] = field(default_factory=dict)
    languages: tuple[str, ...] = ()

    def snapshot(self, *, with_offers: bool) -> OperatorSnapshot:
        """The operator for ``routing.strategy`` with their appeal and voice load; pending
        offers count as load when an offer is being planned."""
        load = self.in_progress + (self.pending_offers if with_offers else 0)
        return OperatorSnapshot(
            self.user_id,
            0,
            0,
            self.idle_since,
            self.skills,
            frozenset(self.languages),
            capacities={Media.APPEAL: self.capacity},
            load={Media.APPEAL: load, Media.VOICE: self.voice},
        )

    def room(self, *, with_offers: bool = False) -> int:
        """How many more appeals they may take now (none while on a call)."""
        return free_for(self.snapshot(with_offers=with_offers), Media.APPEAL)


def worker(
    config: RoutingConfig,
    user_id: int,
    username: str,
    *,
    in_progress: int = 0,
    voice: int = 0,
    pending_offers: int = 0,
    idle_since: datetime | None = None,
) -> Worker:
    """A :class:`Worker` with the profile and appeal capacity the routing gives them."""
    profile = config.operators.get(username)
    return Worker(
        user_id,
        username,
        appeal_capacity(config, username),
        in_progress,
        voice,
        pending_offers,
        idle_since,
        dict(profile.skills) if profile else {},
        tuple(profile.languages) if profile else (),
    )


def at_capacity_reason(worker: Worker) -> str | None:
    """Why ``worker`` may not take another appeal now, or None when they may."""
    if worker.room() > 0:
        return None
    if worker.voice > 0:
        return "you are on a call; take appeals when it has ended"
    return (
        f"you have {worker.in_progress} appeal(s) in progress and may work on "
        f"{worker.capacity} at once; finish, hand over or put one on hold first"
    )


def works_in(config: RoutingConfig, worker: Worker, queue: str) -> bool:
    """Whether the routing's ``queue`` admits the operator (skills and languages)."""
    target = config.queues.get(queue)
    return target is not None and queue_admits(target, worker.skills, worker.languages)


def _stamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("-inf")


def choose(
    workers: Iterable[Worker],
    *,
    config: RoutingConfig,
    queue: str,
    passed: Collection[int] = (),
) -> Worker | None:
    """The operator to offer an appeal of ``queue`` to now, or None (``workers``: available
    operators; ``passed``: those who declined or missed it at this stage)."""
    limit = pending_limit(config)
    eligible = [
        w
        for w in workers
        if w.user_id not in passed
        and w.pending_offers < limit
        and w.room(with_offers=True) > 0
        and works_in(config, w, queue)
    ]
    if not eligible:
        return None
    if config.policy.choice == Choice.LEAST_BUSY:
        return min(
            eligible,
            key=lambda w: (
                (w.in_progress + w.pending_offers) / max(w.capacity, 1),
                _stamp(w.idle_since),
                w.user_id,
            ),
        )
    return min(eligible, key=lambda w: (w.pending_offers, _stamp(w.idle_since), w.user_id))


def offered(worker: Worker) -> Worker:
    """The worker after an offer to them (one more pending)."""
    return replace(worker, pending_offers=worker.pending_offers + 1)
