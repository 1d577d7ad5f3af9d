"""Issue 10's promise measured on the independent message table: every danger message gets the guidance
first, in every context a parent can be in, and calm look-alikes rarely raise the alarm.

The real engine, the real danger detector, the real trained model and a real database. Each context is
reached once by a scripted conversation; every message then starts from a copy of that parent's state,
so ~350 messages per context stay quick. The figures are printed (`pytest -s`) and asserted: guidance
recall 1.0 in every context, false alarms at most 5 %.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.safeguarding import DangerKind
from bot.storage.cases import CaseStore
from bot.storage.parents import SqlStateStore
from tests.conftest import MakeEngine
from tests.standins import StubNlu

TABLE = Path(__file__).parent / "data" / "safeguarding_messages.tsv"
OAKFIELD = '/choose_school{"school":"oakfield"}'
CHAT = '/choose{"value": "chat"}'
MAX_FALSE_ALARMS = 0.05


@dataclass(frozen=True)
class Message:
    danger: bool
    text: str


def messages() -> list[Message]:
    with TABLE.open(encoding="utf-8") as file:
        return [
            Message(row["label"] == "danger", row["text"]) for row in csv.DictReader(file, delimiter="\t")
        ]


CONTEXTS: dict[str, tuple[str, ...]] = {
    "cold": (),
    "complaint, free-text description": (OAKFIELD, "/how_to_complain", "/affirm"),
    "bullying report, who is involved": (
        "/report_cyberbullying",
        "/deny",
        "nasty messages in a group chat",
        '/choose{"value": "whatsapp"}',
    ),
    "breach report, offer": (OAKFIELD, "/report_breach"),
    "general handoff, consent": (OAKFIELD, "/human_handoff", "/affirm", "a question about trips", CHAT),
}
"""What the parent sends to reach each context (relay mode and a loading model are built below)."""


def guidance_prefixes(responses: ResponseBook) -> tuple[str, ...]:
    """The first line of every guidance response (not the one-line 999 reminder that starts alike)."""
    names = ["utter_urgent_safeguarding", *(f"utter_urgent_{kind.value}" for kind in DangerKind)]
    return tuple(responses.render(name, {}).text.split("{")[0].splitlines()[0] for name in names)


def guided_first(replies: list[Reply], prefixes: tuple[str, ...]) -> bool:
    return bool(replies) and replies[0].text.startswith(prefixes) and len(replies) > 1


def raised_alarm(replies: list[Reply], prefixes: tuple[str, ...]) -> bool:
    return any(reply.text.startswith(prefixes) for reply in replies)


async def _relay_template(engine: DialogueEngine, cases: CaseStore) -> None:
    """Parent "template" with a filed case whose staff have replied: relay mode."""
    for text in (OAKFIELD, "/human_handoff", "/affirm", "a question about the dinner menu", CHAT, "/affirm"):
        await engine.handle("template", text)
    [case] = await cases.parent_cases("template")
    assert await cases.staff_reply(case.id, "Mrs Patel", "Which class is your child in?")
    await engine.handle("template", "Year 5, Oak class")  # passed to the staff: relay mode is on


async def _figures(
    engine: DialogueEngine, store: SqlStateStore, table: list[Message], prefixes: tuple[str, ...], tag: str
) -> tuple[float, float, list[str], list[str]]:
    """(guidance recall, false-alarm rate, danger texts missed, calm texts alarmed), each message from a
    copy of the template state."""
    template = await store.load("template")
    guided, missed, alarmed = 0, [], []
    for number, message in enumerate(table):
        parent = f"{tag}-{number}"
        await store.save(parent, template)
        replies = await engine.handle(parent, message.text)
        if message.danger:
            guided += guided_first(replies, prefixes)
            if not guided_first(replies, prefixes):
                missed.append(message.text)
        elif raised_alarm(replies, prefixes):
            alarmed.append(message.text)
    danger = sum(m.danger for m in table)
    calm = len(table) - danger
    return guided / danger, (len(alarmed) / calm if calm else 0.0), missed, alarmed


@pytest.mark.parametrize("context", [*CONTEXTS, "relay mode"])
async def test_every_danger_message_gets_the_guidance_first_in_every_context(
    make_engine: MakeEngine, responses: ResponseBook, sessions: sessionmaker[Session], context: str
) -> None:
    engine, store, cases = make_engine(), SqlStateStore(sessions), CaseStore(sessions)
    if context == "relay mode":
        await _relay_template(engine, cases)
    else:
        for text in CONTEXTS[context]:
            await engine.handle("template", text)
    recall, false_alarms, missed, alarmed = await _figures(
        engine, store, messages(), guidance_prefixes(responses), "m"
    )
    print(f"\n{context}: guidance recall {recall:.3f}, calm false alarms {false_alarms:.3f}")
    assert recall == 1.0, missed
    assert false_alarms <= MAX_FALSE_ALARMS, alarmed


async def test_every_danger_message_gets_the_guidance_while_the_model_loads(
    make_engine: MakeEngine, responses: ResponseBook, sessions: sessionmaker[Session]
) -> None:
    """No model yet (it never finishes loading here): the gate answers danger on the text alone, at once."""
    engine = make_engine(StubNlu(ready=False))
    await engine.handle("template", OAKFIELD)  # a button: answered without the model
    danger = [m for m in messages() if m.danger]
    recall, _, missed, _ = await _figures(
        engine, SqlStateStore(sessions), danger, guidance_prefixes(responses), "l"
    )
    print(f"\nmodel loading: guidance recall {recall:.3f}")
    assert recall == 1.0, missed
