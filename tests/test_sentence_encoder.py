"""The sentence encoder behind the NLU's dense features (bot/nlu/encoder.py, bot/nlu/components/)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from rasa.nlu.tokenizers.tokenizer import Token
from tokenizers import Tokenizer

from bot.nlu.components.sentence_embeddings import (
    MAX_POOLING_SCALE,
    SCALE,
    SentenceEmbeddingFeaturizer,
    token_vectors,
)
from bot.nlu.encoder import SentenceEncoder, model_dir, shared_encoder
from tests.bert_reference import NumpyBert

UPSTREAM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""sentence-transformers/all-MiniLM-L6-v2 model.safetensors (docs/model-selection.md)."""


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return shared_encoder()


def test_the_installed_weights_are_the_upstream_ones() -> None:
    digest = hashlib.sha256((model_dir() / "model.safetensors").read_bytes()).hexdigest()
    assert digest == UPSTREAM_SHA256


def test_paraphrases_are_close_and_unrelated_messages_are_not(encoder: SentenceEncoder) -> None:
    staff, paraphrase, unrelated = (
        e.sentence
        for e in encoder.encode(
            [
                "can I post about the teacher on facebook",
                "am I allowed to write about my kid's teacher online",
                "what is the capital of france",
            ]
        )
    )
    assert np.linalg.norm(staff) == pytest.approx(1.0, abs=1e-5)
    assert staff.shape == (384,)
    assert float(staff @ paraphrase) > 0.5
    assert float(staff @ unrelated) < 0.3


def test_the_onnx_graph_computes_what_an_independent_numpy_bert_computes(encoder: SentenceEncoder) -> None:
    """The graph built from the weights (bot/nlu/bert_graph.py) against a forward pass written separately
    (tests/bert_reference.py); a misplaced transpose, norm or mask would differ by far more than 1e-3."""
    reference = NumpyBert(model_dir())
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads to 128 word pieces
    texts = ["hi", "can I post about the teacher on facebook", "my daughter is being bullied on snapchat"]
    for text, encoded in zip(texts, encoder.encode(texts), strict=True):
        expected = reference.hidden(tokenizer.encode(text).ids)
        np.testing.assert_allclose(encoded.pieces, expected, atol=1e-3)
        pooled = expected.mean(axis=0)
        assert float(encoded.sentence @ pooled / np.linalg.norm(pooled)) > 0.99999


def test_a_batch_gives_the_same_embeddings_as_one_message_at_a_time(encoder: SentenceEncoder) -> None:
    texts = ["hi", "my son is getting horrible messages on snapchat every night", "ok thanks"]
    batched = encoder.encode(texts)
    for text, together in zip(texts, batched, strict=True):
        (alone,) = encoder.encode([text])
        np.testing.assert_allclose(together.sentence, alone.sentence, atol=1e-5)
        np.testing.assert_allclose(together.pieces, alone.pieces, atol=1e-4)


def test_a_very_long_message_is_cut_not_refused(encoder: SentenceEncoder) -> None:
    (encoded,) = encoder.encode(["word " * 1000])
    assert encoded.pieces.shape[0] == 128


def test_each_token_gets_the_mean_of_its_word_pieces(encoder: SentenceEncoder) -> None:
    text = "whatsapp group"
    (encoded,) = encoder.encode([text])
    tokens = [Token("whatsapp", 0), Token("group", 9), Token("beyond", 40)]
    vectors = token_vectors(tokens, encoded)
    inside_first = [n for n, (start, end) in enumerate(encoded.offsets) if end > start and end <= 8]
    assert len(inside_first) > 1  # "whatsapp" is several word pieces
    np.testing.assert_allclose(vectors[0], encoded.pieces[inside_first].mean(axis=0), atol=1e-6)
    assert not vectors[2].any()  # past the text: no word piece, zeros


def _sentence_features(scale: float, max_pooling_scale: float, text: str) -> np.ndarray:
    from rasa.nlu.constants import TOKENS_NAMES
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
    from rasa.shared.nlu.training_data.message import Message

    config = {
        **SentenceEmbeddingFeaturizer.get_default_config(),
        SCALE: scale,
        MAX_POOLING_SCALE: max_pooling_scale,
        "alias": "embedding",
    }
    featurizer = SentenceEmbeddingFeaturizer(config, "embedding")
    message = Message({TEXT: text})
    message.set(TOKENS_NAMES[TEXT], [Token(word, text.index(word)) for word in text.split()])
    featurizer.process([message])
    (sentence,) = [f.features for f in message.features if f.type == FEATURE_TYPE_SENTENCE]
    return sentence


def test_sentence_features_are_the_scaled_mean_and_then_the_scaled_max(encoder: SentenceEncoder) -> None:
    text = "a man online keeps asking my daughter for photos"
    (encoded,) = encoder.encode([text])
    mean_only = _sentence_features(4.0, 0.0, text)
    both = _sentence_features(4.0, 6.0, text)
    width = encoded.sentence.shape[0]
    assert mean_only.shape == (1, width)
    assert both.shape == (1, 2 * width)
    np.testing.assert_allclose(both[0, :width], 4.0 * encoded.sentence, atol=1e-6)
    maximum = encoded.pieces.max(axis=0)
    np.testing.assert_allclose(both[0, width:], 6.0 * maximum / np.linalg.norm(maximum), atol=1e-5)


def test_a_negative_max_pooling_scale_is_refused() -> None:
    with pytest.raises(ValueError, match=MAX_POOLING_SCALE):
        SentenceEmbeddingFeaturizer.validate_config({SCALE: 1.0, MAX_POOLING_SCALE: -1.0})
