"""The handoff flows of SPEC §4.3-§4.6: collect a concern step by step, show exactly what would be sent,
and only with the parent's consent decide to open a case for the school's staff.

Each flow is a table of typed steps (FLOWS); each step has a pure handler: (context, flow state, input)
in, an Outcome out (replies, the next flow state, and decisions such as OpenCase or DiscardDraft that the
engine carries out). Nothing here does I/O or knows the engine, storage or Telegram, so the flows are
tested as tables with no model and no database. A flow's draft (answers, its own transcript lines and
screenshots) lives in its FlowState: dropping the state deletes the draft.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from bot.config import School, Schools
from bot.dialogue.messages import Button, Document, Reply
from bot.domain import (
    ABOUT_HEAD,
    ABOUT_OTHER,
    Author,
    CaseDraft,
    ContactMethod,
    FlowName,
    FlowState,
    Priority,
    Step,
    TranscriptEntry,
    parent_chat_id,
)

MAX_ANSWER_CHARS = 1500
MAX_PHOTOS_PER_REPORT = 10
"""Screenshots one report keeps (an album's worth); more are not stored and the parent is told the limit
was reached: each is a photo the staff chat is sent, and a flood of them would hold its lane (issue 20)."""
PREVIEW_LIMIT = 3000
CONSENT_MAX_LINES = 12
"""A consent screen a parent reads on a phone before agreeing: longer, and the transcript goes in a file."""
"""A consent preview longer than this is sent as a text document, its message giving the rest."""
CANCEL_WORDS = re.compile(
    r"^\s*(stop|cancel|quit|exit|never ?mind|forget it|don'?t send( it)?|abort)\W*$", re.IGNORECASE
)
_PHONE = re.compile(r"^\+?[\d\s()-]{10,20}(?:[,;.]?\s+\D.{0,60})?$")
"""A phone number, optionally with a short note after it ("07700 900123, mornings")."""
_EMAIL = re.compile(r"^(?=.{1,200}$)[^@\s]+@[^@\s]+\.[^@\s]+$")  # 200: the contact_detail column
_COMMAND = re.compile(r"^/\w+(@\w+)?(\{.*\})?(\s|$)", re.DOTALL)
"""A /command or a button's payload (`/intent{...}`): never the answer to a free-text question."""
_CHOSEN = re.compile(r'^/choose\{"value":\s*"([a-z_]+)"\}$')
_CHOSEN_SCHOOL = re.compile(r'^/choose_school\{"school":\s*"([a-z0-9-]+)"\}$')
YES_WORDS = frozenset(
    {"yes", "y", "yes please", "ok", "okay", "send it", "yes send it", "yes, send it", "please send it",
     "send", "yep", "yeah", "sure", "go ahead", "yes go ahead"}
)  # fmt: skip
"""At the consent step, only a button press or one of these exact words is a yes."""
NO_WORDS = frozenset({"no", "n", "nope", "no thanks", "nah", "not now", "don't", "do not send it"})
SKIP = "skip"
SKIP_WORDS = frozenset(
    {SKIP, "skip it", "no thanks", "no thank you", "no", "nope", "rather not", "i'd rather not",
     "id rather not", "none", "pass"}
)  # fmt: skip
"""Typed words that mean the Skip button of the names step."""
_NOT_HEAD = re.compile(r"\b(not|no|neither|nor|something else|other|else)\b", re.IGNORECASE)
_HEAD = re.compile(
    r"\b(head|heads|headteacher|head teacher|headmaster|headmistress|principal|the trust|trust|ceo)\b",
    re.IGNORECASE,
)
EDIT = "edit"

_COLLECT_AND_SEND = (Step.CONTACT, Step.CONTACT_DETAIL, Step.CONSENT)
FLOWS: dict[FlowName, tuple[Step, ...]] = {
    FlowName.COMPLAINT: (Step.OFFER, Step.SCHOOL, Step.ABOUT, Step.DESCRIBE, Step.NAMES, *_COLLECT_AND_SEND),
    FlowName.CYBERBULLYING: (
        Step.DANGER,
        Step.DESCRIBE,
        Step.WHERE,
        Step.WHO,
        Step.WHEN,
        Step.EVIDENCE,
        Step.SCHOOL,
        Step.NAMES,
        *_COLLECT_AND_SEND,
    ),
    FlowName.BREACH: (
        Step.OFFER,
        Step.DESCRIBE,
        Step.WHERE,
        Step.LINK,
        Step.SCHOOL,
        Step.NAMES,
        *_COLLECT_AND_SEND,
    ),
    FlowName.GENERAL: (Step.OFFER, Step.SCHOOL, Step.DESCRIBE, *_COLLECT_AND_SEND),
    FlowName.SAFEGUARDING: (Step.OFFER, Step.SCHOOL, Step.DESCRIBE, *_COLLECT_AND_SEND),
}
"""Each flow's steps in order; a step already answered (or not needed) is skipped. The urgent flow has no
names step: nothing stands between the parent's yes and the alert, and the names are asked for once
the case is filed (the engine's Pending.NAMES), unless the first message gave them."""
INTENT_FLOWS = {
    "how_to_complain": FlowName.COMPLAINT,
    "report_cyberbullying": FlowName.CYBERBULLYING,
    "report_breach": FlowName.BREACH,
    "human_handoff": FlowName.GENERAL,
    "urgent_safeguarding": FlowName.SAFEGUARDING,
}
FLOW_INTENTS = {flow: intent for intent, flow in INTENT_FLOWS.items()}
WITH_GUIDANCE_FIRST = frozenset(
    {FlowName.COMPLAINT, FlowName.CYBERBULLYING, FlowName.BREACH, FlowName.GENERAL}
)
"""Flows whose intent's answer (the complaints route, how to report a post...) comes before the offer."""
FREE_TEXT_STEPS = frozenset(
    {Step.DESCRIBE, Step.WHO, Step.WHEN, Step.LINK, Step.CONTACT_DETAIL, Step.WHERE, Step.NAMES}
)
CHOICE_STEPS = frozenset({Step.WHERE, Step.LINK, Step.NAMES})
"""Free-text steps that also take a button's `/choose{...}` payload."""
DETAILS = ((Step.WHERE, "utter_label_where"), (Step.WHO, "utter_label_who"), (Step.WHEN, "utter_label_when"),
           (Step.LINK, "utter_label_link"))  # fmt: skip
PREVIEW_LINES = {Author.PARENT: "utter_preview_line_parent", Author.BOT: "utter_preview_line_bot"}


class Say(Protocol):
    """Renders a domain.yml response with the variables of a school (None: the parent's own)."""

    def __call__(self, response: str, school_id: str | None, /, **extra: str) -> Reply: ...


@dataclass(frozen=True)
class FlowContext:
    """What the handlers may read: who is talking, the schools, the texts and the time."""

    parent_id: str
    schools: Schools
    say: Say
    now: datetime
    shown_as: Callable[[str], str] = lambda text: _chosen(text) or text
    """A button's payload as the parent saw it (its title; the engine knows them); typed text as it is."""


@dataclass(frozen=True)
class FlowInput:
    """The parent's message (typed or a button's payload), and the model's reading of it if there is one."""

    text: str
    intent: str | None = None


@dataclass(frozen=True)
class OpenCase:
    """The parent consented: file this draft (exactly what they were shown) as a case."""

    draft: CaseDraft


@dataclass(frozen=True)
class DiscardDraft:
    """The draft is dropped (declined, cancelled, replaced or expired): its text and photos are gone."""

    flow: FlowName
    lines: int
    photos: int


Decision = OpenCase | DiscardDraft


@dataclass(frozen=True)
class Outcome:
    replies: tuple[Reply, ...]
    flow: FlowState | None
    decisions: tuple[Decision, ...] = ()


Handler = Callable[[FlowContext, FlowState, FlowInput], "Outcome | FlowState | None"]
"""A step's handler: an Outcome, the flow with the step answered (then the next step is asked), or None
when the input does not answer the step."""


# ---- starting, answering, photos ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    """What the message that started a flow already says, so its steps do not ask for it again."""

    description: str | None = None
    """The parent's own account (a message long enough to be one)."""
    where: str | None = None
    """The platform it names, in its display form."""
    school_named: bool = False
    """The message named the school (the flow's school came from it, not from an earlier choice)."""
    when: str | None = None
    """When it happens ("since Monday"), in the parent's words."""
    who: str | None = None
    """Who is involved ("girls in her class"), in the parent's words."""
    not_in_danger: bool = False
    """The parent has just answered the gate's "is a child at risk now?" with no."""
    names: str | None = None
    """The parent's name and the child's name and class, in the parent's words ("Sarah Jones, Tom,
    Year 4")."""


def start(
    ctx: FlowContext,
    name: FlowName,
    school_id: str | None,
    *,
    offer_accepted: bool = False,
    summary: str | None = None,
    spoke_of_posting: bool = False,
    opening: Opening | None = None,
) -> Outcome:
    """Begin a flow (the engine has already given any emergency guidance). A `summary` (the parent's first
    danger message) becomes the description, so it is not asked for; so do the description and platform
    the `opening` message gave, and the bot says what it noted. A complaint whose opening message spoke
    of posting is told first not to post it; one that did not is not lectured about social media."""
    flow = FlowState(name, FLOWS[name][0], ctx.now, ctx.now, school_id)
    if summary:
        flow = flow.with_answer(Step.DESCRIBE, summary[:MAX_ANSWER_CHARS])
    flow, noted = _take_opening(ctx, flow, opening or Opening())
    intro: tuple[Reply, ...] = ()
    if name in WITH_GUIDANCE_FIRST and not offer_accepted:
        guidance = ctx.say(f"utter_{FLOW_INTENTS[name]}", school_id).text
        if spoke_of_posting and name is FlowName.COMPLAINT:
            guidance = f"{ctx.say('utter_complain_not_online', school_id).text} {guidance}"
        intro = (Reply(guidance),)  # its buttons would lead away from the offer below
    if offer_accepted and name is not FlowName.CYBERBULLYING:
        flow = replace(flow, done=flow.done | {Step.OFFER})
    outcome = _go_to(ctx, flow, 0)
    return replace(outcome, replies=(*intro, *noted, *outcome.replies))


def _take_opening(ctx: FlowContext, flow: FlowState, opening: Opening) -> tuple[FlowState, tuple[Reply, ...]]:
    """Fill the steps the opening message answers, and the line saying so ("I've noted ...")."""
    steps = FLOWS[flow.name]
    phrases: list[str] = []
    if opening.description and Step.DESCRIBE in steps and not flow.answer(Step.DESCRIBE):
        flow = flow.with_answer(Step.DESCRIBE, opening.description[:MAX_ANSWER_CHARS])
        phrases.append(ctx.say("utter_noted_description", flow.school_id).text)
    if opening.where and Step.WHERE in steps:
        flow = flow.with_answer(Step.WHERE, opening.where)
        phrases.append(ctx.say("utter_noted_where", flow.school_id, where=opening.where).text)
    if opening.not_in_danger and Step.DANGER in steps:
        flow = flow.with_answer(Step.DANGER, None)  # just answered, one tap ago: not asked twice
    if opening.who and Step.WHO in steps:
        flow = flow.with_answer(Step.WHO, opening.who[:MAX_ANSWER_CHARS])
        phrases.append(ctx.say("utter_noted_who", flow.school_id, who=opening.who).text)
    if opening.when and Step.WHEN in steps:
        flow = flow.with_answer(Step.WHEN, opening.when[:MAX_ANSWER_CHARS])
        phrases.append(ctx.say("utter_noted_when", flow.school_id, when=opening.when).text)
    if opening.names and (Step.NAMES in steps or flow.name is FlowName.SAFEGUARDING):
        flow = flow.with_answer(Step.NAMES, opening.names[:MAX_ANSWER_CHARS])
        phrases.append(ctx.say("utter_noted_names", flow.school_id, names=opening.names).text)
    school = ctx.schools.get(flow.school_id)
    if opening.school_named and school is not None and Step.SCHOOL in steps:
        phrases.append(ctx.say("utter_noted_school", flow.school_id).text)
    if not phrases:
        return flow, ()
    noted = ", ".join(phrases)
    return flow, (Reply(ctx.say("utter_noted", flow.school_id, noted=noted).text),)


def answer(ctx: FlowContext, flow: FlowState, given: FlowInput) -> Outcome | None:
    """Take the input as the answer to the current step; None when it does not answer it."""
    text = given.text.strip()
    chosen = flow.step in CHOICE_STEPS and _chosen(text)
    if flow.step in FREE_TEXT_STEPS and _is_command(text) and not chosen:
        return None  # a command, or a button of an older message: not what the parent was asked
    result = STEP_HANDLERS[flow.step](ctx, replace(flow, updated_at=ctx.now), replace(given, text=text))
    if result is None or isinstance(result, Outcome):
        return result
    return advance(ctx, result)


def advance(ctx: FlowContext, flow: FlowState) -> Outcome:
    """Go to the next step that still needs asking and ask it; after consent, open the case."""
    steps = FLOWS[flow.name]
    return _go_to(ctx, flow, steps.index(flow.step) + 1)


def add_photo(ctx: FlowContext, flow: FlowState, file_id: str) -> Outcome | None:
    """A photo: evidence while a bullying report is collecting (after its description), else None."""
    steps = FLOWS[flow.name]
    if flow.name is not FlowName.CYBERBULLYING or steps.index(flow.step) < steps.index(Step.DESCRIBE):
        return None
    if len(flow.photos) >= MAX_PHOTOS_PER_REPORT:  # not stored: the report keeps what it has
        full = ctx.say("utter_evidence_limit", flow.school_id, most=str(MAX_PHOTOS_PER_REPORT))
        if flow.step is Step.CONSENT:  # the consent question above keeps its own buttons
            full = Reply(full.text)
        return Outcome((full,), replace(flow, updated_at=ctx.now))
    flow = replace(flow, photos=(*flow.photos, file_id), updated_at=ctx.now)
    saved = ctx.say("utter_evidence_saved", flow.school_id, count=str(len(flow.photos)))
    if flow.step is Step.CONSENT:  # what would be sent changed: show it again
        flow, summary = _consent(ctx, flow)
        return Outcome((Reply(saved.text), summary), flow)
    return Outcome((saved,), flow)


def discard(ctx: FlowContext, flow: FlowState, response: str = "utter_draft_deleted") -> Outcome:
    """Drop the draft, saying so: nothing of it was sent, and its text and screenshots are deleted."""
    line = ctx.say(
        response,
        flow.school_id,
        kind_label=mid_sentence(ctx.say(f"utter_kind_{flow.name.value}", None).text),
        with_screenshots=_with_screenshots(ctx, len(flow.photos)),
    )
    return Outcome((line,), None, (DiscardDraft(flow.name, len(flow.lines), len(flow.photos)),))


def mid_sentence(label: str) -> str:
    """A label written to stand alone ("Complaint") as it reads inside a sentence ("your unfinished
    complaint"); a shouted word ("URGENT ...") keeps its capitals."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _with_screenshots(ctx: FlowContext, count: int) -> str:
    """ ", with its 3 screenshots" after "I've deleted it"; nothing when there were none."""
    if count == 0:
        return ""
    if count == 1:
        return ctx.say("utter_with_one_screenshot", None).text
    return ctx.say("utter_with_screenshots", None, count=str(count)).text


def move_to_school(ctx: FlowContext, flow: FlowState, school: School) -> Outcome:
    """/school during a flow: the flow goes to the chosen school, and its question is asked again."""
    moved = replace(flow, school_id=school.id, updated_at=ctx.now)
    if flow.step is Step.SCHOOL:
        return advance(ctx, moved)
    if flow.step is Step.CONSENT:
        moved, summary = _consent(ctx, moved)
        return Outcome((summary,), moved)
    return Outcome((prompt(ctx, moved),), moved)


def switch_to_safeguarding(ctx: FlowContext, flow: FlowState) -> Outcome:
    """ "Yes, a child is in danger now" in a bullying report: the urgent flow, keeping what was said."""
    urgent = replace(flow, name=FlowName.SAFEGUARDING, done=frozenset(), answers=(), updated_at=ctx.now)
    outcome = _go_to(ctx, urgent, 0)
    guidance = ctx.say("utter_urgent_safeguarding", flow.school_id)
    return replace(outcome, replies=(guidance, *outcome.replies))


def takes_side_questions(flow: FlowState) -> bool:
    """A free-text step other than the description (where a question for staff is the answer)."""
    return flow.step in FREE_TEXT_STEPS - {Step.DESCRIBE}


def is_cancel(text: str) -> bool:
    return CANCEL_WORDS.match(text) is not None


def hear(flow: FlowState, author: Author, *texts: str) -> FlowState:
    """Add lines to the flow's own transcript (what would reach staff with consent)."""
    return flow.hear(*(TranscriptEntry(author, text) for text in texts))


# ---- the steps -------------------------------------------------------------------------------------------


def _offer(ctx: FlowContext, flow: FlowState, given: FlowInput) -> Outcome | FlowState | None:
    choice = _yes_no(given)
    if choice is None:
        return None
    if not choice:
        return discard(ctx, flow, "utter_not_sent_deleted")
    return flow.with_answer(Step.OFFER, None)


def _danger(ctx: FlowContext, flow: FlowState, given: FlowInput) -> Outcome | FlowState | None:
    choice = _yes_no(given)
    if choice is None:
        return None
    if choice:
        return switch_to_safeguarding(ctx, flow)
    return flow.with_answer(Step.DANGER, None)


def _school(ctx: FlowContext, flow: FlowState, given: FlowInput) -> Outcome | FlowState | None:
    school = school_from(ctx.schools, given.text)
    if school is None:
        if _alert_offer(flow) and _yes_no(given) is False:
            return discard(ctx, flow, "utter_not_sent_deleted")
        return None
    return replace(flow, school_id=school.id).with_answer(Step.SCHOOL, None)


def _free_text(step: Step) -> Handler:
    def store(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
        return flow.with_answer(step, given.text[:MAX_ANSWER_CHARS]) if given.text else None

    return store


def _where(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    return flow.with_answer(Step.WHERE, ctx.shown_as(given.text)) if given.text else None


def _link(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    if _chosen(given.text) == "skip" or given.text.lower() in {"skip", "no", "none", "no link"}:
        return flow.with_answer(Step.LINK, None)
    return flow.with_answer(Step.LINK, given.text[:MAX_ANSWER_CHARS]) if given.text else None


def _evidence(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    if _chosen(given.text) == "done" or given.text.lower() in {
        "done",
        "no",
        "none",
        "finished",
        "that's all",
    }:
        return flow.with_answer(Step.EVIDENCE, None)
    return None


def _about(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    """Is the complaint about the head teacher or the trust? Its buttons, or typed words that say."""
    chosen = _chosen(given.text)
    if chosen not in (ABOUT_HEAD, ABOUT_OTHER):
        chosen = None
        if _NOT_HEAD.search(given.text):
            chosen = ABOUT_OTHER
        elif _HEAD.search(given.text):
            chosen = ABOUT_HEAD
    return flow.with_answer(Step.ABOUT, chosen) if chosen else None


def _names(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    """Who staff should ask for, kept as typed; Skip (or a typed "skip", "no thanks") leaves it out."""
    if is_skip(given.text):
        return flow.with_answer(Step.NAMES, None)
    return flow.with_answer(Step.NAMES, given.text[:MAX_ANSWER_CHARS]) if given.text else None


def is_typed_choice(ctx: FlowContext, flow: FlowState, text: str) -> bool:
    """The text is the title of one of the current question's buttons, or a Skip word where it has a
    Skip button."""
    words = " ".join(text.lower().replace("\u2019", "'").strip(" .!").split())
    titles = {button.title.lower().replace("\u2019", "'") for button in prompt(ctx, flow).buttons}
    return words in titles or (SKIP in {title.lower() for title in titles} and is_skip(text))


def is_skip(text: str) -> bool:
    """The Skip button, or typed words meaning it."""
    words = " ".join(text.lower().replace("\u2019", "'").strip(" .!").split())
    return _chosen(text) == SKIP or words in SKIP_WORDS


def _contact(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    text = given.text
    if _EMAIL.match(text):
        return replace(flow, contact=ContactMethod.EMAIL).with_answer(Step.CONTACT_DETAIL, text)
    if _PHONE.match(text):
        return replace(flow, contact=ContactMethod.PHONE).with_answer(Step.CONTACT_DETAIL, text)
    method = _contact_method(_chosen(text) or text.lower())
    if method is None:
        return None
    without_detail = replace(
        flow,
        contact=method,
        done=flow.done - {Step.CONTACT_DETAIL},
        answers=tuple((step, value) for step, value in flow.answers if step is not Step.CONTACT_DETAIL),
    )
    return without_detail.with_answer(Step.CONTACT, None)


def _contact_method(chosen: str) -> ContactMethod | None:
    if chosen in {"chat", "here", "reply here", "this chat", "in this chat", "reply in this chat"}:
        return ContactMethod.CHAT
    if "phone" in chosen or "call" in chosen:
        return ContactMethod.PHONE
    if "email" in chosen or "e-mail" in chosen:
        return ContactMethod.EMAIL
    return None


def _contact_detail(ctx: FlowContext, flow: FlowState, given: FlowInput) -> Outcome | FlowState | None:
    text = given.text
    if flow.contact is ContactMethod.PHONE and not _PHONE.match(text):
        return Outcome((ctx.say("utter_invalid_phone", flow.school_id),), flow)
    if flow.contact is ContactMethod.EMAIL and not _EMAIL.match(text):
        return Outcome((ctx.say("utter_invalid_email", flow.school_id),), flow)
    return flow.with_answer(Step.CONTACT_DETAIL, text)


def _consent(ctx: FlowContext, flow: FlowState) -> tuple[FlowState, Reply]:
    """The consent question: everything that would be sent, with the lines it shows counted as shown."""
    shown = replace(flow, step=Step.CONSENT, shown=len(flow.lines), shown_left_out=flow.left_out)
    return shown, _summary(ctx, shown)


def _answer_consent(ctx: FlowContext, flow: FlowState, given: FlowInput) -> Outcome:
    """Only a button press or an exact yes-word sends; anything else asks again, with a way to edit."""
    text = given.text
    words = " ".join(text.lower().strip(" .!").split())
    if text == "/affirm" or words in YES_WORDS:
        return Outcome((), None, (OpenCase(draft(ctx, flow)),))
    if text == "/deny" or words in NO_WORDS:
        return discard(ctx, flow, "utter_consent_refused")
    if _chosen(text) == EDIT or words in {EDIT, "edit it", "change it"}:
        editing = replace(flow, step=Step.DESCRIBE, done=flow.done - {Step.DESCRIBE})
        return Outcome((prompt(ctx, editing),), editing)
    flow, summary = _consent(ctx, flow)
    return Outcome((ctx.say("utter_consent_reask", flow.school_id), summary), flow)


STEP_HANDLERS: dict[Step, Handler] = {
    Step.OFFER: _offer,
    Step.DANGER: _danger,
    Step.SCHOOL: _school,
    Step.ABOUT: _about,
    Step.NAMES: _names,
    Step.DESCRIBE: _free_text(Step.DESCRIBE),
    Step.WHERE: _where,
    Step.WHO: _free_text(Step.WHO),
    Step.WHEN: _free_text(Step.WHEN),
    Step.LINK: _link,
    Step.EVIDENCE: _evidence,
    Step.CONTACT: _contact,
    Step.CONTACT_DETAIL: _contact_detail,
    Step.CONSENT: _answer_consent,
}


# ---- moving on and asking --------------------------------------------------------------------------------


def _go_to(ctx: FlowContext, flow: FlowState, index: int) -> Outcome:
    steps = FLOWS[flow.name]
    while steps[index] is not Step.CONSENT and _skip(ctx, flow, steps[index]):
        index += 1
    flow = replace(flow, step=steps[index])
    if flow.step is Step.CONSENT:
        if ctx.schools.get(flow.school_id) is None:  # cannot happen: the school step asks until known
            flow = replace(flow, step=Step.SCHOOL)
            return Outcome((prompt(ctx, flow),), flow)
        flow, summary = _consent(ctx, flow)
        return Outcome((summary,), flow)
    return Outcome((prompt(ctx, flow),), flow)


def _skip(ctx: FlowContext, flow: FlowState, step: Step) -> bool:
    if step in flow.done:
        return True
    if step is Step.OFFER:
        # An urgent alert with no school known yet: the school buttons are the offer (one tap fewer).
        return flow.name is FlowName.SAFEGUARDING and ctx.schools.get(flow.school_id) is None
    if step is Step.SCHOOL:
        return ctx.schools.get(flow.school_id) is not None
    if step is Step.CONTACT_DETAIL:
        return flow.contact is ContactMethod.CHAT
    return False


def _alert_offer(flow: FlowState) -> bool:
    return flow.name is FlowName.SAFEGUARDING and Step.OFFER not in flow.done


def prompt(ctx: FlowContext, flow: FlowState) -> Reply:
    """The question of the current step."""
    step, school_id = flow.step, flow.school_id
    if step is Step.OFFER:
        name = (
            "utter_offer_safeguarding_alert" if flow.name is FlowName.SAFEGUARDING else "utter_offer_handoff"
        )
        return ctx.say(name, school_id)
    if step is Step.SCHOOL:
        if _alert_offer(flow):
            ask = ctx.say("utter_offer_safeguarding_alert_school", school_id)
            return Reply(ask.text, (*school_buttons(ctx.schools), *ask.buttons))
        return Reply(ctx.say("utter_choose_school", school_id).text, school_buttons(ctx.schools))
    if step is Step.DESCRIBE:
        return ctx.say(f"utter_ask_describe_{flow.name.value}", school_id)
    if step is Step.NAMES:
        return ctx.say("utter_ask_names", school_id)
    if step is Step.CONTACT_DETAIL:
        return ctx.say(
            "utter_ask_phone" if flow.contact is ContactMethod.PHONE else "utter_ask_email", school_id
        )
    if step is Step.EVIDENCE:
        advised = _was_told(ctx, flow, f"utter_{FLOW_INTENTS[flow.name]}")
        return ctx.say("utter_evidence_ask" if advised else "utter_evidence_advice", school_id)
    if step is Step.CONSENT:
        return _summary(ctx, flow)
    return ctx.say(f"utter_ask_{step.value}", school_id)


def school_buttons(schools: Schools) -> tuple[Button, ...]:
    return tuple(
        Button(school.name, f'/choose_school{{"school":"{school.id}"}}') for school in schools.schools
    )


def school_from(schools: Schools, text: str) -> School | None:
    payload = _CHOSEN_SCHOOL.match(text.strip())
    if payload:
        return schools.get(payload.group(1))
    return schools.match(text)


# ---- what would be sent ---------------------------------------------------------------------------------


def _summary(ctx: FlowContext, flow: FlowState) -> Reply:
    """Everything that would reach staff: the details, contact, screenshot count and every transcript
    line; when long, the lines go in a text document sent with it."""
    school_id = flow.school_id
    lines = [f"{ctx.say('utter_label_names', school_id).text}: {flow.answer(Step.NAMES)}"]
    lines = lines if flow.answer(Step.NAMES) else []
    if flow.answer(Step.ABOUT) == ABOUT_HEAD:
        lines.append(
            f"{ctx.say('utter_label_about', school_id).text}: {ctx.say('utter_about_head', None).text}"
        )
    lines.append(f"{ctx.say('utter_label_concern', school_id).text}: {flow.answer(Step.DESCRIBE) or ''}")
    lines += [
        f"{ctx.say(label, school_id).text}: {flow.answer(step)}"
        for step, label in DETAILS
        if flow.answer(step)
    ]
    shown = shown_lines(ctx, flow)
    transcript = "".join(
        "\n" + ctx.say(PREVIEW_LINES[line.author], school_id, text=line.text).text for line in shown
    )
    variables = {
        "kind_label": ctx.say(f"utter_kind_{flow.name.value}", school_id).text,
        "details": "\n".join(lines),
        "contact": _contact_text(ctx, flow, "utter_contact_{}"),
        "evidence": str(len(flow.photos)) if flow.photos else ctx.say("utter_none", school_id).text,
        "transcript": transcript or ctx.say("utter_none", school_id).text,
        "recipients": _recipients(ctx, school_id, flow.answer(Step.ABOUT) == ABOUT_HEAD),
    }
    full = ctx.say("utter_consent_summary", school_id, **variables)
    if len(full.text) <= PREVIEW_LIMIT and len(full.text.splitlines()) <= CONSENT_MAX_LINES:
        return full
    in_file = ctx.say("utter_consent_transcript_in_file", school_id, count=str(len(shown))).text
    short = ctx.say("utter_consent_summary", school_id, **{**variables, "transcript": in_file})
    return Reply(short.text, short.buttons, Document("what-would-be-sent.txt", full.text))


def _recipients(ctx: FlowContext, school_id: str | None, about_head: bool) -> str:
    """Who the case goes to, as the parent is told: a complaint about the head goes to the complaints
    chat (bot/staff/routing.py), never to the school's staff."""
    name = "utter_recipients_complaints" if about_head else "utter_recipients_staff"
    return ctx.say(name, school_id).text


def _was_told(ctx: FlowContext, flow: FlowState, response: str) -> bool:
    """The flow's transcript holds this response already (its opening guidance, say), so its advice is
    not given twice."""
    start = ctx.say(response, flow.school_id).text[:60]
    return any(line.author is Author.BOT and line.text.startswith(start) for line in flow.lines)


def shown_lines(ctx: FlowContext, flow: FlowState) -> tuple[TranscriptEntry, ...]:
    """The transcript lines the consent step shows, and so exactly those that reach staff: with, after
    the first, the line saying how many were left out when the draft outgrew its cap (FlowState.hear)."""
    lines = flow.lines[: flow.shown]
    if not flow.shown_left_out or not lines:
        return lines
    notice = ctx.say("utter_transcript_left_out", flow.school_id, count=str(flow.shown_left_out)).text
    return (lines[0], TranscriptEntry(Author.BOT, notice), *lines[1:])


def _contact_text(ctx: FlowContext, flow: FlowState, pattern: str) -> str:
    method = flow.contact or ContactMethod.CHAT
    return ctx.say(pattern.format(method.value), None, detail=flow.answer(Step.CONTACT_DETAIL) or "").text


def draft(ctx: FlowContext, flow: FlowState) -> CaseDraft:
    """The case exactly as shown at the consent step."""
    school = ctx.schools.get(flow.school_id)
    assert school is not None  # the consent step is only reached with a school (see _go_to)
    method = flow.contact or ContactMethod.CHAT
    return CaseDraft(
        parent_id=ctx.parent_id,
        parent_chat_id=parent_chat_id(ctx.parent_id),
        school_id=school.id,
        staff_chat_id=school.staff_chat_id,
        kind=flow.name.case_kind,
        priority=Priority.URGENT if flow.name is FlowName.SAFEGUARDING else Priority.NORMAL,
        summary=flow.answer(Step.DESCRIBE) or "",
        contact_method=method.value,
        contact_detail=flow.answer(Step.CONTACT_DETAIL) if method is not ContactMethod.CHAT else None,
        details={
            step.value: answer
            for step in (Step.NAMES, Step.ABOUT, *(step for step, _ in DETAILS))
            if (answer := flow.answer(step)) and (step is not Step.ABOUT or answer == ABOUT_HEAD)
        },
        transcript=shown_lines(ctx, flow),
        attachments=flow.photos,
    )


def case_opened(ctx: FlowContext, case_draft: CaseDraft, reference: str) -> Reply:
    urgent = case_draft.priority is Priority.URGENT
    method = ContactMethod(case_draft.contact_method)
    phrase = ctx.say(f"utter_contact_{method.value}_phrase", None, detail=case_draft.contact_detail or "")
    name = "utter_case_created_urgent" if urgent else "utter_case_created"
    about_head = case_draft.details.get(Step.ABOUT.value) == ABOUT_HEAD
    recipients = _recipients(ctx, case_draft.school_id, about_head)
    return ctx.say(
        name, case_draft.school_id, reference=reference, contact_phrase=phrase.text, recipients=recipients
    )


# ---- reading answers ---------------------------------------------------------------------------------------


def _yes_no(given: FlowInput) -> bool | None:
    lowered = given.text.strip().lower()
    if lowered in {"/affirm", "yes", "y", "yeah", "yep", "yes please", "ok", "okay", "sure", "go ahead"}:
        return True
    if lowered in {"/deny", *NO_WORDS}:
        return False
    if given.intent in ("affirm", "deny") and not _is_command(lowered):
        return given.intent == "affirm"
    return None


def _is_command(text: str) -> bool:
    return _COMMAND.match(text.strip()) is not None


def _chosen(text: str) -> str | None:
    match = _CHOSEN.match(text.strip())
    return match.group(1) if match else None
