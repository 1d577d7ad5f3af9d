"""`parentbot run` (what `make run` starts with a token), a real process, against the local Bot API server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from devserver import BotApiServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "777000:run-command-test"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PROJECT_DIR": str(ROOT),
        "SCHOOLS_FILE": str(ROOT / "schools.example.yml"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/run.db",
        **extra,
    }


async def test_parentbot_run_answers_a_parent_through_the_configured_bot_api(
    model_path: Path, tmp_path: Path
) -> None:
    async with BotApiServer(token=TOKEN) as server:
        env = _env(
            tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=server.base_url, RASA_MODEL=str(model_path)
        )
        process = subprocess.Popen(  # noqa: ASYNC220 - started once; the test awaits the server, not it
            [sys.executable, "-m", "bot.cli", "run"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            await server.wait_for_call("setMyCommands", timeout=180)
            parent = server.create_user("Jo")
            server.user_sends_text(parent, "/start")
            welcome = await server.wait_for_message(parent.id, timeout=30)
            assert "Embrace Multi Academy Trust" in welcome["text"]
            asker = server.create_user("Al")
            server.user_sends_text(asker, "can i add my sons teacher as a friend on facebook")
            answer = await server.wait_for_message(asker.id, timeout=120)  # waits for the model
            assert "(Code:" in answer["text"]
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = await asyncio.to_thread(process.communicate, timeout=60)
    assert process.returncode == 0, output[-3000:]
    # Polling starts while the model loads in the background: /start needs no model.
    assert output.index("is ready") < output.index(" loaded in "), output[-3000:]
    assert TOKEN.split(":")[1] not in output, "the token must never be logged"
    assert "/start" not in output.replace("parentbot", "")


async def test_a_model_that_cannot_be_loaded_stops_run_with_one_clear_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a model")
    async with BotApiServer(token=TOKEN) as server:
        env = _env(
            tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=server.base_url, RASA_MODEL=str(broken)
        )
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot.cli", "run"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"parentbot: RASA_MODEL: {broken} could not be loaded" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_schools_file_stops_run_with_one_clear_line(tmp_path: Path) -> None:
    env = _env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, SCHOOLS_FILE=str(tmp_path / "nope.yml"))
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("parentbot: SCHOOLS_FILE:")


def test_an_invalid_token_stops_run_naming_the_setting(tmp_path: Path) -> None:
    env = _env(tmp_path, TELEGRAM_BOT_TOKEN="not a token")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "not a token" not in result.stderr


def test_run_without_a_token_says_so_and_opens_the_console(model_path: Path, tmp_path: Path) -> None:
    env = _env(tmp_path, RASA_MODEL=str(model_path))
    env.pop("TELEGRAM_BOT_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        input="quit\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TELEGRAM_BOT_TOKEN is not set: starting the console chat instead." in result.stdout
    assert "Which school" in result.stdout or "which school" in result.stdout
