"""The bot's domain types: parents, flows, case drafts and views, kinds and priorities.

Plain values only: this module imports nothing from storage, Telegram or Rasa, so the dialogue, the
storage and the staff side can all share it. Storage maps these to rows (bot/storage/models.py re-exports
the enums under their old names); the flows (bot/dialogue/flows.py) move a FlowState from step to step.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any


class CaseKind(str, enum.Enum):
    COMPLAINT = "complaint"
    CYBERBULLYING = "cyberbullying"
    BREACH = "breach"
    GENERAL = "general"
    SAFEGUARDING = "safeguarding"


class Priority(str, enum.Enum):
    NORMAL = "normal"
    URGENT = "urgent"


class CaseStatus(str, enum.Enum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class CardDelivery(str, enum.Enum):
    """Where a case's card is on its way to staff: what /status tells the parent of an open case."""

    SENDING = "sending"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    """Every chat it could go to refused it: the parent was told to contact the school directly."""


CLAIM = "claim"
RESOLVE = "resolve"
CASE_ACTIONS: dict[str, frozenset[CaseStatus]] = {
    CLAIM: frozenset({CaseStatus.OPEN}),
    RESOLVE: frozenset({CaseStatus.OPEN, CaseStatus.CLAIMED}),
}
"""The case's lifecycle, in one place: the statuses each staff action applies to (open -> claimed ->
resolved, or open -> resolved at once). The store's conditional UPDATEs (bot/storage/case_actions.py)
and the card's buttons (bot/staff/cards.py) both follow it; who may act is bot/staff/access.py's
may_act."""
OPEN_TO_MESSAGES = CASE_ACTIONS[RESOLVE]
"""A case not resolved takes messages from either side; a parent's message reopens a resolved one."""


def actions_allowed(status: CaseStatus) -> tuple[str, ...]:
    """The staff actions (buttons) a case in this status offers, in the card's order."""
    return tuple(action for action, statuses in CASE_ACTIONS.items() if status in statuses)


class Author(str, enum.Enum):
    PARENT = "parent"
    BOT = "bot"
    STAFF = "staff"


class Pending(str, enum.Enum):
    """A question the bot asked outside a flow that a plain "yes" or "no" answers."""

    HANDOFF_OFFER = "handoff_offer"
    NAMES = "names"
    """An urgent case was filed without the parent's and child's names: the next message may give them
    (or skip), and they go to the case's staff."""


class FlowName(str, enum.Enum):
    """The handoff flows, which gather a concern and the parent's consent to pass it to staff; each ends
    in a case of the kind of the same name."""

    COMPLAINT = "complaint"
    CYBERBULLYING = "cyberbullying"
    BREACH = "breach"
    GENERAL = "general"
    SAFEGUARDING = "safeguarding"

    @property
    def case_kind(self) -> CaseKind:
        return CaseKind(self.value)


class Step(str, enum.Enum):
    """One question of a flow."""

    OFFER = "offer"
    DANGER = "danger"
    SCHOOL = "school"
    ABOUT = "about"
    """A complaint: about the head teacher or the trust, or about something else (the complaints
    procedure sends the first kind to the chair of governors or the trust, never to the school's staff)."""
    DESCRIBE = "describe"
    WHERE = "where"
    WHO = "who"
    WHEN = "when"
    LINK = "link"
    EVIDENCE = "evidence"
    NAMES = "names"
    """Who staff should ask for: the parent's name and the child's name and class, as typed (skippable)."""
    CONTACT = "contact"
    CONTACT_DETAIL = "contact_detail"
    CONSENT = "consent"


ABOUT_HEAD = "head"
"""A complaint's answer at Step.ABOUT when it is about the head teacher or the trust (its case details
hold it under "about"): the staff policy sends it to the complaints chat (bot/staff/routing.py)."""
ABOUT_OTHER = "other"


class ContactMethod(str, enum.Enum):
    CHAT = "chat"
    PHONE = "phone"
    EMAIL = "email"


MAX_DRAFT_LINES = 200
"""At most this many transcript lines are kept in a draft (its notice of lines left out included)."""
MAX_DRAFT_CHARS = 50_000
"""And at most this many characters: the draft is rewritten with every turn, and staff read it whole."""
NOTICE_CHARS = 100
"""Room kept for the one line that says how many lines were left out (utter_transcript_left_out)."""


@dataclass(frozen=True)
class TranscriptEntry:
    """One line of a flow's own transcript: what would reach staff with the parent's consent."""

    author: Author
    text: str


@dataclass(frozen=True)
class DangerCheck:
    """A message the safeguarding gate was unsure of: the bot asked whether a child is at risk now, and
    the parent's yes (guidance and the urgent path) or no (the message answered as usual) is awaited."""

    text: str
    kinds: tuple[str, ...] = ()
    """The kinds of danger the gate suspected (DangerKind values): their guidance on a yes."""

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "kinds": list(self.kinds)}

    @classmethod
    def from_json(cls, data: Any) -> DangerCheck | None:
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return None
        return cls(data["text"], tuple(str(kind) for kind in data.get("kinds") or ()))


@dataclass(frozen=True)
class FlowState:
    """A handoff flow in progress: where it is, what it collected, and its own transcript and photos.

    Everything a draft holds lives here (and so in the parents.flow column, as JSON): dropping the flow
    deletes the draft, its text and its photos at once.
    """

    name: FlowName
    step: Step
    started_at: datetime
    updated_at: datetime
    school_id: str | None = None
    answers: tuple[tuple[Step, str], ...] = ()
    """The parent's answers by step (summary, where, who, when, link, contact detail)."""
    done: frozenset[Step] = frozenset()
    """Steps already answered (a step in here is not asked again, e.g. after editing the summary)."""
    contact: ContactMethod | None = None
    photos: tuple[str, ...] = ()
    """Telegram file ids of the screenshots sent in this flow."""
    lines: tuple[TranscriptEntry, ...] = ()
    shown: int = 0
    """How many of `lines` the consent step showed: exactly these reach staff on "yes"."""
    left_out: int = 0
    """How many lines, after the first, were left out to keep the draft within MAX_DRAFT_LINES and
    MAX_DRAFT_CHARS: one line saying so stands after the first wherever the transcript is shown."""
    shown_left_out: int = 0
    """`left_out` when the consent step showed the transcript: the count its notice line gave."""

    def answer(self, step: Step) -> str | None:
        return next((text for key, text in self.answers if key is step), None)

    def with_answer(self, step: Step, text: str | None) -> FlowState:
        kept = tuple((key, value) for key, value in self.answers if key is not step)
        answers = (*kept, (step, text)) if text is not None else kept
        return replace(self, answers=answers, done=self.done | {step})

    def hear(self, *entries: TranscriptEntry) -> FlowState:
        """Add lines; over the cap, the oldest after the first (what started the flow) are left out. At
        the consent step the lines it showed are kept whole: they are exactly what "yes" sends."""
        lines = (*self.lines, *entries)
        if _within_cap(lines, notice=self.left_out > 0):
            return replace(self, lines=lines)
        keep = max(1, self.shown) if self.step is Step.CONSENT else 1
        kept = _newest_within_cap(lines, keep)
        removed = len(lines) - len(kept)
        shown = self.shown if keep > 1 else self.shown - max(0, min(removed, self.shown - 1))
        return replace(self, lines=kept, left_out=self.left_out + removed, shown=shown)

    def expired(self, now: datetime, timeout_seconds: float) -> bool:
        return (now - as_utc(self.updated_at)).total_seconds() > timeout_seconds

    # ---- as stored in the parents.flow JSON column ---------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name.value,
            "step": self.step.value,
            "started_at": self.started_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "school_id": self.school_id,
            "answers": [[step.value, text] for step, text in self.answers],
            "done": sorted(step.value for step in self.done),
            "contact": self.contact.value if self.contact else None,
            "photos": list(self.photos),
            "lines": [[line.author.value, line.text] for line in self.lines],
            "shown": self.shown,
            "left_out": self.left_out,
            "shown_left_out": self.shown_left_out,
        }

    def tombstone(self) -> dict[str, str]:
        """What the purge leaves of an expired draft: only its flow's name, so the parent's next message
        can say that it expired (and nothing of what it held)."""
        return {"expired": self.name.value}

    @staticmethod
    def expired_name(data: object) -> FlowName | None:
        """The flow whose draft the purge deleted, when `data` is its tombstone."""
        if (
            isinstance(data, dict)
            and set(data) == {"expired"}
            and data["expired"] in FlowName._value2member_map_
        ):
            return FlowName(data["expired"])
        return None

    @classmethod
    def from_json(cls, data: object) -> FlowState | None:
        """The stored flow; None for anything unreadable (an older format, a damaged value): no flow."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                name=FlowName(data["name"]),
                step=Step(data["step"]),
                started_at=as_utc(datetime.fromisoformat(data["started_at"])),
                updated_at=as_utc(datetime.fromisoformat(data["updated_at"])),
                school_id=data.get("school_id"),
                answers=tuple((Step(step), str(text)) for step, text in data.get("answers", [])),
                done=frozenset(Step(step) for step in data.get("done", [])),
                contact=ContactMethod(data["contact"]) if data.get("contact") else None,
                photos=tuple(str(photo) for photo in data.get("photos", [])),
                lines=tuple(TranscriptEntry(Author(a), str(t)) for a, t in data.get("lines", [])),
                shown=int(data.get("shown", 0)),
                left_out=int(data.get("left_out", 0)),
                shown_left_out=int(data.get("shown_left_out", 0)),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _within_cap(lines: tuple[TranscriptEntry, ...], *, notice: bool) -> bool:
    room = NOTICE_CHARS if notice else 0
    count = len(lines) + (1 if notice else 0)
    return count <= MAX_DRAFT_LINES and sum(len(line.text) for line in lines) + room <= MAX_DRAFT_CHARS


def _newest_within_cap(lines: tuple[TranscriptEntry, ...], keep: int) -> tuple[TranscriptEntry, ...]:
    """The first `keep` lines and as many of the newest as fit beside them and the notice."""
    kept, rest = lines[:keep], lines[keep:]
    room_lines = MAX_DRAFT_LINES - 1 - len(kept)
    room_chars = MAX_DRAFT_CHARS - NOTICE_CHARS - sum(len(line.text) for line in kept)
    newest: list[TranscriptEntry] = []
    for line in reversed(rest):
        if len(newest) >= room_lines or len(line.text) > room_chars:
            break
        newest.append(line)
        room_chars -= len(line.text)
    return (*kept, *reversed(newest))


@dataclass
class ParentState:
    """What the engine remembers about each parent between messages."""

    school_id: str | None = None
    fallback_streak: int = 0
    pending: Pending | None = None
    flow: FlowState | None = None
    """The handoff flow in progress, if any."""
    relay_case_id: int | None = None
    """While set, what the parent types goes to that case's staff thread."""
    clarify_options: tuple[str, ...] = ()
    """The intents offered by the last "Did you mean ...?" question, in order: a typed "the first one"
    or an option's name answers it. Cleared by the next message, whatever it is."""
    danger_check: DangerCheck | None = None
    """The message awaiting the parent's answer to "is a child at risk now?"; cleared by the next one."""
    expired_flow: FlowName | None = field(default=None, compare=False)
    """A flow whose draft the purge deleted since the parent last wrote: they are told once."""
    updated_at: datetime | None = field(default=None, compare=False)
    """When the parent's row last changed (their last message, or a staff reply): read, never written."""


@dataclass(frozen=True)
class CaseDraft:
    """What a flow collected, ready to become a case once the parent consents."""

    parent_id: str
    parent_chat_id: int | None
    school_id: str
    staff_chat_id: int
    kind: CaseKind
    priority: Priority
    summary: str
    contact_method: str
    contact_detail: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    transcript: tuple[TranscriptEntry, ...] = ()
    """Exactly the lines the parent was shown at the consent step."""
    attachments: tuple[str, ...] = ()
    """Telegram file ids of the flow's own screenshots."""


@dataclass(frozen=True)
class TranscriptLine:
    author: Author
    text: str
    at: datetime
    author_name: str | None = None
    """The staff member's name on staff lines (what staff see as "Staff (name): ...")."""


@dataclass(frozen=True)
class CaseView:
    """A case as staff and parents see it (detached from the database session)."""

    id: int
    reference: str
    school_id: str
    kind: CaseKind
    priority: Priority
    status: CaseStatus
    summary: str
    details: dict[str, Any]
    contact_method: str
    contact_detail: str | None
    parent_id: str | None
    parent_chat_id: int | None
    staff_chat_id: int
    card_message_id: int | None
    claimed_by_name: str | None
    created_at: datetime
    transcript: tuple[TranscriptLine, ...]
    attachments: tuple[str, ...]
    """Telegram file ids of the evidence photos."""
    topic_id: int | None = None
    """The case's forum topic in its staff chat (None in a group without topics)."""
    claimed_by: int | None = None
    """The Telegram id of the staff member who claimed it: where its details go privately."""
    card_delivery: CardDelivery | None = None
    """Read only for the parent's own list of cases (None elsewhere)."""


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored in UTC); PostgreSQL aware ones."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def parent_chat_id(parent_id: str) -> int | None:
    """Telegram's private chat with a user has the user's id; the console has no chat to reply to."""
    return int(parent_id) if parent_id.lstrip("-").isdigit() else None
