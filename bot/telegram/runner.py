"""The run loop: the Application built, then run until stopped, by webhook or long polling."""

from __future__ import annotations

import logging

from telegram import Update

from bot.config import ConfigError
from bot.nlu.client import BackgroundLoadedNlu
from bot.services import Services
from bot.telegram.app import build_application

log = logging.getLogger(__name__)


def webhook_secret(services: Services) -> str:
    """WEBHOOK_SECRET, shared by every process behind WEBHOOK_URL (load_settings refuses one without it)."""
    configured = services.settings.webhook_secret
    if configured is None:
        raise ConfigError("Invalid setting WEBHOOK_SECRET: is needed with WEBHOOK_URL")
    return configured.get_secret_value()


def run(services: Services) -> None:
    """Run until stopped: webhook when WEBHOOK_URL is set, long polling otherwise."""
    app = build_application(services)
    settings = services.settings
    if settings.webhook_url:
        log.info("Receiving updates by webhook on %s:%d", settings.webhook_listen, settings.webhook_port)
        app.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path="telegram",
            webhook_url=settings.webhook_url,
            secret_token=webhook_secret(services),
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        log.info("Receiving updates by long polling")
        app.run_polling(allowed_updates=Update.ALL_TYPES)
    if isinstance(services.nlu, BackgroundLoadedNlu):
        services.nlu.raise_if_failed()
