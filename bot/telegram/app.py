"""The one place that wires the Telegram bot: handlers in an explicit order, error handler, start-up."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import Bot, BotCommand, LinkPreviewOptions, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bot.config import ConfigError, Settings
from bot.logs import chat_ref
from bot.nlu.client import BackgroundLoadedNlu
from bot.services import Services, freeze_long_lived_objects
from bot.staff import StaffOptions
from bot.staff.cards import StaffTexts
from bot.staff.chats import StaffChats
from bot.storage.flood import SqlFloodBuckets
from bot.telegram.chat_moves import ChatMoveHandlers
from bot.telegram.flood import SharedFloodGate
from bot.telegram.handlers import ParentHandlers
from bot.telegram.health import HealthServer
from bot.telegram.relay_routing import CALLBACK_PREFIX as RELAY_CHOICE
from bot.telegram.relay_routing import RelayRouter
from bot.telegram.request import AiohttpRequest, environment_proxy
from bot.telegram.sending import send_replies
from bot.telegram.staff.chat_checks import check_chats
from bot.telegram.staff.delivery import delivery_worker
from bot.telegram.staff.handlers import StaffHandlers
from bot.telegram.staff.membership import DEEP_LINK_PAYLOAD, StaffMembership
from bot.telegram.staff.setup import SetupCommand
from bot.telegram.unknown_chats import UnknownChats

log = logging.getLogger(__name__)

PARENT_COMMANDS = {
    "start": "Start again and choose your child's school",
    "help": "What I can help with",
    "school": "Change your child's school",
    "cancel": "Stop what we are doing",
    "status": "Your cases with the school",
    "privacy": "What happens to your messages",
    "forget": "Delete what I have stored about you",
    "done": "Stop messaging the school's staff",
}
PURGE_INTERVAL = timedelta(hours=1)
FLOOD_BUCKET_IDLE = timedelta(hours=1)
"""A bucket untouched this long is full again: the row says nothing the default would not."""
TELEGRAM_API = "https://api.telegram.org/bot"
BOT_API_CONNECTIONS = 32
"""Connections to the Bot API server for sending; more calls than that wait for a free one."""
OTHER_CONTENT = (
    filters.Sticker.ALL
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.ANIMATION
    | filters.Document.ALL
    | filters.LOCATION
    | filters.VENUE
    | filters.CONTACT
    | filters.POLL
    | filters.Dice.ALL
)


def build_application(
    services: Services,
    *,
    rate_limit: bool = True,
    staff_options: StaffOptions | None = None,
    flood: SharedFloodGate | None = None,
) -> Application:
    settings = services.settings
    token = settings.telegram_bot_token
    if token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is needed to build the Telegram application")
    proxy = environment_proxy(settings.telegram_base_url or TELEGRAM_API)
    builder = (
        ApplicationBuilder()
        .token(token.get_secret_value())
        .concurrent_updates(True)
        .defaults(Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)))  # no page fetched
        .request(AiohttpRequest(connection_pool_size=BOT_API_CONNECTIONS, proxy=proxy))
        .get_updates_request(AiohttpRequest(connection_pool_size=1, proxy=proxy))
    )
    if settings.telegram_base_url:
        base, files = _base_urls(settings.telegram_base_url)
        builder = builder.base_url(base).base_file_url(files)
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))  # type: ignore[arg-type]
    rooms = StaffRooms(StaffChats(services.schools))
    health = _health_server(services)
    builder = builder.post_init(_on_start(services, rooms, health)).post_shutdown(_on_stop(health))
    app = builder.build()

    # The per-parent flood limit (bot/telegram/flood.py), counted in the database for every process.
    flood = flood or SharedFloodGate(
        SqlFloodBuckets(services.sessions, services.clock),
        burst=settings.flood_burst,
        per_minute=settings.flood_per_minute,
    )
    router = RelayRouter(services.records.cases, services.store, services.responses, services.schools)
    parents = ParentHandlers(
        services.engine, services.store, services.responses, flood=flood, router=router, turns=services.turns
    )
    private = filters.ChatType.PRIVATE

    # Group -4 runs first: a staff group that became a supergroup is followed (bot/telegram/chat_moves.py).
    moves = ChatMoveHandlers(services.records.outbox, rooms.chats, rooms.follow, services.schools)
    _add_chat_move_handlers(app, moves)

    # Group -3 next: /setup, in any group (bot/telegram/staff/setup.py) or a private chat; then, in a group or
    # channel the configuration does not name (moves followed), the bot answers nothing else and leaves
    # (bot/telegram/unknown_chats.py); added to a group, it first stays a few minutes for /setup.
    options = staff_options or StaffOptions()
    unknown = UnknownChats(services.records.audit, rooms.chats.all, options.setup_stay)
    texts = StaffTexts(services.responses, services.schools)
    _add_setup_handlers(app, SetupCommand(texts, services.schools, rooms.chats, unknown), unknown)
    app.add_handler(MessageHandler(~private & ~rooms.filter, _stop_after(unknown.on_message)), group=-3)
    app.add_handler(ChatMemberHandler(unknown.on_my_membership, ChatMemberHandler.MY_CHAT_MEMBER), group=-3)

    # Group -2 next: the staff side (bot/telegram/staff), see _add_staff_handlers.
    membership = StaffMembership(
        app.bot,
        services.schools,
        rooms.chats,
        texts,
        refresh=options.membership_refresh,
        outbox=services.records.outbox,
        private=services.records.private,
    )
    staff = StaffHandlers(
        services.records,
        services.schools,
        services.responses,
        rooms.chats,
        membership,
        clock=services.clock,
    )
    _add_staff_handlers(app, staff, rooms.filter, membership)

    # Group -1: anything else in a staff chat is staff talking among themselves, and stops there.
    app.add_handler(MessageHandler(~private & filters.ALL, _stop_after(_staff_talk)), group=-1)

    # Group 0: parents in their private chat with the bot.
    for command in PARENT_COMMANDS:
        app.add_handler(CommandHandler(command, parents.on_text, filters=private))
    app.add_handler(CallbackQueryHandler(parents.on_relay_choice, pattern=f"^{RELAY_CHOICE}"))
    app.add_handler(CallbackQueryHandler(parents.on_button))
    app.add_handler(MessageHandler(private & filters.TEXT, parents.on_text))  # incl. unknown /commands
    app.add_handler(MessageHandler(private & filters.PHOTO, parents.on_photo))
    app.add_handler(MessageHandler(private & OTHER_CONTENT, parents.on_other_content))

    app.add_error_handler(_error_handler(services))

    # Background jobs (bot/staff): the outbox delivery worker and the urgent-case reminders.
    _schedule_staff_jobs(app, services, options, rooms, membership)
    return app


def _base_urls(telegram_base_url: str) -> tuple[str, str]:
    """The Bot API and file URLs of Telegram's or a self-hosted Bot API server (TELEGRAM_BASE_URL)."""
    base = telegram_base_url.rstrip("/")
    return base, base.removesuffix("/bot") + "/file/bot"


def standalone_bot(settings: Settings) -> Bot:
    """A Bot for a one-off command (`parentbot check`), talking to the Bot API server the Application
    would, through the same proxy; not started (``async with`` it)."""
    token = settings.telegram_bot_token
    if token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is needed to talk to the Bot API")
    proxy = environment_proxy(settings.telegram_base_url or TELEGRAM_API)
    base, files = _base_urls(settings.telegram_base_url or TELEGRAM_API)
    return Bot(
        token.get_secret_value(),
        base_url=base,
        base_file_url=files,
        request=AiohttpRequest(connection_pool_size=1, proxy=proxy),
        get_updates_request=AiohttpRequest(connection_pool_size=1, proxy=proxy),
    )


class StaffRooms:
    """The staff chats and the handler filter that recognises them, kept in step when a chat moves
    (a group that became a supergroup gets a new id)."""

    def __init__(self, chats: StaffChats) -> None:
        self.chats = chats
        self.filter = filters.Chat(chat_id=chats.all())

    def follow(self, old_chat_id: int, new_chat_id: int) -> None:
        self.chats.follow(old_chat_id, new_chat_id)
        self.filter.add_chat_ids(new_chat_id)


def _add_chat_move_handlers(app: Application, moves: ChatMoveHandlers) -> None:
    """Group -4, before the unknown-chat guard and the staff handlers: a migration message (a service
    message: nothing else handles it) records the move and stops there; a message or staff button from a
    group this process does not know first re-reads the moves other processes stored, then goes on to
    the group -3 guard (which must not leave a staff chat that moved) and the staff handlers."""
    handlers = [
        MessageHandler(filters.StatusUpdate.MIGRATE, _stop_after(moves.on_migration)),
        MessageHandler(filters.ChatType.GROUPS & filters.UpdateType.MESSAGE, moves.on_staff_update),
        CallbackQueryHandler(moves.on_staff_update, pattern=r"^staff:"),
    ]
    app.add_handlers(handlers, group=-4)


def _add_setup_handlers(app: Application, setup: SetupCommand, unknown: UnknownChats) -> None:
    """/setup first in group -3 (before the guard that leaves unknown groups), from a message (not an
    edit) in a group or a private chat. A group staying for /setup that becomes a supergroup is followed
    in group -5, before the chat moves' handler stops handling its migration message."""
    chats = (filters.ChatType.GROUPS | filters.ChatType.PRIVATE) & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("setup", _stop_after(setup.on_setup), filters=chats), group=-3)
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, unknown.on_migration), group=-5)


def _add_staff_handlers(
    app: Application, staff: StaffHandlers, staff_chats: filters.Chat, membership: StaffMembership
) -> None:
    """Staff handlers, group -2 (after the group -3 guard that leaves groups which are not staff chats).

    A button whose data starts with "staff:" is a staff button wherever it is pressed: outside a staff chat it
    is refused and audited, never read as a parent's button. /cases, /case and /stats are refused (and
    audited) outside the staff chats (the trust's safeguarding chat counts as one for /stats). Joins and
    leaves in a staff chat (chat_member updates and service messages) go to the membership check
    (bot/telegram/staff/membership.py); /start staff in a private chat is a staff member opening the bot for
    case details. Everything handled here stops further handling.
    """
    in_staff_chat = staff_chats & filters.UpdateType.MESSAGE
    elsewhere = ~staff_chats & filters.UpdateType.MESSAGE
    joins = filters.StatusUpdate.NEW_CHAT_MEMBERS | filters.StatusUpdate.LEFT_CHAT_MEMBER
    staff_start = filters.ChatType.PRIVATE & filters.Regex(rf"^/start {DEEP_LINK_PAYLOAD}$")
    handlers = [
        ChatMemberHandler(membership.on_chat_member, ChatMemberHandler.CHAT_MEMBER),
        MessageHandler(in_staff_chat & joins, _stop_after(membership.on_service_message)),
        CommandHandler("start", _stop_after(staff.on_staff_start), filters=staff_start),
        CallbackQueryHandler(_stop_after(staff.on_button), pattern=r"^staff:"),
        CommandHandler("cases", _stop_after(staff.on_cases), filters=in_staff_chat),
        CommandHandler("case", _stop_after(staff.on_case), filters=in_staff_chat),
        CommandHandler("reply", _stop_after(staff.on_reply_command), filters=in_staff_chat),
        CommandHandler("stats", _stop_after(staff.on_stats), filters=in_staff_chat),
        CommandHandler(
            ["cases", "case", "stats"], _stop_after(staff.on_command_elsewhere), filters=elsewhere
        ),
        MessageHandler(in_staff_chat & filters.REPLY & ~filters.COMMAND, _stop_after(staff.on_reply)),
    ]
    app.add_handlers(handlers, group=-2)


def _schedule_staff_jobs(
    app: Application,
    services: Services,
    options: StaffOptions,
    rooms: StaffRooms,
    membership: StaffMembership,
) -> None:
    """The delivery worker every `delivery_interval` seconds (started and stopped with the Application):
    a tick starts a lane per chat with rows due and returns (bot/staff/worker.py); the lanes are the
    Application's tasks, so stopping it waits for them."""
    if app.job_queue is None:
        raise RuntimeError("python-telegram-bot's job queue (APScheduler) is needed for deliveries")
    worker = delivery_worker(
        services.records.outbox,
        services.records.cases,
        app.bot,
        services.schools,
        services.responses,
        options=options,
        on_parent_blocked=services.store.mark_blocked,
        on_chat_moved=rooms.follow,
        spawn=lambda lane: app.create_task(lane, name="delivery-lane"),
        membership=membership,
        erasures=services.records.erasures,
        clock=services.clock,
    )

    async def deliver(_: ContextTypes.DEFAULT_TYPE) -> None:
        if app.running:  # stopping: the rows wait for the next start, not in lanes nobody would await
            await worker.tick()

    async def remind(_: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            queued = await services.records.outbox.due_urgent_reminders(options.urgent_reminder_every)
        except Exception as error:  # noqa: BLE001 - the repeating job must keep running
            log.error("Urgent reminder check failed: %s", type(error).__name__)
            return
        if queued:
            log.info("Reminders queued for unclaimed urgent cases %s", queued)

    app.job_queue.run_repeating(
        deliver,
        interval=options.delivery_interval,
        first=0,
        name="deliveries",
        job_kwargs={"max_instances": 2, "coalesce": True},
    )
    app.job_queue.run_repeating(
        remind, interval=options.reminder_check_interval, first=0, name="urgent_reminders"
    )
    _schedule_purge(app, services)


def _schedule_purge(app: Application, services: Services) -> None:
    """The retention purge (nothing kept past its period), hourly (also `parentbot purge`), and idle
    flood-limit buckets."""
    assert app.job_queue is not None
    buckets = SqlFloodBuckets(services.sessions, services.clock)

    async def purge(_: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await buckets.forget_idle(FLOOD_BUCKET_IDLE)
            counts = await services.purge()
        except Exception as error:  # noqa: BLE001 - the repeating job must keep running
            log.error("Retention purge failed: %s", type(error).__name__)
            return
        log.info(
            "Purged %d messages, %d photos, %d cases (%d never resolved), %d expired drafts, %d idle "
            "profiles, %d audit events; ended %d silent relays; queued %d erasures in Telegram",
            counts.messages,
            counts.attachments,
            counts.cases,
            counts.unresolved,
            counts.drafts,
            counts.profiles,
            counts.audit_events,
            counts.relays,
            counts.erasures,
        )

    app.job_queue.run_repeating(purge, interval=PURGE_INTERVAL, first=60, name="retention_purge")


Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


async def _staff_talk(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A staff chat message no staff handler took: not for the bot, so not for the parent side either."""


def _stop_after(handler: Handler) -> Handler:
    async def run_then_stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await handler(update, context)
        raise ApplicationHandlerStop

    return run_then_stop


def _health_server(services: Services) -> HealthServer | None:
    """/healthz and /metrics (bot/telegram/health.py) when HEALTH_PORT is set."""
    settings = services.settings
    if settings.health_port is None:
        return None
    return HealthServer(services, settings.health_listen, settings.health_port)


def _on_start(
    services: Services, rooms: StaffRooms, health: HealthServer | None
) -> Callable[[Application], Coroutine[Any, Any, None]]:
    async def on_start(app: Application) -> None:
        if health is not None:  # first: a monitor sees the model loading and the chats being checked
            await health.start()
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in PARENT_COMMANDS.items()])
        await _check_staff_chats(app, services, rooms)
        log.info("Bot @%s is ready", app.bot.username)
        freeze_long_lived_objects()  # again once a model loading in the background is ready
        if isinstance(services.nlu, BackgroundLoadedNlu):
            _watch_the_model_load(app, services.nlu)

    return on_start


def _on_stop(health: HealthServer | None) -> Callable[[Application], Coroutine[Any, Any, None]]:
    async def on_stop(_: Application) -> None:
        if health is not None:
            await health.stop()

    return on_stop


async def _check_staff_chats(app: Application, services: Services, rooms: StaffRooms) -> None:
    """Follow the chat moves stored earlier, then check every configured chat (one log line per problem;
    a problem never stops the bot: cases fail over to the trust's chat)."""
    try:
        moves = await services.records.outbox.chat_moves()
        for old, new in moves.items():
            rooms.follow(old, new)
        await check_chats(app.bot, services.schools, moves)
    except Exception as error:  # noqa: BLE001 - a check that fails must not stop the bot
        log.warning("Could not check the staff chats: %s", type(error).__name__)


MODEL_WATCH_INTERVAL = 0.5
"""Seconds between two looks at a model loading in the background."""


def _watch_the_model_load(app: Application, nlu: BackgroundLoadedNlu) -> None:
    """A model that cannot be loaded stops the bot (`run` then raises the error), as it would have
    before polling started had it been loaded first.

    A job of the Application's job queue looks at the load every MODEL_WATCH_INTERVAL s until it has
    ended: post_init runs before the Application does, and a task created then (Application.create_task)
    is not the Application's to await (python-telegram-bot warns so); a job starts and stops with it.
    It looks rather than awaits, so stopping the bot never waits for a load still under way."""
    assert app.job_queue is not None

    async def look(context: ContextTypes.DEFAULT_TYPE) -> None:
        if nlu.loading():
            return
        assert context.job is not None
        context.job.schedule_removal()
        if (error := nlu.error()) is not None:
            log.critical("The NLU model could not be loaded: stopping (%s)", type(error).__name__)
            app.stop_running()

    app.job_queue.run_repeating(look, interval=MODEL_WATCH_INTERVAL, first=0, name="nlu-load-watch")


def _error_handler(
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


def webhook_secret(services: Services) -> str:
    """WEBHOOK_SECRET, shared by every process behind WEBHOOK_URL (load_settings refuses one without it)."""
    configured = services.settings.webhook_secret
    if configured is None:
        raise ConfigError("Invalid setting WEBHOOK_SECRET: is needed with WEBHOOK_URL")
    return configured.get_secret_value()


def run(services: Services) -> None:
    """Run until stopped: webhook when WEBHOOK_URL is set, long polling otherwise."""
    app = build_application(services)
    settings = services.settings
    if settings.webhook_url:
        log.info("Receiving updates by webhook on %s:%d", settings.webhook_listen, settings.webhook_port)
        app.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path="telegram",
            webhook_url=settings.webhook_url,
            secret_token=webhook_secret(services),
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        log.info("Receiving updates by long polling")
        app.run_polling(allowed_updates=Update.ALL_TYPES)
    if isinstance(services.nlu, BackgroundLoadedNlu):
        services.nlu.raise_if_failed()
