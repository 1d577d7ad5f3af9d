"""The Bot API methods the dev server simulates (besides getUpdates and the webhook methods)."""

from __future__ import annotations

import copy
import json
import re

from bot.devserver.spec import JsonDict, bad_request
from bot.devserver.world import SimulatedWorld, _drop_none, _now

MAX_CALLBACK_ANSWER_LENGTH = 200

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


class BotApiMethods(SimulatedWorld):
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
        document = {
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
        return self._bot_message(chat, params, {"document": _drop_none(document), **self._caption(params)})

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

    async def _delete_message(self, params: JsonDict) -> bool:
        chat = self.chat(params["chat_id"])
        if self._messages.pop((chat.id, params["message_id"]), None) is None:
            raise bad_request("message to delete not found")
        return True

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
