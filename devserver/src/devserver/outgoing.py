"""The messages the bot sends, built as Telegram builds them: formatted text and captions with Telegram's
checks, inline keyboards, the message replied to and the forum topic a message goes to."""

from __future__ import annotations

import copy

from devserver.formatting import detect_entities, parse_formatted
from devserver.records import ForumTopic, SimChat, _now
from devserver.spec import JsonDict, bad_request
from devserver.world import SimulatedWorld, _without_reply

MAX_TEXT_LENGTH = 4096

MAX_CAPTION_LENGTH = 1024

MAX_CALLBACK_DATA_BYTES = 64

_NOT_BUTTON_ACTIONS = frozenset({"text", "icon_custom_emoji_id", "style"})


class BotMessages(SimulatedWorld):
    """Builds and stores the messages of the bot's send and edit methods."""

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
