"""The handoff flows through the engine, with the real model and a real database (SPEC §4.3-§4.6, §5)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.storage.cases import CaseStore
from bot.storage.models import Attachment, Case, CaseKind, ConversationMessage, Delivery, Priority

PARENT = "5550001"  # a Telegram user id: its private chat has the same id


def _text(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


async def _choose_school(engine: DialogueEngine, name: str = "Riverside Academy") -> None:
    start = await engine.handle(PARENT, "/start")
    payload = next(b.payload for b in start[0].buttons if b.title == name)
    await engine.handle(PARENT, payload)


async def _file_general_case(engine: DialogueEngine, question: str) -> None:
    """A question for the school, passed to staff with the parent's consent."""
    await engine.handle(PARENT, "/human_handoff")
    await engine.handle(PARENT, "/affirm")
    await engine.handle(PARENT, question)
    await engine.handle(PARENT, '/choose{"value": "chat"}')
    await engine.handle(PARENT, "/affirm")


async def test_complaint_from_question_to_case_with_consent(
    engine: DialogueEngine, cases: CaseStore, sessions: sessionmaker[Session]
) -> None:
    await _choose_school(engine)
    offer = await engine.handle(
        PARENT, "i want to make a complaint about how the school handled my sons detention"
    )
    assert "riverside-academy.example.org.uk/complaints" in _text(offer)
    assert [b.payload for b in offer[-1].buttons] == ["/affirm", "/deny"]

    ask = await engine.handle(PARENT, "yes please")
    assert "what is your concern" in ask[-1].text.lower()
    contact = await engine.handle(PARENT, "My son was given a detention for something he did not do.")
    assert [b.title for b in contact[-1].buttons] == ["Reply in this chat", "Phone me", "Email me"]
    ask_phone = await engine.handle(PARENT, '/choose{"value": "phone"}')
    assert "phone number" in ask_phone[-1].text
    wrong = await engine.handle(PARENT, "call me maybe")
    assert "doesn't look like a phone number" in wrong[-1].text
    summary = await engine.handle(PARENT, "07700 900 123")

    assert "Riverside Academy" in summary[-1].text
    assert "detention for something he did not do" in summary[-1].text
    assert "07700 900 123" in summary[-1].text
    assert _count(sessions, Case) == 0, "nothing is shared before consent"

    done = await engine.handle(PARENT, "/affirm")
    [case] = await cases.parent_cases(PARENT)
    assert case.reference in done[-1].text
    assert case.kind is CaseKind.COMPLAINT
    assert case.school_id == "riverside"
    assert case.contact_method == "phone"
    assert case.contact_detail == "07700 900 123"
    assert case.parent_chat_id == int(PARENT)
    full = await cases.get(case.id)
    assert full is not None
    assert any("detention" in line.text for line in full.transcript)
    deliveries = await cases.deliveries(case.id)
    assert [(d.kind, d.chat_id) for d in deliveries] == [("case_card", -1001000000003)]


async def test_consent_refused_means_nothing_reaches_staff(
    engine: DialogueEngine, sessions: sessionmaker[Session]
) -> None:
    await _choose_school(engine)
    await engine.handle(PARENT, "/human_handoff")
    await engine.handle(PARENT, "/affirm")
    await engine.handle(PARENT, "Could someone tell me who the form tutor is?")
    await engine.handle(PARENT, '/choose{"value": "chat"}')
    refused = await engine.handle(PARENT, "/deny")
    assert "haven't sent anything" in refused[-1].text
    assert _count(sessions, Case) == 0
    assert _count(sessions, Delivery) == 0


async def test_cancel_anywhere_leaves_nothing_half_sent(
    engine: DialogueEngine, sessions: sessionmaker[Session]
) -> None:
    await engine.handle(PARENT, "/report_cyberbullying")
    await engine.handle(PARENT, "no")
    await engine.handle(PARENT, "Girls in her class keep sending her horrible messages")
    await engine.handle(PARENT, '/choose{"value": "snapchat"}')
    await engine.handle(PARENT, "two girls in year 7")
    await engine.handle(PARENT, "since last week")
    await engine.handle_photo(PARENT, "photo-file-1")
    assert _count(sessions, Attachment) == 1
    cancelled = await engine.handle(PARENT, "stop")
    assert "Nothing has been sent" in cancelled[-1].text
    assert _count(sessions, Case) == 0
    assert _count(sessions, Attachment) == 0, "the cancelled report's screenshots are deleted"
    after = await engine.handle(PARENT, "/affirm")
    assert "Which school" not in _text(after)


async def test_a_restart_mid_flow_resumes_where_the_parent_was(
    make_engine: Callable[[], DialogueEngine], cases: CaseStore
) -> None:
    first = make_engine()
    await _choose_school(first, "Oakfield Primary School")
    await first.handle(PARENT, "/report_breach")
    await first.handle(PARENT, "/affirm")
    await first.handle(PARENT, "Another parent is posting lies about Mrs Khan in the Year 4 Facebook group")

    restarted = make_engine()
    where = await restarted.handle(PARENT, '/choose{"value": "facebook"}')
    assert "link" in where[-1].text.lower()
    await restarted.handle(PARENT, '/choose{"value": "skip"}')
    await restarted.handle(PARENT, '/choose{"value": "chat"}')
    await restarted.handle(PARENT, "/affirm")
    [case] = await cases.parent_cases(PARENT)
    assert case.kind is CaseKind.BREACH
    assert case.details == {"where": "facebook"}
    assert case.school_id == "oakfield"


async def test_a_question_mid_flow_is_answered_and_the_flow_carries_on(engine: DialogueEngine) -> None:
    await _choose_school(engine)
    await engine.handle(PARENT, "/how_to_complain")
    replies = await engine.handle(PARENT, "can the school read my private whatsapp messages")
    assert '(Code: "' in replies[0].text
    assert "back to where we were" in replies[1].text.lower()
    assert [b.payload for b in replies[-1].buttons] == ["/affirm", "/deny"]
    ask = await engine.handle(PARENT, "yes")
    assert "what is your concern" in ask[-1].text.lower()


async def test_bullying_report_with_screenshots_becomes_a_case_with_evidence(
    engine: DialogueEngine, cases: CaseStore
) -> None:
    await engine.handle(PARENT, "my daughter is being bullied on instagram by kids from her class")
    await engine.handle(PARENT, "/deny")  # no immediate danger
    await engine.handle(PARENT, "They made a fake account with her photo and post mean comments")
    await engine.handle(PARENT, "instagram")
    await engine.handle(PARENT, "don't know")
    evidence = await engine.handle(PARENT, "about a month, still going on")
    assert "never screenshot, save or forward a nude" in evidence[-1].text.lower()
    saved = await engine.handle_photo(PARENT, "file-1")
    assert "1 so far" in saved[-1].text
    await engine.handle_photo(PARENT, "file-2")
    school = await engine.handle(PARENT, '/choose{"value": "done"}')
    await engine.handle(PARENT, next(b.payload for b in school[-1].buttons if b.title == "Riverside Academy"))
    await engine.handle(PARENT, '/choose{"value": "email"}')
    summary = await engine.handle(PARENT, "mum@example.com")
    assert "Screenshots: 2" in summary[-1].text
    await engine.handle(PARENT, "/affirm")
    [case] = await cases.parent_cases(PARENT)
    full = await cases.get(case.id)
    assert full is not None
    assert full.kind is CaseKind.CYBERBULLYING
    assert full.attachments == ("file-1", "file-2")
    assert full.details["where"] == "instagram"


async def test_a_photo_outside_a_report_is_not_kept(
    engine: DialogueEngine, sessions: sessionmaker[Session]
) -> None:
    replies = await engine.handle_photo(PARENT, "file-x")
    assert "only keep photos as evidence inside a bullying report" in replies[0].text
    assert _count(sessions, Attachment) == 0


async def test_danger_yes_gives_emergency_guidance_then_an_urgent_case(
    engine: DialogueEngine, cases: CaseStore
) -> None:
    await _choose_school(engine, "Hollybrook Infant and Nursery School")
    await engine.handle(PARENT, "/report_cyberbullying")
    urgent = await engine.handle(PARENT, "/affirm")
    assert "999" in urgent[0].text
    assert "safeguarding staff" in urgent[-1].text
    await engine.handle(PARENT, "/affirm")
    await engine.handle(PARENT, "An older boy is threatening to share a photo of my son unless he pays")
    await engine.handle(PARENT, '/choose{"value": "chat"}')
    done = await engine.handle(PARENT, "/affirm")
    assert "URGENT" in done[-1].text
    [case] = await cases.parent_cases(PARENT)
    assert case.priority is Priority.URGENT
    assert case.kind is CaseKind.SAFEGUARDING


async def test_an_urgent_message_gets_guidance_before_the_offer(engine: DialogueEngine) -> None:
    replies = await engine.handle(
        PARENT, "someone online is asking my 11 year old to meet him and send pictures"
    )
    assert "999" in replies[0].text
    assert "CEOP" in replies[0].text
    assert "safeguarding staff" in replies[-1].text


async def test_danger_words_in_the_middle_of_a_flow_escalate(engine: DialogueEngine) -> None:
    await engine.handle(PARENT, "/how_to_complain")
    replies = await engine.handle(PARENT, "actually a man is sending my daughter sexual messages")
    assert "999" in replies[0].text


async def test_status_lists_the_parents_cases(engine: DialogueEngine, cases: CaseStore) -> None:
    assert "no cases" in (await engine.handle(PARENT, "/status"))[0].text
    await _choose_school(engine)
    await _file_general_case(engine, "When is the next parents evening?")
    [case] = await cases.parent_cases(PARENT)
    status = await engine.handle(PARENT, "/status")
    assert case.reference in status[0].text
    assert "waiting for staff" in status[0].text


async def test_forget_removes_profile_and_loose_messages_but_keeps_cases(
    engine: DialogueEngine, cases: CaseStore, sessions: sessionmaker[Session]
) -> None:
    await _choose_school(engine)
    await _file_general_case(engine, "Please call me about the school trip")
    await engine.handle(PARENT, "what is the code about")
    with sessions() as session:
        loose = session.scalar(
            select(func.count()).where(
                ConversationMessage.parent_id == PARENT, ConversationMessage.case_id.is_(None)
            )
        )
    assert loose

    await engine.handle(PARENT, "/forget")
    with sessions() as session:
        remaining = session.scalars(
            select(ConversationMessage).where(ConversationMessage.parent_id == PARENT)
        ).all()
    assert remaining
    assert all(m.case_id is not None for m in remaining)
    assert len(await cases.parent_cases(PARENT)) == 1


async def test_staff_reply_opens_a_relay_and_the_parents_answer_goes_to_the_case(
    engine: DialogueEngine, cases: CaseStore
) -> None:
    await _choose_school(engine)
    await _file_general_case(engine, "Who do I speak to about the class WhatsApp?")
    [case] = await cases.parent_cases(PARENT)

    assert await cases.staff_reply(case.id, "Mrs Patel", "Hello, could you tell me which class?")
    relayed = await engine.handle(PARENT, "It's Year 5, Oak class")
    assert case.reference in relayed[0].text
    kinds = [(d.kind, d.payload.get("text")) for d in await cases.deliveries(case.id)]
    assert ("parent_reply", "It's Year 5, Oak class") in kinds

    stopped = await engine.handle(PARENT, "/done")
    assert case.reference in stopped[0].text
    normal = await engine.handle(PARENT, "/privacy")
    assert "24 hours" in normal[0].text
