"""A state table over the complaint, bullying, breach and urgent flows: an opening message
that already holds the description, the platform, the school and the names is never asked for any of
them again, reaches the consent screen in at most four parent turns after it, and every consent screen
is at most CONSENT_MAX_LINES lines. The real model (its regex extractor names platforms and schools), the
real engine, a real database; what reaches staff is then read back from the case."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.dialogue.flows import CONSENT_MAX_LINES
from bot.dialogue.responses import ResponseBook
from bot.domain import CaseKind
from bot.storage.records import Records
from tests.conftest import MakeEngine
from tests.test_slot_filling import CONSENT, _answer, _asked

MAX_TURNS = 4
"""Parent turns after the opening message."""
NAMES = "Sarah Jones, Tom, Year 4"


@dataclass(frozen=True)
class Row:
    name: str
    opening: str
    kind: CaseKind
    filled: tuple[str, ...]
    """The questions (response names) for the slots the opening fills: never asked."""
    school: str
    names: str = NAMES


ROWS = [
    Row(
        "complaint",
        "I'm Sarah Jones, my son Tom is in Year 4. I want to make a complaint to Riverside Academy, he was "
        "kept in at lunch all week and nobody told me why",
        CaseKind.COMPLAINT,
        ("utter_ask_describe_complaint", "utter_choose_school", "utter_ask_names"),
        "riverside",
    ),
    Row(
        "bullying",
        "I'm Sarah Jones, my son Tom is in Year 4 at Oakfield and he is being bullied on snapchat since "
        "Monday, boys in his class keep sending him horrible messages every night",
        CaseKind.CYBERBULLYING,
        (
            "utter_ask_describe_cyberbullying",
            "utter_ask_where",
            "utter_ask_who",
            "utter_ask_when",
            "utter_choose_school",
            "utter_ask_names",
        ),
        "oakfield",
    ),
    Row(
        "breach",
        "I'm Sarah Jones, my son Tom is in Year 4. I want to report a post on facebook where another "
        "parent wrote lies about the head at Hollybrook",
        CaseKind.BREACH,
        ("utter_ask_describe_breach", "utter_ask_where", "utter_choose_school", "utter_ask_names"),
        "hollybrook",
    ),
    Row(
        "urgent",
        "I'm Sarah Jones, my son Tom is in Year 4 at Oakfield and he says he wants to kill himself tonight",
        CaseKind.SAFEGUARDING,
        (
            "utter_ask_describe_safeguarding",
            "utter_offer_safeguarding_alert_school",
            "utter_ask_names_urgent",
        ),
        "oakfield",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
async def test_an_opening_with_every_slot_asks_for_none_of_them_and_reaches_consent_in_four_turns(
    make_engine: MakeEngine, responses: ResponseBook, records: Records, row: Row
) -> None:
    engine = make_engine()
    parent = f"table-{row.name}"
    replies = await engine.handle(parent, row.opening)
    seen, turns = list(replies), 0
    noted = next((r.text for r in replies if r.text.startswith("I've noted")), "")
    assert row.names in noted, f"{row.name}: the names are noted, as the parent wrote them: {noted!r}"
    while not any(CONSENT in r.text for r in replies):
        assert turns < MAX_TURNS, f"{row.name}: no consent screen after {[r.text[:60] for r in seen]}"
        replies = await engine.handle(parent, _answer(replies[-1]))
        seen += replies
        turns += 1
    assert _asked(responses, seen, row.filled) == [], row.name
    consent = next(r for r in replies if CONSENT in r.text)
    assert len(consent.text.splitlines()) <= CONSENT_MAX_LINES, consent.text
    assert f"Ask for: {row.names}" in consent.text, "the names are on the consent screen"

    after = await engine.handle(parent, "/affirm")
    assert not _asked(responses, after, row.filled), "an urgent case does not ask again for the names"
    [case] = await records.cases.parent_cases(parent)
    full = await records.cases.get(case.id)
    assert full is not None
    assert (full.kind, full.school_id, full.details["names"]) == (row.kind, row.school, row.names)
    assert row.opening in full.summary
