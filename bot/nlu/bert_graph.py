"""The BERT encoder of all-MiniLM-L6-v2 written out as an ONNX graph from its safetensors weights.

The graph is built here, with the `onnx` package's helper API, from the installed safetensors file whose
checksum tests/test_sentence_encoder.py pins to upstream's: no exported model is downloaded or shipped, so
the only provenance to trust is that file's. Standard ONNX operators only (opset 17, which has
LayerNormalization); onnxruntime fuses them (Gelu, SkipLayerNormalization, ...) when it loads the graph.

Inputs: `input_ids` (batch, length) int64 and `attention_mask` (batch, length) float32 (1 for a real
word piece, 0 for padding). Output: `hidden` (batch, length, width), the last layer's hidden states.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import ModelProto, NodeProto, TensorProto, helper, numpy_helper

OPSET = 17
_INLINE_ELEMENTS = 4096
"""Tensors smaller than this are written into the graph; larger ones are handed over as arrays."""
_MASKED = -1e4
"""Added to the attention scores of padding, as BERT does."""


@dataclass(frozen=True)
class BertShape:
    layers: int
    heads: int
    width: int
    layer_norm_eps: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BertShape:
        return cls(
            layers=int(config["num_hidden_layers"]),
            heads=int(config["num_attention_heads"]),
            width=int(config["hidden_size"]),
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
        )


@dataclass
class _Graph:
    """Nodes and initializers being collected; names are made unique by a running number."""

    weights: Mapping[str, np.ndarray]
    nodes: list[NodeProto] = field(default_factory=list)
    initializers: list[TensorProto] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    external: dict[str, np.ndarray] = field(default_factory=dict)
    count: int = 0

    def constant(self, name: str, value: np.ndarray) -> str:
        """An initializer; one shared by every node that names it. A large one stays a numpy array
        outside the graph (see `Bert`)."""
        if name not in self.names:
            self.names.add(name)
            if value.size < _INLINE_ELEMENTS:
                self.initializers.append(numpy_helper.from_array(value, name))
            else:
                self.initializers.append(_external(name, value))
                self.external[name] = value
        return name

    def weight(self, name: str, transpose: bool = False) -> str:
        value = self.weights[name]
        return self.constant(name, np.ascontiguousarray(value.T if transpose else value))

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attributes: Any) -> list[str]:
        self.count += 1
        names = [f"{op_type.lower()}_{self.count}_{n}" for n in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attributes))
        return names

    def one(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        return self.op(op_type, inputs, **attributes)[0]

    def dense(self, x: str, prefix: str) -> str:
        """x @ W.T + b, as torch's Linear stores W (out, in)."""
        product = self.one("MatMul", [x, self.weight(f"{prefix}.weight", transpose=True)])
        return self.one("Add", [product, self.weight(f"{prefix}.bias")])

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        scale, bias = self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")
        return self.one("LayerNormalization", [x, scale, bias], axis=-1, epsilon=eps)


@dataclass(frozen=True)
class Bert:
    """The graph, whose large tensors are marked as external data, and those tensors by name: handed to
    onnxruntime as they are (SessionOptions.add_external_initializers), they are neither copied into
    the protobuf nor serialised, which keeps the load ~1 s and a few hundred MB shorter."""

    model: ModelProto
    external: dict[str, np.ndarray]


def _external(name: str, value: np.ndarray) -> TensorProto:
    """An initializer with no data of its own: onnxruntime is given the array under `name`."""
    tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(value.dtype), dims=value.shape)
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=name)
    return tensor


def build(weights: Mapping[str, np.ndarray], shape: BertShape) -> Bert:
    """The ONNX model of the BERT encoder whose safetensors tensors are `weights`."""
    graph = _Graph(weights)
    hidden = _embeddings(graph, shape)
    bias = _attention_bias(graph)
    for n in range(shape.layers):
        hidden = _layer(graph, hidden, bias, f"encoder.layer.{n}", shape)
    graph.nodes.append(helper.make_node("Identity", [hidden], ["hidden"]))
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "all-MiniLM-L6-v2",
            [
                helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
                helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "length"]),
            ],
            [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", shape.width])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="parentbot bot/nlu/bert_graph.py",
    )
    model.ir_version = 8  # the newest that every onnxruntime from 1.15 on reads
    return Bert(model, graph.external)


def _embeddings(graph: _Graph, shape: BertShape) -> str:
    """Word + position + token-type (all type 0) embeddings, layer-normalised."""
    words = graph.one("Gather", [graph.weight("embeddings.word_embeddings.weight"), "input_ids"])
    length = graph.one(
        "Slice",
        [
            graph.one("Shape", ["input_ids"]),
            graph.constant("one_i64", np.array([1], np.int64)),
            graph.constant("two_i64", np.array([2], np.int64)),
        ],
    )
    positions = graph.one(
        "Slice",
        [
            graph.weight("embeddings.position_embeddings.weight"),
            graph.constant("zero_i64", np.array([0], np.int64)),
            length,
        ],
    )
    token_type = graph.constant(
        "token_type_0", np.ascontiguousarray(graph.weights["embeddings.token_type_embeddings.weight"][0])
    )
    summed = graph.one("Add", [graph.one("Add", [words, positions]), token_type])
    return graph.layer_norm(summed, "embeddings.LayerNorm", shape.layer_norm_eps)


def _attention_bias(graph: _Graph) -> str:
    """(batch, 1, 1, length): 0 for a real word piece, -10^4 for padding."""
    padding = graph.one("Sub", [graph.constant("one_f32", np.array(1.0, np.float32)), "attention_mask"])
    scaled = graph.one("Mul", [padding, graph.constant("masked", np.array(_MASKED, np.float32))])
    return graph.one("Unsqueeze", [scaled, graph.constant("axes_1_2", np.array([1, 2], np.int64))])


def _layer(graph: _Graph, x: str, bias: str, prefix: str, shape: BertShape) -> str:
    attention = graph.dense(
        _self_attention(graph, x, bias, f"{prefix}.attention.self", shape), f"{prefix}.attention.output.dense"
    )
    x = graph.layer_norm(
        graph.one("Add", [x, attention]), f"{prefix}.attention.output.LayerNorm", shape.layer_norm_eps
    )
    inner = _gelu(graph, graph.dense(x, f"{prefix}.intermediate.dense"))
    out = graph.dense(inner, f"{prefix}.output.dense")
    return graph.layer_norm(graph.one("Add", [x, out]), f"{prefix}.output.LayerNorm", shape.layer_norm_eps)


def _self_attention(graph: _Graph, x: str, bias: str, prefix: str, shape: BertShape) -> str:
    head = shape.width // shape.heads
    split = graph.constant(f"{prefix}.heads", np.array([0, 0, shape.heads, head], np.int64))
    q, k, v = (
        graph.one("Reshape", [graph.dense(x, f"{prefix}.{name}"), split])
        for name in ("query", "key", "value")
    )
    q = graph.one("Transpose", [q], perm=[0, 2, 1, 3])
    k = graph.one("Transpose", [k], perm=[0, 2, 3, 1])
    v = graph.one("Transpose", [v], perm=[0, 2, 1, 3])
    scale = graph.constant(f"{prefix}.scale", np.array(1.0 / np.sqrt(head), np.float32))
    scores = graph.one("Add", [graph.one("Mul", [graph.one("MatMul", [q, k]), scale]), bias])
    context = graph.one("MatMul", [graph.one("Softmax", [scores], axis=-1), v])
    merged = graph.constant(f"{prefix}.merged", np.array([0, 0, shape.width], np.int64))
    return graph.one("Reshape", [graph.one("Transpose", [context], perm=[0, 2, 1, 3]), merged])


def _gelu(graph: _Graph, x: str) -> str:
    """BERT's exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)), in the form onnxruntime fuses into one op."""
    scaled = graph.one("Div", [x, graph.constant("sqrt2", np.array(np.sqrt(2.0), np.float32))])
    plus_one = graph.one(
        "Add", [graph.one("Erf", [scaled]), graph.constant("one_gelu", np.array(1.0, np.float32))]
    )
    return graph.one(
        "Mul", [graph.one("Mul", [x, plus_one]), graph.constant("half", np.array(0.5, np.float32))]
    )
