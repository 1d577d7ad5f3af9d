"""Each step's handler: reads the parent's answer to the step's question and returns the flow with it
answered, an Outcome (a refusal, a question asked again, the case to open), or None when the message
does not answer the question (the engine then reads it as a question or a change of subject).
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.dialogue import vocabulary
from bot.dialogue.flows.asking import alert_offer, discard, go_to, prompt, school_from
from bot.dialogue.flows.base import MAX_ANSWER_CHARS, FlowContext, FlowInput, Handler, OpenCase, Outcome
from bot.dialogue.flows.preview import consent, draft
from bot.dialogue.inputs import AFFIRM, DENY, ParentInput
from bot.domain import ABOUT_HEAD, ABOUT_OTHER, ContactMethod, FlowName, FlowState, Step

_PHONE = re.compile(r"^\+?[\d\s()-]{10,20}(?:[,;.]?\s+\D.{0,60})?$")
"""A phone number, optionally with a short note after it ("07700 900123, mornings")."""
_EMAIL = re.compile(r"^(?=.{1,200}$)[^@\s]+@[^@\s]+\.[^@\s]+$")  # 200: the contact_detail column
_NOT_HEAD = re.compile(r"\b(not|no|neither|nor|something else|other|else)\b", re.IGNORECASE)
_HEAD = re.compile(
    r"\b(head|heads|headteacher|head teacher|headmaster|headmistress|principal|the trust|trust|ceo)\b",
    re.IGNORECASE,
)


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
    school = school_from(ctx.schools, given.message)
    if school is None:
        if alert_offer(flow) and _yes_no(given) is False:
            return discard(ctx, flow, "utter_not_sent_deleted")
        return None
    return replace(flow, school_id=school.id).with_answer(Step.SCHOOL, None)


def _free_text(step: Step) -> Handler:
    def store(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
        return flow.with_answer(step, given.text[:MAX_ANSWER_CHARS]) if given.text else None

    return store


def _where(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    return flow.with_answer(Step.WHERE, ctx.shown_as(given.message).strip()) if given.text else None


def _link(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    if given.message.choice == vocabulary.SKIP or given.text.lower() in vocabulary.NO_LINK_WORDS:
        return flow.with_answer(Step.LINK, None)
    return flow.with_answer(Step.LINK, given.text[:MAX_ANSWER_CHARS]) if given.text else None


def _evidence(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    if given.message.choice == "done" or given.text.lower() in vocabulary.DONE_WORDS:
        return flow.with_answer(Step.EVIDENCE, None)
    return None


def _about(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    """Is the complaint about the head teacher or the trust? Its buttons, or typed words that say."""
    chosen = given.message.choice
    if chosen not in (ABOUT_HEAD, ABOUT_OTHER):
        chosen = None
        if _NOT_HEAD.search(given.text):
            chosen = ABOUT_OTHER
        elif _HEAD.search(given.text):
            chosen = ABOUT_HEAD
    return flow.with_answer(Step.ABOUT, chosen) if chosen else None


def _names(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    """Who staff should ask for, kept as typed; Skip (or a typed "skip", "no thanks") leaves it out."""
    if is_skip(given.message):
        return flow.with_answer(Step.NAMES, None)
    return flow.with_answer(Step.NAMES, given.text[:MAX_ANSWER_CHARS]) if given.text else None


def is_typed_choice(ctx: FlowContext, flow: FlowState, message: ParentInput) -> bool:
    """The text is the title of one of the current question's buttons, or a Skip word where it has a
    Skip button."""
    words = vocabulary.typed_words(message.text)
    titles = {button.title.lower().replace("\u2019", "'") for button in prompt(ctx, flow).buttons}
    return words in titles or (vocabulary.SKIP in {title.lower() for title in titles} and is_skip(message))


def is_skip(message: ParentInput) -> bool:
    """The Skip button, or typed words meaning it."""
    return message.choice == vocabulary.SKIP or vocabulary.typed_words(message.text) in vocabulary.SKIP_WORDS


def _contact(ctx: FlowContext, flow: FlowState, given: FlowInput) -> FlowState | None:
    text = given.text
    if _EMAIL.match(text):
        return replace(flow, contact=ContactMethod.EMAIL).with_answer(Step.CONTACT_DETAIL, text)
    if _PHONE.match(text):
        return replace(flow, contact=ContactMethod.PHONE).with_answer(Step.CONTACT_DETAIL, text)
    method = _contact_method(given.message.choice or text.lower())
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


def _answer_consent(ctx: FlowContext, flow: FlowState, given: FlowInput) -> Outcome:
    """Only a button press or an exact yes-word sends; anything else asks again, with a way to edit."""
    text = given.text
    words = vocabulary.plain_words(text)
    if text == AFFIRM or words in vocabulary.CONSENT_YES:
        return Outcome((), None, (OpenCase(draft(ctx, flow)),))
    if text == DENY or words in vocabulary.DECLINE:
        return discard(ctx, flow, "utter_consent_refused")
    if given.message.choice == vocabulary.EDIT or words in vocabulary.EDIT_WORDS:
        editing = replace(flow, step=Step.DESCRIBE, done=flow.done - {Step.DESCRIBE})
        return Outcome((prompt(ctx, editing),), editing)
    flow, question = consent(ctx, flow)
    return Outcome((ctx.say("utter_consent_reask", flow.school_id), question), flow)


def switch_to_safeguarding(ctx: FlowContext, flow: FlowState) -> Outcome:
    """ "Yes, a child is in danger now" in a bullying report: the urgent flow, keeping what was said."""
    urgent = replace(flow, name=FlowName.SAFEGUARDING, done=frozenset(), answers=(), updated_at=ctx.now)
    outcome = go_to(ctx, urgent, 0)
    guidance = ctx.say("utter_urgent_safeguarding", flow.school_id)
    return replace(outcome, replies=(guidance, *outcome.replies))


def _yes_no(given: FlowInput) -> bool | None:
    lowered = given.text.strip().lower()
    if lowered == AFFIRM or lowered in vocabulary.AGREE:
        return True
    if lowered == DENY or lowered in vocabulary.DECLINE:
        return False
    if given.intent in ("affirm", "deny") and not given.message.command_shaped:
        return given.intent == "affirm"
    return None


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
