"""What the engine remembers about each parent between messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol


class Pending(str, enum.Enum):
    """A question the bot asked that a plain "yes" or "no" answers."""

    HANDOFF_OFFER = "handoff_offer"


@dataclass
class ParentState:
    school_id: str | None = None
    fallback_streak: int = 0
    pending: Pending | None = None
    flow: dict[str, Any] | None = None
    """The handoff flow in progress: {"name": ..., "step": ..., and what was collected so far}."""
    relay_case_id: int | None = None
    """While set, what the parent types goes to that case's staff thread."""


class StateStore(Protocol):
    async def load(self, parent_id: str) -> ParentState: ...

    async def save(self, parent_id: str, state: ParentState) -> None: ...

    async def forget(self, parent_id: str) -> None: ...
