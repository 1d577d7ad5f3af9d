"""What the engine remembers about each parent between messages, and where it keeps it."""

from __future__ import annotations

from typing import Protocol

from bot.domain import ParentState, Pending

__all__ = ["ParentState", "Pending", "StateStore"]


class StateStore(Protocol):
    async def load(self, parent_id: str) -> ParentState: ...

    async def save(self, parent_id: str, state: ParentState) -> None: ...

    async def forget(self, parent_id: str) -> None: ...
