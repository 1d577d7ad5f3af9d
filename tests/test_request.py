"""The aiohttp request backend (bot/telegram/request.py): python-telegram-bot's errors and forms.

Successful calls are covered by every end-to-end test (build_application uses this backend); here, what
the end-to-end tests do not reach: refused connections, silent servers, and file uploads.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.telegram.request import AiohttpRequest, environment_proxy


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def request_backend() -> AsyncIterator[AiohttpRequest]:
    backend = AiohttpRequest(connection_pool_size=2, read_timeout=0.3, connect_timeout=0.5)
    await backend.initialize()
    yield backend
    await backend.shutdown()


@pytest.fixture
async def form_echo() -> AsyncIterator[str]:
    """A server answering every call with the form fields it received, as a Bot API result."""

    async def echo(request: web.Request) -> web.Response:
        fields = {}
        for name, value in (await request.post()).items():
            fields[name] = value.file.read().decode() if isinstance(value, web.FileField) else value
        return web.json_response({"ok": True, "result": fields})

    app = web.Application()
    app.router.add_post("/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_refused_connection_is_a_network_error(request_backend: AiohttpRequest) -> None:
    with pytest.raises(NetworkError) as raised:
        await request_backend.post(f"http://127.0.0.1:{_free_port()}/bot1:x/getMe")
    assert not isinstance(raised.value, TimedOut)


async def test_a_server_that_never_answers_times_out(request_backend: AiohttpRequest) -> None:
    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(TimedOut):
            await request_backend.post(f"http://127.0.0.1:{port}/bot1:x/getMe")


async def test_parameters_and_uploads_arrive_as_python_telegram_bot_sends_them(
    request_backend: AiohttpRequest, form_echo: str
) -> None:
    plain = RequestData(
        [RequestParameter.from_input("chat_id", 42), RequestParameter.from_input("text", "<b>hé</b> & 🙂")]
    )
    assert await request_backend.post(f"{form_echo}/bot1:x/sendMessage", plain) == {
        "chat_id": "42",
        "text": "<b>hé</b> & 🙂",
    }

    upload = InputFile(b"picture bytes", filename="photo.jpg")
    with_file = RequestData(
        [
            RequestParameter.from_input("chat_id", 42),
            RequestParameter.from_input("photo", upload),
            RequestParameter.from_input("caption", "x"),
        ]
    )
    received = await request_backend.post(f"{form_echo}/bot1:x/sendPhoto", with_file)
    assert received["chat_id"] == "42"
    assert received["caption"] == "x"
    assert received["photo"] == "picture bytes"


def test_the_proxy_comes_from_the_environment_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert environment_proxy("https://api.telegram.org/bot") is None
    monkeypatch.setenv("https_proxy", "http://proxy.trust.example:3128")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    assert environment_proxy("https://api.telegram.org/bot") == "http://proxy.trust.example:3128"
    assert environment_proxy("http://127.0.0.1:8081/bot") is None


async def test_calls_go_through_the_proxy_given() -> None:
    """A proxied call names the whole target URL to the proxy."""
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    backend = AiohttpRequest(proxy=f"http://127.0.0.1:{port}")
    await backend.initialize()
    try:
        assert await backend.post("http://api.telegram.example/bot1:x/getMe") is True
    finally:
        await backend.shutdown()
        await runner.cleanup()
    assert seen == ["http://api.telegram.example/bot1:x/getMe"]
