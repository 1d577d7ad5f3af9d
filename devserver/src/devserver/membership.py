"""The bot's membership of groups: a group that became a supergroup, removed the bot or restricts it.

Telegram answers such a chat with its own errors, which the bot must handle for an urgent case still to reach
a person: 400 with parameters.migrate_to_chat_id for a migrated group, 403 for a bot that was kicked or left,
400 "not enough rights" for a restricted bot. getChatMember tells the bot its own status, as the description
defines it.

The users in each group too: getChatMember and getChatMemberCount (the bot included, as Telegram counts)
answer from them, and a test adding or removing one (add_member / remove_member) produces what Telegram
sends: a message with new_chat_members or left_chat_member, and a chat_member update, which reaches the
bot only when it is an administrator there and asked for "chat_member" in allowed_updates. A user who never
started the bot cannot be written to: 403 "Forbidden: bot can't initiate conversation with a user".

A group that becomes a supergroup also announces it, as Telegram does, with two service messages: one with
migrate_to_chat_id in the old group (from the member who changed it), then one with migrate_from_chat_id
in the new supergroup (sent on behalf of the supergroup itself, from @GroupAnonymousBot).
"""

from __future__ import annotations

from typing import Literal

from devserver.records import SimChat, SimUser, _now
from devserver.spec import ApiRequestError, JsonDict, bad_request
from devserver.world import DEFAULT_PERMISSIONS, SimulatedWorld

MemberStatus = Literal["member", "administrator", "creator"]
CANNOT_INITIATE = "Forbidden: bot can't initiate conversation with a user"

BotStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]

RESTRICTED_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)
ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)
PINNING = ("can_pin_messages", "manage pinned messages in the chat")
NEEDED_RIGHTS = {
    "sendMessage": ("can_send_messages", "send text messages to the chat"),
    "sendPhoto": ("can_send_photos", "send photos to the chat"),
    "sendDocument": ("can_send_documents", "send documents to the chat"),
    "pinChatMessage": PINNING,
    "unpinChatMessage": PINNING,
}
NO_CHAT_CHECK = frozenset({"getUpdates", "getMe", "setMyCommands", "getMyCommands", "deleteMyCommands"})
GROUP_ANONYMOUS_BOT = SimUser(
    1087968824, "Group", username="GroupAnonymousBot", language_code=None, is_bot=True
)
"""The fake sender Telegram puts in `from` of a message sent on behalf of a group (sender_chat)."""


def migrated_error(new_chat_id: int) -> ApiRequestError:
    """What Telegram answers for a group that became a supergroup."""
    return ApiRequestError(
        400, "Bad Request: group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": new_chat_id}
    )


def removed_error(status: str, chat_type: str) -> ApiRequestError:
    kind = "supergroup" if chat_type == "supergroup" else "group"
    if status == "kicked":
        return ApiRequestError(403, f"Forbidden: bot was kicked from the {kind} chat")
    return ApiRequestError(403, f"Forbidden: bot is not a member of the {kind} chat")


class ChatMembership(SimulatedWorld):
    """The bot's status in each group (a member with the group's permissions unless set otherwise)."""

    def migrate_group(self, chat_id: int, by: SimUser | None = None, *, announce: bool = True) -> SimChat:
        """The group becomes a supergroup with a new id (-100…), as when an admin (``by``; an anonymous
        admin if None) enables a supergroup feature: from now on every request for the old id fails with
        400 and migrate_to_chat_id. The bot is told by the two service messages Telegram sends, unless
        ``announce`` is False (a bot that missed them: it was down longer than Telegram keeps updates)."""
        old = self.chat(chat_id)
        if old.type != "group":
            raise ValueError(f"only a basic group can become a supergroup, not a {old.type}")
        new = self.create_group(old.title or "Supergroup", supergroup=True)
        self._migrated[old.id] = new.id
        if old.id in self._bot_members:
            self._bot_members[new.id] = self._bot_members[old.id]
        if announce:
            self._announce(old, {"migrate_to_chat_id": new.id}, by)
            self._announce(new, {"migrate_from_chat_id": old.id}, None)
        return new

    def _announce(self, chat: SimChat, content: JsonDict, by: SimUser | None) -> None:
        """A service message in the chat, from ``by`` or else on behalf of the chat itself."""
        anonymous = {"from": GROUP_ANONYMOUS_BOT.to_api(), "sender_chat": chat.to_api()}
        sender: JsonDict = {"from": by.to_api()} if by is not None else anonymous
        message = {
            "message_id": self._next_message_id(chat.id),
            **sender,
            "chat": chat.to_api(),
            "date": _now(),
            **content,
        }
        self._store(message)
        self._push_update("message", message)

    def set_bot_status(self, chat_id: int, status: BotStatus, **rights: bool) -> None:
        """The bot's membership of a group, as getChatMember gives it: "kicked" and "left" make requests
        for the chat fail with 403; "restricted" (rights such as can_send_messages=False), an administrator
        or a member (the group's permissions) without can_pin_messages make sending or pinning fail."""
        chat = self.chat(chat_id)
        member: JsonDict = {"status": status, "user": self.bot_user.to_api()}
        if status == "restricted":
            member |= {name: rights.get(name, True) for name in RESTRICTED_RIGHTS}
            member |= {"is_member": True, "until_date": 0}
        elif status == "administrator":
            member |= {name: rights.get(name, True) for name in ADMIN_RIGHTS}
            member |= {"can_be_edited": False, "is_anonymous": False}
            if chat.type == "supergroup":
                member["can_pin_messages"] = rights.get("can_pin_messages", True)
                member["can_manage_topics"] = rights.get("can_manage_topics", True)
        elif status == "kicked":
            member["until_date"] = 0
        elif status == "creator":
            member["is_anonymous"] = False
        elif status == "member":
            self._permissions[chat.id] = {**DEFAULT_PERMISSIONS, **rights}
        self._bot_members[chat.id] = member

    def add_bot(self, chat_id: int, by: SimUser) -> JsonDict:
        """``by`` adds the bot to the group (as a member with the group's permissions): what Telegram
        sends, the my_chat_member update and the service message with new_chat_members. Returns the
        service message."""
        chat = self.chat(chat_id)
        left: JsonDict = {"status": "left", "user": self.bot_user.to_api()}
        member: JsonDict = {"status": "member", "user": self.bot_user.to_api()}
        self._bot_members[chat.id] = member
        change = {"chat": chat.to_api(), "from": by.to_api(), "date": _now()}
        self._push_update("my_chat_member", {**change, "old_chat_member": left, "new_chat_member": member})
        return self._member_message(chat, by, {"new_chat_members": [self.bot_user.to_api()]})

    def _bot_member(self, chat: SimChat) -> JsonDict:
        default: JsonDict = {"status": "member", "user": self.bot_user.to_api()}
        return self._bot_members.get(chat.id, default)

    def _check_bot_may(self, method: str, chat_id: int | str | None) -> None:
        """Telegram's answers for a chat that moved, removed the bot or does not let it do this, and for
        the private chat of a user who never started the bot."""
        if not isinstance(chat_id, int) or method in NO_CHAT_CHECK:
            return
        if chat_id > 0:
            if chat_id in self._never_started:
                raise ApiRequestError(403, CANNOT_INITIATE)
            return
        if chat_id in self._migrated:
            raise migrated_error(self._migrated[chat_id])
        chat = self._chats.get(chat_id)
        if chat is None:
            return  # the method's own handler answers "chat not found"
        member = self._bot_member(chat)
        if member["status"] in ("kicked", "left"):
            raise removed_error(member["status"], chat.type)
        right = NEEDED_RIGHTS.get(method)
        if right is not None and not self._bot_has(chat, member, right[0]):
            raise bad_request(f"not enough rights to {right[1]}")

    def _bot_has(self, chat: SimChat, member: JsonDict, right: str) -> bool:
        if member["status"] in ("creator", "administrator"):
            return bool(member.get(right, True))
        if member["status"] == "restricted":
            return bool(member.get(right, False))
        return bool(self.chat_permissions(chat.id).get(right, True))

    async def _leave_chat(self, params: JsonDict) -> bool:
        """leaveChat: the bot leaves a group, supergroup or channel. From then on requests for the chat
        fail with 403 (as for a bot that left), and the bot gets the my_chat_member update Telegram sends
        about its own membership."""
        chat = self.chat(params["chat_id"])
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        old = self._bot_member(chat)
        left: JsonDict = {"status": "left", "user": self.bot_user.to_api()}
        self._bot_members[chat.id] = left
        change = {
            "chat": chat.to_api(),
            "from": self.bot_user.to_api(),
            "date": _now(),
            "old_chat_member": old,
            "new_chat_member": left,
        }
        self._push_update("my_chat_member", change)
        return True

    async def _get_chat_member(self, params: JsonDict) -> JsonDict:
        chat = self.chat(params["chat_id"])
        user_id = params["user_id"]
        if user_id == self.bot_user.id:
            return self._bot_member(chat)
        user = self._users.get(user_id)
        if user is None:
            raise bad_request("user not found")
        if chat.type == "private":
            return {"status": "member", "user": user.to_api()}
        return self._member_object(chat, user, self._members.get(chat.id, {}).get(user.id, "left"))

    async def _get_chat_member_count(self, params: JsonDict) -> int:
        """The users in the group and the bot, as Telegram counts them."""
        chat = self.chat(params["chat_id"])
        if chat.type == "private":
            return 1 if chat.id == self.bot_user.id else 2
        return len(self._members.get(chat.id, {})) + 1

    # ---- members joining and leaving ---------------------------------------------------------------------

    def add_member(
        self, chat_id: int, user: SimUser, *, by: SimUser | None = None, status: MemberStatus = "member"
    ) -> JsonDict:
        """``user`` joins the group (added by ``by``, or by invite link): the service message and the
        chat_member update Telegram sends. Returns the service message."""
        chat = self.chat(chat_id)
        self._users.setdefault(user.id, user)
        old = self._members.get(chat.id, {}).get(user.id, "left")
        self._members.setdefault(chat.id, {})[user.id] = status
        self._member_update(chat, user, by or user, old, status)
        return self._member_message(chat, by or user, {"new_chat_members": [user.to_api()]})

    def remove_member(self, chat_id: int, user: SimUser, *, by: SimUser | None = None) -> JsonDict:
        """``user`` leaves the group (or is removed by ``by``). Returns the service message."""
        chat = self.chat(chat_id)
        old = self._members.get(chat.id, {}).pop(user.id, None)
        if old is None:
            raise ValueError(f"user {user.id} is not in chat {chat.id}")
        self._member_update(chat, user, by or user, old, "left")
        return self._member_message(chat, by or user, {"left_chat_member": user.to_api()})

    def _member_object(self, chat: SimChat, user: SimUser, status: str) -> JsonDict:
        member: JsonDict = {"status": status, "user": user.to_api()}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member |= dict.fromkeys(ADMIN_RIGHTS, True)
            member |= {"can_be_edited": True, "is_anonymous": False}
        return member

    def _member_update(self, chat: SimChat, user: SimUser, by: SimUser, old: str, new: str) -> None:
        """The chat_member update: only an administrator bot receives it (and only when asked for)."""
        update: JsonDict = {
            "chat": chat.to_api(),
            "from": by.to_api(),
            "date": _now(),
            "old_chat_member": self._member_object(chat, user, old),
            "new_chat_member": self._member_object(chat, user, new),
        }
        if self._bot_member(chat)["status"] in ("administrator", "creator"):
            self._push_update("chat_member", update)
        else:
            self.dropped_updates.append({"update_id": None, "chat_member": update})

    def _member_message(self, chat: SimChat, sender: SimUser, content: JsonDict) -> JsonDict:
        message: JsonDict = {
            "message_id": self._next_message_id(chat.id),
            "from": sender.to_api(),
            "chat": chat.to_api(),
            "date": _now(),
            **content,
        }
        self._store(message)
        self._push_update("message", message)
        return dict(message)
