"""The conversation as it happens: each turn's lines and the photos a parent sends. Lines not attached to
a case are deleted after MESSAGE_RETENTION_HOURS (bot/storage/retention.py); opening a case attaches the
lines the parent agreed to share (bot/storage/cases.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert

from bot.domain import Author
from bot.storage.common import Store
from bot.storage.models import Attachment, ConversationMessage
from bot.storage.turns import use_session


class Transcripts(Store):
    async def record(self, parent_id: str, lines: Sequence[tuple[Author, str]]) -> None:
        """Add one turn of the conversation (what the parent said and what the bot answered)."""
        if not lines:
            return
        rows = [{"parent_id": parent_id, "author": author, "text": text} for author, text in lines]
        async with use_session(self._sessions, write=True) as session:
            await session.execute(insert(ConversationMessage), rows)  # a bulk INSERT, no unit of work

    async def add_attachment(self, parent_id: str, file_id: str, kind: str = "photo") -> None:
        async with use_session(self._sessions, write=True) as session:
            session.add(Attachment(parent_id=parent_id, file_id=file_id, kind=kind))
