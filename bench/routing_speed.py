"""How fast the router decides: the strategy on a long line against many operators.

Why: a decision is one waiting contact matched (or not) against the operators who still have
room. The goal is under 1 ms per decision at p99 with 100,000 waiting contacts and 1,000
operators, so that a pass over a long line never holds contacts back.

Two cases, both seeded: "realistic" (operators already carry some load, so most contacts find
nobody once the room is used up) and "roomy" (so much capacity that every contact is offered,
the most work per decision). Each decision is timed alone; the whole ``plan_offers`` call is
timed as the router makes it.

    python -m bench.routing_speed            # 100,000 contacts, 1,000 operators
    python -m bench.routing_speed --quick    # small sizes, to check it runs
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.raw_limits import percentiles
from routing.strategy import (
    Media,
    OperatorSnapshot,
    Planner,
    Policy,
    WaitingContact,
    order_contacts,
    plan_offers,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SKILLS = [f"skill{n}" for n in range(8)]
LANGUAGES = ["en", "de"]
MEDIA_MIX = [Media.CHAT] * 5 + [Media.MESSAGING] * 3 + [Media.EMAIL] * 1 + [Media.VOICE] * 1


def make_contacts(n: int, rng: random.Random) -> list[WaitingContact]:
    contacts = []
    for cid in range(n):
        needs = {rng.choice(SKILLS): rng.randint(1, 3)}
        if rng.random() < 0.2:
            needs[rng.choice(SKILLS)] = rng.randint(1, 2)
        contacts.append(
            WaitingContact(
                cid,
                rng.choice([0, 0, 0, 5, 10]),
                NOW - timedelta(seconds=rng.randint(0, 7200)),
                frozenset(rng.sample(range(1000), 2)) if rng.random() < 0.1 else frozenset(),
                rng.choice(MEDIA_MIX),
                needs,
                languages=frozenset({rng.choice(LANGUAGES)}),
                preferred_operator=rng.randrange(1000) if rng.random() < 0.05 else None,
                affinity_until=NOW + timedelta(hours=1),
            )
        )
    return contacts


def make_operators(n: int, rng: random.Random, roomy: bool) -> list[OperatorSnapshot]:
    operators = []
    for oid in range(n):
        capacities = {Media.VOICE: 1, Media.CHAT: 3, Media.MESSAGING: 5, Media.EMAIL: 8}
        if roomy:
            capacities = {media: 200 for media in Media}
            load: dict[Media, int] = {}
        else:
            load = {Media.CHAT: rng.randint(0, 3), Media.EMAIL: rng.randint(0, 8)}
        operators.append(
            OperatorSnapshot(
                oid,
                capacities[Media.CHAT],
                load.get(Media.CHAT, 0),
                NOW - timedelta(seconds=rng.randint(0, 900)),
                {skill: rng.randint(1, 5) for skill in rng.sample(SKILLS, rng.randint(2, 4))},
                frozenset(rng.sample(LANGUAGES, rng.randint(1, 2))),
                capacities,
                load,
            )
        )
    return operators


def run_case(name: str, contacts: int, operators: int, roomy: bool, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    line = make_contacts(contacts, rng)
    pool = make_operators(operators, rng, roomy)
    policy = Policy()

    started = time.perf_counter()
    ordered = order_contacts(line, NOW, policy)
    order_seconds = time.perf_counter() - started
    planner = Planner(pool, now=NOW, policy=policy)
    latencies_ms: list[float] = []
    offers = 0
    decide = planner.decide
    clock = time.perf_counter
    for contact in ordered:  # every contact, even once nobody has room (the slow path)
        t0 = clock()
        offer = decide(contact)
        latencies_ms.append((clock() - t0) * 1000)
        offers += offer is not None
    decide_seconds = sum(latencies_ms) / 1000

    started = time.perf_counter()
    plan = plan_offers(line, pool, now=NOW, policy=policy)
    plan_seconds = time.perf_counter() - started
    pct = percentiles(latencies_ms, (50, 99, 100))
    return {
        "case": name,
        "contacts": contacts,
        "operators": operators,
        "offers": offers,
        "decision_ms": {"p50": pct["p50"], "p99": pct["p99"], "max": pct["p100"]},
        "decisions_per_second": round(contacts / decide_seconds) if decide_seconds else None,
        "order_seconds": round(order_seconds, 3),
        "plan_offers_seconds": round(plan_seconds, 3),
        "plan_offers_offers": len(plan),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--operators", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2,000 contacts, 50 operators")
    args = parser.parse_args()
    contacts, operators = (2_000, 50) if args.quick else (args.contacts, args.operators)
    results = [
        run_case("realistic", contacts, operators, roomy=False, seed=args.seed),
        run_case("roomy", contacts, operators, roomy=True, seed=args.seed),
    ]
    for result in results:
        d = result["decision_ms"]
        print(
            f"{result['case']:>9}: {result['contacts']:,} contacts x {result['operators']:,} "
            f"operators: {result['offers']:,} offers; per decision p50 {d['p50']:.4f} ms, "
            f"p99 {d['p99']:.4f} ms, max {d['max']:.3f} ms; "
            f"{result['decisions_per_second']:,} decisions/s; whole plan_offers "
            f"{result['plan_offers_seconds']} s (sorting the line {result['order_seconds']} s)"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
