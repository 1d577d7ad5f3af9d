"""Cases, transcripts, the staff audit log and the outbox: everything a handoff writes.

A case and the deliveries that announce it are written in one transaction, before anything is sent,
so a crash or a Telegram outage can delay a case but never lose it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import CursorResult, Result, Select, and_, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.config import Schools
from bot.domain import CaseDraft, CaseView, FlowState, TranscriptLine
from bot.storage.models import (
    Attachment,
    AuditEvent,
    Author,
    Case,
    CaseKind,
    CaseMessage,
    CaseStatus,
    ChatMove,
    ConversationMessage,
    Delivery,
    DeliveryStatus,
    Parent,
    Priority,
)
from bot.storage.turns import use_session

PARENT_KINDS = ("parent_claimed", "parent_resolved", "staff_reply")
"""Outbox kinds that go to the parent's chat about one case."""
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: easy to read out on the phone
__all__ = ["CaseDraft", "CaseStore", "CaseView", "TranscriptLine"]  # the views' old home
STUCK_ATTEMPTS = 5
"""A pending delivery tried this many times is listed by `parentbot outbox` as stuck."""
CARD_BOUND = frozenset({"case_card", "case_card_update", "case_evidence", "case_transcript", "case_pin"})
"""Staff-chat deliveries of the card itself or replying to it: a new card in another chat replaces them."""
TO_PARENT = frozenset(
    {"parent_claimed", "parent_resolved", "staff_reply", "parent_delivered", "parent_undelivered"}
)


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (SQLAlchemy types execute() more loosely than it returns)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_reference(school_id: str) -> str:
    prefix = "".join(ch for ch in school_id.upper() if ch.isalnum())[:3]
    return f"{prefix}-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(4))


def case_view(case: Case, transcript: Sequence[ConversationMessage] = ()) -> CaseView:
    """A case row (with its messages and attachments loaded) as the detached view staff and parents see."""
    lines = [TranscriptLine(m.author, m.text, m.created_at) for m in transcript]
    lines += [TranscriptLine(m.author, m.text, m.created_at, m.author_name) for m in case.messages]
    return CaseView(
        id=case.id,
        reference=case.reference,
        school_id=case.school_id,
        kind=case.kind,
        priority=case.priority,
        status=case.status,
        summary=case.summary,
        details=dict(case.details or {}),
        contact_method=case.contact_method,
        contact_detail=case.contact_detail,
        parent_id=case.parent_id,
        parent_chat_id=case.parent_chat_id,
        staff_chat_id=case.staff_chat_id,
        card_message_id=case.card_message_id,
        topic_id=case.topic_id,
        claimed_by_name=case.claimed_by_name,
        created_at=case.created_at,
        transcript=tuple(lines),
        attachments=tuple(a.file_id for a in case.attachments),
    )


@dataclass(frozen=True)
class DueDelivery:
    id: int
    kind: str
    chat_id: int
    case_id: int | None
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class FollowUp:
    """An outbox row queued in the same transaction that records a delivery as sent."""

    kind: str
    chat_id: int
    case_id: int | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class CaseTimes:
    """One case as the figures need it: no text, no parent."""

    school_id: str
    kind: CaseKind
    priority: Priority
    status: CaseStatus
    created_at: datetime
    claimed_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class StuckDelivery:
    """An outbox row that failed or keeps failing, as `parentbot outbox` lists it (no message text)."""

    id: int
    reference: str | None
    kind: str
    chat_id: int
    status: DeliveryStatus
    attempts: int
    last_error: str | None

    @property
    def error_kind(self) -> str:
        """The error's type (the reason up to its first colon or bracket)."""
        reason = self.last_error or "-"
        return reason.split(":", 1)[0].split(" (", 1)[0].strip()


@dataclass(frozen=True)
class PurgeCounts:
    messages: int
    attachments: int
    cases: int
    """Every case deleted, resolved or not."""
    unresolved: int = 0
    """Of those, cases never resolved, deleted after their last activity."""
    drafts: int = 0
    """Half-finished flows (their text and screenshots) past FLOW_TIMEOUT_MINUTES, deleted."""
    relays: int = 0
    """Relays to a case's staff ended after RELAY_TIMEOUT_HOURS of silence."""


class CaseStore:
    """Blocking SQLAlchemy work behind async methods (run in a worker thread)."""

    def __init__(self, sessions: sessionmaker[Session], schools: Schools | None = None) -> None:
        self._sessions = sessions
        self._schools = schools
        """With the schools, a new case goes to the chat the configuration names for its priority (the
        school's safeguarding chat for urgent cases); without, to the draft's staff_chat_id."""

    # ---- transcripts ---------------------------------------------------------------------------------

    async def record(self, parent_id: str, lines: Sequence[tuple[Author, str]]) -> None:
        """Add one turn of the conversation (what the parent said and what the bot answered)."""
        if lines:
            await asyncio.to_thread(self._record, parent_id, lines)

    def _record(self, parent_id: str, lines: Sequence[tuple[Author, str]]) -> None:
        rows = [{"parent_id": parent_id, "author": author, "text": text} for author, text in lines]
        with use_session(self._sessions, write=True) as session:
            session.execute(insert(ConversationMessage), rows)  # a bulk INSERT, no unit of work

    async def add_attachment(self, parent_id: str, file_id: str, kind: str = "photo") -> None:
        await asyncio.to_thread(self._add_attachment, parent_id, file_id, kind)

    def _add_attachment(self, parent_id: str, file_id: str, kind: str) -> None:
        with use_session(self._sessions, write=True) as session:
            session.add(Attachment(parent_id=parent_id, file_id=file_id, kind=kind))

    # ---- opening a case --------------------------------------------------------------------------------

    async def open_case(self, draft: CaseDraft) -> CaseView:
        """Create the case, attach the transcript and evidence, and queue its staff card: one transaction."""
        for _ in range(5):
            try:
                return await asyncio.to_thread(self._open_case, draft, new_reference(draft.school_id))
            except IntegrityError:
                continue  # a reference collision: draw another
        raise RuntimeError("could not draw a unique case reference")

    def _open_case(self, draft: CaseDraft, reference: str) -> CaseView:
        with use_session(self._sessions, write=True) as session:
            while session.scalar(select(Case.id).where(Case.reference == reference)) is not None:
                reference = new_reference(draft.school_id)  # inside a turn a collision cannot be retried
            chat_id = self._chat_for(session, draft.school_id, draft.priority, draft.staff_chat_id)
            case = Case(
                reference=reference,
                school_id=draft.school_id,
                kind=draft.kind,
                priority=draft.priority,
                status=CaseStatus.OPEN,
                summary=draft.summary,
                details=draft.details,
                contact_method=draft.contact_method,
                contact_detail=draft.contact_detail,
                parent_id=draft.parent_id,
                parent_chat_id=draft.parent_chat_id,
                staff_chat_id=chat_id,
                attachments=[Attachment(parent_id=draft.parent_id, file_id=f) for f in draft.attachments],
            )
            session.add(case)
            session.flush()
            # Exactly the lines the parent was shown at the consent step (the flow's own screenshots are
            # attached above).
            session.add_all(
                ConversationMessage(
                    parent_id=draft.parent_id, author=line.author, text=line.text, case_id=case.id
                )
                for line in draft.transcript
            )
            session.add(Delivery(kind="case_card", case_id=case.id, chat_id=chat_id))
            session.flush()
            return self._view(session, case.id)

    def _chat_for(self, session: Session, school_id: str, priority: Priority, default: int) -> int:
        """Where a case's card goes now: the configured chat, followed through any chat move."""
        school = self._schools.get(school_id) if self._schools is not None else None
        chat_id = school.case_chat_id(priority is Priority.URGENT) if school is not None else default
        return self._moved(session).get(chat_id, chat_id)

    @staticmethod
    def _moved(session: Session) -> dict[int, int]:
        """Old chat id -> its current id, for every chat that moved (a handful of rows at most)."""
        rows = session.execute(select(ChatMove.old_chat_id, ChatMove.new_chat_id)).tuples()
        return dict(rows.all())

    # ---- reading ------------------------------------------------------------------------------------------

    async def get(self, case_id: int) -> CaseView | None:
        return await asyncio.to_thread(self._get, case_id)

    def _get(self, case_id: int) -> CaseView | None:
        with use_session(self._sessions, write=False) as session:
            return self._view(session, case_id) if session.get(Case, case_id) else None

    async def by_reference(self, reference: str, school_id: str | None = None) -> CaseView | None:
        return await asyncio.to_thread(self._by_reference, reference.strip().upper(), school_id)

    def _by_reference(self, reference: str, school_id: str | None) -> CaseView | None:
        with use_session(self._sessions, write=False) as session:
            query = select(Case.id).where(Case.reference == reference)
            if school_id is not None:
                query = query.where(Case.school_id == school_id)
            case_id = session.scalar(query)
            return self._view(session, case_id) if case_id is not None else None

    async def by_card(self, staff_chat_id: int, message_id: int) -> CaseView | None:
        """The case whose staff card, or a parent's message relayed to staff, is this message: what a
        staff reply to it is addressed to (the parent)."""
        return await asyncio.to_thread(
            self._by_card, staff_chat_id, message_id, ("case_card", "parent_reply")
        )

    async def by_staff_chat_message(self, staff_chat_id: int, message_id: int) -> CaseView | None:
        """The case any message the bot posted in a staff chat belongs to (card, evidence, reminder...)."""
        return await asyncio.to_thread(self._by_card, staff_chat_id, message_id, None)

    def _by_card(self, staff_chat_id: int, message_id: int, kinds: tuple[str, ...] | None) -> CaseView | None:
        with use_session(self._sessions, write=False) as session:
            case_id = session.scalar(
                select(Case.id).where(Case.staff_chat_id == staff_chat_id, Case.card_message_id == message_id)
            )
            if case_id is None:
                query = select(Delivery.case_id).where(
                    Delivery.chat_id == staff_chat_id, Delivery.sent_message_id == message_id
                )
                if kinds is not None:
                    query = query.where(Delivery.kind.in_(kinds))
                case_id = session.scalar(query)
            return self._view(session, case_id) if case_id is not None else None

    async def by_topic(self, staff_chat_id: int, topic_id: int) -> CaseView | None:
        """The case whose forum topic this is."""
        return await asyncio.to_thread(self._by_topic, staff_chat_id, topic_id)

    def _by_topic(self, staff_chat_id: int, topic_id: int) -> CaseView | None:
        with use_session(self._sessions, write=False) as session:
            case_id = session.scalar(
                select(Case.id).where(Case.staff_chat_id == staff_chat_id, Case.topic_id == topic_id)
            )
            return self._view(session, case_id) if case_id is not None else None

    async def open_cases(self, school_id: str) -> list[CaseView]:
        """Open and claimed cases of a school: urgent first, then oldest first."""
        return await asyncio.to_thread(self._open_cases, school_id)

    def _open_cases(self, school_id: str) -> list[CaseView]:
        with use_session(self._sessions, write=False) as session:
            ids = session.scalars(
                select(Case.id)
                .where(Case.school_id == school_id, Case.status != CaseStatus.RESOLVED)
                .order_by((Case.priority == Priority.URGENT).desc(), Case.created_at, Case.id)
            ).all()
            return [self._view(session, case_id, with_transcript=False) for case_id in ids]

    async def parent_cases(self, parent_id: str) -> list[CaseView]:
        return await asyncio.to_thread(self._parent_cases, parent_id)

    def _parent_cases(self, parent_id: str) -> list[CaseView]:
        with use_session(self._sessions, write=False) as session:
            ids = session.scalars(select(Case.id).where(Case.parent_id == parent_id).order_by(Case.id)).all()
            return [self._view(session, case_id, with_transcript=False) for case_id in ids]

    async def case_times(
        self, school_ids: Sequence[str] | None, since: datetime, until: datetime
    ) -> tuple[list[CaseTimes], list[CaseTimes]]:
        """For /stats: the cases opened in [since, until), and the cases open now (of these schools;
        None: all schools)."""
        return await asyncio.to_thread(self._case_times, school_ids, since, until)

    def _case_times(
        self, school_ids: Sequence[str] | None, since: datetime, until: datetime
    ) -> tuple[list[CaseTimes], list[CaseTimes]]:
        columns = (
            Case.school_id,
            Case.kind,
            Case.priority,
            Case.status,
            Case.created_at,
            Case.claimed_at,
            Case.resolved_at,
        )
        scope = Case.school_id.in_(school_ids) if school_ids is not None else Case.id.is_not(None)
        with use_session(self._sessions, write=False) as session:
            opened = session.execute(
                select(*columns).where(scope, Case.created_at >= since, Case.created_at < until)
            ).all()
            open_now = session.execute(
                select(*columns).where(scope, Case.status != CaseStatus.RESOLVED)
            ).all()
            return [CaseTimes(*row) for row in opened], [CaseTimes(*row) for row in open_now]

    async def case_of_parent_message(self, parent_chat_id: int, message_id: int) -> CaseView | None:
        """The case of a message the bot sent to a parent's chat (a staff message, claimed, resolved):
        what the parent's Telegram reply to it is about."""
        return await asyncio.to_thread(self._case_of_parent_message, parent_chat_id, message_id)

    def _case_of_parent_message(self, parent_chat_id: int, message_id: int) -> CaseView | None:
        with use_session(self._sessions, write=False) as session:
            case_id = session.scalar(
                select(Delivery.case_id).where(
                    Delivery.chat_id == parent_chat_id,
                    Delivery.sent_message_id == message_id,
                    Delivery.kind.in_(PARENT_KINDS),
                    Delivery.case_id.is_not(None),
                )
            )
            return self._view(session, case_id, with_transcript=False) if case_id is not None else None

    async def open_relays(self, parent_id: str) -> list[CaseView]:
        """The parent's cases that staff have written about and that are not resolved, oldest first:
        the conversations a message from the parent could belong to."""
        return await asyncio.to_thread(self._open_relays, parent_id)

    def _open_relays(self, parent_id: str) -> list[CaseView]:
        with use_session(self._sessions, write=False) as session:
            ids = session.scalars(
                select(Case.id)
                .where(
                    Case.parent_id == parent_id,
                    Case.status != CaseStatus.RESOLVED,
                    Case.messages.any(CaseMessage.author == Author.STAFF),
                )
                .order_by(Case.id)
            ).all()
            return [self._view(session, case_id, with_transcript=False) for case_id in ids]

    async def reopen_for_parent(self, case_id: int) -> bool:
        """The parent answered a message of a resolved case: it is open again (claimed again by whoever
        had it), its card shows so and its forum topic is reopened. False when it was not resolved."""
        return await asyncio.to_thread(self._reopen_for_parent, case_id)

    def _reopen_for_parent(self, case_id: int) -> bool:
        with use_session(self._sessions, write=True) as session:
            case = session.get(Case, case_id)
            if case is None or case.status != CaseStatus.RESOLVED:
                return False
            case.status = CaseStatus.OPEN if case.claimed_by is None else CaseStatus.CLAIMED
            case.resolved_at = None
            session.add(Delivery(kind="case_card_update", case_id=case_id, chat_id=case.staff_chat_id))
            self._queue_topic(session, case_id, "case_topic_reopen")
            return True

    def _view(self, session: Session, case_id: int, with_transcript: bool = True) -> CaseView:
        case = session.scalars(
            select(Case)
            .where(Case.id == case_id)
            .options(selectinload(Case.messages), selectinload(Case.attachments))
        ).one()
        transcript: Sequence[ConversationMessage] = ()
        if with_transcript:
            transcript = session.scalars(
                select(ConversationMessage)
                .where(ConversationMessage.case_id == case_id)
                .order_by(ConversationMessage.id)
            ).all()
        return case_view(case, transcript)

    # ---- staff actions ------------------------------------------------------------------------------------

    async def set_card(self, case_id: int, message_id: int) -> None:
        await asyncio.to_thread(self._set_card, case_id, message_id)

    def _set_card(self, case_id: int, message_id: int) -> None:
        with use_session(self._sessions, write=True) as session:
            session.execute(update(Case).where(Case.id == case_id).values(card_message_id=message_id))

    async def set_topic(self, case_id: int, topic_id: int) -> None:
        """Record the forum topic created for the case (before anything is posted in it)."""
        await asyncio.to_thread(self._set_topic, case_id, topic_id)

    def _set_topic(self, case_id: int, topic_id: int) -> None:
        with use_session(self._sessions, write=True) as session:
            session.execute(update(Case).where(Case.id == case_id).values(topic_id=topic_id))

    async def claim(self, case_id: int, staff_id: int, staff_name: str) -> bool:
        """Claim an open case; False when it was already claimed or resolved."""
        return await asyncio.to_thread(self._claim, case_id, staff_id, staff_name)

    def _claim(self, case_id: int, staff_id: int, staff_name: str) -> bool:
        with use_session(self._sessions, write=True) as session:
            result = session.execute(
                update(Case)
                .where(Case.id == case_id, Case.status == CaseStatus.OPEN)
                .values(
                    status=CaseStatus.CLAIMED,
                    claimed_by=staff_id,
                    claimed_by_name=staff_name,
                    claimed_at=utcnow(),
                )
            )
            if _rowcount(result):
                session.add(
                    Delivery(
                        kind="case_card_update", case_id=case_id, chat_id=self._staff_chat(session, case_id)
                    )
                )
                self._notify_parent(session, case_id, "parent_claimed", {"staff_name": staff_name})
            return bool(_rowcount(result))

    async def resolve(self, case_id: int, staff_id: int, staff_name: str) -> bool:
        return await asyncio.to_thread(self._resolve, case_id, staff_id, staff_name)

    def _resolve(self, case_id: int, staff_id: int, staff_name: str) -> bool:
        with use_session(self._sessions, write=True) as session:
            result = session.execute(
                update(Case)
                .where(Case.id == case_id, Case.status != CaseStatus.RESOLVED)
                .values(status=CaseStatus.RESOLVED, resolved_at=utcnow())
            )
            if _rowcount(result):
                session.execute(
                    update(Parent).where(Parent.relay_case_id == case_id).values(relay_case_id=None)
                )
                session.add(
                    Delivery(
                        kind="case_card_update", case_id=case_id, chat_id=self._staff_chat(session, case_id)
                    )
                )
                self._notify_parent(session, case_id, "parent_resolved", {"staff_name": staff_name})
                self._queue_topic(session, case_id, "case_topic_close")
            return bool(_rowcount(result))

    async def staff_reply(
        self, case_id: int, staff_name: str, text: str, confirm: tuple[int, int] | None = None
    ) -> bool:
        """A staff member's message for the parent: kept with the case and queued for the parent.
        ``confirm`` (staff chat id, the staff message's id): once the parent has it, say so there."""
        return await asyncio.to_thread(self._staff_reply, case_id, staff_name, text, confirm)

    def _staff_reply(self, case_id: int, staff_name: str, text: str, confirm: tuple[int, int] | None) -> bool:
        with use_session(self._sessions, write=True) as session:
            case = session.get(Case, case_id)
            if case is None or case.status == CaseStatus.RESOLVED or case.parent_id is None:
                return False
            session.add(CaseMessage(case_id=case_id, author=Author.STAFF, author_name=staff_name, text=text))
            session.execute(update(Parent).where(Parent.id == case.parent_id).values(relay_case_id=case_id))
            payload: dict[str, Any] = {"staff_name": staff_name, "text": text}
            if confirm is not None:
                payload["confirm_chat_id"], payload["confirm_message_id"] = confirm
            self._notify_parent(session, case_id, "staff_reply", payload)
            return True

    async def parent_reply(self, case_id: int, text: str, *, urgent: bool = False) -> bool:
        """The parent's message in an open case's thread: kept with the case and queued for the staff chat.
        An `urgent` one (the safeguarding gate saw danger in it) raises the case to urgent, is marked so in
        the staff thread, and the card is updated to show it."""
        return await asyncio.to_thread(self._parent_reply, case_id, text, urgent)

    def _parent_reply(self, case_id: int, text: str, urgent: bool) -> bool:
        with use_session(self._sessions, write=True) as session:
            case = session.get(Case, case_id)
            if case is None or case.status == CaseStatus.RESOLVED:
                return False
            session.add(CaseMessage(case_id=case_id, author=Author.PARENT, text=text))
            payload: dict[str, Any] = {"text": text, "urgent": True} if urgent else {"text": text}
            session.add(
                Delivery(kind="parent_reply", case_id=case_id, chat_id=case.staff_chat_id, payload=payload)
            )
            if urgent and case.priority is not Priority.URGENT:
                case.priority = Priority.URGENT
                session.add(Delivery(kind="case_card_update", case_id=case_id, chat_id=case.staff_chat_id))
            return True

    def _queue_topic(self, session: Session, case_id: int, kind: str) -> None:
        """Close or reopen the case's forum topic, if it has one."""
        case = session.get(Case, case_id)
        if case is not None and case.topic_id is not None:
            session.add(Delivery(kind=kind, case_id=case_id, chat_id=case.staff_chat_id))

    def _staff_chat(self, session: Session, case_id: int) -> int:
        return int(session.scalar(select(Case.staff_chat_id).where(Case.id == case_id)) or 0)

    def _notify_parent(self, session: Session, case_id: int, kind: str, payload: dict[str, Any]) -> None:
        case = session.get(Case, case_id)
        if case is not None and case.parent_chat_id is not None:
            session.add(Delivery(kind=kind, case_id=case_id, chat_id=case.parent_chat_id, payload=payload))

    async def audit(
        self,
        action: str,
        *,
        actor_id: int | None,
        chat_id: int | None,
        case_id: int | None = None,
        allowed: bool = True,
    ) -> None:
        await asyncio.to_thread(self._audit, action, actor_id, chat_id, case_id, allowed)

    def _audit(
        self, action: str, actor_id: int | None, chat_id: int | None, case_id: int | None, allowed: bool
    ) -> None:
        with use_session(self._sessions, write=True) as session:
            session.add(
                AuditEvent(
                    action=action, actor_id=actor_id, chat_id=chat_id, case_id=case_id, allowed=allowed
                )
            )

    async def audit_events(self) -> list[AuditEvent]:
        return await asyncio.to_thread(self._audit_events)

    def _audit_events(self) -> list[AuditEvent]:
        with use_session(self._sessions, write=False) as session:
            events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all())
            session.expunge_all()
            return events

    async def due_urgent_reminders(self, every: timedelta) -> list[int]:
        """Urgent cases unclaimed since their card or last reminder, `every` ago: queue a reminder."""
        return await asyncio.to_thread(self._due_urgent_reminders, every)

    def _due_urgent_reminders(self, every: timedelta) -> list[int]:
        cutoff = utcnow() - every
        with use_session(self._sessions, write=True) as session:
            cases = session.scalars(
                select(Case)
                .where(
                    Case.priority == Priority.URGENT,
                    Case.status == CaseStatus.OPEN,
                    Case.card_message_id.is_not(None),  # while the card itself waits, reminders would pile up
                    Case.created_at <= cutoff,
                    or_(Case.last_reminder_at.is_(None), Case.last_reminder_at <= cutoff),
                )
                .with_for_update(skip_locked=True)
            ).all()
            for case in cases:
                case.last_reminder_at = utcnow()
                session.add(Delivery(kind="urgent_reminder", case_id=case.id, chat_id=case.staff_chat_id))
            return [case.id for case in cases]

    # ---- the outbox ----------------------------------------------------------------------------------------

    async def claim_due(self, limit: int = 20, lease: timedelta = timedelta(seconds=60)) -> list[DueDelivery]:
        """Take up to `limit` due deliveries for this worker, leasing them so no other worker sends them.

        On PostgreSQL the rows are locked with SKIP LOCKED, so concurrent workers take disjoint rows; on
        SQLite the single writer serialises the same UPDATE.
        """
        return await asyncio.to_thread(self._claim_due, limit, lease)

    def _claim_due(self, limit: int, lease: timedelta) -> list[DueDelivery]:
        now = utcnow()
        free = and_(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.locked_until.is_(None), Delivery.locked_until <= now),
        )
        urgent = select(Case.priority).where(Case.id == Delivery.case_id).scalar_subquery() == Priority.URGENT
        with use_session(self._sessions, write=True) as session:
            rows = session.scalars(
                select(Delivery)
                .where(free)
                .order_by(urgent.desc(), Delivery.id)  # an urgent case jumps any backlog
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            moved = self._moved(session)
            taken: list[DueDelivery] = []
            for row in rows:
                # A conditional UPDATE per row: SQLite has no FOR UPDATE and pysqlite runs the SELECT
                # outside the write transaction, so two workers can read the same rows; only the one
                # whose UPDATE still finds the row free takes it.
                leased = session.execute(
                    update(Delivery)
                    .where(Delivery.id == row.id, free)
                    .values(locked_until=now + lease, attempts=Delivery.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if _rowcount(leased):
                    payload = dict(row.payload or {})
                    chat_id = moved.get(row.chat_id, row.chat_id)
                    taken.append(
                        DueDelivery(row.id, row.kind, chat_id, row.case_id, payload, row.attempts + 1)
                    )
            return taken

    async def mark_sent(
        self, delivery_id: int, message_id: int | None, followups: Sequence[FollowUp] = ()
    ) -> None:
        """Record a delivery as sent, and queue what follows it, in one transaction."""
        await asyncio.to_thread(self._mark_sent, delivery_id, message_id, followups)

    def _mark_sent(self, delivery_id: int, message_id: int | None, followups: Sequence[FollowUp]) -> None:
        with use_session(self._sessions, write=True) as session:
            session.add_all(
                Delivery(kind=f.kind, case_id=f.case_id, chat_id=f.chat_id, payload=dict(f.payload))
                for f in followups
            )
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status=DeliveryStatus.SENT,
                    sent_at=utcnow(),
                    sent_message_id=message_id,
                    locked_until=None,
                )
            )

    async def mark_retry(self, delivery_id: int, error: str, delay: timedelta, give_up: bool = False) -> None:
        await asyncio.to_thread(self._mark_retry, delivery_id, error, delay, give_up)

    def _mark_retry(self, delivery_id: int, error: str, delay: timedelta, give_up: bool) -> None:
        with use_session(self._sessions, write=True) as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status=DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING,
                    last_error=error[:200],
                    next_attempt_at=utcnow() + delay,
                    locked_until=None,
                )
            )

    async def mark_card_sent(
        self,
        delivery_id: int,
        case_id: int,
        message_id: int,
        followups: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> None:
        """A staff card was posted: mark its delivery sent, record the card and queue what replies to it
        (evidence photos, transcript file, pin), all in one transaction. Each follow-up is its own
        outbox row, so a retry after a partial failure never posts the card twice."""
        await asyncio.to_thread(self._mark_card_sent, delivery_id, case_id, message_id, followups)

    def _mark_card_sent(
        self,
        delivery_id: int,
        case_id: int,
        message_id: int,
        followups: Sequence[tuple[str, dict[str, Any]]],
    ) -> None:
        with use_session(self._sessions, write=True) as session:
            card = session.get(Delivery, delivery_id)
            if card is None:
                return  # purged meanwhile
            card.status = DeliveryStatus.SENT
            card.sent_at = utcnow()
            card.sent_message_id = message_id
            card.locked_until = None
            chat_id = card.chat_id
            session.execute(
                update(Case)
                .where(Case.id == case_id)
                .values(card_message_id=message_id, staff_chat_id=chat_id)
            )
            session.add_all(
                Delivery(kind=kind, case_id=case_id, chat_id=chat_id, payload=dict(payload))
                for kind, payload in followups
            )
            case = session.get(Case, case_id)
            if case is not None and case.priority is Priority.URGENT:
                self._notify_parent_once(session, case, "parent_delivered")

    def _notify_parent_once(self, session: Session, case: Case, kind: str) -> None:
        """A message to the parent about their case, unless one of this kind was queued before."""
        told = session.scalar(select(Delivery.id).where(Delivery.case_id == case.id, Delivery.kind == kind))
        if told is None:
            self._notify_parent(session, case.id, kind, {})

    async def queue_card(self, case_id: int) -> bool:
        """Post a case's card again in its staff chat (/case REF); False when there is no such case."""
        return await asyncio.to_thread(self._queue_card, case_id)

    def _queue_card(self, case_id: int) -> bool:
        with use_session(self._sessions, write=True) as session:
            case = session.get(Case, case_id)
            if case is None:
                return False
            chat_id = self._moved(session).get(case.staff_chat_id, case.staff_chat_id)
            session.add(Delivery(kind="case_card", case_id=case_id, chat_id=chat_id))
            return True

    # ---- when a staff chat fails ---------------------------------------------------------------------------

    async def follow_chat_move(self, old_chat_id: int, new_chat_id: int) -> bool:
        """A group became a supergroup: remember its new id, and move its cases and waiting deliveries.
        False when this move was known already (another delivery met it first)."""
        return await asyncio.to_thread(self._follow_chat_move, old_chat_id, new_chat_id)

    def _follow_chat_move(self, old_chat_id: int, new_chat_id: int) -> bool:
        with use_session(self._sessions, write=True) as session:
            move = session.get(ChatMove, old_chat_id)
            known = move is not None and move.new_chat_id == new_chat_id
            if move is None:
                session.add(ChatMove(old_chat_id=old_chat_id, new_chat_id=new_chat_id))
            else:
                move.new_chat_id = new_chat_id
            session.execute(  # a chain: A moved to B earlier, B now moves to C
                update(ChatMove).where(ChatMove.new_chat_id == old_chat_id).values(new_chat_id=new_chat_id)
            )
            session.execute(
                update(Case).where(Case.staff_chat_id == old_chat_id).values(staff_chat_id=new_chat_id)
            )
            session.execute(
                update(Delivery)
                .where(Delivery.chat_id == old_chat_id, Delivery.status == DeliveryStatus.PENDING)
                .values(chat_id=new_chat_id)
            )
            return not known

    async def chat_moves(self) -> dict[int, int]:
        """Every chat that moved: old id -> current id."""
        return await asyncio.to_thread(self._chat_moves)

    def _chat_moves(self) -> dict[int, int]:
        with use_session(self._sessions, write=False) as session:
            return self._moved(session)

    async def move_case(
        self, delivery_id: int, case_id: int, to_chat_id: int, reason: str, alert: dict[str, Any] | None
    ) -> None:
        """The case's staff chat failed: post its card again in `to_chat_id` (with an alert there naming
        the chat that failed, when given), one transaction. The failed delivery and the others that
        belong to the old card are marked moved; the rest of the case's queue follows the card."""
        await asyncio.to_thread(self._move_case, delivery_id, case_id, to_chat_id, reason, alert)

    def _move_case(
        self, delivery_id: int, case_id: int, to_chat_id: int, reason: str, alert: dict[str, Any] | None
    ) -> None:
        with use_session(self._sessions, write=True) as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status=DeliveryStatus.MOVED, last_error=reason[:200], locked_until=None)
            )
            if alert is not None:
                session.add(
                    Delivery(kind="chat_failed_alert", case_id=case_id, chat_id=to_chat_id, payload=alert)
                )
            self._repost_card(session, case_id, to_chat_id)

    def _repost_card(self, session: Session, case_id: int, to_chat_id: int) -> None:
        case = session.get(Case, case_id)
        if case is None:
            return
        waiting = [DeliveryStatus.PENDING, DeliveryStatus.FAILED]
        staff_rows = and_(
            Delivery.case_id == case_id,
            Delivery.status.in_(waiting),
            Delivery.kind.not_in(TO_PARENT),
            Delivery.kind != "chat_failed_alert",
        )
        session.execute(
            update(Delivery)
            .where(staff_rows, Delivery.kind.in_(CARD_BOUND))
            .values(status=DeliveryStatus.MOVED, locked_until=None)
        )
        session.execute(
            update(Delivery)
            .where(staff_rows, Delivery.kind.not_in(CARD_BOUND))
            .values(chat_id=to_chat_id, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=utcnow())
        )
        case.staff_chat_id = to_chat_id
        case.card_message_id = None
        session.add(Delivery(kind="case_card", case_id=case_id, chat_id=to_chat_id))

    async def undeliverable(self, delivery_id: int, case_id: int | None, reason: str) -> None:
        """No chat can take this case's card: the delivery is failed (`parentbot outbox` lists it) and
        the parent is told, once, to phone the school."""
        await asyncio.to_thread(self._undeliverable, delivery_id, case_id, reason)

    def _undeliverable(self, delivery_id: int, case_id: int | None, reason: str) -> None:
        with use_session(self._sessions, write=True) as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status=DeliveryStatus.FAILED, last_error=reason[:200], locked_until=None)
            )
            case = session.get(Case, case_id) if case_id is not None else None
            if case is not None:
                self._notify_parent_once(session, case, "parent_undelivered")

    # ---- what operators see (`parentbot outbox`) ----------------------------------------------------------

    async def stuck_deliveries(self) -> list[StuckDelivery]:
        """Failed deliveries, and pending ones tried STUCK_ATTEMPTS times or more, oldest first."""
        return await asyncio.to_thread(self._stuck_deliveries)

    def _stuck_deliveries(self) -> list[StuckDelivery]:
        with use_session(self._sessions, write=False) as session:
            rows = session.execute(
                select(Delivery, Case.reference)
                .outerjoin(Case, Case.id == Delivery.case_id)
                .where(self._stuck())
                .order_by(Delivery.id)
            ).all()
            return [
                StuckDelivery(d.id, reference, d.kind, d.chat_id, d.status, d.attempts, d.last_error)
                for d, reference in rows
            ]

    @staticmethod
    def _stuck() -> Any:
        return or_(
            Delivery.status == DeliveryStatus.FAILED,
            and_(Delivery.status == DeliveryStatus.PENDING, Delivery.attempts >= STUCK_ATTEMPTS),
        )

    async def retry_stuck(self) -> int:
        """Queue every stuck delivery again, now, to the chat the configuration names for its case (a
        card in another chat is posted there again); how many were requeued."""
        return await asyncio.to_thread(self._retry_stuck)

    def _retry_stuck(self) -> int:
        with use_session(self._sessions, write=True) as session:
            rows = session.scalars(select(Delivery).where(self._stuck()).order_by(Delivery.id)).all()
            reposted: set[int] = set()
            for row in rows:
                if row.case_id not in reposted:
                    self._requeue(session, row, reposted)
            return len(rows)

    def _requeue(self, session: Session, row: Delivery, reposted: set[int]) -> None:
        row.status, row.attempts, row.next_attempt_at, row.locked_until = (
            DeliveryStatus.PENDING,
            0,
            utcnow(),
            None,
        )
        case = session.get(Case, row.case_id) if row.case_id is not None else None
        if case is None or row.kind in TO_PARENT:
            return
        if row.kind == "chat_failed_alert":
            row.chat_id = self._moved(session).get(row.chat_id, row.chat_id)
            return
        target = self._chat_for(session, case.school_id, case.priority, case.staff_chat_id)
        if target != case.staff_chat_id or case.card_message_id is None:
            session.flush()
            self._repost_card(session, case.id, target)
            reposted.add(case.id)

    async def deliveries(self, case_id: int | None = None) -> list[Delivery]:
        return await asyncio.to_thread(self._deliveries, case_id)

    def _deliveries(self, case_id: int | None) -> list[Delivery]:
        with use_session(self._sessions, write=False) as session:
            query = select(Delivery).order_by(Delivery.id)
            if case_id is not None:
                query = query.where(Delivery.case_id == case_id)
            rows = list(session.scalars(query).all())
            session.expunge_all()
            return rows

    # ---- privacy ---------------------------------------------------------------------------------------

    async def forget_parent(self, parent_id: str) -> None:
        """/forget: the profile, and every message and photo not attached to a case (cases stay with
        the school, which the parent is told how to ask about)."""
        await asyncio.to_thread(self._forget_parent, parent_id)

    def _forget_parent(self, parent_id: str) -> None:
        with use_session(self._sessions, write=True) as session:
            session.execute(
                delete(ConversationMessage).where(
                    ConversationMessage.parent_id == parent_id, ConversationMessage.case_id.is_(None)
                )
            )
            session.execute(
                delete(Attachment).where(Attachment.parent_id == parent_id, Attachment.case_id.is_(None))
            )
            session.execute(delete(Parent).where(Parent.id == parent_id))

    async def purge(
        self,
        message_retention: timedelta,
        case_retention: timedelta,
        unresolved_retention: timedelta | None = None,
        *,
        flow_timeout: timedelta | None = None,
        relay_timeout: timedelta | None = None,
    ) -> PurgeCounts:
        """Delete messages not attached to a case after `message_retention`; resolved cases (with their
        transcripts, messages, evidence and deliveries) `case_retention` after they were resolved; cases
        never resolved `unresolved_retention` (default: `case_retention`) after their last activity
        (opened, claimed, or a message from either side), so no case is kept for ever; with
        `flow_timeout`, half-finished drafts untouched that long; with `relay_timeout`, end relays silent
        that long."""
        stale = case_retention if unresolved_retention is None else unresolved_retention
        counts = await asyncio.to_thread(self._purge, message_retention, case_retention, stale)
        drafts = await asyncio.to_thread(self._purge_drafts, flow_timeout) if flow_timeout else 0
        relays = await asyncio.to_thread(self._end_relays, relay_timeout) if relay_timeout else 0
        return replace(counts, drafts=drafts, relays=relays)

    def _purge_drafts(self, timeout: timedelta) -> int:
        """Expired drafts live in parents.flow (JSON): each is replaced by its tombstone (the flow's name
        only), so the parent's next message says it expired. Unreadable values and tombstones stay."""
        now = utcnow()
        with use_session(self._sessions, write=True) as session:
            rows = session.execute(select(Parent.id, Parent.flow).where(Parent.flow.is_not(None))).all()
            drafts = [(parent_id, FlowState.from_json(stored)) for parent_id, stored in rows]
            for parent_id, flow in drafts:
                if flow is not None and flow.expired(now, timeout.total_seconds()):
                    session.execute(
                        update(Parent).where(Parent.id == parent_id).values(flow=flow.tombstone())
                    )
            return sum(
                1 for _, flow in drafts if flow is not None and flow.expired(now, timeout.total_seconds())
            )

    def _end_relays(self, timeout: timedelta) -> int:
        with use_session(self._sessions, write=True) as session:
            return _rowcount(
                session.execute(
                    update(Parent)
                    .where(Parent.relay_case_id.is_not(None), Parent.updated_at < utcnow() - timeout)
                    .values(relay_case_id=None)
                )
            )

    def _purge(
        self, message_retention: timedelta, case_retention: timedelta, stale: timedelta
    ) -> PurgeCounts:
        now = utcnow()
        with use_session(self._sessions, write=True) as session:
            messages = _rowcount(
                session.execute(
                    delete(ConversationMessage).where(
                        ConversationMessage.case_id.is_(None),
                        ConversationMessage.created_at < now - message_retention,
                    )
                )
            )
            attachments = _rowcount(
                session.execute(
                    delete(Attachment).where(
                        Attachment.case_id.is_(None), Attachment.created_at < now - message_retention
                    )
                )
            )
            resolved = session.scalars(
                select(Case.id).where(
                    and_(Case.status == CaseStatus.RESOLVED, Case.resolved_at < now - case_retention)
                )
            ).all()
            abandoned = session.scalars(_abandoned_cases(now - stale)).all()
            cases = self._delete_cases(session, [*resolved, *abandoned])
            return PurgeCounts(messages, attachments, cases, len(abandoned))

    def _delete_cases(self, session: Session, old_cases: Sequence[int]) -> int:
        for model in (ConversationMessage, CaseMessage, Attachment, Delivery):
            session.execute(delete(model).where(model.case_id.in_(old_cases)))
        session.execute(update(AuditEvent).where(AuditEvent.case_id.in_(old_cases)).values(case_id=None))
        session.execute(update(Parent).where(Parent.relay_case_id.in_(old_cases)).values(relay_case_id=None))
        return _rowcount(session.execute(delete(Case).where(Case.id.in_(old_cases))))


def _abandoned_cases(cutoff: datetime) -> Select[tuple[int]]:
    """Cases not resolved whose last activity (opening, claim, a message) is older than `cutoff`."""
    recent_message = exists().where(CaseMessage.case_id == Case.id, CaseMessage.created_at >= cutoff)
    return select(Case.id).where(
        Case.status != CaseStatus.RESOLVED,
        Case.created_at < cutoff,
        or_(Case.claimed_at.is_(None), Case.claimed_at < cutoff),
        ~recent_message,
    )
