"""What would be sent: the consent step's preview of a draft, and the case filed from exactly that.

The parent sees every detail, the contact, the screenshot count and every transcript line that would
reach staff; the case filed on their yes carries exactly those (draft), nothing more.
"""

from __future__ import annotations

from dataclasses import replace

from bot.dialogue.flows.base import CONSENT_MAX_LINES, PREVIEW_LIMIT, FlowContext
from bot.dialogue.messages import Document, Reply
from bot.domain import (
    ABOUT_HEAD,
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

DETAILS = ((Step.WHERE, "utter_label_where"), (Step.WHO, "utter_label_who"), (Step.WHEN, "utter_label_when"),
           (Step.LINK, "utter_label_link"))  # fmt: skip
PREVIEW_LINES = {Author.PARENT: "utter_preview_line_parent", Author.BOT: "utter_preview_line_bot"}


def consent(ctx: FlowContext, flow: FlowState) -> tuple[FlowState, Reply]:
    """The consent question: everything that would be sent, with the lines it shows counted as shown."""
    shown = replace(flow, step=Step.CONSENT, shown=len(flow.lines), shown_left_out=flow.left_out)
    return shown, summary(ctx, shown)


def summary(ctx: FlowContext, flow: FlowState) -> Reply:
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
        "recipients": recipients_line(ctx, school_id, flow.answer(Step.ABOUT) == ABOUT_HEAD),
    }
    full = ctx.say("utter_consent_summary", school_id, **variables)
    if len(full.text) <= PREVIEW_LIMIT and len(full.text.splitlines()) <= CONSENT_MAX_LINES:
        return full
    in_file = ctx.say("utter_consent_transcript_in_file", school_id, count=str(len(shown))).text
    short = ctx.say("utter_consent_summary", school_id, **{**variables, "transcript": in_file})
    return Reply(short.text, short.buttons, Document("what-would-be-sent.txt", full.text))


def recipients_line(ctx: FlowContext, school_id: str | None, about_head: bool) -> str:
    """Who the case goes to, as the parent is told: a complaint about the head goes to the complaints
    chat (bot/staff/routing.py), never to the school's staff."""
    name = "utter_recipients_complaints" if about_head else "utter_recipients_staff"
    return ctx.say(name, school_id).text


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
    assert school is not None  # the consent step is only reached with a school (see asking.go_to)
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
    recipients = recipients_line(ctx, case_draft.school_id, about_head)
    return ctx.say(
        name, case_draft.school_id, reference=reference, contact_phrase=phrase.text, recipients=recipients
    )
