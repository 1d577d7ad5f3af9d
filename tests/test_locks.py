"""Per-parent locks (bot/locks.py): in order per parent, parallel across parents, none kept."""

from __future__ import annotations

import asyncio

from bot.locks import KeyedLocks


async def test_one_parents_turns_run_in_order_and_others_run_meanwhile() -> None:
    locks = KeyedLocks()
    events: list[str] = []

    async def turn(parent: str, name: str, pause: float) -> None:
        async with locks.hold(parent):
            events.append(f"{name} start")
            await asyncio.sleep(pause)
            events.append(f"{name} end")

    await asyncio.gather(turn("a", "a1", 0.05), turn("a", "a2", 0), turn("b", "b1", 0))

    assert events.index("a1 end") < events.index("a2 start")
    assert events.index("b1 end") < events.index("a1 end")  # b did not wait for a


async def test_no_lock_is_kept_once_nobody_holds_or_waits() -> None:
    locks = KeyedLocks()

    async def turn(parent: str) -> None:
        async with locks.hold(parent):
            await asyncio.sleep(0)

    await asyncio.gather(*(turn(f"parent-{n % 50}") for n in range(500)))
    assert len(locks) == 0


async def test_a_failing_turn_releases_its_lock() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("a"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert len(locks) == 0
    async with locks.hold("a"):
        assert len(locks) == 1
