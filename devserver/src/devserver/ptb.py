"""The hook that tells the dev server when a python-telegram-bot Application has handled an update.

The server alone only knows when an update was fetched, not when the bot's answers to it have all been
sent; tests that wait for "the bot has finished with this message" would otherwise sleep through a quiet
period. Wrapping ``Application.process_update`` (which PTB awaits once per update, handlers and error
handlers included) gives an exact signal: :meth:`BotApiServer.wait_handled`.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application

from devserver.activity import BotActivity


def report_handled_updates(app: Application, server: BotActivity) -> None:
    """After ``app`` has processed each update (its handlers have returned), mark it handled on ``server``."""
    process = app.process_update

    async def process_then_report(update: object) -> None:
        try:
            await process(update)
        finally:
            if isinstance(update, Update):
                server.mark_handled(update.update_id)

    app.process_update = process_then_report  # type: ignore[method-assign]
