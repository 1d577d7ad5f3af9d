"""A local server that behaves like Telegram's Bot API, for end-to-end tests and demos of a PTB bot.

It speaks real HTTP on 127.0.0.1 so that python-telegram-bot's own request code runs unchanged: point an
``ApplicationBuilder`` at :attr:`BotApiServer.base_url` and :attr:`BotApiServer.base_file_url`. Every
request is checked against the Bot API description (see :mod:`bot.devserver.spec`) and answered with
Telegram's error texts; a test plays the parents' side through the ``user_*`` methods, reads what the bot
did through :attr:`BotApiServer.calls` and the ``wait_for_*`` helpers, and makes Telegram misbehave with
:meth:`BotApiServer.inject_fault`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ipaddress
import itertools
import json
import logging
import mimetypes
import re
import secrets
import socket
import struct
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.devserver.formatting import detect_entities, parse_formatted
from bot.devserver.spec import (
    ApiRequestError,
    ApiSpec,
    FieldSpec,
    JsonDict,
    MethodSpec,
    UploadedFile,
    bad_request,
)

log = logging.getLogger(__name__)

FaultKind = Literal["timeout", "server_error", "flood", "blocked", "network"]
MediaKind = Literal["photo", "sticker", "voice", "video", "document", "location", "contact", "poll"]
ChatType = Literal["private", "group", "supergroup"]
Handler = Callable[[JsonDict], Awaitable[Any]]
_T = TypeVar("_T")

DEFAULT_TOKEN = "123456:TEST-TOKEN"  # noqa: S105 - a made-up token for a server on loopback
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
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
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Parameters that Telegram still accepts though the description no longer lists them.
_LEGACY_REPLY = {
    "reply_to_message_id": FieldSpec("reply_to_message_id", ("Integer",), False),
    "allow_sending_without_reply": FieldSpec("allow_sending_without_reply", ("Boolean",), False),
}
_LEGACY_PREVIEW = {"disable_web_page_preview": FieldSpec("disable_web_page_preview", ("Boolean",), False)}
_NOT_BUTTON_ACTIONS = frozenset({"text", "icon_custom_emoji_id", "style"})
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_FILE_KINDS = {  # kind: (file_id prefix, folder of file_path, default extension, default MIME type)
    "photo": ("AgACAgIAAxkBAAI", "photos", ".jpg", "image/jpeg"),
    "document": ("BQACAgIAAxkBAAI", "documents", ".bin", "application/octet-stream"),
    "sticker": ("CAACAgIAAxkBAAI", "stickers", ".webp", "image/webp"),
    "voice": ("AwACAgIAAxkBAAI", "voice", ".oga", "audio/ogg"),
    "video": ("BAACAgIAAxkBAAI", "videos", ".mp4", "video/mp4"),
}


class SpecViolationError(AssertionError):
    """The dev server built an object that does not follow the Bot API description (a devserver bug)."""


# ---- records and simulated people -----------------------------------------------------------------------


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

    def to_api(self) -> JsonDict:
        return _drop_none(
            {
                "id": self.id,
                "type": self.type,
                "title": self.title,
                "username": self.username,
                "first_name": self.first_name,
                "last_name": self.last_name,
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


@dataclass
class Fault:
    """A planned misbehaviour; ``times`` None means until :meth:`BotApiServer.clear_faults`."""

    method: str
    kind: FaultKind
    chat_id: int | str | None = None
    times: int | None = 1
    retry_after: int = 1
    delay: float | None = None
    status: int = 500

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        if self.method != "*" and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id


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


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to the webhook; ``status`` None when the connection failed."""

    update_id: int
    url: str
    attempt: int
    status: int | None
    error: str | None
    time: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    failed_updates: list[JsonDict] = field(default_factory=list)


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


# ---- the server -----------------------------------------------------------------------------------------


class BotApiServer:
    """Telegram's Bot API on a loopback port, with a simulated world of users, chats and updates.

    Use as ``async with BotApiServer(token="123:ABC") as server:``; PTB then takes ``server.base_url`` and
    ``server.base_file_url``. ``check_results`` checks every object the server hands out against the API
    description: a violation becomes a 500 answer (and :class:`SpecViolationError` in simulation calls),
    and is listed in :attr:`spec_violations`.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        spec: ApiSpec | None = None,
        spec_path: str | None = None,
        check_results: bool = True,
        bot_first_name: str = "Dev Bot",
        bot_username: str = "dev_test_bot",
        timeout_fault_delay: float = 30.0,
        webhook_attempts: int = 4,
        webhook_retry_delay: float = 0.2,
        webhook_timeout: float = 5.0,
        allow_external_webhooks: bool = False,
    ) -> None:
        self.spec = spec if spec is not None else ApiSpec.load(spec_path)
        self.token = token
        self.host = host
        self.port = port
        self.check_results = check_results
        self.timeout_fault_delay = timeout_fault_delay
        self.webhook_attempts = webhook_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.allow_external_webhooks = allow_external_webhooks
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456789
        self.bot_user = SimUser(
            bot_id, bot_first_name, username=bot_username, language_code=None, is_bot=True
        )

        self.calls: list[Call] = []
        self.spec_violations: list[str] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.dropped_updates: list[JsonDict] = []
        self.callback_answers: dict[str, JsonDict] = {}
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self.faults: list[Fault] = []

        self._users: dict[int, SimUser] = {}
        self._chats: dict[int, SimChat] = {}
        self._messages: dict[tuple[int, int], JsonDict] = {}
        self._bot_messages: dict[int, list[int]] = {}
        self._last_message_id: dict[int, int] = {}
        self._pinned: dict[int, list[int]] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._callback_queries: dict[str, JsonDict] = {}
        self._pending: list[JsonDict] = []
        self._allowed_updates: list[str] | None = None
        self._webhook: WebhookConfig | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._poll_generation = 0
        self._claimed_calls: set[int] = set()
        self._claimed_messages: set[int] = set()
        self._ids = itertools.count(1)
        self._next_update_id = 700_000_001
        self._next_user_id = 5_000_000_001
        self._next_group_id = 4_000_000_001
        self._button_actions = (
            frozenset(self.spec.types["InlineKeyboardButton"].fields or ()) - _NOT_BUTTON_ACTIONS
        )

        self._updates_changed = _Signal()
        self._calls_changed = _Signal()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "getFile": self._get_file,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "pinChatMessage": self._pin_chat_message,
            "unpinChatMessage": self._unpin_chat_message,
            "close": self._always_true,
            "logOut": self._always_true,
        }

    # ---- lifecycle ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``: PTB appends ``{token}/{method}``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def start(self) -> BotApiServer:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES, middlewares=[_nodelay_middleware])
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_post("/_sim/send", self._handle_sim_send)
        app.router.add_post("/_sim/press", self._handle_sim_press)
        app.router.add_get("/_sim/messages", self._handle_sim_messages)
        # handler_cancellation: a long poll whose client went away must stop waiting
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._client = aiohttp.ClientSession()
        self._closing.clear()
        return self

    async def stop(self) -> None:
        self._closing.set()
        self._updates_changed.notify()
        self._calls_changed.notify()
        await self._stop_webhook_worker()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def connection_nodelay(self) -> list[bool]:
        """TCP_NODELAY of each open accepted connection (a test looks for 40 ms delayed-ACK stalls)."""
        if self._runner is None or self._runner.server is None:
            return []
        flags = []
        for handler in self._runner.server.connections:
            sock = handler.transport.get_extra_info("socket") if handler.transport else None
            if sock is not None:
                flags.append(bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
        return flags

    # ---- HTTP layer --------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["method"]
        spec = self.spec.find_method(name)
        call = Call(spec.name if spec else name, {}, None, time.time(), request.method)
        self.calls.append(call)
        try:
            return await self._answer(request, call, spec)
        finally:
            call.done = True
            self._calls_changed.notify()

    async def _answer(self, request: web.Request, call: Call, spec: MethodSpec | None) -> web.StreamResponse:
        try:
            if request.match_info["token"] != self.token:
                raise ApiRequestError(401, "Unauthorized")
            if spec is None:
                raise ApiRequestError(404, "Not Found: method not found")
            raw, files = await _read_params(request)
            for name in [n for n in files if n in spec.fields and n not in raw]:
                raw[name] = files.pop(name)
            call.params, call.chat_id = dict(raw), _chat_id_of(raw)
            fault = self._take_fault(call)
            if fault is not None:
                return await self._apply_fault(request, call, fault)
            call.params = self.spec.parse_params(spec, raw, files, _legacy_fields(spec))
            result = await self._dispatch(spec, call.params)
        except ApiRequestError as err:
            return _reply(call, err.error_code, err.envelope())
        call.result = result
        return _reply(call, 200, {"ok": True, "result": result})

    async def _dispatch(self, spec: MethodSpec, params: JsonDict) -> Any:
        if "reply_markup" in params:
            self._check_reply_markup(params["reply_markup"])
        handler = self._handlers.get(spec.name)
        if handler is not None:
            try:
                result = await handler(params)
            except SpecViolationError as err:
                raise ApiRequestError(500, f"Internal Server Error: {err}") from err
        elif spec.returns == ("Boolean",):
            result = True  # accepted, not simulated: e.g. setMyDescription
        else:
            raise ApiRequestError(501, f"Not Implemented: {spec.name} is not simulated by the dev server")
        problems = self.spec.check_result(spec.name, result) if self.check_results else []
        if problems:
            self.spec_violations += [f"{spec.name}: {p}" for p in problems]
            raise ApiRequestError(
                500, f"Internal Server Error: dev server result breaks the API: {problems[0]}"
            )
        return result

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type)

    # ---- faults ------------------------------------------------------------------------------------------

    def inject_fault(
        self,
        method: str,
        chat_id: int | str | None = None,
        kind: FaultKind = "server_error",
        times: int | None = 1,
        retry_after: int = 1,
        delay: float | None = None,
        status: int = 500,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` ("*" for any) in ``chat_id`` (None: any) fail.

        kinds: "timeout" holds the request ``delay`` seconds (default :attr:`timeout_fault_delay`), longer
        than the client waits, then drops it; "network" drops the connection unanswered; "server_error"
        answers ``status`` (500 or 502); "flood" answers 429 with ``retry_after``; "blocked" answers 403.
        """
        fault = Fault(method, kind, chat_id, times, retry_after, delay, status)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def _take_fault(self, call: Call) -> Fault | None:
        for fault in self.faults:
            if fault.matches(call.method, call.chat_id):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    async def _apply_fault(self, request: web.Request, call: Call, fault: Fault) -> web.StreamResponse:
        if fault.kind == "timeout":
            hold = self.timeout_fault_delay if fault.delay is None else fault.delay
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), hold)
        if fault.kind in ("timeout", "network"):
            call.error = f"connection dropped ({fault.kind} fault)"
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client: the connection is gone
        err = _fault_error(fault)
        return _reply(call, err.error_code, err.envelope())

    # ---- simulated people and chats ---------------------------------------------------------------------

    def create_user(
        self,
        first_name: str = "Parent",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        user_id: int | None = None,
    ) -> SimUser:
        """A user who has started the bot: their private chat (same id) is known to the server."""
        if user_id is None:
            user_id, self._next_user_id = self._next_user_id, self._next_user_id + 1
        user = SimUser(user_id, first_name, last_name, username, language_code)
        self._users[user.id] = user
        self._chats[user.id] = self.private_chat(user)
        return user

    create_parent = create_user

    def create_group(
        self,
        title: str = "Parents' group",
        *,
        members: Iterable[SimUser] = (),
        supergroup: bool = False,
        chat_id: int | None = None,
    ) -> SimChat:
        """A group with the bot in it: ids like -4000000001 (supergroups -100…), or ``chat_id`` if given
        (e.g. a staff chat id from the configuration)."""
        if chat_id is None:
            number, self._next_group_id = self._next_group_id, self._next_group_id + 1
            chat_id = -(1_000_000_000_000 + number) if supergroup else -number
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative, not {chat_id}")
        chat = SimChat(chat_id, "supergroup" if supergroup else "group", title=title)
        self._chats[chat.id] = chat
        for member in members:
            self._users.setdefault(member.id, member)
        return chat

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

    # ---- what users do ------------------------------------------------------------------------------------

    def user_sends_text(self, user: SimUser, text: str, chat: SimChat | None = None) -> JsonDict:
        """The user writes ``text``; "/start" etc. get a bot_command entity as Telegram gives them."""
        if not text.strip():
            raise ValueError("Telegram clients do not send empty messages")
        return self._user_message(user, chat, _text_content(text))

    def user_replies_to(
        self, user: SimUser, message: JsonDict, text: str, chat: SimChat | None = None
    ) -> JsonDict:
        chat = chat or self.chat(message["chat"]["id"])
        replied = self._find_message(chat.id, message["message_id"])
        if replied is None:
            raise ValueError(f"message {message['message_id']} is not in chat {chat.id}")
        return self._user_message(
            user, chat, {"reply_to_message": _without_reply(replied), **_text_content(text)}
        )

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

    def _user_message(self, user: SimUser, chat: SimChat | None, content: JsonDict) -> JsonDict:
        chat = chat or self.private_chat(user)
        self._users.setdefault(user.id, user)
        self._chats.setdefault(chat.id, chat)
        message = {
            "message_id": self._next_message_id(chat.id),
            "from": user.to_api(),
            "chat": chat.to_api(),
            "date": _now(),
            **content,
        }
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

    # ---- what the bot did ----------------------------------------------------------------------------------

    def calls_to(self, method: str, chat_id: int | str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower() and _chat_matches(c, chat_id)]

    def sent_messages(self, chat_id: int) -> list[JsonDict]:
        """The bot's messages in this chat as they are now (edited, deleted ones gone), oldest first."""
        ids = self._bot_messages.get(chat_id, [])
        return [copy.deepcopy(self._messages[(chat_id, i)]) for i in ids if (chat_id, i) in self._messages]

    def pinned_messages(self, chat_id: int) -> list[int]:
        return list(self._pinned.get(chat_id, []))

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

    # ---- updates, polling and webhooks ------------------------------------------------------------------

    def _push_update(self, kind: str, payload: JsonDict) -> JsonDict:
        update = {"update_id": self._next_update_id, kind: copy.deepcopy(payload)}
        self._next_update_id += 1
        self._check_own("Update", update)
        allowed = self._allowed_updates
        if (kind not in allowed) if allowed else (kind in OPT_IN_UPDATES):
            self.dropped_updates.append(update)
        else:
            self._pending.append(update)
            self._updates_changed.notify()
        return copy.deepcopy(update)

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset < 0:
            self._pending = self._pending[offset:]
        else:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        if self._webhook is not None:
            raise ApiRequestError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"])
        self._confirm(params.get("offset"))
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_changed.notify()  # a poll still waiting is now superseded
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(int(params.get("timeout", 0)), 0)
        while True:
            if self._webhook is not None:
                raise ApiRequestError(409, "Conflict: terminated by setWebhook request")
            if generation != self._poll_generation:
                raise ApiRequestError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that "
                    "only one bot instance is running",
                )
            remaining = deadline - loop.time()
            if self._pending or remaining <= 0 or self._closing.is_set():
                return self._pending[:limit]
            await self._updates_changed.wait(remaining)

    async def _set_webhook(self, params: JsonDict) -> bool:
        url = params["url"]
        if not url:
            await self._remove_webhook(bool(params.get("drop_pending_updates")))
            return True
        self._check_webhook_url(url)
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = params.get("max_connections", 40)
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        await self._stop_webhook_worker()
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"])
        self._webhook = WebhookConfig(url, secret, max_connections, params.get("ip_address"))
        self._updates_changed.notify()
        self._webhook_task = asyncio.create_task(self._webhook_worker(self._webhook))
        return True

    def _check_webhook_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: invalid webhook URL specified")
        if self.allow_external_webhooks or parts.hostname == "localhost":
            return
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise bad_request("bad webhook: the dev server delivers webhooks to loopback addresses only")

    async def _delete_webhook(self, params: JsonDict) -> bool:
        await self._remove_webhook(bool(params.get("drop_pending_updates")))
        return True

    async def _remove_webhook(self, drop_pending: bool) -> None:
        self._webhook = None
        await self._stop_webhook_worker()
        if drop_pending:
            self._pending.clear()
        self._updates_changed.notify()

    async def _stop_webhook_worker(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        hook = self._webhook
        info: JsonDict = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if hook is not None:
            info.update(
                _drop_none(
                    {
                        "ip_address": hook.ip_address,
                        "last_error_date": hook.last_error_date,
                        "last_error_message": hook.last_error_message,
                        "max_connections": hook.max_connections,
                        "allowed_updates": self._allowed_updates,
                    }
                )
            )
        return info

    async def _webhook_worker(self, hook: WebhookConfig) -> None:
        """Delivers pending updates one at a time, in order; gives up on one after a few attempts."""
        while self._webhook is hook and not self._closing.is_set():
            if not self._pending:
                await self._updates_changed.wait(None)
                continue
            update = self._pending[0]
            if not await self._deliver(hook, update):
                hook.failed_updates.append(update)
                log.warning("webhook gave up on update %s: %s", update["update_id"], hook.last_error_message)
            if self._pending and self._pending[0] is update:
                self._pending.pop(0)

    async def _deliver(self, hook: WebhookConfig, update: JsonDict) -> bool:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        body = json.dumps(update, ensure_ascii=False).encode()
        for attempt in range(1, self.webhook_attempts + 1):
            status, error = await self._post_once(hook.url, body, headers)
            self.webhook_deliveries.append(
                WebhookDelivery(update["update_id"], hook.url, attempt, status, error, time.time())
            )
            self._calls_changed.notify()
            if error is None:
                return True
            hook.last_error_date, hook.last_error_message = _now(), error
            if attempt < self.webhook_attempts:
                await asyncio.sleep(self.webhook_retry_delay)
        return False

    async def _post_once(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        assert self._client is not None
        try:
            timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
            async with self._client.post(url, data=body, headers=headers, timeout=timeout) as response:
                await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return None, f"Connection failed: {exc!r}"
        if 200 <= response.status < 300:
            return response.status, None
        return response.status, f"Wrong response from the webhook: {response.status} {response.reason}"

    # ---- Bot API methods -----------------------------------------------------------------------------------

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

    # ---- building messages ---------------------------------------------------------------------------------

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
        if replied is not None:
            message["reply_to_message"] = _without_reply(replied)
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

    # ---- files ----------------------------------------------------------------------------------------

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

    # ---- /_sim endpoints for demos -----------------------------------------------------------------------

    async def _handle_sim_send(self, request: web.Request) -> web.StreamResponse:
        """POST /_sim/send {"chat_id": 1001, "text": "hi", "first_name"?: "Sam"}: a user writes to the bot."""
        try:
            body = await request.json()
            chat_id = int(body["chat_id"])
            user_id = int(body.get("user_id", chat_id))
            user = self._users.get(user_id) or self.create_user(
                body.get("first_name", "Demo"), user_id=user_id
            )
            message = self.user_sends_text(user, str(body["text"]), self.chat(chat_id))
        except (ValueError, KeyError, TypeError, ApiRequestError) as exc:
            return web.json_response({"ok": False, "error_code": 400, "description": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": message})

    async def _handle_sim_press(self, request: web.Request) -> web.StreamResponse:
        """POST /_sim/press {"chat_id", "message_id", "callback_data", "user_id"?}: a button press."""
        try:
            body = await request.json()
            chat_id = int(body["chat_id"])
            user = self._users[int(body.get("user_id", chat_id))]
            query = self.user_presses_button(
                user,
                {"chat": {"id": chat_id}, "message_id": int(body["message_id"])},
                str(body["callback_data"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"ok": False, "error_code": 400, "description": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": query})

    async def _handle_sim_messages(self, request: web.Request) -> web.StreamResponse:
        """GET /_sim/messages?chat_id=1001: what the bot has sent there."""
        try:
            chat_id = int(request.query["chat_id"])
        except (KeyError, ValueError):
            return web.json_response({"ok": False, "error_code": 400, "description": "chat_id?"}, status=400)
        return web.json_response({"ok": True, "result": self.sent_messages(chat_id)})


# ---- helpers ------------------------------------------------------------------------------------------


@web.middleware
async def _nodelay_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Small answers must leave at once: without TCP_NODELAY, Nagle plus delayed ACKs stall 40 ms."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return await handler(request)


async def _read_params(request: web.Request) -> tuple[dict[str, object], dict[str, UploadedFile]]:
    """Query string plus a JSON, url-encoded or multipart body; file parts come back separately."""
    raw: dict[str, object] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if not request.body_exists:
        return raw, files
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        raw.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                with value.file:  # aiohttp spools the part to a temporary file
                    data = value.file.read()
                files[name] = UploadedFile(name, value.filename, value.content_type, data)
            else:
                raw[name] = value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")
    return raw, files


def _reply(call: Call, status: int, body: JsonDict) -> web.Response:
    call.status = status
    if not body.get("ok"):
        call.error = body.get("description")
    return web.Response(
        body=json.dumps(body, ensure_ascii=False).encode(), status=status, content_type="application/json"
    )


def _fault_error(fault: Fault) -> ApiRequestError:
    if fault.kind == "flood":
        return ApiRequestError(
            429, f"Too Many Requests: retry after {fault.retry_after}", {"retry_after": fault.retry_after}
        )
    if fault.kind == "blocked":
        return ApiRequestError(403, "Forbidden: bot was blocked by the user")
    phrase = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    return ApiRequestError(fault.status, phrase.get(fault.status, "Internal Server Error"))


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


def _legacy_fields(method: MethodSpec) -> dict[str, FieldSpec]:
    extra: dict[str, FieldSpec] = {}
    if "reply_parameters" in method.fields:
        extra.update(_LEGACY_REPLY)
    if "link_preview_options" in method.fields:
        extra.update(_LEGACY_PREVIEW)
    return extra


def _chat_id_of(raw: dict[str, object]) -> int | str | None:
    value = raw.get("chat_id")
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else text


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
