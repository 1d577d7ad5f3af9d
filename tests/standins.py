"""Stand-ins at the edge of the engine for table tests that need no trained model: an NLU client that
returns fixed results, and a safeguarding gate that knows a few fixed phrases.

The real gate is the danger detector (bot/safeguarding/detector.py), tested on its own tables; these
tables test what the engine does with the gate's answer, in every state of a conversation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import utcnow
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.nlu.client import NluResult
from bot.nlu.intents import FALLBACK_INTENT
from bot.safeguarding import DangerAssessment, DangerKind, DangerReading, Tier
from bot.schools import Schools
from bot.storage.parents import SqlStateStore
from bot.storage.records import Records

DANGER_PHRASES: Mapping[str, DangerKind] = {
    "is missing since last night": DangerKind.MISSING,
    "says he wants to die": DangerKind.SUICIDE_SELF_HARM,
    "threatening to share pics": DangerKind.SEXUAL,
    "will stab him": DangerKind.IMMEDIATE,
}


UNSURE_PHRASES: Mapping[str, DangerKind] = {
    "not been himself": DangerKind.SUICIDE_SELF_HARM,
    "is late home": DangerKind.MISSING,
}
"""Phrases the stand-in gate is unsure of: it asks first ("is a child at risk now?")."""


class StandInGate:
    """Full guidance exactly when the text holds one of DANGER_PHRASES (or the reading's probability is
    at its `full_at`); the check for UNSURE_PHRASES."""

    def __init__(self, unsure: Mapping[str, DangerKind] = UNSURE_PHRASES) -> None:
        self.seen: list[tuple[str, DangerReading | None]] = []
        self._unsure = unsure

    def assess(self, text: str, reading: DangerReading | None) -> DangerAssessment:
        self.seen.append((text, reading))
        lowered = text.lower()
        kinds = frozenset(kind for phrase, kind in DANGER_PHRASES.items() if phrase in lowered)
        if kinds or (reading is not None and reading.probability >= reading.full_at):
            return DangerAssessment(Tier.FULL, kinds, "stand-in")
        unsure = frozenset(kind for phrase, kind in self._unsure.items() if phrase in lowered)
        return DangerAssessment(Tier.CHECK, unsure, "stand-in") if unsure else DangerAssessment()


def reading(probability: float, kind: DangerKind = DangerKind.IMMEDIATE) -> DangerReading:
    """A danger model's reading of `probability`, sure of its kind, with the usual thresholds."""
    return DangerReading(probability, ((kind, 0.9),), full_at=0.9, check_at=0.3, lexicon_at=0.5, kind_at=0.5)


class StubNlu:
    """Fixed NluResults by exact text (anything else: the fallback). With `ready=False` it is a model
    still loading: `ready()` and parse wait until `finish_loading()`, and `waiting` is set once either
    waits."""

    def __init__(self, results: Mapping[str, NluResult] | None = None, *, ready: bool = True) -> None:
        self._results = dict(results or {})
        self._loaded = asyncio.Event()
        if ready:
            self._loaded.set()
        self.waiting = asyncio.Event()
        self.parsed: list[str] = []

    def is_ready(self) -> bool:
        return self._loaded.is_set()

    def finish_loading(self) -> None:
        self._loaded.set()

    async def ready(self) -> StubNlu:
        if not self._loaded.is_set():
            self.waiting.set()
        await self._loaded.wait()
        return self

    async def parse(self, text: str) -> NluResult:
        if not self._loaded.is_set():
            self.waiting.set()
        await self._loaded.wait()
        self.parsed.append(text)
        return self._results.get(text, NluResult(FALLBACK_INTENT, 0.0))

    async def close(self) -> None:
        return None


def intent(name: str, confidence: float = 0.95) -> NluResult:
    return NluResult(name, confidence, ranking=((name, confidence),))


def ranked(*scores: tuple[str, float]) -> NluResult:
    """A result with the model's whole ranking, best first (close scores make the engine ask)."""
    return NluResult(scores[0][0], scores[0][1], ranking=scores)


class Clock:
    """A clock the test moves on: each reading is a microsecond later, like a real one."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def stub_engine(
    responses: ResponseBook,
    schools: Schools,
    sessions: sessionmaker[Session],
    nlu: StubNlu | None = None,
    gate: StandInGate | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> DialogueEngine:
    """The real engine on a real (SQLite) database, with the stand-ins for the model and the gate."""
    return DialogueEngine(
        nlu=nlu or StubNlu(),
        responses=responses,
        schools=schools,
        store=SqlStateStore(sessions),
        records=Records.on(sessions),
        gate=gate or StandInGate(),
        clock=clock,
    )


NOT_URGENT = '/danger_check{"value": "no"}'


async def say(engine: DialogueEngine, parent: str, text: str) -> list[Reply]:
    """Send `text`; when the gate asks "is a child at risk now?" about it, answer as this calm parent
    would, with the "No, it's not urgent" button (the message is then answered as usual)."""
    replies = await engine.handle(parent, text)
    if any(b.payload == NOT_URGENT for r in replies for b in r.buttons):
        replies = await engine.handle(parent, NOT_URGENT)
    return replies
