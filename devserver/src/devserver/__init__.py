"""A local stand-in for Telegram's Bot API, for end-to-end tests and demos of the PTB bot.

    async with BotApiServer(token="123:ABC") as server:
        app = ApplicationBuilder().token("123:ABC").base_url(server.base_url) \\
            .base_file_url(server.base_file_url).build()

Run it alone with ``python -m devserver --port 8081``.
"""

from devserver.faults import Fault, FaultKind
from devserver.files import image_size, tiny_png
from devserver.formatting import detect_entities, parse_formatted
from devserver.ptb import report_handled_updates
from devserver.records import (
    Call,
    ForumTopic,
    MediaKind,
    SimChat,
    SimUser,
    SpecViolationError,
    StoredFile,
)
from devserver.server import BotApiServer
from devserver.spec import (
    ApiRequestError,
    ApiSpec,
    ApiSpecNotFoundError,
    UploadedFile,
    find_spec_path,
)
from devserver.updates import WebhookDelivery

__all__ = [
    "ApiRequestError",
    "ApiSpec",
    "ApiSpecNotFoundError",
    "BotApiServer",
    "Call",
    "Fault",
    "FaultKind",
    "ForumTopic",
    "MediaKind",
    "SimChat",
    "SimUser",
    "SpecViolationError",
    "StoredFile",
    "UploadedFile",
    "WebhookDelivery",
    "detect_entities",
    "find_spec_path",
    "image_size",
    "parse_formatted",
    "report_handled_updates",
    "tiny_png",
]
