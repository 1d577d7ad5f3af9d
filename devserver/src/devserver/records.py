"""The values of the dev server's simulated world: users, chats, forum topics, the bot's calls and the
files it holds, each with ``to_api`` giving the JSON Telegram would send."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any, Literal

from devserver.spec import JsonDict

MediaKind = Literal["photo", "sticker", "voice", "video", "document", "location", "contact", "poll"]
ChatType = Literal["private", "group", "supergroup"]


class SpecViolationError(AssertionError):
    """The dev server built an object that does not follow the Bot API description (a devserver bug)."""


@dataclass(frozen=True)
class SimUser:
    """A Telegram user the test plays (a parent, a teacher); their private chat has the same id."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False

    def to_api(self) -> JsonDict:
        return _drop_none(
            {
                "id": self.id,
                "is_bot": self.is_bot,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "username": self.username,
                "language_code": self.language_code,
            }
        )


@dataclass(frozen=True)
class SimChat:
    """A private chat (id == the user's id) or a group (negative id)."""

    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False
    """A supergroup with topics (forum topic methods work, messages carry message_thread_id)."""

    def to_api(self) -> JsonDict:
        return _drop_none(
            {
                "id": self.id,
                "type": self.type,
                "title": self.title,
                "username": self.username,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "is_forum": True if self.is_forum else None,
            }
        )


@dataclass
class ForumTopic:
    """A topic of a forum supergroup; its id is the message id of its forum_topic_created message."""

    chat_id: int
    message_thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    closed: bool = False

    def to_api(self) -> JsonDict:
        return _drop_none(
            {
                "message_thread_id": self.message_thread_id,
                "name": self.name,
                "icon_color": self.icon_color,
                "icon_custom_emoji_id": self.icon_custom_emoji_id,
            }
        )


@dataclass
class Call:
    """One request the bot made. ``status`` is None while in flight or when the connection was dropped."""

    method: str
    params: JsonDict
    chat_id: int | str | None
    time: float
    http_method: str = "POST"
    status: int | None = None
    result: Any = None
    error: str | None = None
    done: bool = False

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    mime_type: str
    file_name: str | None = None
    width: int | None = None
    height: int | None = None

    def to_api(self) -> JsonDict:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


class _Signal:
    """Wakes every coroutine waiting for "something changed"; notify() needs no await."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float | None) -> None:
        event = self._event
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


def _drop_none(values: JsonDict) -> JsonDict:
    return {k: v for k, v in values.items() if v is not None}


def _now() -> int:
    return int(time.time())
