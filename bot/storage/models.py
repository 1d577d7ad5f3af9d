"""Typed SQLAlchemy models. Every schema change comes with an Alembic migration in migrations/versions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.domain import Author, CaseKind, CaseStatus, Priority

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


def _enum(cls: type[enum.Enum]) -> Enum:
    """Enums stored as their values in a VARCHAR: portable, and readable in the database."""
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=24,
        values_callable=lambda members: [m.value for m in members],
    )


class DeliveryStatus(str, enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    MOVED = "moved"
    """Replaced by a delivery to another chat (the staff chat failed, or an operator requeued it)."""


class DeliveryKind(str, enum.Enum):
    """What an outbox row sends; the values are what the outbox table stores."""

    CASE_CARD = "case_card"
    CARD_UPDATE = "case_card_update"
    EVIDENCE = "case_evidence"
    TRANSCRIPT = "case_transcript"
    PIN = "case_pin"
    PARENT_REPLY = "parent_reply"
    """A parent's message in a case's thread, for the staff chat."""
    URGENT_REMINDER = "urgent_reminder"
    TOPIC_CLOSE = "case_topic_close"
    TOPIC_REOPEN = "case_topic_reopen"
    STAFF_REPLY_SENT = "staff_reply_sent"
    CHAT_FAILED_ALERT = "chat_failed_alert"
    PARENT_CLAIMED = "parent_claimed"
    PARENT_RESOLVED = "parent_resolved"
    STAFF_REPLY = "staff_reply"
    """A staff member's message, for the parent's chat."""
    PARENT_DELIVERED = "parent_delivered"
    PARENT_UNDELIVERED = "parent_undelivered"

    def __str__(self) -> str:
        """The stored value, as in logs and `parentbot outbox` (what StrEnum does from Python 3.11)."""
        return self.value


class _DeliveryKindColumn(TypeDecorator[DeliveryKind | str]):
    """A VARCHAR(32) read back as a DeliveryKind. A value this version does not know (queued by a newer
    one, or by hand) stays a plain string, so the delivery worker can give that one row up instead of
    every pass failing to read the outbox."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: DeliveryKind | str | None, dialect: Any) -> str | None:
        return value.value if isinstance(value, DeliveryKind) else value

    def process_result_value(self, value: str | None, dialect: Any) -> DeliveryKind | str | None:
        if value is None:
            return None
        try:
            return DeliveryKind(value)
        except ValueError:
            return value


class Parent(Base):
    """A parent's profile: the school they chose and where their conversation stands."""

    __tablename__ = "parents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The channel's id for the parent: the Telegram user id, or "console"."""
    school_id: Mapped[str | None] = mapped_column(String(32))
    fallback_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pending: Mapped[str | None] = mapped_column(String(32))
    clarify_options: Mapped[str | None] = mapped_column(String(200))
    """The intents the last "Did you mean ...?" question offered, comma-separated."""
    danger_check: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The message awaiting the parent's answer to "is a child at risk now?" (cleared by the next one)."""
    flow: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The handoff flow in progress (its name, step and what was collected), so a restart resumes it."""
    relay_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    """While set, the parent's messages go to this case's staff thread instead of to the bot."""
    blocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When Telegram said the parent blocked the bot (403): nothing more is sent until they write again."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ConversationMessage(Base):
    """One line of a parent's chat with the bot: the material of a transcript.

    Lines not attached to a case are deleted after the retention window (MESSAGE_RETENTION_HOURS).
    """

    __tablename__ = "conversation_messages"
    __table_args__ = (Index("ix_conversation_messages_parent_created", "parent_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[str] = mapped_column(String(64))
    author: Mapped[Author] = mapped_column(_enum(Author))
    text: Mapped[str] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Case(Base):
    """A concern the parent agreed to share with their school's staff."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    school_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[CaseKind] = mapped_column(_enum(CaseKind))
    priority: Mapped[Priority] = mapped_column(_enum(Priority))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), index=True)
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    contact_method: Mapped[str] = mapped_column(String(16))
    contact_detail: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    """None once the case is anonymised after the retention period."""
    parent_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    staff_chat_id: Mapped[int] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)
    topic_id: Mapped[int | None] = mapped_column(BigInteger)
    """The case's forum topic (message_thread_id) when its staff chat is a supergroup with topics."""
    claimed_by: Mapped[int | None] = mapped_column(BigInteger)
    claimed_by_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_reminder_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    messages: Mapped[list[CaseMessage]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseMessage.id"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Attachment.id"
    )


class CaseMessage(Base):
    """What was said about a case after it was opened: parent, staff and bot."""

    __tablename__ = "case_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author: Mapped[Author] = mapped_column(_enum(Author))
    author_name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    case: Mapped[Case] = relationship(back_populates="messages")


class Attachment(Base):
    """Evidence a parent sent (a screenshot): Telegram's file id, never the image itself."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[str] = mapped_column(String(64), index=True)
    file_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="photo")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    case: Mapped[Case | None] = relationship(back_populates="attachments")


class AuditEvent(Base):
    """A staff action (view, claim, reply, resolve) or a refused attempt, for the audit log (who saw or did
    what to a case)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    allowed: Mapped[bool] = mapped_column(default=True)


class Delivery(Base):
    """A message waiting to be delivered (the outbox): written in the same transaction as what caused it,
    sent by a background worker, retried until Telegram accepts it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[DeliveryKind | str] = mapped_column(_DeliveryKindColumn())
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChatMove(Base):
    """A chat that now has another id: a group that became a supergroup (Telegram's ChatMigrated).

    Deliveries and new cases for `old_chat_id` go to `new_chat_id` until the schools file is updated.
    """

    __tablename__ = "chat_moves"

    old_chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    new_chat_id: Mapped[int] = mapped_column(BigInteger)
    moved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FloodBucket(Base):
    """A parent's flood-limit token bucket (bot/telegram/flood.py), shared by every bot process."""

    __tablename__ = "flood_buckets"

    parent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float, index=True)
    """Unix seconds of the last message counted."""
    told_at: Mapped[float | None] = mapped_column(Float)
    """Unix seconds of the last "slow down" notice."""


class ErasureKind(str, enum.Enum):
    """What one telegram_erasures row erases, which says how (bot/telegram/staff/erasure.py)."""

    TOPIC = "topic"
    """A case's forum topic (deleteForumTopic); its messages have rows of their own, for when it fails."""
    TEXT = "text"
    """A text message the bot posted: deleted, else edited to the tombstone."""
    MEDIA = "media"
    """A photo or document the bot posted: deleted, else its media replaced by the tombstone."""
    THEIRS = "theirs"
    """A staff member's message the bot relayed (a reply to the parent): deleted where the bot may."""

    def __str__(self) -> str:
        return self.value


class TelegramErasure(Base):
    """Something the bot posted in Telegram for a case that the purge (or an erasure request) deleted:
    written in the same transaction as the deletion, so nothing is forgotten in Telegram; removed once
    done. `reference` is the case's, for the tombstone text (no personal data)."""

    __tablename__ = "telegram_erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    topic_id: Mapped[int | None] = mapped_column(BigInteger)
    """The case's forum topic: the topic itself (kind topic), or the topic a message is in."""
    kind: Mapped[ErasureKind] = mapped_column(_enum(ErasureKind))
    reference: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_before: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


class PrivateKind(str, enum.Enum):
    """What a message the bot sent to a staff member's private chat is (which says how to erase it)."""

    TEXT = "text"
    PHOTO = "photo"
    DOCUMENT = "document"

    def __str__(self) -> str:
        return self.value


class PrivateMessage(Base):
    """A message the bot sent for a case to a staff member's private chat (the details of a case claimed
    from a chat with members not named staff, and the parent's later messages): the outbox records only
    what went to the staff chats, and this is what the purge must also erase (bot/storage/erasures.py).
    Deleted with its case."""

    __tablename__ = "private_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[PrivateKind] = mapped_column(_enum(PrivateKind))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
