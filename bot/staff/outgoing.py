"""What each outbox row says, apart from the card itself (bot/staff/cards.py): the parent's messages about
their case, a parent's words relayed to the staff chat, reminders, alerts and confirmations. Texts only,
from domain.yml through StaffTexts; the transport (bot/telegram/staff/senders.py) sends them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.domain import CaseView, Priority
from bot.schools import Schools
from bot.staff.cards import StaffTexts
from bot.staff.failover import setting_of
from bot.storage.models import DeliveryKind
from bot.storage.outbox import DueDelivery, FollowUp

WITHOUT_STAFF_NAMES = {
    "utter_parent_claimed": "utter_parent_claimed_by_school",
    "utter_parent_staff_reply": "utter_parent_staff_reply_from_school",
}
"""What parents see instead when the school does not show staff names (the default)."""


def to_parent(texts: StaffTexts, view: CaseView, response: str, payload: Mapping[str, Any]) -> str:
    """A message to the parent about their case (claimed, resolved, a staff reply, delivered or not)."""
    if not texts.shows_staff_names(view.school_id):
        response = WITHOUT_STAFF_NAMES.get(response, response)
    return texts.say(
        response,
        staff_name=str(payload.get("staff_name", "")),
        school_name=texts.school_name(view.school_id),
        school_email=texts.school_email(view.school_id),
        school_phone=texts.school_phone(view.school_id),
        reference=view.reference,
        text=str(payload.get("text", "")),
    )


def undelivered(view: CaseView) -> str:
    """The response telling the parent no staff chat took their case: phone the school (and 999 when it
    is urgent)."""
    urgent = view.priority is Priority.URGENT
    return "utter_parent_urgent_undelivered" if urgent else "utter_parent_case_undelivered"


def reply_confirmation(delivery: DueDelivery) -> FollowUp | None:
    """Once a staff member's message has reached the parent: the "sent to the parent" line under it in
    the staff chat, when the message asked for one."""
    payload = delivery.payload
    if "confirm_chat_id" not in payload:
        return None
    return FollowUp(
        DeliveryKind.STAFF_REPLY_SENT,
        int(payload["confirm_chat_id"]),
        delivery.case_id,
        {"reply_to": int(payload["confirm_message_id"])},
    )


def parent_reply(texts: StaffTexts, view: CaseView, words: str, urgent: bool) -> str:
    """The parent's later message, as the staff chat shows it in the case's thread."""
    name = "utter_staff_parent_reply_urgent" if urgent else "utter_staff_parent_reply"
    return texts.say(name, reference=view.reference, text=words)


def urgent_reminder(texts: StaffTexts, view: CaseView, now: datetime) -> str:
    return texts.say("utter_staff_urgent_reminder", reference=view.reference, age=texts.age(view, now))


def evidence_caption(texts: StaffTexts, view: CaseView, number: int, count: int) -> str:
    return texts.say(
        "utter_staff_evidence_caption", number=str(number), count=str(count), reference=view.reference
    )


def chat_failed_alert(texts: StaffTexts, schools: Schools, view: CaseView, payload: Mapping[str, Any]) -> str:
    """In the trust's chat, with a case that came there: which school's chat failed, and why."""
    failed = int(payload.get("chat_id", 0))
    return texts.say(
        "utter_staff_chat_failed_alert",
        school_name=texts.school_name(str(payload.get("school_id", view.school_id))),
        chat_id=str(failed),
        setting=setting_of(schools, failed),
        problem=str(payload.get("problem", "")),
        reference=view.reference,
    )
