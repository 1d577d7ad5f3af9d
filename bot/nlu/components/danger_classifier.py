"""A Rasa component that reads each message's danger (bot.safeguarding.head) from its text and the
sentence embedding SentenceEmbeddingFeaturizer computed for it (no second encoder pass).

Named in config.yml after the featurizer. It is trained, like the rest of the pipeline, by `rasa train
nlu` or `parentbot train`, from the danger corpus (data/danger/corpus/: labelled danger and calm
messages, not Rasa NLU data) and the thresholds chosen for it (data/danger/thresholds.yml).
`fingerprint_addon` adds both to Rasa's cache key, so a changed corpus retrains the head. The reading goes
into the parse output under `danger`, in-process and from a Rasa server's `POST /model/parse` alike:

    {"probability": 0.97, "kinds": {"missing": 0.91, ...},
     "full_at": 0.87, "check_at": 0.15, "lexicon_at": 0.5, "kind_at": 0.4}
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.client import as_parsed
from bot.nlu.components.sentence_embeddings import EMBEDDING, SentenceEmbeddingFeaturizer
from bot.nlu.encoder import sentence_parts, shared_encoder
from bot.nlu.intents import URGENT_INTENT
from bot.safeguarding import DangerReading
from bot.safeguarding import corpus as danger_corpus
from bot.safeguarding.head import DangerHead, Parts, Thresholds, fit

log = logging.getLogger(__name__)

DANGER = "danger"
"""The key of the reading in Rasa's parse output."""
CORPUS = "corpus"
THRESHOLDS = "thresholds"
HEAD_FILE = "danger_head.npz"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class DangerClassifier(GraphComponent):
    @classmethod
    def required_components(cls) -> list[type]:
        return [SentenceEmbeddingFeaturizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "scipy", "numpy"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {CORPUS: str(danger_corpus.CORPUS_DIR), THRESHOLDS: str(danger_corpus.THRESHOLDS_FILE)}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        config = {**cls.get_default_config(), **config}
        thresholds = Path(config[THRESHOLDS])
        return danger_corpus.fingerprint([*danger_corpus.corpus_files(Path(config[CORPUS])), thresholds])

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        head: DangerHead | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        self._head = head

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> DangerClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> DangerClassifier:
        with model_storage.read_from(resource) as directory:
            head = DangerHead.load(Path(directory) / HEAD_FILE)
        return cls(config, model_storage, resource, head)

    def train(self, training_data: TrainingData) -> Resource:
        """Train the head from the danger corpus, with the NLU training examples of every intent but
        urgent_safeguarding as more calm messages: greetings and code questions are what the bot mostly
        hears, and a corpus of look-alikes alone never shows the head a plain "hello"."""
        started = time.perf_counter()
        directory = Path(self._config[CORPUS])
        thresholds, chosen_for = Thresholds.read(Path(self._config[THRESHOLDS]))
        key = danger_corpus.fingerprint(danger_corpus.corpus_files(directory))
        if chosen_for != key:
            log.warning(
                "The danger thresholds were chosen for another corpus: run `parentbot evaluate-gate "
                "--validate` to choose them for this one"
            )
        texts, vectors, _, labels, _ = corpus_features(str(directory), key)
        ordinary, ordinary_vectors = ordinary_messages(training_data)
        self._head = fit(
            [*texts, *ordinary],
            np.vstack([vectors, ordinary_vectors]),
            [*labels, *(["calm"] * len(ordinary))],
            thresholds,
        )
        with self._storage.write_to(self._resource) as out:
            self._head.save(Path(out) / HEAD_FILE)
        log.info("Danger head trained in %.1f s", time.perf_counter() - started)
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        if self._head is None:
            return messages
        for message in messages:
            embedded = message.get(EMBEDDING)
            if embedded is not None and message.get(TEXT):
                sentence, parts, part_vectors = embedded
                reading = self._head.read(message.get(TEXT), sentence, parts, part_vectors)
                message.set(DANGER, reading_as_dict(reading), add_to_output=True)
        return messages


def ordinary_messages(training_data: TrainingData) -> tuple[list[str], np.ndarray]:
    """The texts and embeddings (as SentenceEmbeddingFeaturizer gave them, normalised) of the NLU
    examples that are not urgent_safeguarding."""
    texts, rows = [], []
    for message in training_data.intent_examples:
        if message.get(INTENT) == URGENT_INTENT:
            continue
        _, sentence = message.get_dense_features(TEXT)
        if sentence is not None:
            vector = np.asarray(sentence.features, dtype=np.float32).reshape(-1)
            texts.append(message.get(TEXT))
            rows.append(vector / max(float(np.linalg.norm(vector)), 1e-12))
    dimension = shared_encoder().dimension
    return texts, np.stack(rows) if rows else np.zeros((0, dimension), dtype=np.float32)


def reading_as_dict(reading: DangerReading) -> dict[str, Any]:
    return {
        "probability": round(reading.probability, 5),
        "kinds": {kind.value: round(p, 5) for kind, p in reading.kinds},
        "full_at": reading.full_at,
        "check_at": reading.check_at,
        "lexicon_at": reading.lexicon_at,
        "kind_at": reading.kind_at,
        "part_probability": round(reading.part_probability, 5),
        "part_at": reading.part_at,
    }


@functools.lru_cache(maxsize=2)
def corpus_features(
    directory: str, fingerprint: str
) -> tuple[list[str], np.ndarray, list[Parts], list[str], list[str]]:
    """The corpus's texts, embeddings, sentence parts, labels and writers; kept per process by
    fingerprint, so the folds of a cross-validation encode the corpus once."""
    rows = danger_corpus.read_corpus(Path(directory))
    started = time.perf_counter()
    texts, vectors, parts = encoded_texts([row.text for row in rows])
    log.info(
        "Danger corpus %s: %d messages encoded in %.1f s",
        fingerprint,
        len(rows),
        time.perf_counter() - started,
    )
    return texts, vectors, parts, [row.label for row in rows], [row.writer for row in rows]


def encoded_texts(texts: list[str]) -> tuple[list[str], np.ndarray, list[Parts]]:
    """Texts as the NLU model reads them, with their embeddings and sentence parts."""
    prepared = [as_parsed(text) for text in texts]
    encoded = shared_encoder().encode(prepared)
    vectors = np.stack([e.sentence for e in encoded]).astype(np.float32)
    return prepared, vectors, [sentence_parts(t, e) for t, e in zip(prepared, encoded, strict=True)]
