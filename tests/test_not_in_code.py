"""Where the code is silent the bot says so; a report or the danger path starts only when meant."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.responses import ResponseBook
from bot.dialogue.uncovered import about_social_media, own_privacy, pictures_of_a_school_event
from bot.storage.parents import SqlStateStore

PARENT = "parent-silent"


def _opening(responses: ResponseBook, name: str) -> str:
    return responses.render(name, {}).text[:50]


@pytest.mark.parametrize(
    ("text", "platform", "expected"),
    [
        ("can I post photos of the nativity", None, True),
        ("is it ok to film sports day", None, True),
        ("how do i change my privacy settings", None, True),
        ("fancy a chat", "whatsapp", True),
        ("when is half term", None, False),
        ("can i pay for dinners online into his account", None, False),
        ("", None, False),
    ],
)
def test_social_media_is_told_from_other_matters(text: str, platform: str | None, expected: bool) -> None:
    assert about_social_media(text, platform) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("is it ok to put a video of the school nativity on tiktok my daughter is in it", True),
        ("can i share the photos i took at sports day", True),
        ("can I post a clip of the christmas concert", True),
        ("can I post a video of the nativity where the teacher shouts at the kids", False),  # staff: covered
        ("can I post about the nativity being cancelled", False),  # no pictures
        ("can I post a photo of my son's drawing", False),  # no school event
    ],
)
def test_pictures_of_a_school_event_are_told_apart(text: str, expected: bool) -> None:
    assert pictures_of_a_school_event(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("how do i make my instagram private so other parents cant see my pics", True),
        ("what privacy settings should I use on my own facebook", True),
        ("should I lock down my profile", True),
        ("what privacy settings should I put on my daughter's phone", False),  # the child's: covered
        ("my son's account was hacked", False),
        ("how do i make my instagram private so my nephew cant see it", False),  # a child named, as a son
        ("can I post about the school", False),
        ("is it against the rules to moan about the school on my own facebook page", False),
        ("does it matter if my account is private, does the code still apply to me", False),
    ],
)
def test_a_parent_s_own_privacy_is_told_from_a_child_s(text: str, expected: bool) -> None:
    assert own_privacy(text) is expected


@pytest.mark.parametrize(
    "question",
    [
        "is it ok to put a video of the school nativity on tiktok my daughter is in it",
        "is it aloud to put a vidoe of the school nativty on tiktok my daughter is in it",
        "can i share the photos i took at sports day on my facebook",
        "how do i make my instagram private so other parents cant see my pics",
    ],
)
async def test_a_social_media_question_the_code_does_not_cover_says_so_and_names_the_school(
    engine: DialogueEngine, responses: ResponseBook, question: str
) -> None:
    replies = await engine.handle(PARENT, question)
    text = "\n".join(r.text for r in replies)
    assert _opening(responses, "utter_not_in_code") in text
    assert _opening(responses, "utter_out_of_scope") not in text
    # no school chosen yet: the trust's contact, named as the trust's, and the schools to choose from
    assert "Those are the trust's contact details" in text
    assert [b.payload for b in replies[-1].buttons] == [b.payload for b in engine.school_buttons()]


async def test_an_ordinary_out_of_scope_question_keeps_its_answer(
    engine: DialogueEngine, responses: ResponseBook
) -> None:
    replies = await engine.handle(PARENT, "when do the kids break up for half term")
    assert replies[0].text.startswith(_opening(responses, "utter_out_of_scope"))


@pytest.mark.parametrize(
    "question",
    [
        "my sons teecher keeps ignorng my emails can i moan about her on facebok",
        "is it aloud to put a vidoe of the school nativty on tiktok my daughter is in it",
        "can i add my dauhgters teecher on instagam",
        "wot happens if i brake the polcy, can they ban me from the schol",
        "does the code aply to my nan on whatsap",
    ],
)
async def test_a_misspelt_code_question_starts_no_report_and_no_alarm(
    engine: DialogueEngine, responses: ResponseBook, sessions: sessionmaker[Session], question: str
) -> None:
    replies = await engine.handle(PARENT, question)
    text = "\n".join(r.text for r in replies)
    assert "999" not in text
    assert _opening(responses, "utter_danger_check") not in text
    state = await SqlStateStore(sessions).load(PARENT)
    assert state.flow is None, f"started the {state.flow.name.value if state.flow else ''} flow"
    assert state.danger_check is None
