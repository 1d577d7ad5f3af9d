"""A parent's message, read once into a value the engine and the flows share: typed text, a /command
(with its name), or a button's payload (with its intent or value and entities).

A message starting with "/" is never given to the model: Rasa reads "/intent" as an intent given
directly, which typed text must never be able to do. A button's payload is `/name` or
`/name{"entity": "value"}` and is read here as a certain NLU result; a /command is one of COMMANDS,
with or without the bot's name (`/help@SomeBot`) and words after it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bot.dialogue.clarifying import SOMETHING_ELSE
from bot.nlu.client import Entity, NluClient, NluResult
from bot.nlu.intents import ALL_INTENTS, FALLBACK_INTENT

CHOOSE_SCHOOL = "choose_school"
"""The payload name of a school's button: `/choose_school{"school": "<id>"}`."""
CHOOSE = "choose"
"""The payload name of a flow question's option buttons: `/choose{"value": "<option>"}`."""
DANGER_CHECK = "danger_check"
"""The payload name of the two buttons of the gate's "is a child at risk now?" question."""
PAYLOAD_NAMES = ALL_INTENTS | {CHOOSE_SCHOOL, CHOOSE, SOMETHING_ELSE, DANGER_CHECK}
AFFIRM = "/affirm"
DENY = "/deny"
"""The payloads of the Yes and No buttons."""

COMMAND_INTENTS = {"help": "bot_help", "privacy": "privacy_info"}
"""Commands answered as the intent they stand for."""
COMMANDS = frozenset({"start", "school", "cancel", "forget", "status", "done", *COMMAND_INTENTS})

_PAYLOAD = re.compile(r"^/(?P<name>[a-z_]+)(?P<entities>\{.*\})?$", re.DOTALL)
_COMMAND_SHAPED = re.compile(r"^/\w+(@\w+)?(\{.*\})?(\s|$)", re.DOTALL)
_CHOSEN = re.compile(r'^/choose\{"value":\s*"([a-z_]+)"\}$')
_CHOSEN_SCHOOL = re.compile(r'^/choose_school\{"school":\s*"([a-z0-9-]+)"\}$')


@dataclass(frozen=True)
class ParentInput:
    """One message from a parent, as read once when it arrives."""

    text: str
    """As the parent sent it (control characters removed): what the gate reads, a transcript keeps."""
    typed: bool
    """Typed text, which the model may read: anything not starting with "/"."""
    command: str | None = None
    """The name of a /command ("help" for `/help@SomeBot junk`); None for anything else."""
    payload: NluResult | None = None
    """A button's payload, as the certain NLU result it stands for."""
    command_shaped: bool = False
    """It has the shape of a command or a button's payload (`/word`, `/word@bot`, `/word{...}`, then
    words or nothing), known or not: never the answer to a free-text question. Typed text that only
    starts with "/" ("/r/parenting says ...") is still an answer there, as the parent wrote it."""
    choice: str | None = None
    """The option of a `/choose{"value": "..."}` button (a flow question's Skip, Done, a platform...)."""
    school_choice: str | None = None
    """The school id of a `/choose_school{"school": "..."}` button."""

    @property
    def stripped(self) -> str:
        return self.text.strip()


NO_TEXT = ParentInput("", typed=False)
"""What a turn without text (a photo) was sent as."""


def read(text: str) -> ParentInput:
    """Read a parent's message (already without control characters)."""
    stripped = text.strip()
    chosen, school = _CHOSEN.match(stripped), _CHOSEN_SCHOOL.match(stripped)
    return ParentInput(
        text=text,
        typed=not stripped.startswith("/"),
        command=_command_name(stripped),
        payload=_payload(stripped),
        command_shaped=_COMMAND_SHAPED.match(stripped) is not None,
        choice=chosen.group(1) if chosen else None,
        school_choice=school.group(1) if school else None,
    )


async def understand(nlu: NluClient, message: ParentInput) -> NluResult:
    """What the message means: a button's payload what it says, typed text what the model reads in it;
    anything else starting with "/" is not understood."""
    if not message.typed:
        return message.payload or NluResult(FALLBACK_INTENT, 0.0)
    return await nlu.parse(message.text)


def _command_name(stripped: str) -> str | None:
    """`/help`, `/help@SomeBot` or `/help junk` → "help"; None for anything that is not a command."""
    words = stripped.split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return None
    name = words[0][1:].split("@", 1)[0].lower()
    return name if name in COMMANDS else None


def _payload(stripped: str) -> NluResult | None:
    """A button's payload (`/intent` or `/intent{"entity": "value"}`) as a certain NLU result."""
    match = _PAYLOAD.match(stripped)
    if match is None or match["name"] not in PAYLOAD_NAMES:
        return None
    try:
        raw = json.loads(match["entities"] or "{}")
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    entities = tuple(Entity(str(k), str(v)) for k, v in raw.items())
    return NluResult(match["name"], 1.0, entities)
