"""Outside a school's staffed hours, the parent of an urgent case is told plainly that staff may not see it
until the next working day, and given the out-of-hours number, the NSPCC helpline and 999 (a table over
the hours, then the engine with a fixed clock)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import ConfigError
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.schools import Schools, StaffedHours, load_schools
from tests.conftest import ROOT
from tests.standins import Clock, stub_engine

DANGER = "my son says he wants to die"
HOLIDAY = {"from": "2026-12-21", "to": "2027-01-01"}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("when", "staffed"),
    [
        (utc(2026, 12, 2, 10, 0), True),  # a Wednesday morning (GMT)
        (utc(2026, 12, 2, 7, 59), False),  # before opening
        (utc(2026, 12, 2, 17, 0), False),  # closing time
        (utc(2026, 12, 2, 21, 0), False),  # 9 pm
        (utc(2026, 12, 5, 11, 0), False),  # a Saturday
        (utc(2026, 12, 22, 11, 0), False),  # the Christmas holiday
        (utc(2027, 1, 4, 11, 0), True),  # back after the holiday
        (utc(2026, 6, 10, 7, 30), True),  # 08:30 in British Summer Time
        (utc(2026, 6, 10, 16, 30), False),  # 17:30 in British Summer Time
    ],
)
def test_staffed_hours_follow_the_local_clock_weekdays_and_holidays(when: datetime, staffed: bool) -> None:
    hours = StaffedHours.parse_obj({"closed": [HOLIDAY]})
    assert hours.staffed_at(when) is staffed


def test_a_24_hour_rota_is_always_staffed() -> None:
    assert StaffedHours(always=True).staffed_at(utc(2026, 12, 25, 3, 0))


@pytest.mark.parametrize(
    ("hours", "named"),
    [
        ({"days": ["mon", "funday"]}, "staffed_hours.days"),
        ({"opens": "17:00", "closes": "08:00"}, "staffed_hours.closes"),
        ({"timezone": "Mars/Olympus"}, "staffed_hours.timezone"),
        ({"closed": [{"from": "2027-01-02", "to": "2027-01-01"}]}, "staffed_hours.closed"),
    ],
)
def test_a_bad_staffed_hours_setting_is_named_at_start(tmp_path: object, hours: dict, named: str) -> None:
    import yaml

    raw = yaml.safe_load((ROOT / "schools.example.yml").read_text())
    raw["schools"][0]["staffed_hours"] = hours
    path = tmp_path / "schools.yml"  # type: ignore[operator]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=named):
        load_schools(path)


def _schools(out_of_hours_phone: str | None, trust_phone: str | None = None) -> Schools:
    example = load_schools(ROOT / "schools.example.yml")
    schools = [s.copy(update={"out_of_hours_phone": out_of_hours_phone}) for s in example.schools]
    trust = example.trust.copy(update={"out_of_hours_phone": trust_phone})
    return example.copy(update={"schools": schools, "trust": trust})


def _texts(replies: list[Reply]) -> list[str]:
    return [r.text for r in replies]


async def _urgent_case(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], when: datetime
) -> tuple[list[Reply], list[Reply]]:
    """The replies to a danger message, then to the three taps that file the urgent case."""
    engine = stub_engine(responses, schools, sessions, clock=Clock(when))
    await engine.handle("p", '/choose_school{"school":"oakfield"}')
    first = await engine.handle("p", DANGER)
    replies = first
    for title in ("Yes, alert them now", "Reply in this chat", "Yes, send it"):
        buttons = next(r.buttons for r in reversed(replies) if r.buttons)
        replies = await engine.handle("p", next(b.payload for b in buttons if b.title == title))
    return first, replies


async def test_at_9pm_the_parent_is_told_staff_may_not_see_it_and_given_the_numbers(
    responses: ResponseBook, sessions: sessionmaker[Session]
) -> None:
    first, filed = await _urgent_case(responses, _schools("01632 960 999"), sessions, utc(2026, 12, 2, 21, 0))
    guidance, notice = first[0].text, first[1].text
    assert guidance.startswith("If a life is at risk now")
    assert "outside Oakfield Primary School's staffed hours" in notice
    assert "until the next working day" in notice
    for number in ("01632 960 999", "0808 800 5000", "999"):
        assert number in notice
    assert "marked URGENT" in filed[-3].text
    assert filed[-2].text == notice, "told again once the case is filed"
    assert filed[-1].text.startswith("Your alert is already on its way."), "then asked for the names"


async def test_the_trust_number_stands_in_for_a_school_without_one_and_no_number_is_said_plainly(
    responses: ResponseBook, sessions: sessionmaker[Session]
) -> None:
    first, _ = await _urgent_case(responses, _schools(None, "0300 123 4567"), sessions, utc(2026, 12, 5, 11))
    assert "0300 123 4567" in first[1].text
    first, _ = await _urgent_case(responses, _schools(None), sessions, utc(2026, 12, 5, 11))
    assert "children's services out-of-hours team" in first[1].text
    assert "0808 800 5000" in first[1].text


async def test_in_staffed_hours_nothing_is_added(
    responses: ResponseBook, sessions: sessionmaker[Session]
) -> None:
    first, filed = await _urgent_case(responses, _schools("01632 960 999"), sessions, utc(2026, 12, 2, 10))
    assert not any("staffed hours" in text for text in _texts(first) + _texts(filed))
    assert "marked URGENT" in filed[-2].text


async def test_with_no_school_chosen_no_other_schools_name_is_given(
    responses: ResponseBook, sessions: sessionmaker[Session]
) -> None:
    engine = stub_engine(
        responses, _schools(None, "0300 123 4567"), sessions, clock=Clock(utc(2026, 12, 2, 23))
    )
    replies = await engine.handle("p", DANGER)
    notice = next(r.text for r in replies if "staffed hours" in r.text)
    assert "your child's school" in notice
    assert "Oakfield" not in notice
    assert "0300 123 4567" in notice
