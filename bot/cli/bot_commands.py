"""The `parentbot` commands that run the bot or check its chats: chat (the console), check and run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import Settings
from bot.schools import Schools, load_schools

EXAMPLE_SCHOOLS = Path("schools.example.yml")
CONSOLE_DATABASE = "sqlite:///parentbot-console.db"


def schools_for_console(settings: Settings) -> Schools:
    if settings.schools_file.exists() or not EXAMPLE_SCHOOLS.exists():
        return load_schools(settings.schools_file)
    print(f"({settings.schools_file} not found: using the made-up schools of {EXAMPLE_SCHOOLS})")
    return load_schools(EXAMPLE_SCHOOLS)


def chat_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.channels.console import ConsoleChat
    from bot.channels.staff_view import ConsoleStaffView
    from bot.services import build_services

    if "database_url" not in settings.__fields_set__:
        # Its own file by default, so cases filed while trying the bot never reach a real staff chat.
        settings = settings.copy(update={"database_url": CONSOLE_DATABASE})
    services = build_services(settings, schools_for_console(settings))
    staff_view = ConsoleStaffView(services.records, services.responses, services.schools, sys.stdout)

    async def chat() -> None:
        try:
            await ConsoleChat(
                services.engine, sys.stdin, sys.stdout, after_turn=staff_view.show_pending
            ).run()
        finally:
            await services.close()

    asyncio.run(chat())
    return 0


def check_command(args: argparse.Namespace, settings: Settings) -> int:
    """The start-up check of the staff chats, run on its own: no database, no model, nothing sent.
    A chat that moved shows as "became supergroup ...", the line to change named."""
    from telegram.error import InvalidToken, TelegramError

    from bot.telegram.app import standalone_bot
    from bot.telegram.staff.chat_checks import chat_problems
    from bot.telegram.staff.failures import telegram_reason

    token = settings.telegram_bot_token
    if token is None:
        print("parentbot check: set TELEGRAM_BOT_TOKEN: the chats are checked as the bot", file=sys.stderr)
        return 2
    schools = load_schools(settings.schools_file)

    async def check() -> list[str]:
        async with standalone_bot(settings) as bot:
            return await chat_problems(bot, schools, {})

    try:
        problems = asyncio.run(check())
    except InvalidToken:  # its message holds the token
        print("parentbot check: the Bot API server refused TELEGRAM_BOT_TOKEN", file=sys.stderr)
        return 2
    except TelegramError as error:
        reason = telegram_reason(error).replace(token.get_secret_value(), "***")
        print(f"parentbot check: the Bot API server cannot be reached ({reason})", file=sys.stderr)
        return 2
    for line in problems:
        print(line)
    for line in complaints_notes(schools):
        print(line, file=sys.stderr)
    if problems:
        return 1
    count = len(schools.configured_chats())
    print(f"All {count} chats OK" if count != 1 else "The one chat is OK")
    return 0


def complaints_notes(schools: Schools) -> list[str]:
    """A warning, not a failure: with no complaints chat, a complaint about the head teacher reaches the
    school's own staff chat (its card says so), where the trust's complaints procedure says it must not."""
    from bot.staff.routing import unrouted_schools

    unrouted = unrouted_schools(schools)
    if not unrouted:
        return []
    return [
        f"No complaints_chat_id for {'schools' if len(unrouted) > 1 else 'school'} {', '.join(unrouted)} "
        "nor for the trust: complaints about the "
        "head teacher go to the school's staff chat, marked so on the card (set trust complaints_chat_id, "
        "or each school's, to the chair of governors' or the trust's complaints group)"
    ]


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    if settings.telegram_bot_token is None:
        print("TELEGRAM_BOT_TOKEN is not set: starting the console chat instead.")
        return chat_command(args, settings)
    from bot.services import build_services
    from bot.telegram.runner import run

    schools = load_schools(settings.schools_file)
    services = build_services(settings, schools, background_nlu=True)
    try:
        run(services)
    finally:
        asyncio.run(services.close())
    return 0
