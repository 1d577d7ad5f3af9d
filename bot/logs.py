"""Logging set-up: ids and events only, never message text, contact details or tokens, at any level.

Two layers keep personal data out of the log:

- Levels: Rasa, TensorFlow and HTTP clients are held at WARNING (Rasa 3.6 logs every parsed text through
  structlog at debug level, httpx logs request URLs, which contain the bot token, at INFO).
- A filter on every handler configure_logging installs (PersonalDataFilter), which holds whatever level a
  logger is set to later: libraries' DEBUG records are dropped (python-telegram-bot logs every Bot API
  call's parameters and every webhook body at DEBUG, SQLAlchemy's engine echoes result rows), the
  arguments of libraries' other records are reduced to numbers and exception type names (PTB logs
  undecodable response bodies at ERROR), an exception is logged as its traceback of code locations and
  type names without its message (a database error's message can quote a row, a Telegram error's the
  request), and anything shaped like a bot token is masked.

Telegram ids of people (parents, staff, and private chats, whose id is the person's) never appear in a
log line: `pseudonym(id)` stands for them, a keyed hash (HMAC-SHA256 under LOG_PSEUDONYM_KEY) that is the
same for one person on every line, so events can be followed, but cannot be turned back into the id
without the key. A data protection officer answering a subject access request finds a person's lines
with `parentbot pseudonym ID`. Without the setting the key is random per process (a warning says so):
lines then link up only within one run.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import traceback
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import IO

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
OWN_LOGGERS = frozenset({"bot", "parentbot", "benchmarks"})
"""Loggers of this project: their messages are written (and tested) to carry ids and counts only."""
TOKEN = re.compile(r"\d{3,}:[A-Za-z0-9_-]{10,}")
"""A bot token (digits:secret), e.g. inside a Bot API URL."""
WITHHELD = "<withheld>"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

log = logging.getLogger(__name__)
_pseudonym_key: bytes | None = None


def set_pseudonym_key(key: str | None) -> None:
    """The key of `pseudonym` (LOG_PSEUDONYM_KEY); None draws a random one, with a warning."""
    global _pseudonym_key
    if key:
        _pseudonym_key = key.encode()
        return
    _pseudonym_key = secrets.token_bytes(32)
    log.warning(
        "LOG_PSEUDONYM_KEY is not set: Telegram ids in the log are pseudonymised with a random key, so "
        "pseudonyms change on every restart and `parentbot pseudonym` cannot find a person's lines"
    )


def pseudonym(user_id: int | str) -> str:
    """What the log says for a person's Telegram id: "u-" and 12 hex digits of HMAC-SHA256 of the id."""
    if _pseudonym_key is None:
        set_pseudonym_key(None)
    assert _pseudonym_key is not None
    digest = hmac.new(_pseudonym_key, str(user_id).strip().encode(), hashlib.sha256).hexdigest()
    return f"u-{digest[:12]}"


def chat_ref(chat_id: int | str) -> str:
    """A chat id for the log: a group's as it is (the operator needs it for the schools file), a private
    chat's (the person's own id) as their pseudonym."""
    return str(chat_id) if str(chat_id).startswith("-") else pseudonym(chat_id)


class PersonalDataFilter(logging.Filter):
    """Drops libraries' debug records and strips what could carry personal data from the others."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name.split(".", 1)[0] in OWN_LOGGERS
        if not own and record.levelno < logging.INFO:
            return False
        if not own and record.args:
            record.args = _harmless(record.args)
        record.msg = TOKEN.sub("<token>", record.getMessage())
        record.args = ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = safe_traceback(record.exc_info)
            record.exc_info = None
        return True


def _harmless(args: tuple[object, ...] | Mapping[str, object]) -> tuple[object, ...]:
    values = args.values() if isinstance(args, Mapping) else args
    return tuple(_harmless_value(value) for value in values)


def _harmless_value(value: object) -> object:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, BaseException):
        return type(value).__name__
    return WITHHELD


def safe_traceback(exc_info: ExcInfo) -> str:
    """The traceback with every exception's message left out (causes and contexts included)."""
    exception: traceback.TracebackException | None = traceback.TracebackException(*exc_info)
    parts: list[str] = []
    while exception is not None:
        kind = exception.exc_type
        name = f"{kind.__module__}.{kind.__qualname__}" if kind is not None else "Exception"
        stack = "".join(exception.stack.format())
        parts.append(f"Traceback (most recent call last):\n{stack}{name} (message withheld)")
        exception = exception.__cause__ or (None if exception.__suppress_context__ else exception.__context__)
    return "\n\nThe above exception led to the following one:\n\n".join(reversed(parts)).rstrip()


def configure_logging(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """Our own loggers at `level`; Rasa, TensorFlow and HTTP clients at WARNING; every handler filtered
    by PersonalDataFilter (so DEBUG shows the bot's own events, never a parent's words)."""
    import structlog

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=level, format=FORMAT, stream=stream, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(PersonalDataFilter())
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="rasa")
