"""Storage on SQLite and PostgreSQL: migrations match the models, parent state survives a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from bot.config import ConfigError
from bot.dialogue.state import ParentState, Pending
from bot.domain import FlowName, FlowState, Step
from bot.storage.database import alembic_config, make_engine, migrate, session_factory
from bot.storage.models import Base
from bot.storage.parents import SqlStateStore
from tests.databases import database_url

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def test_migrations_build_exactly_the_schema_of_the_models(db: Engine) -> None:
    with db.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


async def test_migrating_twice_is_harmless(db: Engine) -> None:
    await SqlStateStore(session_factory(db)).save("3", ParentState(school_id="oakfield"))
    migrate(db)
    with db.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert (
            context.get_current_revision()
            == ScriptDirectory.from_config(alembic_config(db)).get_current_head()
        )
    assert (await SqlStateStore(session_factory(db)).load("3")).school_id == "oakfield"


async def test_parent_state_is_saved_and_read_back_by_a_new_store(db: Engine) -> None:
    await SqlStateStore(session_factory(db)).save(
        "42", ParentState(school_id="riverside", fallback_streak=1, pending=Pending.HANDOFF_OFFER)
    )
    restarted = SqlStateStore(session_factory(db))
    assert await restarted.load("42") == ParentState("riverside", 1, Pending.HANDOFF_OFFER)
    assert await restarted.load("unknown") == ParentState()


async def test_forget_removes_only_that_parent(db: Engine) -> None:
    store = SqlStateStore(session_factory(db))
    await store.save("1", ParentState(school_id="oakfield"))
    await store.save("2", ParentState(school_id="hollybrook"))
    await store.forget("1")
    assert await store.load("1") == ParentState()
    assert (await store.load("2")).school_id == "hollybrook"


async def test_a_blocked_parent_is_marked_until_they_write_again(db: Engine) -> None:
    store = SqlStateStore(session_factory(db))
    await store.save("7", ParentState(school_id="oakfield"))
    await store.mark_blocked("7")
    assert await store.is_blocked("7")
    assert (await store.load("7")).school_id == "oakfield"
    await store.save("7", await store.load("7"))
    assert not await store.is_blocked("7")


def test_a_bad_database_url_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        make_engine("not a url at all")


async def test_saving_again_updates_the_one_row_and_its_time(db: Engine) -> None:
    times = iter([NOW, NOW + timedelta(seconds=1)])
    store = SqlStateStore(session_factory(db), clock=lambda: next(times))
    await store.save("9", ParentState(school_id="oakfield"))
    with db.connect() as connection:
        first = connection.execute(text("SELECT updated_at FROM parents WHERE id = '9'")).scalar_one()
    flow = FlowState(FlowName.COMPLAINT, Step.DESCRIBE, NOW, NOW, "riverside", photos=("file-1",))
    await store.save("9", ParentState(school_id="riverside", fallback_streak=2, flow=flow))
    with db.connect() as connection:
        rows = connection.execute(text("SELECT school_id, updated_at FROM parents WHERE id = '9'")).all()
    assert len(rows) == 1
    assert rows[0].school_id == "riverside"
    assert rows[0].updated_at > first
    assert await store.load("9") == ParentState("riverside", 2, None, flow)


def test_a_database_other_than_sqlite_or_postgresql_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL: mysql is not supported"):
        make_engine("mysql://root@127.0.0.1/test")


async def test_the_stores_engine_runs_each_statement_in_one_hop_and_keeps_the_drivers_errors(
    db: Engine,
) -> None:
    """bot/storage/sqlite_driver.py on SQLite (psycopg's async driver on PostgreSQL): rows, counts and
    the driver's errors come through as from the stock aiosqlite dialect."""
    from sqlalchemy.exc import IntegrityError

    from bot.storage import sqlite_driver
    from bot.storage.database import as_sessions, async_engine

    engine = async_engine(db)
    if db.dialect.name == "sqlite":
        assert engine.dialect.driver == sqlite_driver.NAME
    sessions = as_sessions(engine)
    try:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO parents (id) VALUES ('a'), ('b')"))
            changed = await session.execute(text("UPDATE parents SET school_id = 'oakfield'"))
            assert changed.rowcount == 2  # type: ignore[attr-defined]
            rows = await session.execute(text("SELECT id FROM parents ORDER BY id"))
            assert rows.scalars().all() == ["a", "b"]
        with pytest.raises(IntegrityError):
            async with sessions.begin() as session:
                await session.execute(text("INSERT INTO parents (id) VALUES ('a')"))
    finally:
        await engine.dispose()
