"""The decisions behind /setup and the start-up check, without Telegram: which rights the bot holds from
its membership (PTB's own ChatMember types), and which schools-file line the answer gives."""

from __future__ import annotations

import pytest
from devserver.membership import ADMIN_RIGHTS, RESTRICTED_RIGHTS
from telegram import (
    AcceptedGiftTypes,
    ChatFullInfo,
    ChatMember,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ChatPermissions,
    User,
)

from bot.dialogue.responses import ResponseBook
from bot.schools import Schools
from bot.staff.cards import StaffTexts
from bot.staff.chats import ChatRights, StaffChats
from bot.telegram.staff.chat_checks import chat_rights
from bot.telegram.staff.setup import GroupSetup, named_as, setup_answer

BOT = User(424242, "Bot", is_bot=True)
EVERY = ChatRights(member=True, post=True, pin=True, manage_topics=True, forum=False)


def admin(**rights: bool) -> ChatMemberAdministrator:
    granted = {**dict.fromkeys(ADMIN_RIGHTS, True), **rights}
    return ChatMemberAdministrator(BOT, can_be_edited=False, is_anonymous=False, **granted)


def restricted(*, is_member: bool = True, **rights: bool) -> ChatMemberRestricted:
    granted = {**dict.fromkeys(RESTRICTED_RIGHTS, True), **rights}
    return ChatMemberRestricted(BOT, is_member=is_member, until_date=None, **granted)


def chat(forum: bool = False, **permissions: bool) -> ChatFullInfo:
    return ChatFullInfo(
        -1001000000001,
        "supergroup",
        accent_color_id=0,
        max_reaction_count=11,
        accepted_gift_types=AcceptedGiftTypes(False, False, False, False, False),
        is_forum=forum or None,
        permissions=ChatPermissions(**permissions) if permissions else None,
    )


@pytest.mark.parametrize(
    ("info", "member", "missing"),
    [
        (chat(), ChatMemberMember(BOT), ()),
        (chat(can_pin_messages=False), ChatMemberMember(BOT), ("pin",)),
        (chat(can_send_messages=False), ChatMemberMember(BOT), ("post",)),
        (chat(forum=True), ChatMemberMember(BOT), ("topics",)),
        (chat(forum=True), admin(can_pin_messages=True, can_manage_topics=True), ()),
        (chat(forum=True), admin(can_pin_messages=False, can_manage_topics=False), ("pin", "topics")),
        (chat(forum=True), admin(), ("topics",)),  # an administrator right not granted is not given
        (chat(), admin(can_manage_topics=False), ()),  # no topics, no need
        (chat(forum=True), ChatMemberOwner(BOT, is_anonymous=False), ()),
        (chat(forum=True), restricted(can_send_messages=False), ("post", "topics")),
        (chat(can_pin_messages=False), restricted(), ()),  # a restricted member's own rights count
    ],
)
def test_the_rights_the_bot_lacks_follow_its_membership(
    info: ChatFullInfo, member: ChatMember, missing: tuple[str, ...]
) -> None:
    assert chat_rights(info, member).missing == missing


@pytest.mark.parametrize(
    "member", [ChatMemberLeft(BOT), ChatMemberBanned(BOT, until_date=None), restricted(is_member=False)]
)
def test_a_bot_out_of_the_chat_is_no_member(member: ChatMember) -> None:
    assert not chat_rights(chat(), member).member


@pytest.fixture
def texts(responses: ResponseBook, schools: Schools) -> StaffTexts:
    return StaffTexts(responses, schools)


def test_an_unconfigured_group_is_given_the_staff_chat_line_and_the_stay(texts: StaffTexts) -> None:
    answer = setup_answer(texts, GroupSetup(-4000000001, "group", EVERY, None), stay_minutes=10)
    assert "\nstaff_chat_id: -4000000001\n" in answer
    assert "safeguarding_chat_id: -4000000001" in answer
    assert "I leave 10 minutes after I was added" in answer


def test_a_configured_chat_is_given_its_own_setting(texts: StaffTexts, schools: Schools) -> None:
    trust = schools.copy(
        update={"trust": schools.trust.copy(update={"safeguarding_chat_id": -1001000000099})}
    )
    named = named_as(trust, StaffChats(trust), -1001000000099)
    assert named is not None
    answer = setup_answer(texts, GroupSetup(-1001000000099, "supergroup", EVERY, named), stay_minutes=10)
    assert answer.splitlines()[-2:] == [
        "This group is in the schools file (trust safeguarding_chat_id):",
        "safeguarding_chat_id: -1001000000099",
    ]


def test_a_moved_chat_is_found_by_its_old_id_and_given_the_line_to_change(
    texts: StaffTexts, schools: Schools
) -> None:
    chats = StaffChats(schools, {-1001000000003: -1009999999999})
    named = named_as(schools, chats, -1009999999999)
    assert named is not None
    assert (named.chat_id, named.where) == (-1001000000003, "school riverside staff_chat_id")
    answer = setup_answer(texts, GroupSetup(-1009999999999, "supergroup", EVERY, named), stay_minutes=10)
    assert answer.splitlines()[-1] == "staff_chat_id: -1009999999999"
    assert "-1001000000003 (school riverside staff_chat_id)" in answer
    assert named_as(schools, chats, -1001000000003) is None, "the old id is no longer the chat"
