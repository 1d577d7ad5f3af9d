"""What runs around the handlers: the Application's start and stop hooks (post_init, post_shutdown)
and its error handler."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import Application, ContextTypes

from bot.logs import chat_ref
from bot.nlu.client import BackgroundLoadedNlu
from bot.services import Services, freeze_long_lived_objects
from bot.staff.failover import MovedCallback
from bot.telegram.handlers import PARENT_COMMANDS
from bot.telegram.health import HealthServer
from bot.telegram.jobs import watch_the_model_load
from bot.telegram.sending import send_replies
from bot.telegram.staff.chat_checks import check_chats

log = logging.getLogger(__name__)

Hook = Callable[[Application], Coroutine[Any, Any, None]]


def health_server(services: Services) -> HealthServer | None:
    """/healthz and /metrics (bot/telegram/health.py) when HEALTH_PORT is set."""
    settings = services.settings
    if settings.health_port is None:
        return None
    return HealthServer(services, settings.health_listen, settings.health_port)


def on_start(services: Services, follow: MovedCallback, health: HealthServer | None) -> Hook:
    """The post_init hook; `follow` points the staff chats and their handler filter at a moved chat."""

    async def start(app: Application) -> None:
        if health is not None:  # first: a monitor sees the model loading and the chats being checked
            await health.start()
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in PARENT_COMMANDS.items()])
        await _check_staff_chats(app, services, follow)
        log.info("Bot @%s is ready", app.bot.username)
        freeze_long_lived_objects()  # again once a model loading in the background is ready
        if isinstance(services.nlu, BackgroundLoadedNlu):
            watch_the_model_load(app, services.nlu)

    return start


def on_stop(health: HealthServer | None) -> Hook:
    """The post_shutdown hook."""

    async def stop(_: Application) -> None:
        if health is not None:
            await health.stop()

    return stop


async def _check_staff_chats(app: Application, services: Services, follow: MovedCallback) -> None:
    """Follow the chat moves stored earlier, then check every configured chat (one log line per problem;
    a problem never stops the bot: cases fail over to the trust's chat)."""
    try:
        moves = await services.records.outbox.chat_moves()
        for old, new in moves.items():
            follow(old, new)
        await check_chats(app.bot, services.schools, moves)
    except Exception as error:  # noqa: BLE001 - a check that fails must not stop the bot
        log.warning("Could not check the staff chats: %s", type(error).__name__)


def error_handler(
    services: Services,
) -> Callable[[object, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the failure by ids only (never text), and tell the parent where we can."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        log.error(
            "Error handling update %s: %s",
            update_id,
            type(error).__name__,
            exc_info=(type(error), error, error.__traceback__) if error else None,
        )
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        if update.effective_chat.type != "private":
            return
        sorry = services.responses.render("utter_error", {})
        try:
            await send_replies(context.bot, update.effective_chat.id, [sorry])
        except Exception:  # noqa: BLE001 - the error handler must never raise
            log.warning("Could not tell chat %s about the error", chat_ref(update.effective_chat.id))

    return on_error
