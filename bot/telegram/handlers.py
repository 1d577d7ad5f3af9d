"""Parent-side Telegram handlers: each turns an Update into (parent id, text) for the engine and sends
back what the engine answers. No conversation logic lives here.

Every parent message first passes the per-parent flood limit (bot/telegram/flood.py): over it, the
message is not processed and the parent is told, once per window, to slow down. A message naming a
danger counts against the parent's looser urgent bucket; over that one too it is not processed either,
but the parent is always shown the emergency guidance (999 first).

The flood check and the answer are one turn (bot/storage/turns.py): the bucket, the parent's state, the
transcript lines and any outbox rows of a message are committed together, in one transaction. The
replies are sent after it commits, so no Bot API call is made while the turn holds the parent's row (on
SQLite, the database's single writer lock)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.dialogue.turns import TurnScope, Unscoped
from bot.locks import KeyedLocks
from bot.logs import chat_ref, pseudonym
from bot.safeguarding.detector import default_detector
from bot.storage.parents import SqlStateStore
from bot.telegram.flood import BUTTON_COST, PHOTO_COST, Admission, SharedFloodGate
from bot.telegram.relay_routing import RelayRouter
from bot.telegram.sending import BotBlockedError, send_replies, with_retries

log = logging.getLogger(__name__)
TYPING_AFTER_SECONDS = 1.0
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
"""The commands parents see in their menu (set at start), each handled as text by ParentHandlers.on_text."""


class ParentHandlers:
    """Handlers for parents' private chats (groups the configuration does not name are left, see
    bot/telegram/unknown_chats.py)."""

    def __init__(
        self,
        engine: DialogueEngine,
        store: SqlStateStore,
        responses: ResponseBook,
        flood: SharedFloodGate,
        router: RelayRouter | None = None,
        turns: TurnScope | None = None,
    ) -> None:
        self._engine = engine
        self._turns = turns or Unscoped()
        self._router = router
        self._store = store
        self._responses = responses
        self._locks = KeyedLocks()
        self._flood = flood

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A typed message or a /command (edited messages too: the corrected text is answered)."""
        message = update.effective_message
        if message is None or message.text is None or update.effective_user is None:
            return
        # A message naming a danger takes from the parent's looser urgent bucket (never none).
        urgent = bool(default_detector().kinds(message.text))
        await self._converse(update, context, message.text, route=True, urgent=urgent)

    async def on_relay_choice(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The parent pressed a "which case?" button: the message they sent goes to that case."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None or self._router is None:
            return
        try:
            await with_retries(query.answer)
        except TelegramError as error:
            log.info("Button press %s not acknowledged: %s", update.update_id, type(error).__name__)
        choice = await self._router.choice(str(user.id), query.data)
        if choice is None:
            await self._send(update, context, [self._router.case_gone()])
        elif choice.text is None:
            await self._send(update, context, [self._responses.render("utter_relay_send_again", {})])
        else:
            await self._converse(update, context, choice.text, case_id=choice.case_id, cost=None)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A quick-reply button: acknowledged, then handled exactly as if its choice had been sent."""
        query = update.callback_query
        if query is None:
            return
        try:
            await with_retries(query.answer)
        except BotBlockedError:
            return
        except TelegramError as error:
            # Telegram refuses to acknowledge a press older than about 15 s ("query is too old"), e.g.
            # one made while the bot was restarting: the press itself still counts.
            log.info("Button press %s not acknowledged: %s", update.update_id, type(error).__name__)
        chat = update.effective_chat
        if not query.data or chat is None or chat.type != ChatType.PRIVATE:
            return
        await self._converse(update, context, query.data, label=tapped_title(query), cost=BUTTON_COST)

    async def on_photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo: evidence when a bullying report is collecting screenshots (the largest size is kept)."""
        message = update.effective_message
        user = update.effective_user
        if message is None or not message.photo or user is None:
            return
        parent_id, file_id = str(user.id), message.photo[-1].file_id
        async with self._locks.hold(parent_id):
            replies = await self._admitted_turn(
                update, context, PHOTO_COST, False, lambda: self._engine.handle_photo(parent_id, file_id)
            )
            await self._send(update, context, replies)

    async def on_other_content(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Photos, stickers, voice notes and the rest: say what the bot can take."""
        user = update.effective_user
        if user is None:
            return

        async def not_text() -> list[Reply]:
            return [self._responses.render("utter_non_text", {})]

        async with self._locks.hold(str(user.id)):
            await self._send(
                update, context, await self._admitted_turn(update, context, 1.0, False, not_text)
            )

    async def _admitted_turn(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        cost: float | None,
        urgent: bool,
        answer: Callable[[], Awaitable[list[Reply]]],
    ) -> list[Reply]:
        """The flood check, then `answer` when the message is within the limit, in one turn (one
        transaction); the replies to send once it has committed. Over the limit: the "slow down" line
        once per window, nothing otherwise, and for a message naming a danger the emergency guidance.
        `cost` None: no flood check (a choice of case, after a message that was checked)."""
        user = update.effective_user
        if user is None:
            return []
        async with self._turns.turn(str(user.id)):
            verdict = Admission.ALLOW
            if cost is not None:
                verdict = await self._flood.check(str(user.id), cost, urgent=urgent)
            if verdict is Admission.ALLOW:
                return await answer()
        if urgent:  # not processed, but the parent still gets the emergency guidance
            log.info("Danger message over the urgent flood limit: guidance only")
            return [self._responses.render("utter_urgent_safeguarding", {})]
        if verdict is Admission.NOTIFY:
            log.info("Parent %s is over the flood limit: messages dropped for a while", pseudonym(user.id))
            return [self._responses.render("utter_slow_down", {})]
        return []

    async def _converse(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        text: str,
        *,
        route: bool = False,
        case_id: int | None = None,
        label: str | None = None,
        cost: float | None = 1.0,
        urgent: bool = False,
    ) -> None:
        """Answer the text; ``route``: first work out which case's staff a typed message is for."""
        user = update.effective_user
        chat = update.effective_chat
        if user is None or chat is None:
            return
        parent_id = str(user.id)

        async def answer() -> list[Reply]:
            addressed = case_id
            if route and self._router is not None and update.effective_message is not None:
                addressed = await self._router.addressed_case(update.effective_message, context.bot.id)
                question = None if addressed else await self._router.question(parent_id, text)
                if question is not None:
                    return [question]
            return await self._engine.handle(parent_id, text, reply_to_case_id=addressed, label=label)

        async with self._locks.hold(parent_id):  # one parent's messages are answered in order
            await self._engine.wait_for_model(text)  # before the turn takes the parent's row
            typing = asyncio.create_task(self._typing(context, chat.id))
            try:
                replies = await self._admitted_turn(update, context, cost, urgent, answer)
            finally:
                typing.cancel()
            await self._send(update, context, replies)

    async def _typing(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> None:
        """Show "typing..." when an answer is slow (the model still loading, a busy database); cancelled
        when the answer is ready first, which is nearly always, saving a Bot API call per message."""
        await asyncio.sleep(TYPING_AFTER_SECONDS)
        try:
            await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except Exception:
            log.debug("typing indicator not sent", exc_info=True)

    async def _send(self, update: Update, context: ContextTypes.DEFAULT_TYPE, replies: list[Reply]) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        try:
            await send_replies(context.bot, chat.id, replies)
        except BotBlockedError:
            log.info("chat %s blocked the bot; marked", chat_ref(chat.id))
            if update.effective_user is not None:
                await self._store.mark_blocked(str(update.effective_user.id))


def tapped_title(query: CallbackQuery) -> str | None:
    """The title of the button pressed, read from the message it was on (None when Telegram no longer
    gives that message)."""
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return None
    for row in message.reply_markup.inline_keyboard:
        for button in row:
            if button.callback_data == query.data:
                return button.text
    return None
