"""The whole product on one machine: the local Bot API server with its web page, and the real bot.

``make demo`` (``python -m devserver.demo``) starts the dev server (devserver/) with the made-up parents and
staff of :data:`DEMO_SCHOOLS`, then the bot's own Telegram Application (bot/telegram/app.py, as
``parentbot run`` builds it) polling that server, on a throwaway SQLite database. The page at the server's
address shows the parents' private chats and the staff groups, and lets a visitor act as any of them; the
bot cannot tell these updates from Telegram's.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from telegram import Update
from telegram.ext import Application

from bot.config import Settings, load_settings
from bot.nlu.client import NluClient
from bot.schools import Schools, load_schools
from bot.services import build_services
from bot.staff import StaffOptions
from bot.telegram.app import build_application
from devserver import BotApiServer, SimChat, SimUser

DEMO_SCHOOLS = Path(__file__).with_name("schools.demo.yml")
TOKEN = "777000:parentbot-demo-token"  # noqa: S105 - a made-up token for a server on loopback
PARENTS = (("Sam", "Taylor"), ("Dee", "Khan"), ("Alex", "Morgan"))
STAFF_NAMES = {
    100000001: ("Priya", "Patel"),
    100000002: ("Tom", "Reid"),
    100000004: ("Ann", "Cole"),
}
"""The names of the staff user ids in DEMO_SCHOOLS (anyone else listed there is left out)."""
SUPERGROUP_PREFIX = "-100"


@dataclass(frozen=True)
class DemoWorld:
    """Who is in the demo: parents in private chats with the bot, staff in their schools' groups."""

    server: BotApiServer
    parents: tuple[SimUser, ...]
    staff: tuple[SimUser, ...]
    groups: tuple[SimChat, ...]


def populate(server: BotApiServer, schools: Schools) -> DemoWorld:
    """The parents, and for each school its staff group (a forum for a -100... id, else a basic group)
    with the bot as an administrator and the school's named staff as members."""
    parents = tuple(server.create_user(first, last_name=last) for first, last in PARENTS)
    staff: list[SimUser] = []
    groups: list[SimChat] = []
    for school in schools.schools:
        named = [user_id for user_id in school.staff_user_ids if user_id in STAFF_NAMES]
        members = [
            server.create_user(STAFF_NAMES[user_id][0], last_name=STAFF_NAMES[user_id][1], user_id=user_id)
            for user_id in named
        ]
        forum = str(school.staff_chat_id).startswith(SUPERGROUP_PREFIX)
        group = server.create_group(
            f"{school.name} staff", members=members, chat_id=school.staff_chat_id, forum=forum
        )
        server.set_bot_status(group.id, "administrator")
        staff += members
        groups.append(group)
    return DemoWorld(server, parents, tuple(staff), tuple(groups))


@asynccontextmanager
async def demo_world(schools: Schools, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[DemoWorld]:
    """The dev server with its page on ``host:port`` (0: any free port), peopled for ``schools``."""
    async with BotApiServer(
        token=TOKEN, host=host, port=port, bot_first_name="Parent Helper", bot_username="parenthelper_bot"
    ) as server:
        yield populate(server, schools)


def demo_settings(server: BotApiServer, database: Path) -> Settings:
    """The bot's settings from the environment (.env too), pointed at the dev server and ``database``;
    nothing of a real deployment (webhook, health port, Rasa server, pseudonym key) is used. A run's
    own pseudonym key: nothing logged by a demo needs finding again after it stops."""
    return load_settings(
        log_pseudonym_key=secrets.token_hex(16),
        telegram_bot_token=TOKEN,
        telegram_base_url=server.base_url,
        database_url=f"sqlite:///{database}",
        webhook_url=None,
        health_port=None,
        rasa_url=None,
    )


@asynccontextmanager
async def demo_bot(
    world: DemoWorld,
    schools: Schools,
    database: Path,
    *,
    nlu: NluClient | None = None,
    staff_options: StaffOptions | None = None,
) -> AsyncIterator[Application]:
    """The bot's Application as ``parentbot run`` builds it, long polling the demo's server, on the SQLite
    file ``database`` (created and migrated), with the model ``make run`` uses (trained first if the data
    changed) unless ``nlu`` is given. Stopped, and the database closed, on the way out."""
    services = build_services(demo_settings(world.server, database), schools, nlu=nlu)
    app = build_application(services, staff_options=staff_options)
    await app.initialize()
    try:
        if app.post_init:  # run_polling calls it; here the parts are started one by one
            await app.post_init(app)
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        await app.start()
        try:
            yield app
        finally:
            if app.updater.running:
                await app.updater.stop()
            await app.stop()
    finally:
        await app.shutdown()
        if app.post_shutdown:
            await app.post_shutdown(app)
        if nlu is None:  # the model loaded here; one given is the caller's to close
            await services.close()
        else:
            await services.close_database()


def demo_schools() -> Schools:
    return load_schools(DEMO_SCHOOLS)
