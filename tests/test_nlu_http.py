"""The bot's client of a Rasa server (RASA_URL) started with `--auth-token`: it sends RASA_TOKEN where
Rasa looks for it (the `token` query parameter), and the token never reaches the log or an error's text
(whoever has it can replace the model). The Rasa server is a tiny aiohttp server at the edge that answers like
`rasa run --enable-api --auth-token` does: 401 without the right token, a parse result with it."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import ConfigError, load_settings
from bot.logs import configure_logging
from bot.nlu.client import RasaServerError
from bot.services import load_nlu
from tests.telegram_harness import free_port

TOKEN = "rasa-token-5f0c2a9e7d41b3"
PARSE = {
    "text": "when is the school open",
    "intent": {"name": "ask_opening_hours", "confidence": 0.93},
    "entities": [],
    "intent_ranking": [{"name": "ask_opening_hours", "confidence": 0.93}],
}


@pytest.fixture
async def rasa_server() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A stand-in for Rasa's /model/parse with --auth-token TOKEN; yields its URL and the tokens seen."""
    seen: list[str | None] = []

    async def parse(request: web.Request) -> web.Response:
        seen.append(request.query.get("token"))
        if request.query.get("token") != TOKEN:
            return web.json_response({"status": "failure", "reason": "NotAuthenticated"}, status=401)
        body = await request.json()
        return web.json_response({**PARSE, "text": body["text"]})

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """The bot's logging at DEBUG, with httpx and httpcore turned up too (as an operator might)."""
    written = io.StringIO()
    configure_logging(logging.DEBUG, stream=written)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield written
    finally:
        configure_logging()


async def test_the_client_sends_rasa_token_and_never_logs_it(
    rasa_server: tuple[str, list[str | None]], debug_log: io.StringIO, tmp_path: Path
) -> None:
    url, seen = rasa_server
    settings = load_settings(_env_file=None, rasa_url=url, rasa_token=TOKEN, project_dir=tmp_path)
    nlu = load_nlu(settings)
    try:
        result = await nlu.parse("When is the school open?")
    finally:
        await nlu.close()
    assert seen == [TOKEN]
    assert (result.intent, result.confidence) == ("ask_opening_hours", 0.93)
    assert TOKEN not in debug_log.getvalue()
    assert TOKEN not in repr(settings)


async def test_a_wrong_token_is_an_error_that_does_not_quote_it(
    rasa_server: tuple[str, list[str | None]], debug_log: io.StringIO, tmp_path: Path
) -> None:
    url, seen = rasa_server
    wrong = "not-the-rasa-token-0123456789"
    nlu = load_nlu(load_settings(_env_file=None, rasa_url=url, rasa_token=wrong, project_dir=tmp_path))
    try:
        with pytest.raises(RasaServerError) as refused:
            await nlu.parse("When is the school open?")
    finally:
        await nlu.close()
    assert seen == [wrong]
    assert "401" in str(refused.value)
    assert wrong not in str(refused.value)
    logging.getLogger("bot.nlu").exception("Parse failed")
    assert wrong not in debug_log.getvalue()


def test_a_rasa_server_off_this_machine_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RASA_TOKEN", raising=False)
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, rasa_url="http://rasa.internal:5005")
    message = str(refused.value)
    assert message.startswith("Invalid setting RASA_TOKEN: is needed when RASA_URL is not on this machine")
    assert "\n" not in message
    for loopback in (
        "http://127.0.0.1:5005",
        "http://127.8.0.2:5005",
        "http://[::1]:5005",
        "http://localhost:5005",
    ):
        assert load_settings(_env_file=None, rasa_url=loopback).rasa_token is None
    remote = load_settings(_env_file=None, rasa_url="https://rasa.internal", rasa_token=TOKEN)
    assert remote.rasa_token is not None
    assert remote.rasa_token.get_secret_value() == TOKEN
