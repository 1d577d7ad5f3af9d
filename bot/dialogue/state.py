"""What the engine remembers about each parent between messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Pending(str, enum.Enum):
    """A question the bot asked that a plain "yes" or "no" answers."""

    HANDOFF_OFFER = "handoff_offer"


@dataclass
class ParentState:
    school_id: str | None = None
    fallback_streak: int = 0
    pending: Pending | None = None


class StateStore(Protocol):
    async def load(self, parent_id: str) -> ParentState: ...

    async def save(self, parent_id: str, state: ParentState) -> None: ...

    async def forget(self, parent_id: str) -> None: ...


class MemoryStateStore:
    """Keeps state in this process only: for the console channel and tests of the engine."""

    def __init__(self) -> None:
        self._states: dict[str, ParentState] = {}

    async def load(self, parent_id: str) -> ParentState:
        stored = self._states.get(parent_id)
        return ParentState(**vars(stored)) if stored else ParentState()

    async def save(self, parent_id: str, state: ParentState) -> None:
        self._states[parent_id] = ParentState(**vars(state))

    async def forget(self, parent_id: str) -> None:
        self._states.pop(parent_id, None)
