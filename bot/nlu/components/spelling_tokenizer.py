"""Rasa's WhitespaceTokenizer, with each misspelt word read as the word it means (bot/nlu/spelling.py).

The tokens keep their places in the parent's text (entity spans stay right), but carry the respelled
word, which the CountVectorsFeaturizer counts; the whole respelled text is kept on the message for the
SentenceEmbeddingFeaturizer. Training adds the words of the model's lookup tables and synonyms (the
trust's school names, each platform's spellings) to the speller's dictionary and stores them with the
model, so a model reads "oakfeild" as its school wherever it is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.spelling import Respelling, shared_speller

RESPELLED = "respelled_text"
"""The message's Respelling, kept on the message for the featurizers; never part of the parse output."""
RESPELLED_OUTPUT = "respelled"
"""The respelled text in the parse output, when a word was changed: the dialogue reads it too."""
WORDS_FILE = "domain_words.json"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class SpellingTokenizer(WhitespaceTokenizer):
    @staticmethod
    def required_packages() -> list[str]:
        return ["symspellpy"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage | None = None,
        resource: Resource | None = None,
    ) -> None:
        super().__init__(config)
        self._storage = model_storage
        self._resource = resource
        self._speller = shared_speller()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SpellingTokenizer:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SpellingTokenizer:
        tokenizer = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                words = json.loads((Path(directory) / WORDS_FILE).read_text(encoding="utf-8"))
        except ValueError:
            words = []  # nothing stored: a model trained before the lookup words were kept
        tokenizer._speller.add_words(words)
        return tokenizer

    def train(self, training_data: TrainingData) -> Resource:
        """Keeps the lookup tables' and the synonyms' words as known words of this model."""
        words = sorted(domain_words(training_data))
        self._speller.add_words(words)
        if self._storage is not None and self._resource is not None:
            with self._storage.write_to(self._resource) as directory:
                (Path(directory) / WORDS_FILE).write_text(json.dumps(words), encoding="utf-8")
        assert self._resource is not None
        return self._resource

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        if attribute != TEXT:
            return tokens
        respelling = self._speller.respell(message.get(TEXT))
        message.set(RESPELLED, respelling)
        if respelling.changed():
            message.set(RESPELLED_OUTPUT, respelling.text, add_to_output=True)
            for token in tokens:
                meant = self._speller.word(token.text)
                if "'" not in meant:  # "dont" stays one token, as "don't" is two in the training data
                    token.text = token.lemma = meant
        return tokens


def domain_words(training_data: TrainingData) -> set[str]:
    """The lookup tables' entries and the synonyms' values: the trust's school names, the platforms.
    A synonym's one-word misspelling ("facebok" for facebook) is left out, so it is read as its word."""
    misspelt = {
        spelling.lower()
        for spelling, value in training_data.entity_synonyms.items()
        if " " not in spelling and str(value).isalpha() and spelling.lower() != str(value).lower()
    }
    words = {str(value).replace("-", " ") for value in training_data.entity_synonyms.values()}
    for table in training_data.lookup_tables:
        elements = table.get("elements")
        if isinstance(elements, list):
            words.update(str(e) for e in elements if str(e).lower() not in misspelt)
    return words


def respelling_of(message: Message) -> Respelling | None:
    respelling = message.get(RESPELLED)
    return respelling if isinstance(respelling, Respelling) else None
