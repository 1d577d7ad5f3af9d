"""Plain values that cross the boundary between the dialogue engine and any channel."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
"""Bidirectional controls and zero-width characters: they can reorder or hide what a reader sees."""


def without_control_characters(text: str) -> str:
    """Text as people type it: control characters (NUL and the like, never typed on purpose) removed;
    tabs and line breaks stay. PostgreSQL cannot store NUL in a text column at all."""
    return _CONTROL.sub("", text)


def without_invisible_characters(text: str) -> str:
    """Text without control characters, bidirectional controls (e.g. U+202E, which shows the rest of a
    line backwards) and zero-width characters: what staff read is what is there."""
    return _INVISIBLE.sub("", without_control_characters(text))


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
