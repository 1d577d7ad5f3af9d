"""What staff see: a case as a plain-text card with its buttons, the transcript file, the /cases lines.

Cards are sent without parse_mode, so whatever a parent typed (HTML, Markdown) shows literally. A parent's
words can never pass for the bot's: every line of them starts with the parent mark ("│ "), so a typed
"Priority: URGENT" or "Bot: ..." line reads as theirs; one-line fields (where, who, contact) lose their
line breaks; bidirectional and zero-width characters are removed; links are shown defanged ("hxxps://",
"[.]") so a tap cannot open them, and previews are off on every send.
In a chat holding members who are not named staff the card shows only reference, kind, priority, school
and status (restricted_card); the full card goes privately to the staff member who claims.
Every label and fixed sentence comes from domain.yml (`utter_staff_*`); nothing here talks to Telegram.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.dialogue.messages import Button, without_invisible_characters
from bot.dialogue.responses import ResponseBook
from bot.domain import (
    CASE_ACTIONS,
    Author,
    CaseKind,
    CaseStatus,
    CaseView,
    Priority,
    Step,
    TranscriptLine,
    actions_allowed,
)
from bot.schools import Schools
from bot.staff import routing

CARD_LIMIT = 3500
"""Longer cards show a short version, and the full text follows as a .txt document."""
SHORT_SUMMARY = 1500
SHORT_DETAIL = 300
TELEGRAM_TEXT_LIMIT = 4096
_LINK = re.compile(
    r"(?i)\b[a-z][a-z0-9+.-]*://\S+|\bwww\.\S+|(?<![@\w.-])(?:[a-z0-9-]+\.)+[a-z]{2,63}\b(?:/\S*)?"
)
"""Anything Telegram would make a link of: a scheme, www., or a bare domain (not an e-mail address)."""
_DOT_IN_LINK = re.compile(r"(?<=\w)\.(?=\w)")
_SCHEME = re.compile(r"(?i)^h(tt)(ps?)://")

CARD_HEAD_DETAILS = frozenset({Step.NAMES.value, routing.ABOUT})
"""Details the card shows in its first lines (StaffTexts.names), not among the others."""

CALLBACK_PREFIX = "staff"
ACTIONS = tuple(CASE_ACTIONS)
BUTTONS_BY_STATUS = {status: actions_allowed(status) for status in CaseStatus}
LINE_RESPONSES = {
    Author.PARENT: "utter_staff_line_parent",
    Author.BOT: "utter_staff_line_bot",
    Author.STAFF: "utter_staff_line_staff",
}
STATUS_RESPONSES = {
    CaseStatus.OPEN: "utter_staff_status_open",
    CaseStatus.CLAIMED: "utter_staff_status_claimed",
    CaseStatus.RESOLVED: "utter_staff_status_resolved",
}


@dataclass(frozen=True)
class StaffCard:
    text: str
    """What the card message shows (the short version when the whole card is too long)."""
    buttons: tuple[Button, ...]
    """Claim / Resolve, as the case's status allows; payloads are callback data."""
    full_text: str
    """The whole card with the full transcript: the .txt document when the card is long."""

    @property
    def long(self) -> bool:
        return self.text != self.full_text


def callback_data(action: str, case_id: int) -> str:
    return f"{CALLBACK_PREFIX}:{action}:{case_id}"


def parse_callback(data: str | None) -> tuple[str, int] | None:
    """("claim" | "resolve", case id) from a staff button's data; None for anything else."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != CALLBACK_PREFIX or parts[1] not in ACTIONS or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored in UTC); PostgreSQL aware ones."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


@cache
def school_time_zone() -> tzinfo:
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:
        return timezone.utc


def format_age(age: timedelta) -> str:
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def defanged(text: str) -> str:
    """Links that a tap cannot open, still readable and copyable: "https://a.example/x" becomes
    "hxxps://a[.]example/x". Telegram links anything that looks like an address, previews off or not."""

    def defang(match: re.Match[str]) -> str:
        link = _SCHEME.sub(lambda m: f"hxx{m.group(2)}://", match.group())
        return _DOT_IN_LINK.sub("[.]", link)

    return _LINK.sub(defang, text)


def one_line(text: str) -> str:
    """A parent's answer for a labelled one-line field: no invisible characters, no line breaks."""
    return " ".join(without_invisible_characters(text).split())


class StaffTexts:
    """Renders cards, transcripts and staff-chat lines from domain.yml responses."""

    def __init__(self, responses: ResponseBook, schools: Schools) -> None:
        self._responses = responses
        self._schools = schools

    def say(self, name: str, **variables: str) -> str:
        return self._responses.render(name, variables).text

    def parent_words(self, text: str) -> str:
        """A parent's text for a staff chat: every line (Unicode line breaks included) starts with the
        parent mark, links are defanged and invisible characters removed."""
        lines = defanged(without_invisible_characters(text)).splitlines() or [""]
        return "\n".join(self.say("utter_staff_parent_words", line=line) for line in lines)

    def school_name(self, school_id: str) -> str:
        school = self._schools.get(school_id)
        return school.name if school is not None else school_id

    def shows_staff_names(self, school_id: str) -> bool:
        school = self._schools.get(school_id)
        return school is not None and school.show_staff_names

    def school_email(self, school_id: str) -> str:
        school = self._schools.get(school_id)
        return school.email if school is not None else self._schools.trust.email

    def school_phone(self, school_id: str) -> str:
        school = self._schools.get(school_id)
        return school.phone if school is not None else self._schools.trust.phone

    # ---- the card ----------------------------------------------------------------------------------------

    def card(self, view: CaseView) -> StaffCard:
        variables = self._card_variables(view)
        full = self._with_urgent_line(view, self.say("utter_staff_card", **variables))
        buttons = self._buttons(view)
        if len(full) <= CARD_LIMIT:
            return StaffCard(full, buttons, full)
        short_variables = {
            **variables,
            "summary": self.parent_words(clip(view.summary, SHORT_SUMMARY)),
            "details": self._details(view, SHORT_DETAIL),
            "lines": str(len(view.transcript)),
        }
        short = self._with_urgent_line(view, self.say("utter_staff_card_short", **short_variables))
        return StaffCard(clip(short, TELEGRAM_TEXT_LIMIT), buttons, full)

    def restricted_card(self, view: CaseView) -> StaffCard:
        """The card for a chat holding members who are not named staff: reference, kind, priority,
        school and status only (no summary, details, contact, transcript or screenshots)."""
        text = self.say(
            "utter_staff_card_restricted",
            reference=view.reference,
            school_name=self.school_name(view.school_id),
            kind=self.kind(view),
            priority=self.priority(view),
            status=self.status(view),
        )
        text = self._with_urgent_line(view, text)
        return StaffCard(text, self._buttons(view), text)

    def transcript_document(self, view: CaseView) -> tuple[str, bytes]:
        """The file name and UTF-8 text of the full card, for sendDocument."""
        return f"{view.reference}-transcript.txt", self.card(view).full_text.encode("utf-8")

    def _card_variables(self, view: CaseView) -> dict[str, str]:
        return {
            "reference": view.reference,
            "school_name": self.school_name(view.school_id),
            "kind": self.kind(view),
            "priority": self.priority(view),
            "status": self.status(view),
            "opened": self.local_time(view.created_at),
            "contact": self.contact(view),
            "evidence": str(len(view.attachments)) if view.attachments else self.say("utter_none"),
            "summary": self.parent_words(view.summary),
            "details": self._details(view, None),
            "transcript": self.transcript(view),
            "names": self.names(view),
        }

    def names(self, view: CaseView) -> str:
        """Who to ask for and, for a complaint about the head, what it is about: the card's first lines
        after its reference (nothing when the parent gave no names)."""
        lines = []
        given = view.details.get(Step.NAMES.value)
        if given:
            lines.append(self.say("utter_staff_names", names=defanged(one_line(str(given)))))
        if routing.about_head(view.kind, view.details):
            routed = routing.complaints_chat(self._schools, view.school_id) is not None
            lines.append(self.say("utter_staff_about_head" if routed else "utter_staff_about_head_unrouted"))
        return "".join(f"\n{line}" for line in lines)

    def _with_urgent_line(self, view: CaseView, text: str) -> str:
        if view.priority is not Priority.URGENT:
            return text
        return f"{self.say('utter_staff_card_urgent')}\n{text}"

    def _buttons(self, view: CaseView) -> tuple[Button, ...]:
        allowed = BUTTONS_BY_STATUS[view.status]
        template = self._responses.render("utter_staff_card", {}).buttons
        return tuple(
            Button(button.title, callback_data(button.payload.split(":")[-1], view.id))
            for button in template
            if button.payload.split(":")[-1] in allowed
        )

    def _details(self, view: CaseView, limit: int | None) -> str:
        lines = []
        for key, value in view.details.items():
            if key in CARD_HEAD_DETAILS:
                continue  # shown at the top of the card (names)
            label = self._label(f"utter_label_{key}", key.replace("_", " ").capitalize())
            text = defanged(one_line(str(value)))
            text = text if limit is None else clip(text, limit)
            lines.append(f"{label}: {text}")
        return "".join(f"\n{line}" for line in lines)

    def _label(self, name: str, default: str) -> str:
        """A label the parent side also uses (utter_kind_*, utter_label_*), or the raw value."""
        return self._responses.render(name, {}).text if name in self._responses else default

    # ---- pieces ------------------------------------------------------------------------------------------

    def topic_name(self, view: CaseView) -> str:
        """The case's forum topic: reference, kind and school, nothing about the parent."""
        return self.say(
            "utter_staff_topic_name",
            reference=view.reference,
            kind=self.kind(view),
            school_name=self.school_name(view.school_id),
        )

    def kind(self, view: CaseView) -> str:
        return self.kind_label(view.kind)

    def kind_label(self, kind: CaseKind) -> str:
        return self._label(f"utter_kind_{kind.value}", kind.value)

    def priority(self, view: CaseView) -> str:
        return view.priority.value.upper() if view.priority is Priority.URGENT else view.priority.value

    def status(self, view: CaseView) -> str:
        return self.say(STATUS_RESPONSES[view.status], staff_name=one_line(view.claimed_by_name or "?"))

    def contact(self, view: CaseView) -> str:
        method = view.contact_method
        detail = one_line(view.contact_detail or "")
        name = f"utter_staff_contact_{method}"
        if name in self._responses:
            return self._responses.render(name, {"detail": detail}).text
        return f"{method}: {detail}" if detail else method

    def transcript(self, view: CaseView) -> str:
        if not view.transcript:
            return self.say("utter_staff_no_transcript")
        return "\n".join(self.transcript_line(line) for line in view.transcript)

    def transcript_line(self, line: TranscriptLine) -> str:
        text = self.parent_words(line.text) if line.author is Author.PARENT else line.text
        return self.say(
            LINE_RESPONSES[line.author],
            text=without_invisible_characters(text),
            staff_name=one_line(line.author_name or "?"),
        )

    def local_time(self, moment: datetime) -> str:
        return as_utc(moment).astimezone(school_time_zone()).strftime("%d %b %Y, %H:%M %Z")

    def age(self, view: CaseView, now: datetime) -> str:
        return format_age(now - as_utc(view.created_at))

    # ---- /cases ------------------------------------------------------------------------------------------

    def case_list(self, school_id: str, views: list[CaseView], now: datetime) -> str:
        school_name = self.school_name(school_id)
        if not views:
            return self.say("utter_staff_no_cases", school_name=school_name)
        lines = [self.say("utter_staff_cases_header", school_name=school_name, count=str(len(views)))]
        lines += [self.case_line(view, now) for view in views]
        return "\n".join(lines)

    def case_line(self, view: CaseView, now: datetime) -> str:
        return self.say(
            "utter_staff_case_line",
            reference=view.reference,
            priority=self.priority(view),
            kind=self.kind(view),
            age=self.age(view, now),
            status=self.status(view),
        )
