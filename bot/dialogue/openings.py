"""What a parent's opening message says beyond its intent and entities: their own account, the platform,
when it happens, who is involved (in a bullying report), who staff should ask for (the parent's name,
the child's name and class), and whether it spoke of posting online. Plain patterns over the text, each
returning the parent's own words as they wrote them, or None; the flow then does not ask again, and the
bot says what it noted so the parent can put it right."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.dialogue.variables import PLATFORM_NAMES
from bot.dialogue.vocabulary import CHILD

DESCRIPTION_MIN_WORDS = 10
"""A typed message that starts a flow with at least this many words is taken as the parent's account."""


@dataclass(frozen=True)
class Opening:
    """What the message that started a flow already says, so its steps do not ask for it again."""

    description: str | None = None
    """The parent's own account (a message long enough to be one)."""
    where: str | None = None
    """The platform it names, in its display form."""
    school_named: bool = False
    """The message named the school (the flow's school came from it, not from an earlier choice)."""
    when: str | None = None
    """When it happens ("since Monday"), in the parent's words."""
    who: str | None = None
    """Who is involved ("girls in her class"), in the parent's words."""
    not_in_danger: bool = False
    """The parent has just answered the gate's "is a child at risk now?" with no."""
    names: str | None = None
    """The parent's name and the child's name and class, in the parent's words ("Sarah Jones, Tom,
    Year 4")."""


def opening_of(text: str, platform: str | None, *, school_named: bool, not_in_danger: bool) -> Opening:
    """What a typed message that starts a flow already tells: its text as the description when it is
    long enough to be an account, the platform the model found in it (`platform`), when, who, names."""
    text = text.strip()
    return Opening(
        description=text if len(text.split()) >= DESCRIPTION_MIN_WORDS else None,
        where=PLATFORM_NAMES.get(platform or ""),
        school_named=school_named,
        when=when_in(text),
        who=who_in(text),
        names=names_in(text),
        not_in_danger=not_in_danger,
    )


_POSTING_WORDS = re.compile(
    r"\b(post(s|ed|ing)?|online|social media|comments?|tweet(s|ed)?|group chats?|share (it|this))\b",
    re.IGNORECASE,
)


def spoke_of_posting(text: str | None, platform: str | None) -> bool:
    """The parent's message named a platform (the model's entity) or spoke of posting or sharing online."""
    return bool(platform) or bool(text and _POSTING_WORDS.search(text))


_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|the weekend|yesterday)"
_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|christmas|easter|half[- ]term|the summer|the holidays)"
)
_AMOUNT = r"(?:a|an|one|two|three|four|five|six|several|a few|a couple of|\d{1,2})"
_WHEN = re.compile(
    rf"\b(?:since (?:last |this )?(?:{_DAY}|{_MONTH}|week|month|term|the start of (?:term|the year))"
    rf"|for (?:{_AMOUNT}|the last {_AMOUNT}|the past {_AMOUNT}) (?:days?|weeks?|months?)"
    r"|(?:last|this) (?:night|week|weekend|month|term|morning)"
    rf"|yesterday|every (?:day|night|evening|morning|weekend)|on {_DAY})\b",
    re.IGNORECASE,
)
_NAME = r"[A-Z][a-z'\u2019-]+"
_PARENT = re.compile(
    rf"\b(?i:i'?m|i am|my name is|this is)\s+((?:(?i:mrs|mr|ms|miss|mx|dr)\.?\s+)?{_NAME}(?:\s+{_NAME})?)"
)
_CHILD = re.compile(rf"\b(?i:my|our)\s+(?i:{CHILD})\s*,?\s+({_NAME})")
_CLASS = re.compile(
    r"\b((?i:year)\s?\d{1,2}|Y\d{1,2}|(?i:reception)|(?i:nursery)|(?i:class)\s+\w+|\d[A-Z])\b"
)
_PUPILS = (
    r"(?:(?:two|three|four|five|some|several|a few|a group of|a gang of|a couple of|the|other|older)\s+)?"
    r"(?:girls|boys|kids|children|pupils|lads|students)"
)
_PUPIL = r"(?:a|another|one|this|an older|the same)\s+(?:girl|boy|kid|child|pupil|lad|student)"
_WHO = re.compile(
    rf"\b(?:{_PUPILS}|{_PUPIL})\s+(?:(?:in|from|at)\s+(?:his|her|their|our|the same|my \w+'?s)\s+"
    r"(?:class|year|form|school|team|group)|in year\s?\d{1,2})\b",
    re.IGNORECASE,
)
"""Pupils of a class, a year or the school: "boys in his class", "two girls from her year", "a boy in
year 6". Other people (a name alone, "someone") are left for the question, which asks for more."""
_NOT_NAMES = frozenset({"I", "The", "It", "He", "She", "They", "Very", "So", "Really", "Not", "Just"})


def when_in(text: str) -> str | None:
    """The first phrase saying when it happens ("since Monday", "every night"), as written."""
    match = _WHEN.search(text)
    return match.group(0) if match else None


def who_in(text: str) -> str | None:
    """Who is involved, when the opening says it plainly ("girls in her class"), as written."""
    match = _WHO.search(text)
    return match.group(0) if match else None


def names_in(text: str) -> str | None:
    """The parent's name and the child's name (and class, when given), as written, joined by commas;
    None unless both names are there: half an answer would still be asked for."""
    parent, child = _PARENT.search(text), _CHILD.search(text)
    if parent is None or child is None:
        return None
    if parent.group(1).split()[0] in _NOT_NAMES or child.group(1) in _NOT_NAMES:
        return None
    school_class = _CLASS.search(text, child.start())
    parts = [parent.group(1), child.group(1), *([school_class.group(1)] if school_class else [])]
    return ", ".join(parts)
