"""The learned danger model (bot/safeguarding/head.py), its thresholds, and its reading in the NLU model's
parse output, in-process and as a Rasa server's JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.nlu.client import InProcessNlu, NluResult
from bot.safeguarding import DangerKind
from bot.safeguarding.corpus import THRESHOLDS_FILE, corpus_files, fingerprint
from bot.safeguarding.head import CLASSES, DangerHead, Thresholds, Validation, choose_thresholds, fit

THRESHOLDS = Thresholds(full_at=0.8, check_at=0.2, lexicon_at=0.5, kind_at=0.5, part_at=0.6)
TINY = [
    ("my son has not come home and his phone is off", "missing"),
    ("my daughter is missing since this morning", "missing"),
    ("a man online keeps asking her for nude pictures", "sexual"),
    ("someone is threatening to share his pics unless he pays", "sexual"),
    ("there is a boy with a knife outside the gates", "immediate_danger"),
    ("she collapsed and is not breathing properly", "immediate_danger"),
    ("he says he wants to kill himself tonight", "suicide_self_harm"),
    ("she has been cutting her arms again", "suicide_self_harm"),
    ("her stepdad hits her with a belt", "abuse_by_adult"),
    ("the kids are left alone all week with no food", "abuse_by_adult"),
    ("what time does school start tomorrow", "calm"),
    ("can I post about the bake sale on facebook", "calm"),
    ("his PE kit has gone missing again", "calm"),
    ("I could murder a coffee after parents evening", "calm"),
]


def _vectors(n: int, seed: int = 7) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def tiny_head() -> DangerHead:
    texts, labels = zip(*TINY, strict=True)
    return fit(list(texts) * 3, np.vstack([_vectors(len(TINY))] * 3), list(labels) * 3, THRESHOLDS)


def test_a_head_learns_its_corpus_and_names_the_kind(tiny_head: DangerHead) -> None:
    vectors = _vectors(len(TINY))
    for (text, label), vector in zip(TINY, vectors, strict=True):
        reading = tiny_head.read(text, vector)
        assert (reading.probability >= 0.5) is (label != "calm"), text
        if label != "calm":
            assert reading.kinds[0][0] is DangerKind(label)
    assert abs(sum(p for _, p in tiny_head.read(TINY[0][0], vectors[0]).kinds) - 1.0) < 1e-5


def test_a_saved_head_reads_exactly_as_the_trained_one(tiny_head: DangerHead, tmp_path: Path) -> None:
    tiny_head.save(tmp_path / "head.npz")
    loaded = DangerHead.load(tmp_path / "head.npz")
    assert loaded.thresholds == THRESHOLDS
    vectors = _vectors(len(TINY), seed=3)
    texts = [text for text, _ in TINY]
    assert np.allclose(
        loaded.probabilities(texts, vectors), tiny_head.probabilities(texts, vectors), atol=1e-6
    )


def test_a_sentence_of_a_long_message_is_read_alone_too(tiny_head: DangerHead) -> None:
    vectors = _vectors(3, seed=5)
    text = "I want to ask about the uniform. He says he wants to kill himself tonight. Also the trip."
    parts = (
        "I want to ask about the uniform.",
        "He says he wants to kill himself tonight.",
        "Also the trip.",
    )
    reading = tiny_head.read(text, vectors[0], parts, vectors)
    assert reading.part_probability == pytest.approx(tiny_head.part_danger(parts, vectors))
    assert reading.part_probability > tiny_head.read(parts[0], vectors[0]).probability
    assert tiny_head.read(text, vectors[0]).part_probability == 0.0


def test_the_thresholds_meet_their_rules_on_a_validation() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    is_danger = rng.random(n) < 0.5
    danger = np.where(is_danger, rng.beta(5, 1, n), rng.beta(1, 5, n))
    probabilities = np.zeros((n, len(CLASSES)))
    probabilities[:, 0] = 1 - danger
    probabilities[:, 1] = danger
    labels = tuple(CLASSES[1] if d else "calm" for d in is_danger)
    validation = Validation(probabilities, rng.random(n) * 0.5, labels, ("w",) * n, np.ones(n, dtype=bool))
    lexicon = rng.random(n) < 0.1
    t = choose_thresholds(validation, lexicon)
    assert (danger[is_danger] >= t.check_at).mean() >= 0.99
    assert (danger[~is_danger] >= t.full_at).mean() <= 0.02 + 1 / n
    full = (danger >= t.full_at) | (lexicon & (danger >= t.lexicon_at))
    assert full[~is_danger].mean() <= 0.03 + 1 / n
    assert t.check_at <= t.lexicon_at <= t.full_at


def test_the_thresholds_file_was_chosen_for_the_corpus_as_it_is() -> None:
    """Changing the corpus needs `parentbot evaluate-gate --validate` (new thresholds) before it lands."""
    _, chosen_for = Thresholds.read(THRESHOLDS_FILE)
    assert chosen_for == fingerprint(corpus_files())


@pytest.mark.parametrize(
    "danger",
    [None, "junk", {"probability": "high"}, {"probability": 0.9, "kinds": {"nope": 1.0}}],
)
def test_a_parse_without_a_usable_reading_gives_none(danger: object) -> None:
    """A Rasa server with an older model: the gate then reads the text with its lexicon alone."""
    data = {"intent": {"name": "greet", "confidence": 0.9}, "danger": danger}
    assert NluResult.from_rasa(data).danger is None


async def test_the_trained_model_gives_every_parse_a_reading_with_its_thresholds(nlu: InProcessNlu) -> None:
    chosen, _ = Thresholds.read(THRESHOLDS_FILE)
    calm = await nlu.parse("hello, what time is the school play?")
    danger = await nlu.parse("my daughter has not come home and her phone is off, it's midnight")
    assert calm.danger is not None
    assert danger.danger is not None
    assert (calm.danger.full_at, calm.danger.check_at, calm.danger.part_at) == (
        chosen.full_at,
        chosen.check_at,
        chosen.part_at,
    )
    assert calm.danger.probability < chosen.check_at
    assert danger.danger.probability >= chosen.full_at
    assert danger.danger.kinds[0][0] is DangerKind.MISSING
    assert (await nlu.parse("👍")).danger is None, "no text the model can read, no reading"
