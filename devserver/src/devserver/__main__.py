"""``python -m devserver --port 8081``: the dev Bot API server on its own, for demos."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from devserver.server import BotApiServer
from devserver.spec import ApiSpecNotFoundError


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devserver", description=__doc__)
    parser.add_argument("--port", type=int, default=8081, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--token", default="123456:TEST-TOKEN", help="the one bot token the server accepts")
    parser.add_argument("--spec", default=None, help="api.json (default: $TELEGRAM_API_SPEC, else shared/)")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    async with BotApiServer(token=args.token, port=args.port, spec_path=args.spec) as server:
        print(f"Telegram Bot API dev server ({server.spec.version}) on {server.url}", flush=True)
        print(f"  token:         {server.token}")
        print(f"  base_url:      {server.base_url}")
        print(f"  base_file_url: {server.base_file_url}")
        print(
            "Inject a message from a parent: curl -s -X POST "
            f"{server.url}/_sim/send -H 'Content-Type: application/json' "
            '-d \'{"chat_id": 1001, "text": "/start"}\''
        )
        print(f"See the bot's answers: curl -s '{server.url}/_sim/messages?chat_id=1001'")
        print(f"Or watch its chats at {server.url}/ (`make demo` starts the bot too)", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except ApiSpecNotFoundError as exc:
        print(exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
