"""A local server that behaves like Telegram's Bot API, for end-to-end tests and demos of a PTB bot.

It speaks real HTTP on 127.0.0.1 so that python-telegram-bot's own request code runs unchanged: point an
``ApplicationBuilder`` at :attr:`BotApiServer.base_url` and :attr:`BotApiServer.base_file_url`. Every
request is checked against the Bot API description (see :mod:`devserver.spec`) and answered with
Telegram's error texts; a test plays the parents' side through the ``user_*`` methods, reads what the bot
did through :attr:`BotApiServer.calls` and the ``wait_for_*`` helpers, and makes Telegram misbehave with
:meth:`BotApiServer.inject_fault`.

The parts, one concern each: :mod:`~devserver.world` (the simulated users, chats, messages and files,
with :mod:`~devserver.records` their values and :mod:`~devserver.files` their bytes),
:mod:`~devserver.users` (what users do), :mod:`~devserver.outgoing` (the messages the bot sends),
:mod:`~devserver.activity` (what the bot did, and waits on it), :mod:`~devserver.methods` (the Bot API
methods), :mod:`~devserver.updates` (getUpdates and webhooks), :mod:`~devserver.topics` (forum topics),
:mod:`~devserver.faults` (fault injection), :mod:`~devserver.http_api` (HTTP), :mod:`~devserver.web`
(the web page that shows and plays the world), and :mod:`~devserver.ptb` (the "update handled" hook for
PTB).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from types import TracebackType

import aiohttp
from aiohttp import web

from devserver.faults import Fault
from devserver.http_api import MAX_UPLOAD_BYTES, Handler, HttpFrontEnd, _nodelay_middleware
from devserver.outgoing import _NOT_BUTTON_ACTIONS
from devserver.records import Call, ForumTopic, SimChat, SimUser, StoredFile, _Signal
from devserver.spec import ApiSpec, JsonDict
from devserver.topics import ForumTopics
from devserver.updates import UpdateDelivery, WebhookConfig, WebhookDelivery
from devserver.web import WebPage

DEFAULT_TOKEN = "123456:TEST-TOKEN"  # noqa: S105 - a made-up token for a server on loopback


class BotApiServer(HttpFrontEnd, ForumTopics, UpdateDelivery, WebPage):
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
        self._next_update_id = self._first_update_id = 700_000_001
        self.last_update_id = self._first_update_id - 1
        self._topics: dict[tuple[int, int], ForumTopic] = {}
        self._bot_members: dict[int, JsonDict] = {}
        self._permissions: dict[int, JsonDict] = {}
        self._migrated: dict[int, int] = {}
        self._members: dict[int, dict[int, str]] = {}
        self._never_started: set[int] = set()
        self._handled_updates: set[int] = set()
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
            "editMessageCaption": self._edit_message_caption,
            "editMessageMedia": self._edit_message_media,
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
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "leaveChat": self._leave_chat,
            "getChatMemberCount": self._get_chat_member_count,
            "createForumTopic": self._create_forum_topic,
            "editForumTopic": self._edit_forum_topic,
            "closeForumTopic": self._close_forum_topic,
            "reopenForumTopic": self._reopen_forum_topic,
            "deleteForumTopic": self._delete_forum_topic,
            "close": self._always_true,
            "logOut": self._always_true,
        }

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
        self.add_page_routes(app)
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
