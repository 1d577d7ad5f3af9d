"""The simulated world of the dev Bot API server: its users and chats, the messages, forum topics and
files Telegram would hold, and the queue of updates the world produces.

The server's parts are mixins of :class:`SimulatedWorld`, sharing its state: what users do is in
:mod:`devserver.users`, the bot's messages are built in :mod:`devserver.outgoing`, and what the bot did
(its calls, and waits on them) is read through :mod:`devserver.activity`.
"""

from __future__ import annotations

import copy
import itertools
import secrets
from collections.abc import Iterable

from devserver.files import _file_type, _photo_size, image_size
from devserver.formatting import detect_entities
from devserver.records import (
    Call,
    ForumTopic,
    SimChat,
    SimUser,
    SpecViolationError,
    StoredFile,
    _Signal,
)
from devserver.spec import ApiSpec, JsonDict, UploadedFile, bad_request

OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
"""Updates Telegram sends only to a bot that names them in allowed_updates."""
DEFAULT_PERMISSIONS: JsonDict = {
    "can_send_messages": True,
    "can_send_photos": True,
    "can_send_documents": True,
    "can_pin_messages": True,
}
"""A group's default member permissions (getChat's permissions): members may post and pin."""


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

    # ---- the update queue ---------------------------------------------------------------------------------

    def push_update(self, kind: str, payload: JsonDict) -> JsonDict:
        """Any other update (e.g. "my_chat_member"), as given; checked against the description."""
        return self._push_update(kind, payload)

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

    # ---- messages and topics ------------------------------------------------------------------------------

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

    # ---- files --------------------------------------------------------------------------------------------

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


# ---- message content -----------------------------------------------------------------------------------


def _text_content(text: str) -> JsonDict:
    entities = detect_entities(text)
    return {"text": text, "entities": entities} if entities else {"text": text}


def _caption_content(caption: str) -> JsonDict:
    entities = detect_entities(caption)
    return {"caption": caption, "caption_entities": entities} if entities else {"caption": caption}


def _without_reply(message: JsonDict) -> JsonDict:
    """Telegram does not nest replies: a reply_to_message has no reply_to_message of its own."""
    return copy.deepcopy({k: v for k, v in message.items() if k != "reply_to_message"})
