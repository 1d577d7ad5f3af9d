"""Quiet, truthful logs at start (an operator reads them to know all is well): Alembic's lines in full rather
than "<withheld>", no PTBUserWarning from the bot's own start-up, and no third-party deprecation warnings at
the default level (the project's own warnings still show)."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import warnings
from pathlib import Path

from telegram.warnings import PTBUserWarning

from bot.logs import WITHHELD, configure_logging
from bot.nlu.client import BackgroundLoadedNlu, InProcessNlu
from bot.schools import Schools
from bot.storage import database
from devserver import BotApiServer
from tests.telegram_harness import ROOT, TOKEN, eventually, started_application
from tests.test_log_privacy import PERSONAL


def test_a_migration_on_a_fresh_database_logs_its_steps_in_full(tmp_path: Path) -> None:
    """Alembic's records carry the dialect and the revision steps only, so they are written as they are;
    any other library's arguments are still withheld."""
    written = io.StringIO()
    configure_logging(logging.INFO, stream=written)
    db = database.make_engine(f"sqlite:///{tmp_path}/fresh.db")
    try:
        database.migrate(db)
        logging.getLogger("telegram.ext").info("Sending %s", PERSONAL[0])
    finally:
        db.dispose()
        configure_logging()
    lines = written.getvalue().splitlines()
    migration = [line for line in lines if " alembic.runtime.migration: " in line]
    assert any(line.endswith("Context impl SQLiteImpl.") for line in migration), migration
    assert any(line.endswith("transactional DDL.") for line in migration), migration
    steps = [line for line in migration if ": Running upgrade " in line]
    assert steps, migration
    assert "Running upgrade  -> 0001" in steps[0], migration
    assert [line for line in migration if WITHHELD in line] == []
    assert [line.split(" telegram.ext: ")[1] for line in lines if " telegram.ext: " in line] == [
        f"Sending {WITHHELD}"
    ]
    assert [word for word in PERSONAL if word in written.getvalue()] == []


async def test_starting_the_application_with_a_model_loading_raises_no_ptb_warning(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    """The watch on a model loading in the background is a job of the running Application, not a task
    created in post_init before it runs (which PTB warns it will not await); it ends once the load has."""
    loading = BackgroundLoadedNlu(lambda: nlu)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with (
            BotApiServer(token=TOKEN) as server,
            started_application(loading, schools, server, tmp_path / "bot.db", start=None) as (app, _),
        ):
            assert app.job_queue is not None
            jobs = app.job_queue.scheduler
            await loading.ready()
            await eventually(lambda: _no_job(jobs, "nlu-load-watch"), "the watch ended with the load", 10)
    assert [str(w.message) for w in caught if issubclass(w.category, PTBUserWarning)] == []


async def _no_job(scheduler: object, name: str) -> bool:
    return not [job for job in scheduler.get_jobs() if job.name == name]  # type: ignore[attr-defined]


PYTHON_WARNING = re.compile(r"\.py:\d+: \w*Warning: ")
"""A line `warnings` prints: path.py:LINE: CategoryWarning: message."""
START_AS_THE_CLI_DOES = """
from bot.cli.main import main
main({options} + ["pseudonym", "5000000001"])  # the CLI's start: logging and warnings set up, then a command
import rasa.core.agent  # what loading the model imports: TensorFlow, Keras, jax, Sanic, SQLAlchemy 1.x names
own = compile("import warnings; warnings.warn('an own deprecation', DeprecationWarning)", {own!r}, "exec")
exec(own, {{"__name__": "bot.some_module"}})
"""


def _start(*options: str) -> str:
    """stderr of a process that starts as `parentbot [options] ...` does, then imports Rasa."""
    code = START_AS_THE_CLI_DOES.format(options=list(options), own=str(ROOT / "bot" / "some_module.py"))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    return done.stderr


def test_third_party_deprecation_warnings_stay_out_of_the_default_log() -> None:
    """Importing Rasa as the model load does prints no library's deprecation warning at INFO (Sanic resets
    the warnings filters on import, so filters alone would not hold); one from bot/ still shows."""
    stderr = _start()
    assert "an own deprecation" in stderr
    shown = [line for line in stderr.splitlines() if PYTHON_WARNING.search(line) and "an own" not in line]
    assert shown == [], shown


def test_verbose_shows_the_libraries_deprecation_warnings_too() -> None:
    """--verbose is for finding out more: the libraries' deprecation warnings show there."""
    stderr = _start("--verbose")
    assert "an own deprecation" in stderr
    warned = [line for line in stderr.splitlines() if PYTHON_WARNING.search(line)]
    libraries = [line for line in warned if "site-packages" in line]
    assert any("DeprecationWarning: " in line for line in libraries), stderr[-2000:]
