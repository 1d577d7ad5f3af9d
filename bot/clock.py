"""The bot's one clock. Every part that needs the time of day takes a ``Clock`` (defaulting to
``utcnow``), so a test sets the time instead of sleeping, and staff, storage and dialogue agree on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (naive datetimes never enter the bot)."""
    return datetime.now(timezone.utc)
