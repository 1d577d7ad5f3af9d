"""One turn: a parent's message being answered, and what makes it one unit of work (bot/storage/turns.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.dialogue.inputs import ParentInput
from bot.dialogue.messages import Reply
from bot.domain import ParentState
from bot.nlu.client import NluResult


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


@dataclass
class Turn:
    """One message being answered: who sent it, their state, and what the model made of it (if asked)."""

    parent_id: str
    state: ParentState
    now: datetime
    message: ParentInput
    """The message answered; after a "no, not urgent" it is the message the gate asked about."""
    nlu: NluResult | None = None
    aside: list[Reply] = field(default_factory=list)
    """Replies about a draft that was dropped: never part of another flow's transcript."""
    new_flow: bool = False
    """A flow started in this turn: its transcript starts with this message."""
    heard: str | None = None
    """The parent's message as a transcript shows it; after a "no, not urgent" it is the message the
    gate asked about, answered now."""
    not_in_danger: bool = False
    """The parent has just told the gate's check that no child is at risk now: a flow started by the
    message asked about does not ask it again."""

    @property
    def typed(self) -> bool:
        """The parent typed the message (not a button, not a command)."""
        return self.message.typed

    @property
    def intent(self) -> str | None:
        return self.nlu.intent if self.nlu else None
