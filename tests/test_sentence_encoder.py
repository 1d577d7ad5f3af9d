"""The sentence encoder behind the NLU's dense features (bot/nlu/encoder.py, bot/nlu/components/)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from rasa.nlu.tokenizers.tokenizer import Token
from tokenizers import Tokenizer

from bot.nlu.components.sentence_embeddings import token_vectors
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
