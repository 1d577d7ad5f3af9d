"""Reading the commands, settings and names a Markdown document gives its readers, so tests can hold the
README and docs/deployment.md to the code: `make` targets, `parentbot` commands, settings."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

from bot.cli.main import build_parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent

_FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_SHELL_END = re.compile(r"\s(?:&&|\|\||[|;>])\s")
_ENVIRONMENT_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
_MAKE_TARGET = re.compile(r"^([a-z][a-z-]*):", re.MULTILINE)
_MAKE = re.compile(r"(?:^|\s)make ([a-z][a-z-]*)")


def code_blocks(text: str, *languages: str) -> list[str]:
    """The fenced blocks' contents, of the given languages only when some are named."""
    return [body for language, body in _FENCE.findall(text) if not languages or language in languages]


def shell_lines(text: str) -> list[str]:
    """Every command line of the `sh` blocks, without blank lines and comments."""
    lines = (line.strip() for block in code_blocks(text, "sh") for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def inline_code(text: str) -> list[str]:
    """The `code spans` outside fenced blocks."""
    return _INLINE.findall(_FENCE.sub("", text))


def commands(text: str) -> list[str]:
    """Everything a reader may type: the shell lines, then each code span."""
    return shell_lines(text) + inline_code(text)


def _words_from(command: str, start: int) -> list[str]:
    """The command's words from `start`, up to the first shell operator."""
    rest = _SHELL_END.split(command[start:], maxsplit=1)[0]
    return shlex.split(rest)


def parentbot_invocations(text: str) -> list[list[str]]:
    """The arguments of every `parentbot ...` (or `.venv/bin/parentbot ...`) the text tells one to run."""
    found = []
    for command in commands(text):
        for match in re.finditer(r"(?:^|(?<=/bin/))parentbot(?= )", command):
            found.append(_words_from(command, match.end()))
    return found


def parse_error(arguments: list[str]) -> str | None:
    """Why the real command line refuses these arguments, or None when it takes them."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            build_parser().parse_args(arguments)
    except SystemExit as exit_:
        if exit_.code != 0:
            return f"parentbot {' '.join(arguments)}: {said.getvalue().strip().splitlines()[-1]}"
    return None


def make_targets_named(text: str) -> set[str]:
    """The targets of every `make TARGET` the text tells one to run (also after `sudo env X=y`)."""
    return {target for command in commands(text) for target in _MAKE.findall(command)}


def makefile_targets() -> set[str]:
    return set(_MAKE_TARGET.findall((ROOT / "Makefile").read_text(encoding="utf-8")))


def setting_names() -> set[str]:
    """The environment variables the bot reads as its settings."""
    return {name.upper() for name in Settings.__fields__}


def environment_names(text: str) -> set[str]:
    """Names written like environment variables (capitals with an underscore)."""
    return set(_ENVIRONMENT_NAME.findall(text))
