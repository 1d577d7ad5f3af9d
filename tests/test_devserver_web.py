"""The dev server's web page endpoints (devserver.web), with python-telegram-bot's Bot on the other
side: what the page posts reaches the bot as the updates a Telegram client would cause, and what the bot
sends is what the page reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from devserver import BotApiServer, SimChat, SimUser, tiny_png

TOKEN = "123456:TEST-TOKEN"


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    async with BotApiServer(token=TOKEN) as srv:
        yield srv
    assert srv.spec_violations == []


@pytest.fixture
async def bot(server: BotApiServer) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url) as the_bot:
        yield the_bot


@pytest.fixture
async def page(server: BotApiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url) as client:
        yield client


def staff_forum(server: BotApiServer) -> tuple[SimUser, SimChat]:
    teacher = server.create_user("Priya", last_name="Patel")
    return teacher, server.create_group("Staff", members=[teacher], forum=True)


async def test_the_page_and_the_world_it_lists(
    server: BotApiServer, bot: Bot, page: httpx.AsyncClient
) -> None:
    parent = server.create_user("Sam")
    teacher, forum = staff_forum(server)
    topic = await bot.create_forum_topic(forum.id, "OAK-1234 Complaint")

    index = await page.get("/")
    assert index.status_code == 200
    assert "/static/app.js" in index.text
    assert (await page.get("/static/app.js")).status_code == 200
    world = (await page.get("/_sim/world")).json()["result"]
    users = {u["name"]: u["in_groups"] for u in world["users"]}
    assert users == {"Sam": False, "Priya Patel": True}
    [group] = world["groups"]
    assert group["id"] == forum.id
    assert group["is_forum"] is True
    assert group["members"] == [{"id": teacher.id, "name": "Priya Patel", "status": "member"}]
    assert [t["message_thread_id"] for t in group["topics"]] == [topic.message_thread_id]
    assert parent.id not in {m["id"] for m in group["members"]}


async def test_text_in_a_topic_and_a_reply_reach_the_bot_and_the_chat_log(
    server: BotApiServer, bot: Bot, page: httpx.AsyncClient
) -> None:
    teacher, forum = staff_forum(server)
    topic = await bot.create_forum_topic(forum.id, "OAK-1234 Complaint")
    card = await bot.send_message(forum.id, "Case OAK-1234", message_thread_id=topic.message_thread_id)

    written = await page.post(
        "/_sim/text",
        json={
            "user_id": teacher.id,
            "chat_id": forum.id,
            "text": "/stats",
            "thread_id": topic.message_thread_id,
        },
    )
    replied = await page.post(
        "/_sim/text",
        json={"user_id": teacher.id, "chat_id": forum.id, "text": "On it", "reply_to": card.message_id},
    )

    assert written.status_code == replied.status_code == 200
    updates = [u.message for u in await bot.get_updates()]
    assert [(m.text, m.message_thread_id) for m in updates if m] == [
        ("/stats", topic.message_thread_id),
        ("On it", topic.message_thread_id),
    ]
    reply = updates[1]
    assert reply is not None
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == card.message_id
    log = (await page.get("/_sim/chat", params={"chat_id": forum.id})).json()["result"]
    created, *rest = log["messages"]
    assert created["forum_topic_created"]["name"] == "OAK-1234 Complaint"
    assert [m["text"] for m in rest] == ["Case OAK-1234", "/stats", "On it"]


async def test_a_photo_from_the_page_can_be_downloaded_by_the_bot(
    server: BotApiServer, bot: Bot, page: httpx.AsyncClient
) -> None:
    parent = server.create_user("Sam")
    png = tiny_png(64, 48)

    sent = await page.post(
        "/_sim/file",
        data={"user_id": str(parent.id), "caption": "the screenshot"},
        files={"file": ("shot.png", png, "image/png")},
    )

    assert sent.status_code == 200
    [update] = await bot.get_updates()
    assert update.message is not None
    assert update.message.caption == "the screenshot"
    photo = update.message.photo[-1]
    assert (photo.width, photo.height) == (64, 48)
    assert bytes(await (await bot.get_file(photo.file_id)).download_as_bytearray()) == png
    shown = await page.get(f"/_sim/file/{photo.file_id}")
    assert shown.content == png
    assert shown.headers["content-type"] == "image/png"


async def test_any_other_file_from_the_page_is_a_document(
    server: BotApiServer, bot: Bot, page: httpx.AsyncClient
) -> None:
    parent = server.create_user("Sam")

    sent = await page.post(
        "/_sim/file",
        data={"user_id": str(parent.id)},
        files={"file": ("notes.pdf", b"%PDF-1.4 notes", "application/pdf")},
    )

    assert sent.status_code == 200
    [update] = await bot.get_updates()
    assert update.message is not None
    document = update.message.document
    assert document is not None
    assert (document.file_name, document.mime_type) == ("notes.pdf", "application/pdf")
    assert bytes(await (await bot.get_file(document.file_id)).download_as_bytearray()) == b"%PDF-1.4 notes"


async def test_an_edit_from_the_page_reaches_the_bot_and_a_pin_shows(
    server: BotApiServer, bot: Bot, page: httpx.AsyncClient
) -> None:
    parent = server.create_user("Sam")
    written = (await page.post("/_sim/text", json={"user_id": parent.id, "text": "hiya"})).json()["result"]
    pinned = await bot.send_message(parent.id, "Urgent")
    await bot.pin_chat_message(parent.id, pinned.message_id)

    edited = await page.post(
        "/_sim/edit",
        json={
            "user_id": parent.id,
            "chat_id": parent.id,
            "message_id": written["message_id"],
            "text": "hello",
        },
    )
    other = server.create_user("Dee")
    refused = await page.post(
        "/_sim/edit",
        json={"user_id": other.id, "chat_id": parent.id, "message_id": written["message_id"], "text": "x"},
    )

    assert edited.status_code == 200
    assert refused.status_code == 400
    updates = await bot.get_updates()
    assert [(u.edited_message.text if u.edited_message else None) for u in updates] == [None, "hello"]
    log = (await page.get("/_sim/chat", params={"chat_id": parent.id})).json()["result"]
    assert [(m["text"], "edit_date" in m) for m in log["messages"]] == [("hello", True), ("Urgent", False)]
    assert log["pinned"] == [pinned.message_id]


async def test_a_document_downloads_with_its_name_and_a_press_gets_its_answer(
    server: BotApiServer, bot: Bot, page: httpx.AsyncClient
) -> None:
    parent = server.create_user("Sam")
    sent = await bot.send_document(parent.id, b"line one\n", filename="transcript.txt")
    assert sent.document is not None
    download = await page.get(f"/_sim/file/{sent.document.file_id}")
    assert download.content == b"line one\n"
    assert 'filename="transcript.txt"' in download.headers["content-disposition"]
    asked = await bot.send_message(
        parent.id,
        "Claim?",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Claim", callback_data="c")]]),
    )

    query = (
        await page.post(
            "/_sim/press",
            json={
                "chat_id": parent.id,
                "user_id": parent.id,
                "message_id": asked.message_id,
                "callback_data": "c",
            },
        )
    ).json()["result"]
    before = (await page.get("/_sim/answer", params={"query_id": query["id"]})).json()["result"]
    [update] = await bot.get_updates()
    assert update.callback_query is not None
    await update.callback_query.answer("You've claimed it")
    after = (await page.get("/_sim/answer", params={"query_id": query["id"]})).json()["result"]

    assert before is None
    assert after["text"] == "You've claimed it"


async def test_the_page_acts_only_as_known_users_where_they_may_write(
    server: BotApiServer, page: httpx.AsyncClient
) -> None:
    sam, dee = server.create_user("Sam"), server.create_user("Dee")
    _, forum = staff_forum(server)

    unknown = await page.post("/_sim/text", json={"user_id": 42, "text": "hello"})
    elsewhere = await page.post("/_sim/text", json={"user_id": dee.id, "chat_id": sam.id, "text": "hello"})
    outsider = await page.post("/_sim/text", json={"user_id": sam.id, "chat_id": forum.id, "text": "hello"})

    assert [r.status_code for r in (unknown, elsewhere, outsider)] == [400, 400, 400]
    assert unknown.json()["description"] == "no such user"
    assert outsider.json()["description"] == "Sam is not a member of Staff"
    assert server.chat_log(sam.id) == []
    assert [m for m in server.chat_log(forum.id) if "text" in m] == []
