"""Every text a parent or staff member reads, walked through every flow, uses people's words: a button
press shows the title tapped, a platform its display name, and no intent, payload or value name leaks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.domain import CaseView
from bot.schools import Schools
from bot.staff.cards import StaffTexts
from bot.storage.records import Records
from tests.standins import StubNlu, intent, stub_engine

PARENT = "parent-words"


@dataclass(frozen=True)
class Walk:
    """An opening message, then what the parent does at each prompt: tap the button with that title,
    type the text, or send a photo ("<photo>")."""

    name: str
    opening: str
    intent: str
    moves: tuple[str, ...]


TAP = "tap:"
WALKS = [
    Walk("complaint", "I want to complain about how the school handled a detention", "how_to_complain", (
        f"{TAP}Yes, pass it on", f"{TAP}Oakfield Primary School",  # the opening is the description
        f"{TAP}The head teacher or the trust", "Sarah Jones, Tom, Year 4", f"{TAP}Phone me",
        "07700 900123, mornings", f"{TAP}Yes, send it",
    )),
    Walk("bullying with screenshots", "my son is being bullied in a group chat", "report_cyberbullying", (
        f"{TAP}No", "Boys in his class send him nasty messages", f"{TAP}WhatsApp", "two boys in year 6",
        "since half term", "<photo>", "<photo>", f"{TAP}Done", f"{TAP}Oakfield Primary School",
        f"{TAP}Skip", f"{TAP}Email me", "parent@example.org", f"{TAP}Yes, send it",
    )),
    Walk("breach", "a parent posted lies about a teacher", "report_breach", (
        f"{TAP}Yes, pass it on", "Another parent wrote that Mr Smith hits children", f"{TAP}Facebook",
        f"{TAP}Skip", f"{TAP}Riverside Academy", "Dan Lee, Leo, Y2", f"{TAP}Reply in this chat",
        f"{TAP}Yes, send it",
    )),
    Walk("question for the school", "can I talk to someone at the school", "human_handoff", (
        f"{TAP}Yes, pass it on", f"{TAP}Hollybrook Infant and Nursery School",
        "Please call me about the trip", f"{TAP}Reply in this chat", "ok",
    )),
    Walk("urgent", "my son says he wants to die", "urgent_safeguarding", (
        f"{TAP}Oakfield Primary School", f"{TAP}Reply in this chat", f"{TAP}Yes, send it",
    )),
    Walk("declined", "I want to make a complaint", "how_to_complain", (
        f"{TAP}Yes, pass it on", f"{TAP}Oakfield Primary School", f"{TAP}Something else",
        "about the school trip", f"{TAP}Skip", f"{TAP}Reply in this chat", f"{TAP}No, don't send",
    )),
]  # fmt: skip


def internal_names() -> re.Pattern[str]:
    """Payloads, "[button: ...]", snake_case names, and the lower-case platform values buttons carry."""
    values = {"whatsapp", "snapchat", "instagram", "tiktok", "facebook"}
    names = "|".join(sorted(values))
    return re.compile(rf'/[a-z_]+\{{|\[button|\b[a-z]+_[a-z_]+\b|"value"|\b(?:{names})\b(?![\w.@-])')


def _all_text(reply: Reply) -> list[str]:
    texts = [reply.text, *(b.title for b in reply.buttons)]
    if reply.document is not None:
        texts.append(reply.document.text)
    return texts


async def _play(engine: DialogueEngine, walk: Walk) -> list[str]:
    """The walk through the engine as Telegram would drive it (a tap sends the payload and its title);
    returns every text the parent was shown."""
    replies = await engine.handle(PARENT, walk.opening)
    seen = [text for reply in replies for text in _all_text(reply)]
    for number, move in enumerate(walk.moves):
        if move == "<photo>":
            replies = await engine.handle_photo(PARENT, f"photo-{number}")
        elif move.startswith(TAP):
            title = move.removeprefix(TAP)
            offered = {b.title: b.payload for reply in replies for b in reply.buttons}
            assert title in offered, (
                f"{walk.name}: no {title!r} button after {[r.text[:60] for r in replies]}"
            )
            replies = await engine.handle(PARENT, offered[title], label=title)
        else:
            replies = await engine.handle(PARENT, move)
        seen += [text for reply in replies for text in _all_text(reply)]
    return seen


async def _filed_case(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records, walk: Walk
) -> CaseView:
    """The walk played to its end, and the one case it filed, as staff read it."""
    engine = stub_engine(responses, schools, sessions, StubNlu({walk.opening: intent(walk.intent)}))
    await _play(engine, walk)
    [case] = await records.cases.parent_cases(PARENT)
    view = await records.cases.get(case.id)
    assert view is not None
    return view


@pytest.mark.parametrize("walk", WALKS, ids=[w.name for w in WALKS])
async def test_no_internal_name_in_anything_a_parent_or_staff_member_reads(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records, walk: Walk
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu({walk.opening: intent(walk.intent)}))
    seen = await _play(engine, walk)
    staff = StaffTexts(responses, schools)
    for case in await records.cases.parent_cases(PARENT):
        view = await records.cases.get(case.id)
        assert view is not None
        card = staff.card(view)
        seen += [card.text, card.full_text, staff.transcript_document(view)[1].decode()]
    pattern = internal_names()
    leaks = [(match.group(0), text[:80]) for text in seen for match in pattern.finditer(text)]
    assert leaks == [], walk.name


async def test_a_tapped_button_reads_as_its_title_in_the_transcript_staff_get(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    walk = WALKS[1]
    view = await _filed_case(responses, schools, sessions, records, walk)
    parent_lines = [line.text for line in view.transcript if line.author.value == "parent"]
    assert "WhatsApp" in parent_lines
    assert "Email me" in parent_lines
    assert view.details["where"] == "WhatsApp"


async def test_without_the_title_a_tap_reads_as_a_plain_yes_or_the_one_title_it_has(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu())
    assert engine.shown_as("/affirm") == "Yes"
    assert engine.shown_as("/deny") == "No"
    assert engine.shown_as('/choose{"value": "whatsapp"}') == "WhatsApp"
    assert engine.shown_as('/choose_school{"school":"oakfield"}') == "Oakfield Primary School"
    assert engine.shown_as("/how_to_complain") == "How do I complain?"
    assert engine.shown_as("my own words /affirm") == "my own words /affirm"


@pytest.mark.parametrize(
    ("walk", "contact_line", "hinted"),
    [
        (WALKS[0], "Contact: wants a phone call on 07700 900123, mornings", False),
        (WALKS[1], "Contact: wants an email at parent@example.org", False),
        (WALKS[2], "Contact: wants a reply in this chat: reply to this card", True),
    ],
    ids=["phone", "email", "chat"],
)
async def test_the_card_says_what_contact_the_parent_asked_for(
    responses: ResponseBook,
    schools: Schools,
    sessions: sessionmaker[Session],
    records: Records,
    walk: Walk,
    contact_line: str,
    hinted: bool,
) -> None:
    view = await _filed_case(responses, schools, sessions, records, walk)
    card = StaffTexts(responses, schools).card(view).text
    assert contact_line in card
    assert ("reply to this card" in card.lower()) is hinted


@pytest.mark.parametrize("walk", WALKS, ids=[w.name for w in WALKS])
async def test_the_consent_screen_fits_twelve_lines_and_the_rest_is_in_the_file(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], walk: Walk
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu({walk.opening: intent(walk.intent)}))
    shown: list[Reply] = []
    original = engine.handle

    async def watched(*args: Any, **kwargs: Any) -> list[Reply]:
        replies = await original(*args, **kwargs)
        shown.extend(replies)
        return replies

    engine.handle = watched  # type: ignore[method-assign]
    await _play(engine, walk)
    screens = [reply for reply in shown if "Shall I send exactly this?" in reply.text]
    assert screens, walk.name
    for screen in screens:
        assert len(screen.text.splitlines()) <= 12, screen.text
        if screen.document is not None:
            assert "in the file above" in screen.text
            assert screen.document.text.startswith(screen.text.splitlines()[0])


async def test_the_bullying_advice_is_given_once_and_the_nude_image_warning_stays(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    walk = WALKS[1]
    engine = stub_engine(responses, schools, sessions, StubNlu({walk.opening: intent(walk.intent)}))
    said = [text for text in await _play(engine, walk) if not text.startswith("Here is exactly what")]
    assert sum("Some steps that help" in text for text in said) == 1, "not again at the screenshots"
    assert sum("Never screenshot, save or forward a nude" in text for text in said) == 2, "start and ask"


async def test_the_card_says_none_for_no_screenshots(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    walk = WALKS[0]
    view = await _filed_case(responses, schools, sessions, records, walk)
    assert "Screenshots: none" in StaffTexts(responses, schools).card(view).text
