"""Safety first, as tables over the conversation's states: in every state a danger message gets
the guidance for its kind first and then the offer to alert the school's safeguarding staff; a calm
message gets neither. Stand-in NLU and gate (tests/standins.py), real engine and database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.domain import CaseKind, FlowName, ParentState, Priority, Step
from bot.nlu.client import NluResult
from bot.schools import Schools
from bot.storage.parents import SqlStateStore
from bot.storage.records import Records
from tests.standins import StandInGate, StubNlu, intent, reading, stub_engine

DANGER = "my son says he wants to die"
DANGER_GUIDANCE = "utter_urgent_suicide_self_harm"
DANGER_READING = reading(0.97)
UNSURE = "my son is late home and not answering"
UNSURE_GUIDANCE = "utter_urgent_missing"
CALM = "thanks, that helps a lot"
CHAT = '/choose{"value": "chat"}'
OAKFIELD = '/choose_school{"school":"oakfield"}'
DINNER = "I want to speak to a member of staff about the dinner menu"


@dataclass(frozen=True)
class State:
    name: str
    script: tuple[str, ...]
    """What the parent sends to reach the state."""
    flow: FlowName | None = None
    step: Step | None = None


def _walk(flow: FlowName, start: str, answers: tuple[tuple[str, Step], ...], school: bool) -> list[State]:
    prefix = (OAKFIELD,) if school else ()
    states = []
    for n in range(len(answers)):
        script = (*prefix, start, *(text for text, _ in answers[: n + 1]))
        step = answers[n][1]
        states.append(State(f"{flow.value} at {step.value}", script, flow, step))
    return states


STATES = [
    State("cold", ()),
    State("school chosen", (OAKFIELD,)),
    State("after a fallback", ("what is the weather",)),
    *_walk(FlowName.COMPLAINT, "/how_to_complain", (
        ("", Step.OFFER), ("/affirm", Step.ABOUT), ('/choose{"value": "head"}', Step.DESCRIBE),
        ("My son got a detention", Step.NAMES), ("Sam Lee, Jo, Year 2", Step.CONTACT),
        ('/choose{"value": "phone"}', Step.CONTACT_DETAIL), ("07700 900 123", Step.CONSENT),
    ), school=True),
    *_walk(FlowName.CYBERBULLYING, "/report_cyberbullying", (
        ("", Step.DANGER), ("/deny", Step.DESCRIBE), ("mean messages", Step.WHERE),
        ('/choose{"value": "snapchat"}', Step.WHO), ("two girls", Step.WHEN), ("last week", Step.EVIDENCE),
        ('/choose{"value": "done"}', Step.SCHOOL), (OAKFIELD, Step.NAMES), ("skip", Step.CONTACT),
        ('/choose{"value": "email"}', Step.CONTACT_DETAIL), ("mum@example.com", Step.CONSENT),
    ), school=False),
    *_walk(FlowName.BREACH, "/report_breach", (
        ("", Step.OFFER), ("/affirm", Step.DESCRIBE), ("lies about a teacher", Step.WHERE),
        ('/choose{"value": "facebook"}', Step.LINK), ('/choose{"value": "skip"}', Step.NAMES),
        ('/choose{"value": "skip"}', Step.CONTACT), (CHAT, Step.CONSENT),
    ), school=True),
    *_walk(FlowName.GENERAL, "/human_handoff", (
        ("", Step.OFFER), ("/affirm", Step.SCHOOL), (OAKFIELD, Step.DESCRIBE), ("a question", Step.CONTACT),
        (CHAT, Step.CONSENT),
    ), school=False),
    *_walk(FlowName.SAFEGUARDING, "/urgent_safeguarding", (
        ("", Step.OFFER), ("/affirm", Step.DESCRIBE), ("he is not safe", Step.CONTACT),
        ('/choose{"value": "phone"}', Step.CONTACT_DETAIL), ("07700 900 123", Step.CONSENT),
    ), school=True),
]  # fmt: skip
"""Every state a conversation can be in: cold, and each step of each flow (consent included). Relay
mode and a loading model have tests of their own below."""
STATES = [State(s.name, tuple(t for t in s.script if t), s.flow, s.step) for s in STATES]


async def reach(engine: DialogueEngine, sessions: sessionmaker[Session], parent: str, state: State) -> None:
    for text in state.script:
        await engine.handle(parent, text)
    flow = (await SqlStateStore(sessions).load(parent)).flow
    assert (flow.name if flow else None, flow.step if flow else None) == (state.flow, state.step), state


def guidance(responses: ResponseBook, name: str) -> str:
    return responses.render(name, {}).text.split("{")[0][:40]


def assert_guided_then_offered(replies: list[Reply], responses: ResponseBook) -> None:
    assert replies[0].text.startswith(guidance(responses, DANGER_GUIDANCE)), replies[0].text
    assert len(replies) > 1, "the guidance is followed by the offer to alert staff"


@pytest.mark.parametrize("state", STATES, ids=[s.name for s in STATES])
async def test_danger_gets_the_guidance_first_and_the_alert_offer_in_every_state(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], state: State
) -> None:
    nlu = StubNlu({DANGER: NluResult("urgent_safeguarding", 0.9, danger=DANGER_READING)})
    gate = StandInGate()
    engine = stub_engine(responses, schools, sessions, nlu, gate)
    await reach(engine, sessions, "p", state)
    replies = await engine.handle("p", DANGER)
    assert_guided_then_offered(replies, responses)
    flow = (await SqlStateStore(sessions).load("p")).flow
    assert flow is not None
    assert flow.name is FlowName.SAFEGUARDING
    assert gate.seen[-1] == (DANGER, DANGER_READING), "the gate saw the text and the model's reading"
    assert DANGER in nlu.parsed, "the model saw the text too"
    if state.flow not in (None, FlowName.SAFEGUARDING):
        assert any("was not sent. I've deleted it" in r.text for r in replies), "said, not silent"


@pytest.mark.parametrize("state", STATES, ids=[s.name for s in STATES])
async def test_a_calm_message_gets_no_guidance_in_any_state(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], state: State
) -> None:
    engine = stub_engine(responses, schools, sessions)
    await reach(engine, sessions, "p", state)
    replies = await engine.handle("p", CALM)
    for name in ("utter_urgent_safeguarding", DANGER_GUIDANCE):
        assert not any(r.text.startswith(guidance(responses, name)) for r in replies)
    flow = (await SqlStateStore(sessions).load("p")).flow
    assert (flow.name if flow else None) in (state.flow, None)
    if state.flow is not None and state.step is not Step.CONSENT:
        assert flow is not None, "a calm message does not drop the flow"


@pytest.mark.parametrize("kind_text", ["my girl is missing since last night", "they say they will stab him"])
async def test_each_kind_of_danger_gets_its_own_guidance(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], kind_text: str
) -> None:
    engine = stub_engine(responses, schools, sessions)
    replies = await engine.handle("p", kind_text)
    assessment = StandInGate().assess(kind_text, None)
    expected = [responses.render(name, {}).text[:30] for name in assessment.guidance_responses()]
    assert [r.text[:30] for r in replies[: len(expected)]] == expected


async def test_while_the_model_loads_danger_is_answered_at_once_without_it(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    nlu, gate = StubNlu(ready=False), StandInGate()
    engine = stub_engine(responses, schools, sessions, nlu, gate)
    await engine.handle("p", OAKFIELD)
    await engine.handle("p", "/how_to_complain")
    await engine.handle("p", "/affirm")  # at the free-text description step
    replies = await asyncio.wait_for(engine.handle("p", DANGER), 5)
    assert_guided_then_offered(replies, responses)
    assert gate.seen[-1] == (DANGER, None), "no score while the model loads"
    cold = await asyncio.wait_for(engine.handle("q", DANGER), 5)
    assert_guided_then_offered(cold, responses)
    assert not nlu.waiting.is_set(), "danger did not wait for the model"
    calm = asyncio.create_task(engine.handle("r", CALM))
    await asyncio.wait_for(nlu.waiting.wait(), 5)  # other text waits for the model...
    assert not calm.done()
    nlu.finish_loading()
    assert await asyncio.wait_for(calm, 5)  # ...and is answered by it


async def _file_case(engine: DialogueEngine, records: Records, parent: str) -> int:
    for text in (OAKFIELD, DINNER, "/affirm", "Is the menu changing?", CHAT, "/affirm"):
        await engine.handle(parent, text)
    [case] = await records.cases.parent_cases(parent)
    return case.id


async def test_in_relay_mode_danger_gets_the_guidance_and_reaches_the_case_staff_marked_urgent(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu({DINNER: intent("human_handoff")}))
    case_id = await _file_case(engine, records, "p")
    assert await records.cases.staff_reply(case_id, "Mrs Patel", "Could you tell me which class?")
    calm = await engine.handle("p", "It's Year 5, Oak class")
    assert "Passed to the staff" in calm[0].text
    replies = await engine.handle("p", DANGER)
    assert_guided_then_offered(replies, responses)
    assert any("as URGENT" in r.text for r in replies)
    case = await records.cases.get(case_id)
    assert case is not None
    assert case.priority is Priority.URGENT
    relayed = [(d.kind, d.payload) for d in await records.outbox.deliveries(case_id)]
    assert ("parent_reply", {"text": "It's Year 5, Oak class"}) in relayed
    assert ("parent_reply", {"text": DANGER, "urgent": True}) in relayed
    assert ("case_card_update", {}) in relayed
    assert DANGER in [line.text for line in case.transcript]
    flow = (await SqlStateStore(sessions).load("p")).flow
    assert flow is not None
    assert flow.name is FlowName.SAFEGUARDING


async def test_a_calm_message_in_relay_mode_goes_to_staff_as_before(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu({DINNER: intent("human_handoff")}))
    case_id = await _file_case(engine, records, "p")
    await records.cases.staff_reply(case_id, "Mrs Patel", "Hello")
    replies = await engine.handle("p", CALM)
    assert [r.text[:20] for r in replies] == ["Passed to the staff "]
    case = await records.cases.get(case_id)
    assert case is not None
    assert case.priority is Priority.NORMAL


# ---- the fast urgent case: filed in at most three taps, as a parent in a crisis will not tap more ----


def tap(replies: list[Reply], title: str) -> str:
    """The payload of the button called `title` on the last message that has buttons: one tap."""
    buttons = next(r.buttons for r in reversed(replies) if r.buttons)
    return next(b.payload for b in buttons if b.title == title)


@pytest.mark.parametrize(
    ("school_known", "taps"),
    [
        (True, ("Yes, alert them now", "Reply in this chat", "Yes, send it")),
        (False, ("Hollybrook Infant and Nursery School", "Reply in this chat", "Yes, send it")),
    ],
    ids=["school known", "school unknown"],
)
async def test_an_urgent_case_is_filed_within_three_taps_of_the_first_message(
    responses: ResponseBook,
    schools: Schools,
    sessions: sessionmaker[Session],
    records: Records,
    school_known: bool,
    taps: tuple[str, ...],
) -> None:
    engine = stub_engine(responses, schools, sessions)
    if school_known:
        await engine.handle("7001", '/choose_school{"school":"hollybrook"}')
    replies = await engine.handle("7001", DANGER)
    for title in taps:
        replies = await engine.handle("7001", tap(replies, title))
    assert len(taps) <= 3
    assert "marked URGENT" in replies[0].text
    assert replies[-1].text.startswith("Your alert is already on its way."), "the names only after"
    [case] = await records.cases.parent_cases("7001")
    full = await records.cases.get(case.id)
    assert full is not None
    assert (full.kind, full.priority, full.school_id) == (
        CaseKind.SAFEGUARDING,
        Priority.URGENT,
        "hollybrook",
    )
    assert full.summary == DANGER
    assert full.transcript[0].text == DANGER
    assert [d.kind for d in await records.outbox.deliveries(case.id)] == ["case_card"]


async def test_what_the_parent_types_after_the_warning_is_sent_only_with_consent(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    engine = stub_engine(responses, schools, sessions)
    await engine.handle("7002", OAKFIELD)
    replies = await engine.handle("7002", DANGER)
    replies = await engine.handle("7002", "he is at home with me now")  # not an answer: asked again
    replies = await engine.handle("7002", tap(replies, "Yes, alert them now"))
    replies = await engine.handle("7002", tap(replies, "Reply in this chat"))
    screen = replies[-1]
    shown = screen.text + (screen.document.text if screen.document else "")
    assert "he is at home with me now" in shown, "shown before it is sent (on screen or in the file)"
    await engine.handle("7002", tap(replies, "Yes, send it"))
    [case] = await records.cases.parent_cases("7002")
    full = await records.cases.get(case.id)
    assert full is not None
    assert "he is at home with me now" in [line.text for line in full.transcript]

    await engine.handle("7003", OAKFIELD)
    await engine.handle("7003", DANGER)
    await engine.handle("7003", "he is at home with me now")
    declined = await engine.handle("7003", "/deny")
    assert "haven't kept" in declined[-1].text
    assert await records.cases.parent_cases("7003") == []
    assert (await SqlStateStore(sessions).load("7003")).flow is None


# ---- the check: the gate is unsure -----------------------------------------------------------------------


def check_question(responses: ResponseBook) -> str:
    return responses.render("utter_danger_check", {}).text


async def _state_after(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], script: tuple[str, ...]
) -> tuple[list[Reply], object]:
    """What a parent who sends `script` ends with when the gate is never unsure (parent "calm")."""
    engine = stub_engine(responses, schools, sessions, gate=StandInGate(unsure={}))
    replies: list[Reply] = []
    for text in script:
        replies = await engine.handle("calm", text)
    return replies, _flow_of(await SqlStateStore(sessions).load("calm"))


def _flow_of(state: ParentState) -> object:
    flow = state.flow
    return (
        (flow.name, flow.step, flow.answers, flow.done, [line.text for line in flow.lines]) if flow else None
    )


@pytest.mark.parametrize("state", STATES, ids=[s.name for s in STATES])
async def test_an_unsure_message_is_checked_first_and_no_answers_it_as_usual_in_every_state(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], state: State
) -> None:
    expected, expected_flow = await _state_after(responses, schools, sessions, (*state.script, UNSURE))

    engine = stub_engine(responses, schools, sessions)
    await reach(engine, sessions, "p", state)
    before = (await SqlStateStore(sessions).load("p")).flow
    [asked] = await engine.handle("p", UNSURE)
    assert asked.text == check_question(responses)
    assert asked.text.startswith("If anyone is in danger right now, call 999")
    assert [b.title for b in asked.buttons] == ["Yes, a child may be in danger", "No, it's not urgent"]
    waiting = await SqlStateStore(sessions).load("p")
    if before is not None:
        assert waiting.flow is not None
        assert replace(waiting.flow, updated_at=before.updated_at) == before, "the flow waits, untouched"
    else:
        assert waiting.flow is None
    assert waiting.danger_check is not None
    assert waiting.danger_check.text == UNSURE

    replies = await engine.handle("p", tap([asked], "No, it's not urgent"))
    after = await SqlStateStore(sessions).load("p")
    assert after.danger_check is None
    assert [r.text for r in replies] == [r.text for r in expected], "answered as if never asked"
    assert _flow_of(after) == expected_flow


@pytest.mark.parametrize("state", STATES, ids=[s.name for s in STATES])
async def test_yes_to_the_check_gives_the_guidance_and_the_alert_offer_in_every_state(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], state: State
) -> None:
    engine = stub_engine(responses, schools, sessions)
    await reach(engine, sessions, "p", state)
    asked = await engine.handle("p", UNSURE)
    replies = await engine.handle("p", tap(asked, "Yes, a child may be in danger"))
    assert replies[0].text.startswith(guidance(responses, UNSURE_GUIDANCE)), replies[0].text
    assert len(replies) > 1, "the guidance is followed by the offer to alert staff"
    flow = (await SqlStateStore(sessions).load("p")).flow
    assert flow is not None
    assert flow.name is FlowName.SAFEGUARDING
    if state.flow is not FlowName.SAFEGUARDING:
        assert flow.lines[0].text == UNSURE, "the message asked about starts the urgent case's transcript"


@pytest.mark.parametrize(
    ("typed", "urgent"),
    [("yes", True), ("Yes, a child may be in danger", True), ("yes!!", True),
     ("no", False), ("No, it's not urgent", False), ("not urgent", False)],
)  # fmt: skip
async def test_typing_the_words_of_a_check_button_means_that_button(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], typed: str, urgent: bool
) -> None:
    engine = stub_engine(responses, schools, sessions)
    await engine.handle("p", UNSURE)
    replies = await engine.handle("p", typed)
    guided = replies[0].text.startswith(guidance(responses, UNSURE_GUIDANCE))
    assert guided is urgent
    assert (await SqlStateStore(sessions).load("p")).danger_check is None


async def test_another_message_instead_of_an_answer_is_answered_for_itself(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    engine = stub_engine(responses, schools, sessions)
    await engine.handle("p", UNSURE)
    replies = await engine.handle("p", DANGER)
    assert_guided_then_offered(replies, responses)
    assert (await SqlStateStore(sessions).load("p")).danger_check is None


async def test_a_stale_yes_button_still_gives_the_guidance_and_a_stale_no_is_harmless(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    engine = stub_engine(responses, schools, sessions)
    asked = await engine.handle("p", UNSURE)
    await engine.handle("p", tap(asked, "No, it's not urgent"))
    late_yes = await engine.handle("p", tap(asked, "Yes, a child may be in danger"))
    assert late_yes[0].text.startswith(guidance(responses, "utter_urgent_safeguarding"))
    assert (await SqlStateStore(sessions).load("p")).flow is not None

    engine2 = stub_engine(responses, schools, sessions)
    asked = await engine2.handle("q", UNSURE)
    await engine2.handle("q", tap(asked, "No, it's not urgent"))
    late_no = await engine2.handle("q", tap(asked, "No, it's not urgent"))
    assert late_no[0].text == responses.render("utter_danger_check_not_urgent", {}).text
    assert (await SqlStateStore(sessions).load("q")).flow is None


async def test_a_calm_answer_never_starts_with_a_lone_999_line(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    """The one-line "call 999" before an ordinary answer is gone: a message is either checked or not."""
    text = "what happens if my son breaks the code"
    nlu = StubNlu(
        {
            text: NluResult(
                "breach_consequences",
                0.6,
                ranking=(("breach_consequences", 0.6), ("urgent_safeguarding", 0.4)),
            )
        }
    )
    engine = stub_engine(responses, schools, sessions, nlu)
    replies = await engine.handle("p", text)
    assert not any("999" in r.text.split("\n")[0] for r in replies)
