"""The parentbot Application as `parentbot run` starts it (long polling, same services and handlers), but
without Telegram's rate limiter, so a benchmark measures the bot and not the limiter, and with the
per-parent flood limit opened wide (simulated parents type far faster than people):

    TELEGRAM_BOT_TOKEN=... TELEGRAM_BASE_URL=http://127.0.0.1:PORT/bot python -m benchmarks.bot_process

It is a separate process so that its CPU time and memory are the bot's alone. The experiments named in
$BENCH_EXPERIMENTS (benchmarks/experiments.py) are applied first. With --parentbot-run it is exactly
`parentbot run`, after the experiments.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from typing import Any

from benchmarks.experiments import apply

log = logging.getLogger("benchmarks.bot_process")


def _wide_open_flood_gate() -> dict[str, Any]:
    """build_application's flood gate, if it has one, with a limit no simulated parent reaches."""
    from bot.telegram.app import build_application

    if "flood" not in inspect.signature(build_application).parameters:
        return {}
    from bot.telegram.flood import FloodGate

    return {"flood": FloodGate(burst=1_000_000)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    applied = apply()
    if args[:1] == ["--parentbot-run"]:
        from bot.cli import main as parentbot

        return parentbot(["run"])

    from telegram import Update

    from bot.config import ConfigError, load_schools, load_settings
    from bot.logs import configure_logging
    from bot.services import build_services
    from bot.telegram.app import build_application

    configure_logging(logging.INFO)
    if applied:
        log.info("Experiments applied: %s", ", ".join(applied))
    try:
        settings = load_settings()
        services = build_services(settings, load_schools(settings.schools_file))
    except ConfigError as error:
        print(f"bot_process: {error}", file=sys.stderr)
        return 2
    app = build_application(services, rate_limit=False, **_wide_open_flood_gate())
    try:
        app.run_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0.0)
    finally:
        asyncio.run(services.close())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
