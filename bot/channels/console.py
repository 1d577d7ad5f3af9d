"""A terminal conversation with the dialogue engine: buttons become numbered choices."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Button, Reply

QUIT_WORDS = {"quit", "exit", ":q"}
PROMPT = "you> "


class ConsoleChat:
    def __init__(
        self,
        engine: DialogueEngine,
        stdin: TextIO,
        stdout: TextIO,
        parent_id: str = "console",
        after_turn: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._after_turn = after_turn
        self._in = stdin
        self._out = stdout
        self._parent_id = parent_id
        self._choices: tuple[Button, ...] = ()

    async def run(self) -> None:
        """Greet as /start does, then answer line by line until end of input or "quit"."""
        self._write("Type your message, a number to pick a choice, or 'quit' to leave.\n")
        await self._send("/start")
        while True:
            self._out.write(PROMPT)
            self._out.flush()
            line = await asyncio.to_thread(self._in.readline)
            if not line or line.strip().lower() in QUIT_WORDS:
                self._write("\nBye for now.\n")
                return
            if not line.strip():
                continue
            await self._send(*self._resolve_choice(line.strip()))

    def _resolve_choice(self, line: str) -> tuple[str, str | None]:
        """A number picks one of the last message's buttons (its payload, and its title for the
        transcript); anything else is sent as typed."""
        if line.isdigit() and 1 <= int(line) <= len(self._choices):
            button = self._choices[int(line) - 1]
            self._write(f"  (you chose: {button.title})\n")
            return button.payload, button.title
        return line, None

    async def _send(self, text: str, label: str | None = None) -> None:
        replies = await self._engine.handle(self._parent_id, text, label=label)
        choices: list[Button] = []
        for reply in replies:
            self._show(reply, first_number=len(choices) + 1)
            choices += reply.buttons
        self._choices = tuple(choices)
        if self._after_turn is not None:
            await self._after_turn()

    def _show(self, reply: Reply, first_number: int) -> None:
        if reply.document is not None:
            self._write(f"bot> [file {reply.document.filename}]\n")
            self._write("".join(f"     | {line}\n" for line in reply.document.text.splitlines()))
        text = "\n".join(f"bot> {line}" if line else "bot>" for line in reply.text.splitlines())
        self._write(f"{text}\n")
        for number, button in enumerate(reply.buttons, start=first_number):
            self._write(f"     [{number}] {button.title}\n")

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()
