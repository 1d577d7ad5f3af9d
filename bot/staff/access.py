"""Who counts as staff where: who may act on a school's cases in a chat, and whose staff list applies to a
chat's members.

Only a school's configured chats (its staff chat, its safeguarding chat, and the trust's fallback chat)
may act on that school's cases, and there only the members its staff_user_ids names (the trust's list in
the trust's safeguarding chat); every member only where the schools file sets allow_all_members instead.
A complaint about the head teacher, where a complaints chat is configured, is acted on only there (or in
the trust's fallback chat, where it goes if that chat fails), by the people its complaints_user_ids names:
never by the school's staff, its head among them.

Pure policy on the schools file and the chats followed through moves: the Telegram handlers
(bot/telegram/staff/) ask it before they act, and the membership check asks it who is named in a chat.
"""

from __future__ import annotations

from bot.domain import CaseView
from bot.schools import School, Schools, Trust
from bot.staff import routing
from bot.staff.chats import StaffChats


class StaffAccess:
    """The schools file's rules on who may act, in which chat."""

    def __init__(self, schools: Schools, chats: StaffChats) -> None:
        self._schools = schools
        self._chats = chats

    # ---- who may act on a case -----------------------------------------------------------------------

    def schools_for(self, chat_id: int | None, user_id: int) -> list[School]:
        """The schools whose cases this user may act on in this chat."""
        return [school for school in self._schools.schools if self.may_act(school, chat_id, user_id)]

    def may_act(self, school: School | None, chat_id: int | None, user_id: int) -> bool:
        """In one of the school's chats (staff or safeguarding), by a member the school lists in
        staff_user_ids; in the trust's safeguarding chat (where cases go when a school's chat fails), by
        a member the trust lists. Any member only where the list is empty and allow_all_members is set."""
        if school is None or chat_id is None or chat_id not in self._chats.of_school(school):
            return False
        trust = self._schools.trust
        named = trust if chat_id in self._chats.trust_chats() else school
        if named.staff_user_ids:
            return user_id in named.staff_user_ids
        return named.allow_all_members

    def may_act_on(self, view: CaseView, chat_id: int | None, user_id: int) -> bool:
        """As may_act for the case's school; but a complaint about the head teacher, where a complaints
        chat is configured (bot/staff/routing.py), only there (or in the trust's fallback chat), by the
        people its complaints_user_ids names."""
        owner = routing.complaints_owner(self._schools, view.school_id)
        if owner is None or not routing.about_head(view.kind, view.details):
            return self.may_act(self._schools.get(view.school_id), chat_id, user_id)
        if chat_id is not None and chat_id in self._chats.trust_chats():
            return self.may_act(self._schools.get(view.school_id), chat_id, user_id)
        complaints = owner.complaints_chat_id
        if (
            chat_id is None
            or complaints is None
            or chat_id not in {complaints, self._chats.current(complaints)}
        ):
            return False
        if owner.complaints_user_ids:
            return user_id in owner.complaints_user_ids
        return owner.allow_all_members

    # ---- who is named in a chat ----------------------------------------------------------------------

    def _owners(self, chat_id: int) -> list[School | Trust]:
        """Whose staff list applies in this chat: the schools it is a chat of, or the trust's."""
        owners: list[School | Trust] = [
            school
            for school in self._schools.schools
            if chat_id in {*school.chat_ids, *(self._chats.current(c) for c in school.chat_ids)}
        ]
        if chat_id in self._chats.trust_chats():
            owners.append(self._schools.trust)
        return owners

    def _complaints_owners(self, chat_id: int) -> list[School | Trust]:
        """Whose complaints chat this is (complaints about the head: their complaints_user_ids apply)."""
        owners: list[School | Trust] = [*self._schools.schools, self._schools.trust]
        return [
            owner
            for owner in owners
            if owner.complaints_chat_id is not None
            and chat_id in {owner.complaints_chat_id, self._chats.current(owner.complaints_chat_id)}
        ]

    def open_to_all(self, chat_id: int) -> bool:
        """Every member counts as staff here (allow_all_members): never restricted."""
        owners = [*self._owners(chat_id), *self._complaints_owners(chat_id)]
        return bool(owners) and all(owner.allow_all_members for owner in owners)

    def named(self, chat_id: int) -> frozenset[int]:
        """The Telegram ids the schools file names as staff of this chat."""
        staff = {user_id for owner in self._owners(chat_id) for user_id in owner.staff_user_ids}
        complaints = (
            user_id for owner in self._complaints_owners(chat_id) for user_id in owner.complaints_user_ids
        )
        return frozenset(staff.union(complaints))
