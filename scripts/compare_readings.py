"""Compare ways of reading a long message: whole-message embedding, sentences pooled, the question sentence.

Usage: uv run python scripts/compare_readings.py DEV.tsv [DEV.tsv ...]
       (e.g. tests/data/nlu_dev_real.tsv tests/data/typos/nlu_dev_real.tsv; the held-out sets are never read)

A parent's question is often one sentence of several; the mean of all word pieces blurs it with the
backstory. Each reader below turns a message into features beside the word counts, the way config.yml's
pipeline does (respelled text, word counts, embedding x4), and a logistic regression like Rasa's is
scored by 5-fold cross-validation on nlu/ and on each development set. The sentences of a message come
from the one forward pass (bot.nlu.encoder.sentence_parts), so no reader costs a second encoder pass.
Prints a Markdown table for docs/model-selection.md.
"""

from __future__ import annotations

import re
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.nlu.encoder import Encoded, sentence_parts, shared_encoder  # noqa: E402
from bot.nlu.evaluate import Example, read_examples, score  # noqa: E402
from scripts.select_pipeline import SEED, _results, with_fallback  # noqa: E402

FOLDS = 5
SCALE = 4.0
FALLBACK = 0.15
QUESTION = re.compile(
    r"\?|^\s*(can|could|may|is|am|are|was|do|does|did|what|how|who|why|where|when|will|would|should|"
    r"shall|have|has|any|please|pls)\b",
    re.IGNORECASE,
)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


class Message:
    """One text as the readers see it: the whole embedding and its sentences' (one forward pass)."""

    def __init__(self, text: str, encoded: Encoded) -> None:
        self.whole = encoded.sentence
        self.parts, self.part_vectors = sentence_parts(text, encoded)

    def max_pooled(self) -> np.ndarray:
        return _unit(self.part_vectors.max(axis=0)) if len(self.parts) else self.whole

    def question(self) -> np.ndarray:
        """The last sentence that asks (a question mark or a question word first), else the last one."""
        if not len(self.parts):
            return self.whole
        asking = [n for n, part in enumerate(self.parts) if QUESTION.search(part)]
        return self.part_vectors[asking[-1] if asking else -1]


Reader = Callable[[Message], np.ndarray]
READERS: dict[str, Reader] = {
    "whole message (mean pooling, today)": lambda m: m.whole * SCALE,
    "whole + max over sentences": lambda m: np.concatenate([m.whole * SCALE, m.max_pooled() * SCALE]),
    "whole + question sentence": lambda m: np.concatenate([m.whole * SCALE, m.question() * SCALE]),
    "question sentence only": lambda m: m.question() * SCALE,
}


def training_examples() -> tuple[list[Example], list[str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.nlu.components.spelling_tokenizer import domain_words

    data = load_data(str(ROOT / "nlu"))
    examples = [Example(m.get("intent"), m.get("text")) for m in data.intent_examples]
    return examples, sorted(domain_words(data))


def embed(texts: list[str], words: list[str]) -> dict[str, Message]:
    from bot.nlu.spelling import shared_speller

    speller = shared_speller()
    speller.add_words(words)
    respelled = [speller.respell(t).text for t in texts]
    encoded = shared_encoder().encode(respelled)
    return {t: Message(r, e) for t, r, e in zip(texts, respelled, encoded, strict=True)}


def features(
    messages: dict[str, Message], reader: Reader, fit_on: list[str]
) -> Callable[[list[str]], object]:
    from sklearn.feature_extraction.text import CountVectorizer

    from bot.nlu.spelling import shared_speller

    speller = shared_speller()
    counts = CountVectorizer(lowercase=True, preprocessor=lambda t: speller.respell(t).text.lower())
    counts.fit(fit_on)

    def transform(batch: list[str]) -> object:
        dense = csr_matrix(np.stack([reader(messages[t]) for t in batch]))
        return hstack([counts.transform(batch), dense]).tocsr()

    return transform


def logistic() -> object:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(class_weight="balanced", max_iter=300, random_state=SEED)


def run(reader: Reader, messages: dict[str, Message], data: list[Example], devs: list[list[Example]]) -> list:
    from sklearn.model_selection import StratifiedKFold

    texts, labels = [e.text for e in data], [e.intent for e in data]
    out_of_fold: list = [None] * len(data)
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(texts, labels):
        transform = features(messages, reader, [texts[i] for i in train])
        model = logistic()
        model.fit(transform([texts[i] for i in train]), [labels[i] for i in train])  # type: ignore[attr-defined]
        for i, result in zip(test, _results(model, transform, [texts[i] for i in test]), strict=True):
            out_of_fold[i] = result
    transform = features(messages, reader, texts)
    model = logistic()
    model.fit(transform(texts), labels)  # type: ignore[attr-defined]
    reports = [score(data, with_fallback(out_of_fold, FALLBACK))]
    reports += [
        score(dev, with_fallback(_results(model, transform, [e.text for e in dev]), FALLBACK)) for dev in devs
    ]
    return reports


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore", category=UserWarning)
    data, words = training_examples()
    paths = [Path(a) for a in argv]
    devs = [read_examples(p) for p in paths]
    started = time.perf_counter()
    messages = embed(sorted({e.text for e in data} | {e.text for d in devs for e in d}), words)
    print(f"embedded {len(messages)} texts in {time.perf_counter() - started:.0f} s\n", flush=True)
    names = ["5-fold CV on nlu/", *(p.name if "typos" not in str(p) else f"{p.name} (typos)" for p in paths)]
    print(
        "| reader | "
        + " | ".join(f"{n}: accuracy / macro-F1 / urgent recall / OOS as policy" for n in names)
        + " |"
    )
    print("|---|" + "---|" * len(names))
    for label, reader in READERS.items():
        reports = run(reader, messages, data, devs)
        cells = [
            f"{r.accuracy:.3f} / {r.macro_f1:.3f} / {r.urgent_recall:.3f} / {r.oos_as_policy:.3f}"
            for r in reports
        ]
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
