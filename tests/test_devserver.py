"""The dev Bot API server, driven by python-telegram-bot's real Bot and Application over loopback HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import functools
import json
import re
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiohttp import web
from devserver.files import tiny_png
from telegram import (
    Bot,
    BotCommand,
    ChatMemberAdministrator,
    ChatMemberRestricted,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from devserver import (
    ApiSpec,
    ApiSpecNotFoundError,
    BotApiServer,
    SimUser,
    find_spec_path,
    report_handled_updates,
)

TOKEN = "123456:TEST-TOKEN"
ROOT = Path(__file__).resolve().parent.parent

try:
    SPEC_PATH: Path | None = find_spec_path()
    SKIP_REASON = ""
except ApiSpecNotFoundError as exc:
    SPEC_PATH, SKIP_REASON = None, f"Bot API description not available: {exc}"

pytestmark = pytest.mark.skipif(SPEC_PATH is None, reason=SKIP_REASON)

_F = TypeVar("_F", bound=Callable[..., Awaitable[None]])


def bounded(seconds: float = 30.0) -> Callable[[_F], _F]:
    """No test may hang: the whole test body runs under a deadline."""

    def decorate(test: _F) -> _F:
        @functools.wraps(test)
        async def run(*args: Any, **kwargs: Any) -> None:
            await asyncio.wait_for(test(*args, **kwargs), seconds)

        return run  # type: ignore[return-value]

    return decorate


@pytest.fixture(scope="module")
def spec() -> ApiSpec:
    return ApiSpec.load(SPEC_PATH)


@pytest.fixture
async def server(spec: ApiSpec) -> AsyncIterator[BotApiServer]:
    async with BotApiServer(
        token=TOKEN, spec=spec, timeout_fault_delay=3.0, webhook_retry_delay=0.05, webhook_timeout=2.0
    ) as srv:
        yield srv
    assert srv.spec_violations == []


def _request(read_timeout: float = 3.0) -> HTTPXRequest:
    return HTTPXRequest(
        connection_pool_size=4,
        read_timeout=read_timeout,
        write_timeout=3.0,
        connect_timeout=3.0,
        pool_timeout=3.0,
    )


@pytest.fixture
async def bot(server: BotApiServer) -> AsyncIterator[Bot]:
    the_bot = Bot(
        TOKEN,
        base_url=server.base_url,
        base_file_url=server.base_file_url,
        request=_request(),
        get_updates_request=_request(),
    )
    async with the_bot:
        yield the_bot


@pytest.fixture
def parent(server: BotApiServer) -> SimUser:
    return server.create_parent("Sam", last_name="Jones", username="sam_jones")


def _keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.title(), callback_data=d) for d in data]])


async def _bad_request(call: Awaitable[object]) -> str:
    """The description PTB's BadRequest carries. PTB strips "Bad Request: " and capitalizes the rest."""
    with pytest.raises(BadRequest) as caught:
        await call
    return caught.value.message


def _last_error(server: BotApiServer) -> tuple[int | None, str | None]:
    return server.calls[-1].status, server.calls[-1].error


# ---- basics --------------------------------------------------------------------------------------------


@bounded()
async def test_get_me_answers_the_bot_user(server: BotApiServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "dev_test_bot")
    assert me.can_join_groups is True
    assert [c.method for c in server.calls] == ["getMe", "getMe"]  # Bot.initialize() called it first
    assert all(c.status == 200 for c in server.calls)


@bounded()
async def test_send_message_with_inline_keyboard_is_recorded(
    server: BotApiServer, bot: Bot, parent: SimUser
) -> None:
    sent = await bot.send_message(parent.id, "Which school?", reply_markup=_keyboard("oak", "elm"))
    assert sent.chat.id == parent.id
    assert sent.text == "Which school?"
    assert sent.reply_markup == _keyboard("oak", "elm")
    call = await server.wait_for_call("sendMessage", chat_id=parent.id)
    assert call.status == 200
    assert call.chat_id == parent.id
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Oak", "callback_data": "oak"}, {"text": "Elm", "callback_data": "elm"}]
        ]
    }
    assert server.sent_messages(parent.id)[-1]["reply_markup"] == call.params["reply_markup"]
    second = await bot.send_message(parent.id, "And another")
    assert second.message_id == sent.message_id + 1


@bounded()
async def test_message_ids_count_per_chat(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    other = server.create_parent("Alex")
    first = await bot.send_message(parent.id, "one")
    server.user_sends_text(parent, "two")
    third = await bot.send_message(parent.id, "three")
    elsewhere = await bot.send_message(other.id, "hello")
    assert (first.message_id, third.message_id, elsewhere.message_id) == (1, 3, 1)


# ---- validation against the API description ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "telegram_says"),
    [
        ({"text": "hi", "api_kwargs": {"colour": "red"}}, "Bad Request: unknown parameter colour"),
        (
            {"text": "hi", "api_kwargs": {"disable_notification": "maybe"}},
            "Bad Request: wrong type of parameter disable_notification",
        ),
        (
            {"text": "hi", "api_kwargs": {"message_thread_id": "seven"}},
            "Bad Request: wrong type of parameter message_thread_id",
        ),
        (
            {
                "text": "hi",
                "api_kwargs": {"reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": 5}]]}},
            },
            "Bad Request: wrong type of parameter reply_markup",
        ),
        (
            {
                "text": "hi",
                "api_kwargs": {"reply_markup": {"inline_keyboard": [[{"txt": "A", "callback_data": "a"}]]}},
            },
            "Bad Request: wrong type of parameter reply_markup",
        ),
        (
            {"text": "hi", "api_kwargs": {"reply_markup": "{not json"}},
            "Bad Request: wrong type of parameter reply_markup",
        ),
        ({"text": "x" * 4097}, "Bad Request: message is too long"),
        ({"text": ""}, "Bad Request: message text is empty"),
        ({"text": "  \n "}, "Bad Request: message text is empty"),
        ({"text": "<b></b>", "parse_mode": "HTML"}, "Bad Request: message text is empty"),
        ({"text": "hi", "reply_markup": _keyboard("x" * 65)}, "Bad Request: BUTTON_DATA_INVALID"),
        ({"text": "hi", "reply_markup": _keyboard("é" * 33)}, "Bad Request: BUTTON_DATA_INVALID"),
        (
            {"text": "Done.", "parse_mode": "MarkdownV2"},
            "Bad Request: can't parse entities: "
            "Character '.' is reserved and must be escaped with the preceding '\\'",
        ),
        (
            {"text": "<blink>hi</blink>", "parse_mode": "HTML"},
            'Bad Request: can\'t parse entities: Unsupported start tag "blink" at byte offset 0',
        ),
    ],
)
@bounded()
async def test_send_message_refused_as_telegram_would(
    server: BotApiServer, bot: Bot, parent: SimUser, kwargs: dict[str, Any], telegram_says: str
) -> None:
    message = await _bad_request(bot.send_message(parent.id, **kwargs))
    assert _last_error(server) == (400, telegram_says)
    assert message == telegram_says.removeprefix("Bad Request: ").capitalize()


@bounded()
async def test_limits_are_inclusive_and_count_text_after_markup(bot: Bot, parent: SimUser) -> None:
    longest = await bot.send_message(parent.id, "x" * 4096)
    assert len(longest.text or "") == 4096
    tagged = await bot.send_message(parent.id, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
    assert len(tagged.text or "") == 4096
    assert tagged.entities[0].type == "bold"
    widest = await bot.send_message(parent.id, "ok", reply_markup=_keyboard("z" * 64))
    assert widest.reply_markup is not None


@bounded()
async def test_missing_required_parameter(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    message = await _bad_request(bot.send_message(parent.id, None))  # type: ignore[arg-type]
    assert _last_error(server) == (400, "Bad Request: parameter text is required")
    assert message == "Parameter text is required"


@bounded()
async def test_unknown_method_and_wrong_token(server: BotApiServer, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):  # PTB's do_api_request turns the 404 into this
        await bot.do_api_request("send_telepathy", api_kwargs={"chat_id": 1})
    assert _last_error(server) == (404, "Not Found: method not found")


@bounded()
async def test_wrong_token_is_unauthorized(server: BotApiServer) -> None:
    request = _request()
    wrong = Bot("999:WRONG", base_url=server.base_url, request=request)
    try:
        with pytest.raises(InvalidToken):
            await wrong.get_me()
    finally:
        await request.shutdown()  # the Bot never initialized, so its shutdown() would skip this
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{server.base_url}999:WRONG/getMe")
    assert answer.status_code == 401
    assert answer.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


@bounded()
async def test_plain_http_json_get_and_envelopes(server: BotApiServer, parent: SimUser) -> None:
    async with httpx.AsyncClient(base_url=f"{server.base_url}{TOKEN}/") as client:
        me = (await client.get("getMe")).json()
        by_json = await client.post(
            "sendMessage", json={"chat_id": parent.id, "text": "hi", "disable_notification": True}
        )
        by_query = await client.get("sendMessage", params={"chat_id": str(parent.id), "text": "via GET"})
        missing = await client.post("sendMessage", json={"chat_id": parent.id})
        unknown = await client.post("sendTelepathy", json={})
        broken = await client.post("sendMessage", content=b"{", headers={"Content-Type": "application/json"})
    assert me["ok"] is True
    assert me["result"]["id"] == 123456
    assert by_json.json()["result"]["text"] == "hi"
    assert by_query.json()["result"]["text"] == "via GET"
    assert missing.status_code == 400
    assert missing.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: parameter text is required",
    }
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
    assert broken.status_code == 400


@pytest.mark.parametrize(
    ("method", "body", "telegram_says"),
    [
        ("setMyCommands", {"commands": "start"}, "wrong type of parameter commands"),
        ("setMyCommands", {"commands": [{"command": "start"}]}, "wrong type of parameter commands"),
        (
            "setMyCommands",
            {"commands": [{"command": "a", "description": 1}]},
            "wrong type of parameter commands",
        ),
        ("sendPhoto", {"chat_id": 1, "photo": {"file": 1}}, "wrong type of parameter photo"),
        ("getUpdates", {"timeout": 1.5}, "wrong type of parameter timeout"),
        ("getUpdates", {"allowed_updates": ["message", 3]}, "wrong type of parameter allowed_updates"),
        ("sendMessage", {"text": "hi"}, "parameter chat_id is required"),
        ("getMe", {"verbose": True}, "unknown parameter verbose"),
    ],
)
@bounded()
async def test_wrong_types_over_plain_http(
    server: BotApiServer, method: str, body: dict[str, Any], telegram_says: str
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{server.base_url}{TOKEN}/{method}", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"ok": False, "error_code": 400, "description": f"Bad Request: {telegram_says}"}


@bounded()
async def test_chat_must_exist(server: BotApiServer, bot: Bot) -> None:
    assert await _bad_request(bot.send_message(424242, "hello?")) == "Chat not found"


@bounded()
async def test_edit_message_text_rules(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    sent = await bot.send_message(parent.id, "Pick one", reply_markup=_keyboard("a", "b"))
    edited = await bot.edit_message_text("Picked a", chat_id=parent.id, message_id=sent.message_id)
    assert not isinstance(edited, bool)
    assert edited.edit_date is not None
    assert server.sent_messages(parent.id)[0]["text"] == "Picked a"
    # an edit that does not repeat the keyboard removes it, as on Telegram
    assert "reply_markup" not in server.sent_messages(parent.id)[0]
    same = await _bad_request(
        bot.edit_message_text("Picked a", chat_id=parent.id, message_id=sent.message_id)
    )
    assert same.startswith("Message is not modified")
    too_long = bot.edit_message_text("x" * 4097, chat_id=parent.id, message_id=sent.message_id)
    assert await _bad_request(too_long) == "Message is too long"
    missing = bot.edit_message_text("new", chat_id=parent.id, message_id=999)
    assert await _bad_request(missing) == "Message to edit not found"
    theirs = server.user_sends_text(parent, "mine")
    not_ours = bot.edit_message_text("hacked", chat_id=parent.id, message_id=theirs["message_id"])
    assert await _bad_request(not_ours) == "Message can't be edited"
    with_markup = await bot.edit_message_reply_markup(parent.id, sent.message_id, reply_markup=_keyboard("c"))
    assert not isinstance(with_markup, bool)
    assert with_markup.reply_markup == _keyboard("c")
    assert server.sent_messages(parent.id)[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "c"


# ---- updates: long polling and webhooks ------------------------------------------------------------------


@bounded()
async def test_long_polling_returns_promptly_and_offset_confirms(
    server: BotApiServer, bot: Bot, parent: SimUser
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    assert not poll.done()
    server.user_sends_text(parent, "Hello, is anyone there?")
    updates = await poll
    elapsed = loop.time() - started
    assert elapsed < 1.5, f"long poll took {elapsed:.2f}s for an update that arrived after 0.2s"
    assert [u.message.text for u in updates if u.message] == ["Hello, is anyone there?"]
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]  # not confirmed yet
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
    quiet_start = loop.time()
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1) == ()
    assert 0.9 < loop.time() - quiet_start < 3


@bounded()
async def test_get_updates_limit_and_allowed_updates(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    for n in range(3):
        server.user_sends_text(parent, f"message {n}")
    assert len(await bot.get_updates(limit=2)) == 2
    await bot.get_updates(offset=-1, allowed_updates=["callback_query"])
    sent = await bot.send_message(parent.id, "?", reply_markup=_keyboard("yes"))
    server.user_sends_text(parent, "not wanted")
    server.user_presses_button(parent, sent.to_dict(), "yes")
    kinds = [u.callback_query is not None for u in await bot.get_updates(offset=-1)]
    assert kinds == [True]
    assert [u["message"]["text"] for u in server.dropped_updates] == ["not wanted"]


async def _receiver(answers: list[int]) -> tuple[web.AppRunner, str, asyncio.Queue[tuple[str | None, Any]]]:
    """A tiny webhook endpoint: answers with ``answers`` in turn (then 200), queues (secret header, JSON)."""
    received: asyncio.Queue[tuple[str | None, Any]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        status = answers.pop(0) if answers else 200
        if status == 200:
            await received.put((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received


@bounded()
async def test_webhook_delivery_with_secret_and_conflict(
    server: BotApiServer, bot: Bot, parent: SimUser
) -> None:
    runner, url, received = await _receiver([500])  # the first attempt fails: the server retries
    try:
        waiting_poll = asyncio.create_task(bot.get_updates(timeout=10))
        await asyncio.sleep(0.1)
        assert await bot.set_webhook(url, secret_token="s3cret-Token_1-for-the-devserver-test-40")
        with pytest.raises(Conflict, match="terminated by setWebhook"):
            await waiting_poll
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
        sent = server.user_sends_text(parent, "via webhook")
        secret, payload = await asyncio.wait_for(received.get(), 5)
        assert secret == "s3cret-Token_1-for-the-devserver-test-40"
        assert payload["message"]["text"] == "via webhook"
        assert payload["message"]["message_id"] == sent["message_id"]
        attempts = [(d.attempt, d.status) for d in server.webhook_deliveries]
        assert attempts == [(1, 500), (2, 200)]
        info = await bot.get_webhook_info()
        assert info.url == url
        assert info.pending_update_count == 0
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        assert await bot.delete_webhook()
        server.user_sends_text(parent, "polling again")
        assert [u.message.text for u in await bot.get_updates() if u.message] == ["polling again"]
    finally:
        await runner.cleanup()


@bounded()
async def test_webhook_gives_up_after_a_few_attempts(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    await bot.set_webhook(dead_url)
    server.user_sends_text(parent, "lost")
    await server.wait_until(lambda: len(server.webhook_deliveries) == server.webhook_attempts, timeout=5)
    assert all(d.status is None and d.error for d in server.webhook_deliveries)
    info = await bot.get_webhook_info()
    assert (info.last_error_message or "").startswith("Connection failed")


@bounded()
async def test_webhook_url_must_be_on_loopback(server: BotApiServer, bot: Bot) -> None:
    message = await _bad_request(bot.set_webhook("https://example.com/hook"))
    assert "loopback" in message


# ---- faults --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("timeout", 500, TimedOut),
        ("network", 500, NetworkError),
        ("server_error", 500, NetworkError),
        ("server_error", 502, NetworkError),
        ("blocked", 500, Forbidden),
        ("flood", 500, RetryAfter),
    ],
)
@bounded()
async def test_faults_reach_ptb_as_the_right_exception(
    server: BotApiServer, bot: Bot, parent: SimUser, kind: Any, status: int, expected: type[Exception]
) -> None:
    bystander = server.create_parent("Robin")
    server.inject_fault("sendMessage", chat_id=parent.id, kind=kind, status=status, retry_after=7, delay=2.0)
    with pytest.raises(expected) as caught:
        await bot.send_message(parent.id, "hello", read_timeout=0.5)
    error = caught.value
    if expected is NetworkError:
        assert type(error) is NetworkError  # TimedOut is a NetworkError too: it must not be that
    if kind == "network":  # no HTTP answer at all, not an error status
        assert "disconnected without sending a response" in str(error)
    if kind == "server_error":
        assert str(error) == {500: "Internal Server Error", 502: "Bad Gateway"}[status]
    if kind == "flood":
        assert isinstance(error, RetryAfter)
        assert error.retry_after in (7, dtm.timedelta(seconds=7))
    if kind == "blocked":
        assert "bot was blocked by the user" in str(error)
    faulted = server.calls_to("sendMessage", parent.id)[-1]
    assert faulted.status == {"timeout": None, "network": None, "blocked": 403, "flood": 429}.get(
        kind, status
    )
    # other chats and the next call are fine
    assert (await bot.send_message(bystander.id, "unaffected")).text == "unaffected"
    assert (await bot.send_message(parent.id, "hello again")).text == "hello again"


@bounded()
async def test_faults_repeat_and_clear(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    server.inject_fault("*", kind="server_error", times=None)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_chat_action(parent.id, "typing")
    server.clear_faults()
    assert await bot.send_chat_action(parent.id, "typing")


# ---- a group's fates: migrated, bot removed or restricted ---------------------------------------------


@bounded()
async def test_group_members_are_counted_and_looked_up(server: BotApiServer, bot: Bot) -> None:
    staff_member, other = server.create_user("Priya"), server.create_user("Olly")
    staff = server.create_group("Staff", supergroup=True, members=[staff_member])
    assert await bot.get_chat_member_count(staff.id) == 2  # the bot counts as a member
    assert (await bot.get_chat_member(staff.id, staff_member.id)).status == "member"
    assert (await bot.get_chat_member(staff.id, other.id)).status == "left"
    with pytest.raises(BadRequest, match=r"[Uu]ser not found"):
        await bot.get_chat_member(staff.id, 999)

    server.add_member(staff.id, other, by=staff_member)
    assert await bot.get_chat_member_count(staff.id) == 3
    server.remove_member(staff.id, other)
    assert (await bot.get_chat_member(staff.id, other.id)).status == "left"
    assert await bot.get_chat_member_count(staff.id) == 2


async def test_joins_and_leaves_reach_the_bot_as_telegram_sends_them(server: BotApiServer, bot: Bot) -> None:
    """A service message always; chat_member only to an administrator bot asking for it by name."""
    adder, joiner = server.create_user("Priya"), server.create_user("Olly")
    staff = server.create_group("Staff", supergroup=True, members=[adder])
    await bot.get_updates(allowed_updates=["message", "chat_member"])
    server.add_member(staff.id, joiner, by=adder)  # the bot is a plain member: no chat_member for it
    server.set_bot_status(staff.id, "administrator")
    server.remove_member(staff.id, joiner)
    updates = await bot.get_updates(allowed_updates=["message", "chat_member"])
    joined, left_member, left_message = updates
    assert joined.message is not None
    assert [u.id for u in joined.message.new_chat_members] == [joiner.id]
    assert joined.message.from_user is not None
    assert joined.message.from_user.id == adder.id
    changed = left_member.chat_member
    assert changed is not None
    assert (changed.old_chat_member.status, changed.new_chat_member.status) == ("member", "left")
    assert left_message.message is not None
    assert left_message.message.left_chat_member is not None
    assert left_message.message.left_chat_member.id == joiner.id


async def test_a_user_who_never_started_the_bot_cannot_be_written_to(server: BotApiServer, bot: Bot) -> None:
    stranger = server.create_user("Nia", started=False)
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(stranger.id, "hello")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(stranger.id, "typing")
    server.user_sends_text(stranger, "/start")
    assert (await bot.send_message(stranger.id, "hello")).chat.id == stranger.id


async def test_get_chat_and_get_chat_member_follow_the_api(server: BotApiServer, bot: Bot) -> None:
    staff = server.create_group("Staff", supergroup=True)
    chat = await bot.get_chat(staff.id)
    assert (chat.id, chat.type, chat.title) == (staff.id, "supergroup", "Staff")
    assert chat.permissions is not None
    assert chat.permissions.can_send_messages
    member = await bot.get_chat_member(staff.id, bot.id)
    assert member.status == "member"
    server.set_bot_status(staff.id, "administrator", can_pin_messages=False)
    admin = await bot.get_chat_member(staff.id, bot.id)
    assert isinstance(admin, ChatMemberAdministrator)
    assert admin.can_pin_messages is False
    server.set_bot_status(staff.id, "restricted", can_send_messages=False)
    restricted = await bot.get_chat_member(staff.id, bot.id)
    assert isinstance(restricted, ChatMemberRestricted)
    assert (restricted.can_send_messages, restricted.can_send_photos) == (False, True)
    with pytest.raises(BadRequest, match=r"[Cc]hat not found"):
        await bot.get_chat(-1009999999999)


@bounded()
async def test_a_migrated_group_answers_as_telegram_does(server: BotApiServer, bot: Bot) -> None:
    group = server.create_group("Staff")
    supergroup = server.migrate_group(group.id)
    assert supergroup.type == "supergroup"
    assert str(supergroup.id).startswith("-100")
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(group.id, "hello")
    assert caught.value.new_chat_id == supergroup.id
    failed = server.calls_to("sendMessage", group.id)[-1]
    assert failed.status == 400
    assert failed.error == "Bad Request: group chat was upgraded to a supergroup chat"
    assert (await bot.send_message(supergroup.id, "hello")).chat.id == supergroup.id


@pytest.mark.parametrize(
    ("status", "rights", "expected", "description"),
    [
        ("kicked", {}, Forbidden, "Forbidden: bot was kicked from the supergroup chat"),
        ("left", {}, Forbidden, "Forbidden: bot is not a member of the supergroup chat"),
        (
            "restricted",
            {"can_send_messages": False},
            BadRequest,
            "Bad Request: not enough rights to send text messages to the chat",
        ),
    ],
)
@bounded()
async def test_a_group_that_removed_or_restricted_the_bot_refuses_it(
    server: BotApiServer,
    bot: Bot,
    status: Any,
    rights: dict[str, bool],
    expected: type[Exception],
    description: str,
) -> None:
    staff = server.create_group("Staff", supergroup=True)
    server.set_bot_status(staff.id, status, **rights)
    with pytest.raises(expected):
        await bot.send_message(staff.id, "hello")
    assert server.calls_to("sendMessage", staff.id)[-1].error == description


@bounded()
async def test_leave_chat_leaves_a_group_and_tells_the_bot_but_not_a_private_chat(
    server: BotApiServer, bot: Bot
) -> None:
    group = server.create_group("Someone's group")
    assert await bot.leave_chat(group.id) is True
    [update] = [u for u in await bot.get_updates(timeout=0) if u.my_chat_member is not None]
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "left"
    with pytest.raises(Forbidden, match="bot is not a member of the group chat"):
        await bot.send_message(group.id, "hello")
    with pytest.raises(Forbidden):
        await bot.leave_chat(group.id)  # left already
    user = server.create_user("Sam")
    with pytest.raises(BadRequest, match="can't be changed in private chats"):
        await bot.leave_chat(user.id)


@bounded()
async def test_a_member_without_pin_rights_cannot_pin(server: BotApiServer, bot: Bot) -> None:
    staff = server.create_group("Staff")
    server.set_bot_status(staff.id, "member", can_pin_messages=False)
    sent = await bot.send_message(staff.id, "card")
    with pytest.raises(BadRequest, match="Not enough rights to manage pinned messages"):
        await bot.pin_chat_message(staff.id, sent.message_id)
    chat = await bot.get_chat(staff.id)
    assert chat.permissions is not None
    assert chat.permissions.can_pin_messages is False


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("migrated", ChatMigrated),
        ("chat_not_found", BadRequest),
        ("kicked", Forbidden),
        ("no_rights", BadRequest),
    ],
)
@bounded()
async def test_chat_faults_can_be_injected_once(
    server: BotApiServer, bot: Bot, kind: Any, expected: type[Exception]
) -> None:
    staff = server.create_group("Staff")
    server.inject_fault("sendMessage", staff.id, kind=kind, migrate_to=-1001234567890)
    with pytest.raises(expected) as caught:
        await bot.send_message(staff.id, "card")
    if isinstance(caught.value, ChatMigrated):
        assert caught.value.new_chat_id == -1001234567890
    assert (await bot.send_message(staff.id, "card")).text == "card"


# ---- files ---------------------------------------------------------------------------------------------


@bounded()
async def test_send_photo_upload_get_file_download_round_trip(
    server: BotApiServer, bot: Bot, parent: SimUser
) -> None:
    png = tiny_png(200, 100)
    sent = await bot.send_photo(parent.id, photo=png, caption="Our <i>poster</i>", parse_mode="HTML")
    largest = sent.photo[-1]
    assert (largest.width, largest.height) == (200, 100)
    assert len(sent.photo) == 2
    assert sent.caption == "Our poster"
    assert sent.caption_entities[0].type == "italic"
    uploaded = server.calls_to("sendPhoto")[-1].params["photo"]
    assert uploaded.data == png
    file = await bot.get_file(largest.file_id)
    assert file.file_path
    assert file.file_path.startswith(server.base_file_url + TOKEN + "/photos/")
    assert file.file_path.endswith(".png")  # PTB uploads bytes as "application.octet-stream"
    assert bytes(await file.download_as_bytearray()) == png
    resent = await bot.send_photo(parent.id, photo=largest.file_id)  # a file_id is reused, not uploaded
    assert resent.photo[-1].file_id == largest.file_id


@bounded()
async def test_send_document_and_download_user_photo(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    document = await bot.send_document(parent.id, document=b"%PDF-1.4 policy", filename="policy.pdf")
    assert document.document is not None
    assert (document.document.file_name, document.document.mime_type) == ("policy.pdf", "application/pdf")
    assert await _bad_request(bot.send_document(parent.id, document="no-such-file-id")) == (
        "Wrong file identifier/http url specified"
    )
    photo = server.user_sends_photo(parent, caption="look at this")
    file = await bot.get_file(photo["photo"][-1]["file_id"])
    assert bytes(await file.download_as_bytearray()).startswith(b"\x89PNG")
    assert await _bad_request(bot.get_file("nope")) == "Invalid file_id"


# ---- the simulated world -------------------------------------------------------------------------------


@bounded()
async def test_what_users_send_arrives_as_ptb_understands_it(
    server: BotApiServer, bot: Bot, parent: SimUser
) -> None:
    group = server.create_group("Year 3 parents", members=[parent])
    assert group.id < 0
    assert group.type == "group"
    staff = server.create_group("Staff", chat_id=-1001234567890, supergroup=True)
    assert server.chat(-1001234567890) == staff
    assert staff.type == "supergroup"
    server.user_sends_text(parent, "/start@dev_test_bot now", chat=group)
    for kind in ("photo", "sticker", "voice", "video", "document", "location", "contact", "poll"):
        server.user_sends(parent, kind)
    updates = await bot.get_updates()
    messages: list[Any] = [u.message for u in updates if u.message]
    command = messages[0]
    assert command.chat.id == group.id
    assert command.chat.type == "group"
    assert command.entities[0].type == "bot_command"
    assert command.entities[0].length == len("/start@dev_test_bot")
    found = [
        messages[1].photo[-1].width,
        messages[2].sticker.emoji,
        messages[3].voice.duration,
        messages[4].video.mime_type,
        messages[5].document.file_name,
        messages[6].location.latitude,
        messages[7].contact.user_id,
        messages[8].poll.question,
    ]
    assert found == [
        320,
        "\U0001f44d",
        3,
        "video/mp4",
        "letter.pdf",
        51.507351,
        parent.id,
        "Which day suits you for the meeting?",
    ]
    voice = await bot.get_file(messages[3].voice.file_id)
    assert bytes(await voice.download_as_bytearray()).startswith(b"OggS")


@bounded()
async def test_edits_replies_and_button_presses(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    said = server.user_sends_text(parent, "Hi 👋 #help @someone_else")
    assert [e["type"] for e in said["entities"]] == ["hashtag", "mention"]
    assert said["entities"][0]["offset"] == 6  # UTF-16: the emoji counts twice
    server.user_edits_message(parent, said, "Hi, I have a question")
    question = await bot.send_message(parent.id, "Ask away", reply_markup=_keyboard("policy", "contact"))
    server.user_replies_to(parent, question.to_dict(), "About the policy")
    query = server.user_presses_button(parent, question.to_dict(), "policy")
    with pytest.raises(ValueError, match="no button"):
        server.user_presses_button(parent, question.to_dict(), "nonsense")
    updates = await bot.get_updates()
    assert updates[1].edited_message is not None
    assert updates[1].edited_message.text == "Hi, I have a question"
    reply = updates[2].message
    assert reply is not None
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == question.message_id
    press = updates[3].callback_query
    assert press is not None
    assert press.data == "policy"
    assert press.id == query["id"]
    assert press.message is not None
    assert press.message.message_id == question.message_id
    assert await bot.answer_callback_query(press.id, text="Opening the policy")
    assert server.callback_answers[press.id]["text"] == "Opening the policy"
    assert await _bad_request(bot.answer_callback_query(press.id)) == (
        "Query is too old and response timeout expired or query id is invalid"
    )


@bounded()
async def test_commands_pins_actions(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    commands = [BotCommand("start", "Begin"), BotCommand("help", "What I can do")]
    assert await bot.set_my_commands(commands)
    assert await bot.get_my_commands() == tuple(commands)
    assert await bot.get_my_commands(language_code="de") == ()
    assert await _bad_request(bot.set_my_commands([BotCommand("Bad-Name", "x")])) == "Bot_command_invalid"
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    sent = await bot.send_message(parent.id, "Important")
    assert await bot.pin_chat_message(parent.id, sent.message_id)
    assert server.pinned_messages(parent.id) == [sent.message_id]
    assert await bot.unpin_chat_message(parent.id)
    assert server.pinned_messages(parent.id) == []
    assert await bot.send_chat_action(parent.id, "typing")
    assert (
        await _bad_request(bot.send_chat_action(parent.id, "dancing")) == "Wrong parameter action in request"
    )
    assert await bot.delete_message(parent.id, sent.message_id)
    assert server.sent_messages(parent.id) == []
    assert await bot.log_out()
    assert await bot.close()


@bounded()
async def test_results_follow_the_api_description(
    server: BotApiServer, bot: Bot, parent: SimUser, spec: ApiSpec
) -> None:
    sent = await bot.send_message(
        parent.id, "*Bold* and _it_ https://x\\.org", parse_mode="MarkdownV2", reply_markup=_keyboard("a")
    )
    await bot.send_message(parent.id, "re", reply_parameters=ReplyParameters(sent.message_id))
    await bot.edit_message_text("edited", parent.id, sent.message_id, reply_markup=_keyboard("b"))
    await bot.send_photo(parent.id, tiny_png(), caption="c")
    await bot.set_my_commands([BotCommand("start", "Begin")])
    await bot.get_my_commands()
    server.user_sends_photo(parent)
    for kind in ("sticker", "voice", "video", "document", "location", "contact", "poll"):
        server.user_sends(parent, kind)
    server.user_presses_button(parent, server.sent_messages(parent.id)[0], "b")
    await bot.get_updates()
    await bot.get_webhook_info()
    await bot.get_file(server.sent_messages(parent.id)[-1]["photo"][-1]["file_id"])
    answered = [c for c in server.calls if c.ok]
    assert {c.method for c in answered} >= {
        "sendMessage",
        "editMessageText",
        "sendPhoto",
        "getUpdates",
        "getFile",
    }
    for call in answered:
        assert spec.check_result(call.method, call.result) == [], call.method
    assert len(server.calls_to("getUpdates")[-1].result) == 9


def test_result_checker_catches_what_telegram_would_not_send(spec: ApiSpec) -> None:
    good = {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "hi"}
    assert spec.check_object("Message", good) == []
    assert spec.check_object("Message", {k: v for k, v in good.items() if k != "chat"})
    assert spec.check_object("Message", {**good, "colour": "red"})
    assert spec.check_object("Message", {**good, "message_id": "1"})
    assert spec.check_object("Message", {**good, "chat": {"id": 1, "type": "private", "is_forum": "no"}})
    assert spec.check_result("getMe", {"id": 1, "is_bot": True}) != []
    assert spec.check_result("getUpdates", [{"update_id": 1, "message": good}]) == []
    assert (
        spec.check_object(
            "MessageOrigin",
            {"type": "user", "date": 0, "sender_user": {"id": 1, "is_bot": False, "first_name": "A"}},
        )
        == []
    )
    assert spec.check_object("MessageOrigin", {"type": "channel", "date": 0, "sender_user": {}}) != []
    assert spec.check_result("editMessageText", True) == []


def test_missing_description_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ApiSpecNotFoundError, match="TELEGRAM_API_SPEC"):
        BotApiServer(spec_path=str(tmp_path / "api.json"))


# ---- a real PTB Application ----------------------------------------------------------------------------


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    await context.bot.send_chat_action(update.effective_chat.id, "typing")
    await context.bot.send_message(
        update.effective_chat.id, "Welcome! Which school?", reply_markup=_keyboard("oak", "elm")
    )


async def _choose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(f"You chose {query.data}.")


def _application(server: BotApiServer) -> Application:
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .get_updates_read_timeout(5)
        .build()
    )
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(CallbackQueryHandler(_choose))
    return app


async def _conversation(server: BotApiServer, parent: SimUser) -> None:
    server.user_sends_text(parent, "/start")
    welcome = await server.wait_for_message(parent.id)
    assert welcome["text"] == "Welcome! Which school?"
    assert (await server.wait_for_call("sendChatAction", parent.id)).params["action"] == "typing"
    server.user_presses_button(parent, welcome, "elm")
    await server.wait_for_call("answerCallbackQuery")
    await server.wait_for_call("editMessageText", parent.id)
    assert server.sent_messages(parent.id)[-1]["text"] == "You chose elm."


@bounded(40)
async def test_application_polling_end_to_end(server: BotApiServer, parent: SimUser) -> None:
    app = _application(server)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        await _conversation(server, parent)
        await app.updater.stop()
        await app.stop()
    methods = [c.method for c in server.calls]
    assert methods[:2] == ["getMe", "deleteWebhook"]
    assert all(c.status in (200, None) for c in server.calls), [(c.method, c.error) for c in server.calls]


@bounded(40)
async def test_application_webhook_end_to_end(server: BotApiServer, parent: SimUser) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = _application(server)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            webhook_url=f"http://127.0.0.1:{port}/hook",
            secret_token="hook-secret-of-forty-characters-for-test",
        )
        set_call = server.calls_to("setWebhook")[-1]
        assert set_call.ok
        assert set_call.params["secret_token"] == "hook-secret-of-forty-characters-for-test"
        await _conversation(server, parent)
        assert all(d.ok for d in server.webhook_deliveries)
        assert len(server.webhook_deliveries) == 2
        await app.updater.stop()
        await app.stop()


# ---- transport -----------------------------------------------------------------------------------------


@bounded()
async def test_accepted_sockets_have_tcp_nodelay(server: BotApiServer, bot: Bot) -> None:
    await bot.get_me()
    flags = server.connection_nodelay()
    assert flags
    assert all(flags)


@bounded(60)
async def test_two_hundred_send_messages_timing(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    """Reports the per-call time of PTB against the server; asserts only that all calls worked."""
    durations = []
    for n in range(200):
        started = time.perf_counter()
        await bot.send_message(parent.id, f"message {n}")
        durations.append(time.perf_counter() - started)
    median_ms = statistics.median(durations) * 1000
    print(
        f"\n200 sendMessage calls through PTB: median {median_ms:.2f} ms, max {max(durations) * 1000:.2f} ms"
    )
    assert len(server.sent_messages(parent.id)) == 200


@bounded()
async def test_sim_http_endpoints(server: BotApiServer, bot: Bot) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        sent = await client.post("/_sim/send", json={"chat_id": 1001, "text": "/start", "first_name": "Demo"})
        assert sent.json()["result"]["entities"][0]["type"] == "bot_command"
        await bot.send_message(1001, "Hello Demo", reply_markup=_keyboard("ok"))
        listed = (await client.get("/_sim/messages", params={"chat_id": 1001})).json()["result"]
        assert [m["text"] for m in listed] == ["Hello Demo"]
        pressed = await client.post(
            "/_sim/press",
            json={"chat_id": 1001, "message_id": listed[0]["message_id"], "callback_data": "ok"},
        )
        assert pressed.json()["result"]["data"] == "ok"
    assert [u.to_dict().keys() - {"update_id"} for u in await bot.get_updates()] == [
        {"message"},
        {"callback_query"},
    ]


@bounded()
async def test_standalone_server_prints_base_url() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devserver",
        "--port",
        "0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        output = ""
        while "/_sim/send" not in output:
            line = await asyncio.wait_for(process.stdout.readline(), 20)
            assert line, (await process.stderr.read()).decode() if process.stderr else "no output"
            output += line.decode()
        base_url = re.search(r"base_url:\s+(\S+)", output)
        assert base_url
        assert base_url.group(1).endswith("/bot")
        async with httpx.AsyncClient() as client:
            me = await client.get(f"{base_url.group(1)}123456:TEST-TOKEN/getMe")
        assert json.loads(me.text)["result"]["is_bot"] is True
    finally:
        process.terminate()
        await process.wait()


# ---- forum topics and the "update handled" signal -------------------------------------------------------


@bounded()
async def test_forum_topics_follow_the_api(server: BotApiServer, bot: Bot, parent: SimUser) -> None:
    forum = server.create_group("Staff", members=[parent], forum=True)
    plain = server.create_group("Plain", members=[parent])
    assert (await bot.get_chat(forum.id)).is_forum is True
    assert not (await bot.get_chat(plain.id)).is_forum
    assert "not a forum" in (await _bad_request(bot.create_forum_topic(plain.id, "X"))).lower()

    topic = await bot.create_forum_topic(forum.id, "OAK-ABCD · Cyberbullying · Oakfield")
    assert topic.name == "OAK-ABCD · Cyberbullying · Oakfield"
    card = await bot.send_message(forum.id, "card", message_thread_id=topic.message_thread_id)
    assert card.message_thread_id == topic.message_thread_id
    assert card.is_topic_message

    remark = server.user_sends_text(parent, "internal note", forum, thread_id=topic.message_thread_id)
    reply = server.user_replies_to(parent, card.to_dict(), "to the parent", chat=forum)
    updates = await bot.get_updates(timeout=1)
    [note, answer] = [u.message for u in updates if u.message is not None]
    assert (note.message_thread_id, note.is_topic_message) == (topic.message_thread_id, True)
    assert note.reply_to_message is not None  # as in Telegram: the topic's creation message
    assert note.reply_to_message.forum_topic_created is not None
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.message_id == card.message_id
    assert remark["message_thread_id"] == reply["message_thread_id"] == topic.message_thread_id

    assert await bot.close_forum_topic(forum.id, topic.message_thread_id)
    closed = await _bad_request(bot.send_message(forum.id, "late", message_thread_id=topic.message_thread_id))
    assert closed.upper() == "TOPIC_CLOSED"
    twice = await _bad_request(bot.close_forum_topic(forum.id, topic.message_thread_id))
    assert twice.upper() == "TOPIC_NOT_MODIFIED"
    assert await bot.reopen_forum_topic(forum.id, topic.message_thread_id)
    assert await bot.edit_forum_topic(forum.id, topic.message_thread_id, name="renamed")
    assert server.topic(forum.id, topic.message_thread_id).name == "renamed"
    again = await bot.send_message(forum.id, "again", reply_parameters=ReplyParameters(card.message_id))
    assert again.message_thread_id == topic.message_thread_id  # a reply stays in its topic
    assert "thread not found" in (
        await _bad_request(bot.send_message(plain.id, "x", message_thread_id=topic.message_thread_id))
    )


@bounded(40)
async def test_wait_handled_waits_for_the_bots_answers_not_a_quiet_period(
    server: BotApiServer, parent: SimUser
) -> None:
    release = asyncio.Event()

    async def slow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await release.wait()
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "done")

    app = ApplicationBuilder().token(TOKEN).base_url(server.base_url).get_updates_read_timeout(5).build()
    app.add_handler(CommandHandler("slow", slow))
    report_handled_updates(app, server)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        server.user_sends_text(parent, "/slow")
        with pytest.raises(TimeoutError):
            await server.wait_handled(timeout=0.3)
        release.set()
        await server.wait_handled()
        assert [m["text"] for m in server.sent_messages(parent.id)] == ["done"]
        await app.updater.stop()
        await app.stop()
