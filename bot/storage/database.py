"""Creating the database engine and bringing the schema up to date with Alembic."""

from __future__ import annotations

import logging
import os
import re
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeAlias
from weakref import WeakKeyDictionary

from sqlalchemy import URL, Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from bot.config import ConfigError

log = logging.getLogger(__name__)

SUPPORTED = ("sqlite", "postgresql")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HIDDEN = "***"
_PASSWORD_PARAMETER = re.compile(r"((?:^|[?&;\s])password=)[^&;\s]*", re.IGNORECASE)
PRIVATE_FILE = 0o600
"""The SQLite file holds parents' messages and cases: only the bot's own user may read it."""


def redacted(url: str) -> str:
    """The URL with its password shown as ***, for every log line and error that names DATABASE_URL.

    Written by hand rather than with SQLAlchemy's URL: a URL SQLAlchemy cannot parse, such as one without
    a scheme (`postgres:secret@host/db`, `user:pw@host`), is exactly the one an error message quotes. The
    password is everything between the first ':' of the user part and the last '@' (a password may hold
    '@' or '/'), and any `password=` query parameter (libpq accepts one)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        rest = f"{user}{':' + HIDDEN if colon else ''}@{host}"
    hidden = f"{scheme}{separator}{rest}"
    return _PASSWORD_PARAMETER.sub(lambda match: match.group(1) + HIDDEN, hidden)


def without_password(text: str, url: str) -> str:
    """The text (a driver's error message, say) with the URL's password, if it quotes it, hidden."""
    password = _password_of(url)
    return text.replace(password, HIDDEN) if password else text


def _password_of(url: str) -> str:
    rest = url.partition("://")[2] or url
    userinfo, at, _host = rest.rpartition("@")
    return userinfo.partition(":")[2] if at else ""


def normalise_url(url: str) -> str:
    """postgres:// and postgresql:// URLs use psycopg 3, the driver this project installs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


Sessions: TypeAlias = async_sessionmaker[AsyncSession]
"""What every store of bot/storage works on: asynchronous sessions (SQLAlchemy's asyncio extension)."""


def make_engine(url: str) -> Engine:
    """The synchronous engine of DATABASE_URL: for the migrations (Alembic), the start-up checks and
    operators' tools; the bot's stores use `async_engine` of it. hide_parameters: SQLAlchemy puts bound
    parameters (message text, contact details) in its errors' str() and its echo; with it, they read
    "[SQL parameters hidden]"."""
    try:
        parsed = make_url(normalise_url(url))
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"DATABASE_URL: {redacted(url)!r} is not a database URL (e.g. postgresql://user:password@host/db)"
        ) from None
    if parsed.get_backend_name() not in SUPPORTED:
        raise ConfigError(
            f"DATABASE_URL: {parsed.get_backend_name()} is not supported (SQLite or PostgreSQL)"
        )
    if parsed.get_backend_name() == "sqlite":
        create_private_file(parsed.database)
        engine = create_engine(parsed, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)


@contextmanager
def scratch_schema(postgres_url: str, prefix: str = "scratch") -> Iterator[str]:
    """A URL for `postgres_url` whose search_path is a brand-new schema, dropped on exit with everything in
    it (tests and benchmarks never share tables). The admin engine opens a new connection for each step,
    so the drop still works after the server was restarted meanwhile."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(postgres_url), poolclass=NullPool, hide_parameters=True)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def create_private_file(database: str | None) -> None:
    """Create a new SQLite file empty with mode 0600 before SQLite opens it (SQLite would create it with
    0644 under the usual umask, readable by every user of the machine); SQLite then gives its -wal, -shm
    and -journal files the main file's mode. An existing file is left as it is, with a warning when other
    users may read it. In-memory databases and URI file names (file:...) are not files made here."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        _warn_if_readable(Path(database))
    except OSError:
        return  # a missing folder or no right to write: SQLite's own error says so when it connects


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("The SQLite file %s may be read by other users of this machine: chmod 600 it", path)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Synchronous sessions, for tools and tests that look into the database; the stores take `sessions`."""
    return sessionmaker(engine, expire_on_commit=False)


def async_engine(engine: Engine, *, pooled: bool = True) -> AsyncEngine:
    """The asynchronous engine of the same database: aiosqlite for SQLite (each connection is a thread of
    aiosqlite's own, so a query never takes one of the event loop's executor threads; one hop to it per
    statement, bot/storage/sqlite_driver.py), psycopg's async
    driver for PostgreSQL. Without `pooled`, every session opens its own connection and closes it after,
    so nothing outlives the event loop it was made on (tests and one-off commands run several loops)."""
    url: URL = engine.url
    options: dict[str, Any] = {"hide_parameters": True}
    if not pooled:
        options["poolclass"] = NullPool
    if engine.dialect.name == "sqlite":
        from bot.storage import sqlite_driver

        made = create_async_engine(
            url.set(drivername=f"sqlite+{sqlite_driver.NAME}"), connect_args={"timeout": 30}, **options
        )
        event.listen(made.sync_engine, "connect", _sqlite_pragmas)
        return made
    return create_async_engine(url, pool_pre_ping=pooled, **options)


SessionSource: TypeAlias = "Engine | AsyncEngine | sessionmaker[Session] | Sessions"
_UNPOOLED: WeakKeyDictionary[Engine, AsyncEngine] = WeakKeyDictionary()


def as_sessions(source: SessionSource) -> Sessions:
    """Asynchronous sessions on `source`: an AsyncEngine or its sessions as they are; a synchronous
    engine or sessions (tests and tools, which also look into the database directly) through one
    unpooled async engine per synchronous one."""
    if isinstance(source, async_sessionmaker):
        return source
    if isinstance(source, sessionmaker):
        bind = source.kw.get("bind")
        if not isinstance(bind, Engine):
            raise TypeError("as_sessions() needs sessions bound to an engine")
        source = bind
    if isinstance(source, Engine):
        if source not in _UNPOOLED:
            _UNPOOLED[source] = async_engine(source, pooled=False)
        source = _UNPOOLED[source]
    return async_sessionmaker(source, expire_on_commit=False)


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Apply every migration not yet applied (`alembic upgrade head`), each in one transaction, on SQLite
    too: a full disk or a crash half way through leaves the schema as the last complete migration left it."""
    from alembic import command

    target = _transactional_sqlite(engine)
    try:
        command.upgrade(alembic_config(target), "head")
    finally:
        if target is not engine:
            target.dispose()


def check_writable(engine: Engine) -> None:
    """A write that changes nothing, rolled back: a read-only database (file, folder, mount or
    PostgreSQL role) fails here, at start-up, rather than on a parent's first message."""
    with engine.connect() as connection, connection.begin() as transaction:
        connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
        transaction.rollback()


def _transactional_sqlite(engine: Engine) -> Engine:
    """For migrations: pysqlite runs DDL outside any transaction (each CREATE TABLE commits on its own),
    so this engine lets SQLAlchemy's BEGIN and COMMIT be the real ones (SQLAlchemy's documented recipe
    for pysqlite). Other databases, and in-memory SQLite, use the engine as it is."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    dedicated = create_engine(
        engine.url, connect_args={"timeout": 30}, poolclass=NullPool, hide_parameters=True
    )
    event.listen(dedicated, "connect", _sqlite_pragmas)
    event.listen(dedicated, "connect", _no_implicit_transactions)
    event.listen(dedicated, "begin", _begin)
    return dedicated


def _no_implicit_transactions(connection: Any, _record: Any) -> None:
    connection.isolation_level = None


def _begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")
