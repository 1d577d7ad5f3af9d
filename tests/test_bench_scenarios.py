"""The benchmark's simulated parents (benchmarks/scenarios.py) can still play their scripts against the
real engine and model: a flow change that leaves a button or question out would otherwise break
`make bench` unseen until someone runs it."""

from __future__ import annotations

import pytest

from benchmarks.scenarios import Script, scripts_for
from bot.dialogue.messages import Reply
from bot.schools import load_schools
from tests.conftest import ROOT, MakeEngine

FILED = ("Your reference is", "marked URGENT")


def _scripts() -> list[Script]:
    return scripts_for(load_schools(ROOT / "schools.example.yml"))


@pytest.mark.parametrize("script", _scripts(), ids=lambda s: s.name)
async def test_each_simulated_parent_can_play_its_script(make_engine: MakeEngine, script: Script) -> None:
    engine = make_engine()
    replies: list[Reply] = []
    for number, step in enumerate(script.steps):
        if step.kind == "press":
            offered = {b.title: b.payload for reply in replies for b in reply.buttons}
            shown = [r.text[:50] for r in replies]
            assert step.text in offered, f"step {number}: no {step.text!r} button after {shown}"
            replies = await engine.handle(script.name, offered[step.text], label=step.text)
        else:
            replies = await engine.handle(script.name, step.text)
        if any(mark in reply.text for reply in replies for mark in FILED):
            break
    else:
        pytest.fail(f"{script.name}: the script ended without filing its case")
