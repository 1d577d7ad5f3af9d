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
  request), and anything shaped like a bot token is masked. A short allow-list (PLAIN_ARGS_LOGGERS) keeps
  the arguments of libraries whose records never carry anything of a person's: Alembic's migration steps
  ("Context impl SQLiteImpl.", "Running upgrade 0008 -> 0009, ..."), which would otherwise read
  "Context impl <withheld>." and look broken.

Third-party deprecation warnings (TensorFlow, Keras, jax, Rasa's use of SQLAlchemy 1.x names, pyparsing
through matplotlib) are left out of the default log, since an operator can do nothing about them; the
project's own warnings still show, and --verbose shows them all (see `quiet_third_party_warnings`).

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
from pathlib import Path
from types import TracebackType
from typing import IO, TextIO

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
PLAIN_ARGS_LOGGERS = frozenset({"alembic.runtime.migration"})
"""Libraries' loggers whose arguments are never personal, kept as they are: Alembic's migration context
(the dialect's implementation class, transactional DDL or not) and the revision steps it runs (revision
ids and the migrations' own descriptions). Its DEBUG records are dropped like any library's."""
DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
OWN_CODE = Path(__file__).resolve().parent
"""bot/: warnings raised from a file in it are the project's own and always shown."""
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
        if not own and record.args and record.name not in PLAIN_ARGS_LOGGERS:
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
    by PersonalDataFilter (so DEBUG shows the bot's own events, never a parent's words); third-party
    deprecation warnings left out unless `level` is DEBUG (--verbose)."""
    import structlog

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=level, format=FORMAT, stream=stream, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(PersonalDataFilter())
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    warnings.filterwarnings("ignore", category=UserWarning, module="rasa")
    if level <= logging.DEBUG:
        show_all_warnings()
    else:
        quiet_third_party_warnings()


class _QuietShowWarning:
    """`warnings.showwarning` that drops third-party deprecation warnings and passes on the rest.

    Filters alone do not hold: Sanic (imported with Rasa) runs `filterwarnings("once",
    category=DeprecationWarning)` on import, in front of any filter set before, so what a filter set at
    start hid would show again. This is the last step before a warning is printed, whatever the filters
    say by then."""

    def __init__(self, shown: object) -> None:
        self.shown = shown

    def __call__(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, DEPRECATIONS) and not _own_file(filename):
            return
        self.shown(message, category, filename, lineno, file, line)  # type: ignore[operator]


def _own_file(filename: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(OWN_CODE)
    except (OSError, ValueError):
        return False


def quiet_third_party_warnings() -> None:
    """DeprecationWarning, PendingDeprecationWarning and FutureWarning: ignored from libraries, shown (once
    per place) from bot/. Called by the CLI's main before any command imports Rasa or TensorFlow."""
    for category in DEPRECATIONS:
        warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("default", category=category, module=r"bot(\.|$)")
    if not isinstance(warnings.showwarning, _QuietShowWarning):
        warnings.showwarning = _QuietShowWarning(warnings.showwarning)


def show_all_warnings() -> None:
    """--verbose: every deprecation warning shown (once per place), libraries' too."""
    if isinstance(warnings.showwarning, _QuietShowWarning):
        warnings.showwarning = warnings.showwarning.shown  # type: ignore[assignment]
    for category in DEPRECATIONS:
        warnings.filterwarnings("default", category=category)
