"""The one place that wires the Telegram bot: the Application, its handlers in an explicit order, its
error handler, start and stop hooks (bot/telegram/lifecycle.py) and background jobs (bot/telegram/jobs.py).
The run loop is bot/telegram/runner.py."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Bot, LinkPreviewOptions, Update
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

from bot.config import Settings
from bot.services import Services
from bot.staff import StaffOptions
from bot.staff.cards import StaffTexts
from bot.staff.chats import StaffChats
from bot.storage.flood import SqlFloodBuckets
from bot.telegram.chat_moves import ChatMoveHandlers
from bot.telegram.flood import SharedFloodGate
from bot.telegram.handlers import PARENT_COMMANDS, ParentHandlers
from bot.telegram.jobs import schedule_staff_jobs
from bot.telegram.lifecycle import error_handler, health_server, on_start, on_stop
from bot.telegram.relay_routing import CALLBACK_PREFIX as RELAY_CHOICE
from bot.telegram.relay_routing import RelayRouter
from bot.telegram.request import AiohttpRequest, environment_proxy
from bot.telegram.staff.handlers import StaffHandlers
from bot.telegram.staff.membership import DEEP_LINK_PAYLOAD, StaffMembership
from bot.telegram.staff.setup import SetupCommand
from bot.telegram.unknown_chats import UnknownChats

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
    health = health_server(services)
    builder = builder.post_init(on_start(services, rooms.follow, health)).post_shutdown(on_stop(health))
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

    app.add_error_handler(error_handler(services))

    # Background jobs (bot/staff): the outbox delivery worker and the urgent-case reminders.
    schedule_staff_jobs(app, services, options, rooms.follow, membership)
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


Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


async def _staff_talk(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A staff chat message no staff handler took: not for the bot, so not for the parent side either."""


def _stop_after(handler: Handler) -> Handler:
    async def run_then_stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await handler(update, context)
        raise ApplicationHandlerStop

    return run_then_stop
