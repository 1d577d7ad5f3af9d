"""The Bot API methods the dev server simulates (besides getUpdates and the webhook methods)."""

from __future__ import annotations

import copy
import json
import re

from devserver.outgoing import BotMessages
from devserver.records import SimChat, StoredFile, _drop_none, _now
from devserver.spec import JsonDict, bad_request

MAX_CALLBACK_ANSWER_LENGTH = 200

DELETE_WINDOW_SECONDS = 48 * 3600
"""deleteMessage: "A message can only be deleted if it was sent less than 48 hours ago"."""
UNDELETABLE_SERVICE = ("forum_topic_created", "supergroup_chat_created", "channel_chat_created")
"""Service messages about a supergroup, channel or forum topic creation can't be deleted."""
MEDIA_TYPES = ("animation", "audio", "document", "photo", "video")

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)

QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Updates Telegram leaves out unless they are asked for by name in allowed_updates.

_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


class BotApiMethods(BotMessages):
    """One coroutine per simulated method, taking the checked parameters and returning the result."""

    callback_answers: dict[str, JsonDict]
    commands: dict[tuple[str, str], list[JsonDict]]

    async def _always_true(self, params: JsonDict) -> bool:
        return True

    async def _get_me(self, params: JsonDict) -> JsonDict:
        return {
            **self.bot_user.to_api(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_chat(self, params: JsonDict) -> JsonDict:
        """ChatFullInfo with the fields the description requires, and is_forum for a forum."""
        chat = self.chat(params["chat_id"])
        info: JsonDict = {
            **chat.to_api(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        if chat.type != "private":
            info["permissions"] = self.chat_permissions(chat.id)
        return info

    async def _send_message(self, params: JsonDict) -> JsonDict:
        chat = self.chat(params["chat_id"])
        content = self._formatted(params["text"], params, "text", "entities")
        preview = params.get("link_preview_options")
        if preview is None and params.get("disable_web_page_preview"):
            preview = {"is_disabled": True}
        if preview:
            content["link_preview_options"] = preview
        return self._bot_message(chat, params, content)

    async def _send_photo(self, params: JsonDict) -> JsonDict:
        chat = self.chat(params["chat_id"])
        content: JsonDict = {"photo": self._photo_sizes(self._input_file(params["photo"], "photo"))}
        content.update(self._caption(params))
        if params.get("has_spoiler"):
            content["has_media_spoiler"] = True
        if params.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        return self._bot_message(chat, params, content)

    async def _send_document(self, params: JsonDict) -> JsonDict:
        chat = self.chat(params["chat_id"])
        stored = self._input_file(params["document"], "document")
        return self._bot_message(chat, params, {"document": _document(stored), **self._caption(params)})

    async def _edit_message_text(self, params: JsonDict) -> JsonDict:
        message = self._editable(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        if "text" not in params:
            raise bad_request("message text is empty")
        content = self._formatted(params["text"], params, "text", "entities")
        edited = {k: v for k, v in message.items() if k not in ("text", "entities", "reply_markup")}
        edited.update(content)
        return self._apply_edit(message, edited, params.get("reply_markup"))

    async def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict:
        message = self._editable(params)
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        return self._apply_edit(message, edited, params.get("reply_markup"))

    def _apply_edit(self, old: JsonDict, edited: JsonDict, markup: JsonDict | None) -> JsonDict:
        """Telegram removes an inline keyboard that an edit does not repeat, and refuses no-op edits."""
        if markup and markup.get("inline_keyboard"):
            edited["reply_markup"] = markup
        unchanged = {k: v for k, v in old.items() if k != "edit_date"}
        if {k: v for k, v in edited.items() if k != "edit_date"} == unchanged:
            raise bad_request(NOT_MODIFIED)
        edited["edit_date"] = _now()
        self._store(edited)
        return copy.deepcopy(edited)

    def _editable(self, params: JsonDict) -> JsonDict:
        if "inline_message_id" in params:
            raise bad_request("MESSAGE_ID_INVALID")  # inline messages are not simulated
        for name in ("chat_id", "message_id"):
            if name not in params:
                raise bad_request(f"parameter {name} is required")
        chat = self.chat(params["chat_id"])
        message = self._find_message(chat.id, params["message_id"])
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user.id:
            raise bad_request("message can't be edited")
        return message

    async def _edit_message_caption(self, params: JsonDict) -> JsonDict:
        message = self._editable(params)
        if not any(kind in message for kind in MEDIA_TYPES):
            raise bad_request("there is no caption in the message to edit")
        edited = {
            k: v for k, v in message.items() if k not in ("caption", "caption_entities", "reply_markup")
        }
        if params.get("caption"):
            edited.update(self._caption(params))
        return self._apply_edit(message, edited, params.get("reply_markup"))

    async def _edit_message_media(self, params: JsonDict) -> JsonDict:
        """A photo, document... replaced by new media (a file id, or a file uploaded as attach://)."""
        message = self._editable(params)
        media = params["media"]
        if media.get("type") not in ("photo", "document"):
            raise bad_request("media type not simulated by the dev server")
        stored = self._input_file(media["media"], media["type"])
        if media["type"] == "photo":
            content: JsonDict = {"photo": self._photo_sizes(stored)}
        else:
            content = {"document": _document(stored)}
        if media.get("caption"):
            content.update(self._caption(media))
        kept = ("caption", "caption_entities", "reply_markup", "text", "entities", *MEDIA_TYPES)
        edited = {k: v for k, v in message.items() if k not in kept}
        edited.update(content)
        return self._apply_edit(message, edited, params.get("reply_markup"))

    async def _delete_message(self, params: JsonDict) -> bool:
        """With deleteMessage's limitations (its description in api.json): 48 hours, except for an
        administrator who may delete any message; another user's message in a group only by such an
        administrator; never a topic's or supergroup's creation message."""
        chat = self.chat(params["chat_id"])
        message = self._find_message(chat.id, params["message_id"])
        if message is None:
            raise bad_request("message to delete not found")
        if not self._may_delete(chat, message):
            raise bad_request("message can't be deleted")
        del self._messages[(chat.id, params["message_id"])]
        return True

    def _may_delete(self, chat: SimChat, message: JsonDict) -> bool:
        if any(service in message for service in UNDELETABLE_SERVICE):
            return False
        if self.bot_deletes_any_message(chat):
            return True
        if _now() - int(message["date"]) >= DELETE_WINDOW_SECONDS:
            return False
        own = message.get("from", {}).get("id") == self.bot_user.id
        return own or chat.type == "private"

    async def _answer_callback_query(self, params: JsonDict) -> bool:
        query_id = params["callback_query_id"]
        if query_id not in self._callback_queries or query_id in self.callback_answers:
            raise bad_request(QUERY_INVALID)
        if len(params.get("text", "")) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        self.callback_answers[query_id] = params
        return True

    async def _send_chat_action(self, params: JsonDict) -> bool:
        self.chat(params["chat_id"])
        if params["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def _get_file(self, params: JsonDict) -> JsonDict:
        stored = self._files.get(params["file_id"])
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return stored.to_api()

    async def _set_my_commands(self, params: JsonDict) -> bool:
        commands = params["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands")
        for command in commands:
            if not _COMMAND_RE.fullmatch(command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"].strip()) <= 256:
                raise bad_request("command description must be 1-256 characters long")
        self.commands[self._commands_key(params)] = [dict(c) for c in commands]
        return True

    async def _get_my_commands(self, params: JsonDict) -> list[JsonDict]:
        return [dict(c) for c in self.commands.get(self._commands_key(params), [])]

    async def _delete_my_commands(self, params: JsonDict) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _commands_key(self, params: JsonDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if "chat_id" in scope:
            self.chat(scope["chat_id"])
        language = params.get("language_code", "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code specified")
        return json.dumps(scope, sort_keys=True), language

    async def _pin_chat_message(self, params: JsonDict) -> bool:
        chat = self.chat(params["chat_id"])
        if self._find_message(chat.id, params["message_id"]) is None:
            raise bad_request("message to pin not found")
        pinned = self._pinned.setdefault(chat.id, [])
        if params["message_id"] in pinned:
            pinned.remove(params["message_id"])
        pinned.append(params["message_id"])
        return True

    async def _unpin_chat_message(self, params: JsonDict) -> bool:
        chat = self.chat(params["chat_id"])
        pinned = self._pinned.get(chat.id, [])
        message_id = params.get("message_id", pinned[-1] if pinned else None)
        if message_id in pinned:
            pinned.remove(message_id)
        return True


def _document(stored: StoredFile) -> JsonDict:
    """A Document object for a file the bot uploaded."""
    return _drop_none(
        {
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
    )
