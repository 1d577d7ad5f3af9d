"""The bot's answer texts and buttons, read from `domain.yml` and filled in from configuration."""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue.messages import Button, Reply


class _KeepUnknown(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class ResponseBook:
    """Every `utter_*` response of the domain; renders one with template variables filled in."""

    def __init__(
        self, responses: Mapping[str, list[dict[str, Any]]], constants: Mapping[str, str] | None = None
    ) -> None:
        self._responses = dict(responses)
        self._constants = dict(constants or {})
        self._fields: dict[str, frozenset[str]] = {}

    @classmethod
    def from_domain(cls, domain_file: Path, constants: Mapping[str, str] | None = None) -> ResponseBook:
        """`constants`: variables every response may use (the privacy notice's, bot/dialogue/notice.py)."""
        domain = yaml.safe_load(domain_file.read_text(encoding="utf-8"))
        return cls(domain.get("responses") or {}, constants)

    @property
    def names(self) -> set[str]:
        return set(self._responses)

    def __contains__(self, name: object) -> bool:
        return name in self._responses

    def render(self, name: str, variables: Mapping[str, str]) -> Reply:
        """The response's first variation with `{variables}` filled; unknown names stay visible."""
        variation = self._responses[name][0]
        values = _KeepUnknown({**self._constants, **variables})
        text = string.Formatter().vformat(str(variation.get("text", "")), (), values)
        buttons = tuple(
            Button(
                title=string.Formatter().vformat(str(b["title"]), (), values),
                payload=str(b["payload"]),
            )
            for b in variation.get("buttons") or []
        )
        return Reply(text=text.strip(), buttons=buttons)

    def button_titles(self) -> dict[str, set[str]]:
        """Every button's payload with the titles it is shown under (as written, variables unfilled)."""
        titles: dict[str, set[str]] = {}
        for variations in self._responses.values():
            for button in variations[0].get("buttons") or []:
                titles.setdefault(str(button["payload"]), set()).add(str(button["title"]))
        return titles

    def template_fields(self, name: str) -> frozenset[str]:
        """The `{variables}` a response's text and buttons use (read once per response: the engine asks on
        every answer given before a school is chosen)."""
        if name in self._fields:
            return self._fields[name]
        variation = self._responses[name][0]
        texts = [str(variation.get("text", ""))]
        texts += [str(b["title"]) for b in variation.get("buttons") or []]
        fields = frozenset(
            field for text in texts for _, field, _, _ in string.Formatter().parse(text) if field is not None
        )
        self._fields[name] = fields
        return fields
