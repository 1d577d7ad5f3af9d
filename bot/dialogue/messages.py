"""Plain values that cross the boundary between the dialogue engine and any channel."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def without_control_characters(text: str) -> str:
    """Text as people type it: control characters (NUL and the like, never typed on purpose) removed;
    tabs and line breaks stay. PostgreSQL cannot store NUL in a text column at all."""
    return _CONTROL.sub("", text)


@dataclass(frozen=True)
class Button:
    """A quick reply: `title` is shown, `payload` comes back as the parent's message when tapped."""

    title: str
    payload: str


@dataclass(frozen=True)
class Document:
    """A text file sent before a reply's text (e.g. the full preview of what would reach staff)."""

    filename: str
    text: str


@dataclass(frozen=True)
class Reply:
    """One message from the bot, with its quick-reply buttons (and a document sent before it, if any)."""

    text: str
    buttons: tuple[Button, ...] = ()
    document: Document | None = None
