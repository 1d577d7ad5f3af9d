"""The handoff flows of SPEC §4.3-§4.6: collect a concern step by step, show it, and only with the
parent's consent turn it into a case for the school's staff.

A flow's state is a plain dict kept in ParentState.flow (stored in the database), so a restart
resumes where the parent was. Nothing leaves the parent's chat before the consent step.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bot.config import School, Schools
from bot.dialogue.messages import Button, Reply
from bot.storage.models import Author, CaseKind, Priority

if TYPE_CHECKING:
    from bot.dialogue.engine import Turn
    from bot.storage.cases import CaseDraft, CaseView

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 1500
CHOOSE = "choose"
CANCEL_WORDS = re.compile(
    r"^\s*(stop|cancel|quit|exit|never ?mind|forget it|don'?t send( it)?|abort)\W*$", re.IGNORECASE
)
_PHONE = re.compile(r"^\+?[\d\s()-]{10,20}$")
_EMAIL = re.compile(r"^(?=.{1,200}$)[^@\s]+@[^@\s]+\.[^@\s]+$")  # 200: the contact_detail column
_COMMAND = re.compile(r"^/\w+(@\w+)?(\{.*\})?(\s|$)", re.DOTALL)
"""A /command or a button's payload (`/intent{...}`): never the answer to a free-text question."""
CHOICE_STEPS = {"where", "link"}
"""Free-text steps that also take a button's `/choose{...}` payload."""


class Flow(str, enum.Enum):
    COMPLAINT = "complaint"
    CYBERBULLYING = "cyberbullying"
    BREACH = "breach"
    GENERAL = "general"
    SAFEGUARDING = "safeguarding"


INTENT_FLOWS = {
    "how_to_complain": Flow.COMPLAINT,
    "report_cyberbullying": Flow.CYBERBULLYING,
    "report_breach": Flow.BREACH,
    "human_handoff": Flow.GENERAL,
    "urgent_safeguarding": Flow.SAFEGUARDING,
}
CASE_KINDS = {
    Flow.COMPLAINT: CaseKind.COMPLAINT,
    Flow.CYBERBULLYING: CaseKind.CYBERBULLYING,
    Flow.BREACH: CaseKind.BREACH,
    Flow.GENERAL: CaseKind.GENERAL,
    Flow.SAFEGUARDING: CaseKind.SAFEGUARDING,
}
_COLLECT_AND_SEND = ("contact", "contact_detail", "consent")
STEPS: dict[Flow, tuple[str, ...]] = {
    Flow.COMPLAINT: ("offer", "school", "describe", *_COLLECT_AND_SEND),
    Flow.CYBERBULLYING: (
        "danger",
        "describe",
        "where",
        "who",
        "when",
        "evidence",
        "school",
        *_COLLECT_AND_SEND,
    ),
    Flow.BREACH: ("offer", "describe", "where", "link", "school", *_COLLECT_AND_SEND),
    Flow.GENERAL: ("offer", "school", "describe", *_COLLECT_AND_SEND),
    Flow.SAFEGUARDING: ("offer", "school", "describe", *_COLLECT_AND_SEND),
}
YES_NO_STEPS = {"offer", "danger", "consent"}
FREE_TEXT_STEPS = {"describe", "who", "when", "link", "contact_detail", "where"}
DETAIL_LABELS = (
    ("where", "utter_label_where"),
    ("who", "utter_label_who"),
    ("when", "utter_label_when"),
    ("link", "utter_label_link"),
)


class CaseRecords(Protocol):
    """What the flows need from storage (bot.storage.cases.CaseStore provides it)."""

    async def open_case(self, draft: CaseDraft) -> CaseView: ...

    async def record(self, parent_id: str, lines: Sequence[tuple[Author, str]]) -> None: ...

    async def add_attachment(self, parent_id: str, file_id: str, kind: str = "photo") -> None: ...


def is_cancel(text: str) -> bool:
    return CANCEL_WORDS.match(text) is not None


def parent_chat_id(parent_id: str) -> int | None:
    """Telegram's private chat with a user has the user's id; the console has no chat to reply to."""
    return int(parent_id) if parent_id.lstrip("-").isdigit() else None


class HandoffFlows:
    def __init__(self, schools: Schools, cases: CaseRecords) -> None:
        self._schools = schools
        self._cases = cases

    # ---- starting ------------------------------------------------------------------------------------

    async def start(self, intent: str, turn: Turn, *, offer_accepted: bool = False) -> list[Reply]:
        """Begin the flow for a handoff intent (the engine has already given any emergency guidance)."""
        flow = INTENT_FLOWS[intent]
        turn.state.flow = {"name": flow.value, "step": STEPS[flow][0], "school_id": turn.state.school_id}
        intro: list[Reply] = []
        if flow in (Flow.COMPLAINT, Flow.CYBERBULLYING, Flow.BREACH, Flow.GENERAL) and not offer_accepted:
            guidance = turn.say(f"utter_{intent}")
            intro.append(Reply(guidance.text))  # its buttons would lead away from the offer below
        if offer_accepted and flow is not Flow.CYBERBULLYING:
            return await self._advance(turn)
        return [*intro, self.prompt(turn)]

    # ---- answering the current step -------------------------------------------------------------------

    def may_hold_a_side_question(self, turn: Turn) -> bool:
        """A free-text step other than the description (where a question for staff is the answer)."""
        return self._step(turn) in FREE_TEXT_STEPS - {"describe"}

    async def resume(self, turn: Turn, text: str) -> list[Reply] | None:
        """Take `text` as the answer to the current step; None when it is not an answer to it."""
        step = self._step(turn)
        if step in FREE_TEXT_STEPS and _is_command(text) and not (step in CHOICE_STEPS and _chosen(text)):
            return None  # a command, or a button of an older message: not what the parent was asked
        answer = getattr(self, f"_answer_{step}")(turn, text.strip())
        if answer is None:
            return None
        if isinstance(answer, list):
            return answer
        return await self._advance(turn)

    def _answer_offer(self, turn: Turn, text: str) -> Any:
        choice = _yes_no(text)
        if choice is None:
            return None
        if not choice:
            turn.state.flow = None
            return [turn.say("utter_not_sent_continue")]
        return True

    def _answer_danger(self, turn: Turn, text: str) -> Any:
        choice = _yes_no(text)
        if choice is None:
            return None
        if choice:
            self._switch_to_safeguarding(turn)
            return [turn.say("utter_urgent_safeguarding"), self.prompt(turn)]
        return True

    def _answer_consent(self, turn: Turn, text: str) -> Any:
        choice = _yes_no(text)
        if choice is None:
            return None
        if not choice:
            turn.state.flow = None
            return [turn.say("utter_consent_refused")]
        return True

    def _answer_school(self, turn: Turn, text: str) -> Any:
        school = self._school_from(text)
        if school is None:
            return None
        self._data(turn)["school_id"] = school.id
        turn.state.school_id = turn.state.school_id or school.id
        return True

    def _answer_describe(self, turn: Turn, text: str) -> Any:
        return self._store_text(turn, "summary", text)

    def _answer_who(self, turn: Turn, text: str) -> Any:
        return self._store_text(turn, "who", text)

    def _answer_when(self, turn: Turn, text: str) -> Any:
        return self._store_text(turn, "when", text)

    def _answer_where(self, turn: Turn, text: str) -> Any:
        chosen = _chosen(text)
        return self._store_text(turn, "where", chosen or text)

    def _answer_link(self, turn: Turn, text: str) -> Any:
        if _chosen(text) == "skip" or text.lower() in {"skip", "no", "none", "no link"}:
            return True
        return self._store_text(turn, "link", text)

    def _answer_evidence(self, turn: Turn, text: str) -> Any:
        if _chosen(text) == "done" or text.lower() in {"done", "no", "none", "finished", "that's all"}:
            return True
        return None

    def _answer_contact(self, turn: Turn, text: str) -> Any:
        data = self._data(turn)
        chosen = _chosen(text) or text.lower()
        if _EMAIL.match(text):
            data.update(contact="email", contact_detail=text)
        elif _PHONE.match(text):
            data.update(contact="phone", contact_detail=text)
        elif chosen in {"chat", "here", "reply here", "this chat"}:
            data.update(contact="chat", contact_detail=None)
        elif "phone" in chosen or "call" in chosen:
            data.update(contact="phone", contact_detail=None)
        elif "email" in chosen or "e-mail" in chosen:
            data.update(contact="email", contact_detail=None)
        else:
            return None
        return True

    def _answer_contact_detail(self, turn: Turn, text: str) -> Any:
        data = self._data(turn)
        if data.get("contact") == "phone" and not _PHONE.match(text):
            return [turn.say("utter_invalid_phone")]
        if data.get("contact") == "email" and not _EMAIL.match(text):
            return [turn.say("utter_invalid_email")]
        data["contact_detail"] = text
        return True

    async def add_evidence(self, turn: Turn, file_id: str) -> list[Reply] | None:
        """A photo from the parent: evidence while a bullying report is collecting it, else None."""
        if turn.state.flow is None or turn.state.flow.get("name") != Flow.CYBERBULLYING.value:
            return None
        if STEPS[Flow.CYBERBULLYING].index(self._step(turn)) < STEPS[Flow.CYBERBULLYING].index("describe"):
            return None
        await self._cases.add_attachment(turn.parent_id, file_id)
        data = self._data(turn)
        data["evidence"] = int(data.get("evidence", 0)) + 1
        return [
            turn.responses.render("utter_evidence_saved", {**turn.variables, "count": str(data["evidence"])})
        ]

    # ---- moving on -----------------------------------------------------------------------------------

    async def _advance(self, turn: Turn) -> list[Reply]:
        """Go to the next step that still needs asking and ask it; after consent, open the case."""
        data = self._data(turn)
        steps = STEPS[Flow(data["name"])]
        if data["step"] == "consent":
            return await self._open_case(turn)
        index = steps.index(data["step"]) + 1
        while self._skip(steps[index], data):
            index += 1
        data["step"] = steps[index]
        self._use_school(turn)
        return [self.prompt(turn)]

    def _skip(self, step: str, data: dict[str, Any]) -> bool:
        if step == "school":
            return self._schools.get(data.get("school_id")) is not None
        if step == "contact_detail":
            return data.get("contact") == "chat" or bool(data.get("contact_detail"))
        return False

    def prompt(self, turn: Turn) -> Reply:
        """The question of the current step."""
        data = self._data(turn)
        step = data["step"]
        self._use_school(turn)
        if step == "offer":
            name = (
                "utter_offer_safeguarding_alert"
                if data["name"] == Flow.SAFEGUARDING.value
                else "utter_offer_handoff"
            )
            return turn.say(name)
        if step == "school":
            return Reply(turn.say("utter_choose_school").text, self.school_buttons())
        if step == "describe":
            return turn.say(f"utter_ask_describe_{data['name']}")
        if step == "contact_detail":
            return turn.say("utter_ask_phone" if data.get("contact") == "phone" else "utter_ask_email")
        if step == "evidence":
            return turn.say("utter_evidence_advice")
        if step == "consent":
            return self._summary(turn)
        return turn.say(f"utter_ask_{step}")

    def school_buttons(self) -> tuple[Button, ...]:
        return tuple(
            Button(school.name, f'/choose_school{{"school":"{school.id}"}}')
            for school in self._schools.schools
        )

    def _summary(self, turn: Turn) -> Reply:
        data = self._data(turn)
        lines = [f"{turn.say('utter_label_concern').text}: {data.get('summary', '')}"]
        lines += [f"{turn.say(label).text}: {data[key]}" for key, label in DETAIL_LABELS if data.get(key)]
        variables = {
            **turn.variables,
            "kind_label": turn.say(f"utter_kind_{data['name']}").text,
            "details": "\n".join(lines),
            "contact": self._contact_text(turn, "utter_contact_{}"),
            "evidence": str(data.get("evidence", 0)) if data.get("evidence") else turn.say("utter_none").text,
        }
        return turn.responses.render("utter_consent_summary", variables)

    def _contact_text(self, turn: Turn, pattern: str) -> str:
        data = self._data(turn)
        name = pattern.format(data.get("contact", "chat"))
        return turn.responses.render(name, {"detail": str(data.get("contact_detail") or "")}).text

    async def _open_case(self, turn: Turn) -> list[Reply]:
        from bot.storage.cases import CaseDraft

        data = self._data(turn)
        flow = Flow(data["name"])
        school = self._schools.get(data.get("school_id"))
        if school is None:  # cannot happen: the school step is never skipped without one
            data["step"] = "school"
            return [self.prompt(turn)]
        urgent = flow is Flow.SAFEGUARDING
        draft = CaseDraft(
            parent_id=turn.parent_id,
            parent_chat_id=parent_chat_id(turn.parent_id),
            school_id=school.id,
            staff_chat_id=school.staff_chat_id,
            kind=CASE_KINDS[flow],
            priority=Priority.URGENT if urgent else Priority.NORMAL,
            summary=str(data.get("summary", "")),
            contact_method=str(data.get("contact", "chat")),
            contact_detail=data.get("contact_detail"),
            details={key: data[key] for key, _ in DETAIL_LABELS if data.get(key)},
        )
        try:
            case = await self._cases.open_case(draft)
        except Exception:
            log.exception("Could not open a %s case for parent %s", flow.value, turn.parent_id)
            return [turn.say("utter_case_failed")]
        log.info("Case %s (%s) opened for school %s", case.reference, flow.value, school.id)
        variables = {
            **turn.variables,
            "reference": case.reference,
            "contact_phrase": self._contact_text(turn, "utter_contact_{}_phrase"),
        }
        turn.state.flow = None
        name = "utter_case_created_urgent" if urgent else "utter_case_created"
        return [turn.responses.render(name, variables)]

    # ---- helpers -----------------------------------------------------------------------------------------

    def _switch_to_safeguarding(self, turn: Turn) -> None:
        data = self._data(turn)
        turn.state.flow = {
            "name": Flow.SAFEGUARDING.value,
            "step": "offer",
            "school_id": data.get("school_id"),
        }

    def _store_text(self, turn: Turn, key: str, text: str) -> bool:
        self._data(turn)[key] = text[:MAX_ANSWER_CHARS]
        return True

    def _school_from(self, text: str) -> School | None:
        payload = re.match(r'^/choose_school\{"school":\s*"([a-z0-9-]+)"\}$', text)
        if payload:
            return self._schools.get(payload.group(1))
        return self._schools.match(text)

    def _use_school(self, turn: Turn) -> None:
        school = self._schools.get(self._data(turn).get("school_id"))
        if school is not None:
            turn.use_school(school)

    def _step(self, turn: Turn) -> str:
        return str(self._data(turn)["step"])

    @staticmethod
    def _data(turn: Turn) -> dict[str, Any]:
        assert turn.state.flow is not None
        return turn.state.flow


def _yes_no(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered in {"/affirm", "yes", "y", "yeah", "yep", "yes please", "ok", "okay", "sure", "go ahead"}:
        return True
    if lowered in {"/deny", "no", "n", "nope", "no thanks", "nah", "not now"}:
        return False
    return None


def _is_command(text: str) -> bool:
    return _COMMAND.match(text.strip()) is not None


def _chosen(text: str) -> str | None:
    match = re.match(r'^/choose\{"value":\s*"([a-z_]+)"\}$', text.strip())
    return match.group(1) if match else None
