"""Two `parentbot run` processes in webhook mode on one PostgreSQL behind one port (a reverse proxy that
alternates between them, as a load balancer would), the local Bot API server delivering one parent's
twenty messages (two handoffs plus questions and commands) spread across both: every message answered in
order, the flow state intact whichever process takes the next step, every case delivered to the staff
chat exactly once (both processes run the outbox worker)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.storage.database import make_engine, session_factory
from bot.storage.models import Delivery
from bot.storage.outbox import Outbox
from devserver import BotApiServer, SimUser
from tests.databases import fresh_postgres_schema
from tests.telegram_harness import (
    CHECK_NO,
    ROOT,
    SECRET,
    TOKEN,
    Conversations,
    button_data,
    buttons,
    eventually,
    free_port,
    outbox_empty,
    unclaimed_messages,
)

JsonDict = dict[str, Any]
CHECK_QUESTION = "is a child at risk of harm right now"
RIVERSIDE_STAFF = -1001000000003


@dataclass
class AlternatingProxy:
    """One public port; each webhook request goes to the next backend in turn."""

    backends: list[str]
    taken: Counter[str] = field(default_factory=Counter)
    _next: int = 0

    async def forward(self, request: web.Request) -> web.Response:
        backend = self.backends[self._next % len(self.backends)]
        self._next += 1
        self.taken[backend] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with (
            aiohttp.ClientSession() as client,
            client.post(backend, data=await request.read(), headers=headers) as answer,
        ):
            return web.Response(status=answer.status, body=await answer.read())


@asynccontextmanager
async def serving(proxy: AlternatingProxy, port: int) -> AsyncIterator[None]:
    app = web.Application()
    app.router.add_post("/telegram", proxy.forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


@asynccontextmanager
async def bot_process(env: dict[str, str], port: int, log: Path) -> AsyncIterator[None]:
    """`parentbot run` on `port`, until its model has loaded (logged); stopped like systemd would."""
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once; the test awaits the server, not it
            [sys.executable, "-m", "bot.cli", "run"],
            env={**env, "WEBHOOK_PORT": str(port)},
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 300
            while " loaded in " not in _read(log) and process.poll() is None:
                assert time.monotonic() < deadline, "the model did not load in 300 s"
                await asyncio.sleep(0.5)  # the log is the only signal the process gives
            assert process.poll() is None, _read(log)[-3000:]
            yield
        finally:
            process.terminate()
            await asyncio.to_thread(process.wait, 60)


def _read(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


async def test_two_processes_answer_one_parent_in_order_and_deliver_each_case_once(
    model_path: Path, tmp_path: Path
) -> None:
    with fresh_postgres_schema() as database_url:
        async with BotApiServer(token=TOKEN) as server:
            public, ports = free_port(), [free_port(), free_port()]
            proxy = AlternatingProxy([f"http://127.0.0.1:{port}/telegram" for port in ports])
            env = {
                **os.environ,
                "PROJECT_DIR": str(ROOT),
                "SCHOOLS_FILE": str(ROOT / "schools.example.yml"),
                "DATABASE_URL": database_url,
                "RASA_MODEL": str(model_path),
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_BASE_URL": server.base_url,
                "WEBHOOK_URL": f"http://127.0.0.1:{public}/telegram",
                "WEBHOOK_LISTEN": "127.0.0.1",
                "WEBHOOK_SECRET": SECRET,
                "FLOOD_BURST": "100",  # the simulated parent types far faster than a person
            }
            logs = [tmp_path / "bot1.log", tmp_path / "bot2.log"]
            # The staff chat exists before the bots start: they check every staff chat at start-up.
            staff = server.create_group(
                "Riverside staff", members=[server.create_user("Ms Staff")], chat_id=RIVERSIDE_STAFF
            )
            # The processes start one after the other: the first migrates the empty schema.
            async with (
                serving(proxy, public),
                bot_process(env, ports[0], logs[0]),
                bot_process(env, ports[1], logs[1]),
            ):
                figures = await _conversation(Conversations(server), server, staff.id, database_url)
    print(f"\ntwo processes: {figures}")
    assert min(proxy.taken.values()) >= 8, f"the messages were not spread across both: {proxy.taken}"
    output = "".join(_read(log) for log in logs)
    assert "Traceback" not in output, output[-3000:]


async def _outbox_when_empty(database_url: str) -> list[Delivery]:
    db = make_engine(database_url)
    try:
        outbox = Outbox(session_factory(db))
        await eventually(lambda: outbox_empty(outbox), "the outbox emptied", timeout=30)
        return await outbox.deliveries()
    finally:
        db.dispose()


async def _conversation(
    bot: Conversations, server: BotApiServer, staff_chat: int, database_url: str
) -> dict[str, object]:
    parent = server.create_user("Jo")
    started = time.perf_counter()
    steps = Steps(bot, parent)

    # Each step names words of the last message of its answer (the flows of bot/dialogue/flows.py).
    welcome = await steps.say("/start", "which school")
    await steps.press(welcome, "Riverside Academy", "I'll use Riverside Academy")
    await steps.say("can i add my sons teacher as a friend on facebook", "(Code:")
    offer = await steps.say("I want to make a formal complaint", "pass this to the staff")
    about = await steps.press(offer, "Yes, pass it on", "about the head teacher")
    await steps.press(about, "Something else", "what is your concern")
    await steps.say(
        "She was excluded for two days without anyone calling me first.", "Who should staff ask for"
    )
    contact = await steps.say("skip", "contact you")
    summary = await steps.press(contact, "Reply in this chat", "excluded for two days")
    first = await steps.press(summary, "Yes, send it", "Riverside Academy")
    await steps.say("what does the code say about posting in a class whatsapp group?", "(Code:")
    offer = await steps.say("/human_handoff", "pass this to the staff")
    await steps.press(offer, "Yes, pass it on", "ask or tell the school")
    contact = await steps.say(
        "Please can the office call me about the Year 6 residential deposit", "contact you"
    )
    await steps.press(contact, "Phone me", "phone number")
    summary = await steps.say("07700 900123", "residential deposit")
    second = await steps.press(summary, "Yes, send it", "Riverside Academy")
    status = await steps.say("/status", "your cases")
    offer = await steps.say("how do I make a complaint?", "pass this to the staff")
    await steps.press(offer, "No thanks", "nothing has been sent")
    await steps.say("/privacy", "data protection officer")
    await steps.say("/help", "you can ask me")

    references = re.findall(r"RIV-[A-Z0-9]{4}", status["text"])
    assert len(references) == 2, status["text"]
    assert all(reference in first["text"] + second["text"] for reference in references)
    await server.wait_until(
        lambda: sum("staff:" in str(m.get("reply_markup")) for m in server.sent_messages(staff_chat)) >= 2,
        timeout=30,
    )
    # Both processes run an outbox worker. Once nothing is pending, every card was sent by the one worker
    # that leased it; a second lease of the same row would show as a second attempt.
    rows = await _outbox_when_empty(database_url)
    cards = [m for m in server.sent_messages(staff_chat) if "staff:" in str(m.get("reply_markup"))]
    delivered = Counter(re.findall(r"Case (RIV-[A-Z0-9]{4}) ·", card["text"])[0] for card in cards)
    assert delivered == dict.fromkeys(references, 1), "each case card reaches the staff chat exactly once"
    assert [row.attempts for row in rows if row.kind == "case_card"] == [1, 1]
    return {
        "messages": steps.sent,
        "answered": steps.answered,
        "cases delivered": dict(delivered),
        "wall time s": round(time.perf_counter() - started, 1),
    }


@dataclass
class Steps:
    """Each message waits for the last message of its answer, which must say what was expected: an
    answer to another message (a lost or interleaved turn) never matches, and the step times out. The
    bots run in other processes, so the dev server's "update handled" signal (report_handled_updates)
    is not available: the expected words are the signal."""

    bot: Conversations
    parent: SimUser
    sent: int = 0
    answered: int = 0

    async def say(self, text: str, expected: str) -> JsonDict:
        """Send `text`; when the safeguarding gate asks "is a child at risk now?" about it, tap "No, it's
        not urgent" as this calm parent would, and wait for the answer after that."""
        self.bot.server.user_sends_text(self.parent, text)
        answer = await self._answer(expected, or_else=CHECK_QUESTION)
        if CHECK_NO in buttons(answer):
            return await self.press(answer, CHECK_NO, expected)
        return answer

    async def press(self, message: JsonDict, title: str, expected: str) -> JsonDict:
        self.bot.server.user_presses_button(self.parent, message, button_data(message, title))
        return await self._answer(expected)

    async def _answer(self, expected: str, or_else: str | None = None) -> JsonDict:
        self.sent += 1
        server = self.bot.server
        wanted = [words.lower() for words in (expected, or_else) if words]
        last = await server.wait_for_message(
            self.parent.id,
            lambda message: any(w in message.get("text", "").lower() for w in wanted),
            timeout=120,
        )
        earlier = await unclaimed_messages(server, self.parent.id)  # the same answer's first messages
        self.answered += 1
        texts = [message.get("text", "") for message in [*earlier, last]]
        assert not any("faster than I can answer" in text for text in texts), "the flood limit is not tested"
        return last
