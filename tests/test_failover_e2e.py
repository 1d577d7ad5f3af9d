"""Fail-over that cannot strand an urgent case, end to end: the real Application and
its delivery worker against the local Bot API server, with a school staff chat that has topics.

A case's forum topic belongs to its school's chat: a card moved to the trust's safeguarding chat must go
there without it (Telegram refuses an unknown message_thread_id). And a forum check (getChat) that fails
must not hold the card back: it is posted as to a plain group."""

from __future__ import annotations

from pathlib import Path

from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from devserver import BotApiServer
from tests.test_delivery_e2e import DELIVERED, TRUST_CHAT, URGENT, group, told, with_chats
from tests.test_staff_e2e import STAFF_ID, StaffWorld, staff_bot

UNDELIVERED = "could not get your URGENT message"


def trust_chat(server: BotApiServer) -> None:
    group(server, (STAFF_ID,), TRUST_CHAT, "Trust safeguarding")


def card_calls(world: StaffWorld, chat_id: int, reference: str) -> list[dict[str, object]]:
    """The parameters of every card of the case the bot posted in the chat."""
    return [
        c.params
        for c in world.server.calls_to("sendMessage", chat_id)
        if c.ok and reference in str(c.params.get("text")) and "reply_markup" in c.params
    ]


def parent_texts(world: StaffWorld) -> list[str]:
    return [m["text"] for m in world.server.sent_messages(world.parent.id)]


async def test_an_urgent_card_the_school_forum_refuses_reaches_the_trust_chat_without_its_topic(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with staff_bot(nlu, with_chats(schools), tmp_path, prepare=trust_chat) as world:
        forum = world.staff_chat(forum=True)
        # The bot may still make topics, but not post: the school's chat cannot take the card at all.
        world.server.set_bot_status(forum.id, "restricted", can_send_messages=False)
        case = await world.open_case(**URGENT)

        card = await world.card(case, world.server.chat(TRUST_CHAT))

        assert len(world.server.topics(forum.id)) == 1, "the case had its topic in the school's chat"
        assert [c.status for c in world.server.calls_to("sendMessage", forum.id)] == [400]
        (posted,) = card_calls(world, TRUST_CHAT, case.reference)
        assert "message_thread_id" not in posted, "the school forum's topic went with the card"
        assert "message_thread_id" not in card
        await world.server.wait_until(
            lambda: world.server.pinned_messages(TRUST_CHAT) == [card["message_id"]]
        )
        assert case.reference in await told(world, DELIVERED)
        view = await world.cases.get(case.id)
        assert view is not None
        assert (view.staff_chat_id, view.topic_id) == (TRUST_CHAT, None)
        await world.settled()
        assert not [text for text in parent_texts(world) if UNDELIVERED in text]


async def test_when_the_bot_is_removed_from_the_school_forum_the_case_moves_on_with_its_messages(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with staff_bot(nlu, with_chats(schools), tmp_path, prepare=trust_chat) as world:
        forum = world.staff_chat(forum=True)
        case = await world.open_case(**URGENT)
        first = await world.card(case, forum)
        assert first["message_thread_id"] == world.server.topics(forum.id)[0].message_thread_id
        await told(world, DELIVERED)
        world.server.set_bot_status(forum.id, "kicked")

        assert await world.cases.parent_reply(case.id, "He has just messaged her again")

        card = await world.card(case, world.server.chat(TRUST_CHAT))
        assert "He has just messaged her again" in card["text"], "the parent's words are on the new card"
        reminder = await world.server.wait_for_message(TRUST_CHAT, lambda m: m["text"].startswith("Reminder"))
        assert reminder["reply_to_message"]["message_id"] == card["message_id"]
        (posted,) = card_calls(world, TRUST_CHAT, case.reference)
        assert "message_thread_id" not in posted
        assert all(
            "message_thread_id" not in c.params for c in world.server.calls_to("sendMessage", TRUST_CHAT)
        )
        claimed = await world.press(world.member, card, "Claim")
        assert claimed["text"].startswith("You've claimed")
        await world.settled()
        assert not [text for text in parent_texts(world) if UNDELIVERED in text]


async def test_a_failing_forum_check_posts_the_card_plainly_in_the_school_chat(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with staff_bot(nlu, with_chats(schools), tmp_path, prepare=trust_chat) as world:
        forum = world.staff_chat(forum=True)
        started = len(world.server.calls_to("getChat", forum.id))  # the start-up check's
        world.server.inject_fault("getChat", forum.id, kind="server_error", times=None)
        case = await world.open_case(**URGENT)

        card = await world.card(case, forum)

        checks = world.server.calls_to("getChat", forum.id)[started:]
        assert checks
        assert all(c.status == 500 for c in checks)
        assert world.server.topics(forum.id) == []
        assert "message_thread_id" not in card
        (posted,) = card_calls(world, forum.id, case.reference)
        assert "message_thread_id" not in posted
        assert case.reference in await told(world, DELIVERED)
        assert not card_calls(world, TRUST_CHAT, case.reference), "the school's chat was working"
