"""Shared fixtures: one real NLU model per test session, trained from the project's own data.

The model is cached in models/ under a fingerprint of the training data, so a second run with
unchanged data trains nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.notice import notice_variables
from bot.dialogue.responses import ResponseBook
from bot.logs import configure_logging
from bot.nlu.client import InProcessNlu, NluClient
from bot.nlu.model import ProjectPaths, ensure_model
from bot.safeguarding.gate import DangerGate
from bot.schools import Schools, StaffedHours, load_schools
from bot.storage import database
from bot.storage.cases import CaseStore
from bot.storage.parents import SqlStateStore
from bot.storage.records import Records
from bot.storage.turns import Turns
from tests.databases import database_url

ROOT = Path(__file__).resolve().parent.parent


MARKERS = {
    "slow": "uses the trained NLU model (trains it first when the data changed)",
    "e2e": "runs python-telegram-bot against the local Bot API server (devserver/)",
    "postgres": "needs the PostgreSQL server (skips, saying so, when it does not answer)",
    "subprocess": "starts other processes (the bot, a Rasa server, the CLI)",
}
"""Every test gets its markers from what it uses (below), so a new test is sorted without anyone
remembering to mark it; `make test-fast` runs the tests with none of them."""


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    if not _is_xdist_controller(config):
        _import_rasa_first()


def _is_xdist_controller(config: pytest.Config) -> bool:
    """The process that hands tests to pytest-xdist's workers runs none itself."""
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", None))


def _import_rasa_first() -> None:
    """Importing Rasa installs uvloop's event loop policy (through Sanic), as it does in the bot's own
    process. Imported here, before any test module and any test's event loop, every test runs on that
    policy whatever order the files run in; imported later, by the first test that loads the model, the
    session's asyncio loop would meet uvloop's policy, which has no child watcher, and every subprocess
    started after it would fail. (Not in xdist's controller: it runs no test, and Rasa takes 10 s
    to import.)"""
    import rasa.core.agent  # noqa: F401


POSTGRES_GROUP = "postgresql"
"""`make test` runs the suite on several workers (pytest-xdist, --dist loadgroup); every PostgreSQL test
goes to one worker, one after another, because a fault test stops and restarts the server under them."""

MODEL_FIXTURES = frozenset({"model_path", "nlu", "engine", "make_engine"})
"""Fixtures that load the trained model (make_engine takes it unless given another NLU client)."""


def _uses(module: object, *prefixes: str) -> bool:
    """Whether the test module imported a module, or a name from a module, starting with `prefixes`."""
    return any(
        str(getattr(value, "__module__", None) or "").startswith(prefixes)
        or str(getattr(value, "__name__", "")).startswith(prefixes)
        for value in vars(module).values()
    )


@functools.cache
def _starts_processes(module: object) -> bool:
    import inspect

    source = inspect.getsource(module)  # type: ignore[arg-type]
    return _uses(module, "subprocess", "benchmarks") or "create_subprocess" in source


def _opens_postgres(item: pytest.Item) -> bool:
    """A test that makes its own PostgreSQL schema (not through a parametrised fixture)."""
    import inspect

    function = getattr(item, "function", None)
    return function is not None and "fresh_postgres_schema(" in inspect.getsource(function)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the xdist_group markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        module = getattr(item, "module", None)
        if fixtures & MODEL_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if module is not None and _uses(module, "devserver", "tests.telegram_harness"):
            item.add_marker(pytest.mark.e2e)
        if "postgres" in item.name.lower() or "postgres" in " ".join(fixtures) or _opens_postgres(item):
            item.add_marker(pytest.mark.postgres)
            item.add_marker(pytest.mark.xdist_group(POSTGRES_GROUP))
        if module is not None and _starts_processes(module):
            item.add_marker(pytest.mark.subprocess)


@pytest.fixture(scope="session")
def paths() -> ProjectPaths:
    return ProjectPaths(ROOT)


@pytest.fixture(scope="session")
def model_path(paths: ProjectPaths) -> Path:
    configure_logging()
    return ensure_model(paths)


@pytest.fixture(scope="session")
def nlu(model_path: Path) -> InProcessNlu:
    return InProcessNlu.load(model_path)


@pytest.fixture(scope="session")
def schools() -> Schools:
    """The example schools, staffed at every hour: what the bot says outside staffed hours has tests of
    its own (tests/test_out_of_hours.py), and no other test may depend on the time it runs at. Every
    member of their chats counts as staff (allow_all_members), so the users a test makes up may act;
    tests about who may act name their staff (tests/test_staff_e2e.py)."""
    example = load_schools(ROOT / "schools.example.yml")
    everyone = {"staff_user_ids": [], "allow_all_members": True}
    staffed = [
        school.copy(update={"staffed_hours": StaffedHours(always=True), **everyone})
        for school in example.schools
    ]
    return example.copy(update={"schools": staffed, "trust": example.trust.copy(update=everyone)})


@pytest.fixture(scope="session")
def responses(paths: ProjectPaths, schools: Schools) -> ResponseBook:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    return ResponseBook.from_domain(paths.domain, notice_variables(settings, schools.trust))


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A fresh, migrated SQLite database for one test."""
    db = database.make_engine(f"sqlite:///{tmp_path}/engine.db")
    database.migrate(db)
    yield database.session_factory(db)
    db.dispose()


@pytest.fixture
def cases(sessions: sessionmaker[Session]) -> CaseStore:
    return CaseStore(sessions)


class MakeEngine(Protocol):
    def __call__(self, nlu: NluClient | None = None) -> DialogueEngine: ...


@pytest.fixture
def records(sessions: sessionmaker[Session]) -> Records:
    return Records.on(sessions)


@pytest.fixture
def make_engine(
    request: pytest.FixtureRequest, responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> MakeEngine:
    """An engine on a real database and the real model (or the `nlu` given, e.g. one still loading: then
    the model is not loaded at all); each call is a "restarted" engine, same data."""

    def make(nlu: NluClient | None = None) -> DialogueEngine:
        return DialogueEngine(
            nlu=nlu if nlu is not None else request.getfixturevalue("nlu"),
            responses=responses,
            schools=schools,
            store=SqlStateStore(sessions),
            records=Records.on(sessions),
            gate=DangerGate(),
            turns=Turns(sessions),
        )

    return make


@pytest.fixture
def engine(make_engine: MakeEngine) -> DialogueEngine:
    return make_engine()


@pytest.fixture(params=["sqlite", "postgresql"])
def two_processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[sessionmaker[Session]]]:
    """Two engines (two pools, as two bot processes would have) on one fresh database."""
    with database_url(request.param, tmp_path) as url:
        engines = [database.make_engine(url) for _ in range(2)]
        database.migrate(engines[0])
        yield [database.session_factory(engine) for engine in engines]
        for engine in engines:
            engine.dispose()
