"""Logging set-up: ids and events only, never message text or tokens, at the default level."""

from __future__ import annotations

import logging
import os
import warnings

NOISY_LOGGERS = (
    "rasa",
    "tensorflow",
    "absl",
    "httpx",
    "httpcore",
    "aiohttp",
    "apscheduler",
    "sanic",
    "matplotlib",
    "alembic.runtime.plugins",
)


def configure_logging(level: int = logging.INFO) -> None:
    """Our own loggers at `level`; Rasa, TensorFlow and HTTP clients at WARNING.

    Rasa 3.6 logs every parsed text through structlog at debug level and httpx logs request URLs
    (which contain the bot token) at INFO, so both are held back unless the operator asks for DEBUG.
    """
    import structlog

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    library_level = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(max(library_level, logging.WARNING))
    )
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="rasa")
