"""What the engine needs to make one parent's message one unit of work (bot/storage/turns.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


class TurnScope(Protocol):
    def turn(self, parent_id: str) -> AbstractAsyncContextManager[None]:
        """Everything the engine stores while answering one message, committed together, with no other
        turn of the same parent in between (in this process or another)."""
        ...


class Unscoped:
    """No unit of work: each storage call commits on its own (for stores that are not a database)."""

    @asynccontextmanager
    async def turn(self, parent_id: str) -> AsyncIterator[None]:
        yield
