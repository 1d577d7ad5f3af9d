"""What the simulated users do: write, reply, send photos and other media, edit their messages and press
the bot's buttons; each act becomes the update Telegram would send the bot."""

from __future__ import annotations

import copy

from devserver.files import _SAMPLE_FILES, tiny_png
from devserver.records import MediaKind, SimChat, SimUser, _drop_none, _now
from devserver.spec import JsonDict
from devserver.world import SimulatedWorld, _caption_content, _text_content, _without_reply


class UserActions(SimulatedWorld):
    """The ``user_*`` acts a test (or the web page) plays; each stores the message and queues its update."""

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
