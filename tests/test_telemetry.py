"""Rasa's usage telemetry is off unless the operator turns it on (it reports to Rasa's makers): the
`parentbot` command sets RASA_TELEMETRY_ENABLED=false before any command imports Rasa, and so does the
Makefile for everything it runs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.logs import configure_logging

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """main() points the log at the test's captured stderr: back to the usual set-up afterwards."""
    yield
    configure_logging()


VARIABLE = "RASA_TELEMETRY_ENABLED"


def _unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "")  # recorded, so the test's end restores the variable as it was
    monkeypatch.delenv(VARIABLE)


def test_parentbot_turns_rasa_telemetry_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _unset(monkeypatch)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/bot.db")
    monkeypatch.setenv("PROJECT_DIR", str(ROOT))
    assert main(["purge"]) == 0
    assert "Deleted 0 messages" in capsys.readouterr().out
    assert os.environ[VARIABLE] == "false"


def test_parentbot_keeps_a_telemetry_choice_the_operator_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(VARIABLE, "true")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/bot.db")
    monkeypatch.setenv("PROJECT_DIR", str(ROOT))
    assert main(["purge"]) == 0
    assert os.environ[VARIABLE] == "true"


@pytest.mark.parametrize(("given", "seen"), [(None, "false"), ("true", "true")])
def test_the_makefile_exports_telemetry_off(given: str | None, seen: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != VARIABLE and not key.startswith("MAKE")}
    if given is not None:
        env[VARIABLE] = given
    shown = subprocess.run(
        ["make", "-s", "--eval", f'show-telemetry: ; @echo "$${VARIABLE}"', "show-telemetry"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.strip() == seen
