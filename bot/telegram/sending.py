"""Turning the engine's replies into Telegram messages, and sending them reliably.

Timeouts, network errors, 5xx answers and 429 (after its retry_after) are retried with backoff; a 403
means the parent blocked the bot, which is recorded and ends the sending for this turn.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import MessageLimit
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from bot.dialogue.messages import Reply

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH
ATTEMPTS = 6


class BotBlockedError(Exception):
    """Telegram refused to deliver because the parent blocked the bot (403)."""


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut a long text into pieces Telegram accepts, at paragraph, line or word boundaries if possible."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(button.title, callback_data=button.payload)] for button in reply.buttons]
    )


def _retryable(error: BaseException) -> bool:
    if isinstance(error, BadRequest):
        return False  # our request is wrong: sending it again cannot help
    return isinstance(error, (TimedOut, NetworkError, RetryAfter))


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, RetryAfter):
        retry_after = error.retry_after
        seconds = retry_after.total_seconds() if hasattr(retry_after, "total_seconds") else retry_after
        return float(seconds) + 0.1
    return min(0.25 * 2 ** (state.attempt_number - 1), 8.0)


async def with_retries(call: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Run a Bot API call, retrying what Telegram or the network may get right next time."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(_retryable), wait=_wait, stop=stop_after_attempt(attempts), reraise=True
    )
    async for attempt in retrying:
        with attempt:
            try:
                return await call()
            except Forbidden as error:
                raise BotBlockedError(str(error)) from error
            except NetworkError as error:
                log.warning(
                    "Bot API call failed (%s), attempt %d",
                    type(error).__name__,
                    attempt.retry_state.attempt_number,
                )
                raise
    raise AssertionError("unreachable")


async def send_replies(bot: Bot, chat_id: int, replies: Sequence[Reply]) -> list[Message]:
    """Send each reply in order (its document first, if any), long texts split, its buttons on the last
    piece."""
    sent: list[Message] = []
    for reply in replies:
        if reply.document is not None:
            document = reply.document
            data = document.text.encode("utf-8")
            call = partial(bot.send_document, chat_id, data, filename=document.filename)
            sent.append(await with_retries(call))
        pieces = split_text(reply.text)
        for number, piece in enumerate(pieces, start=1):
            markup = keyboard(reply) if number == len(pieces) else None
            message = await with_retries(partial(bot.send_message, chat_id, piece, reply_markup=markup))
            sent.append(message)
    return sent


async def send_line(bot: Bot, chat_id: int, text: str, reply_to: Message | None) -> None:
    """A short line in a group (replying to the member's message, in its topic, when given)."""
    reply = ReplyParameters(reply_to.message_id, allow_sending_without_reply=True) if reply_to else None
    thread = reply_to.message_thread_id if reply_to is not None and reply_to.is_topic_message else None
    for piece in split_text(text):
        send = partial(bot.send_message, chat_id, piece, reply_parameters=reply, message_thread_id=thread)
        await with_retries(send)


class BackgroundSends:
    """Sends a handler starts without waiting for them (Application.create_task), at most `limit`
    waiting per chat: any more are dropped, so a member repeating a command never makes a handler wait
    on the chat's rate limit. `what` names them in the log ("Refusal", "Setup answer")."""

    def __init__(self, limit: int, what: str) -> None:
        self._limit = limit
        self._what = what
        self._pending: Counter[int] = Counter()

    def start(self, app: Application, chat_id: int, send: Callable[[], Awaitable[None]]) -> bool:
        """Whether the send was started (False: enough are waiting for that chat already)."""
        if self._pending[chat_id] >= self._limit:
            log.info("%s not sent: %d are waiting for that chat already", self._what, self._limit)
            return False
        self._pending[chat_id] += 1
        app.create_task(self._run(chat_id, send), name=f"background-send-{self._what.lower()}")
        return True

    async def _run(self, chat_id: int, send: Callable[[], Awaitable[None]]) -> None:
        try:
            await send()
        except Exception as error:  # noqa: BLE001 - a line that cannot be sent is not retried
            log.info("%s not sent: %s", self._what, type(error).__name__)
        finally:
            self._pending[chat_id] -= 1
            if self._pending[chat_id] <= 0:
                del self._pending[chat_id]
