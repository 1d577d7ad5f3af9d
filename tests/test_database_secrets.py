"""DATABASE_URL's password never reaches an error or a log line, and the SQLite file is the bot's user's
alone (a URL without a scheme once printed its password, and the file was once world-readable)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli.main import main
from bot.config import ConfigError
from bot.logs import configure_logging
from bot.storage.database import make_engine, migrate, redacted

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """main() points the log at the test's captured stderr: back to the usual set-up afterwards."""
    yield
    configure_logging()


PASSWORD = "Tr0ub4dor-and-3"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgres:{PASSWORD}@db.internal/parentbot", "postgres:***@db.internal/parentbot"),
        (f"bot:{PASSWORD}@db.internal", "bot:***@db.internal"),
        (f"postgresql://bot:{PASSWORD}@db.internal:5432/pb", "postgresql://bot:***@db.internal:5432/pb"),
        (f"postgresql://bot:{PASSWORD}@x@db.internal/pb", "postgresql://bot:***@db.internal/pb"),
        (
            f"postgresql://db.internal/pb?user=bot&password={PASSWORD}",
            "postgresql://db.internal/pb?user=bot&password=***",
        ),
        ("sqlite:///parentbot.db", "sqlite:///parentbot.db"),
        ("postgresql://bot@db.internal/pb", "postgresql://bot@db.internal/pb"),
    ],
)
def test_redacted_hides_the_password_of_any_url(url: str, shown: str) -> None:
    assert redacted(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        f"postgres:{PASSWORD}@db.internal/parentbot",
        f"bot:{PASSWORD}@db.internal",
        f"postgresql://bot:{PASSWORD}@h:port/db",
    ],
)
def test_a_bad_database_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        make_engine(url)
    message = str(refused.value)
    assert message.startswith("DATABASE_URL: ")
    assert "***" in message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    "url", [f"postgres:{PASSWORD}@db.internal/parentbot", f"postgresql://bot:{PASSWORD}@127.0.0.1:1/pb"]
)
def test_parentbot_says_what_is_wrong_without_the_password(
    url: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Through the command line: its one-line error, and everything it logs on the way, at DEBUG."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PROJECT_DIR", str(ROOT))
    assert main(["--verbose", "purge"]) == 2
    captured = capfd.readouterr()
    assert "parentbot: DATABASE_URL: " in captured.err
    assert PASSWORD not in captured.out + captured.err


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The usual umask (022), under which SQLite creates files readable by every user."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("usual_umask")
def test_the_sqlite_file_and_its_wal_files_are_created_0600(tmp_path: Path) -> None:
    path = tmp_path / "parentbot.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert _mode(path) == 0o600, "created before SQLite writes any data"
        assert path.stat().st_size == 0
        migrate(engine)
        with engine.begin() as connection:  # open: SQLite keeps its -wal and -shm files meanwhile
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            made = sorted(p.name for p in tmp_path.iterdir())
            assert {"parentbot.db-wal", "parentbot.db-shm"} <= set(made)
            assert {name: _mode(tmp_path / name) for name in made} == dict.fromkeys(made, 0o600)
    finally:
        engine.dispose()


@pytest.mark.usefixtures("usual_umask")
def test_an_existing_readable_sqlite_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert [r.getMessage() for r in caplog.records if "chmod 600" in r.getMessage()] == [
        f"The SQLite file {path} may be read by other users of this machine: chmod 600 it"
    ]
