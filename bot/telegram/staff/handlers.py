"""Staff-side Telegram handlers: Claim / Resolve buttons, messages for the parent, /cases and /case REF.

Nothing reaches a parent by accident: a staff message is passed on only when it replies to the case card
or to a parent's message, or starts with /reply (in the case's forum topic, or with the case reference).
Everything else in a staff chat, a case's topic included, stays between staff. Each message passed on is
confirmed in the chat once the parent has it (the delivery worker posts "sent to the parent").

Who may act where is the staff policy's (bot/staff/access.py): anything else is refused with one short
line and written to the audit log as refused; every allowed action (claim, reply, resolve, view) is
audited too. Logs carry ids only. In a chat that holds members who are not named staff
(bot/telegram/staff/membership.py) the cards carry no details: a claim there sends them to the claimer's
private chat with the bot, and one who never started the bot is asked (in the group, by name) to open it
by its link and press Claim again; until then the case stays unclaimed. A refusal is sent from a
background task (Application.create_task), at most MAX_PENDING_REFUSALS waiting per chat (more are
dropped): a member pressing buttons or sending commands over and over never makes a handler wait on the
chat's rate limit, so nobody can hold up the bot's other chats. What reaches the parent goes through the
outbox (bot/storage/outbox.py), sent by the delivery worker (bot/staff/worker.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from telegram import CallbackQuery, Chat, Message, Update, User
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.clock import Clock, utcnow
from bot.dialogue.messages import without_control_characters
from bot.dialogue.responses import ResponseBook
from bot.domain import CLAIM, CaseStatus, CaseView
from bot.logs import chat_ref, pseudonym
from bot.schools import School, Schools
from bot.staff.access import StaffAccess
from bot.staff.cards import StaffTexts, one_line, parse_callback
from bot.staff.chats import StaffChats
from bot.staff.stats import figures, parse_period, stats_chart, stats_text
from bot.storage.records import Records
from bot.telegram.sending import BackgroundSends, send_line, split_text, with_retries
from bot.telegram.staff.membership import StaffMembership

log = logging.getLogger(__name__)

CARD_RECORD_GRACE = (0.0, 0.5, 1.0)
"""Pauses (seconds) before each lookup of the case a staff reply answers."""
MAX_PENDING_REFUSALS = 3
"""Refusals waiting to be sent to one chat; any more are not sent (they are still audited)."""


class StaffHandlers:
    """Handlers for the schools' staff chats (and refusals for staff commands anywhere else)."""

    def __init__(
        self,
        records: Records,
        schools: Schools,
        responses: ResponseBook,
        chats: StaffChats | None = None,
        membership: StaffMembership | None = None,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._cases = records.cases
        self._audit = records.audit
        self._outbox = records.outbox
        self._schools = schools
        self._texts = StaffTexts(responses, schools)
        self._chats = chats if chats is not None else StaffChats(schools)
        self._access = StaffAccess(schools, self._chats)
        self._clock = clock
        self._membership = membership
        self._refusals = BackgroundSends(MAX_PENDING_REFUSALS, "Refusal")

    @property
    def staff_chat_ids(self) -> frozenset[int]:
        return self._chats.all()

    async def _refuse(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        action: str,
        user: User,
        chat: Chat | None,
        view: CaseView | None,
        query: CallbackQuery | None,
        message: Message | None = None,
    ) -> None:
        chat_id = chat.id if chat is not None else None
        case_id = view.id if view is not None else None
        log.info(
            "Refused staff %s on case %s by user %s in chat %s",
            action,
            case_id,
            pseudonym(user.id),
            chat_ref(chat_id) if chat_id is not None else None,
        )
        await self._audit.audit(action, actor_id=user.id, chat_id=chat_id, case_id=case_id, allowed=False)
        text = self._texts.say("utter_staff_refused")
        if query is not None:
            self._in_background(context, chat_id, partial(_answer, query, text))
        elif chat is not None:
            self._in_background(context, chat_id, partial(send_line, context.bot, chat.id, text, message))

    def _in_background(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int | None, send: Callable[[], Awaitable[None]]
    ) -> None:
        """Send a refusal without the handler waiting for it; none while the chat has enough waiting."""
        self._refusals.start(context.application, chat_id or 0, send)

    # ---- Claim / Resolve ---------------------------------------------------------------------------------

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, user, chat = update.callback_query, update.effective_user, update.effective_chat
        if query is None or user is None:
            return
        parsed = parse_callback(query.data)
        view = await self._cases.get(parsed[1]) if parsed is not None else None
        action = parsed[0] if parsed is not None else "button"
        chat_id = chat.id if chat is not None else None
        if view is None and self._access.schools_for(chat_id, user.id):
            await _answer(query, self._texts.say("utter_staff_case_gone"))  # purged, or a stale button
        elif view is None or not self._access.may_act_on(view, chat_id, user.id):
            await self._refuse(context, action, user, chat, view, query)
        elif action == CLAIM:
            await self._claim(query, user, view)
        else:
            await self._resolve(query, user, view)

    async def _claim(self, query: CallbackQuery, user: User, view: CaseView) -> None:
        chat_id = query.message.chat.id if query.message is not None else None
        private = chat_id is not None and await self._restricted(chat_id)
        if private and not await self._can_write_to(user.id):
            assert chat_id is not None
            await self._ask_to_start_bot(query, user, view, chat_id)
            return
        if await self._cases.claim(view.id, user.id, user.full_name):
            log.info("Case %s claimed", view.id)
            await self._audit.audit("claim", actor_id=user.id, chat_id=chat_id, case_id=view.id)
            claimed = "utter_staff_details_sent" if private else "utter_staff_claimed"
            await _answer(query, self._texts.say(claimed, reference=view.reference))
            if private:
                await self._send_details(user.id, view.id)
            return
        await _answer(query, await self._why_not(view))

    async def _restricted(self, chat_id: int) -> bool:
        return self._membership is not None and await self._membership.restricted(chat_id)

    async def _can_write_to(self, user_id: int) -> bool:
        return self._membership is not None and await self._membership.can_write_to(user_id)

    async def _ask_to_start_bot(self, query: CallbackQuery, user: User, view: CaseView, chat_id: int) -> None:
        """The claimer never started the bot, so their details could not reach them: not claimed, and the
        group is told (by name) how to open the private chat."""
        assert self._membership is not None
        await _answer(query, self._texts.say("utter_staff_details_not_claimed"))
        text = self._texts.say(
            "utter_staff_details_start_bot",
            staff_name=one_line(user.full_name) or "?",
            reference=view.reference,
            bot_username=self._membership.start_link(),
        )
        card = query.message if isinstance(query.message, Message) else None
        thread = card.message_thread_id if card is not None and card.is_topic_message else None
        for piece in split_text(text):
            send = partial(query.get_bot().send_message, chat_id, piece, message_thread_id=thread)
            await with_retries(send)

    async def _send_details(self, user_id: int, case_id: int) -> None:
        assert self._membership is not None
        claimed = await self._cases.get(case_id)  # with the claim: the card says who has it
        if claimed is not None:
            await self._membership.send_details(user_id, claimed)

    async def _resolve(self, query: CallbackQuery, user: User, view: CaseView) -> None:
        chat_id = query.message.chat.id if query.message is not None else None
        if await self._cases.resolve(view.id, user.id, user.full_name):
            log.info("Case %s resolved by user %s", view.id, pseudonym(user.id))
            await self._audit.audit("resolve", actor_id=user.id, chat_id=chat_id, case_id=view.id)
            await _answer(query, self._texts.say("utter_staff_resolved", reference=view.reference))
            return
        await _answer(query, await self._why_not(view))

    async def _why_not(self, view: CaseView) -> str:
        """Why a claim or resolve changed nothing: someone got there first."""
        now = await self._cases.get(view.id) or view
        if now.status is CaseStatus.RESOLVED:
            return self._texts.say("utter_staff_already_resolved", reference=now.reference)
        return self._texts.say(
            "utter_staff_already_claimed", reference=now.reference, staff_name=now.claimed_by_name or "?"
        )

    # ---- messages for the parent -------------------------------------------------------------------------

    async def on_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A reply in a staff chat: for the parent when it answers the card or a parent's message."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None:
            return
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or replied.from_user.id != context.bot.id:
            return  # staff talking among themselves
        if replied.forum_topic_created is not None:
            return  # a plain message in a case's topic (Telegram makes it "reply" to the topic): internal
        view = await self._case_of(chat.id, replied.message_id)
        if view is None:
            if await self._cases.by_staff_chat_message(chat.id, replied.message_id) is None:
                await send_line(context.bot, chat.id, self._texts.say("utter_staff_reply_no_case"), message)
            return  # a reply to a reminder, a photo or a confirmation: internal
        await self._pass_on(context, message, user, view, message.text)

    async def on_reply_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/reply TEXT in a case's topic (or replying to its card), or /reply REF TEXT anywhere in the
        staff chat: TEXT goes to the parent."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None:
            return
        text = _after_command(message.text or "")
        view = await self._addressed_case(message, chat.id)
        hidden: CaseView | None = None
        if view is None and context.args:
            view = await self._cases.by_reference(context.args[0])
            if view is not None and not self._access.may_act_on(view, chat.id, user.id):
                # Another school's case: answered exactly as a reference that does not exist, so nothing
                # tells this chat that it does (the refusal is audited all the same).
                hidden, view = view, None
            if view is not None:
                text = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
        if view is None or not text.strip():
            if not self._access.schools_for(chat.id, user.id):
                await self._refuse(context, "reply", user, chat, view or hidden, None, message)
                return
            if hidden is not None:
                await self._audit_hidden(user, chat, hidden)
            await send_line(context.bot, chat.id, self._texts.say("utter_staff_reply_usage"), message)
            return
        await self._pass_on(context, message, user, view, text)

    async def _audit_hidden(self, user: User, chat: Chat, view: CaseView) -> None:
        log.info(
            "Refused staff reply on case %s by user %s in chat %s",
            view.id,
            pseudonym(user.id),
            chat_ref(chat.id),
        )
        await self._audit.audit("reply", actor_id=user.id, chat_id=chat.id, case_id=view.id, allowed=False)

    async def _addressed_case(self, message: Message, chat_id: int) -> CaseView | None:
        """The case a /reply is about by where it was sent: a reply to the card or a parent's message, or
        a message in the case's topic."""
        replied = message.reply_to_message
        if replied is not None and replied.forum_topic_created is None:
            view = await self._case_of(chat_id, replied.message_id)
            if view is not None:
                return view
        if message.is_topic_message and message.message_thread_id is not None:
            return await self._cases.by_topic(chat_id, message.message_thread_id)
        return None

    async def _pass_on(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        message: Message,
        user: User,
        view: CaseView,
        text: str | None,
    ) -> None:
        chat = message.chat
        if not self._access.may_act_on(view, chat.id, user.id):
            await self._refuse(context, "reply", user, chat, view, None, message)
            return
        if not text:
            await send_line(context.bot, chat.id, self._texts.say("utter_staff_text_only"), message)
            return
        await self._relay(context, message, user, view, text)

    async def _case_of(self, chat_id: int, message_id: int) -> CaseView | None:
        """The case of a card (or of a message in its thread). A card is recorded just after Telegram
        accepts it, so a reply that quick gets a moment's grace before it is called unknown."""
        for pause in CARD_RECORD_GRACE:
            await asyncio.sleep(pause)
            view = await self._cases.by_card(chat_id, message_id)
            if view is not None:
                return view
        return None

    async def _relay(
        self, context: ContextTypes.DEFAULT_TYPE, message: Message, user: User, view: CaseView, text: str
    ) -> None:
        """Queue the text for the parent (recorded in the case's transcript and audited); the chat is told
        "sent to the parent" once it has been delivered."""
        typed = without_control_characters(text)  # PostgreSQL cannot store NUL
        confirm = (message.chat.id, message.message_id)
        if await self._cases.staff_reply(view.id, user.full_name, typed, confirm=confirm):
            log.info("Staff reply on case %s by user %s queued", view.id, pseudonym(user.id))
            await self._audit.audit("reply", actor_id=user.id, chat_id=message.chat.id, case_id=view.id)
            return
        text = self._texts.say("utter_staff_reply_not_sent", reference=view.reference)
        await send_line(context.bot, message.chat.id, text, message)

    # ---- commands ----------------------------------------------------------------------------------------

    async def on_cases(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/cases: the open cases of this chat's school, urgent first, then oldest."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None:
            return
        schools = self._access.schools_for(chat.id, user.id)
        if not schools:
            await self._refuse(context, "view", user, chat, None, None, message)
            return
        now = self._clock()
        may_see = partial(self._access.may_act_on, chat_id=chat.id, user_id=user.id)
        lists = [
            self._texts.case_list(
                school.id, [v for v in await self._cases.open_cases(school.id) if may_see(v)], now
            )
            for school in schools
        ]
        await self._audit.audit("view", actor_id=user.id, chat_id=chat.id)
        await send_line(context.bot, chat.id, "\n\n".join(lists), message)

    async def on_case(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/case REF: post the case's card again (through the outbox)."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None:
            return
        if not self._access.schools_for(chat.id, user.id):
            await self._refuse(context, "view", user, chat, None, None, message)
            return
        if not context.args:
            await send_line(context.bot, chat.id, self._texts.say("utter_staff_case_usage"), message)
            return
        reference = context.args[0].strip().upper()
        view = await self._cases.by_reference(reference)
        if view is not None and not self._access.may_act_on(view, chat.id, user.id):
            await self._audit.audit("view", actor_id=user.id, chat_id=chat.id, case_id=view.id, allowed=False)
            view = None  # another school's case: not found, as far as this chat can tell
        if view is None:
            text = self._texts.say("utter_staff_case_not_found", reference=reference)
            await send_line(context.bot, chat.id, text, message)
            return
        await self._outbox.queue_card(view.id)
        await self._audit.audit("view", actor_id=user.id, chat_id=chat.id, case_id=view.id)
        log.info("Card of case %s posted again for user %s", view.id, pseudonym(user.id))

    async def on_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stats [DAYS | FROM TO]: a school's figures in its staff chat, every school's in the trust's
        safeguarding chat; as text and as a chart. Audited, refused to anyone else."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None:
            return
        trust_wide = chat.id == self._schools.trust.safeguarding_chat_id
        schools = self._schools.schools if trust_wide else self._access.schools_for(chat.id, user.id)
        if not schools:
            await self._refuse(context, "stats", user, chat, None, None, message)
            return
        period = parse_period(context.args or [], self._clock())
        if period is None:
            await send_line(context.bot, chat.id, self._texts.say("utter_staff_stats_usage"), message)
            return
        ids = None if trust_wide else [school.id for school in schools]
        opened, open_now = await self._cases.case_times(ids, period.start, period.end)
        report = figures(period, opened, open_now)
        await self._audit.audit("stats", actor_id=user.id, chat_id=chat.id)
        log.info(
            "Figures for %s asked by user %s in chat %s", ids or "all schools", pseudonym(user.id), chat.id
        )
        title = self._stats_title(schools, trust_wide)
        await send_line(context.bot, chat.id, stats_text(self._texts, report, title), message)
        png = await asyncio.to_thread(stats_chart, self._texts, report, title)
        thread = message.message_thread_id if message.is_topic_message else None
        await with_retries(
            partial(context.bot.send_photo, chat.id, png, message_thread_id=thread, filename="stats.png")
        )

    def _stats_title(self, schools: list[School], trust_wide: bool) -> str:
        if trust_wide:
            return self._texts.say("utter_staff_stats_all_schools", trust_name=self._schools.trust.name)
        return ", ".join(school.name for school in schools)

    async def on_staff_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start staff in a private chat: a staff member opened the bot by the link the staff chat gave,
        so that case details can reach them here."""
        message = update.effective_message
        if message is not None:
            await send_line(context.bot, message.chat.id, self._texts.say("utter_staff_private_ready"), None)

    async def on_command_elsewhere(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/cases, /case or /stats outside any staff chat: refused and audited."""
        user, chat, message = update.effective_user, update.effective_chat, update.effective_message
        command = (message.text or "").split(maxsplit=1)[0] if message is not None else ""
        action = "stats" if command.lower().startswith("/stats") else "view"
        if user is not None:
            await self._refuse(context, action, user, chat, None, None)


def _after_command(text: str) -> str:
    """The text after "/reply" (or "/reply@bot"), line breaks kept."""
    parts = text.split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


async def _answer(query: CallbackQuery, text: str) -> None:
    try:
        await with_retries(partial(query.answer, text[:200]))
    except TelegramError as error:  # a query too old to answer: nothing else to do
        log.info("Callback query not answered: %s", type(error).__name__)
