"""The handoff flows: a complaint, a bullying report, a breach of the code, a question for a person, and
an urgent safeguarding alert. Each collects a concern step by step, shows exactly what would be sent,
and only with the parent's consent decides to open a case for the school's staff.

Each flow is a table of typed steps (FLOWS, in base.py); each step has a pure handler (steps.py):
(context, flow state, input) in, an Outcome out (replies, the next flow state, and decisions such as
OpenCase or DiscardDraft that the engine carries out). asking.py moves a flow on and asks its
questions; preview.py shows what would be sent and files exactly that. Nothing here does I/O or knows
the engine, storage or Telegram, so the flows are tested as tables with no model and no database. A
flow's draft (answers, its own transcript lines and screenshots) lives in its FlowState: dropping the
state deletes the draft.
"""

from __future__ import annotations

from dataclasses import replace

from bot.dialogue import vocabulary
from bot.dialogue.flows.asking import (
    advance,
    discard,
    go_to,
    mid_sentence,
    prompt,
    school_buttons,
    school_from,
)
from bot.dialogue.flows.base import (
    CHOICE_STEPS,
    CONSENT_MAX_LINES,
    FLOW_INTENTS,
    FLOWS,
    FREE_TEXT_STEPS,
    INTENT_FLOWS,
    MAX_ANSWER_CHARS,
    MAX_PHOTOS_PER_REPORT,
    PREVIEW_LIMIT,
    WITH_GUIDANCE_FIRST,
    Decision,
    DiscardDraft,
    FlowContext,
    FlowInput,
    Handler,
    OpenCase,
    Outcome,
    Say,
)
from bot.dialogue.flows.preview import case_opened, consent, draft, shown_lines
from bot.dialogue.flows.steps import STEP_HANDLERS, is_skip, is_typed_choice, switch_to_safeguarding
from bot.dialogue.inputs import ParentInput
from bot.dialogue.messages import Reply
from bot.dialogue.openings import Opening
from bot.domain import Author, FlowName, FlowState, Step, TranscriptEntry
from bot.schools import School

__all__ = [
    "CHOICE_STEPS",
    "CONSENT_MAX_LINES",
    "FLOWS",
    "FLOW_INTENTS",
    "FREE_TEXT_STEPS",
    "INTENT_FLOWS",
    "MAX_ANSWER_CHARS",
    "MAX_PHOTOS_PER_REPORT",
    "PREVIEW_LIMIT",
    "WITH_GUIDANCE_FIRST",
    "Decision",
    "DiscardDraft",
    "FlowContext",
    "FlowInput",
    "FlowState",
    "Handler",
    "OpenCase",
    "Opening",
    "Outcome",
    "Say",
    "add_photo",
    "advance",
    "answer",
    "case_opened",
    "discard",
    "draft",
    "hear",
    "is_cancel",
    "is_skip",
    "is_typed_choice",
    "mid_sentence",
    "move_to_school",
    "prompt",
    "school_buttons",
    "school_from",
    "shown_lines",
    "start",
    "switch_to_safeguarding",
    "takes_side_questions",
]


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
    outcome = go_to(ctx, flow, 0)
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
    chosen = flow.step in CHOICE_STEPS and given.message.choice
    if flow.step in FREE_TEXT_STEPS and given.message.command_shaped and not chosen:
        return None  # a command, or a button of an older message: not what the parent was asked
    result = STEP_HANDLERS[flow.step](ctx, replace(flow, updated_at=ctx.now), given)
    if result is None or isinstance(result, Outcome):
        return result
    return advance(ctx, result)


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
        flow, question = consent(ctx, flow)
        return Outcome((Reply(saved.text), question), flow)
    return Outcome((saved,), flow)


def move_to_school(ctx: FlowContext, flow: FlowState, school: School) -> Outcome:
    """/school during a flow: the flow goes to the chosen school, and its question is asked again."""
    moved = replace(flow, school_id=school.id, updated_at=ctx.now)
    if flow.step is Step.SCHOOL:
        return advance(ctx, moved)
    if flow.step is Step.CONSENT:
        moved, question = consent(ctx, moved)
        return Outcome((question,), moved)
    return Outcome((prompt(ctx, moved),), moved)


def takes_side_questions(flow: FlowState) -> bool:
    """A free-text step other than the description (where a question for staff is the answer)."""
    return flow.step in FREE_TEXT_STEPS - {Step.DESCRIBE}


def is_cancel(message: ParentInput) -> bool:
    """A typed "stop", "cancel", "never mind": the flow's draft is deleted."""
    return vocabulary.CANCEL.match(message.text) is not None


def hear(flow: FlowState, author: Author, *texts: str) -> FlowState:
    """Add lines to the flow's own transcript (what would reach staff with consent)."""
    return flow.hear(*(TranscriptEntry(author, text) for text in texts))
