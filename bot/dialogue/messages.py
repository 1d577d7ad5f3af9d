"""Plain values that cross the boundary between the dialogue engine and any channel."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Button:
    """A quick reply: `title` is shown, `payload` comes back as the parent's message when tapped."""

    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    """One message from the bot, with its quick-reply buttons."""

    text: str
    buttons: tuple[Button, ...] = ()
