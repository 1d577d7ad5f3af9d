"""Typed SQLAlchemy models. Every schema change comes with an Alembic migration in migrations/versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Parent(Base):
    """A parent's profile: the school they chose and where their conversation stands."""

    __tablename__ = "parents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The channel's id for the parent: the Telegram user id, or "console"."""
    school_id: Mapped[str | None] = mapped_column(String(32))
    fallback_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pending: Mapped[str | None] = mapped_column(String(32))
    blocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When Telegram said the parent blocked the bot (403): nothing more is sent until they write again."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
