"""Staff-side Telegram handlers: Claim / Resolve buttons, replies to a card, /cases and /case REF.

Only a school's configured staff chat may act on that school's cases, and, when the school lists
staff_user_ids, only those members. Anything else is refused with one short line and written to the
audit log as refused; every allowed action (claim, reply, resolve, view) is audited too. Logs carry ids
only. What reaches the parent goes through the outbox (CaseStore), sent by the DeliveryWorker.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from functools import partial

from telegram import Bot, CallbackQuery, Chat, Message, ReplyParameters, Update, User
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.config import School, Schools
from bot.dialogue.messages import without_control_characters
from bot.dialogue.responses import ResponseBook
from bot.staff.cards import CLAIM, StaffTexts, parse_callback
from bot.staff.chats import StaffChats
from bot.storage.cases import CaseStore, CaseView
from bot.storage.models import CaseStatus
from bot.telegram.sending import split_text, with_retries

log = logging.getLogger(__name__)

CARD_RECORD_GRACE = (0.0, 0.5, 1.0)
"""Pauses (seconds) before each lookup of the case a staff reply answers."""


class StaffHandlers:
    """Handlers for the schools' staff chats (and refusals for staff commands anywhere else)."""

    def __init__(
        self, store: CaseStore, schools: Schools, responses: ResponseBook, chats: StaffChats | None = None
    ) -> None:
        self._store = store
        self._schools = schools
        self._texts = StaffTexts(responses, schools)
        self._chats = chats or StaffChats(schools)

    @property
    def staff_chat_ids(self) -> frozenset[int]:
        return self._chats.all()

    # ---- who may act -------------------------------------------------------------------------------------

    def schools_for(self, chat_id: int | None, user_id: int) -> list[School]:
        """The schools whose cases this user may act on in this chat."""
        return [school for school in self._schools.schools if self.may_act(school, chat_id, user_id)]

    def may_act(self, school: School | None, chat_id: int | None, user_id: int) -> bool:
        """In one of the school's chats (staff or safeguarding), by a listed member when the school lists
        staff_user_ids; in the trust's safeguarding chat (where cases go when a school's chat fails), by
        any member."""
        if school is None or chat_id is None or chat_id not in self._chats.of_school(school):
            return False
        if chat_id in self._chats.trust_chats():
            return True
        return not school.staff_user_ids or user_id in school.staff_user_ids

    def may_act_on(self, view: CaseView, chat_id: int | None, user_id: int) -> bool:
        return self.may_act(self._schools.get(view.school_id), chat_id, user_id)

    async def _refuse(
        self, action: str, user: User, chat: Chat | None, view: CaseView | None, query: CallbackQuery | None
    ) -> None:
        chat_id = chat.id if chat is not None else None
        case_id = view.id if view is not None else None
        log.info("Refused staff %s on case %s by user %s in chat %s", action, case_id, user.id, chat_id)
        await self._store.audit(action, actor_id=user.id, chat_id=chat_id, case_id=case_id, allowed=False)
        text = self._texts.say("utter_staff_refused")
        if query is not None:
            await _answer(query, text)
        elif chat is not None:
            await _send(chat.get_bot(), chat.id, text, None)

    # ---- Claim / Resolve ---------------------------------------------------------------------------------

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, user, chat = update.callback_query, update.effective_user, update.effective_chat
        if query is None or user is None:
            return
        parsed = parse_callback(query.data)
        view = await self._store.get(parsed[1]) if parsed is not None else None
        action = parsed[0] if parsed is not None else "button"
        chat_id = chat.id if chat is not None else None
        if view is None and self.schools_for(chat_id, user.id):
            await _answer(query, self._texts.say("utter_staff_case_gone"))  # purged, or a stale button
        elif view is None or not self.may_act_on(view, chat_id, user.id):
            await self._refuse(action, user, chat, view, query)
        elif action == CLAIM:
            await self._claim(query, user, view)
        else:
            await self._resolve(query, user, view)

    async def _claim(self, query: CallbackQuery, user: User, view: CaseView) -> None:
        chat_id = query.message.chat.id if query.message is not None else None
        if await self._store.claim(view.id, user.id, user.full_name):
            log.info("Case %s claimed by user %s", view.id, user.id)
            await self._store.audit("claim", actor_id=user.id, chat_id=chat_id, case_id=view.id)
            await _answer(query, self._texts.say("utter_staff_claimed", reference=view.reference))
            return
        await _answer(query, await self._why_not(view))

    async def _resolve(self, query: CallbackQuery, user: User, view: CaseView) -> None:
        chat_id = query.message.chat.id if query.message is not None else None
        if await self._store.resolve(view.id, user.id, user.full_name):
            log.info("Case %s resolved by user %s", view.id, user.id)
            await self._store.audit("resolve", actor_id=user.id, chat_id=chat_id, case_id=view.id)
            await _answer(query, self._texts.say("utter_staff_resolved", reference=view.reference))
            return
        await _answer(query, await self._why_not(view))

    async def _why_not(self, view: CaseView) -> str:
        """Why a claim or resolve changed nothing: someone got there first."""
        now = await self._store.get(view.id) or view
        if now.status is CaseStatus.RESOLVED:
            return self._texts.say("utter_staff_already_resolved", reference=now.reference)
        return self._texts.say(
            "utter_staff_already_claimed", reference=now.reference, staff_name=now.claimed_by_name or "?"
        )

    # ---- a reply to the card: to the parent --------------------------------------------------------------

    async def on_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A staff member replied to a card (or to a message in its thread): pass the text on."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None:
            return
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or replied.from_user.id != context.bot.id:
            return  # staff talking among themselves
        view = await self._case_of(chat.id, replied.message_id)
        if view is None:
            await _send(context.bot, chat.id, self._texts.say("utter_staff_reply_no_case"), message)
            return
        if not self.may_act_on(view, chat.id, user.id):
            await self._refuse("reply", user, chat, view, None)
            return
        if not message.text:
            await _send(context.bot, chat.id, self._texts.say("utter_staff_text_only"), message)
            return
        await self._relay(context, message, user, view)

    async def _case_of(self, chat_id: int, message_id: int) -> CaseView | None:
        """The case of a card (or of a message in its thread). A card is recorded just after Telegram
        accepts it, so a reply that quick gets a moment's grace before it is called unknown."""
        for pause in CARD_RECORD_GRACE:
            await asyncio.sleep(pause)
            view = await self._store.by_card(chat_id, message_id)
            if view is not None:
                return view
        return None

    async def _relay(
        self, context: ContextTypes.DEFAULT_TYPE, message: Message, user: User, view: CaseView
    ) -> None:
        typed = without_control_characters(message.text or "")  # PostgreSQL cannot store NUL
        if await self._store.staff_reply(view.id, user.full_name, typed):
            log.info("Staff reply on case %s by user %s queued", view.id, user.id)
            await self._store.audit("reply", actor_id=user.id, chat_id=message.chat.id, case_id=view.id)
            text = self._texts.say("utter_staff_reply_queued", reference=view.reference)
        else:
            text = self._texts.say("utter_staff_reply_not_sent", reference=view.reference)
        await _send(context.bot, message.chat.id, text, message)

    # ---- commands ----------------------------------------------------------------------------------------

    async def on_cases(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/cases: the open cases of this chat's school, urgent first, then oldest."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None:
            return
        schools = self.schools_for(chat.id, user.id)
        if not schools:
            await self._refuse("view", user, chat, None, None)
            return
        now = datetime.now(timezone.utc)
        lists = [
            self._texts.case_list(school.id, await self._store.open_cases(school.id), now)
            for school in schools
        ]
        await self._store.audit("view", actor_id=user.id, chat_id=chat.id)
        await _send(context.bot, chat.id, "\n\n".join(lists), message)

    async def on_case(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/case REF: post the case's card again (through the outbox)."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None:
            return
        if not self.schools_for(chat.id, user.id):
            await self._refuse("view", user, chat, None, None)
            return
        if not context.args:
            await _send(context.bot, chat.id, self._texts.say("utter_staff_case_usage"), message)
            return
        reference = context.args[0].strip().upper()
        view = await self._store.by_reference(reference)
        if view is not None and not self.may_act_on(view, chat.id, user.id):
            await self._store.audit("view", actor_id=user.id, chat_id=chat.id, case_id=view.id, allowed=False)
            view = None  # another school's case: not found, as far as this chat can tell
        if view is None:
            text = self._texts.say("utter_staff_case_not_found", reference=reference)
            await _send(context.bot, chat.id, text, message)
            return
        await self._store.queue_card(view.id)
        await self._store.audit("view", actor_id=user.id, chat_id=chat.id, case_id=view.id)
        log.info("Card of case %s posted again for user %s", view.id, user.id)

    async def on_command_elsewhere(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/cases or /case outside any staff chat: refused and audited."""
        user, chat = update.effective_user, update.effective_chat
        if user is not None:
            await self._refuse("view", user, chat, None, None)


async def _answer(query: CallbackQuery, text: str) -> None:
    try:
        await with_retries(partial(query.answer, text[:200]))
    except TelegramError as error:  # a query too old to answer: nothing else to do
        log.info("Callback query not answered: %s", type(error).__name__)


async def _send(bot: Bot, chat_id: int, text: str, reply_to: Message | None) -> None:
    """A short line in the chat (replying to the staff member's message when given)."""
    reply = ReplyParameters(reply_to.message_id, allow_sending_without_reply=True) if reply_to else None
    for piece in split_text(text):
        await with_retries(partial(bot.send_message, chat_id, piece, reply_parameters=reply))
