"""`parentbot check`, the real command line in its own process, against the local Bot API server: the
start-up check of every chat the schools file names, one line per problem and a non-zero exit status when
there is any, never the token."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.schools import Schools
from devserver import BotApiServer
from tests.telegram_harness import ROOT, TOKEN
from tests.test_staff_e2e import TRUST_SAFEGUARDING_CHAT, staff_schools

SCHOOL_CHATS = {
    "oakfield": -1001000000001,
    "st-aidans": -1001000000002,
    "riverside": -1001000000003,
    "hollybrook": -1001000000004,
}
"""The staff_chat_id of each school in schools.example.yml."""


@dataclass(frozen=True)
class Checked:
    status: int
    out: str
    err: str


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    async with BotApiServer(token=TOKEN) as running:
        yield running


@pytest.fixture
def configured(schools: Schools) -> Schools:
    """The example schools and the trust's safeguarding chat: five chats."""
    return staff_schools(schools)


async def parentbot_check(tmp_path: Path, schools: Schools, **env: str) -> Checked:
    """`python -m bot.cli check` in tmp_path (no .env there), with only the settings given in `env`."""
    schools_file = tmp_path / "schools.yml"
    schools_file.write_text(schools.json(by_alias=True), encoding="utf-8")  # JSON is YAML too
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "check",
        cwd=tmp_path,
        env={**inherited, "PYTHONPATH": str(ROOT), "SCHOOLS_FILE": str(schools_file), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return Checked(process.returncode, out.decode(), err.decode())


def oakfield_chat(schools: Schools, chat_id: int) -> Schools:
    listed = [s.copy(update={"staff_chat_id": chat_id}) if s.id == "oakfield" else s for s in schools.schools]
    return Schools(trust=schools.trust, schools=listed)


def against(server: BotApiServer, token: str = TOKEN) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_BASE_URL": server.base_url}


def create_every_chat(server: BotApiServer) -> None:
    for school_id, chat_id in SCHOOL_CHATS.items():
        server.create_group(f"{school_id} staff", chat_id=chat_id)
    server.create_group("Trust safeguarding", chat_id=TRUST_SAFEGUARDING_CHAT, forum=True)
    server.set_bot_status(TRUST_SAFEGUARDING_CHAT, "administrator")  # topics need an administrator


async def test_check_with_every_chat_right_says_so_and_exits_0(
    server: BotApiServer, configured: Schools, tmp_path: Path
) -> None:
    create_every_chat(server)

    checked = await parentbot_check(tmp_path, configured, **against(server))

    assert (checked.status, checked.out) == (0, "All 5 chats OK\n"), checked.err[-2000:]
    assert TOKEN not in checked.out + checked.err
    asked = {call.chat_id for call in server.calls_to("getChatMember")}
    assert asked == {*SCHOOL_CHATS.values(), TRUST_SAFEGUARDING_CHAT}
    assert server.calls_to("sendMessage") == [], "a check sends nothing"
    assert not (tmp_path / "parentbot.db").exists(), "nor opens a database"


async def test_check_names_each_problem_on_its_own_line_and_exits_1(
    server: BotApiServer, configured: Schools, tmp_path: Path
) -> None:
    create_every_chat(server)
    server.set_bot_status(SCHOOL_CHATS["st-aidans"], "kicked")
    server.set_bot_status(SCHOOL_CHATS["riverside"], "restricted", can_send_messages=False)
    server.set_bot_status(SCHOOL_CHATS["hollybrook"], "member", can_pin_messages=False)
    server.set_bot_status(TRUST_SAFEGUARDING_CHAT, "administrator", can_manage_topics=False)
    missing = oakfield_chat(configured, -1001000000042)  # its id mistyped: no such chat

    checked = await parentbot_check(tmp_path, missing, **against(server))

    assert checked.status == 1, checked.err[-2000:]
    assert checked.out.splitlines() == [
        "Chat -1001000000042 (school oakfield staff_chat_id): cannot be reached (BadRequest: Chat not found)",
        "Chat -1001000000002 (school st-aidans staff_chat_id): cannot be reached "
        "(Forbidden: bot was kicked from the group chat)",
        "Chat -1001000000003 (school riverside staff_chat_id): the bot cannot post messages",
        "Chat -1001000000004 (school hollybrook staff_chat_id): the bot cannot pin messages "
        "(urgent cards are pinned)",
        f"Chat {TRUST_SAFEGUARDING_CHAT} (trust safeguarding_chat_id): the bot cannot manage topics "
        "(each case gets its own topic in this chat)",
    ]
    assert TOKEN not in checked.out + checked.err


async def test_check_names_a_chat_that_became_a_supergroup_and_the_setting_to_change(
    server: BotApiServer, configured: Schools, tmp_path: Path
) -> None:
    create_every_chat(server)
    basic = server.create_group("Oakfield staff")
    moved = oakfield_chat(configured, basic.id)
    supergroup = server.migrate_group(basic.id)

    checked = await parentbot_check(tmp_path, moved, **against(server))

    assert checked.status == 1, checked.err[-2000:]
    assert checked.out.splitlines() == [
        f"Chat {basic.id} (school oakfield staff_chat_id): became supergroup {supergroup.id}: "
        f"set staff_chat_id to {supergroup.id}"
    ]


async def test_check_without_a_token_says_so_in_one_line_and_exits_2(
    configured: Schools, tmp_path: Path
) -> None:
    checked = await parentbot_check(tmp_path, configured)

    assert checked.status == 2
    assert checked.out == ""
    assert checked.err == "parentbot check: set TELEGRAM_BOT_TOKEN: the chats are checked as the bot\n"


async def test_a_token_the_server_refuses_is_named_but_never_shown(
    server: BotApiServer, configured: Schools, tmp_path: Path
) -> None:
    wrong = "424242:not-this-bots-token"

    checked = await parentbot_check(tmp_path, configured, **against(server, wrong))

    assert checked.status == 2
    assert checked.err.splitlines()[-1] == "parentbot check: the Bot API server refused TELEGRAM_BOT_TOKEN"
    assert wrong not in checked.out + checked.err
    assert "not-this-bots-token" not in checked.out + checked.err
