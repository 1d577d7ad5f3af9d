"""Nothing outlives the retention period the privacy notice states: a parent's profile (their Telegram id and
the school they chose) once they have been silent PROFILE_RETENTION_DAYS, and the staff audit log after
AUDIT_RETENTION_DAYS, in the scheduled purge and in `parentbot purge` alike; and a case erased on request
(`parentbot erase-case`) leaves what it posted in Telegram queued for deletion, as the purge does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.config import Settings
from bot.domain import CaseDraft, CaseKind, Priority
from bot.services import purge
from bot.storage import database
from bot.storage.models import AuditEvent, Delivery, DeliveryStatus, ErasureKind, Parent
from bot.storage.records import Records

STAFF_CHAT = -1001000000001


def ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


def given_profiles(sessions: sessionmaker[Session], **idle_days: float) -> None:
    with sessions.begin() as session:
        for parent_id, days in idle_days.items():
            session.execute(
                insert(Parent).values(
                    id=parent_id, school_id="oakfield", created_at=ago(days), updated_at=ago(days)
                )
            )


def given_audit(sessions: sessionmaker[Session], *ages: float) -> None:
    with sessions.begin() as session:
        for days in ages:
            session.add(AuditEvent(action="view", actor_id=7001, chat_id=STAFF_CHAT, at=ago(days)))


def profiles(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(Parent.id)).all())


def audit_ages(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return sorted(
            round((ago(0) - at.replace(tzinfo=timezone.utc)).days)
            for at in session.scalars(select(AuditEvent.at))
        )


def settings(**changes: object) -> Settings:
    return Settings(_env_file=None, **changes)  # type: ignore[call-arg]


async def test_the_scheduled_purge_deletes_idle_profiles_and_keeps_recent_ones(
    sessions: sessionmaker[Session], records: Records
) -> None:
    given_profiles(sessions, idle=1_100, just_past=366, recent=300, today=0)

    counts = await purge(records.retention, settings())

    assert counts.profiles == 2
    assert profiles(sessions) == {"recent", "today"}


async def test_the_profile_period_is_the_setting(sessions: sessionmaker[Session], records: Records) -> None:
    given_profiles(sessions, month=31, week=7)
    counts = await purge(records.retention, settings(profile_retention_days=30))
    assert counts.profiles == 1
    assert profiles(sessions) == {"week"}


async def test_audit_rows_older_than_the_period_are_purged(
    sessions: sessionmaker[Session], records: Records
) -> None:
    given_audit(sessions, 1_000, 731, 700, 3)
    counts = await purge(records.retention, settings())
    assert counts.audit_events == 2
    assert audit_ages(sessions) == [3, 700]

    counts = await purge(records.retention, settings(audit_retention_days=100))
    assert counts.audit_events == 1
    assert audit_ages(sessions) == [3]


def test_parentbot_purge_applies_both_periods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/bot.db"
    db = database.make_engine(url)
    database.migrate(db)
    sessions = database.session_factory(db)
    given_profiles(sessions, idle=400, recent=10)
    given_audit(sessions, 800, 10)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        assert main(["purge"]) == 0
        assert profiles(sessions) == {"recent"}
        assert audit_ages(sessions) == [10]
    finally:
        db.dispose()


async def test_a_case_erased_on_request_is_gone_and_its_posts_are_queued_for_telegram(
    sessions: sessionmaker[Session], records: Records
) -> None:
    draft = CaseDraft(
        parent_id="5001",
        parent_chat_id=5001,
        school_id="oakfield",
        staff_chat_id=STAFF_CHAT,
        kind=CaseKind.CYBERBULLYING,
        priority=Priority.NORMAL,
        summary="Horrible messages",
        contact_method="chat",
    )
    case = await records.cases.open_case(draft)
    with sessions.begin() as session:  # as the delivery worker records the card it posted
        session.execute(
            update(Delivery).values(status=DeliveryStatus.SENT, sent_message_id=41, payload={"parts": [40]})
        )
    assert await records.retention.erase_case(case.reference.lower()) == 2
    assert await records.cases.get(case.id) is None
    queued = await records.erasures.pending()
    assert {(e.chat_id, e.message_id, e.kind) for e in queued} == {
        (STAFF_CHAT, 40, ErasureKind.TEXT),
        (STAFF_CHAT, 41, ErasureKind.TEXT),
    }
    assert {e.reference for e in queued} == {case.reference}
    assert await records.retention.erase_case("OAK-NONE") is None
