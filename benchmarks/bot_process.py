"""The parentbot Application as `parentbot run` starts it (long polling, same services and handlers), but
without Telegram's rate limiter, so a benchmark measures the bot and not the limiter, and with the
per-parent flood limit opened wide (simulated parents type far faster than people):

    TELEGRAM_BOT_TOKEN=... TELEGRAM_BASE_URL=http://127.0.0.1:PORT/bot python -m benchmarks.bot_process

It is a separate process so that its CPU time and memory are the bot's alone. The experiments named in
$BENCH_EXPERIMENTS (benchmarks/experiments.py) are applied first. With --parentbot-run it is exactly
`parentbot run`, after the experiments.

With $BENCH_PROFILE set to a file name, the process runs under yappi (CPU time, every thread, from the
first poll to the shutdown) and writes the function statistics there in pstats format (with RASA_URL,
to FILE.rasa_url), for
`python -m benchmarks.profile FILE` (the per-message breakdown in docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from benchmarks.experiments import apply

log = logging.getLogger("benchmarks.bot_process")


WIDE_OPEN_FLOOD_BURST = "1000000"
"""FLOOD_BURST for the benchmark: the real flood gate (buckets in the database, as `parentbot run` has
it), with a burst no simulated parent reaches."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    applied = apply()
    if args[:1] == ["--parentbot-run"]:
        from bot.cli.main import main as parentbot

        return parentbot(["run"])

    from telegram import Update

    from bot.config import ConfigError, load_settings
    from bot.logs import configure_logging
    from bot.schools import load_schools
    from bot.services import build_services
    from bot.telegram.app import build_application

    configure_logging(logging.INFO)
    os.environ.setdefault("FLOOD_BURST", WIDE_OPEN_FLOOD_BURST)
    if applied:
        log.info("Experiments applied: %s", ", ".join(applied))
    try:
        settings = load_settings()
        services = build_services(settings, load_schools(settings.schools_file))
    except ConfigError as error:
        print(f"bot_process: {error}", file=sys.stderr)
        return 2
    app = build_application(services, rate_limit=False)
    profile = os.environ.get(PROFILE_ENV)
    if profile and os.environ.get("RASA_URL"):
        profile += ".rasa_url"
    if profile:
        _start_profiler()
    try:
        app.run_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0.0)
    finally:
        if profile:
            _save_profile(profile)
        asyncio.run(services.close())
    return 0


PROFILE_ENV = "BENCH_PROFILE"


def _start_profiler() -> None:
    import yappi

    yappi.set_clock_type("cpu")  # CPU time of each thread: the storage's worker threads are seen too
    yappi.start(builtins=False, profile_threads=True)  # C calls count in their caller


def _save_profile(path: str) -> None:
    import yappi

    yappi.stop()
    yappi.get_func_stats().save(path, type="pstat")
    with open(f"{path}.threads.txt", "w", encoding="utf-8") as out:
        yappi.get_thread_stats().print_all(out=out)


if __name__ == "__main__":
    raise SystemExit(main())
