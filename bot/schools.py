"""The trust and its schools, read and checked once from the schools file (SCHOOLS_FILE) at start-up by
the command line; nothing here runs at import time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, Field, ValidationError, validator

from bot.config import ConfigError

log = logging.getLogger(__name__)


def _group_chat_id(value: int | None) -> int | None:
    """Group and supergroup ids are negative; a positive id is a person's private chat, not a staff room."""
    if value is not None and value >= 0:
        raise ValueError(
            f"{value} is not a group chat id (group ids are negative, e.g. -1001234567890): add the bot "
            "to the group and use the group's id"
        )
    return value


def _named_staff(ids: list[int], values: dict[str, object], chats: tuple[str, ...], owner: str) -> list[int]:
    """Only the people listed may see and act on cases in a staff chat: an empty list is refused unless
    the owner opted out with allow_all_members (any member of the chat then counts as staff)."""
    if ids or values.get("allow_all_members") is True:
        return ids
    named = ", ".join(f"{key} {values[key]}" for key in chats if values.get(key) is not None)
    raise ValueError(
        f"is empty for {owner} ({named}): list the Telegram user ids of the staff who may see and act on "
        "cases there, or set allow_all_members: true to let every member of the chat do so"
    )


def _complaints_staff(ids: list[int], values: dict[str, object], owner: str) -> list[int]:
    """A complaints chat needs its own list: the school's staff (its head among them) are not the
    people who may read a complaint about the head."""
    if values.get("complaints_chat_id") is None or ids or values.get("allow_all_members") is True:
        return ids
    raise ValueError(
        f"is empty for {owner} (complaints_chat_id {values['complaints_chat_id']}): list the Telegram user "
        "ids of the people who handle complaints about the head teacher (e.g. the chair of governors)"
    )


DEFAULT_LAWFUL_BASIS = (
    "public task (UK GDPR Article 6(1)(e)), and for safeguarding concerns substantial public interest "
    "(Data Protection Act 2018, Schedule 1)"
)
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ClosedDays(BaseModel):
    """Days the school is closed, such as a holiday (both days included)."""

    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @validator("end")
    def _in_order(cls, end: date, values: dict[str, object]) -> date:  # noqa: N805
        start = values.get("start")
        if isinstance(start, date) and end < start:
            raise ValueError("'to' is before 'from'")
        return end


class StaffedHours(BaseModel):
    """When someone reads the school's staff chats: outside these hours the parent of an urgent case is
    told that staff may not see it until the next working day, and given the numbers to call now."""

    days: list[str] = list(WEEKDAYS[:5])
    opens: time = time(8, 0)
    closes: time = time(17, 0)
    closed: list[ClosedDays] = []
    """Holidays and closure days."""
    timezone: str = "Europe/London"
    always: bool = False
    """Someone reads the chats at every hour (a 24-hour safeguarding rota): the rest is ignored."""

    @validator("days", each_item=True)
    def _weekday(cls, day: str) -> str:  # noqa: N805
        if day.lower()[:3] not in WEEKDAYS:
            raise ValueError(f"{day!r} is not a day of the week (mon, tue, ...)")
        return day.lower()[:3]

    @validator("closes")
    def _after_opening(cls, closes: time, values: dict[str, object]) -> time:  # noqa: N805
        opens = values.get("opens")
        if isinstance(opens, time) and closes <= opens:
            raise ValueError("'closes' must be after 'opens'")
        return closes

    @validator("timezone")
    def _known_zone(cls, zone: str) -> str:  # noqa: N805
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{zone!r} is not a known time zone (e.g. Europe/London)") from None
        return zone

    def staffed_at(self, when: datetime) -> bool:
        if self.always:
            return True
        local = when.astimezone(ZoneInfo(self.timezone))
        if WEEKDAYS[local.weekday()] not in self.days:
            return False
        if any(days.start <= local.date() <= days.end for days in self.closed):
            return False
        return self.opens <= local.time() < self.closes


class Trust(BaseModel):
    """The trust: the data controller for everything parents tell the bot (the privacy notice)."""

    name: str
    website: str
    code_of_conduct_url: str
    complaints_policy_url: str
    email: str
    phone: str
    safeguarding_chat_id: int | None = None
    """The trust's safeguarding chat: cases go there when a school's chat cannot be reached, and /stats
    there covers every school."""
    allow_all_members: bool = False
    """Any member of the trust's safeguarding chat counts as staff (logged as a warning at start)."""
    staff_user_ids: list[int] = []
    """Who may see and act on cases in the trust's safeguarding chat (required with that chat)."""
    dpo_email: str = Field(regex=_EMAIL)
    """The data protection officer's address, given to parents for every data request."""
    lawful_basis: str = DEFAULT_LAWFUL_BASIS
    """The lawful basis the trust chose for this processing, as one line of the privacy notice."""
    out_of_hours_phone: str | None = None
    """The local authority's out-of-hours children's services line, for schools that name none."""
    complaints_chat_id: int | None = None
    """Where complaints about a head teacher or the trust go, for schools that name no chat of their own
    (the trust's complaints procedure: the chair of governors, or the trust's complaints officer)."""
    complaints_user_ids: list[int] = []
    """Who may see and act on cases in the trust's complaints chat (required with that chat)."""

    _group = validator("safeguarding_chat_id", "complaints_chat_id", allow_reuse=True)(_group_chat_id)

    @validator("staff_user_ids", always=True)
    def _staff_named(cls, ids: list[int], values: dict[str, object]) -> list[int]:  # noqa: N805
        if values.get("safeguarding_chat_id") is None:
            return ids
        return _named_staff(ids, values, ("safeguarding_chat_id",), "the trust")

    @validator("complaints_user_ids", always=True)
    def _complaints_staff_named(cls, ids: list[int], values: dict[str, object]) -> list[int]:  # noqa: N805
        return _complaints_staff(ids, values, "the trust")


class School(BaseModel):
    id: str = Field(regex=r"^[a-z0-9][a-z0-9-]{0,31}$")
    name: str
    aliases: list[str] = []
    staff_chat_id: int
    safeguarding_chat_id: int | None = None
    """Where the school's urgent (safeguarding) cases go; its staff chat when not set."""
    allow_all_members: bool = False
    """Any member of the school's chats counts as staff (logged as a warning at start)."""
    staff_user_ids: list[int] = []
    """Who may see and act on the school's cases in its chats (required unless allow_all_members)."""
    show_staff_names: bool = False
    """Whether parents see the staff member's name, or "the staff at <school>" (the default)."""
    complaints_policy_url: str
    email: str
    phone: str
    staffed_hours: StaffedHours = StaffedHours()
    out_of_hours_phone: str | None = None
    """The local authority's children's services emergency line, given to parents of urgent cases
    outside the staffed hours (the trust's when not set)."""

    complaints_chat_id: int | None = None
    """Where complaints about this school's head teacher (or the trust) go, never its staff chat: the
    chair of governors' group, as the complaints procedure says (else the trust's complaints chat)."""
    complaints_user_ids: list[int] = []
    """Who may see and act on cases in the school's complaints chat (required with that chat)."""

    _group = validator("staff_chat_id", "safeguarding_chat_id", "complaints_chat_id", allow_reuse=True)(
        _group_chat_id
    )

    @validator("staff_user_ids", always=True)
    def _staff_named(cls, ids: list[int], values: dict[str, object]) -> list[int]:  # noqa: N805
        owner = f"school {values.get('id', '?')}"
        return _named_staff(ids, values, ("staff_chat_id", "safeguarding_chat_id"), owner)

    @validator("complaints_user_ids", always=True)
    def _complaints_staff_named(cls, ids: list[int], values: dict[str, object]) -> list[int]:  # noqa: N805
        chat_id = values.get("complaints_chat_id")
        if chat_id is not None and chat_id in (
            values.get("staff_chat_id"),
            values.get("safeguarding_chat_id"),
        ):
            raise ValueError(
                f"complaints_chat_id {chat_id} is also a staff chat of school {values.get('id', '?')}: "
                "complaints about the head teacher must go to another chat (the chair of governors')"
            )
        return _complaints_staff(ids, values, f"school {values.get('id', '?')}")

    def case_chat_id(self, urgent: bool) -> int:
        """The chat a new case's card goes to."""
        if urgent and self.safeguarding_chat_id is not None:
            return self.safeguarding_chat_id
        return self.staff_chat_id

    @property
    def chat_ids(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys((self.staff_chat_id, self.case_chat_id(urgent=True))))


@dataclass(frozen=True)
class ConfiguredChat:
    """A chat named in the schools file, and where: what an operator must change when it moves."""

    chat_id: int
    school_id: str | None
    """None for the trust's own chat."""
    key: str
    """The setting that names it: staff_chat_id or safeguarding_chat_id."""

    @property
    def where(self) -> str:
        owner = f"school {self.school_id}" if self.school_id else "trust"
        return f"{owner} {self.key}"


class Schools(BaseModel):
    """The trust and its schools, as configured in the schools file."""

    trust: Trust
    schools: list[School]

    @validator("schools")
    def _unique_ids(cls, schools: list[School]) -> list[School]:  # noqa: N805
        if not schools:
            raise ValueError("at least one school is needed")
        ids = [school.id for school in schools]
        if len(set(ids)) != len(ids):
            raise ValueError("school ids must be unique")
        return schools

    @validator("schools")
    def _fallback_is_its_own_chat(cls, schools: list[School], values: dict[str, object]) -> list[School]:  # noqa: N805
        trust = values.get("trust")
        fallback = trust.safeguarding_chat_id if isinstance(trust, Trust) else None
        complaints = trust.complaints_chat_id if isinstance(trust, Trust) else None
        for school in schools:
            if fallback is not None and fallback in school.chat_ids:
                raise ValueError(
                    f"trust.safeguarding_chat_id {fallback} is also a chat of school {school.id}: the "
                    "fallback must be a different chat, used when a school's chat cannot be reached"
                )
            if complaints is not None and complaints in school.chat_ids:
                raise ValueError(
                    f"trust.complaints_chat_id {complaints} is also a chat of school {school.id}: "
                    "complaints about the head teacher must not go to the school's staff"
                )
        return schools

    def get(self, school_id: str | None) -> School | None:
        return next((s for s in self.schools if s.id == school_id), None)

    @property
    def fallback_chat_id(self) -> int | None:
        """The trust's safeguarding chat, used when a school's chat fails."""
        return self.trust.safeguarding_chat_id

    def configured_chats(self) -> list[ConfiguredChat]:
        """Every chat the schools file names, each once (the first setting naming it)."""
        chats: dict[int, ConfiguredChat] = {}
        for school in self.schools:
            for key in ("staff_chat_id", "safeguarding_chat_id", "complaints_chat_id"):
                chat_id = getattr(school, key)
                if chat_id is not None:
                    chats.setdefault(chat_id, ConfiguredChat(chat_id, school.id, key))
        for key in ("safeguarding_chat_id", "complaints_chat_id"):
            chat_id = getattr(self.trust, key)
            if chat_id is not None:
                chats.setdefault(chat_id, ConfiguredChat(chat_id, None, key))
        return list(chats.values())

    def named(self, chat_id: int) -> ConfiguredChat | None:
        """Which setting names this chat (None when no setting does)."""
        return next((chat for chat in self.configured_chats() if chat.chat_id == chat_id), None)

    def match(self, mention: str) -> School | None:
        """The school a parent's mention (an NLU entity value, id, name or alias) refers to."""
        wanted = _simplify(mention)
        for school in self.schools:
            names = [school.id, school.name, *school.aliases]
            if wanted in {_simplify(name) for name in names}:
                return school
        return None


def _simplify(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def load_schools(path: Path) -> Schools:
    """Read and check the schools file; any problem becomes one clear ConfigError line."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"SCHOOLS_FILE: {path} does not exist (copy schools.example.yml to start)"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"SCHOOLS_FILE: {path} is not valid YAML ({error})") from None
    try:
        schools = Schools.parse_obj(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"SCHOOLS_FILE: {path}: {where}: {first['msg']}") from None
    warn_open_chats(schools)
    return schools


def warn_open_chats(schools: Schools) -> None:
    """One warning per chat where, by explicit choice, every member counts as staff."""
    for chat in schools.configured_chats():
        school = schools.get(chat.school_id)
        owner = school if school is not None else schools.trust
        if owner.allow_all_members and not owner.staff_user_ids:
            log.warning(
                "Chat %s (%s): allow_all_members is set, so every member of the chat may see and act on "
                "cases there",
                chat.chat_id,
                chat.where,
            )
