"""Proposed performance changes, applied as patches inside a benchmark's bot process only, so their effect
can be measured before any of them is made in bot/ (see docs/performance.md):

    python -m benchmarks --only e2e --skip-training --experiment parse-thread

Each experiment is the smallest change that shows the effect; the real change belongs in the module named.
Those that paid were made in bot/ and are gone from here: building the model's weights eagerly
(for the DIET pipeline; gone with it), aiohttp for Bot API calls (bot/telegram/request.py), "typing..."
only for slow answers, and loading the model in the background. parse-thread is kept because it did not
pay (2026-11-25, in-process, 50 parents; baseline 73.4 answered/s, p95 89 ms): 69.4/s, p95 85 ms.
inline-db (SQLite calls on the event loop instead of asyncio.to_thread: 74.3/s, p95 67 ms then) is gone
with the thread hops it removed: the storage is asynchronous since 2026-12-04 (bot/storage/turns.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

ENV = "BENCH_EXPERIMENTS"


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
