"""Proposed performance changes, applied as patches inside a benchmark's bot process only, so their effect
can be measured before any of them is made in bot/ (see docs/performance.md):

    python -m benchmarks --only e2e --skip-training --experiment inline-db

Each experiment is the smallest change that shows the effect; the real change belongs in the module named.
Those that paid were made in bot/ and are gone from here: building the model's weights eagerly
(for the DIET pipeline; gone with it), aiohttp for Bot API calls (bot/telegram/request.py), "typing..."
only for slow answers, and loading the model in the background. These two are kept because they did not
pay (2026-11-25, in-process, 50 parents; baseline 73.4 answered/s, p95 89 ms): inline-db 74.3/s, p95
67 ms; parse-thread 69.4/s, p95 85 ms.
"""

from __future__ import annotations

import asyncio
import os
import types
from collections.abc import Callable
from typing import Any

ENV = "BENCH_EXPERIMENTS"


def inline_db() -> None:
    """bot/storage (parents.py and the case stores): on SQLite, run the (sub-millisecond) database calls
    on the event loop instead of hopping to a worker thread for each (asyncio.to_thread): every hop hands
    the GIL back and forth with the event loop. Keep the threads for PostgreSQL."""
    import bot.storage.audit
    import bot.storage.cases
    import bot.storage.outbox
    import bot.storage.parents
    import bot.storage.retention
    import bot.storage.transcripts

    async def run_here(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    shim = types.SimpleNamespace(**{name: getattr(asyncio, name) for name in asyncio.__all__})
    shim.to_thread = run_here
    for module in (
        bot.storage.parents,
        bot.storage.cases,
        bot.storage.transcripts,
        bot.storage.outbox,
        bot.storage.audit,
        bot.storage.retention,
    ):
        module.asyncio = shim  # type: ignore[attr-defined]


def parse_thread() -> None:
    """bot/nlu/client.py (InProcessNlu.parse): run Rasa's parse on its own thread (with its own event loop)
    instead of on the bot's event loop: TensorFlow releases the GIL while it computes, so the loop goes on
    answering other parents meanwhile."""
    import threading

    from bot.nlu.client import InProcessNlu

    original = InProcessNlu.parse
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="nlu-parse", daemon=True).start()

    async def parse(self: Any, text: str) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(original(self, text), loop))

    InProcessNlu.parse = parse  # type: ignore[method-assign]


EXPERIMENTS: dict[str, Callable[[], None]] = {
    "inline-db": inline_db,
    "parse-thread": parse_thread,
}


def apply(names: str | None = None) -> list[str]:
    """Apply the experiments named (comma-separated; default: $BENCH_EXPERIMENTS)."""
    wanted = [n.strip() for n in (names if names is not None else os.environ.get(ENV, "")).split(",")]
    applied = []
    for name in filter(None, wanted):
        if name not in EXPERIMENTS:
            raise SystemExit(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS)})")
        EXPERIMENTS[name]()
        applied.append(name)
    return applied
