"""What the bot sent a staff member privately for a case goes with the case (it holds the parent's words),
end to end against the local Bot API server.

A staff chat holding a member not named staff gets cards without details; the named staff member who
claims gets the card, the transcript document, the screenshots and the parent's later messages in their
private chat with the bot. When the purge (or `parentbot erase-case`) deletes the case, those are deleted
there too, or, past the 48 hours in which Telegram lets a bot delete its messages in a private chat,
replaced by the tombstone notice. A message sent while its case was being deleted is queued at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.domain import CaseDraft, CaseKind, CaseView, Priority
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.storage.models import ErasureKind, PrivateKind
from bot.storage.records import Records
from tests.telegram_harness import eventually
from tests.test_retention_telegram import purge_as_if_long_ago
from tests.test_staff_e2e import STAFF_ID, StaffWorld
from tests.test_staff_privacy_e2e import (
    PHONE,
    SUMMARY_WORD,
    open_case_with_evidence,
    privacy_bot,
    staff_group,
)

JsonDict = dict[str, Any]
LATER = "He was upset again after school today"
ERASED = "deleted after its retention period"


async def claimed_privately(world: StaffWorld) -> tuple[CaseView, list[JsonDict]]:
    """A case with a screenshot and a long transcript, claimed from a chat with a member not named staff,
    a later message of the parent's relayed, then resolved: what the claimer's private chat holds."""
    staff = staff_group(world, world.member, world.outsider)
    case = await open_case_with_evidence(world, staff)
    card = await world.card(case, staff)
    assert SUMMARY_WORD not in card["text"]
    await world.press(world.member, card, "Claim")
    await world.server.wait_for_message(STAFF_ID, lambda m: "photo" in m)
    assert await world.cases.parent_reply(case.id, LATER)
    await world.server.wait_for_message(STAFF_ID, lambda m: LATER in m.get("text", ""))
    assert await world.cases.resolve(case.id, STAFF_ID, "Priya Patel")
    await world.settled()
    private = world.server.sent_messages(STAFF_ID)
    assert any(SUMMARY_WORD in m.get("text", "") and PHONE in m["text"] for m in private)
    assert any(m.get("document", {}).get("file_name") == f"{case.reference}-transcript.txt" for m in private)
    assert any("photo" in m for m in private)
    assert any(LATER in m.get("text", "") for m in private)
    return case, private


async def erased(world: StaffWorld) -> bool:
    return not await world.services.records.erasures.pending()


def deleted_in(world: StaffWorld, chat_id: int) -> set[int]:
    return {c.params["message_id"] for c in world.server.calls_to("deleteMessage", chat_id) if c.ok}


async def test_a_purged_case_is_deleted_from_the_claimers_private_chat(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with privacy_bot(nlu, schools, tmp_path) as world:
        case, private = await claimed_privately(world)

        await purge_as_if_long_ago(world, case)
        await eventually(lambda: erased(world), "the erasures were done")

        assert world.server.sent_messages(STAFF_ID) == []
        assert deleted_in(world, STAFF_ID) == {m["message_id"] for m in private}
        assert not world.server.calls_to("editMessageMedia", STAFF_ID), "recent messages are deleted"
        assert not world.server.calls_to("editMessageText", STAFF_ID)
        assert await world.services.records.private.of_case(case.id) == [], "deleted with the case"


async def test_past_48_hours_the_private_messages_are_replaced_by_the_notice(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with privacy_bot(nlu, schools, tmp_path) as world:
        case, private = await claimed_privately(world)
        for message in private:
            world.server.age_message(STAFF_ID, message["message_id"], hours=49)

        await purge_as_if_long_ago(world, case)
        await eventually(lambda: erased(world), "the erasures were done")

        refused = [c for c in world.server.calls_to("deleteMessage", STAFF_ID) if not c.ok]
        assert len(refused) == len(private)
        assert all("can't be deleted" in str(c.error) for c in refused)
        now = {m["message_id"]: m for m in world.server.sent_messages(STAFF_ID)}
        assert set(now) == {m["message_id"] for m in private}
        tombstone = f"Case {case.reference}: {ERASED}"
        for message in private:
            shown = now[message["message_id"]]
            if "photo" in message or "document" in message:  # the media itself replaced
                assert "photo" not in shown
                assert shown["document"]["file_name"] == f"{case.reference}-deleted.txt"
            words = shown.get("text") or shown.get("caption", "")
            assert words.startswith(tombstone)
            for detail in (SUMMARY_WORD, PHONE, LATER, "blah"):
                assert detail not in words


async def test_an_erasure_request_deletes_the_private_messages_too(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with privacy_bot(nlu, schools, tmp_path) as world:
        case, private = await claimed_privately(world)

        queued = await world.services.records.retention.erase_case(case.reference)
        assert queued is not None
        assert queued >= len(private)
        await eventually(lambda: erased(world), "the erasures were done")

        assert world.server.sent_messages(STAFF_ID) == []
        assert deleted_in(world, STAFF_ID) == {m["message_id"] for m in private}


async def test_details_sent_after_their_case_was_deleted_are_queued_for_erasure_at_once(
    records: Records,
) -> None:
    draft = CaseDraft(
        parent_id="5001",
        parent_chat_id=5001,
        school_id="oakfield",
        staff_chat_id=-1001000000001,
        kind=CaseKind.CYBERBULLYING,
        priority=Priority.NORMAL,
        summary="Horrible messages",
        contact_method="chat",
    )
    case = await records.cases.open_case(draft)
    await records.private.record(case.id, case.reference, STAFF_ID, 10, PrivateKind.TEXT)
    assert await records.retention.erase_case(case.reference) == 1
    await records.private.record(case.id, case.reference, STAFF_ID, 11, PrivateKind.PHOTO)  # on its way

    pending = await records.erasures.pending()
    assert [(e.chat_id, e.message_id, e.kind) for e in pending] == [
        (STAFF_ID, 10, ErasureKind.TEXT),
        (STAFF_ID, 11, ErasureKind.MEDIA),
    ]
    assert {e.reference for e in pending} == {case.reference}
