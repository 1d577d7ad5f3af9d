"""Which chat a case's card goes to: the staff policy, as one pure function of the case and the schools.

An urgent case goes to the school's safeguarding chat (its staff chat when it names none). A complaint
about the head teacher or the trust goes, as academies' complaints procedures say, to the people who
handle those (the chair of governors, the trust's complaints officer): the school's `complaints_chat_id`,
else the trust's; never to the school's staff group while either is configured. With neither, it goes to
the school's chat, and the card says what it is about and that no complaints chat is set
(`parentbot check` says so too). Everything else goes to the school's staff chat.

No storage, no Telegram: storage is handed a CardRouting (bot/services.py builds it) and only records the
chat it names, following chat moves itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain import ABOUT_HEAD, CaseKind, Priority, Step
from bot.schools import School, Schools, Trust

ABOUT = Step.ABOUT.value
"""The details key of a complaint's answer to "is it about the head teacher or the trust?"."""


def about_head(kind: CaseKind | str, details: Mapping[str, Any] | None) -> bool:
    """A complaint the parent said is about the head teacher or the trust."""
    return CaseKind(kind) is CaseKind.COMPLAINT and (details or {}).get(ABOUT) == ABOUT_HEAD


def complaints_owner(schools: Schools, school_id: str) -> School | Trust | None:
    """Whose complaints chat takes the school's complaints about the head: the school's own, else the
    trust's; None when neither names one."""
    school = schools.get(school_id)
    if school is not None and school.complaints_chat_id is not None:
        return school
    if schools.trust.complaints_chat_id is not None:
        return schools.trust
    return None


def complaints_chat(schools: Schools, school_id: str) -> int | None:
    owner = complaints_owner(schools, school_id)
    return owner.complaints_chat_id if owner is not None else None


def case_chat(
    schools: Schools,
    school: School,
    priority: Priority,
    kind: CaseKind | str | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """The configured chat for a new case's card (before any chat move is followed)."""
    if kind is not None and about_head(kind, details):
        chat_id = complaints_chat(schools, school.id)
        if chat_id is not None:
            return chat_id
    return school.case_chat_id(priority is Priority.URGENT)


class CardRouting:
    """The staff policy as the stores ask it (bot.storage.common.CardRoute): the configured chat for a
    case's card, or None for a school the schools file does not name (the case keeps its chat)."""

    def __init__(self, schools: Schools) -> None:
        self._schools = schools

    def __call__(
        self,
        school_id: str,
        priority: Priority,
        kind: CaseKind | str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int | None:
        school = self._schools.get(school_id)
        return case_chat(self._schools, school, priority, kind, details) if school is not None else None


def unrouted_schools(schools: Schools) -> list[str]:
    """The schools whose complaints about the head would reach their own staff chat: no complaints
    chat is configured for them, nor for the trust."""
    return [school.id for school in schools.schools if complaints_chat(schools, school.id) is None]
