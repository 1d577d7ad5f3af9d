"""Every store of what a handoff writes, on one database: built once (bot/services.py) and handed out
store by store, so each caller depends on the part it uses."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock, utcnow
from bot.storage.audit import AuditLog
from bot.storage.cases import CaseStore
from bot.storage.common import CardRoute
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
    def on(cls, source: SessionSource, route: CardRoute | None = None, clock: Clock = utcnow) -> Records:
        """The stores on these sessions, all on one clock. With the staff policy's route
        (bot/staff/routing.py: CardRouting), cards go to the chats it names (a new case, and a stuck one
        requeued); without, to the chat the case draft names."""
        sessions = as_sessions(source)
        return cls(
            cases=CaseStore(sessions, route, clock),
            transcripts=Transcripts(sessions, clock),
            outbox=Outbox(sessions, route, clock),
            audit=AuditLog(sessions, clock),
            retention=Retention(sessions, clock),
            erasures=ErasureQueue(sessions, clock),
            private=PrivateSends(sessions, clock),
        )
