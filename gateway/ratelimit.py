"""Rate limits (pure: the caller passes the clock): a token bucket, and buckets kept by key.

Why keyed: a limit must follow who is sending, not the connection they send on. A web chat
visitor with three sockets, or a password guesser spreading attempts over connections, shares
one bucket per visitor, account or client address. The buckets live in memory, per instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def allow(self, now: float, cost: float = 1.0) -> bool:
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def wait(self, now: float, cost: float = 1.0) -> float:
        """Seconds until ``cost`` would be allowed (0 when it would be now); takes nothing."""
        self._refill(now)
        return max(0.0, (cost - self.tokens) / self.rate)

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class KeyedBuckets:
    """One token bucket per key (a visitor, an account, a client address).

    At most ``max_keys`` are kept: beyond that, buckets that have filled up again (nobody
    limited) are forgotten first, so a flood of new keys cannot grow memory without bound."""

    def __init__(self, rate: float, burst: int, max_keys: int = 50_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.buckets: dict[str, TokenBucket] = {}

    def _bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self._forget_idle(now)
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, b in self.buckets.items() if b.full(now)]:
            del self.buckets[key]
        if len(self.buckets) >= self.max_keys:
            self.buckets.clear()

    def allow(self, key: str, now: float, cost: float = 1.0) -> bool:
        return self._bucket(key, now).allow(now, cost)

    def wait(self, key: str, now: float) -> float:
        bucket = self.buckets.get(key)
        return 0.0 if bucket is None else bucket.wait(now)

    def take(self, key: str, now: float) -> None:
        """Count one event against ``key`` (even when it is already out of tokens)."""
        bucket = self._bucket(key, now)
        bucket._refill(now)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)

    def reset(self, key: str) -> None:
        self.buckets.pop(key, None)


class FrameLimiter:
    """Web chat frames: one bucket per visitor (whatever the number of their sockets) and one
    per client address. A frame passes only when both have room."""

    def __init__(
        self,
        rate: float,
        burst: int,
        address_rate: float,
        address_burst: int,
        max_keys: int = 50_000,
    ) -> None:
        self.visitors = KeyedBuckets(rate, burst, max_keys)
        self.addresses = KeyedBuckets(address_rate, address_burst, max_keys)

    def allow(self, visitor: str, address: str, now: float) -> bool:
        # Both are charged, so a visitor cannot spread a flood over addresses or tabs.
        visitor_ok = self.visitors.allow(visitor, now)
        address_ok = self.addresses.allow(address, now)
        return visitor_ok and address_ok
