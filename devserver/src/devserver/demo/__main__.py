"""``python -m devserver.demo`` (``make demo``): the bot and a page to play its parents and staff, locally."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import tempfile
from pathlib import Path

from bot.config import ConfigError
from bot.logs import configure_logging
from devserver.demo import DemoWorld, demo_bot, demo_schools, demo_world
from devserver.spec import ApiSpecNotFoundError

log = logging.getLogger("parentbot.demo")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devserver.demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="the page's port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="the page's address (default: this machine only)")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    schools = demo_schools()
    with tempfile.TemporaryDirectory(prefix="parentbot-demo-") as folder:
        database = Path(folder) / "demo.db"
        async with demo_world(schools, host=args.host, port=args.port) as world:
            log.info("Loading the bot (the NLU model takes a few seconds)")
            async with demo_bot(world, schools, database):
                print(_banner(world, database), flush=True)
                await _stopped()
        log.info("The demo has stopped")


async def _stopped() -> None:
    """Until Ctrl-C or SIGTERM: either ends the demo the same way, the bot stopped and the database
    deleted (a shell starting the demo in the background leaves SIGINT ignored; SIGTERM still works)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signal_number) is not signal.SIG_IGN:
            loop.add_signal_handler(signal_number, stop.set)
    await stop.wait()


def _banner(world: DemoWorld, database: Path) -> str:
    parents = ", ".join(p.first_name for p in world.parents)
    groups = ", ".join(f"{g.title} ({'forum' if g.is_forum else 'group'})" for g in world.groups)
    return (
        f"\nThe demo is running: open {world.server.url}/ in a browser (Ctrl-C stops it).\n"
        f"  parents: {parents}\n  staff groups: {groups}\n"
        f"  database: {database} (deleted when the demo stops)\n"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # Rasa reports usage to its makers unless told not to (as in bot/cli/main.py), before Rasa is imported.
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    configure_logging()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except (ConfigError, ApiSpecNotFoundError) as error:
        print(f"parentbot demo: {error}")
        return 2
    except OSError as error:  # the port is taken, most often
        print(f"parentbot demo: {error} (try --port 0 for any free port)")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
