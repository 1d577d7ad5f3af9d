"""Faults: the bot killed with SIGKILL and restarted, every kind of Bot API failure,
PostgreSQL restarted under the bot, a read-only database and a full disk. In every case nothing a
parent or staff member sent is lost, nothing the outbox marked sent is sent again, and a failure the
bot cannot get round is one clear line (at start-up) or one friendly message (to a parent).

The killed bot is `parentbot run`, a real process against the local Bot API server. It reaches NLU
through RASA_URL: a small Rasa-compatible `POST /model/parse` endpoint in this test process answers with
the session's model, so a restart takes two seconds instead of loading TensorFlow again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.config import Settings
from bot.nlu.client import InProcessNlu, NluClient
from bot.schools import Schools, load_schools
from bot.services import build_services, open_database
from bot.staff import StaffOptions
from bot.storage.database import make_engine, session_factory
from bot.storage.models import Case, ConversationMessage, Delivery, DeliveryStatus
from bot.storage.outbox import Outbox
from bot.telegram.app import build_application
from devserver import BotApiServer, SimChat, SimUser, report_handled_updates
from tests.databases import database_url, fresh_postgres_schema, postgres_available
from tests.telegram_harness import (
    ROOT,
    TOKEN,
    RunningBot,
    button_data,
    buttons,
    eventually,
    running_bot,
    settled,
)

FAST = StaffOptions(
    delivery_interval=0.2,
    reminder_check_interval=0.5,
    urgent_reminder_every=timedelta(minutes=5),
    retry_base=0.2,
    retry_max=1.0,
)
ERROR_LINE = "Sorry, something went wrong on my side"
JsonDict = dict[str, Any]


# ---- shared helpers ------------------------------------------------------------------------------------


@asynccontextmanager
async def bot_on(
    nlu: NluClient,
    schools: Schools,
    url: str,
    *,
    server: BotApiServer | None = None,
    staff_options: StaffOptions = FAST,
    **server_options: Any,
) -> AsyncIterator[RunningBot]:
    """The real Application, in this process, on the database at `url` (SQLite or PostgreSQL)."""
    async with AsyncExitStack() as stack:
        if server is None:
            server = await stack.enter_async_context(BotApiServer(token=TOKEN, **server_options))
        settings = Settings(  # type: ignore[call-arg]
            telegram_bot_token=TOKEN, telegram_base_url=server.base_url, database_url=url, project_dir=ROOT
        )
        services = build_services(settings, schools, nlu=nlu)
        app = build_application(services, staff_options=staff_options)
        report_handled_updates(app, server)
        await app.initialize()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        await app.start()
        try:
            yield RunningBot(server, app, services)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
            services.db.dispose()


def staff_chat(
    server: BotApiServer, schools: Schools, school_id: str = "oakfield"
) -> tuple[SimChat, SimUser]:
    school = schools.get(school_id)
    assert school is not None
    named = load_schools(ROOT / "schools.example.yml").get(school_id)  # the bot processes' staff list
    staff_id = named.staff_user_ids[0] if named is not None and named.staff_user_ids else None
    member = server.create_user("Ms Staff", user_id=staff_id)
    return server.create_group(f"{school.name} staff", members=[member], chat_id=school.staff_chat_id), member


def is_card(message: JsonDict, reference: str | None = None) -> bool:
    has_buttons = "staff:" in str(message.get("reply_markup"))
    return has_buttons and (reference is None or reference in message.get("text", ""))


def cards_sent(server: BotApiServer, chat_id: int, reference: str) -> int:
    """How many times Telegram accepted a card of this case in the staff chat."""
    return sum(
        1
        for call in server.calls_to("sendMessage", chat_id)
        if call.ok and isinstance(call.result, dict) and is_card(call.result, reference)
    )


def texts_sent(server: BotApiServer, chat_id: int, fragment: str) -> int:
    return sum(
        1
        for call in server.calls_to("sendMessage", chat_id)
        if call.ok and isinstance(call.result, dict) and fragment in call.result.get("text", "")
    )


def no_error_replies(server: BotApiServer, *chat_ids: int) -> bool:
    return all(texts_sent(server, chat_id, ERROR_LINE) == 0 for chat_id in chat_ids)


async def reach_consent(bot: RunningBot, parent: SimUser, description: str) -> JsonDict:
    """A general handoff to Oakfield, up to the consent summary (which is returned)."""
    welcome = await bot.say(parent, "/start")
    await bot.press(parent, welcome, "Oakfield Primary School")
    offer = await bot.say(parent, "/human_handoff")
    await bot.press(parent, offer, "Yes, pass it on")
    contact = await bot.say(parent, description)
    summary = await bot.press(parent, contact, "Reply in this chat")
    assert description in summary["text"]
    return summary


# ---- every kind of Bot API failure ----------------------------------------------------------------------


async def test_every_kind_of_bot_api_failure_during_a_handoff_loses_nothing_and_sends_nothing_twice(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with running_bot(nlu, schools, tmp_path, staff_options=FAST, timeout_fault_delay=6.0) as bot:
        server = bot.server
        staff, member = staff_chat(server, schools)
        parent = bot.parent("Robin")

        # The staff chat meets every kind of passing failure too, so the card is posted only after four
        # failed attempts. (A 403 from a staff chat is not passing: the case fails over to the trust's
        # chat at once, see test_delivery_e2e.py.)
        for kind, options in [
            ("timeout", {}),
            ("server_error", {"status": 502}),
            ("flood", {"retry_after": 1}),
            ("network", {}),
        ]:
            server.inject_fault("sendMessage", staff.id, kind=kind, **options)  # type: ignore[arg-type]

        # Each answer to the parent along the flow meets one kind of failure; a button press Telegram
        # refuses to acknowledge (400, as for a press older than 15 s) still counts.
        server.inject_fault("sendMessage", parent.id, kind="timeout")
        welcome = await bot.say(parent, "/start", timeout=30)
        server.inject_fault("answerCallbackQuery", kind="server_error", status=400)
        server.inject_fault("sendMessage", parent.id, kind="server_error", status=500)
        await bot.press(parent, welcome, "Oakfield Primary School")
        server.inject_fault("sendMessage", parent.id, kind="server_error", status=502)
        offer = await bot.say(parent, "/human_handoff")
        server.inject_fault("answerCallbackQuery", kind="network")
        server.inject_fault("sendMessage", parent.id, kind="flood", retry_after=1)
        await bot.press(parent, offer, "Yes, pass it on")
        server.inject_fault("sendMessage", parent.id, kind="network")
        contact = await bot.say(parent, "The after-school club pick-up time changed without notice")
        summary = await bot.press(parent, contact, "Reply in this chat")
        assert "pick-up time changed" in summary["text"]
        done = await bot.press(parent, summary, "Yes, send it", timeout=40)
        [case] = await bot.services.records.cases.parent_cases(str(parent.id))
        assert case.reference in done["text"]
        card = await server.wait_for_message(staff.id, lambda m: is_card(m, case.reference), timeout=60)

        # A staff reply meets a flood and a 5xx and a dropped connection on its way to the parent.
        server.inject_fault("sendMessage", parent.id, kind="flood", retry_after=1)
        server.inject_fault("sendMessage", parent.id, kind="server_error", status=502)
        server.inject_fault("sendMessage", parent.id, kind="network")
        server.user_replies_to(member, card, "Thanks, Mrs Khan will ring you this afternoon", chat=staff)
        await server.wait_for_message(parent.id, lambda m: "Mrs Khan" in m.get("text", ""), timeout=30)

        # A parent who then blocks the bot: the next staff reply is given up and the parent marked.
        server.inject_fault("sendMessage", parent.id, kind="blocked", times=None)
        server.user_replies_to(member, card, "Did that call reach you?", chat=staff)
        await server.wait_for_call("sendMessage", parent.id, lambda c: c.status == 403, timeout=15)
        await eventually(
            lambda: bot.services.store.is_blocked(str(parent.id)), "the parent marked blocked", 5
        )
        await settled(server, bot.services.records.outbox)  # a duplicate would show by now

        assert cards_sent(server, staff.id, case.reference) == 1
        assert texts_sent(server, parent.id, "Mrs Khan will ring you") == 1
        assert no_error_replies(server, parent.id)
        failed = [c for c in server.calls if c.status != 200]
        assert len(failed) >= 15, "every injected fault was met"
        rows = await bot.services.records.outbox.deliveries(case.id)
        by_kind = {row.kind: row.status for row in rows if row.kind in ("case_card", "staff_reply")}
        assert by_kind["case_card"] is DeliveryStatus.SENT
        statuses = sorted(row.status.value for row in rows if row.kind == "staff_reply")
        assert statuses == ["failed", "sent"]  # the blocked one given up, not retried for ever


# ---- SIGKILL mid-flow and with deliveries pending, then restart ------------------------------------------


@asynccontextmanager
async def rasa_endpoint(nlu: InProcessNlu) -> AsyncIterator[str]:
    """A Rasa server's `POST /model/parse` (what RASA_URL points at), answered by the session's model."""

    async def parse(request: web.Request) -> web.Response:
        text = str((await request.json()).get("text", ""))
        result = await nlu.parse(text)
        return web.json_response(
            {
                "text": text,
                "intent": {"name": result.intent, "confidence": result.confidence},
                "entities": [{"entity": e.entity, "value": e.value} for e in result.entities],
                "intent_ranking": [{"name": n, "confidence": c} for n, c in result.ranking],
            }
        )

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class BotProcess:
    """`python -m bot.cli run` (what `parentbot run` and `make run` start), output to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._env = env
        self._log_path = log
        self._log: TextIO | None = None
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self._log = self._log_path.open("a")
        self._log.write("\n---- start ----\n")
        self._log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            env=self._env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is flushed or confirmed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait, 10)
        self._close_log()

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(self.process.wait, 30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait, 10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        return self._log_path.read_text()


async def started(bot: BotProcess, server: BotApiServer) -> None:
    bot.start()
    try:
        await server.wait_for_call("setMyCommands", timeout=60)
    except TimeoutError:
        raise AssertionError(f"the bot did not start:\n{bot.output()[-3000:]}") from None


async def outbox(url: str) -> list[Delivery]:
    engine = make_engine(url)
    try:
        return await Outbox(session_factory(engine)).deliveries()
    finally:
        engine.dispose()


async def say(server: BotApiServer, user: SimUser, text: str, timeout: float = 20) -> JsonDict:
    server.user_sends_text(user, text)
    return await last_answer(server, user, timeout)


async def press(server: BotApiServer, user: SimUser, message: JsonDict, title: str) -> JsonDict:
    server.user_presses_button(user, message, button_data(message, title))
    return await last_answer(server, user)


async def last_answer(server: BotApiServer, user: SimUser, timeout: float = 20) -> JsonDict:
    latest = await server.wait_for_message(user.id, timeout=timeout)
    while True:
        try:
            latest = await server.wait_for_message(user.id, timeout=0.5)
        except TimeoutError:
            return latest


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_sigkill_mid_flow_and_with_deliveries_pending_then_restart_delivers_everything_once(
    kind: str, nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    with database_url(kind, tmp_path) as url:
        async with BotApiServer(token=TOKEN) as server, rasa_endpoint(nlu) as rasa_url:
            env = {
                **os.environ,
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_BASE_URL": server.base_url,
                "RASA_URL": rasa_url,
                "DATABASE_URL": url,
                "SCHOOLS_FILE": str(ROOT / "schools.example.yml"),
                "PROJECT_DIR": str(ROOT),
            }
            bot = BotProcess(env, tmp_path / "bot.log")
            try:
                await _kill_twice_and_restart(bot, server, schools, url)
            finally:
                await bot.stop()
            log = bot.output()
            assert "Traceback" not in log, log[-3000:]


async def _kill_twice_and_restart(bot: BotProcess, server: BotApiServer, schools: Schools, url: str) -> None:
    staff, member = staff_chat(server, schools)
    first, second = server.create_user("Alex"), server.create_user("Bea")

    # 1. Killed in the middle of Alex's handoff; Alex presses the next button while the bot is down.
    await started(bot, server)
    welcome = await say(server, first, "/start")
    await press(server, first, welcome, "Oakfield Primary School")
    offer = await say(server, first, "/human_handoff")
    await press(server, first, offer, "Yes, pass it on")
    contact = await say(server, first, "Please can the office call me about the school trip money")
    await bot.kill()
    server.user_presses_button(first, contact, button_data(contact, "Reply in this chat"))

    # 2. Restarted: the press made while it was down is answered and the flow goes on where it was.
    await started(bot, server)
    summary = await last_answer(server, first)
    assert "school trip money" in summary["text"]
    assert "Yes, send it" in buttons(summary)

    # Bea's case reaches staff before anything fails; then her chat goes down and a staff reply to
    # her waits in the outbox; then the staff chat goes down and Alex's case card waits there too.
    welcome = await say(server, second, "/start")
    await press(server, second, welcome, "Oakfield Primary School")
    offer = await say(server, second, "/human_handoff")
    await press(server, second, offer, "Yes, pass it on")
    contact_b = await say(server, second, "Who runs the breakfast club this term?")
    summary_b = await press(server, second, contact_b, "Reply in this chat")
    await press(server, second, summary_b, "Yes, send it")
    card_b = await server.wait_for_message(staff.id, is_card, timeout=20)
    server.inject_fault("sendMessage", second.id, kind="server_error", status=502, times=None)
    server.user_replies_to(member, card_b, "Mr Price runs it, from 7.45", chat=staff)
    await server.wait_until(lambda: _failures(server, second.id) >= 1, 20)  # the reply is being tried
    server.inject_fault("sendMessage", staff.id, kind="server_error", status=502, times=None)
    done = await press(server, first, summary, "Yes, send it")
    await server.wait_until(
        lambda: _failures(server, staff.id) >= 2 and _failures(server, second.id) >= 2, 30
    )
    await eventually(lambda: _nothing_leased(url), "a moment between two delivery attempts")
    await bot.kill()  # between two passes of the delivery worker, as a crash usually is

    rows = await outbox(url)
    sent_before_kill = {row.id for row in rows if row.status is DeliveryStatus.SENT}
    pending = {row.kind for row in rows if row.status is DeliveryStatus.PENDING}
    assert {"case_card", "staff_reply"} <= pending, "deliveries were pending when the bot was killed"
    assert any(row.kind == "case_card" for row in rows if row.id in sent_before_kill)

    # 3. Telegram is back; the restarted bot delivers what was pending, and nothing already sent again.
    server.clear_faults()
    await started(bot, server)
    references = {case.reference for case in await _cases(url)}
    assert len(references) == 2
    reference_a = next(ref for ref in references if ref in done["text"])
    await server.wait_for_message(staff.id, lambda m: is_card(m, reference_a), timeout=90)
    await server.wait_for_message(second.id, lambda m: "Mr Price runs it" in m.get("text", ""), timeout=90)
    await eventually(lambda: _outbox_empty(url), "the outbox emptied")
    await server.wait_until(lambda: all(c.done for c in server.calls if c.method != "getUpdates"))

    for reference in references:
        assert cards_sent(server, staff.id, reference) == 1, reference
    assert texts_sent(server, second.id, "Mr Price runs it") == 1
    rows = await outbox(url)
    assert [row.kind for row in rows if row.status is not DeliveryStatus.SENT] == []
    assert no_error_replies(server, first.id, second.id)


async def _nothing_leased(url: str) -> bool:
    """No delivery is being sent right now (a restarted bot would wait out a lease)."""
    return all(row.locked_until is None for row in await outbox(url))


async def _outbox_empty(url: str) -> bool:
    return not any(row.status is DeliveryStatus.PENDING for row in await outbox(url))


def _failures(server: BotApiServer, chat_id: int) -> int:
    return sum(1 for call in server.calls_to("sendMessage", chat_id) if call.done and call.status != 200)


async def _cases(url: str) -> list[Case]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(Case)).all())
    finally:
        engine.dispose()


# ---- PostgreSQL restarted under the bot --------------------------------------------------------------------

PG_CLUSTER = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main"]


def _pg_ctl(action: str) -> None:
    subprocess.run([*PG_CLUSTER, action], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def postgres_stopped() -> Iterator[None]:
    """PostgreSQL down for the duration of the block, and always started again afterwards."""
    try:
        _pg_ctl("stop")
    except (OSError, subprocess.SubprocessError) as error:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _pg_ctl("start")  # in case it stopped after all
        pytest.skip(f"cannot stop PostgreSQL here ({error}): run as a user allowed to use pg_ctlcluster")
    try:
        yield
    finally:
        _pg_ctl("start")


async def _wait_for_postgres() -> None:
    for _ in range(60):
        if await asyncio.to_thread(postgres_available):
            return
        await asyncio.sleep(0.5)
    raise AssertionError("PostgreSQL did not come back")


async def test_postgresql_restarted_under_the_bot_a_parent_is_told_and_no_case_is_lost(
    nlu: InProcessNlu, schools: Schools
) -> None:
    if shutil.which(PG_CLUSTER[0]) is None:
        pytest.skip("pg_ctlcluster is not installed: cannot restart PostgreSQL under the bot")
    with fresh_postgres_schema() as url:
        async with bot_on(nlu, schools, url) as bot:
            server = bot.server
            staff, _ = staff_chat(server, schools)
            parent = bot.parent("Cleo")
            welcome = await bot.say(parent, "/start")
            await bot.press(parent, welcome, "Oakfield Primary School")
            offer = await bot.say(parent, "/human_handoff")
            describe = await bot.press(parent, offer, "Yes, pass it on")

            with postgres_stopped():
                bot.server.user_sends_text(
                    parent, "I would like to know why the bus fare has gone up this term"
                )
                sorry = await server.wait_for_message(parent.id, timeout=20)
                assert sorry["text"].startswith(ERROR_LINE), sorry["text"]
                newcomer = bot.parent("Dev")
                bot.server.user_sends_text(newcomer, "/start")
                assert (await server.wait_for_message(newcomer.id, timeout=20))["text"].startswith(ERROR_LINE)
            await _wait_for_postgres()

            # The message written during the outage was not taken: the flow is where it was.
            assert "Yes" not in str(buttons(describe))
            contact = await bot.say(parent, "I would like to know why the bus fare has gone up this term")
            summary = await bot.press(parent, contact, "Reply in this chat")
            assert "bus fare has gone up" in summary["text"]
            done = await bot.press(parent, summary, "Yes, send it")
            [case] = await bot.services.records.cases.parent_cases(str(parent.id))
            assert case.reference in done["text"]
            await server.wait_for_message(staff.id, lambda m: is_card(m, case.reference), timeout=20)
            await settled(server, bot.services.records.outbox)
            assert cards_sent(server, staff.id, case.reference) == 1


# ---- a read-only database, a full disk --------------------------------------------------------------------


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30, check=False)


def _umount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `path` (root only), unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs disk needs root and mount(8)")
    path.mkdir(parents=True, exist_ok=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def read_only(database: Path, what: str) -> Iterator[None]:
    """The database `file` read-only (its folder writable), or its whole `folder` read-only.

    As root, permission bits do not stop writes, so a read-only bind mount (the file) or a read-only
    remount of the tmpfs it lives on (the folder) does it; otherwise chmod."""
    if os.geteuid() != 0:
        target = database if what == "file" else database.parent
        mode = target.stat().st_mode
        target.chmod(0o444 if what == "file" else 0o555)
        try:
            yield
        finally:
            target.chmod(mode)
        return
    if what == "file":
        bound = _mount("--bind", str(database), str(database))
        if bound.returncode != 0:
            pytest.skip(f"cannot bind-mount the database file: {bound.stderr.strip()}")
        try:
            assert _mount("-o", "remount,ro,bind", str(database)).returncode == 0
            yield
        finally:
            _umount(database)
    else:  # the folder is a small_disk mount
        assert _mount("-o", "remount,ro", str(database.parent)).returncode == 0
        try:
            yield
        finally:
            _mount("-o", "remount,rw", str(database.parent))


def _settings(url: str) -> Settings:
    return Settings(database_url=url, project_dir=ROOT)  # type: ignore[call-arg]


def _parentbot(command: str, url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SCHOOLS_FILE": str(ROOT / "schools.example.yml"),
        "PROJECT_DIR": str(ROOT),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": "http://127.0.0.1:9/bot",  # nothing listens: the bot must stop before
        "RASA_URL": "http://127.0.0.1:9",  # ... and without loading a model
    }
    if command == "chat":
        env.pop("TELEGRAM_BOT_TOKEN")
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", command],
        env=env,
        cwd=tmp_path,
        input="hello\nquit\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def _assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout[-1500:], result.stderr[-1500:])
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("parentbot: DATABASE_URL: "), result.stderr[-2000:]
    assert all(word in last for word in words), last
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["run", "chat"])
@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_database_stops_the_bot_with_one_clear_line_and_nothing_written(
    what: str, command: str, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    as_root = os.geteuid() == 0  # the folder is then a small disk of its own, remounted read-only
    with small_disk(folder, "4m") if as_root else contextlib.nullcontext(folder):
        url = f"sqlite:///{folder}/bot.db"
        open_database(_settings(url)).dispose()  # a migrated database, closed cleanly
        before = _snapshot(folder)

        with read_only(folder / "bot.db", what):
            result = _parentbot(command, url, tmp_path)

        _assert_one_clear_line(result)
        after = _snapshot(folder)
        assert after["bot.db"] == before["bot.db"], "nothing was written"
        assert after.get("bot.db-wal", b"") == b"", "nothing waits in the write-ahead log either"


def test_a_full_disk_at_start_up_is_one_clear_line_and_no_half_built_database(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "96k") as disk:
        url = f"sqlite:///{disk}/bot.db"
        result = _parentbot("chat", url, tmp_path)
        _assert_one_clear_line(result, "disk is full")

        # With room again, the next start carries on from the last complete migration.
        assert _mount("-o", "remount,size=4m", str(disk)).returncode == 0
        open_database(_settings(url)).dispose()


def _fill(disk: Path) -> Path:
    """Fill the disk to the last byte; returns the filler file."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while os.write(descriptor, b"\0" * chunk):
                    pass
    finally:
        os.close(descriptor)
    return filler


async def test_a_disk_filling_up_under_the_bot_loses_no_case_and_half_writes_none(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", "4m") as disk:
        url = f"sqlite:///{disk}/bot.db"
        async with bot_on(nlu, schools, url) as bot:
            server = bot.server
            staff, _ = staff_chat(server, schools)
            parent = bot.parent("Eli")
            summary = await reach_consent(bot, parent, "Someone shared my daughter's class photo on TikTok")

            filler = _fill(disk)
            server.user_presses_button(parent, summary, button_data(summary, "Yes, send it"))
            told = await bot.last_answer(parent)
            assert told["text"].startswith((ERROR_LINE, "Sorry, I couldn't save your report")), told["text"]
            assert await bot.services.records.cases.parent_cases(str(parent.id)) == []
            assert await bot.services.records.outbox.deliveries() == []
            await settled(server, bot.services.records.outbox)
            assert server.sent_messages(staff.id) == []

            filler.unlink()  # room again: the same button now files the case, once
            done = await bot.press(parent, summary, "Yes, send it")
            [case] = await bot.services.records.cases.parent_cases(str(parent.id))
            assert case.reference in done["text"]
            assert "Someone shared my daughter's class photo" in case.summary
            await server.wait_for_message(staff.id, lambda m: is_card(m, case.reference), timeout=20)
            await settled(server, bot.services.records.outbox)
            assert cards_sent(server, staff.id, case.reference) == 1
            with session_factory(bot.services.db)() as session:
                lines = session.scalar(select(func.count()).where(ConversationMessage.case_id == case.id))
            assert lines, "the transcript went with the case"
