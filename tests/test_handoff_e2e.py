"""Each handoff flow end to end: a parent's first message in Telegram to the case card in the school's
staff chat, through the real Application and the local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain import CaseKind, Priority
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.staff import StaffOptions
from devserver import BotApiServer, SimChat, SimUser
from tests.telegram_harness import TOKEN, RunningBot, buttons, running_bot

FAST = StaffOptions(
    delivery_interval=0.2,
    reminder_check_interval=0.5,
    urgent_reminder_every=timedelta(minutes=5),
    retry_base=0.2,
    retry_max=2.0,
)
JsonDict = dict[str, Any]


@pytest.fixture
async def bot(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(nlu, schools, tmp_path, staff_options=FAST) as running:
        yield running


def staff_chat(bot: RunningBot, schools: Schools, school_id: str) -> SimChat:
    school = schools.get(school_id)
    assert school is not None
    staff = bot.server.create_user("Ms Staff")
    return bot.server.create_group(f"{school.name} staff", members=[staff], chat_id=school.staff_chat_id)


async def choose_school(bot: RunningBot, parent: SimUser, name: str) -> None:
    welcome = await bot.say(parent, "/start")
    await bot.press(parent, welcome, name)


async def card_in(bot: RunningBot, chat: SimChat, timeout: float = 15) -> JsonDict:
    return await bot.server.wait_for_message(
        chat.id, lambda m: "staff:" in str(m.get("reply_markup")), timeout
    )


async def test_complaint_reaches_the_staff_chat_with_its_transcript(
    bot: RunningBot, schools: Schools
) -> None:
    staff = staff_chat(bot, schools, "riverside")
    parent = bot.parent("Dee")
    await choose_school(bot, parent, "Riverside Academy")
    offer = await bot.say(
        parent,
        "I want to make a formal complaint: my daughter was excluded for two days "
        "without anyone calling me first",
    )
    about = await bot.press(parent, offer, "Yes, pass it on")  # the message is the description
    names = await bot.press(parent, about, "Something else")
    assert names["text"].startswith("Who should staff ask for?")
    contact = await bot.say(parent, "Dee Wright, Mia, Year 5")
    assert "contact you" in contact["text"]
    summary = await bot.press(parent, contact, "Reply in this chat")
    assert "excluded for two days" in summary["text"]
    assert bot.server.sent_messages(staff.id) == [], "nothing reaches staff before consent"
    done = await bot.press(parent, summary, "Yes, send it")

    [case] = await bot.services.records.cases.parent_cases(str(parent.id))
    assert case.reference in done["text"]
    card = await card_in(bot, staff)
    assert case.reference in card["text"]
    assert "excluded for two days without anyone calling me first" in card["text"]
    assert "Claim" in buttons(card)
    assert "Yes, pass it on" in card["text"], "the transcript of the conversation is on the card"
    assert card["text"].splitlines()[1] == "Ask for: Dee Wright, Mia, Year 5", "the names come first"


async def test_a_bullying_report_with_a_screenshot_reaches_staff_with_the_photo(
    bot: RunningBot, schools: Schools
) -> None:
    staff = staff_chat(bot, schools, "oakfield")
    parent = bot.parent("Kim")
    await choose_school(bot, parent, "Oakfield Primary School")
    danger = await bot.say(parent, "kids in his class keep sending my son horrible messages on whatsapp")
    when = await bot.press(parent, danger, "No")  # described, on WhatsApp, who: none asked again
    assert "When did it start" in when["text"]
    evidence = await bot.say(parent, "since half term")
    assert "Never screenshot, save or forward a nude" in evidence["text"]
    bot.server.user_sends_photo(parent)
    saved = await bot.last_answer(parent)
    assert "1 so far" in saved["text"]
    names = await bot.press(parent, saved, "Done")
    contact = await bot.press(parent, names, "Skip")
    summary = await bot.press(parent, contact, "Reply in this chat")
    assert "Screenshots: 1" in summary["text"]
    await bot.press(parent, summary, "Yes, send it")

    card = await card_in(bot, staff)
    assert "horrible" in card["text"]
    assert "Who: kids in his class" in card["text"], "who is involved, as the opening said it"
    photo = await bot.server.wait_for_call("sendPhoto", staff.id, timeout=15)
    assert photo.params["reply_parameters"]["message_id"] == card["message_id"]
    [case] = await bot.services.records.cases.parent_cases(str(parent.id))
    assert case.kind is CaseKind.CYBERBULLYING


async def test_a_breach_report_reaches_staff(bot: RunningBot, schools: Schools) -> None:
    staff = staff_chat(bot, schools, "st-aidans")
    parent = bot.parent("Lee")
    await choose_school(bot, parent, "St Aidan's CE Primary School")
    offer = await bot.say(parent, "another parent keeps posting abuse about our head teacher on facebook")
    link = await bot.press(parent, offer, "Yes, pass it on")  # described, on Facebook: the link is next
    names = await bot.say(parent, "https://facebook.example/groups/year3/posts/1")
    contact = await bot.say(parent, "no thanks")  # typed: as the Skip button
    assert "Who should staff ask for?" in names["text"]
    summary = await bot.press(parent, contact, "Reply in this chat")
    await bot.press(parent, summary, "Yes, send it")
    card = await card_in(bot, staff)
    assert "hxxps://facebook[.]example/groups/year3/posts/1" in card["text"]  # defanged: not a live link
    assert link["text"]


async def test_urgent_guidance_comes_first_then_an_urgent_pinned_card(
    bot: RunningBot, schools: Schools
) -> None:
    staff = staff_chat(bot, schools, "hollybrook")
    parent = bot.parent("Pat")
    await choose_school(bot, parent, "Hollybrook Infant and Nursery School")
    bot.server.user_sends_text(
        parent, "a man on roblox is asking my 8 year old to send him photos and meet up"
    )
    first = await bot.server.wait_for_message(parent.id, timeout=20)
    assert "999" in first["text"]
    offer = await bot.last_answer(parent)
    described = await bot.press(parent, offer, "Yes, alert them now")
    contact = await bot.say(parent, "He has been messaging her for a week and asked where she lives")
    summary = await bot.press(parent, contact, "Reply in this chat")
    await bot.press(parent, summary, "Yes, send it")
    assert described["text"]

    card = await card_in(bot, staff)
    assert card["text"].startswith("URGENT")
    await bot.server.wait_for_call("pinChatMessage", staff.id, timeout=15)
    [case] = await bot.services.records.cases.parent_cases(str(parent.id))
    assert case.priority is Priority.URGENT
    delivered = "The school's safeguarding staff have your message"
    await bot.server.wait_until(  # maybe already taken as the press's answer: look at all sent
        lambda: any(delivered in m.get("text", "") for m in bot.server.sent_messages(parent.id)), timeout=15
    )
    calls = bot.server.calls
    card_call = next(
        n
        for n, c in enumerate(calls)
        if c.method == "sendMessage"
        and c.chat_id == staff.id
        and c.ok
        and c.result["message_id"] == card["message_id"]
    )
    told_call = next(n for n, c in enumerate(calls) if c.ok and delivered in str(c.params.get("text", "")))
    assert card_call < told_call
    filed = [m["text"] for m in bot.server.sent_messages(parent.id) if case.reference in m.get("text", "")]
    assert "being sent now" in filed[0]  # at filing, not "sent": no person had it yet
    assert delivered in filed[1]


async def test_refused_consent_sends_nothing_to_staff(bot: RunningBot, schools: Schools) -> None:
    staff = staff_chat(bot, schools, "oakfield")
    parent = bot.parent("Ray")
    await choose_school(bot, parent, "Oakfield Primary School")
    offer = await bot.say(parent, "/human_handoff")
    await bot.press(parent, offer, "Yes, pass it on")
    contact = await bot.say(parent, "Can someone ring me about the school trip?")
    summary = await bot.press(parent, contact, "Reply in this chat")
    refused = await bot.press(parent, summary, "No, don't send")
    assert "haven't sent anything" in refused["text"]
    assert await bot.services.records.cases.parent_cases(str(parent.id)) == []
    assert (
        await bot.services.records.outbox.deliveries() == []
    )  # nothing queued, so nothing can reach staff later
    assert bot.server.sent_messages(staff.id) == []


async def test_a_restart_mid_flow_resumes_and_the_case_arrives(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with BotApiServer(token=TOKEN) as server:
        async with running_bot(nlu, schools, tmp_path, staff_options=FAST, server=server) as first:
            staff = staff_chat(first, schools, "oakfield")
            parent = first.parent("Sol")
            await choose_school(first, parent, "Oakfield Primary School")
            offer = await first.say(parent, "/human_handoff")
            await first.press(parent, offer, "Yes, pass it on")
            contact = await first.say(parent, "Please can the office call me about my son's allergy plan")
        async with running_bot(nlu, schools, tmp_path, staff_options=FAST, server=server) as restarted:
            summary = await restarted.press(parent, contact, "Reply in this chat")
            assert "allergy plan" in summary["text"]
            await restarted.press(parent, summary, "Yes, send it")
            card = await card_in(restarted, staff)
            assert "allergy plan" in card["text"]


async def test_staff_reply_reaches_the_parent_and_the_answer_reaches_the_card(
    bot: RunningBot, schools: Schools
) -> None:
    staff = staff_chat(bot, schools, "riverside")
    member = next(u for u in bot.server._users.values() if u.first_name == "Ms Staff")
    parent = bot.parent("Ash")
    await choose_school(bot, parent, "Riverside Academy")
    offer = await bot.say(parent, "/human_handoff")
    await bot.press(parent, offer, "Yes, pass it on")
    contact = await bot.say(parent, "Who should I talk to about the Year 6 residential?")
    summary = await bot.press(parent, contact, "Reply in this chat")
    await bot.press(parent, summary, "Yes, send it")
    card = await card_in(bot, staff)

    bot.server.user_replies_to(
        member, card, "Hello, that's Mr Jones. Shall I ask him to call you?", chat=staff
    )
    message = await bot.server.wait_for_message(
        parent.id, lambda m: "Mr Jones" in m.get("text", ""), timeout=15
    )
    assert "Riverside Academy" in message["text"]

    bot.server.user_sends_text(parent, "Yes please, after 3pm")
    relayed = await bot.server.wait_for_message(
        staff.id, lambda m: "after 3pm" in m.get("text", ""), timeout=15
    )
    assert relayed["reply_to_message"]["message_id"] == card["message_id"]
