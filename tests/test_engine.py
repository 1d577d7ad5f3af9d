"""The dialogue engine with the real trained model: questions, buttons, fallbacks, safety, handoffs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.dialogue.variables import TemplateVariables
from bot.nlu.client import BackgroundLoadedNlu, InProcessNlu, NluClient
from bot.schools import Schools
from bot.storage.cases import CaseStore
from tests.conftest import MakeEngine
from tests.standins import say

PARENT = "parent-1"


def _texts(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


async def test_start_welcomes_and_offers_every_school_as_a_button(engine: DialogueEngine) -> None:
    replies = await engine.handle(PARENT, "/start")
    assert "Embrace Multi Academy Trust" in replies[0].text
    assert [b.title for b in replies[0].buttons] == [
        "Oakfield Primary School",
        "St Aidan's CE Primary School",
        "Riverside Academy",
        "Hollybrook Infant and Nursery School",
    ]


async def test_choosing_a_school_is_remembered_and_used_in_later_answers(engine: DialogueEngine) -> None:
    start = await engine.handle(PARENT, "/start")
    riverside = next(b for b in start[0].buttons if b.title == "Riverside Academy")
    chosen = await engine.handle(PARENT, riverside.payload)
    assert "Riverside Academy" in chosen[0].text
    complaint = await engine.handle(PARENT, "/how_to_complain")
    assert "riverside-academy.example.org.uk/complaints" in _texts(complaint)


@pytest.mark.parametrize("question", ["/contact_staff_social", "/out_of_scope"])
async def test_before_a_school_is_chosen_contact_details_are_named_as_the_trust_s(
    engine: DialogueEngine, schools: Schools, question: str
) -> None:
    trust, oakfield = schools.trust, schools.get("oakfield")
    assert oakfield is not None
    [cold] = await engine.handle(PARENT, question)
    assert trust.email in cold.text or trust.phone in cold.text
    assert "Those are the trust's contact details" in cold.text
    assert "your child's school on" not in cold.text
    assert [b.payload for b in cold.buttons] == [b.payload for b in engine.school_buttons()]
    await engine.handle("parent-2", cold.buttons[0].payload)  # a parent who chose Oakfield
    [known] = await engine.handle("parent-2", question)
    assert oakfield.email in known.text
    assert trust.email not in known.text
    assert "trust's contact details" not in known.text


async def test_a_typed_question_gets_the_matching_answer_citing_the_code(
    engine: DialogueEngine, responses: ResponseBook
) -> None:
    replies = await engine.handle(PARENT, "can i add my sons teacher as a friend on facebook")
    expected = responses.render("utter_contact_staff_social", {}).text[:60]
    assert replies[0].text.startswith(expected)
    assert '(Code: "' in replies[0].text
    assert replies[0].buttons


async def test_a_named_platform_is_mentioned_in_the_answer(engine: DialogueEngine) -> None:
    replies = await engine.handle(PARENT, "is it ok to put a bad review of the school on facebook")
    assert "Facebook" in replies[-1].text


async def test_a_button_payload_is_handled_like_the_intent_it_names(
    engine: DialogueEngine, responses: ResponseBook
) -> None:
    replies = await engine.handle(PARENT, "/legal_basis")
    assert replies[0].text.startswith(responses.render("utter_legal_basis", {}).text[:40])


async def test_one_fallback_says_what_the_bot_can_do(engine: DialogueEngine) -> None:
    replies = await engine.handle(PARENT, "when is half term this year")
    assert len(replies) == 1
    assert "Yes, pass it on" not in [b.title for b in replies[0].buttons]
    assert replies[0].buttons


async def test_two_fallbacks_in_a_row_offer_to_pass_the_question_to_staff(engine: DialogueEngine) -> None:
    await engine.handle(PARENT, "when is half term this year")
    replies = await engine.handle(PARENT, "how much is dinner money")
    assert [b.payload for b in replies[-1].buttons] == ["/human_handoff", "/deny"]


async def test_an_understood_message_resets_the_fallback_count(engine: DialogueEngine) -> None:
    await engine.handle(PARENT, "/out_of_scope")
    await engine.handle(PARENT, "/code_overview")
    replies = await engine.handle(PARENT, "/out_of_scope")
    assert "/deny" not in [b.payload for b in replies[-1].buttons]


async def test_yes_to_the_handoff_offer_starts_collecting_the_question(engine: DialogueEngine) -> None:
    await engine.handle(PARENT, "/out_of_scope")
    await engine.handle(PARENT, "/out_of_scope")
    replies = await engine.handle(PARENT, "yes please")
    assert "Oakfield Primary School" in [b.title for b in replies[-1].buttons]  # which school?
    start = await engine.handle(PARENT, replies[-1].buttons[0].payload)
    assert "What would you like to ask or tell the school?" in start[-1].text


async def test_no_to_the_handoff_offer_hands_nothing_over(
    engine: DialogueEngine, responses: ResponseBook, schools: Schools
) -> None:
    await engine.handle(PARENT, "/out_of_scope")
    await engine.handle(PARENT, "/out_of_scope")
    replies = await engine.handle(PARENT, "no thanks")
    assert replies == [responses.render("utter_deny", no_school_vars(responses, schools))]


def no_school_vars(responses: ResponseBook, schools: Schools) -> dict[str, str]:
    """The template variables before a school is chosen (the engine's retention period is the default)."""
    return TemplateVariables(responses, schools).of(None)


async def test_yes_without_a_question_pending_is_not_a_handoff(engine: DialogueEngine) -> None:
    replies = await engine.handle(PARENT, "/affirm")
    assert len(replies) == 1
    assert "/deny" not in [b.payload for b in replies[0].buttons]


async def test_urgent_message_gets_emergency_guidance_first(engine: DialogueEngine) -> None:
    replies = await engine.handle(
        PARENT, "a man on snapchat keeps asking my 12 year old daughter to send him photos"
    )
    assert "999" in replies[0].text
    assert "0800 1111" in replies[0].text
    assert "CEOP" in replies[0].text


async def test_danger_words_are_never_answered_as_small_talk(engine: DialogueEngine) -> None:
    replies = await engine.handle(PARENT, "hi, someone sent my son nudes of a girl in his class")
    assert "999" in replies[0].text


async def test_handoff_intents_give_guidance_then_ask_before_anything_is_shared(
    engine: DialogueEngine, responses: ResponseBook
) -> None:
    for intent in ("how_to_complain", "report_breach", "human_handoff"):
        await engine.handle(PARENT, "/cancel")
        replies = await engine.handle(PARENT, f"/{intent}")
        assert replies[0].text.startswith(responses.render(f"utter_{intent}", {}).text[:30])
        assert [b.payload for b in replies[-1].buttons] == ["/affirm", "/deny"]


async def test_a_bullying_report_first_asks_whether_a_child_is_in_danger(engine: DialogueEngine) -> None:
    replies = await engine.handle(PARENT, "/report_cyberbullying")
    assert "immediate danger" in replies[-1].text
    assert [b.payload for b in replies[-1].buttons] == ["/affirm", "/deny"]


async def test_forget_deletes_what_the_bot_remembers(engine: DialogueEngine) -> None:
    start = await engine.handle(PARENT, "/start")
    await engine.handle(PARENT, start[0].buttons[0].payload)
    await engine.handle(PARENT, "/forget")
    replies = await engine.handle(PARENT, "/how_to_complain")
    assert "oakfield-primary" not in _texts(replies)


async def test_forget_me_intent_explains_before_anything_is_deleted(engine: DialogueEngine) -> None:
    start = await engine.handle(PARENT, "/start")
    await engine.handle(PARENT, start[0].buttons[0].payload)
    replies = await engine.handle(PARENT, "/forget_me")
    assert "/forget" in replies[0].text
    after = await engine.handle(PARENT, "/how_to_complain")
    assert "oakfield-primary" in _texts(after)


async def test_forged_or_unknown_payloads_get_the_fallback(
    engine: DialogueEngine, responses: ResponseBook, schools: Schools
) -> None:
    fallback = responses.render("utter_fallback", no_school_vars(responses, schools))
    for number, forged in enumerate(("/nonsense", '/greet{"bad json', "/")):
        assert await engine.handle(f"forger-{number}", forged) == [fallback], forged


async def test_a_forged_school_is_not_chosen_and_the_school_question_comes_again(
    engine: DialogueEngine,
) -> None:
    replies = await engine.handle(PARENT, '/choose_school{"school":"nowhere"}')
    asked = await engine.handle("someone-else", "/school")
    assert [r.text for r in replies] == [r.text for r in asked]
    assert "nowhere" not in str(replies[0].buttons)
    assert "oakfield-primary" not in _texts(await engine.handle(PARENT, "/how_to_complain"))


async def test_commands_with_bot_name_and_junk_arguments_still_work(engine: DialogueEngine) -> None:
    replies = await engine.handle(PARENT, "/help@ParentBot please and thank you")
    plain = await engine.handle("someone-else", "/help")
    assert replies == plain


async def test_cancel_clears_a_pending_offer(engine: DialogueEngine) -> None:
    await engine.handle(PARENT, "/out_of_scope")
    await engine.handle(PARENT, "/out_of_scope")
    await engine.handle(PARENT, "/cancel")
    replies = await engine.handle(PARENT, "/affirm")
    assert "Which school" not in _texts(replies)


async def test_each_parent_has_their_own_state(engine: DialogueEngine) -> None:
    await engine.handle("a", "/out_of_scope")
    replies = await engine.handle("b", "/out_of_scope")
    assert "/deny" not in [b.payload for b in replies[-1].buttons]


async def test_empty_and_odd_text_gets_a_friendly_answer(engine: DialogueEngine) -> None:
    for text in ("", "   ", "🙂🙂🙂", "x" * 10_000, "مرحبا", "你好", "a\x00b"):
        replies = await engine.handle(PARENT, text)
        assert replies
        assert all(r.text for r in replies)


async def test_while_the_model_loads_danger_is_answered_at_once_and_other_text_waits(
    nlu: InProcessNlu, make_engine: MakeEngine
) -> None:
    release = threading.Event()

    def load_slowly() -> InProcessNlu:
        release.wait(60)
        return nlu

    loading = WatchedLoad(load_slowly)
    engine = make_engine(loading)
    try:
        danger = await asyncio.wait_for(
            engine.handle("p1", "my daughter has gone missing since last night"), 10
        )
        assert "call 999 now" in danger[0].text
        assert not loading.is_ready()
        assert not loading.awaited.is_set(), "danger did not wait for the model"

        question = asyncio.create_task(
            engine.handle("p2", "can i add my sons teacher as a friend on facebook")
        )
        await asyncio.wait_for(loading.awaited.wait(), 10)  # it waits for the model...
        assert not question.done()
        # ...outside its turn: another parent's turn (a command needs no model) is not held up.
        assert await asyncio.wait_for(engine.handle("p3", "/help"), 10)
    finally:
        release.set()
    answer = await asyncio.wait_for(question, 30)  # ...and is answered by it
    assert "(Code:" in _texts(answer)


class WatchedLoad(BackgroundLoadedNlu):
    """The real background load, telling the test when a message starts waiting for it."""

    def __init__(self, load: Callable[[], NluClient]) -> None:
        super().__init__(load)
        self.awaited = asyncio.Event()

    async def ready(self) -> NluClient:
        self.awaited.set()
        return await super().ready()


async def test_a_declined_report_leaves_nothing_in_the_next_case_with_the_real_model(
    engine: DialogueEngine, cases: CaseStore
) -> None:
    """A bullying report with a screenshot, declined; then a question for staff, accepted: the second
    case carries nothing of the first (what a parent declined to send never reaches staff)."""
    start = await say(engine, PARENT, "/start")
    await say(engine, PARENT, next(b.payload for b in start[0].buttons if b.title == "Riverside Academy"))
    await say(engine, PARENT, "my daughter is being bullied on instagram by kids from her class")
    for text in (
        "/deny",
        "They post mean comments about Amira",
        "instagram",
        "Year 8 girls",
        "since September",
    ):
        await say(engine, PARENT, text)
    await engine.handle_photo(PARENT, "the-screenshot")
    await say(engine, PARENT, '/choose{"value": "done"}')
    await say(engine, PARENT, '/choose{"value": "chat"}')
    await say(engine, PARENT, "/deny")
    asked = await say(engine, PARENT, "I want to speak to a member of staff about the dinner menu")
    # depending on the model it asks "Did you mean ...?" (the parent taps talking to staff) or knows at once
    for payload in [b.payload for b in asked[-1].buttons if b.payload == "/human_handoff"]:
        await say(engine, PARENT, payload)
    for text in ("/affirm", "Why is there no vegetarian option on Fridays?", '/choose{"value": "chat"}'):
        await say(engine, PARENT, text)
    await say(engine, PARENT, "/affirm")
    [case] = await cases.parent_cases(PARENT)
    full = await cases.get(case.id)
    assert full is not None
    transcript = "\n".join(line.text for line in full.transcript)
    assert "vegetarian" in transcript
    assert full.attachments == ()
    for first in ("bullied", "Amira", "Year 8", "September"):
        assert first not in transcript
