"""Alembic environment: the engine comes from the caller (bot.storage.database.migrate), or, for the
`alembic` command line, from `-x url=...` or else the bot's own DATABASE_URL (environment and `.env`)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Engine, create_engine, pool

from bot.config import Settings
from bot.storage.database import normalise_url
from bot.storage.models import Base

config = context.config
target_metadata = Base.metadata


def command_line_engine() -> Engine:
    """The database `alembic upgrade` or `alembic downgrade` works on: the one the bot would open when
    run from the same folder, so a downgrade before going back to an older release cannot miss it. SQLite
    keeps its default of no foreign-key enforcement here: a downgrade that rebuilds a table (batch mode)
    would otherwise cascade the drop of the old table to the rows that refer to it."""
    url = context.get_x_argument(as_dictionary=True).get("url") or Settings().database_url
    return create_engine(normalise_url(url), poolclass=pool.NullPool, hide_parameters=True)


def run_migrations() -> None:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)  # the command line's own log lines (alembic.ini)
    engine = config.attributes.get("engine") or command_line_engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations()
