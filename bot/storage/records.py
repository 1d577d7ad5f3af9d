"""Every store of what a handoff writes, on one database: built once (bot/services.py) and handed out
store by store, so each caller depends on the part it uses."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Schools
from bot.storage.audit import AuditLog
from bot.storage.cases import CaseStore
from bot.storage.database import SessionSource, as_sessions
from bot.storage.erasures import ErasureQueue, PrivateSends
from bot.storage.outbox import Outbox
from bot.storage.retention import Retention
from bot.storage.transcripts import Transcripts


@dataclass(frozen=True)
class Records:
    cases: CaseStore
    transcripts: Transcripts
    outbox: Outbox
    audit: AuditLog
    retention: Retention
    erasures: ErasureQueue
    private: PrivateSends

    @classmethod
    def on(cls, source: SessionSource, schools: Schools | None = None) -> Records:
        """The stores on these sessions. With the schools, cards go to the chats the configuration names
        (a new case, and a stuck one requeued); without, to the chat the case draft names."""
        sessions = as_sessions(source)
        return cls(
            cases=CaseStore(sessions, schools),
            transcripts=Transcripts(sessions),
            outbox=Outbox(sessions, schools),
            audit=AuditLog(sessions),
            retention=Retention(sessions),
            erasures=ErasureQueue(sessions),
            private=PrivateSends(sessions),
        )
