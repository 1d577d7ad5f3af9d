"""The fast model load (bot/nlu/fast_load.py) gives the same parses as Rasa's own load."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.nlu.client import InProcessNlu

MESSAGES = [
    "can I post photos of the school play on facebook?",
    "another parent is spreading lies about a teacher in the whatsapp group",
    "my son is getting horrible messages on snapchat every night",
    "someone is asking my daughter for pictures and she is only 12",
    "how do I make a complaint about the head",
    "I want to talk to someone at Oakfield Primary",
    "yes please",
    "no thanks",
    "what's the weather like tomorrow",
    "hello",
]


@pytest.fixture(scope="module")
def rasa_loaded(model_path: Path) -> InProcessNlu:
    """The model loaded by Rasa's own code path (traced weight building)."""
    return InProcessNlu.load(model_path, fast=False)


def test_fast_load_parses_exactly_as_rasas_own_load(nlu: InProcessNlu, rasa_loaded: InProcessNlu) -> None:
    async def parse_all(client: InProcessNlu) -> list:
        return [await client.parse(text) for text in MESSAGES]

    fast, reference = asyncio.run(parse_all(nlu)), asyncio.run(parse_all(rasa_loaded))

    for text, ours, theirs in zip(MESSAGES, fast, reference, strict=True):
        assert ours.intent == theirs.intent, text
        assert ours.entities == theirs.entities, text
        assert ours.confidence == pytest.approx(theirs.confidence, abs=1e-5), text
        for (name, score), (their_name, their_score) in zip(ours.ranking, theirs.ranking, strict=True):
            assert name == their_name, text
            assert score == pytest.approx(their_score, abs=1e-5), text


def test_rasas_own_load_is_put_back_after_a_fast_load(nlu: InProcessNlu) -> None:
    from rasa.utils.tensorflow.models import RasaModel

    from bot.nlu import fast_load

    assert RasaModel.load.__func__ is not fast_load._load_building_weights_eagerly  # type: ignore[attr-defined]
