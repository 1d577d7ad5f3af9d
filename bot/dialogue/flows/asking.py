"""Moving a flow on and asking its questions: which step comes next (a step already answered, or not
needed, is skipped), each step's question with its buttons, and dropping a draft, saying so.
"""

from __future__ import annotations

from dataclasses import replace

from bot.dialogue.flows.base import FLOW_INTENTS, FLOWS, DiscardDraft, FlowContext, Outcome
from bot.dialogue.flows.preview import consent, summary
from bot.dialogue.inputs import ParentInput
from bot.dialogue.messages import Button, Reply
from bot.domain import Author, ContactMethod, FlowName, FlowState, Step
from bot.schools import School, Schools


def advance(ctx: FlowContext, flow: FlowState) -> Outcome:
    """Go to the next step that still needs asking and ask it; after consent, open the case."""
    steps = FLOWS[flow.name]
    return go_to(ctx, flow, steps.index(flow.step) + 1)


def go_to(ctx: FlowContext, flow: FlowState, index: int) -> Outcome:
    steps = FLOWS[flow.name]
    while steps[index] is not Step.CONSENT and _skip(ctx, flow, steps[index]):
        index += 1
    flow = replace(flow, step=steps[index])
    if flow.step is Step.CONSENT:
        if ctx.schools.get(flow.school_id) is None:  # cannot happen: the school step asks until known
            flow = replace(flow, step=Step.SCHOOL)
            return Outcome((prompt(ctx, flow),), flow)
        flow, question = consent(ctx, flow)
        return Outcome((question,), flow)
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


def alert_offer(flow: FlowState) -> bool:
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
        if alert_offer(flow):
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
        advised = was_told(ctx, flow, f"utter_{FLOW_INTENTS[flow.name]}")
        return ctx.say("utter_evidence_ask" if advised else "utter_evidence_advice", school_id)
    if step is Step.CONSENT:
        return summary(ctx, flow)
    return ctx.say(f"utter_ask_{step.value}", school_id)


def school_buttons(schools: Schools) -> tuple[Button, ...]:
    return tuple(
        Button(school.name, f'/choose_school{{"school":"{school.id}"}}') for school in schools.schools
    )


def school_from(schools: Schools, message: ParentInput) -> School | None:
    """The school a school button or the typed text names."""
    if message.school_choice:
        return schools.get(message.school_choice)
    return schools.match(message.text)


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


def was_told(ctx: FlowContext, flow: FlowState, response: str) -> bool:
    """The flow's transcript holds this response already (its opening guidance, say), so its advice is
    not given twice."""
    start = ctx.say(response, flow.school_id).text[:60]
    return any(line.author is Author.BOT and line.text.startswith(start) for line in flow.lines)
