"""One turn at a time per parent (bot/storage/turns.py): two "processes" (two engines, two pools) on one
database never interleave one parent's turns, and a failed turn leaves nothing behind."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import Author
from bot.storage.models import ConversationMessage
from bot.storage.parents import SqlStateStore
from bot.storage.transcripts import Transcripts
from bot.storage.turns import Turns

TURNS = 24


async def test_one_parents_turns_never_interleave_across_processes(
    two_processes: list[sessionmaker[Session]],
) -> None:
    """Each turn reads the count, yields to the others, writes it back plus one: without the row lock
    two turns read the same count and one increment is lost."""
    sides = [(Turns(sessions), SqlStateStore(sessions)) for sessions in two_processes]

    async def turn(number: int) -> None:
        turns, store = sides[number % 2]
        async with turns.turn("p1"):
            state = await store.load("p1")
            await asyncio.sleep(0.005)  # widens the window a lost update needs; synchronises nothing
            state.fallback_streak += 1
            await store.save("p1", state)

    await asyncio.gather(*(turn(number) for number in range(TURNS)))
    assert (await sides[1][1].load("p1")).fallback_streak == TURNS


async def test_a_failed_turn_leaves_nothing_behind(two_processes: list[sessionmaker[Session]]) -> None:
    sessions = two_processes[0]
    turns, store, transcripts = Turns(sessions), SqlStateStore(sessions), Transcripts(sessions)

    async def failing_turn() -> None:
        async with turns.turn("p1"):
            state = await store.load("p1")
            state.school_id = "oakfield"
            await store.save("p1", state)
            await transcripts.record("p1", [(Author.PARENT, "half a turn")])
            raise RuntimeError("the answer failed")

    with pytest.raises(RuntimeError):
        await failing_turn()
    assert (await store.load("p1")).school_id is None
    async with turns.turn("p1"):
        await transcripts.record("p1", [(Author.PARENT, "a whole turn")])
    with two_processes[1]() as session:
        texts = [m.text for m in session.query(ConversationMessage).all()]
    assert texts == ["a whole turn"]
