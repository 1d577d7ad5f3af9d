"""Database URLs for tests: a fresh SQLite file, and PostgreSQL when one answers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.database import make_engine, migrate, redacted, scratch_schema, session_factory

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)


def postgres_available() -> bool:
    try:
        engine = create_engine(postgres_admin_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError:
        return False
    return True


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """A URL whose search_path is a brand-new schema, dropped afterwards: tests never share tables."""
    if not postgres_available():
        pytest.skip(f"PostgreSQL does not answer at {redacted(postgres_admin_url())} (set TEST_DATABASE_URL)")
    with scratch_schema(postgres_admin_url(), prefix="t") as url:
        yield url


@contextmanager
def database_url(kind: str, tmp_path: os.PathLike[str]) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{os.fspath(tmp_path)}/parentbot-test.db"
    else:
        with fresh_postgres_schema() as url:
            yield url


@contextmanager
def migrated_sessions(kind: str, tmp_path: os.PathLike[str]) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh, migrated database of this kind ("sqlite" or "postgresql")."""
    with database_url(kind, tmp_path) as url:
        db = make_engine(url)
        migrate(db)
        yield session_factory(db)
        db.dispose()
