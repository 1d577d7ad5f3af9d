"""Staff cards as plain data: what a card shows, its buttons by status, the short form of long cards."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from bot.dialogue.responses import ResponseBook
from bot.domain import Author, CaseKind, CaseStatus, CaseView, Priority, TranscriptLine
from bot.schools import Schools
from bot.staff.cards import CARD_LIMIT, StaffTexts, callback_data, format_age, parse_callback

OPENED = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)


def a_case(**changes: object) -> CaseView:
    view = CaseView(
        id=7,
        reference="OAK-7KQ2",
        school_id="oakfield",
        kind=CaseKind.CYBERBULLYING,
        priority=Priority.NORMAL,
        status=CaseStatus.OPEN,
        summary="Older pupils post <b>nasty</b> *memes* about my son",
        details={"where": "snapchat", "who": "Year 6 pupils"},
        contact_method="phone",
        contact_detail="07700 900123",
        parent_id="1001",
        parent_chat_id=1001,
        staff_chat_id=-1001000000001,
        card_message_id=None,
        claimed_by_name=None,
        created_at=OPENED,
        transcript=(
            TranscriptLine(Author.PARENT, "kids keep sending my son horrible messages", OPENED),
            TranscriptLine(Author.BOT, "I'm sorry this is happening.", OPENED),
            TranscriptLine(Author.STAFF, "We are looking into it.", OPENED, "Ms Patel"),
        ),
        attachments=("AgAD-one", "AgAD-two"),
    )
    return replace(view, **changes)  # type: ignore[arg-type]


@pytest.fixture
def texts(responses: ResponseBook, schools: Schools) -> StaffTexts:
    return StaffTexts(responses, schools)


def test_a_card_shows_everything_staff_need_with_parent_text_literal(texts: StaffTexts) -> None:
    card = texts.card(a_case())
    assert not card.long
    for expected in (
        "OAK-7KQ2",
        "Oakfield Primary School",
        "Cyberbullying",
        "normal",
        "Open, not claimed yet",
        "04 Mar 2025, 09:30 GMT",
        "07700 900123",
        "Screenshots: 2",
        "Older pupils post <b>nasty</b> *memes* about my son",
        "Year 6 pupils",
        "Parent: │ kids keep sending my son horrible messages",
        "Bot: I'm sorry this is happening.",
        "Staff (Ms Patel): We are looking into it.",
    ):
        assert expected in card.text
    assert not re.search(r"\{\w+\}", card.text), "a template variable was left unfilled"
    assert not card.text.startswith("URGENT")


def test_an_urgent_card_says_so_on_its_first_line(texts: StaffTexts) -> None:
    card = texts.card(a_case(priority=Priority.URGENT, kind=CaseKind.SAFEGUARDING))
    assert card.text.splitlines()[0].startswith("URGENT SAFEGUARDING")
    assert "Priority: URGENT" in card.text


@pytest.mark.parametrize(
    ("status", "titles"),
    [(CaseStatus.OPEN, ["Claim", "Resolve"]), (CaseStatus.CLAIMED, ["Resolve"]), (CaseStatus.RESOLVED, [])],
)
def test_buttons_follow_the_status(texts: StaffTexts, status: CaseStatus, titles: list[str]) -> None:
    card = texts.card(a_case(status=status, claimed_by_name="Ms Patel"))
    assert [b.title for b in card.buttons] == titles
    for button in card.buttons:
        assert parse_callback(button.payload) == (button.title.lower(), 7)
    if status is CaseStatus.CLAIMED:
        assert "Claimed by Ms Patel" in card.text


def test_a_long_card_is_short_and_keeps_the_whole_transcript_for_the_file(texts: StaffTexts) -> None:
    lines = tuple(TranscriptLine(Author.PARENT, f"line {n} " + "x" * 80, OPENED) for n in range(60))
    card = texts.card(a_case(transcript=lines))
    assert card.long
    assert len(card.text) <= CARD_LIMIT
    assert "60 lines, too long to show here" in card.text
    assert "line 59" not in card.text
    name, data = texts.transcript_document(a_case(transcript=lines))
    assert name == "OAK-7KQ2-transcript.txt"
    assert all(f"Parent: │ line {n} " in data.decode() for n in range(60))


def test_a_huge_summary_still_fits_a_telegram_message(texts: StaffTexts) -> None:
    card = texts.card(a_case(summary="word " * 3000, details={"who": "y" * 4000}))
    assert card.long
    assert len(card.text) <= 4096


def test_callback_data_fits_telegram_and_parses_back() -> None:
    data = callback_data("resolve", 2**63 - 1)
    assert len(data.encode()) <= 64
    assert parse_callback(data) == ("resolve", 2**63 - 1)
    for bad in (None, "", "staff:delete:1", "staff:claim:x", "/affirm", "staff:claim:1:2"):
        assert parse_callback(bad) is None


def test_case_list_is_one_line_per_case_with_age_and_status(texts: StaffTexts) -> None:
    now = OPENED + timedelta(hours=3, minutes=5)
    urgent = a_case(reference="OAK-URG1", priority=Priority.URGENT, kind=CaseKind.SAFEGUARDING)
    claimed = a_case(reference="OAK-CLM2", status=CaseStatus.CLAIMED, claimed_by_name="Mr Jones")
    listing = texts.case_list("oakfield", [urgent, claimed], now).splitlines()
    assert "(2)" in listing[0]
    assert listing[1].startswith("OAK-URG1 · URGENT")
    assert "3 h" in listing[1]
    assert "Claimed by Mr Jones" in listing[2]
    assert "No open cases" in texts.case_list("oakfield", [], now)


@pytest.mark.parametrize(
    ("minutes", "text"), [(0, "0 min"), (59, "59 min"), (60, "1 h"), (47 * 60, "47 h"), (72 * 60, "3 days")]
)
def test_ages_read_naturally(minutes: int, text: str) -> None:
    assert format_age(timedelta(minutes=minutes)) == text


def test_naive_database_times_are_read_as_utc(texts: StaffTexts) -> None:
    summer = datetime(2025, 7, 1, 12, 0)  # SQLite hands back naive UTC
    assert texts.local_time(summer) == "01 Jul 2025, 13:00 BST"


def test_every_staff_response_renders_fully(responses: ResponseBook) -> None:
    names = [n for n in responses.names if n.startswith(("utter_staff_", "utter_parent_"))]
    assert len(names) >= 20
    for name in names:
        variables = dict.fromkeys(responses.template_fields(name), "x")
        assert not re.search(r"\{\w+\}", responses.render(name, variables).text)
