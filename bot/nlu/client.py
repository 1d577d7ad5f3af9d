"""Parsing a parent's message into an intent and entities, in-process or through a Rasa server."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from bot.nlu.intents import FALLBACK_INTENT
from bot.safeguarding import DangerKind, DangerReading

MAX_PARSE_CHARS = 1000
"""Longer messages are cut before parsing: the start says what the message is about, and the tokenizer's
and count features' cost grows with length (the encoder reads only its first 128 word pieces)."""


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str


@dataclass(frozen=True)
class NluResult:
    intent: str
    confidence: float
    entities: tuple[Entity, ...] = ()
    ranking: tuple[tuple[str, float], ...] = field(default=())
    danger: DangerReading | None = None
    """The danger model's reading (bot/nlu/components/danger_classifier.py), when the model has one."""
    respelled: str | None = None
    """The text as the model read it, when the SpellingTokenizer changed a misspelt word."""

    def entity(self, name: str) -> str | None:
        return next((e.value for e in self.entities if e.entity == name), None)

    def confidence_of(self, intent: str) -> float:
        return next((conf for name, conf in self.ranking if name == intent), 0.0)

    @classmethod
    def from_rasa(cls, data: dict[str, Any]) -> NluResult:
        """Build from Rasa's parse output (the same JSON in-process and from `POST /model/parse`)."""
        intent = data.get("intent") or {}
        entities = tuple(
            Entity(str(e["entity"]), str(e["value"]))
            for e in data.get("entities", [])
            if e.get("entity") and e.get("value") is not None
        )
        ranking = tuple(
            (str(r["name"]), float(r.get("confidence") or 0.0)) for r in data.get("intent_ranking", [])
        )
        return cls(
            intent=str(intent.get("name") or FALLBACK_INTENT),
            confidence=float(intent.get("confidence") or 0.0),
            entities=entities,
            ranking=ranking,
            danger=_reading(data.get("danger")),
            respelled=data["respelled"] if isinstance(data.get("respelled"), str) else None,
        )


def _reading(data: Any) -> DangerReading | None:
    """The danger reading of a parse, or None when it is missing or not of the expected shape (a Rasa
    server with an older model): the gate then reads the text with its lexicon alone."""
    if not isinstance(data, dict):
        return None
    try:
        kinds = sorted(
            ((DangerKind(name), float(p)) for name, p in dict(data["kinds"]).items()), key=lambda kp: -kp[1]
        )
        return DangerReading(
            probability=float(data["probability"]),
            kinds=tuple(kinds),
            full_at=float(data["full_at"]),
            check_at=float(data["check_at"]),
            lexicon_at=float(data["lexicon_at"]),
            kind_at=float(data["kind_at"]),
            part_probability=float(data.get("part_probability", 0.0)),
            part_at=float(data.get("part_at", 1.0)),
        )
    except (KeyError, TypeError, ValueError):
        return None


class NluClient(Protocol):
    async def parse(self, text: str) -> NluResult: ...

    def is_ready(self) -> bool:
        """False while a model is still loading (a parse would wait for it)."""
        ...

    async def ready(self) -> NluClient:
        """Wait until the model has loaded (at once when it has) and return the client that parses with
        it; raise what a failed load raised. The engine waits here before a turn takes the parent's row,
        so the wait for a loading model never holds the database."""
        ...

    async def close(self) -> None: ...


_READABLE = re.compile(r"[A-Za-z0-9]")


def as_parsed(text: str) -> str:
    """The text as the model reads it: whitespace collapsed, cut to MAX_PARSE_CHARS (training material
    that is not parsed, such as the danger corpus, is read the same way)."""
    return " ".join(text.split())[:MAX_PARSE_CHARS]


def _prepare(text: str) -> str:
    """Collapse whitespace, cut to length, and drop leading slashes: Rasa reads "/intent" as an
    intent given directly, which a parent's typed text must never be able to do.

    A message with no Latin letter or digit (emoji only, another script, control characters) gives the
    English model no features at all, and it then answers "affirm" with confidence 0.75: such a message
    must not count as a "yes" (to sharing a report with staff, say), so it is not parsed."""
    prepared = as_parsed(text).lstrip("/ ")
    return prepared if _READABLE.search(prepared) else ""


class InProcessNlu:
    """A trained Rasa model loaded into this process once, at start-up."""

    def __init__(self, agent: Any, load_seconds: float = 0.0) -> None:
        self._agent = agent
        self.load_seconds = load_seconds

    @classmethod
    def load(cls, model_path: Path) -> InProcessNlu:
        """Load the trained model from its archive."""
        # skops (how Rasa stores the logistic regression) looks every one of its types up in every loaded
        # module when it is first imported: ~7 s before TensorFlow and Rasa are imported, ~20 s after.
        root_level = logging.getLogger().level
        import skops.io  # noqa: F401

        # skops' scan imports numpy.distutils, which sets the root logger to WARNING: every INFO line of
        # the bot after the model loaded ("... loaded in 4.7 s", cases opened) would vanish.
        logging.getLogger().setLevel(root_level)
        from rasa.core.agent import Agent

        started = time.perf_counter()
        agent = Agent.load(str(model_path))
        if not agent.is_ready():
            raise RuntimeError(f"RASA_MODEL: {model_path} could not be loaded")
        return cls(agent, time.perf_counter() - started)

    def is_ready(self) -> bool:
        return True

    async def ready(self) -> InProcessNlu:
        return self  # loaded before it was made

    async def parse(self, text: str) -> NluResult:
        prepared = _prepare(text)
        if not prepared:
            return NluResult(FALLBACK_INTENT, 0.0)
        return NluResult.from_rasa(await self._agent.parse_message(prepared))

    async def close(self) -> None:
        return None


class BackgroundLoadedNlu:
    """An NLU client that is still loading: a thread imports Rasa and TensorFlow and loads the model
    (about 20 s on a 2-core machine) while the bot already answers what needs no model (/start, commands,
    buttons). A message that does need it waits until it is ready."""

    def __init__(self, load: Callable[[], NluClient]) -> None:
        self._loaded: concurrent.futures.Future[NluClient] = concurrent.futures.Future()
        threading.Thread(target=self._load, args=(load,), name="nlu-load", daemon=True).start()

    def _load(self, load: Callable[[], NluClient]) -> None:
        try:
            self._loaded.set_result(load())
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits for the model
            self._loaded.set_exception(error)

    async def ready(self) -> NluClient:
        """The loaded client; raises what the load raised."""
        return await asyncio.wrap_future(self._loaded)

    def is_ready(self) -> bool:
        return self._loaded.done() and self._loaded.exception() is None

    def loading(self) -> bool:
        """The load has not ended yet (either way)."""
        return not self._loaded.done()

    def error(self) -> BaseException | None:
        """What the load raised, if it has ended that way."""
        return self._loaded.exception() if self._loaded.done() else None

    def state(self) -> str:
        """ "loading", "ready" or "failed" (the health check, bot/telegram/health.py)."""
        if self.loading():
            return "loading"
        return "failed" if self.error() is not None else "ready"

    def raise_if_failed(self) -> None:
        """Raise what the load raised, if it has ended that way."""
        if self._loaded.done() and (error := self._loaded.exception()) is not None:
            raise error

    async def parse(self, text: str) -> NluResult:
        return await (await self.ready()).parse(text)

    async def close(self) -> None:
        if self._loaded.done() and self._loaded.exception() is None:
            await self._loaded.result().close()


class RasaServerError(RuntimeError):
    """The Rasa server at RASA_URL answered with an error status. The message holds the status only:
    httpx's own error quotes the request URL, which carries RASA_TOKEN."""


class HttpNlu:
    """A Rasa server started with `rasa run --enable-api --auth-token TOKEN`, reached at RASA_URL.

    The token goes in the `token` query parameter, where Rasa's --auth-token looks for it (rasa/server.py,
    requires_auth); httpx's request log lines, which quote the URL, are held at WARNING (bot/logs.py)."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        # httpx retries failed connections (a Rasa server restarting); an HTTP error is raised.
        transport = httpx.AsyncHTTPTransport(retries=3)
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self._params = {"token": token} if token else {}

    def is_ready(self) -> bool:
        return True  # a server that is down is found out (and retried) by parse

    async def ready(self) -> HttpNlu:
        return self  # the server holds the model: nothing loads here

    async def parse(self, text: str) -> NluResult:
        prepared = _prepare(text)
        if not prepared:
            return NluResult(FALLBACK_INTENT, 0.0)
        response = await self._client.post("/model/parse", params=self._params, json={"text": prepared})
        if response.is_error:
            raise RasaServerError(f"the Rasa server answered {response.status_code} to /model/parse")
        return NluResult.from_rasa(response.json())

    async def close(self) -> None:
        await self._client.aclose()
