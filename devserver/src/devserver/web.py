"""The dev server's web page: the simulated world shown as Telegram clients would show it, and played.

``GET /`` serves a page (static HTML and vanilla JavaScript in ``static/``, no build step) with a private
chat on one side (of a user in no group, a parent, or of a group member) and the groups on the other. The
page only reads the world and acts as its users would, through these JSON endpoints:

- ``GET /_sim/world``: the bot, the users, and the groups with their members and forum topics;
- ``GET /_sim/chat?chat_id=``: every message in a chat as it is now (edited, deleted ones gone), oldest
  first, and the pinned message ids;
- ``POST /_sim/text`` ``{"user_id", "chat_id", "text", "reply_to"?, "thread_id"?}``: the user writes, or
  replies to a message, or writes in a forum topic;
- ``POST /_sim/edit`` ``{"user_id", "chat_id", "message_id", "text"}``: the user edits their own text;
- ``POST /_sim/file`` (multipart: user_id, chat_id?, caption?, file): the user sends a PNG or JPEG as a
  photo, any other file as a document;
- ``POST /_sim/press`` (see :mod:`~devserver.http_api`) and ``GET /_sim/answer?query_id=``: the
  button press and the bot's answer to it (answerCallbackQuery's text, shown as Telegram's toast);
- ``GET /_sim/file/{file_id}``: a file's bytes, to show a photo or download a document.

Every action goes through the same ``user_*`` methods tests use, so the bot sees the updates a real
client would produce.
"""

from __future__ import annotations

import copy
from pathlib import Path

from aiohttp import web
from aiohttp.helpers import content_disposition_header

from devserver.activity import BotActivity
from devserver.files import image_size
from devserver.records import SimChat, SimUser
from devserver.spec import ApiRequestError, JsonDict
from devserver.users import UserActions
from devserver.world import _caption_content

STATIC = Path(__file__).with_name("static")


class WebPage(UserActions, BotActivity):
    """The page and its JSON endpoints, added to the server's aiohttp application."""

    callback_answers: dict[str, JsonDict]

    def add_page_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._page_index)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/_sim/world", self._page_world)
        app.router.add_get("/_sim/chat", self._page_chat)
        app.router.add_post("/_sim/text", self._page_text)
        app.router.add_post("/_sim/edit", self._page_edit)
        app.router.add_post("/_sim/file", self._page_upload)
        app.router.add_get("/_sim/answer", self._page_answer)
        app.router.add_get("/_sim/file/{file_id}", self._page_file)

    def chat_log(self, chat_id: int) -> list[JsonDict]:
        """Every message in the chat as it is now, from the users, the bot and Telegram, oldest first."""
        found = [m for (chat, _), m in self._messages.items() if chat == chat_id]
        return [copy.deepcopy(m) for m in sorted(found, key=lambda m: int(m["message_id"]))]

    def world_summary(self) -> JsonDict:
        """The bot, the users and the groups, as the page lists them."""
        in_groups = {user_id for members in self._members.values() for user_id in members}
        users = [
            {**user.to_api(), "name": _name(user), "in_groups": user.id in in_groups}
            for user in self._users.values()
            if not user.is_bot
        ]
        groups = [self._group_summary(chat) for chat in self._chats.values() if chat.type != "private"]
        return {
            "bot": {**self.bot_user.to_api(), "name": _name(self.bot_user)},
            "users": users,
            "groups": groups,
        }

    def _group_summary(self, chat: SimChat) -> JsonDict:
        members = self._members.get(chat.id, {})
        return {
            **chat.to_api(),
            "members": [
                {"id": user_id, "name": _name(self._users[user_id]), "status": status}
                for user_id, status in members.items()
                if user_id in self._users
            ],
            "topics": [{**t.to_api(), "closed": t.closed} for t in self.topics(chat.id)],
        }

    async def _page_index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _page_world(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True, "result": self.world_summary()})

    async def _page_chat(self, request: web.Request) -> web.StreamResponse:
        try:
            chat = self.chat(int(request.query["chat_id"]))
        except (KeyError, ValueError, ApiRequestError) as exc:
            return _refused(exc)
        result = {"messages": self.chat_log(chat.id), "pinned": self.pinned_messages(chat.id)}
        return web.json_response({"ok": True, "result": result})

    async def _page_text(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            user, chat = self._page_actor(body)
            text = str(body["text"])
            if body.get("reply_to") is not None:
                replied = {"chat": {"id": chat.id}, "message_id": int(body["reply_to"])}
                message = self.user_replies_to(user, replied, text, chat)
            else:
                thread = body.get("thread_id")
                message = self.user_sends_text(
                    user, text, chat, thread_id=None if thread is None else int(thread)
                )
        except (KeyError, ValueError, TypeError, ApiRequestError) as exc:
            return _refused(exc)
        return web.json_response({"ok": True, "result": message})

    async def _page_edit(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            user, chat = self._page_actor(body)
            edited = {"chat": {"id": chat.id}, "message_id": int(body["message_id"])}
            message = self.user_edits_message(user, edited, str(body["text"]))
        except (KeyError, ValueError, TypeError, ApiRequestError) as exc:
            return _refused(exc)
        return web.json_response({"ok": True, "result": message})

    async def _page_upload(self, request: web.Request) -> web.StreamResponse:
        try:
            form = await request.post()
            user, chat = self._page_actor(dict(form))
            upload = form["file"]
            if not isinstance(upload, web.FileField):
                raise ValueError("file must be a file")
            with upload.file:
                data = upload.file.read()
            caption = str(form.get("caption") or "") or None
            if image_size(data) is not None:
                message = self.user_sends_photo(user, caption, chat, data)
            else:
                message = self._user_sends_document(user, chat, data, upload, caption)
        except (KeyError, ValueError, TypeError, ApiRequestError) as exc:
            return _refused(exc)
        return web.json_response({"ok": True, "result": message})

    def _user_sends_document(
        self, user: SimUser, chat: SimChat, data: bytes, upload: web.FileField, caption: str | None
    ) -> JsonDict:
        """A file the user attached, as Telegram gives it to the bot: a Document it can download."""
        stored = self._store_file(data, "document", filename=upload.filename, mime_type=upload.content_type)
        document = {
            **stored.to_api(),
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
        }
        del document["file_path"]
        content: JsonDict = {"document": {k: v for k, v in document.items() if v is not None}}
        if caption:
            content.update(_caption_content(caption))
        return self._user_message(user, chat, content)

    async def _page_answer(self, request: web.Request) -> web.StreamResponse:
        """The bot's answerCallbackQuery to a press, or null while it has not answered."""
        answer = self.callback_answers.get(request.query.get("query_id", ""))
        return web.json_response({"ok": True, "result": answer})

    async def _page_file(self, request: web.Request) -> web.StreamResponse:
        stored = self._files.get(request.match_info["file_id"])
        if stored is None:
            return _refused(KeyError("no such file"), status=404)
        headers = {}
        if stored.file_name:
            headers["Content-Disposition"] = content_disposition_header(
                "attachment", filename=stored.file_name
            )
        return web.Response(body=stored.data, content_type=stored.mime_type, headers=headers)

    def _page_actor(self, body: dict[str, object]) -> tuple[SimUser, SimChat]:
        """The known user acting and the chat they act in (their private chat unless chat_id is given):
        as in Telegram, only their own private chat or a group they are a member of."""
        user = self._users.get(int(str(body["user_id"])))
        if user is None:
            raise ValueError("no such user")
        chat_id = body.get("chat_id")
        chat = self.chat(int(str(chat_id))) if chat_id is not None else self.private_chat(user)
        if chat.type == "private" and chat.id != user.id:
            raise ValueError("a user writes to the bot only in their own private chat")
        if chat.type != "private" and user.id not in self._members.get(chat.id, {}):
            raise ValueError(f"{_name(user)} is not a member of {chat.title}")
        return user, chat


def _name(user: SimUser) -> str:
    return f"{user.first_name} {user.last_name}" if user.last_name else user.first_name


def _refused(exc: BaseException, status: int = 400) -> web.StreamResponse:
    description = exc.description if isinstance(exc, ApiRequestError) else str(exc)
    return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)
