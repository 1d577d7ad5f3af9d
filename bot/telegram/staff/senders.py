"""Sending each kind of outbox row with python-telegram-bot: the delivery worker's Transport
(bot/staff/worker.py). What the rows say is the staff policy's (bot/staff/cards.py, bot/staff/outgoing.py);
here they become Telegram messages, edits, pins and forum topics, and a send's error becomes a Failure
(bot/telegram/staff/failures.py).

In a chat holding members who are not named staff (bot/telegram/staff/membership.py) a card shows
reference, kind, priority and school only, with no screenshots or transcript file after it; a parent's
later message goes privately to the staff member who claimed the case, and the chat is told only that one
came.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)

from bot.clock import Clock, utcnow
from bot.dialogue.messages import Button
from bot.domain import CaseStatus, CaseView, Priority
from bot.schools import Schools
from bot.staff import outgoing
from bot.staff.cards import StaffCard, StaffTexts
from bot.staff.failover import CardNotPostedError, CaseGoneError, Failure
from bot.staff.worker import Send, Sent
from bot.storage.cases import CaseStore
from bot.storage.models import DeliveryKind
from bot.storage.outbox import DueDelivery
from bot.telegram.sending import split_text
from bot.telegram.staff import failures
from bot.telegram.staff.membership import StaffMembership
from bot.telegram.staff.topics import CaseTopics

K = DeliveryKind
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
"""On every send: a preview would show (and Telegram fetch) a page a parent's link points to."""


def card_markup(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.title, callback_data=b.payload) for b in buttons]])


def reply_to(message_id: int) -> ReplyParameters:
    """In the card's thread; if staff deleted the card, the message is still sent."""
    return ReplyParameters(message_id, allow_sending_without_reply=True)


class TelegramSender:
    """The delivery worker's Transport on a python-telegram-bot Bot."""

    def __init__(
        self,
        bot: Bot,
        cases: CaseStore,
        schools: Schools,
        texts: StaffTexts,
        *,
        membership: StaffMembership | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._bot = bot
        self._cases = cases
        self._schools = schools
        self._texts = texts
        self._topics = CaseTopics(bot, cases, texts)
        self._membership = membership
        self._clock = clock
        self._senders: dict[DeliveryKind | str, Send] = {
            K.CASE_CARD: self._case_card,
            K.CARD_UPDATE: self._card_update,
            K.EVIDENCE: self._evidence,
            K.TRANSCRIPT: self._transcript,
            K.PIN: self._pin,
            K.PARENT_CLAIMED: self._parent_claimed,
            K.PARENT_RESOLVED: self._parent_resolved,
            K.STAFF_REPLY: self._staff_reply,
            K.PARENT_REPLY: self._parent_reply,
            K.URGENT_REMINDER: self._urgent_reminder,
            K.TOPIC_CLOSE: self._topic_close,
            K.TOPIC_REOPEN: self._topic_reopen,
            K.STAFF_REPLY_SENT: self._staff_reply_sent,
            K.CHAT_FAILED_ALERT: self._chat_failed_alert,
            K.PARENT_DELIVERED: self._parent_delivered,
            K.PARENT_UNDELIVERED: self._parent_undelivered,
        }

    def sender(self, kind: DeliveryKind | str) -> Send | None:
        return self._senders.get(kind)

    def failure(self, error: Exception) -> Failure:
        return failures.failure(error)

    async def _view(self, delivery: DueDelivery) -> CaseView:
        view = await self._cases.get(delivery.case_id) if delivery.case_id is not None else None
        if view is None:
            raise CaseGoneError
        return view

    async def _card_of(self, delivery: DueDelivery) -> tuple[CaseView, int]:
        view = await self._view(delivery)
        if view.card_message_id is None:
            raise CardNotPostedError
        return view, view.card_message_id

    async def _send_text(
        self, chat_id: int, text: str, reply: int | None = None, thread: int | None = None
    ) -> Sent:
        """A text (in forum topic ``thread`` if given), split at Telegram's limit if it must be; the last
        piece is the one recorded as the message, the others as its parts."""
        sent: list[Message] = []
        for piece in split_text(text):
            sent.append(
                await self._bot.send_message(
                    chat_id,
                    piece,
                    reply_parameters=reply_to(reply) if reply is not None else None,
                    message_thread_id=thread,
                    link_preview_options=NO_PREVIEW,
                )
            )
        *earlier, last = sent
        return Sent(last.message_id, parts=tuple(m.message_id for m in earlier))

    # ---- the staff chat ----------------------------------------------------------------------------------

    async def _restricted(self, chat_id: int) -> bool:
        """The chat holds members who are not named staff: no details there."""
        return self._membership is not None and await self._membership.restricted(chat_id)

    async def _card_for(self, view: CaseView, chat_id: int) -> StaffCard:
        if await self._restricted(chat_id):
            return self._texts.restricted_card(view)
        return self._texts.card(view)

    async def _case_card(self, delivery: DueDelivery) -> Sent:
        view = await self._view(delivery)
        restricted = await self._restricted(delivery.chat_id)
        card = self._texts.restricted_card(view) if restricted else self._texts.card(view)
        message = await self._bot.send_message(
            delivery.chat_id,
            card.text,
            reply_markup=card_markup(card.buttons),
            message_thread_id=await self._topics.thread_for(view),
            link_preview_options=NO_PREVIEW,
        )
        card_id = message.message_id
        followups: list[tuple[DeliveryKind, dict[str, Any]]] = []
        if view.priority is Priority.URGENT:
            followups.append((K.PIN, {"message_id": card_id}))
        if restricted:  # the details go privately to whoever claims
            return Sent(card_id, tuple(followups), card_case_id=view.id)
        count = len(view.attachments)
        for number, file_id in enumerate(view.attachments, start=1):
            evidence = {"reply_to": card_id, "file_id": file_id, "number": number, "count": count}
            followups.append((K.EVIDENCE, evidence))
        if card.long:
            followups.append((K.TRANSCRIPT, {"reply_to": card_id}))
        return Sent(card_id, tuple(followups), card_case_id=view.id)

    async def _card_update(self, delivery: DueDelivery) -> Sent:
        view, card_id = await self._card_of(delivery)
        card = await self._card_for(view, delivery.chat_id)
        await self._bot.edit_message_text(
            card.text,
            chat_id=delivery.chat_id,
            message_id=card_id,
            reply_markup=card_markup(card.buttons),
            link_preview_options=NO_PREVIEW,
        )
        return Sent(card_id)

    async def _evidence(self, delivery: DueDelivery) -> Sent:
        view = await self._view(delivery)
        if await self._restricted(delivery.chat_id):
            return Sent(None)  # the chat took in a member who is not named staff since the card went out
        payload = delivery.payload
        caption = outgoing.evidence_caption(self._texts, view, int(payload["number"]), int(payload["count"]))
        message = await self._bot.send_photo(
            delivery.chat_id,
            payload["file_id"],
            caption=caption,
            reply_parameters=reply_to(payload["reply_to"]),
            message_thread_id=view.topic_id,
        )
        return Sent(message.message_id)

    async def _transcript(self, delivery: DueDelivery) -> Sent:
        view = await self._view(delivery)
        if await self._restricted(delivery.chat_id):
            return Sent(None)
        name, data = self._texts.transcript_document(view)
        caption = self._texts.say("utter_staff_transcript_caption", reference=view.reference)
        message = await self._bot.send_document(
            delivery.chat_id,
            data,
            filename=name,
            caption=caption,
            reply_parameters=reply_to(delivery.payload["reply_to"]),
            message_thread_id=view.topic_id,
        )
        return Sent(message.message_id)

    async def _pin(self, delivery: DueDelivery) -> Sent:
        message_id = int(delivery.payload["message_id"])
        await self._bot.pin_chat_message(delivery.chat_id, message_id)
        return Sent(message_id)

    async def _parent_reply(self, delivery: DueDelivery) -> Sent:
        view, card_id = await self._card_of(delivery)
        urgent = bool(delivery.payload.get("urgent"))
        words = self._texts.parent_words(str(delivery.payload.get("text", "")))
        text = outgoing.parent_reply(self._texts, view, words, urgent)
        if await self._restricted(delivery.chat_id):
            text = await self._parent_reply_privately(view, words, urgent)
        return await self._send_text(delivery.chat_id, text, reply=card_id, thread=view.topic_id)

    async def _parent_reply_privately(self, view: CaseView, words: str, urgent: bool) -> str:
        """The parent's words to the claimer's private chat; what the staff chat is told instead."""
        assert self._membership is not None
        if view.claimed_by is None:
            line = self._texts.say("utter_staff_parent_reply_restricted_unclaimed", reference=view.reference)
        else:
            private = self._texts.say(
                "utter_staff_parent_reply_private", reference=view.reference, text=words
            )
            if urgent:
                private = f"{self._texts.say('utter_staff_card_urgent')}\n{private}"
            if await self._membership.send_privately(view.claimed_by, view, private):
                line = self._texts.say("utter_staff_parent_reply_restricted", reference=view.reference)
            else:
                line = self._texts.say(
                    "utter_staff_parent_reply_not_private",
                    reference=view.reference,
                    staff_name=view.claimed_by_name or "?",
                    bot_username=self._membership.start_link(),
                )
        return f"{self._texts.say('utter_staff_card_urgent')}\n{line}" if urgent else line

    async def _urgent_reminder(self, delivery: DueDelivery) -> Sent:
        view, card_id = await self._card_of(delivery)
        if view.status is not CaseStatus.OPEN:
            return Sent(None)  # claimed since the reminder was queued: nothing to remind
        text = outgoing.urgent_reminder(self._texts, view, self._clock())
        return await self._send_text(delivery.chat_id, text, reply=card_id, thread=view.topic_id)

    async def _topic_close(self, delivery: DueDelivery) -> Sent:
        await self._topics.close(await self._view(delivery))
        return Sent(None)

    async def _topic_reopen(self, delivery: DueDelivery) -> Sent:
        await self._topics.reopen(await self._view(delivery))
        return Sent(None)

    async def _staff_reply_sent(self, delivery: DueDelivery) -> Sent:
        """In the staff chat, under the staff member's message: it has reached the parent."""
        view = await self._view(delivery)
        text = self._texts.say("utter_staff_reply_sent", reference=view.reference)
        reply = int(delivery.payload["reply_to"])
        return await self._send_text(delivery.chat_id, text, reply=reply, thread=view.topic_id)

    async def _chat_failed_alert(self, delivery: DueDelivery) -> Sent:
        view = await self._view(delivery)
        text = outgoing.chat_failed_alert(self._texts, self._schools, view, delivery.payload)
        return await self._send_text(delivery.chat_id, text)

    # ---- the parent's chat -------------------------------------------------------------------------------

    async def _parent_delivered(self, delivery: DueDelivery) -> Sent:
        return await self._to_parent(delivery, "utter_parent_urgent_delivered")

    async def _parent_undelivered(self, delivery: DueDelivery) -> Sent:
        return await self._to_parent(delivery, outgoing.undelivered(await self._view(delivery)))

    async def _parent_claimed(self, delivery: DueDelivery) -> Sent:
        return await self._to_parent(delivery, "utter_parent_claimed")

    async def _parent_resolved(self, delivery: DueDelivery) -> Sent:
        return await self._to_parent(delivery, "utter_parent_resolved")

    async def _staff_reply(self, delivery: DueDelivery) -> Sent:
        sent = await self._to_parent(delivery, "utter_parent_staff_reply")
        confirm = outgoing.reply_confirmation(delivery)
        return sent if confirm is None else replace(sent, after=(confirm,))

    async def _to_parent(self, delivery: DueDelivery, response: str) -> Sent:
        view = await self._view(delivery)
        text = outgoing.to_parent(self._texts, view, response, delivery.payload)
        return await self._send_text(delivery.chat_id, text)
