"""The seams of bot/storage's case stores: the outbox's kinds as the database keeps them, and the case
lifecycle (which staff action applies to which status) as the store enforces it and the card offers it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue.responses import ResponseBook
from bot.domain import CaseDraft, CaseStatus
from bot.schools import Schools
from bot.staff.cards import StaffTexts, parse_callback
from bot.storage.models import Delivery, DeliveryKind
from bot.storage.records import Records
from tests.databases import migrated_sessions
from tests.test_privacy import _draft as privacy_draft

STORED_KINDS = {
    "case_card",
    "case_card_update",
    "case_evidence",
    "case_transcript",
    "case_pin",
    "parent_reply",
    "urgent_reminder",
    "case_topic_close",
    "case_topic_reopen",
    "staff_reply_sent",
    "chat_failed_alert",
    "parent_claimed",
    "parent_resolved",
    "staff_reply",
    "parent_delivered",
    "parent_undelivered",
}
"""What outbox rows already in a database say: a value changed here needs a migration of those rows."""


@pytest.fixture(params=["sqlite", "postgresql"])
def both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with migrated_sessions(request.param, tmp_path) as sessions:
        yield sessions


def _draft() -> CaseDraft:
    """A case whose parent has a chat: claiming and resolving it tell them."""
    return replace(privacy_draft("p1"), parent_chat_id=555)


def test_the_kinds_keep_the_values_stored_in_the_outbox() -> None:
    assert {kind.value for kind in DeliveryKind} == STORED_KINDS
    assert all(len(kind.value) <= 32 for kind in DeliveryKind)  # the column is VARCHAR(32)
    assert f"{DeliveryKind.CASE_CARD}" == str(DeliveryKind.CASE_CARD) == "case_card"  # logs, `outbox`


async def test_a_kind_is_stored_as_its_string_and_read_back_as_the_enum(both: sessionmaker[Session]) -> None:
    records = Records.on(both)
    case = await records.cases.open_case(_draft())
    assert await records.cases.claim(case.id, 7, "Ms Patel")
    with both.begin() as session:
        session.add(Delivery(kind="carrier_pigeon", chat_id=1))  # queued by a newer version of the bot

    rows = await records.outbox.deliveries()
    assert [row.kind for row in rows] == [
        DeliveryKind.CASE_CARD,
        DeliveryKind.CARD_UPDATE,
        DeliveryKind.PARENT_CLAIMED,
        "carrier_pigeon",
    ]
    assert [type(row.kind) for row in rows] == [DeliveryKind] * 3 + [str]
    with both() as session:
        raw = session.scalars(text("SELECT kind FROM outbox ORDER BY id")).all()
        by_kind = session.scalars(select(Delivery.id).where(Delivery.kind == DeliveryKind.PARENT_CLAIMED))
        assert by_kind.all() == [rows[2].id]
    assert raw == ["case_card", "case_card_update", "parent_claimed", "carrier_pigeon"]
    [due] = [d for d in await records.outbox.claim_due() if d.id == rows[0].id]
    assert due.kind is DeliveryKind.CASE_CARD


LIFECYCLE = [
    # status before, action, applies, status after
    (CaseStatus.OPEN, "claim", True, CaseStatus.CLAIMED),
    (CaseStatus.OPEN, "resolve", True, CaseStatus.RESOLVED),
    (CaseStatus.CLAIMED, "claim", False, CaseStatus.CLAIMED),
    (CaseStatus.CLAIMED, "resolve", True, CaseStatus.RESOLVED),
    (CaseStatus.RESOLVED, "claim", False, CaseStatus.RESOLVED),
    (CaseStatus.RESOLVED, "resolve", False, CaseStatus.RESOLVED),
]


@pytest.mark.parametrize(("before", "action", "applies", "after"), LIFECYCLE)
async def test_staff_actions_follow_the_case_lifecycle_in_the_store_and_on_the_card(
    sessions: sessionmaker[Session],
    responses: ResponseBook,
    schools: Schools,
    before: CaseStatus,
    action: str,
    applies: bool,
    after: CaseStatus,
) -> None:
    records = Records.on(sessions)
    case = await records.cases.open_case(_draft())
    if before is not CaseStatus.OPEN:
        await records.cases.claim(case.id, 1, "Mr Shah")
    if before is CaseStatus.RESOLVED:
        await records.cases.resolve(case.id, 1, "Mr Shah")
    view = await records.cases.get(case.id)
    assert view is not None
    assert view.status is before
    offered = {parse_callback(b.payload) for b in StaffTexts(responses, schools).card(view).buttons}
    assert ((action, case.id) in offered) is applies, "the card offers exactly what the store allows"
    queued = len(await records.outbox.deliveries(case.id))

    act = records.cases.claim if action == "claim" else records.cases.resolve
    assert await act(case.id, 7, "Ms Patel") is applies
    now = await records.cases.get(case.id)
    assert now is not None
    assert now.status is after
    assert (len(await records.outbox.deliveries(case.id)) > queued) is applies, "the card is updated"


async def test_a_parents_messages_waiting_for_the_staff_chat_go_as_one_within_telegrams_limit(
    both: sessionmaker[Session],
) -> None:
    """In relay mode each message was once a delivery of its own, a queue in the staff chat's lane in
    front of anything sent after it: the waiting messages go as one."""
    records = Records.on(both)
    case = await records.cases.open_case(_draft())
    for number in range(20):
        assert await records.cases.parent_reply(case.id, f"detail {number}")
    relayed = [d for d in await records.outbox.deliveries(case.id) if d.kind == DeliveryKind.PARENT_REPLY]
    assert [d.payload["text"] for d in relayed] == ["\n\n".join(f"detail {n}" for n in range(20))]

    assert await records.cases.parent_reply(case.id, "a child is in danger", urgent=True)
    long = "x" * 2000
    for _ in range(3):
        assert await records.cases.parent_reply(case.id, long, urgent=True)
    relayed = [d for d in await records.outbox.deliveries(case.id) if d.kind == DeliveryKind.PARENT_REPLY]
    assert [d.payload.get("urgent", False) for d in relayed] == [False, True, True, True]
    assert all(len(d.payload["text"]) <= 3500 for d in relayed)
    assert relayed[1].payload["text"] == f"a child is in danger\n\n{long}"

    await records.outbox.claim_due(limit=100)  # the worker tries them: nothing joins those any more
    assert await records.cases.parent_reply(case.id, "x", urgent=True)
    relayed = [d for d in await records.outbox.deliveries(case.id) if d.kind == DeliveryKind.PARENT_REPLY]
    assert len(relayed) == 5
    assert relayed[-1].payload == {"text": "x", "urgent": True}
    view = await records.cases.get(case.id)
    assert view is not None
    assert len(view.transcript) == 25, "every message is kept with the case, one by one"


async def test_a_claim_takes_at_most_so_many_rows_of_each_chat_and_skips_busy_chats(
    both: sessionmaker[Session],
) -> None:
    records = Records.on(both)
    with both.begin() as session:
        session.add_all(Delivery(kind=DeliveryKind.PIN, chat_id=-1, payload={"n": n}) for n in range(10))
        session.add_all(Delivery(kind=DeliveryKind.PIN, chat_id=-2, payload={"n": n}) for n in range(3))
    due = await records.outbox.claim_due(limit=100, per_chat=4)
    assert [(d.chat_id, d.payload["n"]) for d in due] == [
        (-1, 0),
        (-1, 1),
        (-1, 2),
        (-1, 3),
        (-2, 0),
        (-2, 1),
        (-2, 2),
    ]
    later = await records.outbox.claim_due(limit=100, per_chat=4, busy_chats=frozenset({-1}))
    assert later == []
    again = await records.outbox.claim_due(limit=100, per_chat=4)
    assert [(d.chat_id, d.payload["n"]) for d in again] == [(-1, 4), (-1, 5), (-1, 6), (-1, 7)]
