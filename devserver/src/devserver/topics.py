"""Forum topics: createForumTopic, editForumTopic, closeForumTopic, reopenForumTopic, deleteForumTopic.

A topic lives in a supergroup with topics (``is_forum``); its id (message_thread_id) is the message id of
the forum_topic_created service message, and every message in it carries that id. Closing and reopening
post service messages as Telegram does; members cannot write in a closed topic and the bot is refused with
TOPIC_CLOSED until it reopens it.
"""

from __future__ import annotations

from devserver.records import ForumTopic, SimChat, _now
from devserver.spec import JsonDict, bad_request
from devserver.world import SimulatedWorld

TOPIC_ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
"""The colours createForumTopic accepts (its description in api.json)."""
MAX_TOPIC_NAME = 128


class ForumTopics(SimulatedWorld):
    """The forum topic methods of the Bot API."""

    async def _create_forum_topic(self, params: JsonDict) -> JsonDict:
        chat = self._forum(params["chat_id"])
        name = self._topic_name(params["name"])
        color = params.get("icon_color", TOPIC_ICON_COLORS[0])
        if color not in TOPIC_ICON_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")  # hypothetical wording; the code is Telegram's
        created = {"name": name, "icon_color": color}
        if params.get("icon_custom_emoji_id"):
            created["icon_custom_emoji_id"] = params["icon_custom_emoji_id"]
        thread_id = self._next_message_id(chat.id)
        topic = ForumTopic(chat.id, thread_id, name, color, params.get("icon_custom_emoji_id"))
        self._topics[(chat.id, thread_id)] = topic
        self._service_message(chat, topic, thread_id, {"forum_topic_created": created})
        return topic.to_api()

    async def _edit_forum_topic(self, params: JsonDict) -> bool:
        chat = self._forum(params["chat_id"])
        topic = self._existing_topic(chat, params["message_thread_id"])
        edited: JsonDict = {}
        if "name" in params:
            edited["name"] = topic.name = self._topic_name(params["name"])
        if "icon_custom_emoji_id" in params:
            edited["icon_custom_emoji_id"] = params["icon_custom_emoji_id"]
            topic.icon_custom_emoji_id = params["icon_custom_emoji_id"] or None
        if not edited:
            raise bad_request("TOPIC_NOT_MODIFIED")
        self._service_message(chat, topic, self._next_message_id(chat.id), {"forum_topic_edited": edited})
        return True

    async def _close_forum_topic(self, params: JsonDict) -> bool:
        return self._set_closed(params, closed=True)

    async def _reopen_forum_topic(self, params: JsonDict) -> bool:
        return self._set_closed(params, closed=False)

    async def _delete_forum_topic(self, params: JsonDict) -> bool:
        """ "In the case of a supergroup chat the bot must be an administrator in the chat for this to
        work and must have the can_delete_messages administrator rights"."""
        chat = self._forum(params["chat_id"])
        topic = self._existing_topic(chat, params["message_thread_id"])
        if not self.bot_deletes_any_message(chat):
            raise bad_request("not enough rights to delete the topic")  # hypothetical wording
        del self._topics[(chat.id, topic.message_thread_id)]
        for key in [
            k for k, m in self._messages.items() if m.get("message_thread_id") == topic.message_thread_id
        ]:
            if key[0] == chat.id:
                del self._messages[key]
        return True

    def _set_closed(self, params: JsonDict, *, closed: bool) -> bool:
        chat = self._forum(params["chat_id"])
        topic = self._existing_topic(chat, params["message_thread_id"])
        if topic.closed == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = closed
        service: JsonDict = {"forum_topic_closed": {}} if closed else {"forum_topic_reopened": {}}
        self._service_message(chat, topic, self._next_message_id(chat.id), service)
        return True

    def _forum(self, chat_id: int | str) -> SimChat:
        chat = self.chat(chat_id)
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        return chat

    def _existing_topic(self, chat: SimChat, thread_id: int) -> ForumTopic:
        topic = self._topics.get((chat.id, thread_id))
        if topic is None:
            raise bad_request("message thread not found")
        return topic

    @staticmethod
    def _topic_name(name: str) -> str:
        if not 1 <= len(name) <= MAX_TOPIC_NAME:
            raise bad_request("TOPIC_NAME_INVALID")
        return name

    def _service_message(self, chat: SimChat, topic: ForumTopic, message_id: int, content: JsonDict) -> None:
        message: JsonDict = {
            "message_id": message_id,
            "message_thread_id": topic.message_thread_id,
            "from": self.bot_user.to_api(),
            "chat": chat.to_api(),
            "date": _now(),
            "is_topic_message": True,
            **content,
        }
        self._store(message)
