"""A plain numpy forward pass of all-MiniLM-L6-v2's BERT, used only by tests/test_sentence_encoder.py as an
independent reference for the ONNX graph the bot runs (bot/nlu/bert_graph.py).

It was the bot's encoder before onnxruntime (about 3x slower a message); it reads the safetensors tensors
directly and shares no code with the graph builder, so a wrong wire in the graph shows up as a difference.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf


class NumpyBert:
    def __init__(self, directory: Path) -> None:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.w = load_file(str(directory / "model.safetensors"))

    def hidden(self, ids: list[int]) -> np.ndarray:
        """The last layer's hidden states of one message's word pieces, (length, width)."""
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        for n in range(self.layers):
            x = self._layer(x, f"encoder.layer.{n}")
        return x

    def _dense(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ self.w[f"{prefix}.weight"].T + self.w[f"{prefix}.bias"]

    def _norm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        normalised = (x - mean) / np.sqrt(variance + self.eps)
        return normalised * self.w[f"{prefix}.weight"] + self.w[f"{prefix}.bias"]

    def _layer(self, x: np.ndarray, prefix: str) -> np.ndarray:
        length, width = x.shape
        head = width // self.heads

        def heads(name: str) -> np.ndarray:
            projected = self._dense(x, f"{prefix}.attention.self.{name}")
            return projected.reshape(length, self.heads, head).transpose(1, 0, 2)

        q, k, v = heads("query"), heads("key"), heads("value")
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(head)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(1, 0, 2).reshape(length, width)
        attended = self._dense(context, f"{prefix}.attention.output.dense")
        x = self._norm(x + attended, f"{prefix}.attention.output.LayerNorm")
        inner = self._dense(x, f"{prefix}.intermediate.dense")
        inner = inner * 0.5 * (1.0 + erf(inner / np.sqrt(2.0)))
        return self._norm(x + self._dense(inner, f"{prefix}.output.dense"), f"{prefix}.output.LayerNorm")
