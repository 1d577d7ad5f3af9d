"""The flood limit (bot/telegram/flood.py) with its buckets in the database (bot/storage/flood.py): the
token-bucket rule, two processes counting one parent together (spreading messages over them does not
double the allowance), idle buckets purged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.flood import SqlFloodBuckets
from bot.telegram.flood import Admission, SharedFloodGate


class Clock:
    """Unix seconds the test moves on."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def gate_on(sessions: sessionmaker[Session], clock: Clock) -> SharedFloodGate:
    return SharedFloodGate(SqlFloodBuckets(sessions), burst=8, per_minute=20, notice_every=60, clock=clock)


async def test_the_flood_limit_allows_a_burst_then_tells_once_per_window_then_refills(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    gate = gate_on(sessions, clock)
    verdicts = [await gate.check("p") for _ in range(12)]
    assert verdicts == [Admission.ALLOW] * 8 + [Admission.NOTIFY] + [Admission.DROP] * 3
    clock.now += 3.0  # one message's worth at 20 a minute
    assert await gate.check("p") is Admission.ALLOW
    assert await gate.check("p") is Admission.DROP  # still told within this window
    clock.now += 61
    assert [await gate.check("p") for _ in range(8)] == [Admission.ALLOW] * 8
    assert await gate.check("p") is Admission.NOTIFY  # a new window, a new notice


async def test_half_price_presses_and_photos_fit_an_album(sessions: sessionmaker[Session]) -> None:
    gate = gate_on(sessions, Clock())
    assert [await gate.check("q", cost=0.5) for _ in range(16)] == [Admission.ALLOW] * 16
    assert await gate.check("q", cost=0.5) is Admission.NOTIFY


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


async def test_a_burst_of_flood_checks_does_not_starve_the_turn_holding_sqlite(
    sessions: sessionmaker[Session],
) -> None:
    """A turn holds SQLite's write lock across awaits and needs a worker thread for its next statement.
    Flood checks that waited for the lock in worker threads filled the default executor (cores + 4
    threads, at most 32), the turn could not run, and all stalled until the 30 s busy timeout failed
    them (make bench's throughput run, 2026-11-30). Now they queue on the event loop."""
    from bot.domain import ParentState
    from bot.storage.parents import SqlStateStore
    from bot.storage.turns import Turns

    turns, store = Turns(sessions), SqlStateStore(sessions)
    gate = gate_on(sessions, Clock())
    holding, burst_waiting = asyncio.Event(), asyncio.Event()

    async def a_turn() -> None:
        async with turns.turn("parent-in-a-turn"):
            holding.set()
            await burst_waiting.wait()  # the burst arrives while this turn holds the write lock
            await store.save("parent-in-a-turn", ParentState(school_id="oakfield"))

    async def a_burst() -> list[Admission]:
        await holding.wait()
        checks = [asyncio.ensure_future(gate.check(f"parent-{n}")) for n in range(64)]
        await asyncio.sleep(0)  # each check runs to its first wait: a worker thread, or the writer lock
        burst_waiting.set()
        return await asyncio.gather(*checks)

    _, verdicts = await asyncio.wait_for(asyncio.gather(a_turn(), a_burst()), timeout=20)
    assert verdicts == [Admission.ALLOW] * 64
    assert (await store.load("parent-in-a-turn")).school_id == "oakfield"


async def test_a_flood_check_inside_a_turn_commits_with_it_or_not_at_all(
    sessions: sessionmaker[Session],
) -> None:
    """The flood check is part of the message's one transaction (bot/telegram/handlers.py): a turn that
    fails leaves the bucket as it was, one that commits keeps what the check took."""
    from bot.storage.turns import Turns

    turns, clock = Turns(sessions), Clock()
    gate = gate_on(sessions, clock)

    async def failing_turn() -> None:
        async with turns.turn("p"):
            assert [await gate.check("p") for _ in range(8)] == [Admission.ALLOW] * 8
            raise RuntimeError("the answer failed")

    with pytest.raises(RuntimeError, match="the answer failed"):
        await failing_turn()
    async with turns.turn("p"):
        assert [await gate.check("p") for _ in range(8)] == [Admission.ALLOW] * 8, "nothing was kept"
    assert await gate.check("p") is Admission.NOTIFY, "the committed turn kept the bucket it emptied"
