"""The handoff flows as tables (complaint, bullying report, breach, question for a person, urgent alert):
each flow's steps driven by its pure handlers, with no model and no database; then the engine carrying
out their decisions, with a stand-in NLU."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue import flows
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.flows import DiscardDraft, FlowContext, FlowInput, OpenCase, Outcome
from bot.dialogue.inputs import read
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.domain import (
    MAX_DRAFT_CHARS,
    MAX_DRAFT_LINES,
    NOTICE_CHARS,
    Author,
    CaseKind,
    ContactMethod,
    FlowName,
    FlowState,
    Priority,
    Step,
)
from bot.schools import Schools
from bot.storage.models import Attachment, Case, ConversationMessage, Delivery
from bot.storage.parents import SqlStateStore
from bot.storage.records import Records
from tests.standins import StubNlu, intent, stub_engine

ROOT = Path(__file__).resolve().parent.parent
PARENT = "5550001"  # a Telegram user id: its private chat has the same id
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
OPEN = "open a case"
DISCARD = "discard the draft"
CHAT = '/choose{"value": "chat"}'


def school_payload(school_id: str) -> str:
    return f'/choose_school{{"school":"{school_id}"}}'


@pytest.fixture
def ctx(responses: ResponseBook, schools: Schools) -> FlowContext:
    def say(response: str, school_id: str | None, /, **extra: str) -> Reply:
        school = schools.get(school_id)
        variables = {"school_name": school.name if school else "your child's school", "school_phone": "0"}
        return responses.render(response, {**variables, **extra})

    return FlowContext(PARENT, schools, say, NOW)


@dataclass(frozen=True)
class Script:
    name: str
    flow: FlowName
    school_id: str | None
    steps: tuple[tuple[str, str | Step], ...]
    """(what the parent sends, the step the flow is at afterwards, or OPEN / DISCARD)."""
    summary: str | None = None


SCRIPTS = [
    Script("complaint", FlowName.COMPLAINT, "riverside", (
        ("yes please", Step.ABOUT),
        ("something else", Step.DESCRIBE),
        ("My son was given a detention for something he did not do.", Step.NAMES),
        ("Sarah Jones, my son is Tom in 4B", Step.CONTACT),
        ('/choose{"value": "phone"}', Step.CONTACT_DETAIL),
        ("call me maybe", Step.CONTACT_DETAIL),
        ("07700 900 123", Step.CONSENT),
        ("/affirm", OPEN),
    )),
    Script("general, school not known", FlowName.GENERAL, None, (
        ("/affirm", Step.SCHOOL),
        (school_payload("oakfield"), Step.DESCRIBE),
        ("When is the next parents evening?", Step.CONTACT),
        (CHAT, Step.CONSENT),
        ("yes", OPEN),
    )),
    Script("cyberbullying", FlowName.CYBERBULLYING, None, (
        ("/deny", Step.DESCRIBE),
        ("Girls in her class keep sending her horrible messages", Step.WHERE),
        ('/choose{"value": "snapchat"}', Step.WHO),
        ("two girls in year 7", Step.WHEN),
        ("since last week", Step.EVIDENCE),
        ('/choose{"value": "done"}', Step.SCHOOL),
        ("Riverside Academy", Step.NAMES),
        ("no thanks", Step.CONTACT),
        ("mum@example.com", Step.CONSENT),
        ("send it", OPEN),
    )),
    Script("breach, declined at consent", FlowName.BREACH, "oakfield", (
        ("/affirm", Step.DESCRIBE),
        ("Another parent is posting lies about a teacher", Step.WHERE),
        ('/choose{"value": "facebook"}', Step.LINK),
        ('/choose{"value": "skip"}', Step.NAMES),
        ('/choose{"value": "skip"}', Step.CONTACT),
        (CHAT, Step.CONSENT),
        ("/deny", DISCARD),
    )),
    Script("offer declined", FlowName.COMPLAINT, "oakfield", (("no thanks", DISCARD),)),
    Script("danger yes turns a bullying report urgent", FlowName.CYBERBULLYING, "oakfield", (
        ("/affirm", Step.OFFER),
        ("/affirm", Step.DESCRIBE),
        ("An older boy is threatening my son", Step.CONTACT),
        (CHAT, Step.CONSENT),
        ("/affirm", OPEN),
    )),
    Script("urgent, school known: the first message is the description", FlowName.SAFEGUARDING, "oakfield", (
        ("/affirm", Step.CONTACT),
        (CHAT, Step.CONSENT),
        ("/affirm", OPEN),
    ), summary="my son says he wants to die"),
    Script("urgent, school unknown: the school buttons are the offer", FlowName.SAFEGUARDING, None, (
        (school_payload("hollybrook"), Step.CONTACT),
        (CHAT, Step.CONSENT),
        ("/affirm", OPEN),
    ), summary="my daughter is missing since last night"),
    Script("urgent alert declined", FlowName.SAFEGUARDING, None, (("/deny", DISCARD),), summary="x"),
    Script("consent: anything but a plain yes asks again; edit goes back to the description",
           FlowName.GENERAL, "oakfield", (
        ("/affirm", Step.DESCRIBE),
        ("Please ask Mr Jones to call me about Sam", Step.CONTACT),
        (CHAT, Step.CONSENT),
        ("yes but leave out his name", Step.CONSENT),
        ('/choose{"value": "edit"}', Step.DESCRIBE),
        ("Please ask the class teacher to call me", Step.CONSENT),
        ("ok", OPEN),
    )),
]  # fmt: skip


def play(ctx: FlowContext, script: Script) -> list[Outcome]:
    outcome = flows.start(ctx, script.flow, script.school_id, summary=script.summary)
    outcomes = [outcome]
    for text, expected in script.steps:
        assert outcome.flow is not None, f"{script.name}: the flow ended before {text!r}"
        answered = flows.answer(ctx, outcome.flow, FlowInput(read(text)))
        assert answered is not None, f"{script.name}: {text!r} was not taken as an answer"
        outcome = answered
        outcomes.append(outcome)
        if expected == OPEN:
            assert outcome.flow is None
            assert [type(d) for d in outcome.decisions] == [OpenCase], script.name
        elif expected == DISCARD:
            assert outcome.flow is None
            assert [type(d) for d in outcome.decisions] == [DiscardDraft], script.name
        else:
            assert outcome.flow is not None
            assert (outcome.flow.step, outcome.decisions) == (expected, ()), f"{script.name}: {text!r}"
    return outcomes


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_each_flow_is_a_table_of_steps(ctx: FlowContext, script: Script) -> None:
    outcomes = play(ctx, script)
    assert all(outcome.replies or outcome.decisions for outcome in outcomes)


def opened(ctx: FlowContext, script: Script) -> OpenCase:
    decision = play(ctx, script)[-1].decisions[0]
    assert isinstance(decision, OpenCase)
    return decision


def test_the_case_holds_what_the_flow_collected(ctx: FlowContext) -> None:
    complaint = opened(ctx, SCRIPTS[0]).draft
    assert (complaint.kind, complaint.priority, complaint.school_id) == (
        CaseKind.COMPLAINT,
        Priority.NORMAL,
        "riverside",
    )
    assert (complaint.contact_method, complaint.contact_detail) == ("phone", "07700 900 123")
    assert complaint.details == {"names": "Sarah Jones, my son is Tom in 4B"}, "as typed; not about the head"
    assert complaint.parent_chat_id == int(PARENT)
    bullying = opened(ctx, SCRIPTS[2]).draft
    assert bullying.details == {"where": "snapchat", "who": "two girls in year 7", "when": "since last week"}
    assert (bullying.contact_method, bullying.contact_detail) == ("email", "mum@example.com")


@pytest.mark.parametrize("script", SCRIPTS[6:8], ids=["school known", "school unknown"])
def test_an_urgent_case_is_filed_in_three_taps_with_the_first_message_as_its_description(
    ctx: FlowContext, script: Script
) -> None:
    draft = opened(ctx, script).draft
    assert len(script.steps) == 3
    assert all(text.startswith("/") for text, _ in script.steps), "every step is one tap"
    assert (draft.kind, draft.priority) == (CaseKind.SAFEGUARDING, Priority.URGENT)
    assert draft.summary == script.summary


def test_the_urgent_offer_without_a_school_is_the_school_buttons_and_a_no(ctx: FlowContext) -> None:
    offer = flows.start(ctx, FlowName.SAFEGUARDING, None, summary="x").replies[-1]
    assert [b.title for b in offer.buttons][-1] == "Not now"
    assert len(offer.buttons) == len(ctx.schools.schools) + 1


def test_the_edited_description_replaces_the_old_one(ctx: FlowContext) -> None:
    draft = opened(ctx, SCRIPTS[-1]).draft
    assert draft.summary == "Please ask the class teacher to call me"


def consent_flow(ctx: FlowContext, lines: int, photos: int = 0) -> FlowState:
    flow = FlowState(FlowName.CYBERBULLYING, Step.CONTACT, NOW, NOW, "oakfield")
    flow = flow.with_answer(Step.DESCRIBE, "They post mean comments")
    flow = flows.hear(flow, Author.PARENT, *(f"line {n} " + "words " * 20 for n in range(lines)))
    for n in range(photos):
        flow = flows.add_photo(ctx, flow, f"file-{n}").flow or flow  # type: ignore[union-attr]
    outcome = flows.answer(ctx, flow, FlowInput(read(CHAT)))
    assert outcome is not None
    assert outcome.flow is not None
    return outcome.flow


def test_the_consent_step_shows_every_line_and_the_photo_count_and_sends_exactly_that(
    ctx: FlowContext,
) -> None:
    flow = consent_flow(ctx, lines=3, photos=2)
    summary = flows.prompt(ctx, flow)
    assert all(f"line {n}" in summary.text for n in range(3))
    assert "Screenshots: 2" in summary.text
    later = flows.hear(flow, Author.PARENT, "[button: affirm]")
    outcome = flows.answer(ctx, later, FlowInput(read("/affirm")))
    assert outcome is not None
    [decision] = outcome.decisions
    assert isinstance(decision, OpenCase)
    assert [line.text for line in decision.draft.transcript] == [line.text for line in flow.lines]
    assert decision.draft.attachments == ("file-0", "file-1")


def test_a_long_preview_comes_as_a_document_with_every_line(ctx: FlowContext) -> None:
    flow = consent_flow(ctx, lines=40)
    summary = flows.prompt(ctx, flow)
    assert summary.document is not None
    assert all(f"line {n} " in summary.document.text for n in range(40))
    assert "40 messages, in the file above" in summary.text
    assert len(summary.text) < flows.PREVIEW_LIMIT


@pytest.mark.parametrize("text", ["yes", "Yes please", "y", "OK", "send it", "Yes, send it!", "/affirm"])
def test_consent_is_a_button_or_an_exact_yes(ctx: FlowContext, text: str) -> None:
    outcome = flows.answer(ctx, consent_flow(ctx, 1), FlowInput(read(text)))
    assert outcome is not None
    assert [type(d) for d in outcome.decisions] == [OpenCase]


@pytest.mark.parametrize(
    "text", ["yes but leave out his name", "yes, and add his teacher", "sure why not", "👍", "/greet"]
)
def test_anything_else_at_consent_asks_again_with_a_way_to_edit(ctx: FlowContext, text: str) -> None:
    outcome = flows.answer(ctx, consent_flow(ctx, 1), FlowInput(read(text), intent="affirm"))
    assert outcome is not None
    assert outcome.decisions == ()
    assert outcome.flow is not None
    assert outcome.flow.step is Step.CONSENT
    assert "Change the description" in [b.title for r in outcome.replies for b in r.buttons]


def test_a_stored_flow_reads_back_the_same_and_unreadable_old_values_are_no_flow(ctx: FlowContext) -> None:
    flow = consent_flow(ctx, 2, photos=1)
    assert FlowState.from_json(flow.to_json()) == flow
    assert flow.contact is ContactMethod.CHAT
    for old in ({"name": "complaint", "step": "offer", "school_id": None}, {"name": "x"}, [], None, "junk"):
        assert FlowState.from_json(old) is None


# ---- the engine carrying out the flows' decisions (stand-in NLU, real database) ---------------------------


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


BULLYING = "my daughter is being bullied on instagram and they post her photo"
DINNER = "I want to speak to a member of staff about the dinner menu"
NLU = {BULLYING: intent("report_cyberbullying"), DINNER: intent("human_handoff")}


async def test_a_declined_report_leaves_nothing_that_a_later_case_could_carry(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    """A bullying report with a screenshot, declined; then an unrelated question for staff, accepted.
    The second case's rows (what its staff card is built from) hold nothing of the first: what a parent
    declined to send never reaches staff with a later case."""
    engine = stub_engine(responses, schools, sessions, StubNlu(NLU))
    await engine.handle(PARENT, school_payload("riverside"))
    for text in (BULLYING, "/deny", "Girls from her class post mean comments about Amira", "instagram",
                 "Year 8 girls", "since September"):  # fmt: skip
        await engine.handle(PARENT, text)
    await engine.handle_photo(PARENT, "screenshot-of-the-bullying")
    await engine.handle(PARENT, '/choose{"value": "done"}')
    await engine.handle(PARENT, "skip")  # who staff should ask for
    summary = await engine.handle(PARENT, CHAT)
    assert "Screenshots: 1" in summary[-1].text
    assert "Amira" in summary[-1].text
    declined = await engine.handle(PARENT, "/deny")
    assert "deleted" in declined[-1].text
    assert (await SqlStateStore(sessions).load(PARENT)).flow is None

    await engine.handle(PARENT, DINNER)
    await engine.handle(PARENT, "/affirm")
    await engine.handle(PARENT, "Why is there no vegetarian option on Fridays?")
    consent = await engine.handle(PARENT, CHAT)
    assert "Screenshots: none" in consent[-1].text
    assert "Amira" not in consent[-1].text
    done = await engine.handle(PARENT, "/affirm")
    [case] = await records.cases.parent_cases(PARENT)
    assert case.reference in done[-1].text

    full = await records.cases.get(case.id)
    assert full is not None
    assert full.attachments == ()
    transcript = "\n".join(line.text for line in full.transcript)
    assert DINNER in transcript
    assert "vegetarian" in transcript
    for first in ("bullied", "Amira", "Year 8", "September", "screenshot", "[photo]"):
        assert first.lower() not in transcript.lower(), first
    assert full.transcript[0].text == DINNER, "from the message that started the flow"
    with sessions() as session:
        attached = session.scalars(
            select(ConversationMessage.text).where(ConversationMessage.case_id == case.id)
        )
        assert "\n".join(attached) == transcript
    assert count(sessions, Attachment) == 0


async def test_the_transcript_is_exactly_the_lines_shown_at_consent(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu(NLU))
    await engine.handle(PARENT, school_payload("oakfield"))
    await engine.handle(PARENT, "what is the weather")  # before the flow: not part of it
    await engine.handle(PARENT, DINNER)
    await engine.handle(PARENT, "/affirm")
    await engine.handle(PARENT, "Is the menu changing?")
    consent = await engine.handle(PARENT, CHAT)
    await engine.handle(PARENT, "/affirm")
    [case] = await records.cases.parent_cases(PARENT)
    full = await records.cases.get(case.id)
    assert full is not None
    document = consent[-1].document
    assert document is not None, "eight lines with the bot's answers do not fit a phone's screen"
    preview = document.text
    for line in full.transcript:
        prefix = "You: " if line.author is Author.PARENT else "Bot: "
        assert prefix + line.text in preview
    assert "weather" not in "\n".join(line.text for line in full.transcript)
    assert [d.kind for d in await records.outbox.deliveries(case.id)] == ["case_card"]


@pytest.mark.parametrize("leave", ["/cancel", "stop", "/start"])
async def test_leaving_a_flow_deletes_its_draft_at_once_and_says_so(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], leave: str
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu(NLU))
    for text in (BULLYING, "/deny", "Girls in her class keep sending her horrible messages", "snapchat",
                 "two girls in year 7", "since last week"):  # fmt: skip
        await engine.handle(PARENT, text)
    await engine.handle_photo(PARENT, "photo-file-1")
    left = await engine.handle(PARENT, leave)
    assert any("deleted it, with its screenshot." in r.text for r in left)
    assert (await SqlStateStore(sessions).load(PARENT)).flow is None
    assert count(sessions, Case) == count(sessions, Attachment) == 0
    after = await engine.handle(PARENT, "/affirm")
    assert "Which school" not in "\n".join(r.text for r in after)


@pytest.mark.parametrize(
    ("photos", "said"), [(0, "deleted it."), (1, "with its screenshot."), (3, "with its 3 screenshots.")]
)
async def test_cancel_is_one_message_that_counts_screenshots_as_people_do(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], photos: int, said: str
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu(NLU))
    for text in (BULLYING, "/deny", "Girls in her class keep sending her horrible messages", "snapchat"):
        await engine.handle(PARENT, text)
    for number in range(photos):
        await engine.handle_photo(PARENT, f"photo-file-{number}")
    [cancelled] = await engine.handle(PARENT, "/cancel")
    assert "Your unfinished cyberbullying report was not sent" in cancelled.text
    assert said in cancelled.text
    assert "(s)" not in cancelled.text
    assert " 0 " not in cancelled.text
    assert cancelled.buttons, "the usual next steps are offered"


QUIET_COMPLAINT = "I'd like to complain about how my son's teacher spoke to him"
POSTED_COMPLAINT = "I nearly posted about my son's teacher, how do I complain properly"


@pytest.mark.parametrize(
    ("message", "lectured"), [(QUIET_COMPLAINT, False), (POSTED_COMPLAINT, True), ("/how_to_complain", False)]
)
async def test_only_a_parent_who_spoke_of_posting_is_told_not_to_post(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], message: str, lectured: bool
) -> None:
    nlu = {QUIET_COMPLAINT: intent("how_to_complain"), POSTED_COMPLAINT: intent("how_to_complain")}
    engine = stub_engine(responses, schools, sessions, StubNlu(nlu))
    guidance = (await engine.handle(PARENT, message))[0].text
    assert "complaints policy is the way to raise it" in guidance
    assert ("not social media" in guidance) is lectured
    assert guidance.startswith("Please don't post the complaint online") is lectured


async def test_switching_flow_deletes_the_first_draft(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu(NLU))
    await engine.handle(PARENT, school_payload("oakfield"))
    await engine.handle(PARENT, "/how_to_complain")
    await engine.handle(PARENT, "/affirm")
    replies = await engine.handle(PARENT, "/report_cyberbullying")
    assert any("Your unfinished complaint was not sent" in r.text for r in replies)
    flow = (await SqlStateStore(sessions).load(PARENT)).flow
    assert flow is not None
    assert flow.name is FlowName.CYBERBULLYING
    assert all("complaint" not in line.text.lower() for line in flow.lines)


async def test_a_bullying_report_with_screenshots_becomes_a_case_with_that_evidence(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu(NLU))
    for text in (BULLYING, "/deny", "instagram", "don't know"):  # the first message is the description
        await engine.handle(PARENT, text)
    evidence = await engine.handle(PARENT, "about a month, still going on")
    assert "never screenshot, save or forward a nude" in evidence[-1].text.lower()
    saved = await engine.handle_photo(PARENT, "file-1")
    assert "1 so far" in saved[-1].text
    await engine.handle_photo(PARENT, "file-2")
    await engine.handle(PARENT, '/choose{"value": "done"}')
    await engine.handle(PARENT, school_payload("riverside"))
    await engine.handle(PARENT, '/choose{"value": "skip"}')  # the names
    summary = await engine.handle(PARENT, "mum@example.com")
    assert "Screenshots: 2" in summary[-1].text
    await engine.handle(PARENT, "/affirm")
    [case] = await records.cases.parent_cases(PARENT)
    full = await records.cases.get(case.id)
    assert full is not None
    assert (full.kind, full.attachments, full.details["where"]) == (
        CaseKind.CYBERBULLYING,
        ("file-1", "file-2"),
        "instagram",
    )
    assert "[photo]" in [line.text for line in full.transcript]


async def test_a_report_keeps_at_most_ten_screenshots_and_says_so(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    """Each photo of a report is a photo the staff chat is sent: without a cap, one report could flood it."""
    engine = stub_engine(responses, schools, sessions, StubNlu(NLU))
    for text in (BULLYING, "/deny", "instagram", "don't know"):  # the first message is the description
        await engine.handle(PARENT, text)
    await engine.handle(PARENT, "about a month, still going on")
    answers = [(await engine.handle_photo(PARENT, f"file-{n}"))[-1].text for n in range(1, 16)]
    assert "10 so far" in answers[9]
    assert all("the most screenshots I can keep for one report (10)" in a for a in answers[10:]), answers
    await engine.handle(PARENT, '/choose{"value": "done"}')
    await engine.handle(PARENT, school_payload("riverside"))
    await engine.handle(PARENT, '/choose{"value": "skip"}')  # the names
    summary = await engine.handle(PARENT, "mum@example.com")
    assert "Screenshots: 10" in summary[-1].text
    await engine.handle(PARENT, "/affirm")
    [case] = await records.cases.parent_cases(PARENT)
    full = await records.cases.get(case.id)
    assert full is not None
    assert full.attachments == tuple(f"file-{n}" for n in range(1, 11))


async def test_a_photo_outside_a_report_is_not_kept(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    engine = stub_engine(responses, schools, sessions)
    replies = await engine.handle_photo(PARENT, "file-x")
    assert "only keep photos as evidence inside a bullying report" in replies[0].text
    assert count(sessions, Attachment) == 0


async def test_a_restart_mid_flow_resumes_where_the_parent_was(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    first = stub_engine(responses, schools, sessions)
    await first.handle(PARENT, school_payload("oakfield"))
    await first.handle(PARENT, "/report_breach")
    await first.handle(PARENT, "/affirm")
    await first.handle(PARENT, "Another parent is posting lies about Mrs Khan in the Year 4 Facebook group")
    restarted = stub_engine(responses, schools, sessions)
    where = await restarted.handle(PARENT, '/choose{"value": "facebook"}')
    assert "link" in where[-1].text.lower()
    await restarted.handle(PARENT, '/choose{"value": "skip"}')
    await restarted.handle(PARENT, '/choose{"value": "skip"}')  # the names
    await restarted.handle(PARENT, CHAT)
    await restarted.handle(PARENT, "/affirm")
    [case] = await records.cases.parent_cases(PARENT)
    assert (case.kind, case.details, case.school_id) == (CaseKind.BREACH, {"where": "Facebook"}, "oakfield")


async def test_school_during_a_flow_moves_the_flow_to_the_chosen_school(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    engine = stub_engine(responses, schools, sessions)
    await engine.handle(PARENT, school_payload("oakfield"))
    await engine.handle(PARENT, "/human_handoff")
    await engine.handle(PARENT, "/affirm")
    asked = await engine.handle(PARENT, "/school")
    assert "Riverside Academy" in [b.title for b in asked[-1].buttons]
    moved = await engine.handle(PARENT, school_payload("riverside"))
    assert "this will go to Riverside Academy" in moved[0].text
    assert "What would you like to ask" in moved[-1].text
    await engine.handle(PARENT, "Is there a uniform swap shop?")
    consent = await engine.handle(PARENT, CHAT)
    assert "Riverside Academy" in consent[-1].text
    await engine.handle(PARENT, "/affirm")
    [case] = await records.cases.parent_cases(PARENT)
    assert case.school_id == "riverside"
    assert count(sessions, Delivery) == 1


COMPLAINT_TO_CONSENT = (
    school_payload("oakfield"),
    DINNER,  # long enough to be the description: not asked for
    "/affirm",
    CHAT,
    "/affirm",
)


async def file_a_complaint(engine: DialogueEngine) -> None:
    for text in COMPLAINT_TO_CONSENT:
        await engine.handle(PARENT, text)


async def test_status_and_forget(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu(NLU))
    assert "no cases" in (await engine.handle(PARENT, "/status"))[0].text
    await file_a_complaint(engine)
    [case] = await records.cases.parent_cases(PARENT)
    status = await engine.handle(PARENT, "/status")
    assert case.reference in status[0].text
    assert "being sent to the school" in status[0].text
    await engine.handle(PARENT, "/forget")
    with sessions() as session:
        remaining = session.scalars(
            select(ConversationMessage).where(ConversationMessage.parent_id == PARENT)
        )
        assert all(m.case_id == case.id for m in remaining)
    assert len(await records.cases.parent_cases(PARENT)) == 1


async def _card_row(records: Records, case_id: int) -> int:
    [due] = [d for d in await records.outbox.claim_due() if d.case_id == case_id and d.kind == "case_card"]
    return due.id


async def _card_sent(records: Records, case_id: int) -> None:
    await records.outbox.mark_card_sent(await _card_row(records, case_id), case_id, message_id=77)


async def _card_refused(records: Records, case_id: int) -> None:
    await records.outbox.mark_retry(
        await _card_row(records, case_id), "chat not found", timedelta(0), give_up=True
    )


async def _card_retrying(records: Records, case_id: int) -> None:
    await records.outbox.mark_retry(await _card_row(records, case_id), "timed out", timedelta(0))


async def _claimed(records: Records, case_id: int) -> None:
    await _card_sent(records, case_id)
    assert await records.cases.claim(case_id, 501, "Ms Head")


async def _resolved(records: Records, case_id: int) -> None:
    await _claimed(records, case_id)
    assert await records.cases.resolve(case_id, 501, "Ms Head")


async def _queued(records: Records, case_id: int) -> None:
    """Nothing happened yet: the card waits in the outbox."""


DELIVERY_STATES: dict[str, tuple[Callable[[Records, int], Awaitable[None]], str]] = {
    "queued": (_queued, "being sent to the school"),
    "retrying": (_card_retrying, "being sent to the school"),
    "with staff": (_card_sent, "with the staff, waiting for them to pick it up"),
    "undelivered": (_card_refused, "NOT delivered. I could not reach the staff. Please phone"),
    "claimed": (_claimed, "being looked at"),
    "resolved": (_resolved, "resolved"),
}


@pytest.mark.parametrize("state", DELIVERY_STATES)
async def test_status_tells_the_truth_in_every_delivery_state(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records, state: str
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu(NLU))
    await file_a_complaint(engine)
    [case] = await records.cases.parent_cases(PARENT)
    make_it_so, expected = DELIVERY_STATES[state]
    await make_it_so(records, case.id)
    [status] = await engine.handle(PARENT, "/status")
    line = next(line for line in status.text.splitlines() if case.reference in line)
    assert expected in line
    others = {label for _, label in DELIVERY_STATES.values()} - {expected}
    assert not [label for label in others if label in line]
    if state == "undelivered":
        assert schools.get("oakfield").phone in line


@pytest.mark.parametrize("words", [1, 60], ids=["short lines", "long lines"])
async def test_a_long_draft_keeps_its_first_line_and_newest_within_the_cap(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records, words: int
) -> None:
    """300 turns in one draft (a draft without a cap grew to 1.8 MB, all of it rewritten every turn):
    at most MAX_DRAFT_LINES lines and MAX_DRAFT_CHARS characters are kept, the oldest after the first
    left out with one line saying how many, and the consent step still shows exactly what is sent."""
    engine = stub_engine(responses, schools, sessions, StubNlu(NLU))
    await engine.handle(PARENT, school_payload("oakfield"))
    await engine.handle(PARENT, DINNER)
    await engine.handle(PARENT, "/affirm")
    await engine.handle(PARENT, "Is the menu changing?")
    for turn in range(300):
        await engine.handle(PARENT, f"turn {turn} " + " ".join(["menu"] * words))
    flow = (await SqlStateStore(sessions).load(PARENT)).flow
    assert flow is not None
    assert flow.lines[0].text == DINNER, "the message that started the flow is kept"
    assert len(flow.lines) + 1 <= MAX_DRAFT_LINES
    assert sum(len(line.text) for line in flow.lines) <= MAX_DRAFT_CHARS - NOTICE_CHARS
    assert any(line.text.startswith("turn 299 ") for line in flow.lines[-3:]), "the newest are kept"
    assert not any(line.text.startswith("turn 0 ") for line in flow.lines)
    assert flow.left_out > 0

    consent = await engine.handle(PARENT, CHAT)
    flow = (await SqlStateStore(sessions).load(PARENT)).flow
    assert flow is not None
    notice = f"({flow.shown_left_out} earlier lines left out)"
    preview = consent[-1].document.text if consent[-1].document else consent[-1].text
    for turn in range(20):  # shown again each time, the draft full: the last showing is what is sent
        again = (await engine.handle(PARENT, f"hmm {turn}"))[-1]
        preview = again.document.text if again.document else again.text
    flow = (await SqlStateStore(sessions).load(PARENT)).flow
    assert flow is not None
    notice = f"({flow.shown_left_out} earlier lines left out)"
    await engine.handle(PARENT, "/affirm")
    [case] = await records.cases.parent_cases(PARENT)
    full = await records.cases.get(case.id)
    assert full is not None
    texts = [line.text for line in full.transcript]
    assert len(texts) <= MAX_DRAFT_LINES
    assert sum(len(text) for text in texts) <= MAX_DRAFT_CHARS
    assert texts[:2] == [DINNER, notice]
    assert texts.count(notice) == 1
    for line in full.transcript:  # the consent step showed every line that was sent, in order
        prefix = "You: " if line.author is Author.PARENT else "Bot: "
        assert prefix + line.text in preview
    shown = [line for line in preview.splitlines() if line.startswith(("You: ", "Bot: "))]
    assert len(shown) == len(texts)
