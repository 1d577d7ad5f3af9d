"""Hostile and odd input: every message gets a clear answer, nothing crashes, nothing is lost.

First the dialogue engine alone, with hypothesis: any text (NUL and other control characters, right-to-left
and CJK scripts, emoji, 10,000 characters, markup, SQL) outside a flow and at each step of one. Then the
real Application over HTTP against the local Bot API server: markup and SQL shown literally on the staff
card, buttons from old messages, forged callback data, commands with junk arguments, one parent flooding.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.domain import Author, Step
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.services import Services
from bot.storage.cases import CaseStore
from bot.storage.database import session_factory
from bot.storage.flood import SqlFloodBuckets
from bot.storage.models import ConversationMessage
from bot.storage.parents import SqlStateStore
from bot.telegram.flood import FLOOD_BURST, SharedFloodGate
from devserver import SimChat, SimUser
from tests.databases import database_url
from tests.standins import say
from tests.telegram_harness import RunningBot, running_bot, settled
from tests.test_faults import ERROR_LINE, FAST, JsonDict, bot_on
from tests.test_flood_shared import Clock

SLOW_DOWN = "You're sending messages faster than I can answer them"

NASTY = [
    "",
    " ",
    "\t\n  \r\n",
    "\x00",
    "a\x00b\x00c",
    "\x01\x02\x1b[31mred\x1b[0m\x7f",
    "\u200b",
    "\ufeff\u200d\u2060",
    "\u202eevil\u202c",
    "\u0627\u0644\u0633\u0644\u0627\u0645 \u0639\u0644\u064a\u0643\u0645",  # Arabic
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",  # Hebrew
    "\u6211\u7684\u5b69\u5b50\u5728\u5b66\u6821\u88ab\u6b3a\u8d1f\u4e86",  # Chinese
    "\u3053\u3093\u306b\u3061\u306f",  # Japanese
    "\U0001f600",
    "\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 40,
    "x" * 10_000,
    "\U0001f4a9" * 10_000,
    ("a very long message " * 500)[:10_000],
    "<b>bold</b> <i>it</i> <a href='http://evil.example'>x</a> <script>alert(1)</script>",
    "*bold* _it_ `code` ```pre``` [link](http://evil.example) ~~s~~ ||spoiler||",
    "'; DROP TABLE cases; --",
    "Robert'); DROP TABLE parents;-- ",
    "1 OR 1=1",
    "%s %d %n {0} {school_name} {reference!r} {{}}",
    "{",
    "\\",
    "/",
    "//",
    "/start junk junk",
    "/help@SomeOtherBot and more",
    "/status 1; DELETE FROM cases",
    "/cancel now please",
    "/nonexistent arg",
    "/choose_school{",
    '/choose_school{"school":"../../etc/passwd"}',
    '/choose_school{"school": 12}',
    '/choose{"value":"<script>"}',
    '/affirm{"a":[1,2,{"b":null}]}',
    "staff:claim:999999",
    "\ud7ff\ue000\uffff",
    "e\u0301\u0301\u0301\u0301\u0301",  # combining marks
]
TEXTS = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=300),  # anything Unicode allows in a message (surrogates excepted)
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "So", "Lo", "Mn", "Sm"]), max_size=60),
    st.builds(
        lambda unit, n: (unit * n)[:10_000],
        st.sampled_from(["x", "\U0001f600", "\u062a ", "a\x00"]),
        st.integers(1_000, 10_000),
    ),
)
UNREADABLE = st.one_of(  # nothing an English model can read: no Latin letter or digit
    st.sampled_from([t for t in NASTY if not re.search(r"[A-Za-z0-9]", t)]),
    st.text(st.characters(categories=["Cc", "Cf", "So", "Lo", "Mn", "Zs"]), min_size=1, max_size=40),
)
PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_parents = itertools.count(1)


def assert_clear_answer(replies: list[Reply]) -> None:
    """At least one message, none blank, and every button's data within Telegram's 1-64 bytes."""
    assert replies, "every message gets an answer"
    for reply in replies:
        assert reply.text.strip(), replies
        assert ERROR_LINE not in reply.text
        for button in reply.buttons:
            assert 1 <= len(button.payload.encode()) <= 64, button


async def to_step(engine: DialogueEngine, sessions: Any, parent_id: str, step: str) -> None:
    """A general handoff to Oakfield, up to `step` ("offer", "describe", "contact" or "consent")."""
    script = [  # (what the parent sends, the step the flow is at before it)
        ('/choose_school{"school":"oakfield"}', None),
        ("/human_handoff", None),
        ("/affirm", "offer"),
        ("The letter about the school trip never arrived", "describe"),
        ('/choose{"value":"chat"}', "contact"),
    ]
    for text, at in script:
        if at == step:
            break
        await say(engine, parent_id, text)
    flow = (await SqlStateStore(sessions).load(parent_id)).flow
    assert flow is not None
    assert flow.step.value == step


# ---- the engine alone ------------------------------------------------------------------------------------


@PROPERTY
@given(text=TEXTS)
async def test_any_text_gets_a_clear_answer_and_never_raises(engine: DialogueEngine, text: str) -> None:
    parent_id = f"h{next(_parents)}"
    assert_clear_answer(await engine.handle(parent_id, text))
    assert_clear_answer(await engine.handle(parent_id, text))  # again, with the state the first left


@PROPERTY
@given(text=TEXTS, step=st.sampled_from(["offer", "describe", "contact", "consent"]))
async def test_any_text_in_the_middle_of_a_handoff_gets_a_clear_answer_and_stores_cleanly(
    engine: DialogueEngine, sessions: Any, text: str, step: str
) -> None:
    parent_id = f"f{next(_parents)}"
    await to_step(engine, sessions, parent_id, step)
    assert_clear_answer(await engine.handle(parent_id, text))
    state = await SqlStateStore(sessions).load(parent_id)
    assert "\x00" not in json.dumps(state.flow.to_json() if state.flow else {}, ensure_ascii=False)
    with sessions() as session:
        heard = session.scalars(
            select(ConversationMessage.text).where(ConversationMessage.parent_id == parent_id)
        ).all()
    in_flow = [line.text for line in state.flow.lines] if state.flow else []
    assert heard or in_flow, "the turn is kept (in the flow's own transcript while a flow is on)"
    assert not any("\x00" in line for line in [*heard, *in_flow])


@PROPERTY
@given(text=UNREADABLE)
async def test_text_the_model_cannot_read_is_never_taken_as_consent(
    engine: DialogueEngine, sessions: Any, cases: CaseStore, text: str
) -> None:
    """Emoji, another script or control characters at "Shall I send this?" must not file a case (the
    model reads a message without a single known feature as "affirm", 0.75)."""
    parent_id = f"c{next(_parents)}"
    await to_step(engine, sessions, parent_id, "consent")
    replies = await engine.handle(parent_id, text)
    assert_clear_answer(replies)
    assert await cases.parent_cases(parent_id) == []


@pytest.mark.parametrize("text", ["\U0001f44d", "\x00", "\u200b"])
async def test_yes_as_emoji_or_invisible_characters_asks_again(
    engine: DialogueEngine, sessions: Any, cases: CaseStore, text: str
) -> None:
    parent_id = f"y{next(_parents)}"
    await to_step(engine, sessions, parent_id, "consent")
    replies = await engine.handle(parent_id, text)
    assert replies[0].text.startswith("I'll only send it if you tap")
    assert "Yes, send it" in [b.title for r in replies for b in r.buttons]
    assert await cases.parent_cases(parent_id) == []
    [case_reply] = await engine.handle(parent_id, "/affirm")
    assert "Your reference is" in case_reply.text


@pytest.mark.parametrize("text", ["\u597d\u7684", "\u062d\u0633\u0646\u0627", "\u05db\u05df"])
async def test_yes_in_a_script_the_bot_cannot_read_gets_the_guidance_and_files_nothing(
    engine: DialogueEngine, sessions: Any, cases: CaseStore, responses: Any, text: str
) -> None:
    """The bot cannot read the message, so it may be a child in danger (bot/safeguarding/detector.py):
    the general guidance comes first, and nothing is filed as consent."""
    parent_id = f"y{next(_parents)}"
    await to_step(engine, sessions, parent_id, "consent")
    replies = await engine.handle(parent_id, text)
    first_line = responses.render("utter_urgent_safeguarding", {}).text.splitlines()[0]
    assert replies[0].text.startswith(first_line)
    assert await cases.parent_cases(parent_id) == []


@pytest.mark.parametrize(
    "stale",
    ['/choose_school{"school":"riverside"}', "/how_to_complain", '/choose{"value":"whatsapp"}', "/foo junk"],
)
async def test_a_button_from_an_older_message_is_not_taken_as_the_description(
    engine: DialogueEngine, sessions: Any, stale: str
) -> None:
    parent_id = f"s{next(_parents)}"
    await to_step(engine, sessions, parent_id, "describe")
    assert_clear_answer(await engine.handle(parent_id, stale))
    flow = (await SqlStateStore(sessions).load(parent_id)).flow
    assert flow is not None
    assert flow.answer(Step.DESCRIBE) is None, flow


async def test_control_characters_are_removed_and_the_rest_kept_verbatim(
    engine: DialogueEngine, sessions: Any, cases: CaseStore
) -> None:
    parent_id = f"v{next(_parents)}"
    await to_step(engine, sessions, parent_id, "describe")
    await engine.handle(
        parent_id,
        "Robert'); DROP TABLE cases;-- \x00<b>hi</b> \u202e\u0645\u0631\u062d\u0628\u0627 \U0001f600\x07",
    )
    await engine.handle(parent_id, '/choose{"value":"chat"}')
    await engine.handle(parent_id, "/affirm")
    [case] = await cases.parent_cases(parent_id)
    assert (
        case.summary
        == "Robert'); DROP TABLE cases;-- <b>hi</b> \u202e\u0645\u0631\u062d\u0628\u0627 \U0001f600"
    )


async def test_an_email_address_too_long_to_store_is_refused(
    engine: DialogueEngine, sessions: Any, cases: CaseStore
) -> None:
    parent_id = f"e{next(_parents)}"
    await to_step(engine, sessions, parent_id, "describe")
    await engine.handle(parent_id, "Please email me about the trip")
    await engine.handle(parent_id, '/choose{"value":"email"}')
    [refused] = await engine.handle(parent_id, "a" * 300 + "@example.com")
    assert refused.text.startswith("That doesn't look like an email address")
    await engine.handle(parent_id, "jo@example.com")
    await engine.handle(parent_id, "/affirm")
    [case] = await cases.parent_cases(parent_id)
    assert case.contact_detail == "jo@example.com"


# ---- end to end through the local Bot API server ---------------------------------------------------------


@pytest.fixture
async def bot(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(nlu, schools, tmp_path, staff_options=FAST) as running:
        yield running


def staff_chat(bot: RunningBot, schools: Schools, school_id: str = "oakfield") -> tuple[SimChat, SimUser]:
    school = schools.get(school_id)
    assert school is not None
    member = bot.server.create_user("Ms Staff")
    chat = bot.server.create_group(f"{school.name} staff", members=[member], chat_id=school.staff_chat_id)
    return chat, member


def no_error_sent(bot: RunningBot, *chat_ids: int) -> bool:
    return not any(
        ERROR_LINE in message.get("text", "")
        for chat_id in chat_ids
        for message in bot.server.sent_messages(chat_id)
    )


async def to_consent(bot: RunningBot, parent: SimUser, description: str) -> JsonDict:
    welcome = await bot.say(parent, "/start")
    await bot.press(parent, welcome, "Oakfield Primary School")
    offer = await bot.say(parent, "/human_handoff")
    await bot.press(parent, offer, "Yes, pass it on")
    contact = await bot.say(parent, description)
    return await bot.press(parent, contact, "Reply in this chat")


MARKUP_AND_SQL = (
    '<b>URGENT</b> <a href="http://evil.example">click</a> <script>alert(1)</script> '
    "*bold* _italic_ `code` [link](http://evil.example) ||spoiler|| "
    "Robert'); DROP TABLE cases;-- 1 OR 1=1 "
    "\u202e\u0645\u0631\u062d\u0628\u0627 \u4f60\u597d \U0001f600"
)


async def test_markup_sql_and_other_scripts_reach_the_staff_card_exactly_as_typed(
    bot: RunningBot, schools: Schools
) -> None:
    staff, _ = staff_chat(bot, schools)
    parent = bot.parent("Mo")
    summary = await to_consent(bot, parent, MARKUP_AND_SQL)
    assert MARKUP_AND_SQL in summary["text"], "the parent sees what would be sent, as typed"
    done = await bot.press(parent, summary, "Yes, send it")

    [case] = await bot.services.records.cases.parent_cases(str(parent.id))
    assert case.summary == MARKUP_AND_SQL
    assert case.reference in done["text"]
    card = await bot.server.wait_for_message(staff.id, lambda m: case.reference in m.get("text", ""), 15)
    shown = MARKUP_AND_SQL.replace("\u202e", "").replace("http://evil.example", "hxxp://evil[.]example")
    assert f"│ {shown}" in card["text"], "the parent's words, marked as theirs, without invisible controls"
    assert f"Parent: │ {shown}" in card["text"], "the transcript on the card shows it as text too"
    formatting = {"bold", "italic", "code", "pre", "text_link", "spoiler", "underline", "strikethrough"}
    assert not formatting & {entity["type"] for entity in card.get("entities", [])}
    for chat_id in (staff.id, parent.id):
        assert all("parse_mode" not in call.params for call in bot.server.calls_to("sendMessage", chat_id))
    status = await bot.say(parent, "/status")
    assert case.reference in status["text"], "the tables are all still there"
    assert no_error_sent(bot, parent.id)


async def test_a_10000_character_description_reaches_staff_in_full(bot: RunningBot, schools: Schools) -> None:
    staff, _ = staff_chat(bot, schools)
    parent = bot.parent("Lou")
    long_text = ("On Monday the class chat turned on my son again. " * 300)[:9_990] + " THE END"
    assert len(long_text) == 9_998
    summary = await to_consent(bot, parent, long_text)
    assert all(len(m.get("text", "")) <= 4096 for m in bot.server.sent_messages(parent.id))
    await bot.press(parent, summary, "Yes, send it")
    [case] = await bot.services.records.cases.parent_cases(str(parent.id))
    await bot.server.wait_for_message(staff.id, lambda m: case.reference in m.get("text", ""), 15)
    document = await bot.server.wait_for_call("sendDocument", staff.id, timeout=15)
    assert long_text in document.params["document"].data.decode()
    assert no_error_sent(bot, parent.id)


async def test_buttons_from_old_messages_get_a_clear_answer_and_file_nothing_twice(
    bot: RunningBot, schools: Schools
) -> None:
    staff, _ = staff_chat(bot, schools, "riverside")
    parent = bot.parent("Sam")
    welcome = await bot.say(parent, "/start")
    await bot.press(parent, welcome, "Oakfield Primary School")
    offer = await bot.say(parent, "/human_handoff")
    describe = await bot.press(parent, offer, "Yes, pass it on")

    again = await bot.press(parent, welcome, "Riverside Academy")  # the first message's button, mid-flow
    assert again["text"], "answered"
    assert any("this will go to Riverside Academy" in m["text"] for m in bot.server.sent_messages(parent.id))
    flow = (await bot.services.store.load(str(parent.id))).flow
    assert flow is not None
    assert (flow.step, flow.school_id) == (Step.DESCRIBE, "riverside"), "a school tapped: the flow moves"
    assert flow.answer(Step.DESCRIBE) is None
    contact = await bot.say(parent, "Is there a uniform swap shop this term?")
    summary = await bot.press(parent, contact, "Reply in this chat")
    await bot.press(parent, summary, "Yes, send it")
    stale = await bot.press(parent, summary, "Yes, send it")  # the same button once more
    assert stale["text"]
    older = await bot.press(parent, offer, "Yes, pass it on")  # a finished flow's first button
    assert older["text"]
    assert describe["text"]

    [case] = await bot.services.records.cases.parent_cases(str(parent.id))
    await bot.server.wait_for_message(staff.id, lambda m: case.reference in m.get("text", ""), 15)
    await settled(bot.server, bot.services.records.outbox)
    assert [m for m in bot.server.sent_messages(staff.id) if "staff:" in str(m.get("reply_markup"))] != []
    assert len(await bot.services.records.cases.parent_cases(str(parent.id))) == 1
    assert no_error_sent(bot, parent.id)


def forged_press(bot: RunningBot, user: SimUser, message: JsonDict, data: str) -> JsonDict:
    """A button press with `data` that was never on the message (a modified client can send any)."""
    query = {
        "id": str(9_000_000_000_000_000 + next(_parents)),
        "from": user.to_api(),
        "message": message,
        "chat_instance": "4242",
        "data": data,
    }
    bot.server._callback_queries[query["id"]] = query  # known to the server, so it can be answered
    bot.server.push_update("callback_query", query)
    return query


FORGED = [
    "/nonexistent",
    '/choose_school{"school":"nowhere"}',
    '/choose_school{"school":"../../etc"}',
    "/choose{broken json",
    '/choose{"value":"\\u0000"}',
    "x" * 64,
    "'; DROP TABLE parents; --",
    "<b>hi</b>",
]


async def test_forged_callback_data_on_the_parent_side_gets_a_clear_answer(bot: RunningBot) -> None:
    parent = bot.parent("Fi")
    welcome = await bot.say(parent, "/start")
    for data in FORGED:
        query = forged_press(bot, parent, welcome, data)
        answer = await bot.last_answer(parent)
        assert answer["text"], data
        assert ERROR_LINE not in answer["text"], data
        assert query["id"] in bot.server.callback_answers, "the press was acknowledged"
    assert "I help parents" in (await bot.say(parent, "/help"))["text"], "and the bot carries on"


async def test_a_forged_staff_claim_from_a_parent_or_another_group_is_refused_and_audited(
    bot: RunningBot, schools: Schools
) -> None:
    parent = bot.parent("Gus")
    welcome = await bot.say(parent, "/start")
    group = bot.server.create_group("Year 4 parents", members=[parent])
    for data in ("staff:claim:999999", "staff:resolve:abc"):
        for chat_message in (welcome, {**welcome, "chat": group.to_api()}):
            query = forged_press(bot, parent, chat_message, data)
            await bot.server.wait_until(lambda q=query: q["id"] in bot.server.callback_answers)
            refusal = bot.server.callback_answers[query["id"]]["text"]
            assert refusal.startswith("Sorry, only this school's staff")
    events = [e for e in await bot.services.records.audit.audit_events() if e.actor_id == parent.id]
    assert [(e.action, e.allowed, e.chat_id) for e in events] == [
        ("claim", False, parent.id),
        ("claim", False, group.id),
        ("button", False, parent.id),
        ("button", False, group.id),
    ]
    await settled(bot.server, bot.services.records.outbox)
    assert len(bot.server.sent_messages(parent.id)) == 1  # only the welcome: nothing read as a parent button


async def test_commands_with_junk_arguments_get_their_normal_answer(
    bot: RunningBot, schools: Schools
) -> None:
    expected = {
        "/start junk junk": "Hello, I'm the help bot",
        "/help me please": "I help parents",
        "/help@dev_test_bot and more": "I help parents",
        "/status 1; DELETE FROM cases": "You have no cases",
        "/school <b>x</b>": "Which school is your child at?",
        "/privacy %s%n": "24 hours",
        "/cancel now please": "OK, I've stopped that",
        "/done later": "OK, I've stopped that",
        "/nonexistent --flag": "Sorry, I didn't quite understand",
        "/cases junk": "Sorry, only this school's staff",
    }
    for number, (command, start) in enumerate(expected.items()):
        parent = bot.parent(f"Parent {number}")  # one each: the flood limit is not what is tested here
        answer = await bot.say(parent, command)
        texts = [m["text"] for m in bot.server.sent_messages(parent.id)]
        assert any(start in text for text in texts), (command, texts)
        assert answer["text"]

    staff, member = staff_chat(bot, schools)
    for command, start in [
        ("/case", "Send /case and the case reference"),
        ("/case ' OR '1'='1", "There is no case ' for this school"),  # the first word is the reference
        ("/case OAK-XXXX extra words", "There is no case OAK-XXXX"),
        ("/cases 999 junk", "No open cases"),
    ]:
        bot.server.user_sends_text(member, command, chat=staff)
        answer = await bot.server.wait_for_message(staff.id, timeout=15)
        assert answer["text"].startswith(start), (command, answer["text"])
    forget = bot.parent("Forgetful")
    assert (await bot.say(forget, "/forget everything now!!"))["text"].startswith("Done: I've deleted")


@pytest.fixture
async def clocked_bot(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[ClockedBot]:
    """The bot with its flood limit on a clock the test moves (the buckets in its database, as ever)."""
    clock = Clock(time.time())  # a bucket from 1970 would be purged as idle

    def gate(services: Services) -> SharedFloodGate:
        return SharedFloodGate(SqlFloodBuckets(session_factory(services.db)), clock=clock)

    async with running_bot(nlu, schools, tmp_path, staff_options=FAST, flood=gate) as running:
        yield ClockedBot(running, clock)


@dataclass
class ClockedBot:
    bot: RunningBot
    clock: Clock


async def test_one_parent_flooding_is_told_once_others_are_served_and_danger_still_gets_through(
    clocked_bot: ClockedBot,
) -> None:
    bot = clocked_bot.bot
    flooder, other = bot.parent("Flo"), bot.parent("Other")
    for number in range(30):
        text = "a man online keeps asking my daughter for nudes" if number == 25 else f"hello {number}"
        bot.server.user_sends_text(flooder, text)
    bot.server.user_sends_text(other, "/help")
    assert "I help parents" in (await bot.last_answer(other))["text"]

    await bot.server.wait_until(
        lambda: any("CEOP" in m["text"] for m in bot.server.sent_messages(flooder.id)), 30
    )
    await bot.server.wait_handled(timeout=30)
    texts = [m["text"] for m in bot.server.sent_messages(flooder.id)]
    assert sum(SLOW_DOWN in text for text in texts) == 1, texts
    assert any(text.startswith("If a child is in danger right now, call 999") for text in texts), texts
    with session_factory(bot.services.db)() as session:
        loose = session.scalars(
            select(ConversationMessage.text).where(
                ConversationMessage.parent_id == str(flooder.id), ConversationMessage.author == Author.PARENT
            )
        ).all()
    flow = (await bot.services.store.load(str(flooder.id))).flow
    assert flow is not None, "the danger message began an urgent alert"
    heard = [*loose, *(line.text for line in flow.lines if line.author is Author.PARENT)]
    assert FLOOD_BURST <= len(heard) <= FLOOD_BURST + 1, (
        heard
    )  # the burst, the danger (it takes a token if any)
    assert "a man online keeps asking my daughter for nudes" in heard
    assert no_error_sent(bot, flooder.id, other.id)

    clocked_bot.clock.now += 3.0  # one message's worth refills
    await bot.say(flooder, "/privacy")  # answered, then the alert offer is asked again
    assert any("24 hours" in m["text"] for m in bot.server.sent_messages(flooder.id)[-3:])
    assert sum(SLOW_DOWN in m["text"] for m in bot.server.sent_messages(flooder.id)) == 1


async def test_odd_scripts_emoji_and_invisible_characters_get_a_clear_answer(bot: RunningBot) -> None:
    for number, text in enumerate(
        [
            "\u200b",
            "\U0001f600\U0001f600\U0001f600",
            "\u0645\u0631\u062d\u0628\u0627",
            "\u4f60\u597d",
            "\u202e\u0645\u0631\u062d\u0628\u0627",
            "a\x00b",
            "'; DROP TABLE cases; --",
        ]
    ):
        parent = bot.parent(f"Odd {number}")
        answer = await bot.say(parent, text)
        assert answer["text"], text
        assert ERROR_LINE not in answer["text"], text


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_nul_from_a_parent_or_staff_is_dropped_and_everything_else_relayed(
    kind: str, nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    """PostgreSQL cannot store NUL in a text column: before it was removed, such a message was lost."""
    with database_url(kind, tmp_path) as url:
        async with bot_on(nlu, schools, url) as bot:
            staff, member = staff_chat(bot, schools)
            parent = bot.parent("Nell")
            summary = await to_consent(bot, parent, "The bus\x00 was late\x07 again")
            assert "The bus was late again" in summary["text"]
            await bot.press(parent, summary, "Yes, send it")
            [case] = await bot.services.records.cases.parent_cases(str(parent.id))
            card = await bot.server.wait_for_message(
                staff.id, lambda m: case.reference in m.get("text", ""), 15
            )
            assert "The bus was late again" in card["text"]

            bot.server.user_replies_to(member, card, "Sorry\x00 about that", chat=staff)
            await bot.server.wait_for_message(
                parent.id, lambda m: "Sorry about that" in m.get("text", ""), 15
            )
            bot.server.user_sends_text(parent, "Thanks\x00!")
            relayed = await bot.server.wait_for_message(
                staff.id, lambda m: "Thanks!" in m.get("text", ""), 15
            )
            assert relayed["reply_to_message"]["message_id"] == card["message_id"]
            assert no_error_sent(bot, parent.id)
