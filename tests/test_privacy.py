"""Retention (nothing kept past the period the privacy notice states): the purge removes what it should and
nothing else, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import utcnow
from bot.domain import Author, CaseDraft, CaseKind, Priority, TranscriptEntry
from bot.storage.models import Attachment, Case, CaseMessage, ConversationMessage
from bot.storage.records import Records
from tests.databases import migrated_sessions

ROOT = Path(__file__).resolve().parent.parent
HOURS_24 = timedelta(hours=24)
DAYS_365 = timedelta(days=365)


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with migrated_sessions(request.param, tmp_path) as sessions:
        yield sessions


def _draft(parent: str, *lines: str, photos: tuple[str, ...] = ()) -> CaseDraft:
    return CaseDraft(
        parent_id=parent,
        parent_chat_id=None,
        school_id="oakfield",
        staff_chat_id=-1001000000001,
        kind=CaseKind.GENERAL,
        priority=Priority.NORMAL,
        summary="a question",
        contact_method="chat",
        transcript=tuple(TranscriptEntry(Author.PARENT, line) for line in lines),
        attachments=photos,
    )


def _age(sessions: sessionmaker[Session], model: type, by: timedelta) -> None:
    with sessions.begin() as session:
        column = model.resolved_at if model is Case else model.created_at
        session.execute(update(model).values({column: utcnow() - by}))


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


async def test_old_loose_messages_go_and_case_transcripts_stay(sessions: sessionmaker[Session]) -> None:
    records = Records.on(sessions)
    await records.cases.open_case(_draft("p1", "hello", "hi", photos=("file-a",)))  # its own lines and photo
    await records.transcripts.record("p1", [(Author.PARENT, "later"), (Author.BOT, "answer")])
    await records.transcripts.add_attachment("p1", "file-b")
    _age(sessions, ConversationMessage, timedelta(hours=25))
    _age(sessions, Attachment, timedelta(hours=25))

    counts = await records.retention.purge(HOURS_24, DAYS_365)
    assert (counts.messages, counts.attachments, counts.cases) == (2, 1, 0)
    with sessions() as session:
        left = session.scalars(select(ConversationMessage.text).order_by(ConversationMessage.id)).all()
    assert left == ["hello", "hi"]
    assert _count(sessions, Attachment) == 1


async def test_recent_loose_messages_are_kept(sessions: sessionmaker[Session]) -> None:
    records = Records.on(sessions)
    await records.transcripts.record("p1", [(Author.PARENT, "hello")])
    counts = await records.retention.purge(HOURS_24, DAYS_365)
    assert counts.messages == 0
    assert _count(sessions, ConversationMessage) == 1


async def test_resolved_cases_past_retention_are_deleted_with_everything_in_them(
    sessions: sessionmaker[Session],
) -> None:
    records = Records.on(sessions)
    old = await records.cases.open_case(_draft("p1", "old concern"))
    await records.cases.staff_reply(old.id, "Mr Shah", "thanks")
    await records.cases.resolve(old.id, 1, "Mr Shah")
    _age(sessions, Case, timedelta(days=400))
    recent_resolved = await records.cases.open_case(_draft("p2"))
    await records.cases.resolve(recent_resolved.id, 1, "Mr Shah")
    still_open = await records.cases.open_case(_draft("p3"))

    counts = await records.retention.purge(HOURS_24, DAYS_365)
    assert counts.cases == 1
    assert await records.cases.get(old.id) is None
    assert await records.cases.get(recent_resolved.id) is not None
    assert await records.cases.get(still_open.id) is not None
    with sessions() as session:
        assert not session.scalars(select(CaseMessage).where(CaseMessage.case_id == old.id)).all()
        assert "old concern" not in session.scalars(select(ConversationMessage.text)).all()


async def test_unresolved_cases_go_after_their_last_activity_not_before(
    sessions: sessionmaker[Session],
) -> None:
    """No case is kept for ever: one never resolved goes UNRESOLVED_CASE_RETENTION_DAYS after anyone
    last touched it; a message on it (from either side) or a claim keeps it."""
    records = Records.on(sessions)
    abandoned = await records.cases.open_case(_draft("p1"))
    talked_about = await records.cases.open_case(_draft("p2"))
    claimed = await records.cases.open_case(_draft("p3"))
    _age(sessions, Case, timedelta(days=200))
    with sessions.begin() as session:
        session.execute(update(Case).values(created_at=utcnow() - timedelta(days=200)))
        session.execute(update(Case).where(Case.id == claimed.id).values(claimed_at=utcnow()))
    await records.cases.staff_reply(talked_about.id, "Mr Shah", "we are looking into it")

    counts = await records.retention.purge(HOURS_24, DAYS_365, timedelta(days=180))
    assert (counts.cases, counts.unresolved) == (1, 1)
    assert await records.cases.get(abandoned.id) is None
    assert await records.cases.get(talked_about.id) is not None
    assert await records.cases.get(claimed.id) is not None
    assert (await records.retention.purge(HOURS_24, DAYS_365, timedelta(days=365))).cases == 0


async def test_forget_keeps_other_parents_data(sessions: sessionmaker[Session]) -> None:
    records = Records.on(sessions)
    await records.transcripts.record("p1", [(Author.PARENT, "mine")])
    await records.transcripts.record("p2", [(Author.PARENT, "theirs")])
    await records.retention.forget_parent("p1")
    with sessions() as session:
        assert session.scalars(select(ConversationMessage.text)).all() == ["theirs"]


def test_parentbot_purge_command_reports_what_it_deleted(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "purge"],
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/purge.db", "PROJECT_DIR": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Deleted 0 messages" in result.stdout
