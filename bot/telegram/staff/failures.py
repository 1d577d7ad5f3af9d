"""Telegram's errors read as the staff policy's Failure (bot/staff/failover.py), which decides what
follows: the Bot API's words for "this chat is gone", "nothing changed" and "the topic is closed", its
RetryAfter wait and its ChatMigrated new id, and which errors are refusals for good (400 and 403)."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot.staff.failover import Failure

NOT_MODIFIED = "message is not modified"
TOPIC_CLOSED = "topic_closed"
CHAT_GONE = (
    "chat not found",
    "not enough rights to send",
    "have no rights to send",
    "chat_write_forbidden",
    "group chat was deactivated",
    "chat was deactivated",
    "need administrator rights",
)
"""Bad Request descriptions meaning the bot cannot post in the chat at all (not a fault of one message)."""


def telegram_reason(error: Exception) -> str:
    """Type and Telegram description (PTB keeps "Forbidden: " in the message, drops "Bad Request: ")."""
    name, message = type(error).__name__, str(getattr(error, "message", ""))
    return message if message.startswith(f"{name}:") else f"{name}: {message}"


def chat_unusable(error: Exception) -> bool:
    """Whether Telegram refused because the bot cannot post in this chat at all: not found, removed
    (kicked, left) or without the right to send."""
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and any(gone in error.message.lower() for gone in CHAT_GONE)


def retry_after_seconds(error: RetryAfter) -> float:
    """Telegram's wait, whichever type this PTB version gives it (without its deprecation warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def failure(error: Exception) -> Failure:
    """What the delivery worker's failover needs to know about a send's error."""
    refused = isinstance(error, (BadRequest, Forbidden))
    description = error.message if isinstance(error, (BadRequest, Forbidden)) else ""
    return Failure(
        type(error).__name__,
        reason=telegram_reason(error),
        description=description,
        refused=refused,
        blocked=isinstance(error, Forbidden),
        chat_unusable=chat_unusable(error),
        unchanged=isinstance(error, BadRequest) and NOT_MODIFIED in description.lower(),
        topic_closed=isinstance(error, BadRequest) and TOPIC_CLOSED in description.lower(),
        moved_to=error.new_chat_id if isinstance(error, ChatMigrated) else None,
        retry_after=retry_after_seconds(error) if isinstance(error, RetryAfter) else None,
        expected=isinstance(error, NetworkError),
    )
