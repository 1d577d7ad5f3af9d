"""End to end: the real Application, over real HTTP, against the local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from tests.telegram_harness import RunningBot, buttons, running_bot


@pytest.fixture(params=["polling", "webhook"])
async def bot(
    request: pytest.FixtureRequest, nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    async with running_bot(nlu, schools, tmp_path, mode=request.param) as running:
        yield running


@pytest.fixture
async def polling_bot(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(nlu, schools, tmp_path, timeout_fault_delay=8.0) as running:
        yield running


async def test_start_choose_school_ask_press_button_and_follow_up(bot: RunningBot) -> None:
    parent = bot.parent("Sam")
    welcome = await bot.say(parent, "/start")
    assert "Riverside Academy" in buttons(welcome)

    chosen = await bot.press(parent, welcome, "Riverside Academy")
    assert "Riverside Academy" in chosen["text"]
    assert bot.server.calls_to("answerCallbackQuery")

    answer = await bot.say(parent, "can i leave a bad review of the school on facebook")
    assert '(Code: "' in answer["text"] or any(
        '(Code: "' in m["text"] for m in bot.server.sent_messages(parent.id)[-2:]
    )
    assert "How do I complain?" in buttons(answer)

    follow_up = await bot.press(parent, answer, "How do I complain?")
    assert "riverside-academy.example.org.uk/complaints" in "\n".join(
        m["text"] for m in bot.server.sent_messages(parent.id)[-3:]
    )
    assert follow_up["text"]
    assert bot.server.calls_to("sendChatAction", parent.id) == []  # quick answers need no "typing..."


async def test_typing_is_shown_when_an_answer_is_slow(
    polling_bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.telegram import handlers

    monkeypatch.setattr(handlers, "TYPING_AFTER_SECONDS", 0.0)  # every answer counts as slow
    parent = polling_bot.parent("Kim")
    await polling_bot.say(parent, "can i post photos of the school play on facebook")
    call = await polling_bot.server.wait_for_call("sendChatAction", parent.id)
    assert call.params["action"] == "typing"


async def test_the_webhook_refuses_updates_without_the_secret_token(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with running_bot(nlu, schools, tmp_path, mode="webhook") as running:
        assert running.webhook_url is not None
        forged = {
            "update_id": 999,
            "message": {
                "message_id": 1,
                "date": 1700000000,
                "chat": {"id": 4242, "type": "private", "first_name": "Eve"},
                "from": {"id": 4242, "is_bot": False, "first_name": "Eve"},
                "text": "/start",
            },
        }
        async with httpx.AsyncClient() as client:
            no_secret = await client.post(running.webhook_url, json=forged)
            wrong = await client.post(
                running.webhook_url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
        assert no_secret.status_code == 403
        assert wrong.status_code == 403
        genuine = running.parent("Gen")
        await running.say(genuine, "/privacy")  # handled after the forged ones would have been
        assert running.server.calls_to("sendMessage", 4242) == []


async def test_commands_are_registered_at_start(bot: RunningBot) -> None:
    call = bot.server.calls_to("setMyCommands")[0]
    names = [command["command"] for command in call.params["commands"]]
    assert {"start", "help", "school", "cancel", "privacy", "forget"} <= set(names)


async def test_school_cancel_and_privacy_commands(polling_bot: RunningBot) -> None:
    parent = polling_bot.parent()
    school = await polling_bot.say(parent, "/school")
    assert "Oakfield Primary School" in buttons(school)
    cancelled = await polling_bot.say(parent, "/cancel")
    assert "Nothing has been sent" in cancelled["text"]
    privacy = await polling_bot.say(parent, "/privacy")
    assert "24 hours" in privacy["text"]


async def test_the_school_choice_is_stored_in_the_database(polling_bot: RunningBot) -> None:
    parent = polling_bot.parent()
    welcome = await polling_bot.say(parent, "/start")
    await polling_bot.press(parent, welcome, "Hollybrook Infant and Nursery School")
    state = await polling_bot.services.store.load(str(parent.id))
    assert state.school_id == "hollybrook"


@pytest.mark.parametrize("kind", ["sticker", "voice", "video", "document", "location", "contact", "poll"])
async def test_non_text_messages_get_a_friendly_line(polling_bot: RunningBot, kind: str) -> None:
    parent = polling_bot.parent()
    polling_bot.server.user_sends(parent, kind)  # type: ignore[arg-type]
    answer = await polling_bot.last_answer(parent)
    assert "only read typed messages" in answer["text"]


async def test_a_photo_outside_a_report_is_explained_not_kept(polling_bot: RunningBot) -> None:
    parent = polling_bot.parent()
    polling_bot.server.user_sends_photo(parent)
    answer = await polling_bot.last_answer(parent)
    assert "only keep photos as evidence inside a bullying report" in answer["text"]
    assert "Report online bullying" in buttons(answer)


async def test_an_edited_message_is_answered_as_new_text(polling_bot: RunningBot) -> None:
    parent = polling_bot.parent()
    original = polling_bot.server.user_sends_text(parent, "hiya")
    await polling_bot.last_answer(parent)
    polling_bot.server.user_edits_message(parent, original, "what is the social media code about")
    answer = await polling_bot.last_answer(parent)
    assert '(Code: "' in answer["text"]


async def test_a_group_the_configuration_does_not_name_gets_no_answer_and_is_left_once(
    polling_bot: RunningBot,
) -> None:
    """Answering in a stranger's group made every answer wait on that group's rate limit, holding the
    bot up: it leaves such a group instead, once, and says nothing there."""
    parent = polling_bot.parent()
    group = polling_bot.server.create_group("Year 6 parents", members=[parent])
    polling_bot.server.user_sends_text(parent, "hello bot", chat=group)
    polling_bot.server.user_sends_text(parent, "can I post about a teacher", chat=group)
    await polling_bot.server.wait_for_call("leaveChat", group.id)
    await polling_bot.server.wait_handled()
    assert polling_bot.server.sent_messages(group.id) == []
    assert len(polling_bot.server.calls_to("leaveChat", group.id)) == 1


async def test_a_staff_chat_gets_no_parent_answers(polling_bot: RunningBot, schools: Schools) -> None:
    member = polling_bot.parent("Staff")
    staff_id = schools.schools[0].staff_chat_id
    staff = polling_bot.server.create_group("Oakfield staff", members=[member], chat_id=staff_id)
    polling_bot.server.user_sends_text(member, "hello", chat=staff)
    await polling_bot.server.wait_handled()
    assert polling_bot.server.sent_messages(staff_id) == []


@pytest.mark.parametrize(
    ("kind", "options"),
    [("flood", {"retry_after": 1}), ("server_error", {"status": 502}), ("network", {}), ("timeout", {})],
)
async def test_parent_still_gets_the_answer_after_a_send_failure(
    polling_bot: RunningBot, kind: str, options: dict[str, int]
) -> None:
    parent = polling_bot.parent()
    polling_bot.server.inject_fault("sendMessage", parent.id, kind=kind, times=1, **options)  # type: ignore[arg-type]
    answer = await polling_bot.say(parent, "/privacy", timeout=40)
    assert "24 hours" in answer["text"]
    statuses = [call.status for call in polling_bot.server.calls_to("sendMessage", parent.id)]
    assert statuses[-1] == 200
    assert len(statuses) >= 2


async def test_a_blocked_parent_is_marked_and_others_are_still_served(polling_bot: RunningBot) -> None:
    blocked = polling_bot.parent("Blocked")
    polling_bot.server.inject_fault("sendMessage", blocked.id, kind="blocked", times=None)
    polling_bot.server.user_sends_text(blocked, "/help")
    await polling_bot.server.wait_handled()
    assert polling_bot.server.calls_to("sendMessage", blocked.id)[-1].status == 403
    assert await polling_bot.services.store.is_blocked(str(blocked.id))

    other = polling_bot.parent("Other")
    answer = await polling_bot.say(other, "/help")
    assert answer["text"]


async def test_a_long_consent_preview_arrives_as_a_document_with_every_line(polling_bot: RunningBot) -> None:
    parent = polling_bot.parent("Lee")
    welcome = await polling_bot.say(parent, "/start")
    await polling_bot.press(parent, welcome, "Oakfield Primary School")
    offer = await polling_bot.say(parent, "/human_handoff")
    await polling_bot.press(parent, offer, "Yes, pass it on")
    story = " ".join(f"Point {n}: the lunch queue is too long for the infants." for n in range(60))
    contact = await polling_bot.say(parent, story)
    summary = await polling_bot.press(parent, contact, "Reply in this chat")
    document = await polling_bot.server.wait_for_call("sendDocument", parent.id, timeout=15)
    preview = document.params["document"].data.decode()
    assert story in preview, "every line, in full"
    assert "in the file above" in summary["text"]
    await polling_bot.press(parent, summary, "Yes, send it")
    [case] = await polling_bot.services.records.cases.parent_cases(str(parent.id))
    full = await polling_bot.services.records.cases.get(case.id)
    assert full is not None
    assert story in [line.text for line in full.transcript]
    tapped = [line.text for line in full.transcript if line.author.value == "parent" and line.text != story]
    assert tapped == ["Talk to someone at school", "Yes, pass it on", "Reply in this chat"], (
        "titles, no payloads"
    )
