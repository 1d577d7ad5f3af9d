"""Parent-side Telegram handlers: each turns an Update into (parent id, text) for the engine and sends
back what the engine answers. No conversation logic lives here.

Every parent message first passes the per-parent flood limit (bot/telegram/flood.py): over it, the
message is not processed and the parent is told, once per window, to slow down. A message naming a
danger counts against the parent's looser urgent bucket; over that one too it is not processed either,
but the parent is always shown the emergency guidance (999 first)."""

from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.locks import KeyedLocks
from bot.logs import chat_ref, pseudonym
from bot.safeguarding.detector import default_detector
from bot.storage.parents import SqlStateStore
from bot.telegram.flood import BUTTON_COST, PHOTO_COST, Admission, SharedFloodGate
from bot.telegram.relay_routing import RelayRouter
from bot.telegram.sending import BotBlockedError, send_replies, with_retries

log = logging.getLogger(__name__)
TYPING_AFTER_SECONDS = 1.0


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
    ) -> None:
        self._engine = engine
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
        if not await self._admit(update, context, urgent=urgent):
            if urgent:  # not processed, but the parent still gets the emergency guidance
                await self._send(update, context, [self._responses.render("utter_urgent_safeguarding", {})])
            return
        await self._converse(update, context, message.text, route=True)

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
            await self._converse(update, context, choice.text, case_id=choice.case_id)

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
        if await self._admit(update, context, cost=BUTTON_COST):
            await self._converse(update, context, query.data, label=tapped_title(query))

    async def on_photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo: evidence when a bullying report is collecting screenshots (the largest size is kept)."""
        message = update.effective_message
        user = update.effective_user
        if message is None or not message.photo or user is None:
            return
        if not await self._admit(update, context, cost=PHOTO_COST):
            return
        parent_id = str(user.id)
        async with self._locks.hold(parent_id):
            replies = await self._engine.handle_photo(parent_id, message.photo[-1].file_id)
            await self._send(update, context, replies)

    async def on_other_content(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Photos, stickers, voice notes and the rest: say what the bot can take."""
        if not await self._admit(update, context):
            return
        await self._send(update, context, [self._responses.render("utter_non_text", {})])

    async def _admit(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, cost: float = 1.0, urgent: bool = False
    ) -> bool:
        """The flood limit: True to process the message; otherwise it is dropped (and the parent told to
        slow down, once per window)."""
        user = update.effective_user
        if user is None:
            return False
        verdict = await self._flood.check(str(user.id), cost, urgent=urgent)
        if verdict is not Admission.ALLOW and urgent:
            log.info("Danger message over the urgent flood limit: guidance only")
            return False
        if verdict is Admission.NOTIFY:
            log.info("Parent %s is over the flood limit: messages dropped for a while", pseudonym(user.id))
            async with self._locks.hold(str(user.id)):  # after the answers to the messages already taken
                await self._send(update, context, [self._responses.render("utter_slow_down", {})])
        return verdict is Admission.ALLOW

    async def _converse(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        text: str,
        *,
        route: bool = False,
        case_id: int | None = None,
        label: str | None = None,
    ) -> None:
        """Answer the text; ``route``: first work out which case's staff a typed message is for."""
        user = update.effective_user
        chat = update.effective_chat
        if user is None or chat is None:
            return
        parent_id = str(user.id)
        async with self._locks.hold(parent_id):  # one parent's messages are answered in order
            if route and self._router is not None and update.effective_message is not None:
                case_id = await self._router.addressed_case(update.effective_message, context.bot.id)
                question = None if case_id else await self._router.question(parent_id, text)
                if question is not None:
                    await self._send(update, context, [question])
                    return
            typing = asyncio.create_task(self._typing(context, chat.id))
            try:
                replies = await self._engine.handle(parent_id, text, reply_to_case_id=case_id, label=label)
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
