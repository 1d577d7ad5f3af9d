"""Running the real parentbot Application against the local Bot API server, in polling or webhook mode."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.config import Settings
from bot.nlu.client import NluClient
from bot.schools import Schools
from bot.services import Services, build_services
from bot.staff import StaffOptions
from bot.storage.models import DeliveryStatus
from bot.storage.outbox import Outbox
from bot.telegram.app import build_application
from bot.telegram.flood import SharedFloodGate
from devserver import BotApiServer, SimUser, report_handled_updates

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "424242:parentbot-test-token"
SECRET = "webhook-secret-for-tests-0123456789abcde"  # 40 characters (MIN_SECRET_CHARS is 32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Conversations:
    """Parents talking to whatever bot the local Bot API server serves (in this process or others)."""

    server: BotApiServer

    def parent(self, name: str = "Parent") -> SimUser:
        return self.server.create_user(name)

    async def say(
        self, user: SimUser, text: str, timeout: float = 20, *, not_urgent: bool = True
    ) -> dict[str, Any]:
        """The parent types `text`; returns the last message of the bot's answer (the one with buttons,
        if any). When the safeguarding gate asks "is a child at risk now?" about it, this calm parent
        taps "No, it's not urgent" (unless `not_urgent` is False) and the answer after that is returned."""
        self.server.user_sends_text(user, text)
        answer = await self.last_answer(user, timeout)
        if not_urgent and CHECK_NO in buttons(answer):
            return await self.press(user, answer, CHECK_NO, timeout)
        return answer

    async def press(
        self, user: SimUser, message: dict[str, Any], title: str, timeout: float = 20
    ) -> dict[str, Any]:
        data = button_data(message, title)
        self.server.user_presses_button(user, message, data)
        return await self.last_answer(user, timeout)

    async def last_answer(self, user: SimUser, timeout: float = 20) -> dict[str, Any]:
        """The last message of the bot's answer to everything the user did so far: waits until the bot
        has handled those updates (the explicit signal, no quiet period), then takes its messages."""
        await self.server.wait_handled(timeout=timeout)
        answer = await unclaimed_messages(self.server, user.id)
        if not answer:  # an answer sent later (e.g. by the outbox worker): wait for it
            answer = [await self.server.wait_for_message(user.id, timeout=timeout)]
        return answer[-1]


async def unclaimed_messages(server: BotApiServer, chat_id: int) -> list[dict[str, Any]]:
    """The bot's messages in the chat not yet returned by a wait_for_message, oldest first (taken now)."""
    found = []
    while True:
        try:
            found.append(await server.wait_for_message(chat_id, timeout=0))
        except TimeoutError:
            return found


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15) -> None:
    """Wait until `check()` holds, failing with `what` after `timeout` seconds. For database state: a
    table gives no signal, so it is polled (every 50 ms), with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"{what} within {timeout} s"
        await asyncio.sleep(0.05)


async def outbox_empty(outbox: Outbox) -> bool:
    """No delivery is pending: each was sent or given up, by the one worker that leased it."""
    return not any(row.status is DeliveryStatus.PENDING for row in await outbox.deliveries())


async def settled(server: BotApiServer, outbox: Outbox, timeout: float = 15) -> None:
    """Every update so far handled, the outbox empty and no request to the Bot API in flight (besides
    the long poll): whatever the bot would still send about what happened has been sent, so a
    duplicate would already show."""
    await server.wait_handled(timeout=timeout)
    await eventually(lambda: outbox_empty(outbox), "the outbox emptied", timeout)
    await server.wait_until(lambda: all(c.done for c in server.calls if c.method != "getUpdates"), timeout)


@dataclass
class RunningBot(Conversations):
    app: Application
    services: Services
    webhook_url: str | None = None


def buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {button["text"]: button["callback_data"] for row in rows for button in row}


CHECK_NO = "No, it's not urgent"
"""The button of the safeguarding gate's "is a child at risk now?" question that a calm parent taps."""


def button_data(message: dict[str, Any], title: str) -> str:
    found = buttons(message)
    assert title in found, f"no button {title!r} in {list(found)}"
    return found[title]


Starter = Callable[[Application], Awaitable[None]]
"""What starts the Application's updater (polling or a webhook); None for a process that only sends."""


async def poll(app: Application, allowed_updates: list[str] | None = None) -> None:
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=allowed_updates)


def bot_settings(server: BotApiServer, database: Path, **overrides: Any) -> Settings:
    """The settings of a bot talking to `server`, on the SQLite file `database`."""
    return Settings(  # type: ignore[call-arg]
        telegram_bot_token=TOKEN,
        telegram_base_url=server.base_url,
        database_url=f"sqlite:///{database}",
        project_dir=ROOT,
        **overrides,
    )


@asynccontextmanager
async def started_application(
    nlu: NluClient,
    schools: Schools,
    server: BotApiServer,
    database: Path,
    *,
    start: Starter | None = poll,
    staff_options: StaffOptions | None = None,
    settings_overrides: dict[str, Any] | None = None,
    flood: Callable[[Services], SharedFloodGate] | None = None,
) -> AsyncIterator[tuple[Application, Services]]:
    """The Application and services as `parentbot run` builds them (post_init included) on the SQLite file
    `database`, against `server`; `start` starts its updater before the Application starts. Everything is
    stopped and the database pool disposed on the way out."""
    services = build_services(bot_settings(server, database, **(settings_overrides or {})), schools, nlu=nlu)
    gate = flood(services) if flood is not None else None
    app = build_application(services, staff_options=staff_options, flood=gate)
    report_handled_updates(app, server)
    await app.initialize()
    if app.post_init:  # run_polling/run_webhook call it; here we start the parts ourselves
        await app.post_init(app)
    if start is not None:
        await start(app)
    await app.start()
    try:
        yield app, services
    finally:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await app.stop()
        await app.shutdown()
        if app.post_shutdown:  # as run_polling/run_webhook do, after shutdown
            await app.post_shutdown(app)
        services.db.dispose()


@asynccontextmanager
async def running_bot(
    nlu: NluClient,
    schools: Schools,
    tmp_path: Path,
    mode: str = "polling",
    staff_options: StaffOptions | None = None,
    server: BotApiServer | None = None,
    settings_overrides: dict[str, Any] | None = None,
    flood: Callable[[Services], SharedFloodGate] | None = None,
    **server_options: Any,
) -> AsyncIterator[RunningBot]:
    """The bot on a database in `tmp_path` (so a second run there is a restart), against `server` or
    a new local Bot API server; `settings_overrides`: Settings fields a test sets (FLOOD_BURST...);
    `flood`: the flood gate on the bot's services (e.g. with a clock the test moves)."""
    async with AsyncExitStack() as stack:
        if server is None:
            server = await stack.enter_async_context(BotApiServer(token=TOKEN, **server_options))
        port = free_port()
        webhook_url = f"http://127.0.0.1:{port}/telegram" if mode == "webhook" else None

        async def start(app: Application) -> None:
            if webhook_url is None:
                await poll(app)
                return
            assert app.updater is not None
            await app.updater.start_webhook(
                listen="127.0.0.1",
                port=port,
                url_path="telegram",
                webhook_url=webhook_url,
                secret_token=SECRET,
            )

        app, services = await stack.enter_async_context(
            started_application(
                nlu,
                schools,
                server,
                tmp_path / "bot.db",
                start=start,
                staff_options=staff_options,
                settings_overrides=settings_overrides,
                flood=flood,
            )
        )
        yield RunningBot(server, app, services, webhook_url)
