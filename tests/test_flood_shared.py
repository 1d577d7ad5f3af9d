"""The flood limit in the database (bot/storage/flood.py): two processes count one parent together, so
spreading messages over them does not double the allowance; idle buckets are purged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.storage.flood import SqlFloodBuckets
from bot.telegram.flood import Admission, SharedFloodGate
from tests.test_hostile_input import Clock


async def test_two_processes_share_one_parents_allowance(two_processes: list[sessionmaker[Session]]) -> None:
    clock = Clock()
    gates = [SharedFloodGate(SqlFloodBuckets(s), burst=8, per_minute=20, clock=clock) for s in two_processes]
    verdicts = [await gates[n % 2].check("p") for n in range(12)]
    assert verdicts == [Admission.ALLOW] * 8 + [Admission.NOTIFY] + [Admission.DROP] * 3
    assert await gates[1].check("other") is Admission.ALLOW, "one parent's flood is theirs alone"
    assert await gates[0].check("p", urgent=True) is Admission.ALLOW, "danger always gets through"
    clock.now += 61
    assert await gates[1].check("p") is Admission.ALLOW


async def test_concurrent_checks_lose_no_count(two_processes: list[sessionmaker[Session]]) -> None:
    clock = Clock()
    gates = [SharedFloodGate(SqlFloodBuckets(s), burst=8, per_minute=20, clock=clock) for s in two_processes]
    verdicts = await asyncio.gather(*(gates[n % 2].check("p") for n in range(10)))
    assert verdicts.count(Admission.ALLOW) == 8


async def test_idle_buckets_are_purged(two_processes: list[sessionmaker[Session]]) -> None:
    buckets = SqlFloodBuckets(two_processes[0])
    await SharedFloodGate(buckets).check("p")
    assert await buckets.forget_idle(timedelta(hours=1)) == 0
    assert await buckets.forget_idle(timedelta(seconds=-1)) == 1
