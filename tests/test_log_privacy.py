"""Nothing personal in the logs, at any level (logs outlive what the bot deletes, and whoever runs the
server reads them): the parent conversations of the e2e tests (two
handoffs to the staff chat, a staff reply relayed both ways, /forget) run with every logger at DEBUG,
SQLAlchemy's statement echo included, and no parent text, name, phone number, email address or the bot
token appears in anything the bot's log handler writes (messages and tracebacks)."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from bot.cli.main import main
from bot.logs import configure_logging, pseudonym, set_pseudonym_key
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.storage import database
from bot.storage.models import Parent
from tests.telegram_harness import TOKEN, RunningBot, running_bot
from tests.test_handoff_e2e import FAST, card_in, choose_school, staff_chat

FIRST_NAME, LAST_NAME = "Philippa", "Quennell-Ashdown"
PHONE = "07700 900461"
EMAIL = "philippa.qa@example.net"
COMPLAINT = "I want to make a formal complaint about how the school handled Barnaby's exclusion"
DETAILS = "Barnaby was sent home on Tuesday after the playground incident with Ottoline"
QUESTION = "Could somebody explain the Year 4 residential deposit to me please"
STAFF_REPLY = "Hello Philippa, Mrs Featherstonehaugh will ring you about Barnaby tomorrow"
PARENT_ANSWER = "Thank you, any time after 3pm suits me"
PERSONAL = (
    FIRST_NAME,
    LAST_NAME,
    PHONE,
    PHONE.replace(" ", ""),
    EMAIL,
    "Barnaby",
    "Ottoline",
    "playground incident",
    "residential deposit",
    "Featherstonehaugh",
    "after 3pm",
    TOKEN.split(":")[1],
)
DEBUG_EVERYWHERE = (
    "",
    "telegram",
    "telegram.ext",
    "httpx",
    "httpcore",
    "aiohttp",
    "tornado",
    "apscheduler",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "rasa",
    "bot",
)


class Counter(logging.Handler):
    """Counts every record the loggers emit (before the bot's handler filters them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1


class NotTheBot(logging.Filter):
    """The local Bot API server runs in the test's process but stands in for Telegram's servers: its
    own records (it logs what parents "typed") are not the bot's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("devserver")


@pytest.fixture
def debug_log() -> Iterator[tuple[io.StringIO, Counter]]:
    """The bot's logging at DEBUG into a buffer, then every logger forced to DEBUG as well (as if an
    operator had turned each one up), so only the handler's filter stands between a record and the log."""
    written = io.StringIO()
    configure_logging(logging.DEBUG, stream=written)
    [handler] = logging.getLogger().handlers
    handler.filters.insert(0, NotTheBot())
    counter = Counter()
    counter.addFilter(NotTheBot())
    logging.getLogger().addHandler(counter)
    previous = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    for name in [*logging.root.manager.loggerDict, *DEBUG_EVERYWHERE]:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield written, counter
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)
        configure_logging()


def hits(text: str) -> list[str]:
    return [word for word in PERSONAL if word.lower() in text.lower()]


async def test_the_e2e_conversations_at_debug_log_nothing_personal(
    debug_log: tuple[io.StringIO, Counter],
    nlu: InProcessNlu,
    schools: Schools,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    written, counter = debug_log
    # The simulated parent sends a dozen messages in seconds: the flood limit is not what is tested here.
    opened = {"flood_burst": 100}
    async with running_bot(nlu, schools, tmp_path, staff_options=FAST, settings_overrides=opened) as bot:
        await _conversations(bot, schools)
    log_text = written.getvalue()
    captured = capfd.readouterr()
    print(f"DEBUG log scan: {counter.records} records, {len(log_text.splitlines())} lines written")
    assert counter.records > 500, "the scan must see the libraries' DEBUG records too"
    assert "[SQL parameters hidden" in log_text or "parameters hidden" in log_text, "the SQL echo ran"
    assert hits(log_text) == [], [line for line in log_text.splitlines() if hits(line)][:5]
    assert hits(captured.out + captured.err) == []


async def _conversations(bot: RunningBot, schools: Schools) -> None:
    staff = staff_chat(bot, schools, "riverside")
    member = next(u for u in bot.server._users.values() if u.first_name == "Ms Staff")
    parent = bot.server.create_user(FIRST_NAME, last_name=LAST_NAME, username="philippa_qa")
    await choose_school(bot, parent, "Riverside Academy")

    offer = await bot.say(parent, COMPLAINT)
    about = await bot.press(parent, offer, "Yes, pass it on")
    await bot.press(parent, about, "The head teacher or the trust")
    await bot.say(parent, f"{FIRST_NAME} {LAST_NAME}, Barnaby, Year 4")  # who staff should ask for
    contact = await bot.say(parent, DETAILS)
    bot.server.inject_fault("sendMessage", parent.id, kind="server_error")  # a retried failure, logged
    phone = await bot.press(parent, contact, "Phone me")
    summary = await bot.say(parent, PHONE)
    assert PHONE in summary["text"]
    await bot.press(parent, summary, "Yes, send it")
    card = await card_in(bot, staff)

    bot.server.user_replies_to(member, card, STAFF_REPLY, chat=staff)
    await bot.server.wait_for_message(parent.id, lambda m: "Featherstonehaugh" in m.get("text", ""), 15)
    bot.server.user_sends_text(parent, PARENT_ANSWER)
    await bot.server.wait_for_message(staff.id, lambda m: "after 3pm" in m.get("text", ""), 15)
    await bot.say(parent, "/done")

    offer = await bot.say(parent, "/human_handoff")
    await bot.press(parent, offer, "Yes, pass it on")
    contact = await bot.say(parent, QUESTION)
    await bot.press(parent, contact, "Email me")
    summary = await bot.say(parent, EMAIL)
    assert EMAIL in summary["text"]
    await bot.press(parent, summary, "Yes, send it")
    await bot.server.wait_for_message(staff.id, lambda m: "residential deposit" in m.get("text", ""), 15)
    assert phone["text"]

    forgotten = await bot.say(parent, "/forget")
    assert forgotten["text"]


def test_a_database_error_is_logged_without_its_parameters(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """SQLAlchemy's errors quote the statement's parameters in their message unless the engine hides
    them; the log handler leaves every exception's message out anyway."""
    written = io.StringIO()
    configure_logging(logging.DEBUG, stream=written)
    db = database.make_engine(f"sqlite:///{tmp_path}/errors.db")
    try:
        database.migrate(db)
        row = {"id": "p1", "flow": {"summary": DETAILS, "contact_detail": EMAIL}}
        with db.begin() as connection:
            connection.execute(insert(Parent), row)
        with pytest.raises(IntegrityError) as raised, db.begin() as connection:
            connection.execute(insert(Parent), row)
        assert "parameters hidden" in str(raised.value)
        assert hits(str(raised.value)) == []
        try:
            raise RuntimeError(f"while saving {EMAIL}") from raised.value
        except RuntimeError:
            logging.getLogger("bot.storage").exception("Saving parent %s failed", "p1")
    finally:
        db.dispose()
        configure_logging()
    log_text = written.getvalue()
    assert "sqlalchemy.exc.IntegrityError (message withheld)" in log_text
    assert "builtins.RuntimeError (message withheld)" in log_text
    assert hits(log_text) == []
    assert hits(capfd.readouterr().err) == []


# ---- Telegram ids: pseudonyms, never the id (an id finds the person) --------------------------------


async def test_a_case_flow_at_info_logs_no_telegram_id_of_a_person(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    """Parents' and staff members' Telegram ids tie a person to a safeguarding event: the log names
    them by pseudonym only (the same one on every line, so an operator can still follow a case)."""
    written = io.StringIO()
    configure_logging(logging.INFO, stream=written)
    [handler] = logging.getLogger().handlers
    handler.filters.insert(0, NotTheBot())
    try:
        async with running_bot(
            nlu, schools, tmp_path, staff_options=FAST, settings_overrides={"flood_burst": 100}
        ) as bot:
            await _conversations(bot, schools)
            people = [u.id for u in bot.server._users.values()]
    finally:
        configure_logging()
    log_text = written.getvalue()
    member = next(u for u in bot.server._users.values() if u.first_name == "Ms Staff")
    assert pseudonym(member.id) in log_text, "the staff reply is logged, by pseudonym"
    assert [i for i in people if str(i) in log_text] == [], [
        line for line in log_text.splitlines() if any(str(i) in line for i in people)
    ][:5]


def test_a_pseudonym_is_stable_for_one_key_and_differs_for_another(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_pseudonym_key("a key the operator keeps")
    first = pseudonym(5000000001)
    assert re.fullmatch(r"u-[0-9a-f]{12}", first)
    assert pseudonym("5000000001") == first == pseudonym(5000000001)
    expected = hmac.new(b"a key the operator keeps", b"5000000001", hashlib.sha256).hexdigest()[:12]
    assert first == f"u-{expected}"
    assert pseudonym(5000000002) != first

    with caplog.at_level(logging.WARNING, logger="bot.logs"):
        set_pseudonym_key(None)
    assert "pseudonyms change on every restart" in caplog.text
    assert pseudonym(5000000001) != first

    monkeypatch.setenv("LOG_PSEUDONYM_KEY", "a key the operator keeps")
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    try:
        assert main(["pseudonym", "5000000001"]) == 0
    finally:
        configure_logging()
    assert capsys.readouterr().out.strip() == first
