"""An empty bot: a bare python-telegram-bot Application that echoes each text back, polling the same local
Bot API server the same way as parentbot (with the same request backend). Its figures are the harness's
own limits (the simulated parents, the local server and PTB's round trips), which the real bot's figures
must be well inside:

    TELEGRAM_BOT_TOKEN=... TELEGRAM_BASE_URL=http://127.0.0.1:PORT/bot python -m benchmarks.echo_bot
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.telegram.app import BOT_API_CONNECTIONS
from bot.telegram.request import AiohttpRequest


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat, message = update.effective_chat, update.effective_message
    if chat is not None and message is not None and message.text:
        await context.bot.send_message(chat.id, message.text)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer()
        if update.effective_chat is not None and query.data:
            await context.bot.send_message(update.effective_chat.id, query.data)


def main() -> int:
    base = os.environ["TELEGRAM_BASE_URL"].rstrip("/")
    app = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(base)
        .base_file_url(base.removesuffix("/bot") + "/file/bot")
        .concurrent_updates(True)
        .request(AiohttpRequest(connection_pool_size=BOT_API_CONNECTIONS))  # as parentbot sends
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(CallbackQueryHandler(button))
    app.run_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
