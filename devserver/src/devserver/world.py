"""The simulated world of the dev Bot API server: users, chats, messages and files, what users do, the
queue of updates it produces, and what the bot did (its calls, its messages, and waits on them)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import mimetypes
import secrets
import struct
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from devserver.formatting import detect_entities, parse_formatted
from devserver.spec import ApiSpec, JsonDict, UploadedFile, bad_request

MediaKind = Literal["photo", "sticker", "voice", "video", "document", "location", "contact", "poll"]
ChatType = Literal["private", "group", "supergroup"]
_T = TypeVar("_T")

MAX_TEXT_LENGTH = 4096

MAX_CAPTION_LENGTH = 1024

MAX_CALLBACK_DATA_BYTES = 64

OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Parameters that Telegram still accepts though the description no longer lists them.

_NOT_BUTTON_ACTIONS = frozenset({"text", "icon_custom_emoji_id", "style"})
DEFAULT_PERMISSIONS: JsonDict = {
    "can_send_messages": True,
    "can_send_photos": True,
    "can_send_documents": True,
    "can_pin_messages": True,
}
"""A group's default member permissions (getChat's permissions): members may post and pin."""

_FILE_KINDS = {  # kind: (file_id prefix, folder of file_path, default extension, default MIME type)
    "photo": ("AgACAgIAAxkBAAI", "photos", ".jpg", "image/jpeg"),
    "document": ("BQACAgIAAxkBAAI", "documents", ".bin", "application/octet-stream"),
    "sticker": ("CAACAgIAAxkBAAI", "stickers", ".webp", "image/webp"),
    "voice": ("AwACAgIAAxkBAAI", "voice", ".oga", "audio/ogg"),
    "video": ("BAACAgIAAxkBAAI", "videos", ".mp4", "video/mp4"),
}


class SpecViolationError(AssertionError):
    """The dev server built an object that does not follow the Bot API description (a devserver bug)."""


# ---- records -------------------------------------------------------------------------------------------


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


# ---- the world ---------------------------------------------------------------------------------------


class SimulatedWorld:
    """Users, chats, messages and files as Telegram would hold them; the state is set by BotApiServer."""

    spec: ApiSpec
    token: str
    check_results: bool
    bot_user: SimUser
    calls: list[Call]
    spec_violations: list[str]
    dropped_updates: list[JsonDict]
    _users: dict[int, SimUser]
    _chats: dict[int, SimChat]
    _messages: dict[tuple[int, int], JsonDict]
    _bot_messages: dict[int, list[int]]
    _last_message_id: dict[int, int]
    _pinned: dict[int, list[int]]
    _files: dict[str, StoredFile]
    _files_by_path: dict[str, StoredFile]
    _callback_queries: dict[str, JsonDict]
    _pending: list[JsonDict]
    _allowed_updates: list[str] | None
    _claimed_calls: set[int]
    _claimed_messages: set[int]
    _ids: itertools.count[int]
    _next_update_id: int
    _first_update_id: int
    last_update_id: int
    _next_user_id: int
    _next_group_id: int
    _button_actions: frozenset[str]
    _topics: dict[tuple[int, int], ForumTopic]
    _bot_members: dict[int, JsonDict]
    _permissions: dict[int, JsonDict]
    _migrated: dict[int, int]
    _members: dict[int, dict[int, str]]
    _never_started: set[int]
    _handled_updates: set[int]
    _updates_changed: _Signal
    _calls_changed: _Signal

    def create_user(
        self,
        first_name: str = "Parent",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        user_id: int | None = None,
        started: bool = True,
    ) -> SimUser:
        """A user who has started the bot: their private chat (same id) is known to the server. With
        ``started=False`` one who never has: the bot cannot message them (403, "bot can't initiate
        conversation with a user") until they write to it privately."""
        if user_id is None:
            user_id, self._next_user_id = self._next_user_id, self._next_user_id + 1
        user = SimUser(user_id, first_name, last_name, username, language_code)
        self._users[user.id] = user
        if started:
            self._chats[user.id] = self.private_chat(user)
        else:
            self._never_started.add(user.id)
        return user

    create_parent = create_user

    def create_group(
        self,
        title: str = "Parents' group",
        *,
        members: Iterable[SimUser] = (),
        supergroup: bool = False,
        forum: bool = False,
        chat_id: int | None = None,
    ) -> SimChat:
        """A group with the bot in it (as an administrator): ids like -4000000001 (supergroups -100…), or
        ``chat_id`` if given (e.g. a staff chat id from the configuration). ``forum``: a supergroup with
        topics."""
        supergroup = supergroup or forum
        if chat_id is None:
            number, self._next_group_id = self._next_group_id, self._next_group_id + 1
            chat_id = -(1_000_000_000_000 + number) if supergroup else -number
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative, not {chat_id}")
        chat = SimChat(chat_id, "supergroup" if supergroup else "group", title=title, is_forum=forum)
        self._chats[chat.id] = chat
        for member in members:
            self._users.setdefault(member.id, member)
            self._members.setdefault(chat.id, {})[member.id] = "member"
        return chat

    def chat_members(self, chat_id: int) -> dict[int, str]:
        """The users in a group (besides the bot) and their status: "member", "administrator", "creator"."""
        return dict(self._members.get(chat_id, {}))

    def private_chat(self, user: SimUser) -> SimChat:
        return SimChat(
            user.id, "private", username=user.username, first_name=user.first_name, last_name=user.last_name
        )

    def chat(self, chat_id: int | str) -> SimChat:
        """The known chat with this id or @username; ApiRequestError("chat not found") otherwise."""
        if isinstance(chat_id, str):
            found = next(
                (c for c in self._chats.values() if c.username and f"@{c.username}" == chat_id), None
            )
        else:
            found = self._chats.get(chat_id)
        if found is None:
            raise bad_request("chat not found")
        return found

    def chat_permissions(self, chat_id: int) -> JsonDict:
        """The group's default member permissions, as getChat gives them."""
        return dict(self._permissions.get(chat_id, DEFAULT_PERMISSIONS))

    # ---- what users do ------------------------------------------------------------------------------------

    def user_sends_text(
        self, user: SimUser, text: str, chat: SimChat | None = None, *, thread_id: int | None = None
    ) -> JsonDict:
        """The user writes ``text`` (in forum topic ``thread_id`` if given); "/start" etc. get a
        bot_command entity as Telegram gives them."""
        if not text.strip():
            raise ValueError("Telegram clients do not send empty messages")
        return self._user_message(user, chat, _text_content(text), thread_id)

    def user_replies_to(
        self, user: SimUser, message: JsonDict, text: str, chat: SimChat | None = None
    ) -> JsonDict:
        chat = chat or self.chat(message["chat"]["id"])
        replied = self._find_message(chat.id, message["message_id"])
        if replied is None:
            raise ValueError(f"message {message['message_id']} is not in chat {chat.id}")
        content = {"reply_to_message": _without_reply(replied), **_text_content(text)}
        return self._user_message(user, chat, content, replied.get("message_thread_id"))

    def user_sends_photo(
        self,
        user: SimUser,
        caption: str | None = None,
        chat: SimChat | None = None,
        data: bytes | None = None,
    ) -> JsonDict:
        """A photo the bot can getFile and download (a small real PNG unless ``data`` is given)."""
        stored = self._store_file(data if data is not None else tiny_png(320, 240), "photo")
        content: JsonDict = {"photo": self._photo_sizes(stored)}
        if caption:
            content.update(_caption_content(caption))
        return self._user_message(user, chat, content)

    def user_sends(
        self, user: SimUser, kind: MediaKind, chat: SimChat | None = None, caption: str | None = None
    ) -> JsonDict:
        """A message of ``kind`` with the fields a real client's message has (files can be downloaded)."""
        if kind == "photo":
            return self.user_sends_photo(user, caption, chat)
        content = self._media_content(user, kind)
        if caption and kind in ("voice", "video", "document"):
            content.update(_caption_content(caption))
        return self._user_message(user, chat, content)

    def user_edits_message(self, user: SimUser, message: JsonDict, text: str) -> JsonDict:
        """The user edits their own text message: the bot gets an edited_message update."""
        stored = self._find_message(message["chat"]["id"], message["message_id"])
        if stored is None or stored.get("from", {}).get("id") != user.id or "text" not in stored:
            raise ValueError("a user can only edit their own text messages")
        edited = {k: v for k, v in stored.items() if k not in ("text", "entities")}
        edited.update(_text_content(text), edit_date=_now())
        self._store(edited)
        self._push_update("edited_message", edited)
        return copy.deepcopy(edited)

    def user_presses_button(self, user: SimUser, message: JsonDict, callback_data: str) -> JsonDict:
        """The user presses the inline button with ``callback_data`` under the bot's ``message``."""
        stored = self._find_message(message["chat"]["id"], message["message_id"])
        if stored is None:
            raise ValueError(f"message {message['message_id']} no longer exists")
        keyboard: list[list[JsonDict]] = stored.get("reply_markup", {}).get("inline_keyboard", [])
        if not any(b.get("callback_data") == callback_data for row in keyboard for b in row):
            raise ValueError(
                f"message {stored['message_id']} has no button with callback_data {callback_data!r}"
            )
        query: JsonDict = {
            "id": str(next(self._ids) * 7_919 + 4_000_000_000_000_000),
            "from": user.to_api(),
            "message": copy.deepcopy(stored),
            "chat_instance": str(abs(hash((self.token, stored["chat"]["id"]))) % 10**18),
            "data": callback_data,
        }
        self._callback_queries[query["id"]] = query
        self._push_update("callback_query", query)
        return copy.deepcopy(query)

    def push_update(self, kind: str, payload: JsonDict) -> JsonDict:
        """Any other update (e.g. "my_chat_member"), as given; checked against the description."""
        return self._push_update(kind, payload)

    def _user_message(
        self, user: SimUser, chat: SimChat | None, content: JsonDict, thread_id: int | None = None
    ) -> JsonDict:
        chat = chat or self.private_chat(user)
        if chat.type == "private":
            self._never_started.discard(user.id)  # writing to the bot lets it write back
        self._users.setdefault(user.id, user)
        self._chats.setdefault(chat.id, chat)
        message = {
            "message_id": self._next_message_id(chat.id),
            "from": user.to_api(),
            "chat": chat.to_api(),
            "date": _now(),
            **content,
        }
        if thread_id is not None:
            topic = self.topic(chat.id, thread_id)
            if topic.closed:
                raise ValueError(f"topic {thread_id} is closed: members cannot write in it")
            self._in_topic(message, topic)
        self._store(message)
        self._push_update("message", message)
        return copy.deepcopy(message)

    def _media_content(self, user: SimUser, kind: MediaKind) -> JsonDict:
        if kind == "location":
            return {"location": {"latitude": 51.507351, "longitude": -0.127758}}
        if kind == "contact":
            return {
                "contact": _drop_none(
                    {
                        "phone_number": "+447700900123",
                        "first_name": user.first_name,
                        "last_name": user.last_name,
                        "user_id": user.id,
                    }
                )
            }
        if kind == "poll":
            return {"poll": _sample_poll(next(self._ids))}
        return self._file_content(kind)

    def _file_content(self, kind: str) -> JsonDict:
        data, name = _SAMPLE_FILES[kind]
        stored = self._store_file(data, kind, filename=name)
        base = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(data)}
        extra: dict[str, JsonDict] = {
            "sticker": {
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "\U0001f44d",
            },
            "voice": {"duration": 3, "mime_type": "audio/ogg"},
            "video": {
                "width": 640,
                "height": 360,
                "duration": 5,
                "file_name": name,
                "mime_type": "video/mp4",
            },
            "document": {"file_name": name, "mime_type": "application/pdf"},
        }
        return {kind: {**base, **extra[kind]}}

    def _push_update(self, kind: str, payload: JsonDict) -> JsonDict:
        update = {"update_id": self._next_update_id, kind: copy.deepcopy(payload)}
        self._next_update_id += 1
        self._check_own("Update", update)
        self.last_update_id = self._next_update_id - 1
        allowed = self._allowed_updates
        if (kind not in allowed) if allowed else (kind in OPT_IN_UPDATES):
            self.dropped_updates.append(update)
        else:
            self._pending.append(update)
            self._updates_changed.notify()
        return copy.deepcopy(update)

    # ---- what the bot did --------------------------------------------------------------------------------

    def calls_to(self, method: str, chat_id: int | str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower() and _chat_matches(c, chat_id)]

    def sent_messages(self, chat_id: int) -> list[JsonDict]:
        """The bot's messages in this chat as they are now (edited, deleted ones gone), oldest first."""
        ids = self._bot_messages.get(chat_id, [])
        return [copy.deepcopy(self._messages[(chat_id, i)]) for i in ids if (chat_id, i) in self._messages]

    def pinned_messages(self, chat_id: int) -> list[int]:
        return list(self._pinned.get(chat_id, []))

    def age_message(self, chat_id: int, message_id: int, hours: float) -> None:
        """Make a stored message `hours` older (its date earlier), e.g. past deleteMessage's 48 hours."""
        message = self._find_message(chat_id, message_id)
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        message["date"] -= int(hours * 3600)

    def bot_deletes_any_message(self, chat: SimChat) -> bool:
        """What deleteMessage's description allows beyond the bot's own recent messages: "If the bot is
        an administrator of a group, it can delete any message there. If the bot has can_delete_messages
        administrator right in a supergroup or a channel, it can delete any message there." (Older than
        48 hours too: Telegram lets such an administrator clear old messages.)"""
        member = self._bot_members.get(chat.id, {"status": "member"})
        if chat.type == "private" or member["status"] not in ("creator", "administrator"):
            return False
        return (
            chat.type == "group" or member["status"] == "creator" or bool(member.get("can_delete_messages"))
        )

    async def wait_for_call(
        self,
        method: str,
        chat_id: int | str | None = None,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
    ) -> Call:
        """The first finished call of ``method`` not yet returned by an earlier wait_for_call."""

        def find() -> Call | None:
            for index, call in enumerate(self.calls):
                if index in self._claimed_calls or not call.done or call.method.lower() != method.lower():
                    continue
                if _chat_matches(call, chat_id) and (predicate is None or predicate(call)):
                    self._claimed_calls.add(index)
                    return call
            return None

        return await self._wait(find, timeout, f"no {method} call (chat {chat_id})")

    async def wait_for_message(
        self, chat_id: int, predicate: Callable[[JsonDict], bool] | None = None, timeout: float = 10.0
    ) -> JsonDict:
        """The next message the bot sent to ``chat_id`` (as answered), not returned by an earlier wait."""

        def find() -> JsonDict | None:
            for index, call in enumerate(self.calls):
                if index in self._claimed_messages or not _is_sent_message(call, chat_id):
                    continue
                if predicate is None or predicate(call.result):
                    self._claimed_messages.add(index)
                    return copy.deepcopy(call.result)
            return None

        return await self._wait(find, timeout, f"no message from the bot in chat {chat_id}")

    def mark_handled(self, update_id: int) -> None:
        """The bot says it has finished handling this update (its answers have been sent): a test harness
        calls this from a hook around ``Application.process_update``."""
        self._handled_updates.add(update_id)
        self._calls_changed.notify()

    async def wait_handled(self, update_id: int | None = None, timeout: float = 20.0) -> None:
        """Wait until the bot has handled update ``update_id`` (default: every update pushed so far).

        This is the explicit signal tests wait on instead of a quiet period: it needs the bot to report
        through :meth:`mark_handled`. Updates the server dropped (not in allowed_updates) count as handled.
        """
        last = self.last_update_id if update_id is None else update_id
        dropped = {u["update_id"] for u in self.dropped_updates}

        def done() -> bool:
            return all(
                u in self._handled_updates or u in dropped for u in range(self._first_update_id, last + 1)
            )

        await self._wait(lambda: True if done() else None, timeout, f"update {last} not handled")

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``condition()`` holds; it is re-checked after every call and webhook attempt."""
        await self._wait(lambda: True if condition() else None, timeout, "condition not met")

    async def _wait(self, find: Callable[[], _T | None], timeout: float, what: str) -> _T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = find()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(f"{c.method}({c.chat_id})={c.status}" for c in self.calls[-10:])
                raise TimeoutError(f"{what} within {timeout}s; last calls: {recent or 'none'}")
            await self._calls_changed.wait(remaining)

    # ---- building messages -------------------------------------------------------------------------------

    def _formatted(self, text: str, params: JsonDict, key: str, entities_key: str) -> JsonDict:
        """``{key: plain text, entities_key: entities}`` after parse_mode, with Telegram's text checks."""
        plain, entities = parse_formatted(text, params.get("parse_mode"), params.get(entities_key))
        if key == "text" and not plain.strip():
            raise bad_request("message text is empty")
        limit = MAX_TEXT_LENGTH if key == "text" else MAX_CAPTION_LENGTH
        if len(plain) > limit:
            raise bad_request("message is too long" if key == "text" else "message caption is too long")
        entities = detect_entities(plain, entities)
        return {key: plain, entities_key: entities} if entities else {key: plain}

    def _caption(self, params: JsonDict) -> JsonDict:
        if not params.get("caption"):
            return {}
        return self._formatted(params["caption"], params, "caption", "caption_entities")

    def _check_reply_markup(self, markup: object) -> None:
        if not isinstance(markup, dict):
            return
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
                if not self._button_actions.intersection(button):
                    raise bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the "
                        "inline keyboard"
                    )

    def _bot_message(self, chat: SimChat, params: JsonDict, content: JsonDict) -> JsonDict:
        message: JsonDict = {
            "message_id": 0,
            "from": self.bot_user.to_api(),
            "chat": chat.to_api(),
            "date": _now(),
        }
        replied = self._reply_target(chat, params)
        topic = self._topic_of_send(chat, params, replied)
        if replied is not None:
            message["reply_to_message"] = _without_reply(replied)
        if topic is not None:
            self._in_topic(message, topic)
        message.update(content)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        message["message_id"] = self._next_message_id(chat.id)
        self._store(message)
        self._bot_messages.setdefault(chat.id, []).append(message["message_id"])
        return copy.deepcopy(message)

    def _reply_target(self, chat: SimChat, params: JsonDict) -> JsonDict | None:
        reply = params.get("reply_parameters")
        if reply is not None:
            message_id, allow = reply["message_id"], bool(reply.get("allow_sending_without_reply"))
            target = self.chat(reply["chat_id"]).id if "chat_id" in reply else chat.id
        elif "reply_to_message_id" in params:
            message_id, allow = params["reply_to_message_id"], bool(params.get("allow_sending_without_reply"))
            target = chat.id
        else:
            return None
        found = self._find_message(target, message_id)
        if found is None and not allow:
            raise bad_request("message to be replied not found")
        return found if target == chat.id else None

    def _topic_of_send(self, chat: SimChat, params: JsonDict, replied: JsonDict | None) -> ForumTopic | None:
        """The topic a bot message goes to: message_thread_id, else that of the message it replies to."""
        thread_id = params.get("message_thread_id")
        if thread_id is None and replied is not None:
            thread_id = replied.get("message_thread_id")
        if thread_id is None or not chat.is_forum:
            if params.get("message_thread_id") is not None:
                raise bad_request("message thread not found")
            return None
        topic = self._topics.get((chat.id, thread_id))
        if topic is None:
            raise bad_request("message thread not found")
        if topic.closed:
            raise bad_request("TOPIC_CLOSED")
        return topic

    def _in_topic(self, message: JsonDict, topic: ForumTopic) -> None:
        """A message in a topic carries its thread id and, unless it replies to something else, replies to
        the topic's forum_topic_created message (as Telegram does: filters.REPLY matches it)."""
        message["message_thread_id"] = topic.message_thread_id
        message["is_topic_message"] = True
        if "reply_to_message" not in message:
            created = self._find_message(topic.chat_id, topic.message_thread_id)
            if created is not None:
                message["reply_to_message"] = _without_reply(created)

    def topic(self, chat_id: int, thread_id: int) -> ForumTopic:
        """The forum topic with this id; ValueError if there is none."""
        found = self._topics.get((chat_id, thread_id))
        if found is None:
            raise ValueError(f"no topic {thread_id} in chat {chat_id}")
        return found

    def topics(self, chat_id: int) -> list[ForumTopic]:
        """The chat's forum topics, oldest first."""
        return [t for (c, _), t in sorted(self._topics.items()) if c == chat_id]

    def _next_message_id(self, chat_id: int) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _store(self, message: JsonDict) -> None:
        self._check_own("Message", message)
        self._messages[(message["chat"]["id"], message["message_id"])] = message

    def _find_message(self, chat_id: int, message_id: int) -> JsonDict | None:
        return self._messages.get((chat_id, message_id))

    def _check_own(self, type_name: str, value: JsonDict) -> None:
        if not self.check_results:
            return
        problems = self.spec.check_object(type_name, value)
        if problems:
            self.spec_violations += [f"{type_name}: {p}" for p in problems]
            raise SpecViolationError(f"dev server built a {type_name} that breaks the API: {problems}")

    # ---- files -------------------------------------------------------------------------------------------

    def _input_file(self, value: object, kind: str) -> StoredFile:
        if isinstance(value, UploadedFile):
            return self._store_file(value.data, kind, filename=value.filename, mime_type=value.content_type)
        text = str(value)
        if text in self._files:
            return self._files[text]
        if text.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")  # the dev server fetches nothing
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _store_file(
        self, data: bytes, kind: str, filename: str | None = None, mime_type: str | None = None
    ) -> StoredFile:
        prefix, folder, extension, mime = _file_type(data, kind, filename, mime_type)
        size = image_size(data) if kind == "photo" else None
        stored = StoredFile(
            file_id=prefix + secrets.token_urlsafe(40),
            file_unique_id="AQAD" + secrets.token_urlsafe(9),
            file_path=f"{folder}/file_{next(self._ids)}{extension}",
            data=data,
            mime_type=mime,
            file_name=filename if kind in ("document", "video") else None,
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _photo_sizes(self, stored: StoredFile) -> list[JsonDict]:
        """A thumbnail (same bytes: nothing is resized) and the full size, as Telegram lists sizes."""
        width, height = stored.width or 800, stored.height or 600
        sizes = []
        if max(width, height) > 90:
            thumb = self._store_file(stored.data, "photo")
            scale = 90 / max(width, height)
            sizes.append(_photo_size(thumb, max(1, round(width * scale)), max(1, round(height * scale))))
        sizes.append(_photo_size(stored, width, height))
        return sizes


# ---- helpers ------------------------------------------------------------------------------------------


def _file_type(
    data: bytes, kind: str, filename: str | None, mime_type: str | None
) -> tuple[str, str, str, str]:
    """file_id prefix, folder, extension and MIME type of a stored file.

    PTB uploads raw bytes as "application.octet-stream" with no useful type, so photos are recognised by
    their bytes, and other files by a file name extension only when it is a known one.
    """
    prefix, folder, extension, default_mime = _FILE_KINDS[kind]
    if kind == "photo":
        if data.startswith(b"\x89PNG"):
            return prefix, folder, ".png", "image/png"
        return prefix, folder, ".jpg", "image/jpeg"
    guessed = mimetypes.guess_type(filename or "")[0]
    if guessed and filename:
        extension = "." + filename.rsplit(".", 1)[1].lower()
    if not mime_type or mime_type == "application/octet-stream":
        mime_type = guessed or default_mime
    return prefix, folder, extension, mime_type


def _chat_matches(call: Call, chat_id: int | str | None) -> bool:
    return chat_id is None or call.chat_id == chat_id


def _is_sent_message(call: Call, chat_id: int) -> bool:
    if not (call.done and call.ok and isinstance(call.result, dict) and "message_id" in call.result):
        return False
    sent = call.method.startswith("send") or call.method in ("forwardMessage", "copyMessage")
    return sent and call.result["chat"]["id"] == chat_id


def _text_content(text: str) -> JsonDict:
    entities = detect_entities(text)
    return {"text": text, "entities": entities} if entities else {"text": text}


def _caption_content(caption: str) -> JsonDict:
    entities = detect_entities(caption)
    return {"caption": caption, "caption_entities": entities} if entities else {"caption": caption}


def _without_reply(message: JsonDict) -> JsonDict:
    """Telegram does not nest replies: a reply_to_message has no reply_to_message of its own."""
    return copy.deepcopy({k: v for k, v in message.items() if k != "reply_to_message"})


def _photo_size(stored: StoredFile, width: int, height: int) -> JsonDict:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
        "width": width,
        "height": height,
    }


def _sample_poll(number: int) -> JsonDict:
    options = ["Monday", "Wednesday", "Friday"]
    return {
        "id": str(5_000_000_000_000_000_000 + number),
        "question": "Which day suits you for the meeting?",
        "options": [
            {"persistent_id": str(i), "text": text, "voter_count": 0} for i, text in enumerate(options)
        ],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
        "allows_revoting": False,
        "members_only": False,
    }


def _drop_none(values: JsonDict) -> JsonDict:
    return {k: v for k, v in values.items() if v is not None}


def _now() -> int:
    return int(time.time())


def tiny_png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A valid one-colour PNG of the given size."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG or JPEG, read from its header; None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


_SAMPLE_FILES: dict[str, tuple[bytes, str]] = {
    "sticker": (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(24), "sticker.webp"),
    "voice": (b"OggS\x00\x02" + bytes(58), "voice.oga"),
    "video": (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(40), "clip.mp4"),
    "document": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "letter.pdf"),
}
