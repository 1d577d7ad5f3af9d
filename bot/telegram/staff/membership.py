"""Who is in a staff chat, and what they may see there (a group may hold people who are not staff).

A staff chat is *closed* when everyone in it besides the bot is named in staff_user_ids (who is named is the
staff policy's, bot/staff/access.py): its member count (getChatMemberCount, minus the bot) equals the named
staff present (getChatMember for each named id: member, administrator or creator). Only a closed chat sees a
child's details on its cards. Any other chat, and one the bot cannot check (any error counts as "not closed"),
gets cards with reference, kind, priority and school only; the details (the full card, transcript,
screenshots, the parent's later messages) go privately to the named staff member who claims, each message
recorded (private_messages) so the purge erases it with the case. A chat whose owner sets allow_all_members is
never restricted: everyone there counts as staff, by the owner's explicit choice (warned about at start).

The answer is cached per chat, dropped when someone joins or leaves (chat_member updates, which Telegram
sends only to an administrator bot that asks for them, and the new_chat_members / left_chat_member service
messages every bot gets), and otherwise checked again at most every `refresh` seconds. Joins are posted in
the chat with the member's name and whether they are named staff. When a chat becomes restricted, it and
the trust's safeguarding chat are told why, once, until it is closed again (the memory is per process),
and the cards already posted there in full are edited to the form without details.
Logs carry chat ids and case ids only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from telegram import Bot, ChatMember, ChatMemberRestricted, Message, Update, User
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.domain import CaseView
from bot.schools import Schools
from bot.staff.access import StaffAccess
from bot.staff.cards import StaffTexts, one_line
from bot.staff.chats import StaffChats
from bot.storage.erasures import PrivateSends
from bot.storage.models import PrivateKind
from bot.storage.outbox import Outbox
from bot.telegram.sending import BotBlockedError, split_text, with_retries
from bot.telegram.staff.failures import telegram_reason

log = logging.getLogger(__name__)

REFUSED = (TelegramError, BotBlockedError)
"""What a send raises when Telegram refuses it (with_retries turns a 403 into BotBlockedError)."""
PRESENT = frozenset({ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER})
"""getChatMember statuses that count a named staff member as in the chat."""
REFRESH_SECONDS = 300.0
DEEP_LINK_PAYLOAD = "staff"
"""https://t.me/<bot>?start=staff: how a staff member opens the private chat the details go to."""


def _reason(error: BaseException) -> str:
    if isinstance(error, TelegramError):
        return telegram_reason(error)
    return f"{type(error).__name__}: {error}" if isinstance(error, BotBlockedError) else type(error).__name__


def is_present(member: ChatMember) -> bool:
    return member.status in PRESENT or (isinstance(member, ChatMemberRestricted) and member.is_member)


@dataclass(frozen=True)
class Audience:
    """Who is in a chat, as far as the bot knows."""

    outsiders: int | None
    """Members who are not named staff (None: the check failed)."""
    checked_at: float

    @property
    def closed(self) -> bool:
        return self.outsiders == 0


class StaffMembership:
    """Decides, per staff chat, whether cards there may carry a child's details; sends them privately."""

    def __init__(
        self,
        bot: Bot,
        schools: Schools,
        chats: StaffChats,
        texts: StaffTexts,
        refresh: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        outbox: Outbox | None = None,
        private: PrivateSends | None = None,
    ) -> None:
        self._bot = bot
        self._outbox = outbox
        self._private = private
        self._schools = schools
        self._chats = chats
        self._access = StaffAccess(schools, chats)
        self._texts = texts
        self._refresh = refresh
        self._clock = clock
        self._cache: dict[int, Audience] = {}
        self._told: set[int] = set()
        self._joined: dict[int, set[int]] = {}

    # ---- closed or restricted ----------------------------------------------------------------------------

    async def restricted(self, chat_id: int) -> bool:
        """Cards in this chat must leave out the details. The first time a chat is found so (since it was
        last closed), it and the trust's chat are told why."""
        if self._access.open_to_all(chat_id):
            return False
        audience = await self.audience(chat_id)
        if audience.closed:
            self._told.discard(chat_id)
            return False
        if chat_id not in self._told:
            self._told.add(chat_id)
            await self._tell_why(chat_id, audience)
            await self._hide_posted_cards(chat_id)
        return True

    async def _hide_posted_cards(self, chat_id: int) -> None:
        """Cards posted in full while the chat was closed are edited to show no details (screenshots and
        transcript files already posted stay in the chat's history)."""
        if self._outbox is None:
            return
        try:
            queued = await self._outbox.hide_card_details(chat_id)
        except Exception as error:  # noqa: BLE001 - the cards to come are restricted all the same
            log.error("Cards in chat %s not queued for hiding: %s", chat_id, type(error).__name__)
            return
        if queued:
            log.info("%d cards in chat %s queued to be shown without details", queued, chat_id)

    async def audience(self, chat_id: int) -> Audience:
        cached = self._cache.get(chat_id)
        if cached is not None and self._clock() - cached.checked_at < self._refresh:
            return cached
        audience = Audience(await self._outsiders(chat_id), self._clock())
        if audience.outsiders is not None:  # a failed check is tried again next time
            self._cache[chat_id] = audience
        return audience

    def forget(self, chat_id: int) -> None:
        self._cache.pop(chat_id, None)

    async def _outsiders(self, chat_id: int) -> int | None:
        """Members besides the bot minus the named staff present; None when the count failed."""
        try:
            count = await with_retries(partial(self._bot.get_chat_member_count, chat_id))
        except Exception as error:  # noqa: BLE001 - fail closed: whatever went wrong, no details shown
            reason = _reason(error)
            log.warning("Members of chat %s not counted (%s): no details shown there", chat_id, reason)
            return None
        present = 0
        for user_id in sorted(self._access.named(chat_id)):
            present += await self._present(chat_id, user_id)
        return max(count - 1 - present, 0)  # the bot is one of the members

    async def _present(self, chat_id: int, user_id: int) -> bool:
        """A named staff member in the chat. One Telegram cannot find ("user not found": never met the
        bot) or any other failure counts as absent, which can only count more members as not named."""
        try:
            return is_present(await with_retries(partial(self._bot.get_chat_member, chat_id, user_id)))
        except Exception as error:  # noqa: BLE001 - counted as absent: fails closed
            reason = _reason(error)
            log.info("A named staff member of chat %s not found there (%s)", chat_id, reason)
            return False

    async def _tell_why(self, chat_id: int, audience: Audience) -> None:
        log.info("Chat %s holds members who are not named staff: cards there show no details", chat_id)
        if audience.outsiders is None:
            here = self._texts.say("utter_staff_chat_unchecked")
            why = self._texts.say("utter_staff_why_unchecked")
        else:
            count = str(audience.outsiders)
            here = self._texts.say("utter_staff_chat_restricted", count=count)
            why = self._texts.say("utter_staff_why_outsiders", count=count)
        await self._post(chat_id, here)
        trust = self._schools.fallback_chat_id
        if trust is not None and self._chats.current(trust) != chat_id:
            named = self._schools.named(chat_id)
            setting = named.where if named is not None else "?"
            text = self._texts.say(
                "utter_staff_chat_restricted_trust", chat_id=str(chat_id), setting=setting, why=why
            )
            await self._post(self._chats.current(trust), text)

    async def _post(self, chat_id: int, text: str) -> None:
        try:
            for piece in split_text(text):
                await with_retries(partial(self._bot.send_message, chat_id, piece))
        except REFUSED as error:
            log.warning("Could not post in chat %s: %s", chat_id, _reason(error))

    # ---- joins and leaves --------------------------------------------------------------------------------

    async def on_chat_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A chat_member update (an administrator bot that asked for them gets one per join or leave)."""
        changed = update.chat_member
        if changed is None or changed.chat.id not in self._chats.all():
            return
        was, now = is_present(changed.old_chat_member), is_present(changed.new_chat_member)
        chat_id, user = changed.chat.id, changed.new_chat_member.user
        if now and not was:
            await self._member_joined(chat_id, user)
        elif was and not now:
            await self._member_left(chat_id, user)
        else:
            self.forget(chat_id)

    async def on_service_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """new_chat_members / left_chat_member in a staff chat (every bot gets these)."""
        message = update.effective_message
        if message is None:
            return
        for user in message.new_chat_members or ():
            await self._member_joined(message.chat.id, user)
        if message.left_chat_member is not None:
            await self._member_left(message.chat.id, message.left_chat_member)

    async def _member_joined(self, chat_id: int, user: User) -> None:
        """Posted once per join (the chat_member update and the service message both report it)."""
        self.forget(chat_id)
        seen = self._joined.setdefault(chat_id, set())
        if user.id == self._bot.id or user.id in seen:
            return
        seen.add(user.id)
        log.info("A member joined staff chat %s", chat_id)
        if self._access.open_to_all(chat_id):
            response = "utter_staff_member_joined_all"
        elif user.id in self._access.named(chat_id):
            response = "utter_staff_member_joined_named"
        else:
            response = "utter_staff_member_joined_not_named"
        await self._post(chat_id, self._texts.say(response, member_name=one_line(user.full_name) or "?"))
        await self.restricted(chat_id)

    async def _member_left(self, chat_id: int, user: User) -> None:
        self.forget(chat_id)
        self._joined.get(chat_id, set()).discard(user.id)
        log.info("A member left staff chat %s", chat_id)
        if not self._access.open_to_all(chat_id):
            await self.restricted(chat_id)

    # ---- the details, privately --------------------------------------------------------------------------

    async def can_write_to(self, user_id: int) -> bool:
        """Whether the bot may write to this user privately (they started it and did not block it):
        a chat action, which shows nothing but fails as a message would."""
        try:
            await with_retries(partial(self._bot.send_chat_action, user_id, "typing"))
        except REFUSED as error:
            log.info("No private chat with a staff member: %s", _reason(error))
            return False
        return True

    async def send_details(self, user_id: int, view: CaseView) -> bool:
        """The whole card, the transcript file (when the card is long) and the screenshots, in the staff
        member's private chat with the bot, each message recorded for erasure with the case. False when
        Telegram refused."""
        card = self._texts.card(view)
        text = self._texts.say("utter_staff_details_private", reference=view.reference, card=card.text)
        try:
            await self._send_text(user_id, view, text)
            if card.long:
                name, data = self._texts.transcript_document(view)
                caption = self._texts.say("utter_staff_transcript_caption", reference=view.reference)
                send = partial(self._bot.send_document, user_id, data, filename=name, caption=caption)
                await self._sent(view, await with_retries(send), PrivateKind.DOCUMENT)
            count = str(len(view.attachments))
            for number, file_id in enumerate(view.attachments, start=1):
                caption = self._texts.say(
                    "utter_staff_evidence_caption", number=str(number), count=count, reference=view.reference
                )
                photo = await with_retries(partial(self._bot.send_photo, user_id, file_id, caption=caption))
                await self._sent(view, photo, PrivateKind.PHOTO)
        except REFUSED as error:
            log.warning("Details of case %s not sent privately: %s", view.id, _reason(error))
            return False
        log.info("Details of case %s sent privately to the staff member who claimed it", view.id)
        return True

    async def send_privately(self, user_id: int, view: CaseView, text: str) -> bool:
        """A message about the case (the parent's words) in the staff member's private chat, recorded for
        erasure with the case. False when Telegram refused."""
        try:
            await self._send_text(user_id, view, text)
        except REFUSED as error:
            log.warning("A message for a staff member was not sent privately: %s", _reason(error))
            return False
        return True

    async def _send_text(self, user_id: int, view: CaseView, text: str) -> None:
        for piece in split_text(text):
            message = await with_retries(partial(self._bot.send_message, user_id, piece))
            await self._sent(view, message, PrivateKind.TEXT)

    async def _sent(self, view: CaseView, message: Message, kind: PrivateKind) -> None:
        """Record a message sent privately, so the purge erases it with the case (a copy must not outlive
        it). A failure to record is logged, not raised: the claimer still gets the rest of the details."""
        if self._private is None:
            return
        try:
            await self._private.record(view.id, view.reference, message.chat_id, message.message_id, kind)
        except Exception as error:  # noqa: BLE001 - the details matter more than their later erasure
            log.error(
                "A private message of case %s not recorded for erasure: %s", view.id, type(error).__name__
            )

    def start_link(self) -> str:
        """The bot's username for https://t.me/<username>?start=staff."""
        return self._bot.username
