"""The learned danger model: a multinomial logistic regression giving P(danger) and the kind
(bot.safeguarding.DangerReading) from the message's words, its letters and the sentence embedding the NLU
model already computes (no second encoder pass).

- Words: tf-idf of word unigrams and bigrams ("not home", "found safe").
- Letters: tf-idf of character 2- to 5-grams inside words, which read misspellings, slang and the other
  languages parents write in ("zaginęła", "sucidal") where the English encoder cannot.
- The embedding: all-MiniLM-L6-v2, for the sense of a message whose words are ordinary.

Chosen by leave-one-writer-out validation on the corpus (docs/safeguarding.md): the embedding alone gave
0.62 of the danger messages the full guidance at 2 % calm false alarms, words and letters with it 0.87.

It is trained from the danger corpus (data/danger/corpus/) by the NLU pipeline's DangerClassifier
(bot/nlu/components/danger_classifier.py), so `parentbot train` and `rasa train nlu` build it and the
model's fingerprint covers the corpus. A reading is two sparse products and a softmax: about half a
millisecond beside the encoder's few that the NLU model spends anyway.

The thresholds come from data/danger/thresholds.yml, written by `parentbot evaluate-gate --validate`:
each corpus message is read by a model trained without its writer's messages, and `check_at` keeps
CHECK_RECALL of those danger messages at least at the check, `full_at` keeps the full alarm on at most
FULL_FALSE_ALARMS of the calm ones. The first-look test sets (tests/data/firstlook/) play no part in it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bot.safeguarding import DangerKind, DangerReading

log = logging.getLogger(__name__)

CLASSES: tuple[str, ...] = ("calm", *(kind.value for kind in DangerKind))
CHECK_RECALL = 0.99
FULL_FALSE_ALARMS = 0.02
LEXICON_FALSE_ALARMS = 0.03
"""`lexicon_at`: the lowest P(danger) that makes a lexicon signal full guidance, keeping the combined full
alarm on calm look-alikes at most this."""
PART_CHECKS = 0.02
"""`part_at`: a message the gate would let through is asked about when one of its sentences is this alarming;
chosen so that at most this share of calm look-alikes is asked about for that reason."""
KIND_ACCURACY = 0.95
"""`kind_at`: the lowest kind probability above which the named kinds are right this often."""
REGULARISATION = 10.0
"""scikit-learn's C, chosen by the writer-fold validation (docs/safeguarding.md)."""
CHAR_FEATURES = 200_000
SEED = 2024


@dataclass(frozen=True)
class Thresholds:
    full_at: float
    check_at: float
    lexicon_at: float
    kind_at: float
    part_at: float = 1.0

    @classmethod
    def read(cls, path: Path) -> tuple[Thresholds, str]:
        """The thresholds of a thresholds file, and the corpus fingerprint they were chosen for."""
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        names = ("full_at", "check_at", "lexicon_at", "kind_at", "part_at")
        values = {name: float(data[name]) for name in names if name in data}
        return cls(**values), str(data["corpus"])


class TextFeatures:
    """The word and letter tf-idf features, fitted on the training texts; saved as plain arrays."""

    def __init__(self, word: Any, char: Any) -> None:
        self.word = word
        self.char = char

    @classmethod
    def fit(cls, texts: Sequence[str]) -> TextFeatures:
        from sklearn.feature_extraction.text import TfidfVectorizer

        word = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True, max_features=CHAR_FEATURES
        )
        word.fit(texts)
        char.fit(texts)
        return cls(word, char)

    @property
    def sizes(self) -> tuple[int, int]:
        return len(self.word.vocabulary_), len(self.char.vocabulary_)

    def transform(self, texts: Sequence[str]) -> tuple[Any, Any]:
        return self.word.transform(texts), self.char.transform(texts)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for name, vectorizer in (("word", self.word), ("char", self.char)):
            vocabulary = vectorizer.vocabulary_
            out[f"{name}_terms"] = np.array(sorted(vocabulary, key=vocabulary.__getitem__))
            out[f"{name}_idf"] = vectorizer.idf_
        return out

    @classmethod
    def from_arrays(cls, data: Any) -> TextFeatures:
        from sklearn.feature_extraction.text import TfidfVectorizer

        def rebuilt(name: str, **options: Any) -> TfidfVectorizer:
            terms = [str(term) for term in data[f"{name}_terms"]]
            vectorizer = TfidfVectorizer(
                sublinear_tf=True, vocabulary={t: i for i, t in enumerate(terms)}, **options
            )
            vectorizer.idf_ = data[f"{name}_idf"]
            return vectorizer

        return cls(
            rebuilt("word", ngram_range=(1, 2)), rebuilt("char", analyzer="char_wb", ngram_range=(2, 5))
        )


class DangerHead:
    def __init__(
        self, features: TextFeatures, weights: np.ndarray, bias: np.ndarray, thresholds: Thresholds
    ) -> None:
        words, chars = features.sizes
        if (
            weights.shape[0] != len(CLASSES)
            or bias.shape != (len(CLASSES),)
            or weights.shape[1] <= words + chars
        ):
            raise ValueError("a danger head's weights do not fit its classes and features")
        self.features = features
        self._word = np.ascontiguousarray(weights[:, :words].T, dtype=np.float32)
        self._char = np.ascontiguousarray(weights[:, words : words + chars].T, dtype=np.float32)
        self._embedding = np.ascontiguousarray(weights[:, words + chars :].T, dtype=np.float32)
        self.bias = bias.astype(np.float32)
        self.thresholds = thresholds

    @property
    def weights(self) -> np.ndarray:
        return np.vstack([self._word, self._char, self._embedding]).T

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Per message, the probability of each of CLASSES."""
        word, char = self.features.transform(texts)
        logits = (
            word @ self._word + char @ self._char + vectors.astype(np.float32) @ self._embedding + self.bias
        )
        logits = np.asarray(logits)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def read(
        self,
        text: str,
        sentence: np.ndarray,
        parts: Sequence[str] = (),
        part_vectors: np.ndarray | None = None,
    ) -> DangerReading:
        """The reading of a message, with that of its most alarming sentence when it has several
        (bot.nlu.encoder.sentence_parts): a danger told in one clause of a long message counts."""
        whole = self.probabilities([text], sentence[None, :])[0]
        part = self.part_danger(parts, part_vectors) if part_vectors is not None else 0.0
        return reading(whole, self.thresholds, part)

    def part_danger(self, parts: Sequence[str], part_vectors: np.ndarray) -> float:
        """P(danger) of the most alarming of a message's sentences (0 when it has none)."""
        if not parts:
            return 0.0
        return float(1.0 - self.probabilities(list(parts), part_vectors)[:, 0].min())

    def save(self, path: Path) -> None:
        t = self.thresholds
        np.savez_compressed(
            path,
            weights=self.weights,
            bias=self.bias,
            classes=np.array(CLASSES),
            thresholds=np.array(
                [t.full_at, t.check_at, t.lexicon_at, t.kind_at, t.part_at], dtype=np.float64
            ),
            **self.features.arrays(),
        )

    @classmethod
    def load(cls, path: Path) -> DangerHead:
        with np.load(path, allow_pickle=False) as data:
            if tuple(str(c) for c in data["classes"]) != CLASSES:
                raise ValueError(f"{path}: the danger head was trained for other classes")
            return cls(
                TextFeatures.from_arrays(data),
                data["weights"],
                data["bias"],
                Thresholds(*(float(x) for x in data["thresholds"])),
            )


def reading(
    probabilities: np.ndarray, thresholds: Thresholds, part_probability: float = 0.0
) -> DangerReading:
    danger = float(1.0 - probabilities[0])
    conditional = probabilities[1:] / max(danger, 1e-9)
    order = np.argsort(-conditional)
    return DangerReading(
        probability=danger,
        kinds=tuple((DangerKind(CLASSES[1 + i]), float(conditional[i])) for i in order),
        full_at=thresholds.full_at,
        check_at=thresholds.check_at,
        lexicon_at=thresholds.lexicon_at,
        kind_at=thresholds.kind_at,
        part_probability=part_probability,
        part_at=thresholds.part_at,
    )


def fit(
    texts: Sequence[str],
    vectors: np.ndarray,
    labels: Sequence[str],
    thresholds: Thresholds,
    c: float = REGULARISATION,
) -> DangerHead:
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    features = TextFeatures.fit(texts)
    word, char = features.transform(texts)
    x = sparse.hstack([word, char, sparse.csr_matrix(vectors)]).tocsr()
    y = np.array([CLASSES.index(label) for label in labels])
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=SEED)
    model.fit(x, y)
    weights = np.zeros((len(CLASSES), x.shape[1]), dtype=np.float32)
    bias = np.full(len(CLASSES), -1e4, dtype=np.float32)  # a class with no examples is never predicted
    weights[model.classes_] = model.coef_
    bias[model.classes_] = model.intercept_
    return DangerHead(features, weights, bias, thresholds)


@dataclass(frozen=True)
class Validation:
    """Readings of every message by a head trained without its writer's messages."""

    probabilities: np.ndarray
    part_danger: np.ndarray
    """P(danger) of each message's most alarming sentence (0 for a message of one sentence)."""
    labels: tuple[str, ...]
    writers: tuple[str, ...]
    counts: np.ndarray
    """Whether each message counts for the thresholds (the corpus's look-alikes do; ordinary messages
    such as the NLU training examples, which are easy, would make the false alarms look rarer)."""

    @property
    def danger(self) -> np.ndarray:
        return 1.0 - self.probabilities[:, 0]

    @property
    def is_danger(self) -> np.ndarray:
        return np.array([label != "calm" for label in self.labels])

    @property
    def kind_right(self) -> np.ndarray:
        return np.array([CLASSES[1 + int(i)] for i in self.probabilities[:, 1:].argmax(axis=1)]) == np.array(
            self.labels
        )

    @property
    def kind_probability(self) -> np.ndarray:
        conditional = self.probabilities[:, 1:] / np.maximum(self.danger, 1e-9)[:, None]
        return conditional.max(axis=1)


Parts = tuple[tuple[str, ...], np.ndarray]
"""A message's sentences and their embeddings (bot.nlu.encoder.sentence_parts)."""


def validate(
    texts: Sequence[str],
    vectors: np.ndarray,
    parts: Sequence[Parts],
    labels: Sequence[str],
    writers: Sequence[str],
    uncounted: frozenset[str] = frozenset(),
) -> Validation:
    """Leave-one-writer-out readings (one fold per writer); the `uncounted` writers' messages are read
    too but play no part in choosing the thresholds."""
    n = len(labels)
    probabilities = np.zeros((n, len(CLASSES)))
    part_danger = np.zeros(n)
    placeholder = Thresholds(1.0, 1.0, 1.0, 1.0)
    for writer in sorted(set(writers)):
        held = [i for i in range(n) if writers[i] == writer]
        kept = [i for i in range(n) if writers[i] != writer]
        head = fit([texts[i] for i in kept], vectors[kept], [labels[i] for i in kept], placeholder)
        probabilities[held] = head.probabilities([texts[i] for i in held], vectors[held])
        for i in held:
            part_danger[i] = head.part_danger(*parts[i])
        log.info("Danger head validation: writer %s done", writer)
    return Validation(
        probabilities,
        part_danger,
        tuple(labels),
        tuple(writers),
        np.array([w not in uncounted for w in writers]),
    )


def choose_thresholds(validation: Validation, lexicon: np.ndarray) -> Thresholds:
    """The thresholds that meet CHECK_RECALL, FULL_FALSE_ALARMS, LEXICON_FALSE_ALARMS and KIND_ACCURACY
    on the validation; `lexicon` says which messages the lexicon finds danger in."""
    counted, is_danger, danger = validation.counts, validation.is_danger, validation.danger
    danger_scores = np.sort(danger[is_danger & counted])
    calm = ~is_danger & counted
    calm_scores = np.sort(danger[calm])
    check_at = float(danger_scores[int(np.floor((1.0 - CHECK_RECALL) * len(danger_scores)))])
    full_index = int(np.ceil((1.0 - FULL_FALSE_ALARMS) * len(calm_scores)))
    full_at = min(max(float(calm_scores[min(len(calm_scores) - 1, full_index)]), 0.5), 0.99)
    check_at = min(check_at, full_at)
    lexicon_at = full_at
    for candidate in np.arange(check_at, full_at, 0.01):
        alarms = calm & ((danger >= full_at) | (lexicon & (danger >= candidate)))
        if alarms.sum() / calm.sum() <= LEXICON_FALSE_ALARMS:
            lexicon_at = float(candidate)
            break
    probability = validation.kind_probability[is_danger & counted]
    right = validation.kind_right[is_danger & counted]
    kind_at = 1.0
    for candidate in np.arange(0.0, 1.0, 0.05):
        chosen = probability >= candidate
        if chosen.any() and right[chosen].mean() >= KIND_ACCURACY:
            kind_at = float(candidate)
            break
    let_through = calm & (danger < check_at) & ~lexicon
    part_scores = np.sort(validation.part_danger[let_through])[::-1]
    extra = int(np.floor(PART_CHECKS * calm.sum()))
    part_at = max(float(part_scores[extra]) + 1e-4 if extra < len(part_scores) else 0.0, check_at)

    def up(x: float) -> float:
        return float(np.ceil(x * 10_000) / 10_000)

    def down(x: float) -> float:
        return float(np.floor(x * 10_000) / 10_000)

    # rounded for the file, each in the direction that keeps its rule
    return Thresholds(up(full_at), down(check_at), up(lexicon_at), round(kind_at, 2), min(up(part_at), 1.0))
