"""A per-parent flood limit for the Telegram front end, so that bad input, a flood of messages among it,
never crashes the bot.

Each parent has a token bucket: a burst of FLOOD_BURST messages at once, refilled at FLOOD_PER_MINUTE. A
message over the limit is not processed at all (no NLU, no database write); the first one in each
NOTICE_EVERY window is answered with one polite line (utter_slow_down in domain.yml), the rest are
dropped silently. Button presses and photos cost half a message (BUTTON_COST, PHOTO_COST): a parent
going briskly through a report presses many buttons, and an album of ten screenshots must fit in a burst.
A message that mentions a child in danger takes from a second, looser bucket of its own (key
"PARENT:urgent", URGENT_BURST_FACTOR times the burst, the same refill), never from the first: a parent
over the ordinary limit can still raise an alarm, but danger words are no way round the limit (else a
burst of 200 such messages would all go to the staff). Over the urgent bucket too, the message is not
processed either, but the parent is still shown the emergency guidance (999 first): the handler sends it
without the engine (bot/telegram/handlers.py).

The bot keeps the buckets in its database (SharedFloodGate, bot/storage/flood.py): every process behind a
webhook load balancer sees the same count, so a parent whose updates are spread over N processes gets the
allowance once, not N times, and a restart forgets nothing. (The console has no flood limit.)
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

FLOOD_BURST = 10
"""Messages a parent may send at once before the limit applies."""
FLOOD_PER_MINUTE = 20.0
"""Sustained messages per minute (one every 3 s) once the burst is used up."""
NOTICE_EVERY = 60.0
"""Seconds between two "slow down" lines to the same parent."""
URGENT_BURST_FACTOR = 3
"""The urgent bucket's burst, in ordinary bursts (its refill is the ordinary one)."""
BUTTON_COST = 0.5
PHOTO_COST = 0.5


class Admission(enum.Enum):
    ALLOW = "allow"
    """Process the message."""
    NOTIFY = "notify"
    """Over the limit: drop the message and tell the parent to slow down."""
    DROP = "drop"
    """Over the limit and already told in this window: drop the message silently."""


BucketRow = tuple[float, float, float | None]
"""(tokens, updated, told_at) as the database keeps them; times are Unix seconds."""


@dataclass
class _Bucket:
    tokens: float
    updated: float
    told_at: float | None = None


@dataclass(frozen=True)
class FloodLimit:
    """The token-bucket rule, on one bucket."""

    burst: float
    per_second: float
    notice_every: float

    def take(self, bucket: _Bucket, now: float, cost: float) -> Admission:
        """Refill `bucket` up to `now`, then take `cost` from it (updating it in place)."""
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return Admission.ALLOW
        if bucket.told_at is None or now - bucket.told_at >= self.notice_every:
            bucket.told_at = now
            return Admission.NOTIFY
        return Admission.DROP


def _limit(burst: int, per_minute: float, notice_every: float) -> FloodLimit:
    if burst < 1 or per_minute <= 0:
        raise ValueError("the flood limit needs a burst of at least 1 and a positive rate")
    return FloodLimit(float(burst), per_minute / 60.0, notice_every)


class FloodBuckets(Protocol):
    async def take(
        self, parent_id: str, decide: Callable[[BucketRow | None], tuple[Admission, BucketRow]]
    ) -> Admission:
        """Run `decide` on the parent's bucket (None when there is none yet) and keep what it returns,
        with no other process's decision for that parent in between."""
        ...


class SharedFloodGate:
    """The flood limit with its buckets in the database, shared by every bot process."""

    def __init__(
        self,
        buckets: FloodBuckets,
        burst: int = FLOOD_BURST,
        per_minute: float = FLOOD_PER_MINUTE,
        notice_every: float = NOTICE_EVERY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._buckets = buckets
        self._limit = _limit(burst, per_minute, notice_every)
        self._urgent_limit = _limit(burst * URGENT_BURST_FACTOR, per_minute, notice_every)
        self._clock = clock

    async def check(self, parent_id: str, cost: float = 1.0, *, urgent: bool = False) -> Admission:
        """Take `cost` from the parent's bucket; an `urgent` message (danger words) from their urgent
        bucket instead."""
        limit = self._urgent_limit if urgent else self._limit
        key = f"{parent_id}:urgent" if urgent else parent_id

        def decide(row: BucketRow | None) -> tuple[Admission, BucketRow]:
            now = self._clock()
            bucket = _Bucket(*row) if row is not None else _Bucket(limit.burst, now)
            verdict = limit.take(bucket, now, cost)
            return verdict, (bucket.tokens, bucket.updated, bucket.told_at)

        return await self._buckets.take(key, decide)
