"""The console channel, driven through stdin and stdout: in-process and as the real command."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bot.channels.console import ConsoleChat
from bot.dialogue.engine import DialogueEngine

ROOT = Path(__file__).resolve().parent.parent


async def _chat(engine: DialogueEngine, typed: str) -> str:
    out = io.StringIO()
    await ConsoleChat(engine, io.StringIO(typed), out).run()
    return out.getvalue()


async def test_buttons_are_numbered_and_picked_by_number(engine: DialogueEngine) -> None:
    screen = await _chat(engine, "3\n")
    assert "[3] Riverside Academy" in screen
    assert "(you chose: Riverside Academy)" in screen
    assert "Riverside Academy" in screen.split("(you chose: Riverside Academy)")[1]


async def test_a_number_with_no_such_choice_is_sent_as_text(engine: DialogueEngine) -> None:
    screen = await _chat(engine, "99\n")
    assert "you chose" not in screen
    assert screen.count("bot>") >= 2


async def test_quit_and_end_of_input_both_end_the_chat(engine: DialogueEngine) -> None:
    assert (await _chat(engine, "quit\nhello\n")).rstrip().endswith("Bye for now.")
    assert (await _chat(engine, "")).rstrip().endswith("Bye for now.")


def test_parentbot_chat_command_answers_on_stdin(model_path: Path, tmp_path: Path) -> None:
    """The installed `parentbot chat` command, as a user runs it, in a clean working directory."""
    env = {
        **os.environ,
        "PROJECT_DIR": str(ROOT),
        "SCHOOLS_FILE": str(ROOT / "schools.example.yml"),
        "RASA_MODEL": str(model_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        input="1\nwhat does the social media code say\nquit\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[1] Oakfield Primary School" in result.stdout
    assert "(you chose: Oakfield Primary School)" in result.stdout
    assert '(Code: "' in result.stdout
    assert "what does the social media code say" not in result.stderr


def test_a_case_filed_in_the_console_is_shown_as_staff_would_get_it(model_path: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PROJECT_DIR": str(ROOT),
        "SCHOOLS_FILE": str(ROOT / "schools.example.yml"),
        "RASA_MODEL": str(model_path),
    }
    env.pop("DATABASE_URL", None)
    typed = "\n".join(
        ["1", "/human_handoff", "yes", "Please ring me about the school trip", "1", "yes", "quit"]
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        input=typed + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "The staff chat of Oakfield Primary School would receive" in result.stdout
    card = result.stdout.split("would receive")[1]
    assert "Please ring me about the school trip" in card
    assert (tmp_path / "parentbot-console.db").exists(), "the console keeps its own database"
