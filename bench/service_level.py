"""Service level of the real routing strategy in a discrete-event simulation, against theory.

Why: Erlang C predicts the share of contacts answered within T seconds for one skill with
Poisson arrivals, exponential handle times and N interchangeable agents. Driving the product's
own ``plan_offers`` with such a load and landing within 2 points of the prediction shows the
strategy wastes no capacity (no idle agent while a contact waits). A second run compares
skill-based choice (best level first) with round robin for several skills where a level-5
agent works twice as fast as a level-1 agent.

    python -m bench.service_level            # the full runs (a few minutes)
    python -m bench.service_level --quick    # short runs, to check it works
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from routing.strategy import Choice, Media, OperatorSnapshot, Policy, WaitingContact, plan_offers

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability, by the stable recursion B(0)=1, B(n)=A·B/(n + A·B)."""
    b = 1.0
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """Probability that a contact has to wait (0 < load < agents)."""
    if load >= agents:
        return 1.0
    b = erlang_b(agents, load)
    return agents * b / (agents - load * (1 - b))


def erlang_service_level(agents: int, load: float, handle: float, within: float) -> float:
    """Share answered within ``within`` seconds: 1 - C(N, A)·exp(-(N - A)·t / AHT)."""
    return 1 - erlang_c(agents, load) * math.exp(-(agents - load) * within / handle)


@dataclass
class Agent:
    id: int
    skills: dict[str, int]
    busy_until: float | None = None
    idle_since: float = 0.0
    handled: int = 0


@dataclass
class Outcome:
    answered: int = 0
    within: int = 0
    total_wait: float = 0.0
    total_handle: float = 0.0
    waits: list[float] = field(default_factory=list)

    def report(self) -> dict[str, float]:
        n = max(1, self.answered)
        return {
            "answered": self.answered,
            "service_level": round(100 * self.within / n, 2),
            "mean_wait_s": round(self.total_wait / n, 2),
            "mean_handle_s": round(self.total_handle / n, 2),
        }


def simulate(
    agents: list[Agent],
    arrivals_per_second: float,
    handle_seconds: float,
    contacts: int,
    within: float,
    policy: Policy,
    skills: list[str],
    speed: dict[int, float] | None = None,
    seed: int = 1,
    warmup: int = 0,
) -> Outcome:
    """Arrivals and departures in time order; after each event, ``plan_offers`` decides
    which waiting contacts go to which free agents (an offer is accepted at once)."""
    rng = random.Random(seed)
    events: list[tuple[float, int, str, int]] = []  # (time, order, kind, id)
    order = 0
    t = 0.0
    for cid in range(contacts):
        t += rng.expovariate(arrivals_per_second)
        heapq.heappush(events, (t, order, "arrive", cid))
        order += 1
    needs = {cid: rng.choice(skills) for cid in range(contacts)}
    arrived: dict[int, float] = {}
    waiting: dict[int, WaitingContact] = {}
    by_id = {agent.id: agent for agent in agents}
    outcome = Outcome()
    while events:
        now, _, kind, ident = heapq.heappop(events)
        if kind == "arrive":
            arrived[ident] = now
            waiting[ident] = WaitingContact(
                ident, 0, EPOCH + timedelta(seconds=now), media=Media.CHAT,
                skills={needs[ident]: 1},
            )  # fmt: skip
        else:
            agent = by_id[ident]
            agent.busy_until = None
            agent.idle_since = now
        free = [
            OperatorSnapshot(
                a.id,
                1,
                0,
                EPOCH + timedelta(seconds=a.idle_since),
                a.skills,
                capacities={Media.CHAT: 1},
            )
            for a in agents
            if a.busy_until is None
        ]
        if not free or not waiting:
            continue
        for offer in plan_offers(
            waiting.values(), free, now=EPOCH + timedelta(seconds=now), policy=policy
        ):
            contact = waiting.pop(offer.conversation_id)
            agent = by_id[offer.operator_id]
            wait = now - arrived[contact.conversation_id]
            level = agent.skills[needs[contact.conversation_id]]
            handle = rng.expovariate(1 / handle_seconds) / (speed or {}).get(level, 1.0)
            agent.busy_until = now + handle
            agent.handled += 1
            heapq.heappush(events, (agent.busy_until, order, "free", agent.id))
            order += 1
            if contact.conversation_id < warmup:
                continue
            outcome.answered += 1
            outcome.within += wait <= within
            outcome.total_wait += wait
            outcome.total_handle += handle
    return outcome


def erlang_runs(contacts: int, within: float, handle: float) -> list[dict[str, Any]]:
    rows = []
    for agents, occupancy in ((10, 0.80), (20, 0.85), (50, 0.90)):
        load = agents * occupancy
        team = [Agent(i, {"general": 3}) for i in range(agents)]
        result = simulate(
            team, load / handle, handle, contacts, within, Policy(), ["general"],
            warmup=contacts // 20,
        )  # fmt: skip
        predicted = 100 * erlang_service_level(agents, load, handle, within)
        achieved = result.report()["service_level"]
        rows.append(
            {
                "agents": agents,
                "erlangs": round(load, 1),
                "contacts": contacts,
                "erlang_c_service_level": round(predicted, 2),
                "simulated_service_level": achieved,
                "difference_points": round(achieved - predicted, 2),
            }
        )
    return rows


def skills_runs(contacts: int, within: float, handle: float) -> list[dict[str, Any]]:
    """Three skills, 24 agents each with two skills at mixed levels; a level-5 agent works
    twice as fast as a level-1 agent. Same arrivals for both policies."""
    skills = ["billing", "tech", "sales"]
    rng = random.Random(5)
    profiles = []
    for i in range(24):
        first, second = skills[i % 3], skills[(i + 1) % 3]
        profiles.append({first: rng.randint(3, 5), second: rng.randint(1, 2)})
    speed = {level: 1 + (level - 1) / 4 for level in range(1, 6)}
    # Offered load: 85 % of what the team could do at the speed of an average level.
    mean_speed = sum(speed[v] for p in profiles for v in p.values()) / (2 * len(profiles))
    rate = 0.85 * len(profiles) * mean_speed / handle
    rows = []
    for name, policy in (
        ("skill-based (best level, then longest idle)", Policy()),
        ("round robin (any level)", Policy(Choice.ROUND_ROBIN, prefer_skill_level=False)),
    ):
        team = [Agent(i, dict(p)) for i, p in enumerate(profiles)]
        result = simulate(
            team, rate, handle, contacts, within, policy, skills, speed, seed=11,
            warmup=contacts // 20,
        )  # fmt: skip
        rows.append({"policy": name, **result.report()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--within", type=float, default=20.0, help="service level threshold (s)")
    parser.add_argument("--handle", type=float, default=180.0, help="mean handle time (s)")
    parser.add_argument("--quick", action="store_true", help="5,000 contacts per run")
    args = parser.parse_args()
    contacts = 5_000 if args.quick else args.contacts
    erlang = erlang_runs(contacts, args.within, args.handle)
    print(f"One skill, service level within {args.within:g} s, mean handle {args.handle:g} s:")
    for row in erlang:
        print(
            f"  {row['agents']:>3} agents, {row['erlangs']:>5} Erlangs: Erlang C "
            f"{row['erlang_c_service_level']:6.2f} %, simulated "
            f"{row['simulated_service_level']:6.2f} % ({row['difference_points']:+.2f} points)"
        )
    skills = skills_runs(contacts, args.within, args.handle)
    print("Three skills, 24 agents, level 5 twice as fast as level 1:")
    for row in skills:
        print(
            f"  {row['policy']:<45} service level {row['service_level']:6.2f} %, mean wait "
            f"{row['mean_wait_s']:7.2f} s, mean handle {row['mean_handle_s']:6.2f} s"
        )
    print(json.dumps({"erlang": erlang, "skills": skills}))


if __name__ == "__main__":
    main()
