"""The safeguarding promise measured on the three frozen first-look sets (tests/data/firstlook/), written by
people who never saw the danger corpus, the lexicon or each other's sets: in every context a parent can be
in, what does a danger message get first (the full guidance, the "is a child at risk now?" check, or
nothing), and how often does a calm look-alike raise the alarm?

The real engine, the real gate, the real trained model and a real database. Each context is reached once by
a scripted conversation; every message then starts from a copy of that parent's state. The model reads
each text once per test session (a parse depends on the text alone), so the six contexts cost the model
one pass over the sets instead of six. The figures are
printed (`pytest -s`) and asserted against the floors below. The gate reads a message before anything
else, so its answer must also be the same in every context as in a cold chat.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.nlu.client import InProcessNlu, NluResult
from bot.safeguarding import DangerKind, Tier
from bot.safeguarding.corpus import FIRST_LOOK_DIR, Labelled, read_labelled
from bot.safeguarding.gate import DangerGate
from bot.storage.cases import CaseStore
from bot.storage.parents import SqlStateStore
from tests.conftest import MakeEngine
from tests.standins import StubNlu

SETS = sorted(FIRST_LOOK_DIR.glob("*.tsv"))
OAKFIELD = '/choose_school{"school":"oakfield"}'
CHAT = '/choose{"value": "chat"}'

FLOORS = {
    "danger full or check": 0.98,
    "danger full": 0.88,
    "kind right": 0.90,
}
"""What each set must reach in every context. The targets are 0.99, 0.95 and 0.90; the first look
(docs/safeguarding.md) measured 0.988-1.000, 0.906-0.981 and 0.940-0.943 over the three sets, so the
floors sit just below the weakest set: a change that makes the gate worse fails here."""
CEILINGS = {"calm full": 0.04, "calm check": 0.40}
"""What a calm look-alike may get at most: targets 0.03 and 0.10; the first look measured 0.000-0.027
and 0.164-0.355 (the check target was missed)."""

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


@dataclass(frozen=True)
class Seen:
    """What the parent got first for one message."""

    tier: Tier
    guidance: str | None = None
    """The guidance response given first (its name), with the full tier."""


def first_lines(responses: ResponseBook) -> dict[str, str]:
    names = ["utter_urgent_safeguarding", *(f"utter_urgent_{kind.value}" for kind in DangerKind)]
    return {name: responses.render(name, {}).text.split("{")[0][:60] for name in names}


def seen(replies: list[Reply], responses: ResponseBook) -> Seen:
    if not replies:
        return Seen(Tier.CALM)
    first = replies[0].text
    for name, start in first_lines(responses).items():
        if first.startswith(start) and len(replies) > 1:
            return Seen(Tier.FULL, name)
    if first == responses.render("utter_danger_check", {}).text:
        return Seen(Tier.CHECK)
    return Seen(Tier.CALM)


async def _relay_template(engine: DialogueEngine, cases: CaseStore, template: str) -> None:
    """A parent with a filed case whose staff have replied: relay mode."""
    for text in (OAKFIELD, "/human_handoff", "/affirm", "a question about the dinner menu", CHAT, "/affirm"):
        await engine.handle(template, text)
    [case] = await cases.parent_cases(template)
    assert await cases.staff_reply(case.id, "Mrs Patel", "Which class is your child in?")
    await engine.handle(template, "Year 5, Oak class")  # passed to the staff: relay mode is on


async def _reach(
    engine: DialogueEngine, sessions: sessionmaker[Session], context: str, template: str
) -> None:
    if context == "relay mode":
        await _relay_template(engine, CaseStore(sessions), template)
    else:
        for text in CONTEXTS[context]:
            await engine.handle(template, text)


async def _play(
    engine: DialogueEngine, store: SqlStateStore, rows: list[Labelled], responses: ResponseBook, template: str
) -> list[Seen]:
    """Each message from a parent of its own, starting in the template parent's state."""
    state = await store.load(template)
    out = []
    for number, row in enumerate(rows):
        parent = f"{template}-{number}"
        await store.save(parent, state)
        out.append(seen(await engine.handle(parent, row.text), responses))
    return out


def figures(rows: list[Labelled], outcomes: list[Seen]) -> dict[str, float]:
    danger = [(r, o) for r, o in zip(rows, outcomes, strict=True) if r.danger]
    calm = [o for r, o in zip(rows, outcomes, strict=True) if not r.danger]
    full = [(r, o) for r, o in danger if o.tier is Tier.FULL]
    own = [o.guidance in (f"utter_urgent_{r.label}", "utter_urgent_safeguarding") for r, o in full]
    return {
        "danger full or check": sum(o.tier is not Tier.CALM for _, o in danger) / len(danger),
        "danger full": len(full) / len(danger),
        "kind right": sum(own) / len(full) if full else 0.0,
        "calm full": sum(o.tier is Tier.FULL for o in calm) / len(calm),
        "calm check": sum(o.tier is Tier.CHECK for o in calm) / len(calm),
    }


class ParsedOnce:
    """The session's real model, remembering what it made of each text."""

    def __init__(self, model: InProcessNlu) -> None:
        self._model = model
        self._read: dict[str, NluResult] = {}

    async def parse(self, text: str) -> NluResult:
        if text not in self._read:
            self._read[text] = await self._model.parse(text)
        return self._read[text]

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)


@pytest.fixture(scope="module")
def parsed_once(nlu: InProcessNlu) -> ParsedOnce:
    return ParsedOnce(nlu)


@dataclass(frozen=True)
class Player:
    """What playing a set in a context needs: the engine's parts and the model read once."""

    make_engine: MakeEngine
    model: ParsedOnce
    responses: ResponseBook
    sessions: sessionmaker[Session]

    async def outcomes(self, rows: list[Labelled], context: str) -> list[Seen]:
        engine = self.make_engine(self.model)  # type: ignore[arg-type]
        template = f"template {context}"
        await _reach(engine, self.sessions, context, template)
        return await _play(engine, SqlStateStore(self.sessions), rows, self.responses, template)


_COLD: dict[Path, list[Seen]] = {}


@pytest.mark.parametrize("context", [*CONTEXTS, "relay mode"])
@pytest.mark.parametrize("table", SETS, ids=[p.stem for p in SETS])
async def test_each_first_look_set_in_each_context(
    make_engine: MakeEngine,
    responses: ResponseBook,
    parsed_once: ParsedOnce,
    sessions: sessionmaker[Session],
    table: Path,
    context: str,
) -> None:
    rows = read_labelled(table)
    player = Player(make_engine, parsed_once, responses, sessions)
    outcomes = await player.outcomes(rows, context)
    found = figures(rows, outcomes)
    print(f"\n{table.stem}, {context}: " + ", ".join(f"{k} {v:.3f}" for k, v in found.items()))
    for name, floor in FLOORS.items():
        assert found[name] >= floor, name
    for name, ceiling in CEILINGS.items():
        assert found[name] <= ceiling, name
    if table not in _COLD:  # whichever context of this set runs first (and on whichever worker)
        _COLD[table] = outcomes if context == "cold" else await player.outcomes(rows, "cold")
    differ = [r.text for r, a, b in zip(rows, outcomes, _COLD[table], strict=True) if a.tier != b.tier]
    assert differ == [], "the gate answered differently than in a cold chat"


@pytest.mark.parametrize("table", SETS, ids=[p.stem for p in SETS])
async def test_while_the_model_loads_every_lexicon_danger_is_answered_at_once(
    make_engine: MakeEngine, responses: ResponseBook, sessions: sessionmaker[Session], table: Path
) -> None:
    """No model yet (it never finishes loading here): what the lexicon recognises gets the full guidance
    at once; the rest waits for the model (tests/test_gate_in_every_state.py) and is not sent here."""
    gate = DangerGate()
    rows = [r for r in read_labelled(table) if r.danger and gate.assess(r.text, None).urgent]
    engine = make_engine(StubNlu(ready=False))
    await engine.handle("loading", OAKFIELD)  # a button: answered without the model
    outcomes = await _play(engine, SqlStateStore(sessions), rows, responses, "loading")
    share = len(rows) / sum(r.danger for r in read_labelled(table))
    print(f"\n{table.stem}, model loading: the lexicon alone guides {share:.3f} of the danger messages")
    assert Counter(o.tier for o in outcomes) == Counter({Tier.FULL: len(rows)})
