"""Building the parts every channel shares: database, NLU, answers, the dialogue engine."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import Clock, utcnow
from bot.config import ConfigError, Settings
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.notice import notice_variables
from bot.dialogue.responses import ResponseBook
from bot.logs import set_pseudonym_key
from bot.nlu.client import BackgroundLoadedNlu, HttpNlu, InProcessNlu, NluClient
from bot.nlu.model import ProjectPaths, ensure_model
from bot.safeguarding.detector import default_detector
from bot.safeguarding.gate import DangerGate
from bot.schools import Schools
from bot.staff.routing import CardRouting
from bot.storage.database import (
    Sessions,
    as_sessions,
    async_engine,
    check_writable,
    make_engine,
    migrate,
    redacted,
    without_password,
)
from bot.storage.parents import SqlStateStore
from bot.storage.records import Records
from bot.storage.retention import PurgeCounts, Retention
from bot.storage.turns import Turns

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    schools: Schools
    db: Engine
    store: SqlStateStore
    records: Records
    nlu: NluClient
    responses: ResponseBook
    engine: DialogueEngine
    sessions: Sessions
    """The stores' asynchronous sessions (a pooled engine of `db`'s database, closed by close())."""
    turns: Turns
    clock: Clock = utcnow
    """The one clock of the stores, the dialogue engine and the staff side (tests set the time with it)."""

    async def purge(self) -> PurgeCounts:
        """The retention purge with this configuration (the hourly job): nothing is kept past the period
        the privacy notice states."""
        return await purge(self.records.retention, self.settings)

    async def close(self) -> None:
        await self.nlu.close()
        await self.close_database()

    async def close_database(self) -> None:
        """Close the pooled connections (aiosqlite's are threads, which would keep the process alive)."""
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            await bind.dispose()
        self.db.dispose()


async def purge(retention: Retention, settings: Settings) -> PurgeCounts:
    """The retention purge with every period the settings give (the hourly job and `parentbot purge`):
    nothing is kept past the period the privacy notice states."""
    return await retention.purge(
        timedelta(hours=settings.message_retention_hours),
        timedelta(days=settings.case_retention_days),
        timedelta(days=settings.unresolved_case_retention_days),
        flow_timeout=timedelta(minutes=settings.flow_timeout_minutes),
        relay_timeout=timedelta(hours=settings.relay_timeout_hours),
        profile_retention=timedelta(days=settings.profile_retention_days),
        audit_retention=timedelta(days=settings.audit_retention_days),
    )


def resolve_model(settings: Settings) -> Path:
    """RASA_MODEL when set; otherwise the model of the current data, trained first if needed."""
    if settings.rasa_model is not None:
        if not settings.rasa_model.is_file():
            raise ConfigError(f"RASA_MODEL: {settings.rasa_model} is not a file")
        return settings.rasa_model
    return ensure_model(ProjectPaths(settings.project_dir.resolve()))


def load_nlu(settings: Settings, *, background: bool = False) -> NluClient:
    """The NLU client of the settings. With `background`, an in-process model is loaded on a thread
    (BackgroundLoadedNlu) after it has been found or trained here."""
    if settings.rasa_url:
        # a token or password written into the URL itself is not logged
        log.info("NLU: Rasa server at %s", redacted(settings.rasa_url).partition("?")[0])
        token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
        return HttpNlu(settings.rasa_url, token=token)
    model = resolve_model(settings)
    if background:
        log.info("Loading NLU model %s in the background", model.name)
        return BackgroundLoadedNlu(lambda: _load_model(model))
    return _load_model(model)


def _load_model(model: Path) -> InProcessNlu:
    try:
        nlu = InProcessNlu.load(model)
    except Exception as error:
        raise ConfigError(f"RASA_MODEL: {model} could not be loaded ({type(error).__name__})") from error
    log.info("NLU model %s loaded in %.1f s", model.name, nlu.load_seconds)
    freeze_long_lived_objects()
    return nlu


def freeze_long_lived_objects() -> None:
    """Keep what start-up built out of the garbage collector's sight.

    Rasa, TensorFlow and the model leave about 550,000 Python objects that live as long as the process;
    every full collection would scan them all, about 250 ms on these machines, during which no parent is
    answered (it showed as the p95 and p99 of `make bench`). Frozen, a full collection takes about 1 ms.
    """
    gc.collect()
    gc.freeze()


def open_database(settings: Settings) -> Engine:
    db = make_engine(settings.database_url)
    try:
        migrate(db)
    except SQLAlchemyError as error:
        db.dispose()
        reason = without_password(_reason(error), settings.database_url)
        raise ConfigError(f"DATABASE_URL: cannot open or migrate the database ({reason})") from error
    try:
        check_writable(db)  # a read-only database stops the bot here, not at a parent's first message
    except SQLAlchemyError as error:
        db.dispose()
        reason = without_password(_reason(error), settings.database_url)
        raise ConfigError(f"DATABASE_URL: cannot write to the database ({reason})") from error
    return db


def _reason(error: SQLAlchemyError) -> str:
    """The error in one line (the driver's message may run over several)."""
    lines = str(error.args[0] if error.args else error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def build_services(
    settings: Settings,
    schools: Schools,
    nlu: NluClient | None = None,
    *,
    background_nlu: bool = False,
    clock: Clock = utcnow,
) -> Services:
    default_detector()  # the danger data is read now: a broken dangers.yml stops the bot here
    key = settings.log_pseudonym_key
    set_pseudonym_key(key.get_secret_value() if key is not None else None)
    db = open_database(settings)
    sessions = as_sessions(async_engine(db))
    store = SqlStateStore(sessions, clock)
    records = Records.on(sessions, CardRouting(schools), clock)
    nlu = nlu or load_nlu(settings, background=background_nlu)
    responses = ResponseBook.from_domain(
        ProjectPaths(settings.project_dir.resolve()).domain, notice_variables(settings, schools.trust)
    )
    engine = DialogueEngine(
        nlu=nlu,
        responses=responses,
        schools=schools,
        store=store,
        records=records,
        gate=DangerGate(default_detector()),
        retention_hours=settings.message_retention_hours,
        flow_timeout=timedelta(minutes=settings.flow_timeout_minutes),
        relay_timeout=timedelta(hours=settings.relay_timeout_hours),
        turns=(turns := Turns(sessions)),
        clock=clock,
    )
    return Services(settings, schools, db, store, records, nlu, responses, engine, sessions, turns, clock)
